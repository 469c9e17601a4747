"""Stage 5 on small hand-made operation graphs (built per the stage-4 contract)."""

from __future__ import annotations

import threading

import networkx as nx
import pandas as pd
import pytest

from prodsched.errors import Cancelled, ScheduleError
from prodsched.frozen import freeze_graph, is_read_only
from prodsched.params import Params
from prodsched.stages import schedule as stage

BASE = "2026-01-01"
SLOT = 30


def make_dag(jobs, machines=("C01", "C02", "C03")):
    """jobs: {job_id: (due ISO date, [(op_class, mixture, width, {machine: slots}, aging), ...])}."""
    g = nx.DiGraph(base_date=BASE, slot_minutes=SLOT, machines=list(machines))
    base = pd.Timestamp(BASE)
    for job, (due, ops) in jobs.items():
        due_slot = int((pd.Timestamp(due) + pd.Timedelta(days=1) - base) / pd.Timedelta(minutes=SLOT))
        prev = None
        for seq, (op_class, mixture, width, durations, aging) in enumerate(ops, start=1):
            op_id = f"{job}-{seq:02d}"
            g.add_node(op_id, job=job, seq=seq, item=f"G{job}", operation=f"{op_class}-op",
                       operation_code=f"P{seq}", op_class=op_class, mixture=mixture, width=width,
                       length=1000.0 * seq, due=due, due_slot=due_slot, po_nos=[f"PO-{job}", f"PO-{job}b"],
                       aging_slots=aging, durations=dict(durations),
                       speeds={m: 50.0 for m in durations})
            if prev:
                g.add_edge(prev, op_id)
            prev = op_id
    return g


def make_tables(rest=(("C01", "2026-01-01 01:10", "2026-01-01 03:05"),), width_codes=True):
    master = pd.DataFrame({"machine": ["C01", "C02", "C03"], "machine_index": [1, 2, 3],
                           "machine_name": ["coater 1", "coater 2", "printer"], "_row": [2, 3, 4]})
    delay = pd.DataFrame({"from_class": ["SR", "EPU", "SR"], "to_class": ["EPU", "SR", "SR"],
                          "setup_slots": [2, 3, 1], "_row": [2, 3, 4]})
    width = pd.DataFrame({"machine_index": [1, 2], "machine_name": ["coater 1", "coater 2"],
                          "long_to_short": [1, 2], "short_to_long": [4, 5],
                          "machine": ["C01", "C02"] if width_codes else ["", ""], "_row": [2, 3]})
    machine_rest = pd.DataFrame({
        "machine": [r[0] for r in rest], "machine_index": [1] * len(rest),
        "start": pd.to_datetime([r[1] for r in rest]), "end": pd.to_datetime([r[2] for r in rest]),
        "_row": list(range(2, 2 + len(rest)))})
    return {"machine_master_info": master, "operation_delay": delay, "width_change": width,
            "machine_rest": machine_rest}


JOBS = {
    "J1": ("2026-01-02", [("SR", "MX1", 1500, {"C01": 3, "C02": 4}, 2), ("EPU", "", 1500, {"C03": 2}, 0)]),
    "J2": ("2026-01-02", [("SR", "MX2", 1000, {"C01": 2, "C02": 2}, 0), ("EPU", "", 1000, {"C03": 3}, 0)]),
    "J3": ("2026-01-03", [("EPU", "MX1", 1300, {"C01": 4}, 0)]),
    "J4": ("2026-01-05", [("SR", "MX1", 1300, {"C02": 5, "C03": 6}, 1), ("SR", "MX2", 1300, {"C02": 1}, 0),
                          ("EPU", "", 1300, {"C01": 2, "C03": 2}, 0)]),
}


def run_stage(jobs=JOBS, tables=None, **params):
    inputs = {"dag": make_dag(jobs), **(tables if tables is not None else make_tables())}
    return stage.run(inputs, Params(**params))


