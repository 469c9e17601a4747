"""The exact back-end: the same instance, semantics and objective as an OR-Tools CP-SAT model.

Semantics (DESIGN §4, as :mod:`prodsched.engine.verify` checks them): every operation on one
eligible machine, without interruption; precedence plus the predecessor's aging slots; on each
machine the operations form one sequence (a circuit through a depot), and an operation that
follows another needs the setup between them (max of class/mixture change and width change)
between the other's end and its own start; a machine's first operation has no setup; neither an
operation nor its setup slots overlap the machine's downtime; pinned operations keep their
machine and start, and nothing else (nor its setup) starts before ``now``.

The model optimises a linear stand-in for the objective (its leading terms, weighted so that the
first dominates); the schedule it returns is judged by the real objective, and the start schedule
given as ``hint`` is returned instead whenever the solver's is not better, so the result is never
worse than its start. The budget is CP-SAT's deterministic time (``work_units``): with one worker
the same input and budget give the same schedule; ``time_limit_s`` only caps the wall time, and the
result says whether it did. Needs the ``[cp]`` extra (``pip install ortools``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prodsched.engine.model import Assignment, Instance, Operation, Schedule
from prodsched.engine.objectives import Figures, figures_of, get_objective, weights
from prodsched.engine.verify import required_setup, verify
from prodsched.errors import ProdschedError

MAX_ARCS = 2_000_000  # sequencing literals above this make the model too large to be useful
MODELLED = ("tardiness", "makespan", "setups", "weighted")


@dataclass(frozen=True)
class CpResult:
    """What the solver found: the schedule returned (never worse than the hint), its figures,
    CP-SAT's status, the bound it proved on the objective's leading term (None when it proved
    none), and whether the wall-time cap stopped it."""

    schedule: Schedule
    figures: Figures
    status: str
    bound: float | None
    capped: bool
    improved: bool
    wall_s: float
    info: Mapping[str, Any] = field(default_factory=dict)


def _require_ortools():
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        raise ProdschedError("solver 'cpsat' needs OR-Tools: pip install 'prodsched[cp]'") from None
    return cp_model


def _horizon(instance: Instance) -> int:
    if instance.horizon is not None:
        return int(instance.horizon)
    work = sum(max(op.durations.values()) + op.aging_slots for op in instance.operations)
    setup = max([*instance.class_setup.values(), 0]) + max(
        [max(m.long_to_short, m.short_to_long) for m in instance.machines] + [0])
    down = max([e for m in instance.machines for _, e in m.downtime] + [0])
    return work + setup * len(instance.operations) + down + 1


def _linear_objective(name: str, options: Mapping[str, Any] | None, terms: dict[str, Any],
                      bounds: dict[str, int]):
    """(expression, scale) standing in for objective ``name``: the expression's bound divided by
    ``scale`` (rounded down) bounds the objective's leading term."""
    T, L, S, C = terms["tardiness"], terms["late_jobs"], terms["setup_slots"], terms["makespan"]
    bS, bL, bT = bounds["setup_slots"], bounds["late_jobs"], bounds["tardiness"]
    if name == "tardiness":
        k2 = bS + 1
        k1 = bL * k2 + bS + 1
        return T * k1 + L * k2 + S, k1
    if name == "makespan":
        return C * (bS + 1) + S, bS + 1
    if name == "setups":
        return S * (bT + 1) + T, bT + 1
    if name == "weighted":
        wt, wl, ws, wm = (round(w * 1000) for w in weights(options or {}))
        expr = wt * T + wl * L + ws * S + wm * C
        return expr, 1000
    raise ProdschedError(f"solver 'cpsat' models the objectives {', '.join(MODELLED)}; "
                         f"{name!r} is registered in Python only: use the optimiser for it")


