"""Scenario grids: which parameters a sweep may vary, their types, and the expansion into Params.

A scenario varies only what stage 5 (schedule) reads, so stages 1-4 run once per data set:
``rule``, ``objective`` (text), ``window_days``, ``time_limit_s`` (numbers), ``seed``,
``improve_iterations`` (whole numbers), the rule options ``k1``/``k2`` (``params.extra
["rule_options"]``) and the weights of the ``weighted`` objective as ``weights.tardiness``,
``weights.late_jobs``, ``weights.setup_slots``, ``weights.makespan``
(``params.objective_options["weights"]``). Every scenario's Params are checked by
:func:`prodsched.stages.checks.check_params` before anything runs.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from prodsched.errors import ParameterError
from prodsched.params import Params
from prodsched.stages.checks import check_params

TEXT, WHOLE, NUMBER = "text", "whole number", "number"
RULE_OPTIONS = ("k1", "k2", "restarts")  # the rules' options (``rule_options``)
WEIGHTS = ("tardiness", "late_jobs", "setup_slots", "makespan")
KINDS: dict[str, str] = {
    "rule": TEXT, "objective": TEXT,
    "window_days": NUMBER, "time_limit_s": NUMBER,
    "seed": WHOLE, "improve_iterations": WHOLE,
    "k1": NUMBER, "k2": NUMBER, "restarts": WHOLE,
    **{f"weights.{w}": NUMBER for w in WEIGHTS},
}


class GridError(ParameterError):
    """A bad grid or search space; ``name`` is the grid parameter."""

    def __init__(self, name: str, value: Any, message: str, option: str = "grid"):
        super().__init__(name, value, message)
        self.option = option  # the command-line option it came from (grid, space, search, trials)
        self.args = (f"{option} parameter {name}: {message} (got {value!r})",)


def _unknown(name: str) -> GridError:
    if name in Params().to_dict():
        why = ("is not a scenario parameter: stages 1-4 run once per data set, so set it for the whole sweep; "
               f"scenario parameters: {', '.join(KINDS)}")
    else:
        why = f"is not a parameter a sweep can vary; known: {', '.join(KINDS)}"
    return GridError(name, None, why)


def kind_of(name: str) -> str:
    if name not in KINDS:
        raise _unknown(name)
    return KINDS[name]


def parse_value(name: str, text: str) -> Any:
    """A command-line value (text) as the type of grid parameter ``name``."""
    kind, text = kind_of(name), text.strip()
    if kind == TEXT:
        if not text:
            raise GridError(name, text, "empty value")
        return text
    try:
        number = float(text)
    except ValueError:
        raise GridError(name, text, f"must be a {kind}") from None
    if kind == WHOLE or (number.is_integer() and "." not in text and "e" not in text.lower()):
        if not number.is_integer():
            raise GridError(name, text, "must be a whole number")
        return int(number)
    return number


def check_value(name: str, value: Any) -> Any:
    """``value`` if it has the type of grid parameter ``name``, else GridError."""
    kind = kind_of(name)
    ok = {TEXT: lambda v: isinstance(v, str) and v.strip() != "",
          WHOLE: lambda v: isinstance(v, Integral) and not isinstance(v, bool),
          NUMBER: lambda v: isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v))}[kind]
    if not ok(value):
        raise GridError(name, value, f"must be a {kind}")
    if name in RULE_OPTIONS and value <= 0:
        raise GridError(name, value, "must be more than 0")
    return int(value) if kind == WHOLE else value


def parse_assignment(text: str) -> tuple[str, list[Any]]:
    """``"window_days=2,5,10"`` -> ("window_days", [2, 5, 10])."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise GridError(name or text, text, "write NAME=V1,V2,...")
    kind_of(name)
    parts = [v for v in values.split(",")]
    if not values.strip():
        raise GridError(name, values, "has no values")
    return name, [parse_value(name, v) for v in parts]


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,3,7"`` -> [0, 3, 7]."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise GridError("seed", text, "write seeds as 0-4 or 0,3,7") from None
        if last < first:
            raise GridError("seed", text, f"the range {part} runs backwards")
        seeds.extend(range(first, last + 1))
    return seeds


def normalise_grid(grid: Mapping[str, Iterable[Any]] | None) -> dict[str, list[Any]]:
    """The grid with every name known, every value typed, no empty or repeated value list."""
    out: dict[str, list[Any]] = {}
    for name, values in (grid or {}).items():
        kind_of(name)
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        values = [check_value(name, v) for v in values]
        if not values:
            raise GridError(name, [], "has no values")
        if len(set(map(repr, values))) != len(values):
            raise GridError(name, values, "repeats a value (two scenarios would be the same)")
        out[name] = values
    return out


def apply(base: Params, assignment: Mapping[str, Any]) -> Params:
    """``base`` with a scenario's values set (rule options and weights into their mappings)."""
    values = base.to_dict()
    extra = copy.deepcopy(values["extra"])
    options = copy.deepcopy(values["objective_options"])
    for name, value in assignment.items():
        if name in RULE_OPTIONS:
            extra.setdefault("rule_options", {})[name] = value
        elif name.startswith("weights."):
            options.setdefault("weights", {})[name.split(".", 1)[1]] = value
        else:
            values[name] = value
    values["extra"], values["objective_options"] = extra, options
    return Params.from_dict(values)


@dataclass(frozen=True)
class Scenario:
    index: int
    dataset: str  # the data set's label (its folder or file name)
    data: str  # the data set's path
    values: dict[str, Any]  # the grid's values of this scenario
    params: Params


def checked(base: Params, assignment: Mapping[str, Any]) -> Params:
    """The scenario's Params, checked; a ParameterError names the grid parameter behind it."""
    try:
        return check_params(apply(base, assignment))
    except ParameterError as exc:
        owners = {"objective_options": (*(f"weights.{w}" for w in WEIGHTS), "objective"), "extra": RULE_OPTIONS}
        culprit = exc.name if exc.name in assignment else next(
            (k for k in owners.get(exc.name, ()) if k in assignment), exc.name)
        raise GridError(culprit, assignment.get(culprit, exc.value), exc.reason) from None


def expand(datasets: Sequence[tuple[str, str]], grid: Mapping[str, Iterable[Any]] | None,
           base: Params, *, allow_empty: bool = False) -> list[Scenario]:
    """Every scenario of the grid on every data set (data sets outer, grid order inner)."""
    grid = normalise_grid(grid)
    if not grid and not allow_empty:
        raise GridError("grid", {}, "is empty: give at least one parameter with values (e.g. rule=window,edd)")
    names = list(grid)
    combos = [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]
    scenarios = []
    for label, data in datasets:
        for combo in combos:
            params = checked(base.updated(data=data), combo)
            scenarios.append(Scenario(len(scenarios), label, data, combo, params))
    return scenarios
