"""Sweep timing: 48 scenarios on a generated factory with 1 and 2 local Dask workers.

    python benchmarks/sweep.py                      # 1,500 orders, 48 scenarios, 1 and 2 workers
    python benchmarks/sweep.py --orders 150 --seeds 2 --workers 1 2 --plain 3

Scenarios: rule window/edd/atcs x window_days 2/5 x ``--seeds`` seeds (8 -> 48). Measured:

* ``prodsched.sweep`` end to end (cluster start, stages 1-4 once, every scenario, every session
  stored in a SQLite file, the four output files) with N local worker processes;
* per scenario inside the sweep: the worker's seconds (stages 5-6 and encoding its session);
* the same scenarios run one after another in this process (stages 5-6 only, no session);
* ``--plain`` of the scenarios (seed 0 first) each as a plain ``prodsched run --outputs csv,json``
  subprocess: its wall time (interpreter start, stages 1-6, the csv/json files, its session stored)
  and its stages 5-6 as its session records them; its schedule.csv must hash like the sweep's row.

Overhead per scenario = the sweep's wall time per scenario (1 worker, everything included) against
the plain run's stages 5-6 of the same scenario: what a scenario costs in a sweep beyond the work
any run of it must do. The table goes to benchmarks/results/sweep.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULT = ROOT / "benchmarks" / "results" / "sweep.md"
GRID = {"rule": ["window", "edd", "atcs"], "window_days": [2, 5]}


def direct(data: Path, seeds: int) -> list[float]:
    """Stages 5-6 of every scenario, in this process, after stages 1-4 once; their artifacts as a
    session run (and a sweep's worker) reads them: decoded from the store's encoding."""
    from prodsched.params import Params
    from prodsched.stages import STAGES, run_stage
    from prodsched.sweep import expand
    from prodsched.sweep.task import artifacts_of, prepare

    base = Params(data=str(data))
    artifacts = artifacts_of(prepare("data", str(data), base))
    times = []
    for s in expand([("data", str(data))], {**GRID, "seed": list(range(seeds))}, base):
        t0 = time.perf_counter()
        inputs = dict(artifacts)
        for name in STAGES[4:]:
            inputs.update(run_stage(name, inputs, s.params).artifacts)
        times.append(time.perf_counter() - t0)
    return times


def plain_run(data: Path, work: Path, scenario) -> dict:
    """One scenario as a plain ``prodsched run --outputs csv,json`` subprocess (its own store)."""
    from prodsched.session import Session

    out, store = work / f"plain{scenario.index}", work / f"plain{scenario.index}.db"
    p = scenario.params
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "prodsched", "run", str(data), "--out", str(out), "-q", "--store", str(store),
                    "--rule", p.rule, "--window-days", str(p.window_days), "--seed", str(p.seed),
                    "--outputs", "csv,json"], check=True, capture_output=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    (row,) = Session.list(store)
    stages = {s["name"]: s["elapsed_s"] for s in Session.attach(row["session_id"], store).status()["stages"]}
    return {"scenario": scenario.index, "wall": wall, "stages14": sum(stages[n] for n in list(stages)[:4]),
            "stages56": stages["schedule"] + stages["results"],
            "sha256": hashlib.sha256((out / "schedule.csv").read_bytes()).hexdigest()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--plain", type=int, default=6, help="scenarios also run as plain `prodsched run` (seed 0 first)")
    args = ap.parse_args()
    import logging

    import prodsched
    from prodsched.inputs.sample import write_sample
    from prodsched.params import Params
    from prodsched.sweep import expand

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data"
        write_sample(data, orders=args.orders, seed=0)
        scenarios = expand([("data", str(data))], {**GRID, "seed": list(range(args.seeds))}, Params(data=str(data)))
        n = len(scenarios)
        one = direct(data, args.seeds)
        picked = sorted(scenarios, key=lambda s: (s.params.seed, s.index))[:args.plain]
        plain = [plain_run(data, work, s) for s in picked]
        rows, tables = [], {}
        for w in args.workers:
            t0 = time.perf_counter()
            table = prodsched.sweep(data, grid=GRID, seeds=list(range(args.seeds)), workers=w,
                                    store=work / f"s{w}.db", out=work / f"out{w}", progress=False)
            wall = time.perf_counter() - t0
            assert (table["status"] == "done").all() and table["verified"].all()
            rows.append((w, wall, statistics.mean(table["wall_s"]), table.attrs["prepare_s"]["data"]))
            tables[w] = table.set_index("scenario")
            logging.getLogger("distributed").setLevel(logging.ERROR)
    first = tables[args.workers[0]]
    for p in plain:  # the plain run made the same schedule as the sweep's scenario
        assert p["sha256"] == first.at[p["scenario"], "schedule_sha256"], p
    base = rows[0][1]
    per_scenario = base / n  # the sweep's wall time per scenario with the first worker count
    mean_direct = statistics.mean(one)
    plain_wall = statistics.mean(p["wall"] for p in plain)
    plain56 = statistics.mean(p["stages56"] for p in plain)
    plain14 = statistics.mean(p["stages14"] for p in plain)
    worker_vs_plain = statistics.mean(first.at[p["scenario"], "wall_s"] / p["stages56"] for p in plain)
    lines = [
        "# Sweep: `prodsched.sweep` on a local Dask cluster", "",
        f"Date: {dt.date.today().isoformat()} · machine: {cpu_name()}, {os.cpu_count()} logical cores; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; load average "
        f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after (other processes shared the cores)", "",
        f"{n} scenarios (rule window/edd/atcs x window_days 2/5 x {args.seeds} seeds) on the generated factory "
        f"with {args.orders:,} orders (`prodsched sample --orders {args.orders} --seed 0`); every schedule verified, "
        "every scenario's session stored (SQLite, written by the client), sweep.parquet/csv, tradeoff.png and "
        "summary.md written. Wall time includes starting the local cluster and stages 1-4 (once).", "",
        "| workers | sweep wall s | speed-up | stages 1-4 s | per scenario on a worker s | sweep wall s / scenario |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for w, wall, per, prep in rows:
        lines.append(f"| {w} | {wall:.1f} | {base / wall:.2f} | {prep:.2f} | {per:.3f} | {wall / n:.3f} |")
    lines += [
        "", "## Overhead per scenario against a plain run", "",
        f"{len(plain)} of the scenarios (seed 0{', then seed 1' if len(plain) > 6 else ''}) were also run each as "
        "a plain `prodsched run DATA --out DIR --rule R --window-days W --seed S --outputs csv,json` subprocess "
        "(its own SQLite store); each wrote the same schedule.csv (sha256) as the sweep's row of that scenario. "
        "A plain run's *stages 5-6* are its schedule and results stages as its session records them (start of stage 5 "
        "to end of stage 6, incl. writing schedule.csv, kpis.json, orders.csv, unable.csv, validation.csv, run.json "
        "and storing the artifacts): the work any run of the scenario must do. The sweep's share is its whole wall "
        f"time with {rows[0][0]} worker divided by the {n} scenarios (cluster start, stages 1-4 once, the session of "
        "every scenario stored, the sweep's files).", "",
        "| per scenario | s | vs plain stages 5-6 |",
        "|---|---:|---:|",
        f"| plain run, stages 5-6 (mean of {len(plain)}) | {plain56:.3f} | 1.00 |",
        f"| plain run, whole subprocess: interpreter start, imports, stages 1-4 ({plain14:.2f} s), stages 5-6 | "
        f"{plain_wall:.2f} | {plain_wall / plain56:.2f} |",
        f"| sweep, {rows[0][0]} worker: wall time / scenario | {per_scenario:.3f} | {per_scenario / plain56:.2f} |",
        f"| sweep, {rows[0][0]} worker: the scenario's seconds on the worker (same scenarios, mean of ratios) | "
        f"{statistics.mean(first.at[p['scenario'], 'wall_s'] for p in plain):.3f} | {worker_vs_plain:.2f} |",
        "",
        f"**Overhead per scenario: {100 * (per_scenario / plain56 - 1):+.0f} %** (sweep wall time per scenario "
        f"against the plain run's stages 5-6; target ≤ 10 % at 1,500 orders). Against a whole plain run the sweep "
        f"takes {per_scenario / plain_wall:.0%} of the time per scenario ({plain_wall / per_scenario:.1f} x faster). "
        "A sweep with 1 worker is not one core's work: the client stores each finished scenario's session while the "
        "worker runs the next one, and the workers keep stages 1-4's artifacts decoded; a plain run's stages 5-6 "
        "also write the csv/json files and store its artifacts through the session's worker thread.",
        "",
        f"The same {n} scenarios one after another in one process (stages 5-6 only on stages 1-4's artifacts as "
        "decoded from the store, as any session run reads them; no session kept, no file written): "
        f"{mean_direct:.3f} s per scenario, {sum(one):.1f} s in all.", "",
        f"Reproduce: `python benchmarks/sweep.py --orders {args.orders} --seeds {args.seeds} --workers "
        f"{' '.join(map(str, args.workers))} --plain {args.plain}`.",
    ]
    RESULT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
