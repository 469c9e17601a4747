"""The plan view: every fact of a schedule computed once (calendar, machine order, downtime in
slots, each setup with its reason), checked on hand-made schedules."""

from __future__ import annotations

from types import SimpleNamespace

import networkx as nx
import pandas as pd
import pytest
from test_schedule_stage import (  # tests/ is on sys.path under pytest
    JOBS,
    make_dag,
    make_tables,
)

from prodsched.errors import ProdschedError
from prodsched.inputs.spec import machine_order
from prodsched.params import Params
from prodsched.results import kpis as K
from prodsched.results.columns import SETUP_COLUMNS
from prodsched.results.gantt_data import bar_records, downtime_records, gantt_data, setup_records
from prodsched.results.plan import Calendar, PlanView, calendar_of, downtime_slots
from prodsched.stages import schedule as stage

BASE = pd.Timestamp("2024-03-01")
SLOT = 30
CAL = {"base_date": "2024-03-01", "slot_minutes": SLOT}


def op(op_id, machine, start, end, op_class="SR", mixture="", width=1500, setup=0, slot=SLOT, base=BASE):
    return {"op_id": op_id, "job_id": op_id.split("-")[0], "po_nos": "P1", "item": "IT", "operation": "coat",
            "op_class": op_class, "mixture": mixture, "seq": 1, "width_mm": width, "length_m": 100.0,
            "machine": machine, "start": start, "end": end,
            "start_time": base + pd.Timedelta(minutes=slot * start),
            "end_time": base + pd.Timedelta(minutes=slot * end),
            "setup_slots": setup, "aging_slots": 0, "due": pd.Timestamp("2024-03-20")}


def frame(*ops):
    return pd.DataFrame(list(ops))


MASTER = pd.DataFrame({"machine": ["M2", "M1", "M3"], "machine_index": [2, 1, 3],
                       "machine_name": ["Laminator", "Coater", "Printer"]})
DELAY = pd.DataFrame({"from_class": ["SR", "SR", "EPU"], "to_class": ["EPU", "SR", "SR"],
                      "setup_slots": [3, 1, 2]})
WIDTH = pd.DataFrame({"machine_index": [1], "machine": [""], "long_to_short": [4], "short_to_long": [1]})
TABLES = {"machine_master_info": MASTER, "operation_delay": DELAY, "width_change": WIDTH}


# --------------------------------------------------------------------------- calendar
def test_calendar_from_stage_2_beats_the_dag_and_the_dag_beats_the_times():
    sched = frame(op("A-1", "M1", 2, 4))
    dag = SimpleNamespace(graph={"base_date": "2024-02-01", "slot_minutes": 60})
    assert calendar_of(CAL, dag, sched) == Calendar(BASE, 30)
    assert calendar_of(None, dag, sched) == Calendar(pd.Timestamp("2024-02-01"), 60)
    stored = {"graph": {"base_date": "2024-02-01", "slot_minutes": 60}, "nodes": [], "edges": []}
    assert calendar_of(None, stored) == Calendar(pd.Timestamp("2024-02-01"), 60)  # node-link dict
    assert calendar_of({"base_date": "2024-01-15"}, dag).slot_minutes == 60  # each part on its own


def test_calendar_is_read_exactly_off_the_schedule_times():
    base = pd.Timestamp("2025-11-17")
    sched = frame(op("A-1", "M1", 0, 0, slot=45, base=base), op("B-1", "M1", 3, 7, slot=45, base=base))
    assert calendar_of(schedule=sched) == Calendar(base, 45)
    assert calendar_of({"slot_minutes": 45}, schedule=sched) == Calendar(base, 45)
    cal = PlanView.build(sched).calendar
    assert cal.time(7) == base + pd.Timedelta(minutes=315)
    assert list(cal.time([0, 2])) == [base, base + pd.Timedelta(minutes=90)]
    assert cal.to_dict() == {"base_date": "2025-11-17", "slot_minutes": 45}


