"""Schedule quality on the FJSP with changeovers: Brandimarte mk01-mk10 with a fixed recipe.

    python benchmarks/quality_changeovers.py                      # mk01-mk10, every method
    python benchmarks/quality_changeovers.py --instances mk01 --no-cpsat --out /tmp/c.md

Recipe (``prodsched.inputs.fjsp``, ``changeovers=True``; durations stay the instance's): with jobs
j and operations o counted from 0 and machines i from 1, operation class C{(j + o) % 3 + 1},
mixture X{j % 4 + 1} (the job's), width 1000/1300/1500 mm for j % 3 = 0/1/2; a class change
costs 2 slots and a mixture change within a class 1 slot (on every machine); machine i's width
change costs 1 + i % 3 slots to a narrower and i % 2 slots to a wider operation; the setup
before an operation is the larger of the two, none on a machine's first operation.

Every instance goes through the whole pipeline (FJSPLIB -> the 12 input tables -> stages 1-5),
once per built-in rule (objective ``makespan``: it chooses among ``mwkr_es``'s passes), then
with the optimiser (objective ``makespan``, a fixed iteration budget, a 10 s cap) from the best
rule's schedule, then with the engine's CP-SAT model (``solver="cpsat"``: the engine's setup
semantics, 10 s, 2 workers, hinted with the best rule's schedule, never worse than it). Every
schedule must pass the verifier with 0 violations. There is no best-known value for this family:
makespans are compared with CP-SAT's schedule and with CP-SAT's proven bound. Writes
benchmarks/results/quality_changeovers.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality import (BKS, DATA, IMPROVE, IMPROVE_CAP_S, IMPROVE_ITERATIONS, INSTANCES, RULE_NAMES,
                     BenchmarkFailure, _git_commit, _ortools_version, prepare, run_rule)

from prodsched.inputs.fjsp import read_fjs

OUT = HERE / "results" / "quality_changeovers.md"
CPSAT = "CP-SAT"
CPSAT_S = 10.0
CPSAT_WORKERS = 2
CPSAT_WORK_UNITS = 1e9  # deterministic budget far above 10 s: the wall-clock limit decides


def run_instance(name: str, iterations: int, cap_s: float, cpsat_s: float | None) -> dict:
    instance = read_fjs(DATA / f"{name}.fjs")
    inputs, params = prepare(instance, changeovers=True)
    row = {"name": name, "jobs": instance.n_jobs, "machines": instance.n_machines,
           "ops": instance.n_operations, "runs": {}}
    runs = row["runs"]
    for rule in RULE_NAMES:
        runs[rule] = run_rule(instance, inputs, params, rule, {"rule": rule, "objective": "makespan"})
    best = min(RULE_NAMES, key=lambda r: (runs[r]["makespan"], runs[r]["setups"]))  # first of equals
    runs["best rule"] = {**runs[best], "rule": best}
    runs[IMPROVE] = run_rule(instance, inputs, params, IMPROVE, {
        "rule": best, "objective": "makespan", "improve_iterations": iterations, "time_limit_s": cap_s})
    if cpsat_s:
        runs[CPSAT] = run_rule(instance, inputs, params, CPSAT, {
            "rule": best, "objective": "makespan", "solver": "cpsat", "time_limit_s": cpsat_s,
            "extra": {"solver_options": {"workers": CPSAT_WORKERS, "work_units": CPSAT_WORK_UNITS}}})
        bound = runs[CPSAT]["bound"]
        if bound is not None and any(r["makespan"] < bound for r in runs.values()):
            raise BenchmarkFailure(f"{name}: a makespan below CP-SAT's proven bound {bound}")
    return row


# --------------------------------------------------------------------------- report
def _gap(value: int, ref: float | None) -> float | None:
    return None if not ref else 100.0 * (value - ref) / ref


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} %"


def render(rows: list[dict], columns: list[str], cpsat_s: float | None, iterations: int,
           cap_s: float, total_s: float) -> str:
    has_cpsat = CPSAT in columns
    lines = [
        "# Schedule quality on the FJSP with changeovers (Brandimarte mk01–mk10 + a recipe)",
        "",
        ("Rerun: `python benchmarks/quality_changeovers.py` (about four minutes: up to 10 s of "
         "optimiser and 10 s of CP-SAT per instance; `--help` for options)."),
        "",
        f"- date: {dt.date.today().isoformat()}; commit {_git_commit()}; total run time {total_s:.0f} s",
        (f"- machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()} "
         f"({platform.system()}), OR-Tools {_ortools_version()}"),
        ("- recipe (`fjsp_to_tables(..., changeovers=True)`; durations = the instance's): jobs j and "
         "operations o from 0, machines i from 1; operation class C{(j + o) % 3 + 1}; mixture "
         "X{j % 4 + 1}; width 1000 / 1300 / 1500 mm for j % 3 = 0 / 1 / 2; class change 2 slots, "
         "mixture change within a class 1 slot; machine i's width change 1 + i % 3 slots to narrower, "
         "i % 2 to wider; setup = the larger of the two, none on a machine's first operation."),
        ("- every instance runs through the whole pipeline (FJSPLIB -> the 12 input tables -> "
         "stages 1-5, 30-minute slots); every schedule is checked by the verifier (0 violations, "
         "setups included, else the benchmark fails)."),
        ("- rules: " + ", ".join(f"`{r}`" for r in RULE_NAMES) + " (default parameters, seed 0, "
         "objective `makespan`, which only chooses among `mwkr_es`'s 4 passes); `best rule` = the "
         "best per instance by makespan, then setup slots."),
        (f"- `{IMPROVE}`: the optimiser (`objective=\"makespan\"`, `improve_iterations={iterations}`, "
         f"`time_limit_s={cap_s:g}` as a cap, seed 0) from the best rule's schedule, in stage 5. "
         "Objective makespan because the family is compared on makespan; setup slots are reported "
         "beside it."),
        (f"- {CPSAT}: the engine's model (`solver=\"cpsat\"` in stage 5: the engine's setup semantics, "
         f"objective makespan), {cpsat_s:g} s wall limit, {CPSAT_WORKERS} workers, seed 0, hinted with "
         "the best rule's schedule (it returns the hint when it finds nothing better: `start kept`); "
         "OPTIMAL = proven optimal, UNKNOWN = no schedule of its own. With 2 workers and a wall-clock "
         "limit it is not reproducible run to run."
         if has_cpsat else f"- {CPSAT}: not run."),
        ("- no best-known values exist for this family: `vs CP-SAT` = (makespan − CP-SAT's "
         "makespan) / CP-SAT's makespan; `bound` = CP-SAT's proven lower bound on the makespan "
         "(the larger of it and the instance's FJSP lower bound from bks.json); `vs bound` = the "
         "gap to that bound."),
        "",
        "## Makespan / setup slots (gap to CP-SAT's makespan)",
        "",
        "| instance | size | bound | " + " | ".join(columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for r in rows:
        ref = r["runs"][CPSAT]["makespan"] if has_cpsat else None
        cells = []
        for c in columns:
            run = r["runs"][c]
            cell = f"{run['makespan']} / {run['setups']}"
            if has_cpsat and c != CPSAT:
                cell += f" ({_pct(_gap(run['makespan'], ref))})"
            if c == "best rule":
                cell += f" {run['rule']}"
            if c == CPSAT and run.get("status"):
                cell += f" {str(run['status']).lower()}" + ("" if run.get("improved") else ", start kept")
            cells.append(cell)
        lines.append(f"| {r['name']} | {r['jobs']}×{r['machines']}, {r['ops']} ops | {_bound(r)} | "
                     + " | ".join(cells) + " |")
    if has_cpsat:
        means = [statistics.mean(_gap(r["runs"][c]["makespan"], r["runs"][CPSAT]["makespan"]) for r in rows)
                 for c in columns]
        lines.append("| **mean gap to CP-SAT** | | | " + " | ".join(f"**{m:+.1f} %**" for m in means) + " |")
        means = [statistics.mean(_gap(r["runs"][c]["makespan"], _bound(r)) for r in rows) for c in columns]
        lines.append("| **mean gap to the bound** | | | " + " | ".join(f"**{m:+.1f} %**" for m in means)
                     + " |")
    lines += ["", "## Time per run (s)", "",
              "| instance | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for r in rows:
        lines.append(f"| {r['name']} | " + " | ".join(_time(r["runs"][c]) for c in columns) + " |")
    capped = [r["name"] for r in rows if r["runs"][IMPROVE].get("capped")]
    lines += ["", ("Stage-5 wall time without the verifier; `n it` = optimiser iterations done, "
                   "`capped` = the 10 s cap cut the budget (then the result depends on the machine's "
                   f"speed; {len(capped)} of {len(rows)} here{': ' + ', '.join(capped) if capped else ''})."),
              "", "## Summary", ""]
    found = sum(1 for r in rows if r["runs"][IMPROVE]["makespan"] is not None)
    lines.append(f"- `{IMPROVE}` found a verified schedule on {found} of {len(rows)} instances.")
    if has_cpsat:
        for c in ("best rule", IMPROVE, CPSAT):
            mean = statistics.mean(_gap(r["runs"][c]["makespan"], r["runs"][CPSAT]["makespan"]) for r in rows)
            mean_b = statistics.mean(_gap(r["runs"][c]["makespan"], _bound(r)) for r in rows)
            mean_s = statistics.mean(r["runs"][c]["setups"] for r in rows)
            lines.append(f"- {c}: mean gap to CP-SAT's makespan **{mean:+.1f} %**, to the bound "
                         f"**{mean_b:+.1f} %**; mean setup slots {mean_s:.1f}")
        kept = sum(1 for r in rows if not r["runs"][CPSAT].get("improved"))
        lines.append(f"- CP-SAT kept its start (the best rule's schedule) on {kept} of {len(rows)} instances.")
        wins = sum(1 for r in rows if r["runs"][IMPROVE]["makespan"] < r["runs"][CPSAT]["makespan"])
        ties = sum(1 for r in rows if r["runs"][IMPROVE]["makespan"] == r["runs"][CPSAT]["makespan"])
        lines.append(f"- `{IMPROVE}` shorter than CP-SAT on {wins}, equal on {ties}, longer on "
                     f"{len(rows) - wins - ties} of {len(rows)} instances.")
    return "\n".join(lines) + "\n"


def _bound(row: dict) -> int:
    """The larger of CP-SAT's proven makespan bound (when run) and the FJSP lower bound."""
    low = BKS[row["name"]][0]
    bound = row["runs"].get(CPSAT, {}).get("bound")
    return max(low, int(bound)) if bound is not None else low