def solve(instance: Instance, objective: str = "tardiness", options: Mapping[str, Any] | None = None,
          *, hint: Schedule | None = None, work_units: float = 20.0, time_limit_s: float | None = None,
          workers: int = 1, seed: int = 0) -> CpResult:
    """Solve ``instance`` by ``objective``; see the module docstring for the budget and result."""
    cp_model = _require_ortools()
    started = time.perf_counter()
    obj = get_objective(objective)
    problems = verify(instance, hint) if hint is not None else []
    if problems:
        raise ProdschedError(f"the start schedule given to CP-SAT is infeasible: {problems[0].message}")
    ops = instance.operations
    arcs = sum(len([o for o in ops if m.code in o.durations]) ** 2 for m in instance.machines)
    if arcs > MAX_ARCS:
        raise ProdschedError(f"the CP-SAT model would need {arcs:,} sequencing literals (limit {MAX_ARCS:,}); "
                             "use the optimiser (improve_iterations) for an instance this size")
    H = _horizon(instance)
    model = cp_model.CpModel()
    start = {o.id: model.new_int_var(0, H, f"s[{o.id}]") for o in ops}
    end = {o.id: model.new_int_var(0, H, f"e[{o.id}]") for o in ops}
    present: dict[tuple[str, str], Any] = {}
    setup_in: dict[tuple[str, str], Any] = {}
    max_setup = {m.code: max([*instance.class_setup.values(), m.long_to_short, m.short_to_long, 0])
                 for m in instance.machines}
    per_machine: dict[str, list[Operation]] = {m.code: [] for m in instance.machines}
    for o in ops:
        if not o.durations:
            raise ProdschedError(f"operation {o.id} has no eligible machine")
        lits = []
        for code, d in sorted(o.durations.items()):
            x = model.new_bool_var(f"x[{o.id},{code}]")
            present[o.id, code] = x
            lits.append(x)
            per_machine[code].append(o)
            model.new_optional_interval_var(start[o.id], int(d), end[o.id], x, f"op[{o.id},{code}]")
        model.add_exactly_one(lits)
        if o.id in instance.pins:  # placed where the plan already has it: machine and start fixed
            machine_code, pinned_start = instance.pins[o.id]
            model.add(present[o.id, machine_code] == 1)
            model.add(start[o.id] == pinned_start)
        for pid in o.predecessors:
            model.add(start[o.id] >= end[pid] + instance.op(pid).aging_slots)
    setup_terms = []
    for machine in instance.machines:
        code, members = machine.code, per_machine[machine.code]
        if not members:
            continue
        busy = []
        arcs_m = []
        empty = model.new_bool_var(f"empty[{code}]")
        arcs_m.append((0, 0, empty))
        for i, a in enumerate(members, start=1):
            x = present[a.id, code]
            su = model.new_int_var(0, max_setup[code], f"su[{a.id},{code}]")
            setup_in[a.id, code] = su
            model.add(su == 0).only_enforce_if(~x)
            setup_terms.append(su)
            ext_start = model.new_int_var(-max_setup[code], H, f"es[{a.id},{code}]")
            size = model.new_int_var(0, max_setup[code] + int(a.durations[code]), f"sz[{a.id},{code}]")
            model.add(ext_start == start[a.id] - su).only_enforce_if(x)
            model.add(size == su + int(a.durations[code])).only_enforce_if(x)
            if a.id not in instance.pins and instance.now:
                model.add(ext_start >= instance.now).only_enforce_if(x)  # nor its setup before now
            busy.append(model.new_optional_interval_var(ext_start, size, end[a.id], x, f"busy[{a.id},{code}]"))
            model.add_implication(x, ~empty)
            first = model.new_bool_var(f"first[{a.id},{code}]")
            arcs_m.append((0, i, first))
            model.add(su == 0).only_enforce_if(first)
            arcs_m.append((i, 0, model.new_bool_var(f"last[{a.id},{code}]")))
            arcs_m.append((i, i, ~x))
        # b right after a: b starts the setup a→b after a ends, and that setup is the one charged to b
        for i, a in enumerate(members, start=1):
            for j, b in enumerate(members, start=1):
                if i == j:
                    continue
                lit = model.new_bool_var(f"next[{a.id},{b.id},{code}]")
                arcs_m.append((i, j, lit))
                need = required_setup(a, b, machine, instance.class_setup)
                model.add(start[b.id] >= end[a.id] + need).only_enforce_if(lit)
                model.add(setup_in[b.id, code] == need).only_enforce_if(lit)
        for k, (s, e) in enumerate(machine.downtime):
            busy.append(model.new_interval_var(int(s), int(e) - int(s), int(e), f"down[{code},{k}]"))
        model.add_no_overlap(busy)
        model.add_circuit(arcs_m)
    jobs: dict[str, list[Operation]] = {}
    for o in ops:
        jobs.setdefault(o.job, []).append(o)
    tard, late = [], []
    for job, members in sorted(jobs.items()):
        due = min(o.due_slot for o in members)
        job_end = model.new_int_var(0, H, f"end[{job}]")
        model.add_max_equality(job_end, [end[o.id] for o in members])
        t = model.new_int_var(0, H, f"tard[{job}]")
        model.add(t >= job_end - due)
        is_late = model.new_bool_var(f"late[{job}]")
        model.add(t == 0).only_enforce_if(~is_late)
        model.add(job_end >= due + 1).only_enforce_if(is_late)
        tard.append(t)
        late.append(is_late)
    makespan = model.new_int_var(0, H, "makespan")
    model.add_max_equality(makespan, list(end.values()))
    terms = {"tardiness": sum(tard), "late_jobs": sum(late), "setup_slots": sum(setup_terms), "makespan": makespan}
    bounds = {"tardiness": H * len(jobs), "late_jobs": len(jobs),
              "setup_slots": sum(max_setup[c] * len(per_machine[c]) for c in per_machine)}
    expr, scale = _linear_objective(obj.name, options, terms, bounds)
    model.minimize(expr)
    if hint is not None:
        for a in hint.assignments:
            model.add_hint(start[a.op_id], a.start)
            for code in instance.op(a.op_id).durations:
                model.add_hint(present[a.op_id, code], code == a.machine)
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(work_units)
    if time_limit_s is not None:
        solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    status = solver.solve(model)
    name = solver.status_name(status)
    wall = time.perf_counter() - started
    capped = time_limit_s is not None and solver.wall_time >= float(time_limit_s) * 0.99 and \
        status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
    found = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = Schedule(assignments=tuple(sorted(
            (Assignment(o.id, code, solver.value(start[o.id]), solver.value(end[o.id]),
                        solver.value(setup_in[o.id, code]))
             for o in ops for code in o.durations if solver.boolean_value(present[o.id, code])),
            key=lambda a: (a.machine, a.start, a.op_id))),
            rule="cpsat", seed=seed, elapsed_s=wall, info={"solver": "cpsat", "status": name})
        problems = verify(instance, found)
        if problems:
            raise ProdschedError(f"CP-SAT returned a schedule the verifier rejects: {problems[0].message}")
    bound = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = solver.best_objective_bound // scale if obj.name != "weighted" else solver.best_objective_bound / scale
    chosen, improved = found, True
    if found is None or (hint is not None and obj.value(figures_of(hint, instance), options)
                         <= obj.value(figures_of(found, instance), options)):
        if hint is None:
            raise ProdschedError(f"CP-SAT found no schedule ({name}) within its budget and gave no start schedule")
        chosen, improved = hint, False
    return CpResult(schedule=chosen, figures=figures_of(chosen, instance), status=name, bound=bound,
                    capped=capped, improved=improved, wall_s=wall,
                    info={"work_units": float(work_units), "workers": int(workers), "arcs": arcs})
