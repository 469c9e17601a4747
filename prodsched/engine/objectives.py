"""Objectives: how a schedule is judged, as a name-keyed registry (DESIGN §4).

Every objective is computed from the same four :class:`Figures` of a schedule — total job
tardiness (slots), late jobs, setup slots and makespan — and gives a tuple that is compared
lexicographically (smaller is better). Built-in objectives:

* ``tardiness`` (default): total tardiness, then late jobs, then setup slots, then makespan;
* ``makespan``: makespan, then setup slots;
* ``setups``: setup slots, then total tardiness;
* ``weighted``: ``options["weights"]`` (keys ``tardiness``, ``late_jobs``, ``setup_slots``,
  ``makespan``; default 1 for tardiness, setup slots and makespan, 0 for late jobs) times the
  figures, summed; then tardiness, setup slots and makespan.

A user objective is a callable ``key(figures, options) -> tuple`` (or a number)::

    from prodsched.engine import register_objective

    register_objective("late_then_setups", lambda f, o: (f.late_jobs, f.setup_slots))
    plan = schedule(instance, objective="late_then_setups", improve_iterations=500)

A job's tardiness is how many slots its last operation ends after the job's due slot (the
earliest due slot among its operations); a job is late when that is above 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from prodsched.engine.model import Instance, Schedule
from prodsched.engine.registry import Registry


class Figures(NamedTuple):
    """What every objective is computed from (all in slots or counts)."""

    tardiness: int
    late_jobs: int
    setup_slots: int
    makespan: int


Key = Callable[[Figures, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Objective:
    """A registered objective: ``value(figures, options)`` is a tuple, smaller is better."""

    name: str
    key: Key
    description: str = ""

    def value(self, figures: Figures, options: Mapping[str, Any] | None = None) -> tuple:
        out = self.key(figures, options or {})
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)


OBJECTIVES: Registry[Objective] = Registry("objective")


def register_objective(name: str, key: Key, *, description: str = "",
                       replace: bool = False) -> Objective:
    """Register ``key(figures, options) -> tuple`` under ``name`` (smaller is better)."""
    name_key = OBJECTIVES.key(name)
    if not callable(key):
        raise TypeError(f"objective {name!r}: key must be callable, got {type(key).__name__}")
    objective = Objective(name_key, key, description or (key.__doc__ or "").strip())
    return OBJECTIVES.add(name_key, objective, replace)


def get_objective(objective: str | Objective | Key) -> Objective:
    """Look an objective up by name; an Objective passes through; a callable is wrapped."""
    if isinstance(objective, Objective):
        return objective
    if callable(objective):
        return Objective(getattr(objective, "__name__", "custom"), objective,
                         (objective.__doc__ or "").strip())
    return OBJECTIVES.lookup(objective)


def check_options(objective: str | Objective | Key, options: Mapping[str, Any] | None) -> None:
    """Raise ValueError naming what to fix when ``options`` do not suit ``objective``."""
    obj = get_objective(objective)
    if obj.name == "weighted":
        weights(options or {})
    obj.value(Figures(0, 0, 0, 0), options)


def figures_of(schedule: Schedule, instance: Instance) -> Figures:
    """The four figures of ``schedule`` (computed from its assignments alone)."""
    ends: dict[str, int] = {}
    dues: dict[str, int] = {}
    makespan = 0
    setups = 0
    for a in schedule.assignments:
        op = instance.op(a.op_id)
        job = op.job
        if a.end > ends.get(job, a.end - 1):
            ends[job] = a.end
        if job not in dues or op.due_slot < dues[job]:
            dues[job] = op.due_slot
        makespan = max(makespan, a.end)
        setups += a.setup
    late = [e - dues[j] for j, e in ends.items() if e > dues[j]]
    return Figures(sum(late), len(late), setups, makespan)


def report(schedule: Schedule, instance: Instance,
           options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every figure and every registered objective's value, whichever objective a run used:
    ``{"figures": {name: int}, "objectives": {name: [value, ...]}}``."""
    fig = figures_of(schedule, instance)
    values = {}
    for name, obj in OBJECTIVES.items():
        try:
            values[name] = list(obj.value(fig, options))
        except (KeyError, TypeError, ValueError) as exc:  # options meant for another objective
            values[name] = f"not computed: {exc}"
    return {"figures": fig._asdict(), "objectives": values}


# -- built-in objectives ------------------------------------------------------------------
WEIGHT_DEFAULTS = {"tardiness": 1.0, "late_jobs": 0.0, "setup_slots": 1.0, "makespan": 1.0}


def weights(options: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """The weights of ``weighted`` from ``options["weights"]``, checked."""
    given = options.get("weights") or {}
    if not isinstance(given, Mapping):
        raise TypeError(f"objective options: weights must be a mapping of "
                         f"{', '.join(WEIGHT_DEFAULTS)} to numbers, got {given!r}")
    unknown = sorted(set(given) - set(WEIGHT_DEFAULTS))
    if unknown:
        raise ValueError(f"objective options: unknown weight(s) {unknown}; known: "
                         f"{', '.join(WEIGHT_DEFAULTS)}")
    out = []
    for name, default in WEIGHT_DEFAULTS.items():
        value = given.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"objective options: weight {name} must be a number >= 0, got "
                             f"{value!r}")
        out.append(float(value))
    return tuple(out)  # type: ignore[return-value]


def _tardiness(f: Figures, _options) -> tuple:
    return f.tardiness, f.late_jobs, f.setup_slots, f.makespan


def _makespan(f: Figures, _options) -> tuple:
    return f.makespan, f.setup_slots


def _setups(f: Figures, _options) -> tuple:
    return f.setup_slots, f.tardiness


def _weighted(f: Figures, options) -> tuple:
    wt, wl, ws, wm = weights(options)
    return (wt * f.tardiness + wl * f.late_jobs + ws * f.setup_slots + wm * f.makespan,
            f.tardiness, f.setup_slots, f.makespan)


register_objective("tardiness", _tardiness, description="total tardiness, then late jobs, "
                   "then setup slots, then makespan")
register_objective("makespan", _makespan, description="makespan, then setup slots")
register_objective("setups", _setups, description="setup slots, then total tardiness")
register_objective("weighted", _weighted, description="weighted sum of tardiness, late jobs, "
                   "setup slots and makespan (options['weights'])")