# -- instance ------------------------------------------------------------------------------
def test_build_instance_maps_graph_and_tables():
    inst = stage.build_instance(make_dag(JOBS), make_tables())
    assert [m.code for m in inst.machines] == ["C01", "C02", "C03"]
    c01, c02, c03 = inst.machines
    assert c01.downtime == ((2, 7),)  # 01:10 floored to slot 2, 03:05 ceiled to slot 7
    assert (c01.long_to_short, c01.short_to_long, c02.long_to_short, c02.short_to_long) == (1, 4, 2, 5)
    assert (c03.long_to_short, c03.short_to_long, c03.downtime) == (0, 0, ())
    assert inst.class_setup == {("SR", "EPU"): 2, ("EPU", "SR"): 3, ("SR", "SR"): 1}
    op = inst.op("J4-02")
    assert (op.job, op.seq, op.op_class, op.mixture, op.width, op.aging_slots) == ("J4", 2, "SR", "MX2", 1300, 0)
    assert op.predecessors == ("J4-01",) and op.durations == {"C02": 1}
    assert op.due_slot == 5 * 48 and op.operation == "SR-op"


def test_width_change_rows_without_a_code_join_by_machine_index():
    inst = stage.build_instance(make_dag(JOBS), make_tables(width_codes=False))
    assert [(m.long_to_short, m.short_to_long) for m in inst.machines] == [(1, 4), (2, 5), (0, 0)]


def test_optional_tables_may_be_missing_or_empty():
    inst = stage.build_instance(make_dag(JOBS), {"machine_rest": make_tables(rest=())["machine_rest"]})
    assert inst.class_setup == {} and all(m.downtime == () for m in inst.machines)


def test_node_link_dict_is_accepted():
    g = make_dag(JOBS)
    data = nx.node_link_data(g, edges="links")
    inst = stage.build_instance(data, make_tables())
    assert inst.op("J1-02").predecessors == ("J1-01",)


# -- run -----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["window", "edd", "spt", "atcs"])
def test_run_produces_a_verified_contract_frame(rule):
    tables = make_tables()
    result = run_stage(tables=tables, rule=rule)
    df = result.artifacts["schedule"]
    assert list(df.columns) == stage.COLUMNS
    assert len(df) == 8 and df["op_id"].is_unique
    assert str(df["start"].dtype) == "int64" and str(df["setup_slots"].dtype) == "int64"
    assert pd.api.types.is_datetime64_any_dtype(df["start_time"])
    assert pd.api.types.is_datetime64_any_dtype(df["due"])
    row = df.set_index("op_id").loc["J1-01"]
    assert row["start_time"] == pd.Timestamp(BASE) + pd.Timedelta(minutes=SLOT * int(row["start"]))
    assert row["po_nos"] == "PO-J1;PO-J1b" and row["due"] == pd.Timestamp("2026-01-02")
    summary = result.summary
    assert summary["violations"] == 0 and summary["operations"] == 8 and summary["rule"] == rule
    assert summary["makespan_slots"] == int(df["end"].max())
    assert summary["setup_slots"] == int(df["setup_slots"].sum())
    assert summary["machines_used"] == df["machine"].nunique()
    assert {"window_days", "seed", "elapsed_s", "ops_per_s"} <= set(summary)
    assert stage.verify(df, make_dag(JOBS), tables) == []


def test_downtime_and_setup_slots_in_the_frame():
    df = run_stage().artifacts["schedule"]
    c01 = df[df["machine"] == "C01"]
    for s, e, su in zip(c01["start"], c01["end"], c01["setup_slots"]):
        assert e <= 2 or s - su >= 7  # neither the op nor its setup touches downtime [2, 7)


def test_rule_options_and_parameters_reach_the_engine():
    a = run_stage(rule="atcs", extra={"rule_options": {"k1": 0.5, "k2": 5.0}})
    assert a.summary["rule"] == "atcs" and a.summary["violations"] == 0
    w = run_stage(window_days=0, seed=3)
    assert (w.summary["window_days"], w.summary["seed"]) == (0, 3)


