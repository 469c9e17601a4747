"""The six stages as a name-keyed registry.

Every stage module defines ``run(inputs, params, progress=None, cancel=None) -> StageResult``:
``inputs`` maps artifact names of all earlier stages to their values (DataFrames, dicts,
networkx graphs), ``params`` is a :class:`prodsched.params.Params`, ``progress(fraction, message)``
reports 0..1 and ``cancel`` is a ``threading.Event`` checked in long loops. A stage never mutates
its inputs; it returns new artifacts (names unique across stages) and a JSON-able summary.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

STAGES: tuple[str, ...] = ("load", "preprocess", "yield", "dag", "schedule", "results")
_MODULES = {
    "load": "load",
    "preprocess": "preprocess",
    "yield": "yields",
    "dag": "dag",
    "schedule": "schedule",
    "results": "results",
}

ProgressFn = Callable[[float, str], None]


@dataclass
class StageResult:
    artifacts: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def stage_name(stage: str | int) -> str:
    """Accept a name ("dag"), a 1-based number (4) or a digit string ("4")."""
    if isinstance(stage, int) or (isinstance(stage, str) and stage.isdigit()):
        number = int(stage)
        if not 1 <= number <= len(STAGES):
            raise ValueError(f"stage number {number} is not in 1..{len(STAGES)}")
        return STAGES[number - 1]
    name = str(stage).strip().lower()
    if name == "yields":
        name = "yield"
    if name not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")
    return name


def stage_number(stage: str | int) -> int:
    return STAGES.index(stage_name(stage)) + 1


def stage_function(stage: str | int) -> Callable[..., StageResult]:
    module = importlib.import_module(f"prodsched.stages.{_MODULES[stage_name(stage)]}")
    return module.run


def run_stage(
    stage: str | int,
    inputs: Mapping[str, Any],
    params,
    progress: ProgressFn | None = None,
    cancel=None,
) -> StageResult:
    return stage_function(stage)(inputs, params, progress=progress, cancel=cancel)