def test_a_schedule_without_a_calendar_names_what_is_missing():
    zero_length = frame(op("A-1", "M1", 3, 3))  # shows the base only once the slot is known
    with pytest.raises(ProdschedError, match="base_date and slot_minutes missing"):
        calendar_of(schedule=zero_length)
    with pytest.raises(ProdschedError, match="slot_minutes missing"):
        calendar_of({"base_date": "2024-03-01"}, schedule=zero_length.drop(columns=["start_time"]))
    with pytest.raises(ProdschedError, match="base_date missing"):
        PlanView.build(zero_length.drop(columns=["start_time"]), calendar={"slot_minutes": 30})


def test_times_that_follow_no_single_calendar_are_an_error():
    a, b = op("A-1", "M1", 0, 2), op("B-1", "M2", 0, 2, slot=60)
    with pytest.raises(ProdschedError, match="no single slot length"):
        calendar_of(schedule=frame(a, b))
    b = op("B-1", "M2", 0, 2, base=BASE + pd.Timedelta(days=1))
    with pytest.raises(ProdschedError, match="no single base_date"):
        calendar_of(schedule=frame(a, b))


@pytest.mark.parametrize("cal, message", [
    ({"base_date": "auto", "slot_minutes": 30}, "request stage 2 resolves"),
    ({"base_date": "2024-03-01 06:00", "slot_minutes": 30}, "midnight"),
    ({"base_date": "March", "slot_minutes": 30}, "not a date"),
    ({"base_date": "2024-03-01", "slot_minutes": 0}, "positive whole number"),
    ({"base_date": "2024-03-01", "slot_minutes": 7.5}, "positive whole number"),
])
def test_a_bad_calendar_is_an_error_naming_the_value(cal, message):
    with pytest.raises(ProdschedError, match=message):
        calendar_of(cal)


# --------------------------------------------------------------------------- machines
def test_machine_order_follows_machine_index_then_the_dag_then_the_schedule():
    sched = frame(op("A-1", "M1", 0, 2), op("B-1", "X9", 0, 2), op("C-1", "A0", 0, 2))
    plan = PlanView.build(sched, tables={"machine_master_info": MASTER}, calendar=CAL)
    assert plan.machines == ("M1", "M2", "M3", "A0", "X9")  # index order, then the rest sorted
    assert plan.machine_names == {"M2": "Laminator", "M1": "Coater", "M3": "Printer"}
    assert plan.rows == {"M1": 0, "M2": 1, "M3": 2, "A0": 3, "X9": 4}
    dag = nx.DiGraph(machines=["M3", "M1"], **CAL)
    assert PlanView.build(sched, dag).machines == ("M3", "M1", "A0", "X9")
    assert machine_order(pd.DataFrame({"machine": ["B", "A", "B"], "machine_index": [2, 1, 3]})) == ["A", "B"]
    assert machine_order(None) == []


def test_every_reader_uses_the_plan_machine_order():
    sched = frame(op("A-1", "M2", 0, 2), op("B-1", "M1", 0, 3))
    plan = PlanView.build(sched, tables={"machine_master_info": MASTER}, calendar=CAL)
    machines, _ = K.machine_and_gap_tables(plan)
    assert list(machines["machine"]) == list(plan.machines) == ["M1", "M2", "M3"]
    assert list(machines["machine_name"]) == ["Coater", "Laminator", "Printer"]
    assert [m["machine"] for m in gantt_data(plan)["machines"]] == ["M1", "M2", "M3"]


# --------------------------------------------------------------------------- downtime
def rest(*rows, **extra):
    return pd.DataFrame({"machine": [r[0] for r in rows], "start": pd.to_datetime([r[1] for r in rows]),
                         "end": pd.to_datetime([r[2] for r in rows]), **extra})


def test_downtime_is_floored_ceiled_merged_and_sorted():
    rows = rest(("M1", "2024-03-01 12:00", "2024-03-01 13:00"), ("M1", "2024-03-01 01:10", "2024-03-01 03:05"),
                ("M1", "2024-03-01 03:00", "2024-03-01 04:00"), ("M2", "2024-03-01 06:00", "2024-03-01 06:20"),
                ("M1", "2024-03-01 13:00", "2024-03-01 13:30"))
    got = downtime_slots({"machine_rest": rows}, Calendar(BASE, SLOT))
    assert got == {"M1": ((2, 8), (24, 27)), "M2": ((12, 13),)}  # touching spans merge


