"""The command line, run as a subprocess with a throw-away session store."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import cli_env, run_cli
from prodsched import cli
from prodsched.execute import StageProgress

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
STAGE_MODULES = ("load", "preprocess", "yields", "dag", "schedule", "results")


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path / "store" / "sessions.db")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """One full run on sample_data shared by the tests that read its outputs."""
    tmp = tmp_path_factory.mktemp("cli")
    env = cli_env(tmp / "sessions.db")
    out = tmp / "out"
    proc = run_cli(env, "run", SAMPLE, "--out", out)
    return proc, out, env


# --------------------------------------------------------------------------- no stages needed

def test_parser_and_stage_ranges():
    args = cli.build_parser().parse_args(["run", "d", "--out", "o", "--window-days", "3", "--rule", "edd",
                                          "--base-date", "2024-01-01", "--slot-minutes", "15", "--seed", "7"])
    values = cli._params_from(args)
    assert values["window_days"] == 3 and values["rule"] == "edd" and values["slot_minutes"] == 15
    assert values["seed"] == 7 and values["base_date"] == "2024-01-01"
    assert Path(values["data"]).is_absolute() and Path(values["out"]).is_absolute()
    assert "min_yield" not in values  # unset flags keep the Params defaults
    assert cli.stage_range(None) == list(cli.STAGES)
    assert cli.stage_range("1-4") == ["load", "preprocess", "yield", "dag"]
    assert cli.stage_range("schedule-results") == ["schedule", "results"]
    assert cli.stage_range("6") == ["results"]
    with pytest.raises(cli.CliFailure):
        cli.stage_range("5-2")


def test_optimiser_flags_become_parameters():
    args = cli.build_parser().parse_args(["run", "d", "--out", "o", "--objective", "makespan",
                                          "--improve", "200", "--time-limit", "2.5"])
    values = cli._params_from(args)
    assert (values["objective"], values["improve_iterations"], values["time_limit_s"]) == (
        "makespan", 200, 2.5)
    assert "objective" not in cli._params_from(cli.build_parser().parse_args(["run", "d", "--out", "o"]))


def test_stages_command(env):
    proc = run_cli(env, "stages")
    assert proc.returncode == 0
    assert [line.split()[1] for line in proc.stdout.splitlines()] == list(cli.STAGES)


def test_missing_input_is_one_line_exit_1(env, tmp_path):
    proc = run_cli(env, "run", tmp_path / "nope", "--out", tmp_path / "out")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"prodsched: stage 1 (load) failed: input {tmp_path / 'nope'} does not exist"]


def test_kpi_summary_text():
    k = {"makespan_slots": 96, "makespan_hours": 48.0, "makespan_days": 2.0, "makespan_end": "2024-03-03T00:00:00",
         "orders": 10, "scheduled_orders": 9, "unable_orders": 1, "jobs": 8, "operations": 20, "late_orders": 2,
         "total_tardiness_days": 1.5, "mean_tardiness_days": 0.1667, "on_time_rate": 0.7, "utilisation": 0.5,
         "setup_slots": 12, "idle_slots": 30, "lower_bound": 80, "gap_to_lower_bound": 0.2, "violations": 0}
    text = cli.format_kpis(k)
    assert "96 slots = 48.0 h = 2.00 days" in text and "on-time rate 70.0 %" in text
    assert "unable 1" in text and "gap 20.0 %" in text and "violations  0" in text


# --------------------------------------------------------------------------- full runs

def test_run_sample_data(sample_run):
    proc, out, _ = sample_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["violations"] == 0
    assert kpis["operations"] > 0 and kpis["orders"] > 0
    assert "makespan" in proc.stdout and "violations  0" in proc.stdout
    for name in ("schedule.csv", "kpis.json", "orders.csv", "unable.csv", "validation.csv", "results.xlsx"):
        assert (out / name).exists(), name
    schedule = pd.read_csv(out / "schedule.csv")
    assert len(schedule) == kpis["operations"]
    orders = pd.read_csv(out / "orders.csv", dtype=str, keep_default_na=False)
    assert len(orders) == kpis["orders"]
    unable = pd.read_csv(out / "unable.csv", dtype=str, keep_default_na=False)
    assert set(orders.loc[orders["status"] == "unable", "po_no"]) == set(unable["po_no"])


def test_run_with_an_objective_and_the_optimiser(env, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(env, "run", SAMPLE, "--out", out, "--objective", "setups", "--improve", "25",
                     "--time-limit", "300", "-q")
    assert proc.returncode == 0, proc.stderr
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["violations"] == 0
    assert (kpis["objective"], kpis["improve_iterations"], kpis["improve_iterations_done"],
            kpis["improve_capped"]) == ("setups", 25, 25, False)
    value = [float(v) for v in kpis["objective_value"].split(", ")]
    dispatch = [float(v) for v in kpis["dispatch_objective_value"].split(", ")]
    assert value[0] == kpis["setup_slots"] and value <= dispatch
    assert kpis["tardiness_slots"] >= 0 and kpis["late_jobs"] >= 0
    assert "objective   setups" in proc.stdout and "after 25 of 25 iterations" in proc.stdout


def test_progress_is_one_line_per_stage_when_not_on_a_terminal(sample_run):
    proc, _, _ = sample_run  # stderr is a pipe here, as in a log or CI
    lines = proc.stderr.splitlines()
    assert [ln.split(" done in ")[0] for ln in lines] == [
        f"stage {i} ({name})" for i, name in enumerate(("load", "preprocess", "yield", "dag", "schedule", "results"), 1)]
    assert all(ln.endswith(" s") for ln in lines) and "\r" not in proc.stderr and "%|" not in proc.stderr


class _Terminal:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_is_a_bar_on_a_terminal_and_nothing_when_quiet():
    term = _Terminal()
    with StageProgress("schedule", quiet=False, stream=term) as progress:
        progress(0.5, "placing operations")
    assert "5 schedule" in term.text and "100%|" in term.text and "done" in term.text
    assert "stage 5 (schedule) done" not in term.text
    quiet, log = _Terminal(), _Terminal()
    log.isatty = lambda: False
    with StageProgress("dag", quiet=True, stream=quiet) as progress:
        progress(1.0)
    with StageProgress("dag", quiet=False, stream=log) as progress:
        progress(1.0)
    assert quiet.text == "" and log.text.startswith("stage 4 (dag) done in ")
    failed = _Terminal()
    failed.isatty = lambda: False
    with pytest.raises(RuntimeError), StageProgress("load", quiet=False, stream=failed):
        raise RuntimeError("boom")
    assert failed.text == ""  # a failed stage has its own one-line message


def test_run_writes_the_gantt_files(sample_run):
    proc, out, _ = sample_run
    assert proc.returncode == 0, proc.stderr
    assert (out / "gantt.png").stat().st_size > 0 and (out / "gantt.html").stat().st_size > 0


def test_verify_command_accepts_the_written_schedule_and_rejects_a_broken_one(sample_run, tmp_path):
    proc, out, env = sample_run
    assert proc.returncode == 0, proc.stderr
    ok = run_cli(env, "verify", "--data", SAMPLE, "--schedule", out / "schedule.csv")
    assert ok.returncode == 0, ok.stderr
    assert "0 violations" in ok.stdout
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    shutil.copy(out / "kpis.json", broken_dir / "kpis.json")
    schedule = pd.read_csv(out / "schedule.csv", dtype=str, keep_default_na=False)
    first_end, first_start = int(schedule.loc[0, "end"]), int(schedule.loc[0, "start"])
    schedule.loc[0, "end"] = str(first_end - 1 if first_end - first_start > 1
                                 else first_end + 5)
    schedule.to_csv(broken_dir / "schedule.csv", index=False)
    bad = run_cli(env, "verify", "--data", SAMPLE, "--schedule", broken_dir / "schedule.csv")
    assert bad.returncode == 1
    assert schedule.loc[0, "op_id"] in bad.stdout
    assert "Traceback" not in bad.stderr


def test_run_plant_export(env, tmp_path):
    data = SAMPLE / "plant_export"
    proc = run_cli(env, "run", data, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "kpis.json").read_text())["violations"] == 0


def test_outputs_choose_the_result_files(env, tmp_path):
    always = {"schedule.csv", "kpis.json", "run.json"}
    lean = run_cli(env, "run", SAMPLE / "plant_export", "--out", tmp_path / "lean", "--outputs", "csv", "--quiet")
    assert lean.returncode == 0, lean.stderr
    assert {p.name for p in (tmp_path / "lean").iterdir()} == always | {"orders.csv", "unable.csv", "validation.csv"}
    assert json.loads((tmp_path / "lean" / "run.json").read_text())["parameters"]["outputs"] == "csv"
    sid = lean.stdout.split()[1]
    again = run_cli(env, "run", "--session", sid, "--stages", "6", "--out", tmp_path / "pics",
                      "--outputs", "PNG, html", "--quiet")
    assert again.returncode == 0, again.stderr
    assert {p.name for p in (tmp_path / "pics").iterdir()} == always | {"gantt.png", "gantt.html"}
    assert (tmp_path / "pics" / "schedule.csv").read_bytes() == (tmp_path / "lean" / "schedule.csv").read_bytes()


def test_a_bad_outputs_value_is_exit_2_before_any_session(env, tmp_path):
    proc = run_cli(env, "run", SAMPLE, "--out", tmp_path / "out", "--outputs", "csv,pdf")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("prodsched: --outputs:") and "pdf" in proc.stderr and "xlsx" in proc.stderr
    assert json.loads(run_cli(env, "sessions", "--json").stdout) == []
    assert not (tmp_path / "out").exists()


def test_broken_input_exits_2_with_a_readable_table(env, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("plant_export", "*.md"))
    orders = pd.read_csv(data / "order_data.csv", dtype=str, keep_default_na=False)
    orders.loc[1, "due"] = "not a date"
    orders.to_csv(data / "order_data.csv", index=False)
    proc = run_cli(env, "run", data, "--out", tmp_path / "out")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "severity" in proc.stderr and "order_data" in proc.stderr and "not a date" in proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if "not a date" in ln)
    assert " 3 " in f" {line} "  # the row as the user counts it: header is row 1, orders.loc[1] is row 3
    assert not (tmp_path / "out" / "schedule.csv").exists()


def test_order_without_routing_is_listed_as_unable_not_dropped(env, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("plant_export", "*.md"))
    orders = pd.read_csv(data / "order_data.csv", dtype=str, keep_default_na=False)
    po = orders.loc[1, "po_no"]
    orders.loc[1, "item"] = "NO-SUCH-ITEM"
    orders.to_csv(data / "order_data.csv", index=False)
    proc = run_cli(env, "run", data, "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 0, proc.stderr  # a warning never changes the exit code
    assert "warning" in proc.stderr and "Traceback" not in proc.stderr
    out = tmp_path / "out"
    unable = pd.read_csv(out / "unable.csv", dtype=str, keep_default_na=False)
    assert unable["po_no"].tolist() == [po] and unable.at[0, "reason"] == "no_routing"
    listed = pd.read_csv(out / "orders.csv", dtype=str, keep_default_na=False).set_index("po_no")
    assert len(listed) == len(orders)
    assert listed.at[po, "status"] == "unable" and listed.at[po, "reason"].startswith("no_routing")
    kpis = json.loads((out / "kpis.json").read_text())
    assert (kpis["orders"], kpis["unable_orders"], kpis["violations"]) == (len(orders), 1, 0)
    assert kpis["on_time_rate"] <= (len(orders) - 1) / len(orders)
    assert po not in set(pd.read_csv(out / "schedule.csv", dtype=str)["po_nos"].str.split(";").explode())


def test_unknown_rule_is_refused_before_stage_1_with_one_line(env, tmp_path):
    proc = run_cli(env, "run", SAMPLE, "--out", tmp_path / "out", "--rule", "no_such_rule", "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prodsched: --rule:"), proc.stderr
    assert "no_such_rule" in lines[0] and "known" in lines[0]
    assert not (tmp_path / "out").exists()


def test_sessions_continue_with_other_parameters(env, tmp_path):
    first = run_cli(env, "run", SAMPLE, "--out", tmp_path / "a", "--stages", "1-4")
    assert first.returncode == 0, first.stderr
    sid = first.stdout.split()[1]
    second = run_cli(env, "run", "--session", sid, "--out", tmp_path / "b", "--stages", "5-6", "--window-days", "2")
    assert second.returncode == 0, second.stderr
    assert json.loads((tmp_path / "b" / "kpis.json").read_text())["violations"] == 0
    assert json.loads((tmp_path / "b" / "kpis.json").read_text())["window_days"] == 2
    status = run_cli(env, "status", sid, "--json")
    assert status.returncode == 0, status.stderr
    stages = json.loads(status.stdout)["stages"]
    assert [s["status"] for s in stages] == ["done"] * 6
    listed = run_cli(env, "sessions", "--json")
    assert sid in {row.get("session_id", row.get("id")) for row in json.loads(listed.stdout)}
    text = run_cli(env, "status", sid)
    assert text.returncode == 0 and "schedule" in text.stdout


def test_sample_command_writes_a_runnable_factory(env, tmp_path):
    proc = run_cli(env, "sample", "--orders", 40, "--seed", 3, "--out", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    run = run_cli(env, "run", tmp_path / "data", "--out", tmp_path / "out", "--quiet")
    assert run.returncode == 0, run.stderr
    kpis = json.loads((tmp_path / "out" / "kpis.json").read_text())
    assert kpis["orders"] == 40 and kpis["violations"] == 0


def test_sample_tightness_puts_the_due_dates_into_fewer_days(env, tmp_path):
    dues = {}
    for tightness in ("1", "3"):
        proc = run_cli(env, "sample", "--orders", 60, "--seed", 3, "--tightness", tightness,
                         "--out", tmp_path / tightness)
        assert proc.returncode == 0, proc.stderr
        assert f"tightness {tightness}" in proc.stdout
        dues[tightness] = pd.to_datetime(pd.read_csv(tmp_path / tightness / "order_data.csv")["due"])
    assert dues["3"].max() < dues["1"].max() and dues["3"].min() >= dues["1"].min() - pd.Timedelta(days=1)
    bad = run_cli(env, "sample", "--orders", 5, "--tightness", "0", "--out", tmp_path / "bad")
    assert bad.returncode == 1 and "tightness must be a number > 0" in bad.stderr


def test_notebooks_without_the_chain_module_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "prodsched.jupyter.notebooks", None)  # importing it now fails
    code = cli.main(["run", str(SAMPLE), "--out", str(tmp_path / "out"), "--notebooks"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("prodsched: --notebooks needs prodsched.jupyter.notebooks")


@pytest.mark.notebooks
def test_run_with_notebooks_continues_a_session(sample_run, tmp_path):
    """--notebooks goes through the papermill chain (the full chain is tested with the notebooks);
    here the results notebook re-runs stage 6 of the CLI's session into another folder."""
    proc, _, env = sample_run
    assert proc.returncode == 0, proc.stderr
    sid = proc.stdout.split()[1]
    nb = run_cli(env, "run", "--session", sid, "--stages", "6", "--out", tmp_path / "out", "--notebooks",
                   timeout=600)
    assert nb.returncode == 0, nb.stderr
    assert "Traceback" not in nb.stderr
    run_dirs = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    assert [p.name for p in run_dirs[0].glob("*.ipynb")] == ["06_results.ipynb"]
    assert json.loads((tmp_path / "out" / "kpis.json").read_text())["violations"] == 0
    assert "violations  0" in nb.stdout
    status = json.loads(run_cli(env, "status", sid, "--json").stdout)
    assert [s["status"] for s in status["stages"]] == ["done"] * 6
