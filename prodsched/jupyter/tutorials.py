"""What the tutorial notebooks call: dispatch rules compared, and the optimiser watched converging.

Both work on a session whose stage 4 (the operation graph) is done; every schedule they make is
checked by the engine's independent verifier and its verdict is part of the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from prodsched import engine
from prodsched.jupyter.lessons import Shown
from prodsched.stages.schedule import as_graph, build_instance

FIGURES = ["tardiness", "late_jobs", "setup_slots", "makespan"]


def instance_of(session) -> engine.Instance:
    """The engine's instance of a session (its operation graph and changeover/downtime tables)."""
    return build_instance(as_graph(session.artifact("dag")), session.artifacts("load"))


def _verdict(violations: list) -> str:
    if not violations:
        return "valid"
    return f"{len(violations)} violation(s), e.g. {violations[0].message}"


def _rule_name(rule: str | Callable) -> str:
    return rule if isinstance(rule, str) else getattr(rule, "__name__", "custom")


def compare_rules(session, rules: Sequence[str | Callable], instance: engine.Instance | None = None) -> Shown:
    """Schedule the session's operations with each rule (a name or a priority function) and compare.

    One row per rule: the four objective figures, the seconds taken and the verifier's verdict.
    """
    instance = instance or instance_of(session)
    params = session.params
    slot = session.artifact("calendar")["slot_minutes"]
    rows = []
    for rule in rules:
        plan = engine.schedule(instance, rule=rule, window_days=params.window_days, seed=params.seed,
                               slot_minutes=slot)
        figures = engine.figures_of(plan, instance)
        rows.append({"rule": _rule_name(rule), **dict(zip(FIGURES, figures)), "seconds": round(plan.elapsed_s, 3),
                     "verifier": _verdict(engine.verify(instance, plan))})
    frame = pd.DataFrame(rows).set_index("rule")
    best = frame.sort_values(["tardiness", "late_jobs", "setup_slots", "makespan"], kind="stable").index[0]
    text = (f"{len(frame)} rules on the same {len(instance.operations)} operations (smaller is better). By total "
            f"tardiness, then late jobs, setups and makespan, '{best}' comes first. 'valid' means the independent "
            "verifier re-derived every constraint (machines, precedence, aging, changeovers, downtime) and found "
            "none broken.")
    return Shown(text, frame, facts={"best": best})


def convergence(session, objectives: Sequence[str], iterations: int, rule: str | None = None,
                instance: engine.Instance | None = None) -> Shown:
    """Run the optimiser once per objective from the same dispatch schedule; record its best value.

    The figure plots each objective's leading figure against the iterations; the table gives the
    start and final values, the iterations done and the verifier's verdict.
    """
    from prodsched.jupyter.lesson_charts import convergence_figure

    instance = instance or instance_of(session)
    params = session.params
    slot = session.artifact("calendar")["slot_minutes"]
    curves: dict[str, list[tuple[int, Any]]] = {}
    rows = []
    for objective in objectives:
        curve: list[tuple[int, Any]] = []
        plan = engine.schedule(instance, rule=rule or params.rule, window_days=params.window_days, seed=params.seed,
                               slot_minutes=slot, objective=objective, improve_iterations=iterations,
                               on_iteration=lambda it, value, c=curve: c.append((int(it), tuple(value))))
        info = plan.info
        start, final = tuple(info.get("start_value", ())), tuple(info.get("value", ()))
        curves[objective] = [(0, start), *curve] if start else curve
        rows.append({"objective": objective, "start": start, "final": final,
                     "iterations": int(info.get("iterations", 0)),
                     "improved": final < start if start and final else False,
                     **dict(zip(FIGURES, engine.figures_of(plan, instance))),
                     "verifier": _verdict(engine.verify(instance, plan))})
    frame = pd.DataFrame(rows).set_index("objective")
    gains = ", ".join(f"{o}: {r.start[0]} → {r.final[0]}" for o, r in frame.iterrows() if r.start and r.final)
    text = (f"The optimiser ran {iterations} iterations per objective from the '{rule or params.rule}' rule's "
            f"schedule, keeping the best it found (leading figure {gains}). Each objective trades the figures "
            "differently: compare the columns to see what one gains and the other gives up.")
    return Shown(text, frame, figure=convergence_figure(curves), facts={"curves": curves})


def tampered(session, rule: str | Callable = "window", instance: engine.Instance | None = None) -> Shown:
    """The verifier at work: the rule's schedule with one operation moved to start with its predecessor.

    The moved operation keeps its machine and duration; the verifier must name the broken precedence.
    """
    from dataclasses import replace

    instance = instance or instance_of(session)
    params = session.params
    plan = engine.schedule(instance, rule=rule, window_days=params.window_days, seed=params.seed,
                           slot_minutes=session.artifact("calendar")["slot_minutes"])
    at = {a.op_id: a for a in plan.assignments}
    op = next((o for o in sorted(instance.operations, key=lambda o: o.id) if o.predecessors), None)
    if op is None:
        return Shown("No operation has a predecessor here, so there is no precedence to break.")
    before = at[op.predecessors[0]]
    moved = at[op.id]._replace(start=before.start, end=before.start + (at[op.id].end - at[op.id].start))
    broken = replace(plan, assignments=tuple(moved if a.op_id == op.id else a for a in plan.assignments))
    violations = engine.verify(instance, broken)
    frame = pd.DataFrame([v.to_dict() for v in violations], columns=["op_id", "check", "message"])
    text = (f"{op.id} was moved to start at slot {before.start}, together with {before.op_id}, the step before it. "
            f"The verifier finds {len(violations)} violation(s); a schedule is only used when it finds none.")
    return Shown(text, frame, facts={"moved": op.id, "checks": sorted(set(frame["check"]))})
