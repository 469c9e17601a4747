"""The teaching helpers of the stage notebooks, on the sample and on an input with unable and late orders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from prodsched import Params
from prodsched.jupyter import lessons
from prodsched.session import Session
from prodsched.stages.schedule import verify

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def _run(data: Path, store: str, out: Path) -> Session:
    session = Session.create(params=Params(data=str(data), window_days=5, out=str(out)), store=store)
    session.run_all()
    violations = verify(session.artifact("schedule"), session.artifact("dag"), session.artifacts("load"))
    assert violations == [], violations[:3]
    return session


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lessons")
    return _run(SAMPLE, str(tmp / "s.db"), tmp / "out")


@pytest.fixture(scope="module")
def troubled(tmp_path_factory):
    """The sample with one order of an item without routing and the first ten orders due on day one."""
    tmp = tmp_path_factory.mktemp("troubled")
    data = tmp / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("plant_export"))
    orders = pd.read_csv(data / "order_data.csv")
    orders.loc[0, "item"] = "NO-SUCH-ITEM"
    orders.loc[1:10, "due"] = "2026-01-01"
    orders.to_csv(data / "order_data.csv", index=False)
    return _run(data, str(tmp / "s.db"), tmp / "out")


def test_table_sizes_count_the_loaded_tables(sample):
    shown = lessons.table_sizes(sample)
    rows = sample.summary("load")["rows"]
    for table, n in rows.items():
        assert shown.frame.loc[table, "rows"] == n
    order_columns = [c for c in sample.artifact("order_data").columns if not c.startswith("_")]
    assert shown.frame.loc["order_data", "columns"] == len(order_columns)
    assert f"{sum(rows.values()):,} rows" in shown.text


def test_validation_reports_counts(sample):
    shown = lessons.validation(sample)
    report = sample.artifact("validation")
    assert len(shown.frame) == len(report)
    assert shown.facts["errors"] == int((report["severity"] == "error").sum())


def test_merged_job_shows_its_orders_and_the_combination(sample):
    shown = lessons.merged_job(sample)
    job_id = shown.facts["job_id"]
    job = sample.artifact("jobs").set_index("job_id").loc[job_id]
    assert any(c in job["widths"] for c in "+x"), "the example should show a width combination"
    members = sample.artifact("order_jobs")
    assert set(shown.frame["po_no"]) == set(members.loc[members["job_id"] == job_id, "po_no"])
    assert shown.frame["length_m"].sum() == pytest.approx(job["length_m"])
    assert shown.facts["lanes"]["fabric_length_m"].max() == pytest.approx(job["fabric_length_m"])
    assert job["widths"] in shown.text and str(job["fabric_width_mm"]) in shown.text
    with pytest.raises(KeyError, match="J9999"):
        lessons.merged_job(sample, "J9999")


def test_unable_lists_orders_or_says_there_are_none(sample, troubled):
    assert lessons.unable(sample).facts["unable"] == 0
    shown = lessons.unable(troubled)
    assert shown.facts["unable"] == 1 and shown.frame["reason"].tolist() == ["no_routing"]
    assert "1 order(s)" in shown.text


def test_yield_steps_go_backwards_and_multiply(sample):
    shown = lessons.yield_steps(sample)
    frame = shown.frame
    assert list(frame.index) == sorted(frame.index, reverse=True) and len(frame) >= 2
    assert frame["produce_m"].tolist() == pytest.approx((frame["fabric_m"] / frame["divisor"]).tolist())
    divisors, own = frame["divisor"].tolist(), frame["own_yield"].tolist()
    assert divisors[0] == pytest.approx(own[0])
    for k in range(1, len(frame)):
        assert divisors[k] == pytest.approx(own[k] * divisors[k - 1], abs=2e-4)
    ops = sample.artifact("operations")
    assert len(frame) == ops.groupby("job_id").size().max()


def test_job_graph_is_one_routing_and_is_drawn(sample):
    g = lessons.job_graph(sample)
    jobs = {d["job"] for _, d in g.nodes(data=True)}
    assert len(jobs) == 1
    assert g.number_of_edges() == g.number_of_nodes() - 1
    shown = lessons.draw_job_graph(sample)
    assert shown.figure is not None and "<img" in shown._repr_html_()
    with pytest.raises(KeyError):
        lessons.job_graph(sample, "J9999")


def test_lower_bounds_agree_with_the_stage(sample):
    shown = lessons.lower_bounds(sample)
    summary = sample.summary("dag")
    assert shown.facts["lb_chain"] == summary["lb_chain"]
    assert shown.frame.loc["load", "slots"] == summary["lb_load"]
    assert f"slot {summary['lower_bound']}" in shown.text


def test_gantt_slice_is_part_of_the_schedule(sample):
    shown = lessons.gantt_slice(sample, machines=2, operations=4)
    schedule = sample.artifact("schedule").set_index("op_id")
    assert shown.frame["machine"].nunique() == 2
    assert shown.frame.groupby("machine").size().max() <= 4
    for row in shown.frame.itertuples():
        assert schedule.loc[row.op_id, "machine"] == row.machine and schedule.loc[row.op_id, "start"] == row.start
    # one bar per operation plus one hatched block per changeover
    ax = shown.figure.axes[0]
    assert len(ax.patches) == len(shown.frame) + int((shown.frame["setup_slots"] > 0).sum())


def test_rule_idea_names_the_rule(sample):
    assert "window_days" in lessons.rule_idea(sample).text


def test_objective_figures_mark_the_objective_used(sample):
    shown = lessons.objective_figures(sample)
    info = sample.artifact("schedule_info")
    assert shown.frame.index[shown.frame["used"]].tolist() == [sample.params.objective]
    assert list(shown.frame.loc["tardiness", "value"]) == info["objectives"]["tardiness"]


def test_kpis_late_orders_and_gaps(sample, troubled):
    kpis = troubled.artifact("kpis")
    shown = lessons.kpi_table(troubled)
    assert shown.frame.loc["late_orders", "value"] == kpis["late_orders"]
    late = lessons.late_orders(troubled)
    assert kpis["late_orders"] > 0 and late.facts["late"] == kpis["late_orders"]
    assert lessons.late_orders(sample).text == "No order is late."
    gaps = lessons.gap_reasons(sample)
    expected = sample.artifact("gaps").groupby("kind")["slots"].sum()
    assert gaps.frame["slots"].to_dict() == expected.to_dict()


def test_every_lesson_speaks_on_another_factory(tmp_path):
    """A generated factory in the plant's export form: every helper shows something, and the
    examples belong to this run."""
    from prodsched.inputs.sample import write_sample

    write_sample(tmp_path / "plant", orders=40, seed=7, form="plant_export")
    session = _run(tmp_path / "plant", str(tmp_path / "s.db"), tmp_path / "out")
    jobs = set(session.artifact("jobs")["job_id"])
    for helper in (lessons.table_sizes, lessons.validation, lessons.merged_job, lessons.unable, lessons.yield_steps,
                   lessons.draw_job_graph, lessons.lower_bounds, lessons.rule_idea, lessons.gantt_slice,
                   lessons.objective_figures, lessons.kpi_table, lessons.late_orders, lessons.gap_reasons):
        shown = helper(session)
        assert shown.text and shown._repr_html_().startswith("<p>"), helper.__name__
        if "job_id" in shown.facts:
            assert shown.facts["job_id"] in jobs, helper.__name__