def test_objective_and_optimiser_reach_the_engine_and_the_summary():
    tables = make_tables()
    dispatch = run_stage(tables=tables, rule="edd")
    result = run_stage(tables=tables, rule="edd", objective="makespan", improve_iterations=40,
                       time_limit_s=60)
    summary, figures = result.summary, result.artifacts["schedule_figures"]
    df = result.artifacts["schedule"]
    assert summary["violations"] == 0 and stage.verify(df, make_dag(JOBS), tables) == []
    assert summary["objective"] == "makespan" and summary["improve_iterations_done"] == 40
    assert summary["improve_capped"] is False and summary["improve_iterations"] == 40
    assert summary["makespan_slots"] <= dispatch.summary["makespan_slots"]
    assert summary["objective_value"] == f"{summary['makespan_slots']}, {summary['setup_slots']}"
    assert summary["dispatch_objective_value"] == (f"{dispatch.summary['makespan_slots']}, "
                                                   f"{dispatch.summary['setup_slots']}")
    assert set(summary["objectives"]) >= {"tardiness", "makespan", "setups", "weighted"}
    assert summary["objectives"]["makespan"] == [summary["makespan_slots"], summary["setup_slots"]]
    assert {k: summary[k] for k in figures} == figures  # the KPIs of stage 6 get the same
    # the dispatch alone: nothing done, nothing capped, the default objective
    assert (dispatch.summary["objective"], dispatch.summary["improve_iterations_done"]) == (
        "tardiness", 0)


def test_weighted_objective_options_and_bad_objectives():
    result = run_stage(objective="weighted", improve_iterations=10,
                       objective_options={"weights": {"tardiness": 0, "makespan": 1,
                                                      "setup_slots": 0}})
    assert result.summary["objective"] == "weighted" and result.summary["violations"] == 0
    assert result.summary["objective_value"].startswith(f"{result.summary['makespan_slots']}.0")
    with pytest.raises(ValueError, match="unknown objective 'soonest'"):
        run_stage(objective="soonest")
    with pytest.raises(ValueError, match="unknown weight"):
        run_stage(objective="weighted", objective_options={"weights": {"late": 1}})


def test_dead_end_operation_raises_naming_it():
    jobs = dict(JOBS, J9=("2026-01-04", [("SR", "", 1000, {}, 0)]))
    with pytest.raises(ScheduleError, match="J9-01"):
        run_stage(jobs)


def test_cancel_stops_the_stage():
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        stage.run({"dag": make_dag(JOBS), **make_tables()}, Params(), cancel=stop)