def _time(run: dict) -> str:
    done = run.get("iterations", 0)
    return f"{run['time_s']:.2f}" + (f" ({done} it{', capped' if run.get('capped') else ''})" if done else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(INSTANCES[:10]),
                        help="comma-separated names (default mk01..mk10)")
    parser.add_argument("--cpsat-time", type=float, default=CPSAT_S, help="CP-SAT seconds per instance")
    parser.add_argument("--no-cpsat", action="store_true", help="skip CP-SAT")
    parser.add_argument("--iterations", type=int, default=IMPROVE_ITERATIONS,
                        help="the optimiser's iteration budget")
    parser.add_argument("--cap", type=float, default=IMPROVE_CAP_S, help="the optimiser's time cap (s)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.instances.split(",") if n.strip()]
    unknown = [n for n in names if n not in BKS]
    if unknown:
        parser.error(f"unknown instance(s) {unknown}; known: {', '.join(INSTANCES)}")
    cpsat_s = None if args.no_cpsat or _ortools_version() == "not installed" else args.cpsat_time
    columns = [*RULE_NAMES, "best rule", IMPROVE] + ([CPSAT] if cpsat_s else [])
    rows = []
    started = time.perf_counter()
    try:
        for name in names:
            row = run_instance(name, args.iterations, args.cap, cpsat_s)
            rows.append(row)
            print(f"{name}: " + ", ".join(f"{c} {row['runs'][c]['makespan']}/{row['runs'][c]['setups']}"
                                          for c in columns) + f"  (bound {_bound(row)})", flush=True)
    except BenchmarkFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    text = render(rows, columns, cpsat_s, args.iterations, args.cap, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
