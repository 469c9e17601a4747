"""Stage 4 (dag): node attributes, durations, aging, due slots, checks and lower bounds."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from prodsched.errors import ProdschedError
from prodsched.frozen import freeze_graph
from prodsched.params import Params
from prodsched.results.bounds import lower_bounds
from prodsched.stages import dag

MASTER = pd.DataFrame({"machine": ["M1", "M2", "M3"], "machine_index": [2, 1, 3],
                       "machine_name": ["one", "two", "three"]})


def inputs(ops, speeds, base="2025-01-01", slot=30, master=MASTER):
    """ops: (op_id, job, seq, length, aging_hours, due); speeds: {op_id: {machine: speed}}."""
    operations = pd.DataFrame([
        (op_id, job, seq, "IT", "C" + str(seq), f"op{seq}", "SR" if seq == 1 else "PR", "MX" if seq == 1 else "",
         1500, 999.0, pd.Timestamp(due), aging) for op_id, job, seq, length, aging, due in ops],
        columns=["op_id", "job_id", "seq", "item", "operation_code", "operation", "op_class", "mixture",
                 "width_mm", "length_m", "due", "aging_hours"])
    op_lengths = pd.DataFrame({"op_id": [o[0] for o in ops], "length_m": [float(o[3]) for o in ops]})
    eligibility = pd.DataFrame([(o, m, float(s)) for o, ms in speeds.items() for m, s in ms.items()],
                               columns=["op_id", "machine", "speed_m_min"])
    jobs = pd.DataFrame({"job_id": sorted({o[1] for o in ops})})
    jobs["po_nos"] = jobs["job_id"].map(lambda j: f"{j}a;{j}b")
    return {"calendar": {"base_date": base, "slot_minutes": slot}, "operations": operations,
            "op_lengths": op_lengths, "eligibility": eligibility, "jobs": jobs, "machine_master_info": master}


def build(ops, speeds, **kw):
    return dag.run(inputs(ops, speeds, **kw), Params())


def test_nodes_edges_and_attributes():
    ops = [("J1-01", "J1", 1, 6000, 12.0, "2025-01-03"), ("J1-02", "J1", 2, 3000, 0.0, "2025-01-03"),
           ("J2-01", "J2", 1, 100, 0.0, "2025-01-01")]
    speeds = {"J1-01": {"M3": 50, "M1": 100}, "J1-02": {"M2": 10}, "J2-01": {"M1": 100}}
    r = build(ops, speeds)
    g = r.artifacts["dag"]
    bounds = g.graph["bounds"]  # stored with the graph for stage 6, equal to the summary's
    assert {k: v for k, v in g.graph.items() if k != "bounds"} == {
        "base_date": "2025-01-01", "slot_minutes": 30, "machines": ["M2", "M1", "M3"]}
    assert (bounds["lb_machine"], bounds["lb_machine_code"]) == (10, "M2")  # J1-02: M2 only
    assert bounds == {k: r.summary[k] for k in bounds}
    assert sorted(g.edges) == [("J1-01", "J1-02")]
    a = g.nodes["J1-01"]
    assert (a["job"], a["seq"], a["item"], a["operation"], a["operation_code"]) == ("J1", 1, "IT", "op1", "C1")
    assert (a["op_class"], a["mixture"], a["width"], a["length"]) == ("SR", "MX", 1500, 6000.0)
    assert a["durations"] == {"M1": 2, "M3": 4} and list(a["durations"]) == ["M1", "M3"]  # machine_index order
    assert a["speeds"] == {"M1": 100.0, "M3": 50.0}
    assert a["aging_slots"] == 24 and a["po_nos"] == ["J1a", "J1b"]
    assert a["due"] == "2025-01-03" and a["due_slot"] == 144
    assert g.nodes["J1-02"]["durations"] == {"M2": 10}
    assert g.nodes["J2-01"]["due_slot"] == 48
    assert r.summary["nodes"] == 3 and r.summary["edges"] == 1 and r.summary["depth"] == 2
    assert r.summary["machines"] == 3
    back = nx.node_link_graph(json.loads(json.dumps(nx.node_link_data(g))))
    assert back.nodes["J1-01"] == a


def test_duration_rounding_ignores_float_noise_and_is_at_least_one():
    assert dag.durations([6300.0, 6300.000000003, 6301.0, 1.0, 0.0], [1.0] * 5, 30).tolist() == [210, 210, 211, 1, 1]
    assert dag.ceil_slots([0.1 + 0.2], 0.1).tolist() == [3]   # 3.0000000000000004 -> 3
    ops = [("J1-01", "J1", 1, 6300.000000003, 0.0, "2025-01-03")]
    g = build(ops, {"J1-01": {"M1": 1.0}}).artifacts["dag"]
    assert g.nodes["J1-01"]["durations"] == {"M1": 210}


def test_aging_slots_and_due_slot_follow_slot_minutes():
    assert dag.aging_slots([0.0, 12.0, 1.0, np.nan, 0.25], 45).tolist() == [0, 16, 2, 0, 1]
    base = pd.Timestamp("2025-01-01")
    due = pd.Series(pd.to_datetime(["2025-01-01", "2025-01-10", "2024-12-31"]))
    assert dag.due_slots(due, base, 60).tolist() == [24, 240, 0]
    ops = [("J1-01", "J1", 1, 600, 2.0, "2025-01-02")]
    g = build(ops, {"J1-01": {"M1": 10.0}}, slot=15, base="2024-12-31").artifacts["dag"]
    assert g.nodes["J1-01"]["aging_slots"] == 8
    assert g.nodes["J1-01"]["due_slot"] == 3 * 96
    assert g.nodes["J1-01"]["durations"] == {"M1": 4}


def test_lower_bounds_chain_with_aging_and_load():
    ops = [("A-01", "A", 1, 90, 1.0, "2025-01-05"), ("A-02", "A", 2, 120, 0.0, "2025-01-05"),
           ("B-01", "B", 1, 150, 0.0, "2025-01-05")]
    speeds = {"A-01": {"M1": 1.0, "M2": 0.5}, "A-02": {"M2": 1.0}, "B-01": {"M1": 1.0}}
    s = build(ops, speeds).summary
    # A: 3 slots + 2 aging + 4 slots = 9; B: 5; work 3+4+5 = 12 on 2 machines -> 6
    assert (s["lb_chain"], s["lb_load"], s["lower_bound"]) == (9, 6, 9)
    assert s["min_work_slots"] == 12 and s["machines_used"] == 2 and s["depth"] == 2
    one = {"A-01": {"M1": 1.0}, "A-02": {"M1": 1.0}, "B-01": {"M1": 1.0}}
    s1 = build(ops, one).summary
    assert (s1["lb_load"], s1["lower_bound"]) == (12, 12)


def test_stage_6_reads_the_bounds_of_a_read_only_graph_and_computes_those_of_any_other():
    ops = [("A-01", "A", 1, 90, 1.0, "2025-01-05"), ("A-02", "A", 2, 120, 0.0, "2025-01-05"),
           ("B-01", "B", 1, 150, 0.0, "2025-01-05")]
    g = build(ops, {"A-01": {"M1": 1.0, "M2": 0.5}, "A-02": {"M2": 1.0}, "B-01": {"M1": 1.0}}).artifacts["dag"]
    table = lower_bounds(g, 20).set_index("bound")["slots"].to_dict()
    assert table == {"chain": 9, "load": 6, "machine": 5, "best": 9}
    g.nodes["B-01"]["durations"] = {"M1": 30}  # changed after stage 4: its stored bounds are stale
    assert lower_bounds(g, 40).set_index("bound")["slots"].to_dict() == {
        "chain": 30, "load": 19, "machine": 30, "best": 30}
    stored = freeze_graph(g.copy())  # a read-only graph: what stage 4 stored is what it has
    stored_table = lower_bounds(stored, 40).set_index("bound")["slots"].to_dict()
    assert stored_table == {"chain": 9, "load": 6, "machine": 5, "best": 9}  # read, not computed


def test_operation_without_eligible_machine_is_an_error():
    ops = [("J1-01", "J1", 1, 600, 0.0, "2025-01-03"), ("J1-02", "J1", 2, 600, 0.0, "2025-01-03")]
    with pytest.raises(ProdschedError, match="1 operation\\(s\\) have no eligible machine, e.g. J1-02"):
        build(ops, {"J1-01": {"M1": 10.0}})


def test_duplicate_operation_and_missing_length_are_errors():
    ops = [("J1-01", "J1", 1, 600, 0.0, "2025-01-03"), ("J1-01", "J1", 2, 600, 0.0, "2025-01-03")]
    with pytest.raises(ProdschedError, match="op_id J1-01 appears more than once"):
        build(ops, {"J1-01": {"M1": 10.0}})
    data = inputs([("J1-01", "J1", 1, 600, 0.0, "2025-01-03")], {"J1-01": {"M1": 10.0}})
    data["op_lengths"] = data["op_lengths"].iloc[0:0]
    with pytest.raises(ProdschedError, match="op_lengths has no length for operation J1-01"):
        dag.run(data, Params())
    del data["op_lengths"]
    with pytest.raises(ProdschedError, match="needs op_lengths"):
        dag.run(data, Params())


def test_edges_follow_seq_order_even_when_rows_are_shuffled():
    ops = [("J1-03", "J1", 3, 10, 0.0, "2025-01-03"), ("J1-01", "J1", 1, 10, 0.0, "2025-01-03"),
           ("J2-01", "J2", 1, 10, 0.0, "2025-01-03"), ("J1-02", "J1", 2, 10, 0.0, "2025-01-03")]
    g = build(ops, {o[0]: {"M1": 1.0} for o in ops}).artifacts["dag"]
    assert sorted(g.edges) == [("J1-01", "J1-02"), ("J1-02", "J1-03")]
    assert nx.is_directed_acyclic_graph(g)
