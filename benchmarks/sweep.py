"""Sweep timing: 48 scenarios on a generated factory with 1 and 2 local Dask workers.

    python benchmarks/sweep.py                      # 1,500 orders, 48 scenarios, 1 and 2 workers
    python benchmarks/sweep.py --orders 150 --seeds 2 --workers 1 2

Scenarios: rule window/edd/atcs x window_days 2/5 x ``--seeds`` seeds (8 -> 48). Measured:

* ``prodsched.sweep`` end to end (cluster start, stages 1-4 once, every scenario, every session
  stored in a SQLite file, the four output files) with N local worker processes;
* per scenario inside the sweep: the worker's seconds (stages 5-6 and encoding its session);
* the same scenarios run one after another in this process (stages 5-6 only, no session), and
  one plain ``prodsched run`` of a scenario as a subprocess (all six stages, every result file).

The table goes to benchmarks/results/sweep.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def plain_run(data: Path, work: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "prodsched", "run", str(data), "--out", str(work / "plain"), "-q",
                    "--store", str(work / "plain.db"), "--rule", "atcs", "--window-days", "2"],
                   check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    import logging

    import prodsched
    from prodsched.inputs.sample import write_sample

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data"
        write_sample(data, orders=args.orders, seed=0)
        n = len(GRID["rule"]) * len(GRID["window_days"]) * args.seeds
        one = direct(data, args.seeds)
        plain = plain_run(data, work)
        rows = []
        for w in args.workers:
            t0 = time.perf_counter()
            table = prodsched.sweep(data, grid=GRID, seeds=list(range(args.seeds)), workers=w,
                                    store=work / f"s{w}.db", out=work / f"out{w}", progress=False)
            wall = time.perf_counter() - t0
            assert (table["status"] == "done").all() and table["verified"].all()
            rows.append((w, wall, statistics.mean(table["wall_s"]), table.attrs["prepare_s"]["data"]))
            logging.getLogger("distributed").setLevel(logging.ERROR)
    base = rows[0][1]
    mean_direct = statistics.mean(one)
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
        "",
        f"The same {n} scenarios one after another in one process (stages 5-6 only on stages 1-4's artifacts as "
        "decoded from the store, as any session run reads them; no session kept): "
        f"{mean_direct:.3f} s per scenario, {sum(one):.1f} s in all. A scenario on the 1 worker took "
        f"{rows[0][2] / mean_direct:.2f} x that; besides stages 5-6 it encodes the scenario's artifacts for "
        "its session (Arrow/JSON, a few hundredths of a second), hashes the schedule as schedule.csv holds it, and "
        "shares the two cores with the client (which stores the sessions) and with whatever else runs (see the load "
        "average above).",
        f"One plain `prodsched run` of a scenario (a subprocess: interpreter start, all six stages, every result file "
        f"incl. results.xlsx and the Gantt files): {plain:.1f} s, i.e. {plain / (rows[0][1] / n):.0f} x the sweep's "
        "wall time per scenario with 1 worker. (`--outputs csv,json` is not an option of `prodsched run` on this "
        "branch, so the plain run writes every file.)", "",
        f"Reproduce: `python benchmarks/sweep.py --orders {args.orders} --seeds {args.seeds} --workers "
        f"{' '.join(map(str, args.workers))}`.",
    ]
    RESULT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
