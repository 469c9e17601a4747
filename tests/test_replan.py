"""Re-planning a run folder from a "now": what started stays, finished orders are done, the rest
is scheduled again around pins; changes.csv and the KPI deltas; bad pins and parameters."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import cli_env, run_cli
from prodsched.errors import ParameterError
from prodsched.results.changes import op_key
from prodsched.stages import STAGES, run_stage
from prodsched.stages.checks import check_params
from prodsched.stages.replan import replan_params

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
NOW = pd.Timestamp("2026-01-05 08:00")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replan")
    return cli_env(tmp / "sessions.db", PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def first(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "run"
    proc = run_cli(env, "run", SAMPLE, "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def second(env, first, tmp_path_factory):
    out = tmp_path_factory.mktemp("second") / "run"
    proc = run_cli(env, "replan", SAMPLE, "--from", first, "--now", str(NOW), "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def schedule(run: Path) -> pd.DataFrame:
    df = pd.read_csv(run / "schedule.csv", keep_default_na=False)
    for col in ("start_time", "end_time"):
        df[col] = pd.to_datetime(df[col])
    df["orders"] = [op_key(p, 0)[0] for p in df["po_nos"]]
    df["key"] = [key(p, s) for p, s in zip(df["po_nos"], df["seq"])]
    return df.set_index("key")


def key(po_nos, seq) -> str:
    """An operation across the two plans (its orders and step), as one string."""
    orders, step = op_key(po_nos, seq)
    return f"{orders}|{step}"


def assert_verifies(env, run: Path) -> None:
    proc = run_cli(env, "verify", "--run", run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((run / "kpis.json").read_text())["violations"] == 0


def test_every_operation_that_started_before_now_is_kept(env, first, second):
    old, new = schedule(first), schedule(second)
    started = old[old["start_time"] < NOW]
    assert 0 < len(started) < len(old)
    kept = new.loc[started.index]
    assert (kept["machine"] == started["machine"]).all()
    assert (kept["start_time"] == started["start_time"]).all()
    rest = new.drop(index=started.index)
    step = pd.Timedelta(minutes=30)
    assert (rest["start_time"] - rest["setup_slots"] * step >= NOW).all()
    changes = pd.read_csv(second / "changes.csv", keep_default_na=False)
    by_op = changes.set_index("op_id")
    assert set(by_op.loc[kept["op_id"], "status"]) <= {"done", "unchanged"}
    assert_verifies(env, second)
    run = json.loads((second / "run.json").read_text())
    assert run["schedule"]["replan"]["pinned"] == len(started)
    assert run["schedule"]["replan"]["timeline"] in ("native", "python")


def test_finished_orders_are_reported_done_not_rescheduled(first, second):
    old, new = schedule(first), schedule(second)
    ended = (old["end_time"] <= NOW).groupby(old["orders"]).all()
    finished = set(ended[ended].index)
    assert finished
    changes = pd.read_csv(second / "changes.csv", keep_default_na=False)
    changes["po_nos"] = [op_key(p, 0)[0] for p in changes["po_nos"]]
    mine = changes[changes["po_nos"].isin(finished)]
    assert len(mine) == old["orders"].isin(finished).sum()
    assert (mine["status"] == "done").all()
    assert (mine["old_start_time"] == mine["new_start_time"]).all()
    assert (mine["old_machine"] == mine["new_machine"]).all()
    others = changes[~changes["po_nos"].isin(finished)]
    assert "done" not in set(others["status"])
    kpis = json.loads((second / "kpis.json").read_text())
    assert kpis["replan_done"] == len(mine)
    counts = changes["status"].value_counts().to_dict()
    for status in ("done", "unchanged", "moved", "new", "removed"):
        assert kpis[f"replan_{status}"] == counts.get(status, 0)
    # every moved / unchanged label agrees with the two schedules
    for row in others.itertuples():
        k = key(row.po_nos, row.seq)
        same = (old.loc[k, "machine"] == new.loc[k, "machine"]
                and old.loc[k, "start_time"] == new.loc[k, "start_time"])
        assert row.status == ("unchanged" if same else "moved")


def test_kpi_deltas_are_new_minus_previous(first, second):
    old = json.loads((first / "kpis.json").read_text())
    new = json.loads((second / "kpis.json").read_text())
    for key in ("makespan_slots", "setup_slots", "late_orders", "total_tardiness_days", "idle_slots"):
        assert new[f"delta_{key}"] == pytest.approx(new[key] - old[key])
    assert new["replan_now"].startswith("2026-01-05 08:00") and new["replan_from"] == str(first.resolve())


def test_a_breakdown_and_a_pin_are_planned_around(env, first, tmp_path):
    """Extra downtime through machine_rest, and one operation pinned later by the pinned table."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    old = schedule(first)
    waiting = old[(old["start_time"] > NOW + pd.Timedelta(days=1)) & (old["seq"] == 1)]
    target = waiting.iloc[0]
    running = set(old[(old["start_time"] < NOW) & (old["end_time"] > NOW)]["machine"])
    idle = old[(old["start_time"] >= NOW) & ~old["machine"].isin(running | {target["machine"]})]
    broken = idle["machine"].iloc[0]
    add_downtime(data, broken, NOW, NOW + pd.Timedelta(hours=10))
    when = target["start_time"] + pd.Timedelta(hours=12)
    pins = tmp_path / "pinned.csv"
    pd.DataFrame([{"op_id": target["op_id"], "machine": target["machine"], "start": str(when)}]).to_csv(
        pins, index=False)
    out = tmp_path / "run"
    proc = run_cli(env, "replan", data, "--from", first, "--now", str(NOW), "--out", out, "--pin", pins, "-q")
    assert proc.returncode == 0, proc.stderr
    new = schedule(out)
    got = new.loc[target.name]
    assert (got["machine"], got["start_time"]) == (target["machine"], when)
    on_broken = new[(new["machine"] == broken) & (new["start_time"] >= NOW)]
    repair = NOW + pd.Timedelta(hours=10)
    assert ((on_broken["end_time"] <= NOW) | (on_broken["start_time"] >= repair)).all()
    assert_verifies(env, out)
    changes = pd.read_csv(out / "changes.csv", keep_default_na=False).set_index("op_id")
    assert changes.loc[target["op_id"], "status"] == "moved"