def test_downtime_straddling_the_calendar_keeps_its_slots_and_is_clipped_only_where_counted():
    sched = frame(op("A-1", "M1", 4, 10), op("B-1", "M2", 0, 12))
    rows = rest(("M1", "2024-02-29 22:00", "2024-03-01 02:00"),  # from before slot 0 ...
                ("M1", "2024-03-01 05:00", "2024-03-02 00:00"))  # ... and past the makespan (12)
    plan = PlanView.build(sched, tables={"machine_rest": rows}, calendar=CAL)
    assert plan.downtime == {"M1": ((-4, 4), (10, 48))}
    machines, gaps = K.machine_and_gap_tables(plan)
    m1 = machines.set_index("machine").loc["M1"]
    assert (m1["downtime_slots"], m1["work_slots"], m1["idle_slots"]) == (4 + 2, 6, 0)
    assert gaps[gaps["machine"] == "M1"]["kind"].tolist() == ["downtime", "downtime"]
    drawn = downtime_records(gantt_data(plan))
    assert [(d["start"], d["end"], d["start_time"]) for d in drawn] == [
        (-4, 4, "2024-02-29T22:00"), (10, 48, "2024-03-01T05:00")]
    assert gantt_data(plan)["horizon"] == [0, 48]


def test_stage_5_gives_the_engine_the_same_downtime_slots():
    tables = make_tables(rest=(("C01", "2026-01-01 01:10", "2026-01-01 03:05"),
                               ("C01", "2025-12-31 23:00", "2026-01-01 01:30"),
                               ("C02", "2026-01-01 05:00", "2026-01-01 06:00")))
    inst = stage.build_instance(make_dag(JOBS), tables)
    plan_spans = downtime_slots(tables, calendar_of(dag=make_dag(JOBS)))
    assert plan_spans == {"C01": ((-2, 7),), "C02": ((10, 12),)}
    assert {m.code: m.downtime for m in inst.machines if m.downtime} == plan_spans


def test_downtime_rows_without_a_code_are_found_by_machine_index():
    rows = rest(("", "2024-03-01 01:00", "2024-03-01 02:00"), machine_index=[3])
    got = downtime_slots({"machine_rest": rows, "machine_master_info": MASTER}, Calendar(BASE, SLOT))
    assert got == {"M3": ((2, 4),)}


@pytest.mark.parametrize("row, message", [
    (("", "2024-03-01 01:00", "2024-03-01 02:00"), "no machine code"),
    (("M1", "2024-03-01 02:00", "2024-03-01 02:00"), "start before its end"),
    (("M1", None, "2024-03-01 02:00"), "start before its end"),
])
def test_a_bad_downtime_row_is_an_error_naming_it(row, message):
    rows = rest(row, machine_index=[9], _row=[7])
    with pytest.raises(ProdschedError, match=f"machine_rest row 7: .*{message}"):
        downtime_slots({"machine_rest": rows, "machine_master_info": MASTER}, Calendar(BASE, SLOT))


# --------------------------------------------------------------------------- setups
SEQUENCE = [  # M1 (long→short 4, short→long 1 via machine_index 1), in time order
    op("A-1", "M1", 0, 2, "SR", "X1", 1500),
    op("B-1", "M1", 5, 7, "EPU", "X1", 1500, setup=3),   # class change SR→EPU
    op("C-1", "M1", 9, 10, "EPU", "X2", 1500, setup=0),   # mixture change, EPU→EPU has no delay
    op("D-1", "M1", 12, 13, "SR", "X2", 1500, setup=2),  # class change EPU→SR, mixture the same
    op("E-1", "M1", 14, 15, "SR", "X3", 1500, setup=1),  # mixture change (SR→SR = 1 slot)
    op("F-1", "M1", 19, 20, "SR", "X3", 1300, setup=4),  # width change long→short
    op("G-1", "M1", 21, 22, "SR", "X3", 1500, setup=1),  # width change short→long
    op("H-1", "M1", 26, 28, "EPU", "", 1300, setup=4),   # class + mixture + width change
    op("I-1", "M1", 30, 31, "EPU", "", 1300, setup=2),   # nothing changes, yet 2 slots charged
    op("J-1", "M2", 3, 5, "SR", "X1", 1500, setup=1),    # first on M2, yet 1 slot charged
]


