"""End-to-end timing of ``prodsched run`` on generated factories of growing size.

    python benchmarks/end_to_end.py                          # 1,500, 15,000 and 150,000 orders
    python benchmarks/end_to_end.py --sizes 1500 15000 --rounds 3
    python benchmarks/end_to_end.py --profile 15000 --profile-out results/profile_15000_after.txt

Each size is generated once with ``prodsched sample --orders N --seed 0``. ``prodsched run`` is
then timed as a subprocess (interpreter start-up included, as a user sees it) in rounds: every
round runs each size once (the largest size only in the first round, it is slow), so the growth
per 10x orders is the median of ratios of runs made side by side, which cancels most of the noise
of a shared machine. Per-stage seconds come from the session's status, peak RSS from the child's
resource usage. ``--outputs`` runs the smallest size once more with only those files. The table
goes to benchmarks/results/end_to_end.md.

``--profile N`` instead profiles one in-process run of N orders with cProfile in every thread
(the stages run in a worker thread) and writes the top 15 functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import compileall
import cProfile
import datetime as dt
import itertools
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "end_to_end.md"
STAGES = ("load", "preprocess", "yield", "dag", "schedule", "results")
BIG = 100_000  # sizes from here on run in the first round only


def prodsched(env, *args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "prodsched", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"prodsched {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def run_child(env, *args, cwd: Path = ROOT) -> tuple[float, Any, str]:
    """Run ``python -m prodsched *args`` in ``cwd`` (the tree it imports first); (wall seconds,
    the resource usage of that one child, stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "prodsched", *map(str, args)], env=env, cwd=cwd,
                                stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cwd}: prodsched {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                             f"{err.read()}")
        return wall, usage, out.read()


def timed_run(env, *args) -> tuple[float, float, str]:
    """Run ``prodsched *args``; (wall seconds, peak RSS in MB, stdout) of that one child."""
    wall, usage, out = run_child(env, *args)
    return wall, usage.ru_maxrss / 1024, out


def stage_seconds(env, session_id: str, cwd: Path = ROOT) -> dict[str, float]:
    status = json.loads(prodsched(env, "status", session_id, "--json", cwd=cwd).stdout)
    return {s["name"]: float(s.get("elapsed_s") or 0.0) for s in status.get("stages", [])}


class Size:
    def __init__(self, n: int, work: Path, env):
        self.n, self.data, self.runs = n, work / f"data_{n}", []
        prodsched(env, "sample", "--orders", n, "--seed", 0, "--out", self.data)

    def run(self, env, work: Path, tag: str, outputs: str | None = None) -> dict:
        out = work / f"out_{self.n}_{tag}"
        extra = ["--outputs", outputs] if outputs else []
        wall, rss, stdout = timed_run(env, "run", self.data, "--out", out, "--quiet", *extra)
        kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
        if kpis.get("violations") != 0:
            raise SystemExit(f"{self.n} orders: the schedule has {kpis.get('violations')} violation(s)")
        sid = stdout.split()[1]
        record = {"wall": wall, "rss": rss, "stages": stage_seconds(env, sid), "kpis": kpis}
        print(f"  {self.n:,} orders{' --outputs ' + outputs if outputs else ''}: {wall:.2f} s, "
              f"{rss:.0f} MB", flush=True)
        return record


def run_rounds(sizes: list[int], rounds: int, outputs: str | None, work: Path, env) -> tuple[list, dict]:
    bench = [Size(n, work, env) for n in sizes]
    lean = []
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        for b in bench:
            if b.n < BIG or r == 0:
                b.runs.append(b.run(env, work, f"r{r}"))
        if outputs:
            lean.append(bench[0].run(env, work, f"lean{r}", outputs))
    return bench, {"outputs": outputs, "runs": lean, "n": bench[0].n} if outputs else {}


