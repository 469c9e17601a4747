"""Re-planning cost: the engine on 1,500 orders with ~20 % of the operations pinned, against a plain
run of the same instance.

    python benchmarks/replan.py                       # 1,500 orders, 5 repeats
    python benchmarks/replan.py --orders 1500 15000 --repeats 3 --pinned 0.2

The factory is generated with the sample generator (seed 0) and taken through stages 1-4 once;
the engine is then timed on the instance (medians of ``--repeats``): a plain run on the compiled
and on the Python timeline, and a re-plan whose ``now`` is the start of the operation at the
``--pinned`` quantile of the plain schedule's starts, every operation starting before it pinned
(the re-plan of `prodsched replan`), on the compiled timeline (set up by the Python columns, as
every pinned instance is) and on the Python one. Every schedule is verified (0 violations), the
pins checked unmoved, or the benchmark fails. The table goes to benchmarks/results/replan.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import platform
import statistics
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
from prodsched.stages import STAGES, run_stage  # noqa: E402
from prodsched.stages.schedule import build_instance  # noqa: E402


def timed(instance: engine.Instance, repeats: int, **options) -> tuple[float, engine.Schedule]:
    seconds = []
    plan = None
    for _ in range(repeats):
        started = time.perf_counter()
        plan = engine.schedule(instance, options=options)
        seconds.append(time.perf_counter() - started)
    problems = engine.verify(instance, plan)
    if problems:
        raise SystemExit(f"{len(problems)} violation(s): {problems[0].message}")
    return statistics.median(seconds), plan


def bench(orders: int, repeats: int, share: float, work: Path) -> dict:
    data = write_sample(work / f"data_{orders}", orders=orders, seed=0)
    params = Params(data=str(data))
    artifacts: dict = {}
    for name in STAGES[:4]:
        artifacts.update(run_stage(name, artifacts, params).artifacts)
    instance = build_instance(artifacts["dag"], artifacts)
    native_s, plain = timed(instance, repeats, timeline="native")
    python_s, _ = timed(instance, repeats, timeline="python")
    starts = sorted(a.start for a in plain.assignments)
    now = starts[min(len(starts) - 1, math.ceil(share * len(starts)))]
    pins = {a.op_id: (a.machine, a.start) for a in plain.assignments if a.start < now}
    pinned = engine.Instance(instance.operations, instance.machines, instance.class_setup,
                             instance.horizon, now=now, pins=pins)
    replan_s, replanned = timed(pinned, repeats, timeline="native")
    replan_py_s, replanned_py = timed(pinned, repeats, timeline="python")
    if replanned.assignments != replanned_py.assignments:
        raise SystemExit("the compiled and Python timelines re-planned differently")
    moved = sum(1 for a in replanned.assignments if a.op_id in pins and pins[a.op_id] != (a.machine, a.start))
    if moved:
        raise SystemExit(f"{moved} pinned operation(s) moved")
    return {"orders": orders, "operations": len(instance), "pinned": len(pins),
            "share": len(pins) / len(instance), "native_s": native_s, "python_s": python_s,
            "replan_s": replan_s, "replan_py_s": replan_py_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, nargs="+", default=[1500])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pinned", type=float, default=0.2, help="share of operations pinned (default 0.2)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(n, args.repeats, args.pinned, Path(tmp)) for n in args.orders]
    lines = [
        "# Re-planning with pins vs a plain run",
        "",
        f"{dt.date.today().isoformat()}, {cpu_name()}, Python {platform.python_version()}; "
        f"`python benchmarks/replan.py --orders {' '.join(map(str, args.orders))} --repeats {args.repeats} "
        f"--pinned {args.pinned}`. Engine only (default rule `window`, dispatch), median of "
        f"{args.repeats}; every schedule verified.",
        "",
        "| orders | operations | pinned | plain compiled (s) | re-plan compiled (s) | ratio "
        "| plain Python (s) | re-plan Python (s) | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['orders']:,} | {r['operations']:,} | {r['pinned']:,} ({100 * r['share']:.0f} %) "
                     f"| {r['native_s']:.4f} | {r['replan_s']:.4f} | {r['replan_s'] / r['native_s']:.2f} "
                     f"| {r['python_s']:.4f} | {r['replan_py_s']:.4f} | {r['replan_py_s'] / r['python_s']:.2f} |")
    lines += ["", "ratio = re-plan / plain on the same timeline. A pinned instance is set up by the Python "
              "columns (the compiled loader does not take pins), which is most of the compiled ratio.", ""]
    RESULT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
