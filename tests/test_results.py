"""Stage 6 arithmetic on a small hand-made factory whose every number can be checked by hand.

World (slot = 30 min, base 2024-03-01, 48 slots a day):
  M1: J1-01 [0,10) SR/X1/1500 | idle 10..20 | downtime 20..24 | setup 24..28 | J2-01 [28,40) SR/X2/1300
      | setup 40..41 | J4-01 [41,50) SR/X3/1300 | idle 50..60
  M2: J3-01 [0,6) EPU 1300 | idle 6..10 (waits for J1-01) | J1-02 [10,60) EPU 1500
J1 merges P1 (due 03-01) and P2 (due 03-02); it ends at slot 60 = 03-02 06:00, so P1 is 0.25 days late
and P2 on time. P5 has no routing (unable).
"""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import pytest

from prodsched.params import Params
from prodsched.results import kpis as K
from prodsched.results.columns import VIOLATION_COLUMNS
from prodsched.results.plan import Calendar, Changeovers, PlanView, downtime_slots

BASE = pd.Timestamp("2024-03-01")
SLOT = 30

# op_id, job, seq, item, op_class, mixture, width, machine, start, end, setup, durations
OPS = [
    ("J1-01", "J1", 1, "A", "SR", "X1", 1500, "M1", 0, 10, 0, {"M1": 10}),
    ("J1-02", "J1", 2, "A", "EPU", "", 1500, "M2", 10, 60, 0, {"M1": 40, "M2": 50}),
    ("J2-01", "J2", 1, "B", "SR", "X2", 1300, "M1", 28, 40, 4, {"M1": 12}),
    ("J3-01", "J3", 1, "C", "EPU", "", 1300, "M2", 0, 6, 0, {"M2": 6}),
    ("J4-01", "J4", 1, "D", "SR", "X3", 1300, "M1", 41, 50, 1, {"M1": 9}),
]
JOB_POS = {"J1": "P1;P2", "J2": "P3", "J3": "P4", "J4": "P6"}
JOB_DUE = {"J1": "2024-03-01", "J2": "2024-03-01", "J3": "2024-03-01", "J4": "2024-03-10"}
OP_NAME = {"SR": "coat", "EPU": "laminate"}


