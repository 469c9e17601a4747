"""The scheduling core: typed operations and machines in, a verified schedule out (no pandas).

>>> from prodsched.engine import Instance, Machine, Operation, schedule, verify
>>> inst = Instance(
...     operations=(Operation("A-1", "A", 1, "SR", durations={"M1": 3}),
...                 Operation("A-2", "A", 2, "EPU", durations={"M1": 2}, predecessors=("A-1",))),
...     machines=(Machine("M1"),),
...     class_setup={("SR", "EPU"): 1},
... )
>>> plan = schedule(inst)
>>> [(a.op_id, a.start, a.end, a.setup) for a in plan.assignments]
[('A-1', 0, 3, 0), ('A-2', 4, 6, 1)]
>>> verify(inst, plan)
[]

``schedule(inst, objective="makespan", improve_iterations=500)`` runs the optimiser
(:func:`improve`) after the dispatch; :data:`OBJECTIVES` holds the objectives it can pursue.
"""

from __future__ import annotations

from prodsched.engine.improve import improve
from prodsched.engine.model import (
    Assignment,
    Instance,
    Machine,
    Operation,
    Schedule,
    merge_intervals,
)
from prodsched.engine.objectives import (
    OBJECTIVES,
    Figures,
    Objective,
    figures_of,
    get_objective,
    register_objective,
    report,
)
from prodsched.engine.rules import RULES, Rule, RuleState, get_rule, register_rule
from prodsched.engine.scheduler import schedule
from prodsched.engine.setups import SetupTable, setup_between
from prodsched.engine.timeline import MachineLine, Timeline
from prodsched.engine.verify import Violation, verify

__all__ = [
    "OBJECTIVES",
    "RULES",
    "Assignment",
    "Figures",
    "Instance",
    "Machine",
    "MachineLine",
    "Objective",
    "Operation",
    "Rule",
    "RuleState",
    "Schedule",
    "SetupTable",
    "Timeline",
    "Violation",
    "figures_of",
    "get_objective",
    "get_rule",
    "improve",
    "merge_intervals",
    "register_objective",
    "register_rule",
    "report",
    "schedule",
    "setup_between",
    "verify",
]
