"""The stage notebooks chained by papermill: outputs, metadata, failures and partial re-runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from prodsched.jupyter.notebooks import NOTEBOOK_FILES, NotebookChainError, notebooks_dir, run_chain
from prodsched.session import Session
from prodsched.stages import STAGES
from prodsched.stages.schedule import verify

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "sessions.db")


def _verified_schedule(session: Session) -> pd.DataFrame:
    schedule = session.artifact("schedule")
    tables = session.artifacts("load")
    violations = verify(schedule, session.artifact("dag"), tables)
    assert violations == [], violations[:5]
    return schedule


@pytest.fixture(scope="module")
def full_chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    store = str(out / "sessions.db")
    result = run_chain(data=SAMPLE, out=out, store=store, params={"window_days": 5})
    return result, out, store


def test_full_chain_writes_six_notebooks_with_metadata(full_chain):
    result, out, _ = full_chain
    assert [p.name for p in result.notebooks] == [NOTEBOOK_FILES[s] for s in STAGES]
    assert result.run_dir.parent == out.resolve()
    for stage, path in zip(STAGES, result.notebooks):
        notebook = nbformat.read(path, as_version=4)
        meta = notebook.metadata["prodsched"]
        assert meta["stage"] == stage
        assert meta["session_id"] == result.session_id
        assert meta["parameters"]["window_days"] == 5
        assert meta["parameters"]["data"] == str(SAMPLE.resolve())
        assert meta["versions"]["prodsched"] and meta["versions"]["pandas"]
        # papermill's own record of the injected parameters
        assert notebook.metadata["papermill"]["parameters"]["session_id"] == result.session_id
        errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert errors == []


def test_full_chain_produces_verified_schedule_and_result_files(full_chain):
    result, out, store = full_chain
    session = Session.attach(result.session_id, store=store)
    status = session.status()
    assert status["completed"] == 6 and status["overall"] == "done"
    schedule = _verified_schedule(session)
    assert len(schedule) > 0
    for name in ("schedule.csv", "kpis.json", "orders.csv", "unable.csv", "validation.csv", "results.xlsx"):
        assert (out / name).exists(), name
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["violations"] == 0
    assert kpis["operations"] == len(schedule)


def test_rerun_schedule_stages_with_other_window_keeps_stages_1_to_4(full_chain, tmp_path):
    result, _, store = full_chain
    session = Session.attach(result.session_id, store=store)
    before = {s["name"]: s for s in session.status()["stages"]}
    first = session.artifact("schedule")
    jobs_before = session.artifact("jobs")

    rerun = run_chain(out=tmp_path, store=store, session_id=result.session_id, stages="5-6", params={"window_days": 0})
    assert [p.name for p in rerun.notebooks] == ["05_schedule.ipynb", "06_results.ipynb"]

    session = Session.attach(result.session_id, store=store)
    after = {s["name"]: s for s in session.status()["stages"]}
    for name in ("load", "preprocess", "yield", "dag"):
        assert after[name]["status"] == "done"
        assert after[name]["ended"] == before[name]["ended"], f"stage {name} was re-run"
    assert session.params.window_days == 0
    pd.testing.assert_frame_equal(session.artifact("jobs"), jobs_before)
    second = _verified_schedule(session)
    cols = ["op_id", "machine", "start"]
    assert not first[cols].sort_values("op_id").reset_index(drop=True).equals(
        second[cols].sort_values("op_id").reset_index(drop=True)
    ), "window_days 5 and 0 gave the same schedule"


def test_broken_input_stops_at_load_and_keeps_the_failed_notebook(tmp_path, store):
    bad = tmp_path / "bad"
    shutil.copytree(SAMPLE, bad, ignore=shutil.ignore_patterns("plant_export"))
    orders = pd.read_csv(bad / "order_data.csv")
    orders.loc[2, "due"] = "not a date"
    orders.to_csv(bad / "order_data.csv", index=False)
    with pytest.raises(NotebookChainError) as caught:
        run_chain(data=bad, out=tmp_path / "out", store=store)
    error = caught.value
    assert error.stage == "load" and error.is_input_error
    assert "01_load.ipynb" in str(error) and "stage 1 (load)" in str(error)
    assert "order_data" in error.evalue and "not a date" in error.evalue
    assert error.notebook.exists()
    assert not (error.notebook.parent / "02_preprocess.ipynb").exists()


def test_cli_notebook_chain_with_broken_input_exits_2(tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(SAMPLE, bad, ignore=shutil.ignore_patterns("plant_export"))
    (bad / "linespeed.csv").write_text("this is, not\n\"a valid,csv")
    proc = subprocess.run(
        [sys.executable, "-m", "prodsched", "run", str(bad), "--out", str(tmp_path / "out"), "--notebooks",
         "--store", str(tmp_path / "s.db")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "linespeed" in proc.stderr


def test_help_notebook_documents_parameters():
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(notebooks_dir() / "05_schedule.ipynb")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("session_id", "store", "data", "out", "window_days", "rule", "base_date", "slot_minutes", "seed"):
        assert name in proc.stdout
    assert "dispatch rule" in proc.stdout


def test_rerun_with_a_custom_width_table_reaches_the_session(full_chain, tmp_path):
    """Tables are no notebook parameters: run_chain gives them to the session, never drops them."""
    result, _, store = full_chain
    custom = [{"lanes": "*", "fabric_width_mm": 1600}]
    run_chain(out=tmp_path, store=store, session_id=result.session_id, stages="2-6",
              params={"width_combinations": custom})
    session = Session.attach(result.session_id, store=store)
    assert session.params.width_combinations == custom
    assert set(session.artifact("jobs")["fabric_width_mm"]) == {1600}
    _verified_schedule(session)
    with pytest.raises(ValueError, match="unknown parameter"):
        run_chain(out=tmp_path, store=store, session_id=result.session_id, stages="5-6",
                  params={"width_combination": custom})