@pytest.fixture(scope="module")
def plan():
    shuffled = frame(*SEQUENCE).sample(frac=1.0, random_state=3)  # the row order does not matter
    return PlanView.build(shuffled, tables=TABLES, calendar=CAL)


def test_each_setup_has_its_reason_worded_one_way(plan):
    assert {o: plan.reason(o) for o in plan.setups["op_id"]} == {
        "A-1": "",
        "B-1": "class change SR→EPU (3 slots)",
        "C-1": "",
        "D-1": "class change EPU→SR (2 slots)",
        "E-1": "mixture change X2→X3 (1 slot)",
        "F-1": "width change long→short 1500→1300 (4 slots)",
        "G-1": "width change short→long 1300→1500 (1 slot)",
        "H-1": "class change SR→EPU (3 slots); mixture change X3→none; width change long→short 1500→1300 (4 slots)",
        "I-1": "setup 2 slots without a changeover after H-1",
        "J-1": "setup 1 slot without a changeover on the machine's first operation",
    }


def test_setup_table_lists_the_predecessor_and_what_the_tables_ask_for(plan):
    s = plan.setups.set_index("op_id")
    assert list(plan.setups.columns) == SETUP_COLUMNS
    assert list(plan.setups["op_id"]) == [o["op_id"] for o in SEQUENCE]  # machine sequence
    assert list(plan.schedule["op_id"]) == list(plan.setups["op_id"])
    assert s.loc["A-1", "prev_op"] == "" and s.loc["B-1", "prev_op"] == "A-1" and s.loc["J-1", "prev_op"] == ""
    assert s["type_slots"].to_dict() == {"A-1": 0, "B-1": 3, "C-1": 0, "D-1": 2, "E-1": 1, "F-1": 0,
                                         "G-1": 0, "H-1": 3, "I-1": 0, "J-1": 0}
    assert s["width_slots"].to_dict() == {"A-1": 0, "B-1": 0, "C-1": 0, "D-1": 0, "E-1": 0, "F-1": 4,
                                          "G-1": 1, "H-1": 4, "I-1": 0, "J-1": 0}
    assert plan.makespan == 31


def test_gaps_and_gantt_give_the_same_reasons(plan):
    _, gaps = K.machine_and_gap_tables(plan)
    with_setup = gaps[gaps["setup_slots"] > 0]
    assert len(with_setup) == 8
    for next_op, reason in zip(with_setup["next_op"], with_setup["reason"]):
        assert reason.startswith(plan.reason(next_op))
    data = gantt_data(plan)
    assert {b["op_id"]: b["setup_reason"] for b in bar_records(data)} == {
        o: plan.reason(o) for o in plan.setups["op_id"]}
    assert {s["op_id"]: s["reason"] for s in setup_records(data)} == {
        o: plan.reason(o) for o, n in zip(plan.setups["op_id"], plan.setups["setup_slots"]) if n > 0}


def test_an_engine_schedule_charges_what_the_plan_explains():
    tables = make_tables()
    result = stage.run({"dag": make_dag(JOBS), **tables}, Params())
    df = result.artifacts["schedule"]
    assert stage.verify(df, make_dag(JOBS), tables) == []
    plan = PlanView.build(df, make_dag(JOBS), tables)
    s = plan.setups
    assert (s["setup_slots"] == s[["type_slots", "width_slots"]].max(axis=1)).all()
    charged = s[s["setup_slots"] > 0]
    assert len(charged) and not charged["reason"].str.contains("without a changeover").any()
    assert plan.calendar == Calendar(pd.Timestamp("2026-01-01"), 30)


def test_a_schedule_lacking_plan_columns_is_an_error():
    with pytest.raises(ProdschedError, match=r"lacks column\(s\) \['width_mm'\]"):
        PlanView.build(frame(op("A-1", "M1", 0, 2)).drop(columns=["width_mm"]), calendar=CAL)