def test_progress_reaches_one():
    seen = []
    stage.run({"dag": make_dag(JOBS), **make_tables()}, Params(), progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0


# -- verify --------------------------------------------------------------------------------
def scheduled():
    tables = make_tables()
    return run_stage(tables=tables).artifacts["schedule"].copy(), make_dag(JOBS), tables


def checks(found):
    return {v["check"] for v in found}


def test_verify_catches_an_overlap_made_in_the_frame():
    df, dag, tables = scheduled()
    c03 = df.index[df["machine"] == "C03"]
    first, second = c03[0], c03[1]
    shift = int(df.at[second, "start"] - df.at[first, "start"])
    for col in ("start", "end"):
        df.at[second, col] -= shift
    for col in ("start_time", "end_time"):
        df.at[second, col] -= pd.Timedelta(minutes=SLOT * shift)
    found = stage.verify(df, dag, tables)
    assert "overlap" in checks(found)
    assert all(set(v) == {"op_id", "check", "message"} for v in found)


def test_verify_catches_inconsistent_columns():
    df, dag, tables = scheduled()
    df.loc[0, "start_time"] += pd.Timedelta(hours=1)
    df.loc[1, "seq"] = 9
    df.loc[2, "po_nos"] = "PO-X"
    found = stage.verify(df, dag, tables)
    assert checks(found) == {"start_time", "attributes"}
    assert {v["op_id"] for v in found} == {df.loc[0, "op_id"], df.loc[1, "op_id"], df.loc[2, "op_id"]}


def test_verify_catches_missing_rows_and_columns():
    df, dag, tables = scheduled()
    found = stage.verify(df.iloc[1:], dag, tables)
    missing = [v["op_id"] for v in found if v["check"] == "missing"]
    assert missing == [df.iloc[0]["op_id"]]
    found = stage.verify(df.drop(columns=["end"]), dag, tables)
    assert found == [{"op_id": "", "check": "columns", "message": "the schedule lacks column(s) ['end']"}]
    found = stage.verify(df.drop(columns=["due"]), dag, tables)
    assert checks(found) == {"columns"}


def test_verify_uses_the_downtime_of_the_tables():
    df, dag, _ = scheduled()
    longer = make_tables(rest=(("C01", "2026-01-01 00:00", "2026-01-03 00:00"),))
    assert "downtime" in checks(stage.verify(df, dag, longer))


def test_an_empty_graph_gives_an_empty_typed_frame():
    g = nx.DiGraph(base_date=BASE, slot_minutes=SLOT, machines=["C01"])
    result = stage.run({"dag": g}, Params())
    df = result.artifacts["schedule"]
    assert list(df.columns) == stage.COLUMNS and len(df) == 0
    assert str(df["start"].dtype) == "int64" and str(df["length_m"].dtype) == "float64"
    assert result.summary["operations"] == 0 and result.summary["violations"] == 0
    assert stage.verify(df, g, {}) == []


# -- stage 5 hands the operations of a read-only graph to the verifier of stage 6 -----------
def test_the_verifier_takes_the_operations_stage_5_read_from_a_read_only_graph():
    g, tables = freeze_graph(make_dag(JOBS)), make_tables()
    given = stage.build_instance(g, tables, hand_over="give")
    taken = stage.build_instance(g, tables, hand_over="take")
    assert taken.operations is given.operations  # handed over, not read again
    again = stage.build_instance(g, tables, hand_over="take")  # taken once: read afresh
    assert again.operations is not given.operations and again.operations == given.operations
    assert again.operations == stage.build_instance(make_dag(JOBS), tables).operations


@pytest.mark.parametrize("freeze", [None, nx.freeze], ids=["plain", "nx.freeze only"])
def test_a_graph_that_can_change_is_read_afresh_by_the_verifier(freeze):
    g, tables = make_dag(JOBS), make_tables()
    if freeze:
        freeze(g)  # structure frozen, attribute dicts still changeable
    assert not is_read_only(g)
    stage.build_instance(g, tables, hand_over="give")
    g.nodes["J1-01"]["durations"] = {"C01": 9}
    taken = stage.build_instance(g, tables, hand_over="take")
    assert taken.op("J1-01").durations == {"C01": 9}


def test_after_a_hand_over_the_verifier_still_finds_what_is_wrong():
    g, tables = freeze_graph(make_dag(JOBS)), make_tables()
    df = stage.run({"dag": g, **tables}, Params()).artifacts["schedule"].copy()
    assert stage.verify(df, g, tables) == []
    stage.run({"dag": g, **tables}, Params())  # hands over again
    c03 = df.index[df["machine"] == "C03"]
    shift = int(df.at[c03[1], "start"] - df.at[c03[0], "start"])
    df.loc[c03[1], ["start", "end"]] -= shift
    df.loc[c03[1], ["start_time", "end_time"]] -= pd.Timedelta(minutes=SLOT * shift)
    assert "overlap" in checks(stage.verify(df, g, tables))


def test_hand_over_names_its_choices():
    with pytest.raises(ValueError, match="hand_over must be None, 'give' or 'take'"):
        stage.build_instance(freeze_graph(make_dag(JOBS)), make_tables(), hand_over="keep")
    assert not is_read_only(7) and not is_read_only({"a": 1})