def make_world() -> dict:
    """All inputs of stage 6 for the world above (tables, dag, schedule, jobs, unable, ...)."""
    t = lambda slots: BASE + pd.Timedelta(minutes=SLOT * slots)
    sched = pd.DataFrame([{
        "op_id": o, "job_id": j, "po_nos": JOB_POS[j], "item": it, "operation": OP_NAME[c],
        "op_class": c, "mixture": mx, "seq": s, "width_mm": w, "length_m": float(max(d.values()) * 300),
        "machine": m, "start": a, "end": b, "start_time": t(a), "end_time": t(b), "setup_slots": su,
        "aging_slots": 0, "due": pd.Timestamp(JOB_DUE[j]),
    } for o, j, s, it, c, mx, w, m, a, b, su, d in OPS])
    sched = sched.astype({"seq": "int64", "width_mm": "int64", "start": "int64", "end": "int64",
                          "setup_slots": "int64", "aging_slots": "int64"})
    dag = nx.DiGraph(base_date="2024-03-01", slot_minutes=SLOT, machines=["M1", "M2"])
    for o, j, s, it, c, mx, w, _m, _a, _b, _su, d in OPS:
        length = float(max(d.values()) * 300)
        due = pd.Timestamp(JOB_DUE[j])
        dag.add_node(o, job=j, seq=s, item=it, operation=OP_NAME[c], operation_code=c, op_class=c,
                     mixture=mx, width=w, length=length, due=due.date().isoformat(),
                     due_slot=int((due + pd.Timedelta(days=1) - BASE) / pd.Timedelta(minutes=SLOT)),
                     po_nos=JOB_POS[j].split(";"), aging_slots=0, durations=dict(d),
                     speeds={k: length / (v * SLOT) for k, v in d.items()})
    dag.add_edge("J1-01", "J1-02")
    orders = pd.DataFrame({
        "po_no": ["P1", "P2", "P3", "P4", "P5", "P6"], "item": ["A", "A", "B", "C", "Z", "D"],
        "item_name": "", "width_mm": [1500, 1500, 1300, 1300, 1300, 1300], "roll_length_m": 100.0,
        "rolls": 1.0, "length_m": 100.0,
        "due": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-01", "2024-03-01", "2024-03-05",
                               "2024-03-10"]),
    })
    tables = {
        "order_data": orders,
        "operation_sequence": pd.DataFrame(
            [(it, c, OP_NAME[c], mx, s, 0.0) for o, j, s, it, c, mx, *_ in OPS],
            columns=["item", "operation_code", "operation", "mixture", "seq", "aging_hours"]),
        "linespeed": pd.DataFrame(
            [(it, OP_NAME[c], m, float(max(d.values()) * 300) / (v * SLOT))
             for o, j, s, it, c, mx, w, _, a, b, su, d in OPS for m, v in d.items()],
            columns=["item", "operation", "machine", "speed_m_min"]),
        "machine_master_info": pd.DataFrame({"machine": ["M1", "M2"], "machine_index": [1, 2],
                                             "machine_name": ["Coater 1", "Laminator 2"]}),
        "yield_data": pd.DataFrame(columns=["item", "operation", "machines", "yield"]),
        "gitem_operation": pd.DataFrame(columns=["item"] + [f"op{i}" for i in range(1, 8)]),
        "operation_types": pd.DataFrame({"operation_code": ["SR", "EPU"], "operation": ["coat", "laminate"],
                                         "op_class": ["SR", "EPU"]}),
        "operation_delay": pd.DataFrame({"from_class": ["SR", "EPU", "SR", "EPU"],
                                         "to_class": ["EPU", "SR", "SR", "EPU"],
                                         "setup_slots": [3, 2, 1, 1]}),
        "width_change": pd.DataFrame({"machine_index": [1], "machine_name": ["Coater 1"],
                                      "long_to_short": [4], "short_to_long": [2], "machine": ["M1"]}),
        "machine_rest": pd.DataFrame({"machine": ["M1"], "machine_index": [1],
                                      "start": [pd.Timestamp("2024-03-01 10:00")],
                                      "end": [pd.Timestamp("2024-03-01 12:00")]}),
        "machine_allocate": pd.DataFrame(columns=["operation", "machine"]),
        "machine_limit": pd.DataFrame(columns=["operation", "machine"]),
    }
    jobs = pd.DataFrame({"job_id": list(JOB_POS), "item": ["A", "B", "C", "D"],
                         "due": pd.to_datetime(list(JOB_DUE.values())), "po_nos": list(JOB_POS.values())})
    order_jobs = pd.DataFrame({"po_no": ["P1", "P2", "P3", "P4", "P6"], "job_id": ["J1", "J1", "J2", "J3", "J4"]})
    unable = pd.DataFrame({"po_no": ["P5"], "job_id": [""], "item": ["Z"], "reason": ["no_routing"],
                           "detail": ["item Z has no routing in operation_sequence"]})
    validation = pd.DataFrame([{"severity": "warning", "table": "operation_delay", "row": 3,
                                "column": "setup_slots", "value": "1", "message": "example warning"}])
    return {**tables, "schedule": sched, "dag": dag, "jobs": jobs, "order_jobs": order_jobs,
            "unable": unable, "validation": validation,
            "calendar": {"base_date": "2024-03-01", "slot_minutes": SLOT}}


def plan_of(world) -> PlanView:
    return PlanView.build(world["schedule"], world["dag"], world, world["calendar"])


def _tables(world):
    return K.machine_and_gap_tables(plan_of(world))


def test_downtime_slots_floor_start_ceil_end():
    rest = pd.DataFrame({"machine": ["M1", "M1"], "start": pd.to_datetime(["2024-03-01 10:10", "2024-03-01 11:00"]),
                         "end": pd.to_datetime(["2024-03-01 11:20", "2024-03-01 13:00"])})
    assert downtime_slots({"machine_rest": rest}, Calendar(BASE, SLOT)) == {"M1": ((20, 26),)}


