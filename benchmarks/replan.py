"""Re-planning cost: the engine on 1,500 orders with ~20 % of the operations pinned, against a plain
run of the same instance.

    python benchmarks/replan.py                       # 1,500 orders, 5 repeats
    python benchmarks/replan.py --orders 1500 15000 --repeats 3 --pinned 0.2

The factory is generated with the sample generator (seed 0) and taken through stages 1-4 once;
the engine is then timed on the instance (medians of ``--repeats``): a plain run on the compiled
and on the Python timeline, and a re-plan whose ``now`` is the start of the operation at the
``--pinned`` quantile of the plain schedule's starts, every operation starting before it pinned
(the re-plan of `prodsched replan`), on the compiled timeline and on the Python one. Every
schedule is verified (0 violations), the pins checked unmoved, or the benchmark fails.

The whole command, as a user waits for it (``--command-repeats``, interleaved, medians): after a
first ``prodsched run DATA --out prev``, ``prodsched run DATA --out A`` against ``prodsched
replan DATA --from prev --now T --out B`` with ``T`` the start at the same quantile of prev's
schedule: both load, check and schedule the data and write the same result files (the re-plan's
parameters are prev's), the re-plan also ``changes.csv``; both report 0 violations. The table
goes to benchmarks/results/replan.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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
RESULT = ROOT / "benchmarks" / "results" / "replan.md"

from prodsched import engine  # noqa: E402
from prodsched.inputs.sample import write_sample  # noqa: E402
from prodsched.params import Params  # noqa: E402
from prodsched.results.exports import read_schedule_csv  # noqa: E402
from prodsched.stages import STAGES, run_stage  # noqa: E402
from prodsched.stages.schedule import build_instance  # noqa: E402


def timed(runs: dict, repeats: int) -> dict:
    """Median seconds of each ``name: (instance, timeline)``, the runs interleaved (one of each per
    round, so a busy spell of the shared machine hits all of them alike); and each schedule."""
    seconds: dict = {name: [] for name in runs}
    plans: dict = {}
    for _ in range(repeats):
        for name, (instance, timeline) in runs.items():
            started = time.perf_counter()
            plans[name] = engine.schedule(instance, options={"timeline": timeline})
            seconds[name].append(time.perf_counter() - started)
    for name, (instance, _timeline) in runs.items():
        problems = engine.verify(instance, plans[name])
        if problems:
            raise SystemExit(f"{name}: {len(problems)} violation(s): {problems[0].message}")
    return {name: statistics.median(v) for name, v in seconds.items()}, plans


def commands(data: Path, repeats: int, share: float, work: Path) -> dict:
    """Median wall seconds of `prodsched run` and of `prodsched replan` of the same data (see
    the module docstring); both verified, the same files written."""
    env = {**os.environ, "PRODSCHED_STORE": str(work / "sessions.db"), "PYTHONPATH": str(ROOT)}
    env.pop("PRODSCHED_REDIS_URL", None)
    prodsched = [sys.executable, "-m", "prodsched"]

    def command(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([*prodsched, *args, "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    previous = work / f"prev_{data.name}"
    command("run", str(data), "--out", str(previous))
    starts = sorted(read_schedule_csv(previous / "schedule.csv")["start_time"])
    now = starts[min(len(starts) - 1, math.ceil(share * len(starts)))].strftime("%Y-%m-%d %H:%M")
    seconds: dict = {"run_cmd_s": [], "replan_cmd_s": []}
    for r in range(repeats):
        plain, replanned = work / f"run_{data.name}_{r}", work / f"replan_{data.name}_{r}"
        seconds["run_cmd_s"].append(command("run", str(data), "--out", str(plain)))
        seconds["replan_cmd_s"].append(command("replan", str(data), "--from", str(previous), "--now", now,
                                               "--out", str(replanned)))
        for folder in (plain, replanned):
            kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
            if kpis["violations"]:
                raise SystemExit(f"{folder}: {kpis['violations']} violation(s)")
        written = {p.name for p in plain.iterdir()}
        if {p.name for p in replanned.iterdir()} != written | {"changes.csv"}:
            raise SystemExit(f"the re-plan wrote other files than the run: {sorted(written)}")
    return {name: statistics.median(v) for name, v in seconds.items()}


def bench(orders: int, repeats: int, share: float, work: Path, command_repeats: int = 0) -> dict:
    data = write_sample(work / f"data_{orders}", orders=orders, seed=0)
    params = Params(data=str(data))
    artifacts: dict = {}
    for name in STAGES[:4]:
        artifacts.update(run_stage(name, artifacts, params).artifacts)
    instance = build_instance(artifacts["dag"], artifacts)
    plain = engine.schedule(instance)
    starts = sorted(a.start for a in plain.assignments)
    now = starts[min(len(starts) - 1, math.ceil(share * len(starts)))]
    pins = {a.op_id: (a.machine, a.start) for a in plain.assignments if a.start < now}
    pinned = engine.Instance(instance.operations, instance.machines, instance.class_setup,
                             instance.horizon, now=now, pins=pins)
    secs, plans = timed({"native_s": (instance, "native"), "replan_s": (pinned, "native"),
                         "python_s": (instance, "python"), "replan_py_s": (pinned, "python")}, repeats)
    replanned = plans["replan_s"]
    if replanned.assignments != plans["replan_py_s"].assignments:
        raise SystemExit("the compiled and Python timelines re-planned differently")
    moved = sum(1 for a in replanned.assignments if a.op_id in pins and pins[a.op_id] != (a.machine, a.start))
    if moved:
        raise SystemExit(f"{moved} pinned operation(s) moved")
    whole = commands(Path(data), command_repeats, share, work) if command_repeats else {}
    return {"orders": orders, "operations": len(instance), "pinned": len(pins),
            "share": len(pins) / len(instance), **secs, **whole}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, nargs="+", default=[1500])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--pinned", type=float, default=0.2, help="share of operations pinned (default 0.2)")
    ap.add_argument("--command-repeats", type=int, default=3,
                    help="rounds of the whole commands `prodsched run` / `replan` (0: engine only)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(n, args.repeats, args.pinned, Path(tmp), args.command_repeats) for n in args.orders]
    lines = [
        "# Re-planning with pins vs a plain run",
        "",
        f"{dt.date.today().isoformat()}, {cpu_name()}, Python {platform.python_version()}; "
        f"`python benchmarks/replan.py --orders {' '.join(map(str, args.orders))} --repeats {args.repeats} "
        f"--pinned {args.pinned} --command-repeats {args.command_repeats}`. Engine (default rule `window`, "
        f"dispatch): median of {args.repeats} interleaved rounds; every schedule verified, the pins unmoved, "
        "the two timelines' re-plans identical.",
        "",
        "| orders | operations | pinned | plain compiled (s) | re-plan compiled (s) | ratio "
        "| plain Python (s) | re-plan Python (s) | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['orders']:,} | {r['operations']:,} | {r['pinned']:,} ({100 * r['share']:.0f} %) "
                     f"| {r['native_s']:.4f} | {r['replan_s']:.4f} | {r['replan_s'] / r['native_s']:.2f} "
                     f"| {r['python_s']:.4f} | {r['replan_py_s']:.4f} | {r['replan_py_s'] / r['python_s']:.2f} |")
    lines += ["", "ratio = re-plan / plain on the same timeline. With the compiled loader the pins are checked "
              "and placed in its arrays (`NativeCore.place_pins`, the rules of engine/pins.py `check_pins`) before "
              "the compiled loops run; the Python timeline checks and places them in Python.", ""]
    if args.command_repeats:
        lines += [
            "The whole command, as a user waits for it: `prodsched run DATA --out A` against `prodsched replan "
            "DATA --from prev --now T --out B` (prev: a first run of DATA; T: the start at the same quantile of "
            "prev's schedule), subprocess wall time including start-up, loading and checking the data, stages "
            f"1-6 and writing the same result files (all kinds; the re-plan also changes.csv); median of "
            f"{args.command_repeats} interleaved rounds, 0 violations each.",
            "",
            "| orders | operations | `prodsched run` (s) | `prodsched replan` (s) | ratio |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(f"| {r['orders']:,} | {r['operations']:,} | {r['run_cmd_s']:.2f} | {r['replan_cmd_s']:.2f} "
                         f"| {r['replan_cmd_s'] / r['run_cmd_s']:.2f} |")
        lines.append("")
    RESULT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
