"""Timing of stages 1-4 (load, preprocess, yield, dag) on generated factories.

    python benchmarks/stages.py                         # 150, 1,500 and 15,000 orders, median of 3
    python benchmarks/stages.py --sizes 150 1500 --repeats 5

Each factory is written once as CSV with ``prodsched.inputs.sample.write_sample`` (seed 0, not timed);
every repeat then runs the four stage functions in-process on it, one after another, and each is
timed on its own. The table (medians per stage) goes to benchmarks/results/stages.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "stages.md"
STAGES = ("load", "preprocess", "yield", "dag")


def run_once(data: Path) -> tuple[dict[str, float], dict[str, int]]:
    from prodsched.params import Params
    from prodsched.stages import run_stage

    params = Params(data=str(data))
    inputs: dict = {}
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for stage in STAGES:
        t0 = time.perf_counter()
        result = run_stage(stage, inputs, params)
        seconds[stage] = time.perf_counter() - t0
        inputs.update(result.artifacts)
        if stage == "preprocess":
            counts.update(jobs=result.summary["jobs"], unable=result.summary["unable"])
        if stage == "dag":
            counts.update(operations=result.summary["nodes"], lower_bound=result.summary["lower_bound"])
    return seconds, counts


def machine_text() -> str:
    cpu = cpu_name()
    return (f"{cpu}, {os.cpu_count()} logical cores; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def table(rows: list[dict], repeats: int) -> str:
    lines = [
        "# Stages 1-4 timing",
        "",
        f"Run {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on {machine_text()}.",
        f"Generated factories (`prodsched.inputs.sample`, seed 0, CSV folder); seconds are medians of {repeats} "
        "in-process runs of each stage function. `2-4` is preprocess + yield + dag.",
        "",
        "| orders | jobs | unable | operations | load s | preprocess s | yield s | dag s | 2-4 s | 1-4 s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["seconds"]
        lines.append(f"| {r['orders']:,} | {r['jobs']:,} | {r['unable']:,} | {r['operations']:,} | "
                     f"{s['load']:.2f} | {s['preprocess']:.2f} | {s['yield']:.2f} | {s['dag']:.2f} | "
                     f"{s['2-4']:.2f} | {s['1-4']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 1500, 15000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT, help="markdown file for the table")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from prodsched.inputs.sample import write_sample

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"factory_{n}"
            write_sample(data, orders=n, seed=0)
            runs = []
            for i in range(args.repeats):
                seconds, counts = run_once(data)
                seconds["2-4"] = seconds["preprocess"] + seconds["yield"] + seconds["dag"]
                seconds["1-4"] = seconds["2-4"] + seconds["load"]
                runs.append(seconds)
                print(f"{n} orders, run {i + 1}/{args.repeats}: "
                      + ", ".join(f"{k} {v:.2f}s" for k, v in seconds.items()), flush=True)
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            rows.append({"orders": n, "seconds": median, **counts})
    text = table(rows, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
