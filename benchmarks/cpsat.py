"""Flexible job-shop reference solver: an OR-Tools CP-SAT model, side by side with prodsched.

Model: per operation an interval of variable start; per eligible machine an optional interval whose
presence literal chooses the machine (exactly one per operation); no-overlap per machine; job
precedence; minimise the makespan. Benchmark-only dependency (``pip install ortools``).

    python benchmarks/cpsat.py benchmarks/fjsp/brandimarte/mk01.fjs [--time-limit 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from itertools import pairwise
from pathlib import Path

from prodsched.inputs.fjsp import FjspInstance, read_fjs

TIME_LIMIT_S = 10.0
NUM_WORKERS = 2
SEED = 1


def solve_fjsp(
    instance: FjspInstance,
    time_limit_s: float = TIME_LIMIT_S,
    num_workers: int = NUM_WORKERS,
    seed: int = SEED,
) -> dict:
    """Solve ``instance``; returns makespan (None if no solution), bound, status, time_s, assignment.

    ``assignment`` is a list of (job, operation, machine, start, end) with 0-based indices.
    """
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    horizon = sum(max(op.values()) for ops in instance.jobs for op in ops)
    per_machine: dict[int, list] = {m: [] for m in range(instance.n_machines)}
    ops_vars = []  # (job, op, start, end, {machine: presence})
    job_ends = []
    for j, ops in enumerate(instance.jobs):
        previous_end = None
        for o, op in enumerate(ops):
            lo, hi = min(op.values()), max(op.values())
            start = model.new_int_var(0, horizon, f"s{j}_{o}")
            end = model.new_int_var(0, horizon, f"e{j}_{o}")
            duration = model.new_int_var(lo, hi, f"d{j}_{o}")
            model.new_interval_var(start, duration, end, f"i{j}_{o}")
            presences = {}
            if len(op) == 1:
                (m, d), = op.items()
                presences[m] = model.new_constant(1)
                per_machine[m].append(model.new_interval_var(start, d, end, f"i{j}_{o}_m{m}"))
            else:
                for m, d in op.items():
                    present = model.new_bool_var(f"x{j}_{o}_m{m}")
                    per_machine[m].append(
                        model.new_optional_interval_var(start, d, end, present, f"i{j}_{o}_m{m}")
                    )
                    model.add(duration == d).only_enforce_if(present)
                    presences[m] = present
                model.add_exactly_one(presences.values())
            if previous_end is not None:
                model.add(start >= previous_end)
            previous_end = end
            ops_vars.append((j, o, start, end, presences))
        job_ends.append(previous_end)
    for intervals in per_machine.values():
        if len(intervals) > 1:
            model.add_no_overlap(intervals)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, job_ends)
    model.minimize(makespan)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(num_workers)
    solver.parameters.random_seed = int(seed)
    t0 = time.perf_counter()
    status = solver.solve(model)
    elapsed = time.perf_counter() - t0
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assignment = []
    if found:
        for j, o, start, end, presences in ops_vars:
            machine = next(m for m, lit in presences.items() if solver.boolean_value(lit))
            assignment.append((j, o, machine, solver.value(start), solver.value(end)))
    return {
        "makespan": int(solver.objective_value) if found else None,
        "bound": round(solver.best_objective_bound) if found else None,
        "status": solver.status_name(status),
        "time_s": elapsed,
        "assignment": assignment,
    }


def check_assignment(instance: FjspInstance, assignment) -> list[str]:
    """Independent feasibility check of a CP-SAT assignment; returns problems (empty = feasible)."""
    problems = []
    seen = {(j, o) for j, o, *_ in assignment}
    expected = {(j, o) for j, ops in enumerate(instance.jobs) for o in range(len(ops))}
    if seen != expected:
        problems.append(f"{len(expected - seen)} operation(s) missing")
    by_machine: dict[int, list] = {}
    ends = {}
    for j, o, m, s, e in assignment:
        op = instance.jobs[j][o]
        if m not in op or e - s != op[m]:
            problems.append(f"job {j + 1} op {o + 1}: machine {m + 1} / duration {e - s} not allowed")
        by_machine.setdefault(m, []).append((s, e, j, o))
        ends[j, o] = (s, e)
    for (j, o), (s, _e) in ends.items():
        if o and (j, o - 1) in ends and s < ends[j, o - 1][1]:
            problems.append(f"job {j + 1} op {o + 1} starts before its predecessor ends")
    for m, runs in by_machine.items():
        runs.sort()
        for (_s1, e1, *_), (s2, _e2, j, o) in pairwise(runs):
            if s2 < e1:
                problems.append(f"machine {m + 1}: job {j + 1} op {o + 1} overlaps")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S)
    parser.add_argument("--workers", type=int, default=NUM_WORKERS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in args.files:
        instance = read_fjs(path)
        result = solve_fjsp(instance, args.time_limit, args.workers, args.seed)
        problems = check_assignment(instance, result["assignment"])
        print(f"{instance.name}: makespan {result['makespan']} bound {result['bound']} "
              f"{result['status']} {result['time_s']:.1f}s"
              + (f" INFEASIBLE: {problems[:3]}" if problems else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
