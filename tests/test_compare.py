"""The compare view on a real sweep (4 scenarios on a LocalCluster of 2 worker processes, one of
them failing on the workers) and on the store's sessions: deltas against the sweep table, the
baseline switch, ordering by a KPI, a run opened in the Gantt, a failed run's error, the panel's
button."""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

try:
    import distributed  # noqa: F401
except ImportError:  # the [dask] extra; in CI its absence is a failure, never a skip
    if os.environ.get("CI"):
        raise
    pytest.skip("the [dask] extra (dask[distributed]) is not installed", allow_module_level=True)

import prodsched  # noqa: E402
from prodsched.engine.rules import RULES, register_rule  # noqa: E402
from prodsched.errors import ParameterError, ProdschedError  # noqa: E402
from prodsched.inputs.spec import TABLE_NAMES  # noqa: E402
from prodsched.params import Params  # noqa: E402
from prodsched.results.exports import KPI_BETTER, KPI_MEANING  # noqa: E402
from prodsched.session import Session  # noqa: E402
from prodsched.stages.results import verify_schedule  # noqa: E402
from prodsched.sweep import compare as C  # noqa: E402
from prodsched.sweep import schedule_hash, sweep  # noqa: E402

CLIENT_ONLY = "compare_test_client_only"  # a rule registered in this process only: it fails on the workers


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """(sweep table, output folder, store): rules window/atcs/spt and one unknown to the workers."""
    from prodsched.inputs.sample import write_sample

    base = tmp_path_factory.mktemp("compare")
    data = write_sample(base / "plant", orders=60, seed=1, machines=4) and base / "plant"
    register_rule(CLIENT_ONLY, lambda op, state: op.due, dynamic=False)
    try:
        table = sweep(data, grid={"rule": ["window", "atcs", "spt", CLIENT_ONLY]}, workers=2,
                      store=base / "sessions.db", out=base / "out", progress=False)
    finally:
        RULES.pop(CLIENT_ONLY, None)
    return table, base / "out", base / "sessions.db", data


def session_schedule(store, session_id: str) -> pd.DataFrame:
    """The session's schedule after the independent verifier found no violation."""
    arts = Session.attach(session_id, store=store).load_artifacts(["load", "preprocess", "yield", "dag", "schedule"])
    violations = verify_schedule(arts["schedule"], arts["dag"], {k: v for k, v in arts.items() if k in TABLE_NAMES})
    assert violations.empty, violations.to_string()
    return arts["schedule"]


@pytest.fixture()
def view(swept):
    table, out, store, _ = swept
    v = prodsched.compare(sweep=out, store=store)
    yield v
    v.close()


def test_the_sweep_has_three_verified_runs_and_one_failed(swept):
    table, _, store, _ = swept
    assert list(table["status"]) == ["done", "done", "done", "failed"]
    assert CLIENT_ONLY in table.loc[3, "error"]
    for row in table[table["status"] == "done"].itertuples():
        assert schedule_hash(session_schedule(store, row.session_id)) == row.schedule_sha256
    assert table["setup_slots"].iloc[:3].nunique() == 3  # the runs differ, so the deltas are not all zero


def test_runs_table_has_a_row_per_scenario_every_kpi_and_only_the_varied_parameters(swept, view):
    table = swept[0]
    runs = view.runs
    assert list(runs.index) == [f"scenario {s}" for s in table["scenario"]]
    assert [c for c in runs.columns if c in KPI_BETTER] == list(KPI_BETTER)
    assert "rule" in runs and "window_days" not in runs and "seed" not in runs  # only what differs
    assert {"dataset", "objective_value", "status", "error", "session_id"} <= set(runs.columns)
    assert list(runs["rule"]) == list(table["rule"])


