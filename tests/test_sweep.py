"""Sweeps on real Dask clusters: a LocalCluster of 2 worker processes, a scheduler and workers
started as separate processes, a worker killed mid-sweep, the Redis store, Optuna search."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

try:
    import distributed  # noqa: F401
    import optuna  # noqa: F401
except ImportError:  # the [dask] extra; in CI its absence is a failure, never a skip
    if os.environ.get("CI"):
        raise
    pytest.skip("the [dask] extra (dask[distributed], optuna) is not installed", allow_module_level=True)

from prodsched.cli import main  # noqa: E402
from prodsched.inputs.spec import TABLE_NAMES  # noqa: E402
from prodsched.session import Session  # noqa: E402
from prodsched.stages.results import verify_schedule  # noqa: E402
from prodsched.sweep import GridError, schedule_hash, sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GRID = {"rule": ["window", "edd", "atcs"], "window_days": [2, 5]}
SEEDS = [0, 1]  # 3 x 2 x 2 = 12 scenarios
VOLATILE = ["wall_s", "session_id", "worker"]  # differ between two runs of the same sweep


@pytest.fixture(scope="module")
def data40(tmp_path_factory) -> Path:
    from prodsched.inputs.sample import write_sample

    out = tmp_path_factory.mktemp("sample40")
    write_sample(out, orders=40, seed=0)
    return out


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 single-threaded worker processes, shared by the tests of this module."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def verified_session(store, session_id: str) -> pd.DataFrame:
    """The scenario session's schedule after the independent verifier found no violation."""
    s = Session.attach(session_id, store=store)
    assert s.status()["overall"] == "done"
    arts = s.load_artifacts(["load", "preprocess", "yield", "dag", "schedule"])
    tables = {k: v for k, v in arts.items() if k in TABLE_NAMES}
    violations = verify_schedule(arts["schedule"], arts["dag"], tables)
    assert violations.empty, violations.to_string()
    return arts["schedule"]


def check_rows(table: pd.DataFrame, store) -> None:
    assert (table["status"] == "done").all(), table[["scenario", "status", "error"]]
    assert table["verified"].all() and (table["violations"] == 0).all()
    for row in table.itertuples():
        assert schedule_hash(verified_session(store, row.session_id)) == row.schedule_sha256


