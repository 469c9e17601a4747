"""Stages 2-4 on the committed sample factory and on a generated 2,000-order factory."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx

import pandas as pd
import pytest

from prodsched.params import Params
from prodsched.stages import run_stage
from prodsched.inputs.read import load_tables
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
PLANT_FABRIC = {"1524": 1500, "508+1016": 1500, "1016": 1000, "508x2": 1000, "609+914": 1500,
                "609": 1500, "914": 1500, "762x2": 1500}


def stages_2_to_4(tables, **params):
    p = Params(**params)
    inputs = dict(tables)
    summaries = {}
    for stage in ("preprocess", "yield", "dag"):
        result = run_stage(stage, inputs, p)
        inputs.update(result.artifacts)
        summaries[stage] = result.summary
    return inputs, summaries


def load(source):
    tables, report = load_tables(source)
    assert report.ok, str(report)
    return tables


@pytest.fixture(scope="module")
def sample():
    return stages_2_to_4(load(SAMPLE))


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    from prodsched.inputs.sample import write_sample

    folder = tmp_path_factory.mktemp("factory") / "data"
    write_sample(folder, orders=2000, seed=3)
    return stages_2_to_4(load(folder))


def check_invariants(a, s):
    orders = a["order_data"]
    in_jobs, unable = a["order_jobs"], a["unable"]
    # nothing vanishes and nothing is counted twice
    assert len(orders) == len(in_jobs) + len(unable) == s["preprocess"]["orders"]
    assert set(orders["po_no"]) == set(in_jobs["po_no"]) | set(unable["po_no"])
    assert not set(in_jobs["po_no"]) & set(unable["po_no"])
    assert (unable["reason"] != "").all() and (unable["detail"] != "").all()
    # every job's po_nos are exactly its orders, and its order metres add up
    jobs = a["jobs"].set_index("job_id")
    per_job = in_jobs.groupby("job_id")["po_no"].agg(set)
    assert all(set(jobs.loc[j, "po_nos"].split(";")) == pos for j, pos in per_job.items())
    metres = in_jobs.merge(orders[["po_no", "length_m"]], on="po_no").groupby("job_id")["length_m"].sum()
    assert metres.reindex(jobs.index).to_numpy() == pytest.approx(jobs["length_m"].to_numpy())
    assert (jobs["n_orders"] == per_job.map(len).reindex(jobs.index)).all()
    # orders of one (item, width, roll length, month) always share a job
    keyed = in_jobs.merge(orders, on="po_no").assign(month=lambda d: d["due"].dt.strftime("%Y-%m"))
    assert (keyed.groupby(["item", "width_mm", "roll_length_m", "month"])["job_id"].nunique() == 1).all()
    # operations follow the routing; the graph has a node per operation, each with a machine
    routing_len = a["operation_sequence"].groupby("item").size()
    ops = a["operations"]
    per_job_ops = ops.groupby("job_id").size()
    assert per_job_ops.index.equals(jobs.index.sort_values())
    assert (per_job_ops == jobs["item"].map(routing_len).reindex(per_job_ops.index)).all()
    g = a["dag"]
    assert g.number_of_nodes() == len(ops) == len(a["op_lengths"])
    assert g.number_of_edges() == len(ops) - len(jobs)
    assert all(len(d["durations"]) >= 1 and min(d["durations"].values()) >= 1 for _, d in g.nodes(data=True))
    assert (a["op_lengths"]["length_m"] >= a["op_lengths"]["length_m_input"] - 1e-9).all()
    assert s["dag"]["lower_bound"] >= max(s["dag"]["lb_chain"], s["dag"]["lb_load"]) > 0
    assert json.loads(json.dumps(s)) == s  # summaries are JSON-able as they are
    assert json.loads(json.dumps(nx.node_link_data(g)))["graph"]["machines"] == g.graph["machines"]


def test_sample_data_stages_2_to_4(sample):
    check_invariants(*sample)


def test_generated_2000_order_factory(factory):
    check_invariants(*factory)
    a, s = factory
    assert s["preprocess"]["orders"] == 2000 and s["preprocess"]["jobs"] > 0


def test_width_families_follow_the_plant_rule_on_the_factory(factory):
    a, _ = factory
    jobs = a["jobs"]
    known = jobs[jobs["widths"].isin(PLANT_FABRIC)]
    assert (known["fabric_width_mm"] == known["widths"].map(PLANT_FABRIC)).all()
    other = jobs[~jobs["widths"].isin(PLANT_FABRIC)]
    assert (other["fabric_width_mm"] == 1300).all()
    assert not other["widths"].str.contains(r"\+|x").any()
    # a 508 and a 1016 of the same item and month are never both left alone
    alone = jobs[jobs["widths"].isin(["508x2", "1016"])]
    both = alone.groupby(["item", "month"])["widths"].nunique()
    assert (both < 2).all()
    two_up = jobs[jobs["widths"].str.endswith("x2")]
    assert (two_up["fabric_length_m"] * 2).tolist() == pytest.approx(two_up["length_m"].tolist())


def test_stage_results_are_deterministic(factory, tmp_path):
    from prodsched.inputs.sample import write_sample

    a, s = factory
    folder = tmp_path / "again"
    write_sample(folder, orders=2000, seed=3)
    b, t = stages_2_to_4(load(folder))
    assert s == t
    for name in ("jobs", "order_jobs", "operations", "eligibility", "unable", "op_lengths"):
        pd.testing.assert_frame_equal(a[name], b[name])
    assert list(a["dag"].nodes(data=True)) == list(b["dag"].nodes(data=True))


def test_factory_with_unmakeable_orders_loses_none(tmp_path):
    from prodsched.inputs.sample import write_sample

    write_sample(tmp_path / "data", orders=2000, seed=5)
    tables = load(tmp_path / "data")
    routing, orders = tables["operation_sequence"], tables["order_data"]
    # forbid every machine of one operation, and give 25 orders an item without routing
    op = routing["operation"].value_counts().index[-1]
    machines = sorted(set(tables["linespeed"].loc[tables["linespeed"]["operation"] == op, "machine"]))
    tables["machine_limit"] = pd.concat([tables["machine_limit"], pd.DataFrame(
        {"operation": op, "machine": machines, "_row": range(900, 900 + len(machines))})], ignore_index=True)
    orders = orders.copy()
    orders.loc[orders.index[::80], "item"] = "NO-SUCH-ITEM"
    tables["order_data"] = orders
    a, s = stages_2_to_4(tables)
    check_invariants(a, s)
    blocked = set(routing.loc[routing["operation"] == op, "item"])
    expect_no_machine = set(orders.loc[orders["item"].isin(blocked), "po_no"])
    unable = a["unable"].set_index("po_no")
    assert set(unable.index[unable["reason"] == "no_routing"]) == set(orders.loc[orders.index[::80], "po_no"])
    assert set(unable.index[unable["reason"] == "no_machine"]) == expect_no_machine
    assert expect_no_machine and all(op in d for d in unable.loc[list(expect_no_machine), "detail"])
    assert s["preprocess"]["unable_reasons"] == {"no_machine": len(expect_no_machine), "no_routing": 25}
    assert not set(a["operations"]["item"]) & (blocked | {"NO-SUCH-ITEM"})