def test_kpi_directions_cover_every_numeric_kpi_of_a_run(swept):
    assert set(KPI_BETTER) <= set(KPI_MEANING)
    assert set(KPI_BETTER.values()) == {"lower", "higher", None}
    table = swept[0]
    kpis = Session.attach(table.loc[0, "session_id"], store=swept[2]).artifact("kpis")
    params = set(Params().to_dict())
    numeric = {k for k, v in kpis.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    # the optimiser's iteration count is bookkeeping of the run, not a measure of the plan
    assert numeric - params - {"improve_iterations_done"} <= set(KPI_BETTER)


def expected_delta(table: pd.DataFrame, run: int, base: int, kpi: str) -> tuple[float, float, str]:
    value, ref = float(table.loc[run, kpi]), float(table.loc[base, kpi])
    delta = value - ref
    pct = delta / abs(ref) * 100 if ref else math.nan
    if KPI_BETTER[kpi] is None:
        verdict = ""
    elif delta == 0:
        verdict = "same"
    else:
        verdict = "better" if (delta < 0) == (KPI_BETTER[kpi] == "lower") else "worse"
    return delta, pct, verdict


def check_deltas(view, table: pd.DataFrame, base: int) -> pd.DataFrame:
    got = view.deltas().set_index(["run", "kpi"])
    assert len(got) == len(table) * len(KPI_BETTER)
    for run in table.index[table["status"] == "done"]:
        for kpi in KPI_BETTER:
            delta, pct, verdict = expected_delta(table, run, base, kpi)
            cell = got.loc[(f"scenario {run}", kpi)]
            assert cell["delta"] == pytest.approx(delta, abs=1e-9), (run, kpi)
            assert (math.isnan(pct) and math.isnan(cell["delta_pct"])) or cell["delta_pct"] == pytest.approx(pct)
            assert cell["verdict"] == verdict, (run, kpi)
    failed = got.loc[f"scenario {int(table.index[table['status'] == 'failed'][0])}"]
    assert failed["delta"].isna().all() and (failed["verdict"] == "").all()
    return got


def test_deltas_against_the_default_baseline_match_the_sweep_table(swept, view):
    table = pd.read_parquet(swept[1] / "sweep.parquet")  # the file the view read, read here on its own
    assert view.baseline.value == "scenario 0"  # the first finished run
    got = check_deltas(view, table, 0)
    assert (got.loc["scenario 0", "delta"] == 0).all()
    spt = got.loc[("scenario 2", "total_tardiness_days")]
    assert spt["delta"] > 0 and spt["verdict"] == "worse" and math.isnan(spt["delta_pct"])  # baseline had none late
    html = view.table.value
    assert 'data-run="scenario 0"' in html and "prodsched-compare-baseline-row" in html
    setup = got.loc[("scenario 1", "setup_slots")]
    from prodsched.jupyter.compare import delta_text

    assert f'prodsched-{setup["verdict"]}" data-kpi="setup_slots">{delta_text(setup["delta"], setup["delta_pct"])}' in html


def test_switching_the_baseline_changes_the_deltas(swept, view):
    table = pd.read_parquet(swept[1] / "sweep.parquet")
    before = view.deltas().set_index(["run", "kpi"])
    assert [v for _, v in view.baseline.options] == ["scenario 0", "scenario 1", "scenario 2"]  # finished runs only
    view.baseline.value = "scenario 2"
    after = check_deltas(view, table, 2)
    assert (after.loc["scenario 2", "delta"] == 0).all()
    moved = after.loc[("scenario 0", "setup_slots"), "delta"]
    assert moved == pytest.approx(-before.loc[("scenario 2", "setup_slots"), "delta"]) and moved != 0
    assert 'class="prodsched-compare-row prodsched-compare-baseline-row" data-run="scenario 2"' in view.table.value
    with pytest.raises(ParameterError, match="failed, not a finished run"):
        C.deltas(view.runs, "scenario 3")


def test_ordering_by_a_kpi_puts_the_better_runs_first(swept, view):
    table = swept[0]
    done = table[table["status"] == "done"]
    view.order.value = "setup_slots"
    rows = [r.split('"')[0] for r in view.table.value.split('data-run="')[1:]]
    expected = [f"scenario {s}" for s in done.sort_values(["setup_slots", "scenario"])["scenario"]]
    assert rows == expected + ["scenario 3"]  # the failed run has no value: last
    by_rate = list(C.ordered(view.runs, "on_time_rate").index[:3])
    assert by_rate == [f"scenario {s}" for s in done.sort_values(["on_time_rate", "scenario"],
                                                                  ascending=[False, True])["scenario"]]
    by_objective = list(C.ordered(view.runs, "objective_value").index)
    keys = {f"scenario {r.scenario}": tuple(float(v) for v in r.objective_value.split(",")) for r in done.itertuples()}
    assert by_objective == sorted(keys, key=lambda run: (keys[run], run)) + ["scenario 3"]
    with pytest.raises(ParameterError, match="is not a KPI"):
        C.ordered(view.runs, "no_such_kpi")


def test_selecting_a_run_opens_its_schedule_in_the_gantt(swept, view):
    table, _, store, _ = swept
    plots = {view.plot.value}
    for row in table[table["status"] == "done"].itertuples():
        view.picker.value = f"scenario {row.scenario}"
        schedule = session_schedule(store, row.session_id)
        assert schedule_hash(schedule) == row.schedule_sha256
        bars = view.gantt.bars()
        assert len(bars) == len(schedule) == row.operations
        shown = pd.DataFrame(bars)[["op_id", "machine", "start"]]
        expected = schedule[["op_id", "machine", "start"]].astype({"start": int})
        pd.testing.assert_frame_equal(shown.sort_values("op_id").reset_index(drop=True),
                                      expected.sort_values("op_id").reset_index(drop=True), check_dtype=False)
        assert view.gantt_box.children == (view.gantt,)
        assert row.session_id in view.run_info.value
        plots.add(view.plot.value)
    assert len(plots) == 4  # the ring moves with the selected run


def test_a_failed_run_shows_its_error_instead_of_a_gantt(swept, view):
    table = swept[0]
    view.picker.value = "scenario 0"
    assert view.gantt is not None
    view.picker.value = "scenario 3"
    assert view.gantt is None and view.gantt_box.children == ()
    assert "scenario 3: failed" in view.run_info.value and CLIENT_ONLY in view.run_info.value
    assert table.loc[3, "error"].split(":")[0] in view.run_info.value


def test_the_store_sessions_are_runs_too(swept, tmp_path):
    table, _, store, data = swept
    runs = C.from_store(store)
    by_session = runs.set_index("session_id")
    for row in table[table["status"] == "done"].itertuples():
        assert by_session.loc[row.session_id, "status"] == "done"
        for kpi in KPI_BETTER:
            assert by_session.loc[row.session_id, kpi] == pytest.approx(getattr(row, kpi), nan_ok=True)
    assert "rule" in runs and "window_days" not in runs  # sweep sessions differ only by rule
    # a session whose load failed: its status and error, no KPIs
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    orders = bad / "order_data.csv"
    frame = pd.read_csv(orders, dtype=str)
    frame.loc[0, "due"] = "not-a-date"
    frame.to_csv(orders, index=False)
    broken = Session.create(Params(data=str(bad)), store)
    with pytest.raises(ProdschedError):
        broken.run("load")
    runs = C.from_store(store)
    row = runs.loc[f"session {broken.id[:8]}"]
    assert row["status"] == "failed" and "stage 1 (load)" in row["error"] and "not-a-date" in row["error"]
    assert pd.isna(row[list(KPI_BETTER)]).all()
    v = prodsched.compare(store=store)
    try:
        v.picker.value = f"session {broken.id[:8]}"
        assert v.gantt is None and "not-a-date" in v.run_info.value
        assert v.baseline.value == runs.index[runs["status"] == "done"][0]
        alone = prodsched.compare(store=store, sessions=[broken.id])  # no finished run: no baseline, no deltas
        try:
            assert alone.baseline.value is None and alone.baseline.options == ()
            assert alone.deltas()["delta"].isna().all() and "prodsched-delta" not in alone.table.value
        finally:
            alone.close()
    finally:
        v.close()
        broken.delete()


def test_nothing_to_compare_is_a_clear_error(tmp_path):
    with pytest.raises(ProdschedError, match="nothing to compare"):
        prodsched.compare(store=tmp_path / "empty.db")
    with pytest.raises(ParameterError, match="no sweep.parquet"):
        prodsched.compare(sweep=tmp_path)


def test_the_panel_opens_the_compare_view_of_its_store(swept):
    from prodsched.jupyter.panel import StagePanel

    table, out, store, data = swept
    p = StagePanel(data=data, store=store)
    try:
        p.compare_btn.click()
        assert p.error.value == ""
        assert p.compare_box.children == (p.compare_view.widget,)
        assert set(table["session_id"].dropna()) <= set(p.compare_view.runs["session_id"])
        p.show_compare(sweep=out)
        assert list(p.compare_view.runs.index) == [f"scenario {s}" for s in table["scenario"]]
    finally:
        p.close()
        Session.attach(p.session.id, store).delete()


def test_sweep_and_sessions_together(swept):
    table, out, store, data = swept
    own = Session.create(Params(data=str(data), rule="edd"), store)
    own.run_all()
    session_schedule(store, own.id)  # the own run's schedule verifies
    v = prodsched.compare(sweep=out, store=store, sessions=True)
    try:
        # every scenario once (as the sweep's row, not again as a store session), then the own run
        assert list(v.runs.index) == [*(f"scenario {s}" for s in table["scenario"]), f"session {own.id[:8]}"]
        assert not v.runs["session_id"].dropna().duplicated().any()
        assert [c for c in v.runs.columns if c in KPI_BETTER] == list(KPI_BETTER)
    finally:
        v.close()
        own.delete()


def test_a_long_compare_table_draws_its_first_runs_and_says_how_many_more(swept):
    from prodsched.jupyter import compare as J

    table, out, store, _ = swept
    v = prodsched.compare(sweep=out, store=store)
    try:
        v.baseline.value = v.runs.index[2]
        html = J.runs_html(v.runs, v.deltas(), v.baseline.value, limit=2)
        rows = re.findall(r'data-run="([^"]+)"', html)
        assert rows == [v.runs.index[2], v.runs.index[0]]  # the baseline always, then the first
        assert f"2 of {len(v.runs)} runs shown" in html
        assert "runs shown" not in J.runs_html(v.runs, v.deltas(), v.baseline.value)
    finally:
        v.close()


def test_compare_stays_out_of_a_plain_import(run_python):
    out = run_python("import sys, prodsched; print('prodsched.jupyter.compare' in sys.modules)").stdout
    assert out.strip() == "False"
    assert callable(prodsched.compare) and Path(prodsched.compare.__code__.co_filename).name == "compare.py"