def median_run(runs: list[dict]) -> dict:
    walls = [r["wall"] for r in runs]
    return runs[walls.index(sorted(walls)[(len(walls) - 1) // 2])]


def growth(small: Size, big: Size) -> tuple[float, int]:
    """Median of big/small wall-time ratios of the same round; and how many pairs."""
    pairs = list(zip(small.runs, big.runs))
    return statistics.median(b["wall"] / s["wall"] for s, b in pairs), len(pairs)


def machine_text() -> str:
    cpu = cpu_name()
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
        mem_text = f", {mem:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        mem_text = ""
    return (f"{cpu}, {os.cpu_count()} logical cores{mem_text}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=False,
                              text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def write_table(bench: list[Size], lean: dict, path: Path, notes: str) -> str:
    lines = [
        "# End-to-end: `prodsched run`",
        "",
        f"Date: {dt.date.today().isoformat()} · commit {commit()} · machine: {machine_text()}",
        "",
        ("Generated factories (`prodsched sample --orders N --seed 0`), default parameters (window rule, "
        "5-day window, 30-minute slots), SQLite session store. Wall time of the whole command "
        "(interpreter start, all six stages, every result file incl. results.xlsx and the Gantt files); "
        "median of the runs shown (prodsched's modules compiled to bytecode first, as a user's runs read "
        "them); peak RSS of that process (or of the gantt.png process it waits for, "
        "when larger). Stage columns: seconds of that stage in the median run (from the session's status)."),
        "",
        "| orders | operations | machines | runs | wall s | " + " | ".join(STAGES)
        + " | results % | peak RSS MB | makespan days | late orders | violations |",
        "|---:|---:|---:|---:|---:|" + "---:|" * len(STAGES) + "---:|---:|---:|---:|---:|",
    ]
    for b in bench:
        r, k = median_run(b.runs), median_run(b.runs)["kpis"]
        st = " | ".join(f"{r['stages'][s]:.2f}" if s in r["stages"] else "–" for s in STAGES)
        share = 100 * r["stages"].get("results", 0.0) / r["wall"]
        lines.append(f"| {b.n:,} | {k.get('operations', 0):,} | {k.get('machines', 0)} | {len(b.runs)} | "
                     f"{r['wall']:.2f} | {st} | {share:.0f} | {r['rss']:.0f} | {k.get('makespan_days', 0):.1f} | "
                     f"{k.get('late_orders', 0):,} | {k.get('violations', '?')} |")
    lines += ["", "Growth of the wall time per 10x orders, median of the ratios of runs made in the same round:", ""]
    for small, big in itertools.pairwise(bench):
        ratio, pairs = growth(small, big)
        lines.append(f"- {small.n:,} -> {big.n:,} orders: **{ratio:.1f}x** ({pairs} pair{'s' if pairs > 1 else ''})")
    if lean:
        walls = [r["wall"] for r in lean["runs"]]
        lines += ["", (f"With `--outputs {lean['outputs']}` ({lean['n']:,} orders, {len(walls)} runs): "
                  f"median **{statistics.median(walls):.2f} s** wall.")]
    lines += ["", notes.strip(), "",
              ("Reproduce: `python benchmarks/end_to_end.py` (sizes, rounds and --outputs are options); "
              "the profiles beside this table: `python benchmarks/end_to_end.py --profile 15000 "
              "--profile-out benchmarks/results/profile_15000_after.txt`."), ""]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


# --------------------------------------------------------------------------- profile

def profile(n: int, out_file: Path, work: Path, env) -> str:
    """One in-process ``prodsched run`` of ``n`` orders under cProfile in every thread."""
    data = work / f"data_{n}"
    prodsched(env, "sample", "--orders", n, "--seed", 0, "--out", data)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    profiles: list[cProfile.Profile] = []
    original = threading.Thread.run

    def run(self):  # profile each thread's body (the stages run in a worker thread)
        p = cProfile.Profile()
        profiles.append(p)
        p.enable()
        try:
            original(self)
        finally:
            p.disable()

    threading.Thread.run = run
    main = cProfile.Profile()
    t0 = time.perf_counter()
    main.enable()
    from prodsched.cli import main as cli_main

    code = cli_main(["run", str(data), "--out", str(work / f"profile_{n}"), "--quiet"])
    main.disable()
    wall = time.perf_counter() - t0
    threading.Thread.run = original
    if code != 0:
        raise SystemExit(f"prodsched run failed ({code})")
    waiting = ("threading.py", "method 'acquire'", "built-in method time.sleep", "store/lease.py",
               "concurrent/futures/thread.py", "SimpleQueue", "method 'readline'",
               "gantt_process.py:_ask")  # idle, or waiting for the process drawing gantt.png

    def work(k) -> bool:
        return not any(w in f"{k[0]}:{k[2]}" for w in waiting)

    def drawing(func: str) -> float:
        return sum(v[3] for p in profiles for k, v in pstats.Stats(p).stats.items()
                   if k[0].endswith("results/gantt_process.py") and k[2] == func)

    png_wait, png_draw = drawing("result"), drawing("_ask")
    main_stats = pstats.Stats(main)
    main_work = sum(v[2] for k, v in main_stats.stats.items() if work(k))
    stats = pstats.Stats(main)
    for p in profiles:
        stats.add(p)
    threads = pstats.Stats(profiles[0])
    for p in profiles[1:]:
        threads.add(p)

    def name(k) -> str:
        file, line, func = k
        short = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        return f"{func}  ({short}:{line})" if line else func

    def table(source: pstats.Stats, key: int, title: str) -> list[str]:
        rows = [(k, v) for k, v in source.stats.items() if work(k)]
        out = [title, "", "| # | seconds | calls | function |", "|---:|---:|---:|---|"]
        for i, (k, v) in enumerate(sorted(rows, key=lambda kv: -kv[1][key])[:15], start=1):
            out.append(f"| {i} | {v[key]:.3f} | {v[1]:,} | `{name(k)}` |")
        return out

    lines = [f"# Profile: `prodsched run` on {n:,} generated orders (all result files)", "",
             f"Date: {dt.date.today().isoformat()} · commit {commit()} · machine: {machine_text()}", "",
             (f"cProfile in every thread, in one process (`python benchmarks/end_to_end.py --profile {n}`); "
              f"wall {wall:.1f} s under the profiler (it slows pure-Python code, often 1.5-2x). The stages run "
              f"in a worker thread; the main thread's own work (command line, imports, store reads; waiting "
              f"for the worker left out) took {main_work:.1f} s. gantt.png is drawn in a child process, which "
              f"is not profiled: {png_draw:.1f} s from request to answer, of which stage 6 waited "
              f"{png_wait:.1f} s at its end."), ""]
    lines += table(threads, 3, "## Top 15 by cumulative time, in the stage worker threads")
    lines += [""] + table(stats, 2, "## Top 15 by own time, all threads (waiting left out)")
    text = "\n".join(lines + [""])
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text, encoding="utf-8")
    return text


def compile_package() -> None:
    """Compile prodsched's modules to bytecode first: a user's runs read cached bytecode (Python
    writes it on a module's first import, and installing a package compiles it). With
    ``PYTHONDONTWRITEBYTECODE`` set, as on this machine, every run would otherwise compile
    prodsched's sources again (about 0.1 s of each run)."""
    if not compileall.compile_dir(ROOT / "prodsched", quiet=1):
        raise SystemExit("compiling prodsched's modules to bytecode failed")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1500, 15000, 150000])
    ap.add_argument("--rounds", type=int, default=3, help=f"rounds of runs (sizes of {BIG:,}+ run in the first only)")
    ap.add_argument("--outputs", default="csv,json", help="also time the smallest size with these outputs ('' = skip)")
    ap.add_argument("--notes", type=Path, help="a text file appended under the table (where the time goes)")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--profile", type=int, metavar="N", help="profile one run of N orders instead")
    ap.add_argument("--profile-out", type=Path, help="where the profile goes (default results/profile_N.txt)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prodsched-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PRODSCHED_STORE": str(work / "sessions.db"), "MPLBACKEND": "Agg"}
        env.pop("PRODSCHED_REDIS_URL", None)
        compile_package()
        if args.profile:
            target = args.profile_out or RESULT.parent / f"profile_{args.profile}.txt"
            print(profile(args.profile, target, work, env))
            return 0
        bench, lean = run_rounds(sorted(args.sizes), args.rounds, args.outputs or None, work, env)
    notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    print(write_table(bench, lean, args.out, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