def test_merged_late_order_counts_each_po_by_its_own_due():
    w = make_world()
    orders = K.order_table(w["schedule"], w["order_data"], w["order_jobs"], w["unable"], w["jobs"])
    o = orders.set_index("po_no")
    assert list(orders.columns) == K.ORDER_COLUMNS
    assert o.at["P1", "job_id"] == o.at["P2", "job_id"] == "J1"
    assert o.at["P1", "end_time"] == pd.Timestamp("2024-03-02 06:00")
    assert o.at["P1", "late_days"] == pytest.approx(0.25)
    assert o.at["P1", "late_whole_days"] == 1
    assert o.at["P2", "late_days"] == 0 and o.at["P2", "late_whole_days"] == 0
    assert o.at["P5", "status"] == "unable" and o.at["P5", "reason"].startswith("no_routing")
    assert pd.isna(o.at["P5", "late_days"])
    late = K.late_order_table(orders)
    assert list(late["po_no"]) == ["P1"]


def test_gap_with_width_change_next_to_downtime():
    _, gaps = _tables(make_world())
    g = gaps[(gaps["machine"] == "M1") & (gaps["next_op"] == "J2-01")].iloc[0]
    assert (g["start"], g["end"], g["slots"]) == (10, 28, 18)
    assert (g["setup_slots"], g["downtime_slots"], g["idle_slots"]) == (4, 4, 10)
    assert g["kind"] == "downtime"
    assert "width change long→short 1500→1300" in g["reason"]
    assert "mixture change X1→X2" in g["reason"]
    assert "downtime 20–24" in g["reason"]
    assert g["start_time"] == pd.Timestamp("2024-03-01 05:00")


def test_mixture_change_setup_gap():
    _, gaps = _tables(make_world())
    g = gaps[gaps["next_op"] == "J4-01"].iloc[0]
    assert (g["prev_op"], g["start"], g["end"], g["kind"]) == ("J2-01", 40, 41, "setup")
    assert g["reason"] == "mixture change X2→X3 (1 slot)"
    assert "width" not in g["reason"]  # 1300 → 1300


def test_idle_gap_waiting_for_predecessor():
    _, gaps = _tables(make_world())
    g = gaps[(gaps["machine"] == "M2") & (gaps["position"] == "between")].iloc[0]
    assert (g["prev_op"], g["next_op"], g["slots"], g["idle_slots"], g["kind"]) == ("J3-01", "J1-02", 4, 4, "idle")
    assert "waiting for the previous step of J1 (ready at slot 10)" in g["reason"]
    trailing = gaps[(gaps["machine"] == "M1") & (gaps["position"] == "after_last")].iloc[0]
    assert (trailing["start"], trailing["end"], trailing["kind"]) == (50, 60, "idle")


def test_class_change_and_short_to_long_reason():
    rules = Changeovers.from_tables(make_world())
    a, b = ("SR", "X1", 1300), ("EPU", "", 1500)
    assert rules.reasons("M1", a, b) == ["class change SR→EPU (3 slots)", "mixture change X1→none",
                                         "width change short→long 1300→1500 (2 slots)"]
    assert rules.reasons("M2", a, a) == []


def test_machine_time_accounting_and_utilisation():
    machines, _ = _tables(make_world())
    m = machines.set_index("machine")
    assert list(machines.columns) == K.MACHINE_COLUMNS
    assert m.loc["M1", ["work_slots", "setup_slots", "downtime_slots", "idle_slots", "operations"]].tolist() == [31, 5, 4, 20, 3]
    assert m.loc["M2", ["work_slots", "setup_slots", "downtime_slots", "idle_slots"]].tolist() == [56, 0, 0, 4]
    for row in machines.itertuples():  # every slot of the horizon is accounted once
        assert row.work_slots + row.setup_slots + row.downtime_slots + row.idle_slots == 60
    assert m.at["M1", "utilisation"] == pytest.approx(31 / 60)
    assert m.at["M1", "utilisation_available"] == pytest.approx(31 / 56)
    assert m.at["M1", "setup_loss"] == pytest.approx(5 / 60)
    assert m.at["M1", "idle_between_slots"] == 10 and m.at["M1", "setups"] == 2


