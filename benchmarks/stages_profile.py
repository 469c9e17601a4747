"""`prodsched run` of two source trees side by side: wall, CPU and each stage's seconds, paired.

    python benchmarks/stages_profile.py --base /path/to/other/checkout --sizes 1500 15000 --rounds 5
    python benchmarks/stages_profile.py --base ../main --outputs csv,json --out results/stages_profile.md

Each size is generated once (``prodsched sample --orders N --seed 0``, with this tree). Every round
then runs ``python -m prodsched run`` once with ``PYTHONPATH`` set to the base tree and once with
this tree, in alternating order (base first in odd rounds), so both see the same load of a shared
machine; the ratio of each pair (this / base) is the figure to trust, its median is reported.
Wall and CPU (user + system of the command and the children it waited for) come from the child's
resource usage; stage seconds from ``prodsched status --json`` of the run's session. Both trees'
outputs are compared file by file (results.xlsx by its sheets' cell values), and a difference
fails the benchmark.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from end_to_end import ROOT, STAGES, run_child, stage_seconds


def _env(tree: Path, store: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "PRODSCHED_STORE": store}


def run_tree(tree: Path, store: str, *args) -> tuple[float, float, str]:
    """(wall s, CPU s, stdout) of ``python -m prodsched *args`` importing prodsched from ``tree``."""
    wall, usage, out = run_child(_env(tree, store), *args, cwd=tree)
    return wall, usage.ru_utime + usage.ru_stime, out


def same_outputs(a: Path, b: Path) -> list[str]:
    """Names of the files that differ between two output folders (results.xlsx by cell values)."""
    differ = []
    for name in sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}):
        pa, pb = a / name, b / name
        if not (pa.exists() and pb.exists()):
            differ.append(name)
        elif name == "run.json":
            continue  # names the session and the times of the run
        elif name.endswith(".xlsx"):
            import pandas as pd

            sa, sb = pd.read_excel(pa, sheet_name=None), pd.read_excel(pb, sheet_name=None)
            if sa.keys() != sb.keys() or any(not sa[k].equals(sb[k]) for k in sa):
                differ.append(name)
        elif pa.read_bytes() != pb.read_bytes():
            differ.append(name)
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the other source tree (its root folder)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1500, 15000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--outputs", help="--outputs of the runs (default: all files)")
    parser.add_argument("--out", type=Path, help="markdown file for the table (default: print only)")
    args = parser.parse_args(argv)
    trees = {"base": args.base.resolve(), "this": ROOT}
    lines = [f"| orders | tree | wall s | CPU s | {' | '.join(STAGES)} | wall ratio | CPU ratio |",
             "|---:|---|---:|---:|" + "---:|" * len(STAGES) + "---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = f"sqlite:///{work / 'sessions.db'}"
        for n in args.sizes:
            data = work / f"data_{n}"
            run_tree(ROOT, store, "sample", "--orders", n, "--seed", 0, "--out", data)
            runs: dict[str, list[dict]] = {"base": [], "this": []}
            for r in range(args.rounds):
                for tag in (("base", "this") if r % 2 == 0 else ("this", "base")):
                    out = work / f"out_{n}_{tag}_{r}"
                    extra = ["--outputs", args.outputs] if args.outputs else []
                    wall, cpu, stdout = run_tree(trees[tag], store, "run", data, "--out", out, "--quiet", *extra)
                    stages = stage_seconds(_env(trees[tag], store), stdout.split()[1], cwd=trees[tag])
                    runs[tag].append({"wall": wall, "cpu": cpu, "stages": stages, "out": out})
                    print(f"{n:,} orders, round {r + 1}, {tag}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
                differ = same_outputs(runs["base"][-1]["out"], runs["this"][-1]["out"])
                if differ:
                    raise SystemExit(f"{n:,} orders: the trees' outputs differ in {', '.join(differ)}")
            ratio = {k: statistics.median(t[k] / b[k] for b, t in zip(runs["base"], runs["this"]))
                     for k in ("wall", "cpu")}
            for tag in ("base", "this"):
                med = {k: statistics.median(x[k] for x in runs[tag]) for k in ("wall", "cpu")}
                st = " | ".join(f"{statistics.median(x['stages'].get(s, 0.0) for x in runs[tag]):.2f}"
                                for s in STAGES)
                tail = f"{ratio['wall']:.2f} | {ratio['cpu']:.2f}" if tag == "this" else " | "
                lines.append(f"| {n:,} | {tag} | {med['wall']:.2f} | {med['cpu']:.2f} | {st} | {tail} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