def test_grid_of_12_on_a_local_cluster_of_2_processes(client, data40, tmp_path):
    store, out = tmp_path / "sessions.db", tmp_path / "out"
    table = sweep(data40, grid=GRID, seeds=SEEDS, cluster=client, store=store, out=out, progress=False)
    assert len(table) == 12 and list(table["scenario"]) == list(range(12))
    combos = set(zip(table["rule"], table["window_days"], table["seed"]))
    assert combos == {(r, w, s) for r in GRID["rule"] for w in GRID["window_days"] for s in SEEDS}
    check_rows(table, store)
    kpis = Session.attach(table["session_id"][0], store=store).artifact("kpis")
    assert set(kpis) <= set(table.columns)  # every KPI of kpis.json is a column
    assert {"objective_value", "wall_s", "session_id", "status", "error", "dataset"} <= set(table.columns)
    assert table["worker"].nunique() == 2  # both worker processes ran scenarios
    # stages 1-4 reached each worker once and were decoded once there
    caches = client.run(lambda: sorted(__import__("prodsched.sweep.task", fromlist=["_CACHE"])._CACHE))
    assert all(len(tokens) == 1 for tokens in caches.values()), caches
    # the files: the same rows in parquet and csv, a plot, a summary naming the best scenarios
    back = pd.read_parquet(out / "sweep.parquet")
    pd.testing.assert_frame_equal(back, table.reset_index(drop=True), check_dtype=False)
    assert len(pd.read_csv(out / "sweep.csv")) == 12
    assert (out / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    best = table.loc[table["value_setups"].map(lambda v: tuple(float(x) for x in v.split(","))).idxmin()]
    assert f"| setups | {best['value_setups']} | {best['scenario']} |" in summary


def test_rows_equal_single_runs_and_sweeps_are_deterministic(client, data40, tmp_path):
    grid = {"rule": ["atcs", "window"], "window_days": [3]}
    first = sweep(data40, grid=grid, seeds=[0, 2], params={"improve_iterations": 30}, cluster=client,
                  store=tmp_path / "a.db", progress=False)
    again = sweep(data40, grid=grid, seeds=[0, 2], params={"improve_iterations": 30}, cluster=client,
                  store=tmp_path / "b.db", progress=False)
    pd.testing.assert_frame_equal(first.drop(columns=VOLATILE), again.drop(columns=VOLATILE))
    assert first["schedule_sha256"].nunique() > 1  # the scenarios differ
    for row in first.itertuples():
        out = tmp_path / f"run{row.scenario}"
        code = main(["run", str(data40), "--out", str(out), "--store", str(tmp_path / "runs.db"), "-q",
                     "--rule", row.rule, "--window-days", "3", "--seed", str(row.seed), "--improve", "30"])
        assert code == 0
        assert hashlib.sha256((out / "schedule.csv").read_bytes()).hexdigest() == row.schedule_sha256
        kpis = json.loads((out / "kpis.json").read_text())
        assert kpis["total_tardiness_days"] == row.total_tardiness_days and kpis["setup_slots"] == row.setup_slots


def test_restarts_is_a_grid_parameter_that_reaches_the_rule(client, data40, tmp_path):
    table = sweep(data40, grid={"rule": ["window"], "restarts": [1, 8]}, seeds=[0], cluster=client,
                  store=False, progress=False)
    assert list(table["restarts"]) == [1, 8] and (table["status"] == "done").all()
    assert table["schedule_sha256"].nunique() == 2  # 8 tie-break passes keep another schedule
    for row in table.itertuples():
        single = Session.create({"data": str(data40), "rule": "window", "seed": 0,
                                 "extra": {"rule_options": {"restarts": row.restarts}}},
                                store=str(tmp_path / f"r{row.restarts}.db"))
        single.run_all()
        schedule = verified_session(single.store, single.id)
        assert schedule_hash(schedule) == row.schedule_sha256


@pytest.mark.parametrize("grid, name, why", [
    (["--grid", "rule=window,fifo"], "rule", "not a known rule"),
    (["--grid", "window_days=2,soon"], "window_days", "must be a number"),
    (["--grid", "seed=1.5"], "seed", "whole number"),
    (["--grid", "min_yield=0.5,0.9"], "min_yield", "not a scenario parameter"),
    (["--grid", "colour=red"], "colour", "not a parameter a sweep can vary"),
    (["--grid", "rule="], "rule", "no values"),
    (["--grid", "k2=0"], "k2", "more than 0"),
    (["--grid", "restarts=2.5"], "restarts", "whole number"),
    (["--grid", "restarts=0"], "restarts", "more than 0"),
    (["--grid", "objective=weighted", "--grid", "weights.setup_slots=-2"], "weights.setup_slots", ">= 0"),
    (["--grid", "rule=edd", "--grid", "rule=atcs"], "rule", "given twice"),
    ([], "grid", "empty"),
    (["--grid", "rule=atcs", "--search", "optuna", "--space", "k1=4:0.5"], "k1", "low to high"),
])
def test_bad_grids_exit_2_naming_the_parameter_before_anything_runs(data40, tmp_path, capsys, grid, name, why):
    out, store = tmp_path / "out", tmp_path / "s.db"
    code = main(["sweep", str(data40), *grid, "--out", str(out), "--store", str(store), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f" {name}: " in err and why in err and "nothing was run" in err
    assert not out.exists() and not store.exists()


def test_bad_grids_in_python():
    with pytest.raises(GridError) as info:
        sweep(REPO / "sample_data", grid={"window_days": ["5"]})
    assert info.value.name == "window_days"
    with pytest.raises(GridError, match="repeats a value"):
        sweep(REPO / "sample_data", grid={"rule": ["edd", "edd"]})
    with pytest.raises(GridError, match="improve_iterations"):
        sweep(REPO / "sample_data", grid={"improve_iterations": [True]})


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "ab") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.timeout(240)
def test_cli_against_a_scheduler_and_workers_started_as_processes(data40, tmp_path):
    dask = [sys.executable, "-m", "dask", "scheduler"]  # `dask scheduler` with this interpreter
    sched_file = tmp_path / "scheduler.json"
    procs = [_spawn([*dask, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                     str(sched_file)], tmp_path / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(_spawn([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                 "--no-dashboard", "--name", f"w{i}"], tmp_path / f"worker{i}.log"))
        out, store = tmp_path / "out", tmp_path / "sessions.db"
        cli = subprocess.run([sys.executable, "-m", "prodsched", "sweep", str(data40), "--grid", "rule=window,edd,atcs",
                              "--grid", "window_days=2,5", "--seeds", "0-1", "--cluster", address, "--workers", "2",
                              "--out", str(out), "--store", str(store), "-q"],
                             capture_output=True, text=True, timeout=180, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        assert cli.returncode == 0, cli.stderr
        assert "12 scenarios: 12 done" in cli.stdout
        table = pd.read_parquet(out / "sweep.parquet")
        assert len(table) == 12 and table["worker"].nunique() == 2
        check_rows(table, store)
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _kill_a_worker_mid_sweep(data40, tmp_path, allowed_failures: int):
    """Run 12 scenarios of about a second each on 2 worker processes and SIGKILL one of them while it
    runs a scenario; returns (table, store, killed address, scenarios it held)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        c = Client(cluster)
        try:
            pids = c.run(os.getpid)
            result: dict = {}
            store = tmp_path / "sessions.db"
            thread = threading.Thread(target=lambda: result.update(table=sweep(
                data40, grid={"rule": ["window", "edd", "atcs"], "seed": [0, 1, 2, 3]},
                params={"improve_iterations": 600}, cluster=c, store=store, progress=False)))
            thread.start()
            victim = None
            deadline = time.monotonic() + 60
            while victim is None and time.monotonic() < deadline:
                victim = next((w for w, keys in c.processing().items() if w in pids and keys), None)
                time.sleep(0.05)
            assert victim is not None, "no scenario started"
            time.sleep(0.3)  # inside a scenario (each takes about a second)
            keys = c.processing()[victim]
            os.kill(pids[victim], signal.SIGKILL)
            thread.join(180)
            assert not thread.is_alive()
        finally:
            c.close()
            cluster.close()
    held = {int(str(k).rsplit("-", 1)[1]) for k in keys if "prodsched-scenario" in str(k)}
    assert held, "the killed worker held no scenario"
    return result["table"], store, victim, held


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_sweep_has_its_scenario_retried(data40, tmp_path):
    table, store, victim, held = _kill_a_worker_mid_sweep(data40, tmp_path, allowed_failures=3)
    assert len(table) == 12
    check_rows(table, store)  # every row done, every schedule verified
    assert all(table.loc[table["scenario"] == i, "worker"].iloc[0] != victim for i in held)  # ran elsewhere


@pytest.mark.timeout(240)
def test_a_scenario_whose_worker_dies_too_often_is_a_failed_row(data40, tmp_path):
    table, store, victim, held = _kill_a_worker_mid_sweep(data40, tmp_path, allowed_failures=0)
    assert len(table) == 12
    failed = table[table["status"] == "failed"]
    assert 1 <= len(failed) and set(failed["scenario"]) <= held
    assert failed["error"].str.contains("KilledWorker").all() and not failed["verified"].any()
    check_rows(table[table["status"] != "failed"], store)


@pytest.mark.redis
def test_scenario_sessions_in_redis_open_from_another_process(client, data40, redis_url, run_python):
    table = sweep(data40, grid={"rule": ["edd", "atcs"]}, seeds=[0, 1], cluster=client, store=redis_url,
                  progress=False)
    assert (table["status"] == "done").all() and table["session_id"].notna().all()
    row = table.iloc[3]
    code = ("import sys, hashlib\n"
            "from prodsched.session import Session\n"
            "from prodsched.sweep import schedule_hash\n"
            "s = Session.attach(sys.argv[2], store=sys.argv[1])\n"
            "print(s.status()['overall'], s.params.rule, s.params.seed, schedule_hash(s.artifact('schedule')))\n")
    proc = run_python(code, redis_url, row.session_id)
    assert proc.stdout.split() == ["done", row.rule, str(row.seed), row.schedule_sha256]
    check_rows(table, redis_url)


def test_optuna_search_on_the_workers_is_stored_beside_the_results(client, data40, tmp_path):
    import optuna

    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        runs.append((out, sweep(data40, grid={"rule": ["atcs"]}, search="optuna", space={"k1": (0.5, 4.0),
                                "window_days": (2, 10)}, trials=6, cluster=client, store=tmp_path / "s.db",
                                out=out, progress=False)))
    (out, table), (_, again) = runs
    assert len(table) == 6 and list(table["trial"]) == list(range(6))
    assert table["k1"].between(0.5, 4.0).all() and table["window_days"].between(2, 10).all()
    check_rows(table, tmp_path / "s.db")
    pd.testing.assert_frame_equal(table.drop(columns=VOLATILE), again.drop(columns=VOLATILE))  # same seed, same trials
    info = json.loads((out / "search.json").read_text())
    values = [float(v.split(",")[0]) for v in table["objective_value"]]
    assert info["best_value"] == min(values) and [h["value"] for h in info["history"]] == values
    study = optuna.load_study(study_name=info["study_name"], storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 6 and study.best_params == info["best_params"]
    assert "## Search" in (out / "summary.md").read_text()


def test_cancel_stops_the_sweep_and_keeps_the_finished_rows(client, data40, tmp_path):
    from prodsched.store import open_store

    store, cancel, result = tmp_path / "sessions.db", threading.Event(), {}
    thread = threading.Thread(target=lambda: result.update(table=sweep(
        data40, grid={"rule": ["window", "edd", "atcs"], "seed": [0, 1, 2, 3]}, params={"improve_iterations": 600},
        cluster=client, store=store, progress=False, cancel=cancel)))
    thread.start()
    deadline = time.monotonic() + 120
    while not (store.exists() and len(open_store(store).list_sessions()) >= 2):  # two scenarios finished
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    cancel.set()
    thread.join(60)
    assert not thread.is_alive()
    table = result["table"]
    assert len(table) == 12
    done, cancelled = table[table["status"] == "done"], table[table["status"] == "cancelled"]
    assert len(done) >= 2 and len(cancelled) >= 1 and len(done) + len(cancelled) == 12
    check_rows(done, store)
    assert cancelled["session_id"].isna().all() and not cancelled["verified"].any()
    # nothing of the cancelled scenarios keeps running on the workers
    deadline = time.monotonic() + 30
    while any(k for keys in client.processing().values() for k in keys if "prodsched-scenario" in str(k)):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_import_prodsched_stays_light_and_sweep_is_callable(run_python):
    code = ("import sys, prodsched\n"
            "heavy = [m for m in ('pandas', 'distributed', 'optuna', 'prodsched.sweep') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "from prodsched.sweep.run import sweep\n"
            "assert callable(prodsched.sweep) and prodsched.sweep.sweep is sweep\n"
            "print('ok')\n")
    assert run_python(code).stdout.strip() == "ok"


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_sweep_notebook_runs_with_papermill(data40, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's prodsched
    out, store = tmp_path / "out", tmp_path / "sessions.db"
    papermill.execute_notebook(str(REPO / "notebooks" / "07_sweep.ipynb"), str(tmp_path / "07_sweep.ipynb"),
                               parameters={"data": str(data40), "grid": {"rule": ["edd", "atcs"], "k2": [0.5, 1.5]},
                                           "seeds": [0, 1, 2], "workers": 2, "store": str(store), "out": str(out)},
                               cwd=str(REPO / "notebooks"), progress_bar=False, kernel_name="python3")
    table = pd.read_parquet(out / "sweep.parquet")
    assert len(table) == 12 and set(table["k2"]) == {0.5, 1.5}
    check_rows(table, store)
    assert (out / "tradeoff.png").exists() and "Best scenario" in (out / "summary.md").read_text()


def test_several_data_sets_share_nothing_but_the_grid(client, data40, tmp_path):
    from prodsched.inputs.sample import write_sample

    other = write_sample(tmp_path / "other", orders=30, seed=7) and tmp_path / "other"
    store = tmp_path / "s.db"
    table = sweep([data40, other], grid={"rule": ["edd", "atcs"]}, cluster=client, store=store, progress=False)
    assert list(table["dataset"]) == [data40.name] * 2 + ["other"] * 2
    assert set(table.attrs["prepare_s"]) == {data40.name, "other"}  # stages 1-4 once per data set
    assert table.groupby("dataset")["orders"].first().to_dict() == {data40.name: 40, "other": 30}
    check_rows(table, store)