def test_unused_machine_is_all_idle():
    w = make_world()
    w["machine_master_info"] = pd.DataFrame({"machine": ["M1", "M2", "M3"], "machine_index": [1, 2, 3],
                                             "machine_name": ["Coater 1", "Laminator 2", "Printer 3"]})
    machines, gaps = K.machine_and_gap_tables(plan_of(w))
    m3 = machines.set_index("machine").loc["M3"]
    assert (m3["operations"], m3["idle_slots"], m3["utilisation"]) == (0, 60, 0.0)
    assert gaps[gaps["machine"] == "M3"]["position"].tolist() == ["unused"]


def test_lower_bounds_from_the_graph():
    b = K.lower_bounds(make_world()["dag"], 60).set_index("bound")
    assert b.at["chain", "slots"] == 50  # J1: 10 on M1 + at least 40 for J1-02
    assert b.at["load", "slots"] == math.ceil((10 + 40 + 12 + 6 + 9) / 2)
    assert b.at["machine", "slots"] == 10 + 12 + 9  # ops only M1 can run
    assert b.at["best", "slots"] == 50 and b.at["best", "gap_slots"] == 10
    assert b.at["best", "gap_rel"] == pytest.approx(0.2)


def test_kpis_of_the_world():
    w = make_world()
    orders = K.order_table(w["schedule"], w["order_data"], w["order_jobs"], w["unable"], w["jobs"])
    machines, _ = _tables(w)
    bounds = K.lower_bounds(w["dag"], 60)
    k = K.compute_kpis(plan_of(w), orders, machines, bounds, 0, Params())
    assert (k["makespan_slots"], k["makespan_hours"], k["makespan_days"]) == (60, 30.0, 1.25)
    assert (k["orders"], k["scheduled_orders"], k["unable_orders"], k["operations"], k["jobs"]) == (6, 5, 1, 5, 4)
    assert k["late_orders"] == 1 and k["on_time_orders"] == 4
    assert k["total_tardiness_days"] == pytest.approx(0.25)
    assert k["mean_tardiness_days"] == pytest.approx(0.05)
    assert k["on_time_rate"] == pytest.approx(4 / 6)
    assert k["on_time_rate_scheduled"] == pytest.approx(4 / 5)
    assert (k["setup_slots"], k["idle_slots"], k["downtime_slots"], k["work_slots"]) == (5, 24, 4, 87)
    assert k["utilisation"] == pytest.approx(87 / 120)
    assert (k["lower_bound"], k["gap_to_lower_bound"]) == (50, pytest.approx(0.2))
    assert (k["slot_minutes"], k["base_date"], k["makespan_end"]) == (30, "2024-03-01", "2024-03-02T06:00:00")


def test_results_stage_on_the_world_is_feasible_and_complete():
    from prodsched.stages import run_stage

    w = make_world()
    seen = []
    res = run_stage("results", w, Params(), progress=lambda f, m: seen.append(f))
    a = res.artifacts
    assert list(a["violations"].columns) == VIOLATION_COLUMNS
    assert a["violations"].empty, a["violations"].to_string()
    assert a["kpis"]["violations"] == 0 and a["kpis"]["late_orders"] == 1
    assert set(a) == {"kpis", "orders", "late_orders", "machines", "gaps", "violations", "bounds"}
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert res.summary["gaps"]["downtime"] == 1


def test_results_stage_reports_violations_of_a_broken_schedule():
    from prodsched.stages import run_stage

    w = make_world()
    s = w["schedule"].copy()
    s.loc[s["op_id"] == "J4-01", "setup_slots"] = 0  # mixture change X2→X3 needs 1 slot
    s.loc[s["op_id"] == "J4-01", ["start", "end"]] = [40, 49]
    s.loc[s["op_id"] == "J4-01", "start_time"] = BASE + pd.Timedelta(minutes=SLOT * 40)
    s.loc[s["op_id"] == "J4-01", "end_time"] = BASE + pd.Timedelta(minutes=SLOT * 49)
    res = run_stage("results", {**w, "schedule": s}, Params())
    v = res.artifacts["violations"]
    assert "J4-01" in set(v["op_id"])
    assert res.artifacts["kpis"]["violations"] == len(v) > 0


def test_results_stage_honours_cancel():
    import threading

    from prodsched.errors import Cancelled
    from prodsched.stages import results

    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        results.run(make_world(), Params(), cancel=ev)