def add_downtime(data: Path, machine: str, start, end) -> None:
    rest = pd.read_csv(data / "machine_rest.csv", keep_default_na=False)
    row = {c: "" for c in rest.columns}
    row.update(machine=machine, start=str(start), end=str(end))
    pd.concat([rest, pd.DataFrame([row])]).to_csv(data / "machine_rest.csv", index=False)


def test_a_breakdown_under_a_running_operation_is_refused_naming_it(env, first, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    old = schedule(first)
    running = old[(old["start_time"] < NOW) & (old["end_time"] > NOW)].iloc[0]
    add_downtime(data, running["machine"], NOW, NOW + pd.Timedelta(hours=4))
    proc = run_cli(env, "replan", data, "--from", first, "--now", str(NOW), "--out", tmp_path / "o", "-q")
    assert proc.returncode == 1
    assert running["op_id"] in proc.stderr and "downtime" in proc.stderr


def test_bad_pins_are_refused_naming_table_row_column_value(env, first, tmp_path):
    pins = tmp_path / "pinned.csv"
    pins.write_text("op_id,machine,start\nNOPE-01,C01,2026-01-08 08:00\nJ0002-02,C01,not a time\n")
    proc = run_cli(env, "replan", SAMPLE, "--from", first, "--now", str(NOW), "--out", tmp_path / "o",
                     "--pin", pins, "-q")
    assert proc.returncode == 2
    assert "pinned" in proc.stderr and "NOPE-01" in proc.stderr and "not a time" in proc.stderr
    assert "start" in proc.stderr and "op_id" in proc.stderr


def test_conflicting_pins_fail_naming_both_operations(env, first, tmp_path):
    old = schedule(first)
    late = old[(old["start_time"] > NOW + pd.Timedelta(days=1)) & (old["seq"] == 1)]
    a = late.iloc[0]
    b = late[(late["op_id"] != a["op_id"]) & (late["machine"] == a["machine"])].iloc[0]
    when = NOW + pd.Timedelta(days=3)
    pins = tmp_path / "pinned.csv"
    # both ran on that machine before; pinned there at the same start they overlap
    pd.DataFrame([{"op_id": a["op_id"], "machine": a["machine"], "start": str(when)},
                  {"op_id": b["op_id"], "machine": a["machine"], "start": str(when)}]).to_csv(pins, index=False)
    proc = run_cli(env, "replan", SAMPLE, "--from", first, "--now", str(NOW), "--out", tmp_path / "o",
                     "--pin", pins, "-q")
    assert proc.returncode == 1
    assert a["op_id"] in proc.stderr and b["op_id"] in proc.stderr and "overlaps" in proc.stderr


def test_replan_through_python_gives_the_same_plan_as_the_command(first, second):
    params = replan_params(SAMPLE, first, str(NOW))
    artifacts: dict = {}
    for name in STAGES:
        artifacts.update(run_stage(name, artifacts, params).artifacts)
    frame = artifacts["schedule"]
    expected = pd.read_csv(second / "schedule.csv", keep_default_na=False)
    assert sorted(zip(frame["op_id"], frame["machine"], frame["start"])) == sorted(
        zip(expected["op_id"], expected["machine"], expected["start"]))
    assert len(artifacts["violations"]) == 0
    assert set(artifacts["changes"]["status"]) <= {"done", "unchanged", "moved", "new", "removed"}
    assert artifacts["kpis"]["replan_pinned"] > 0


@pytest.mark.parametrize("values, name", [
    ({"replan_from": "x"}, "replan_from"),  # without now
    ({"now": "tuesday"}, "now"),
    ({"now": "2026-01-05 08:00", "replan_from": "/nonexistent/run"}, "replan_from"),
    ({"pins": 5}, "pins"),
    ({"pins": "/nonexistent/pinned.csv"}, "pins"),
])
def test_replan_parameters_are_checked_before_stage_1(values, name):
    with pytest.raises(ParameterError) as err:
        check_params({"data": str(SAMPLE), **values})
    assert err.value.name == name


@pytest.mark.notebooks
def test_the_replan_notebook_runs_with_papermill_parameters(env, first, second, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "07_replan.ipynb"),
                           str(tmp_path / "done.ipynb"), "-p", "data", str(SAMPLE), "-p", "replan_from", str(first),
                           "-p", "now", str(NOW), "-p", "out", str(out)],
                          env=env, cwd=ROOT / "notebooks", capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_verifies(env, out)
    made = pd.read_csv(out / "changes.csv", keep_default_na=False)
    expected = pd.read_csv(second / "changes.csv", keep_default_na=False)
    assert made["status"].value_counts().to_dict() == expected["status"].value_counts().to_dict()


def test_changing_now_in_a_session_re_runs_the_schedule_only(first, tmp_path):
    from prodsched.session import Session

    session = Session.create(params=replan_params(SAMPLE, first, str(NOW)), store=str(tmp_path / "s.db"))
    session.run_all()
    pinned = session.artifact("kpis")["replan_pinned"]
    stale = session.set_params(now=str(NOW + pd.Timedelta(days=1)))
    assert stale == ["schedule", "results"]
    session.run_all()
    assert session.artifact("kpis")["replan_pinned"] > pinned
    assert len(session.artifact("violations")) == 0
