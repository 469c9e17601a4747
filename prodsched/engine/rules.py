"""Dispatch rules: a name-keyed registry the scheduler looks rules up in.

Built-in rules:

* ``window`` (default) — the plant's practice, improved: operations in priority order (earliest
  due, then wider first, then id); the head plus every ready operation due within
  ±``window_days`` forms a window; the head goes to the machine where it finishes earliest;
  ready window operations with the same mixture, then the same operation, follow on that
  machine when that does not finish them later than their own best machine would. Candidates
  are examined in priority order; a group stops after ``follow_rejects`` (option, default 3)
  candidates that would finish earlier elsewhere, or after ``follow_scan`` (default 256)
  candidates in all, which keeps the cost linear.
* ``edd`` — earliest due date first, placed where it finishes earliest.
* ``spt`` — shortest processing time (minimum over eligible machines) first.
* ``mwkr`` — most work remaining first: the longest chain of minimum durations (plus aging
  waits) from the operation to the end of its job, the operation included; a makespan rule.
* ``mwkr_es`` — earliest start, most work remaining: the ready operation with the smallest
  (earliest start − work remaining) goes next, re-evaluated at every step over the
  32 most urgent ready operations (by due date); the earliest start is on the machine
  where the operation would end soonest appended after its last operation, changeover
  included; work remaining as in ``mwkr``. It runs ``restarts`` (option, default 4) passes with
  the seeds ``seed × restarts + i`` and keeps the best schedule by the run's objective (ties:
  the first pass). A makespan rule: on Brandimarte mk01–mk10 its mean gap to the best known is
  10.1 % at seed 0 (one pass: 11.4 %; ``mwkr``: 13.8 %), at four passes' cost (about 3.4 s
  at 15,000 operations, ``atcs`` 1 s, ``mwkr`` 0.1 s; benchmarks/results/quality.md).
* ``atcs`` — apparent tardiness cost with setups (Lee, Bhaskaran & Pinedo): re-evaluated at every
  step over the most urgent ready operations; options ``k1`` (default 2.0) and ``k2`` (0.5).

User-defined rules are a callable ``priority(op, state) -> sortable``; the ready operation with
the smallest value is placed next, on the machine where it finishes earliest::

    from prodsched.engine import register_rule, schedule

    def least_slack(op, state):
        # due slot minus (ready time + shortest duration): smallest slack first
        return op.due_slot - state.ready_time(op) - min(op.durations.values())

    register_rule("least_slack", least_slack)
    plan = schedule(instance, rule="least_slack")
    # or without registering: schedule(instance, rule=least_slack)

``state`` is a :class:`RuleState`: ``now`` (earliest time a machine is free), ``ready_time(op)``,
``available(machine)``, ``last_op(machine)``, ``setup(prev, op, machine)``, ``instance``,
``placed`` (count) and ``options``. A dynamic rule (the default for callables) is re-evaluated
at every step over the ``candidates`` most urgent ready operations (by due date; ``None`` = all
of them); a static rule (``dynamic=False``) is evaluated once, when the operation becomes ready.
Exact ties are broken by the seed, then by the priority order above. Any rule takes the option
``restarts`` (an int >= 1; the rule's own default otherwise, 1 except for ``mwkr_es``): that many
passes with the seeds ``seed × restarts + i``, the best by the run's objective kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prodsched.engine.registry import Registry

Priority = Callable[[Any, "RuleState"], Any]


@dataclass(frozen=True)
class Rule:
    """A registered rule. ``kind`` is "window", "static" or "dynamic".

    ``internal`` rules receive the scheduler's integer op index instead of the Operation (fast
    built-ins only).
    """

    name: str
    kind: str
    priority: Priority | None = None
    candidates: int | None = 256
    description: str = ""
    internal: bool = False
    restarts: int = 1  # passes with different seeds, the best kept (option ``restarts``)


RULES: Registry[Rule] = Registry("rule")


def register_rule(
    name: str,
    priority: Priority,
    *,
    dynamic: bool = True,
    candidates: int | None = 256,
    description: str = "",
    replace: bool = False,
) -> Rule:
    """Register ``priority(op, state) -> sortable`` under ``name`` (smallest value goes first)."""
    key = RULES.key(name)
    if not callable(priority):
        raise TypeError(f"rule {name!r}: priority must be callable, got {type(priority).__name__}")
    if candidates is not None and int(candidates) < 1:
        raise ValueError(f"rule {name!r}: candidates must be >= 1 or None")
    rule = Rule(key, "dynamic" if dynamic else "static", priority,
                None if candidates is None else int(candidates), description or (priority.__doc__ or "").strip())
    return RULES.add(key, rule, replace)


def get_rule(rule: str | Rule | Priority) -> Rule:
    """Look a rule up by name; a Rule passes through; a bare callable becomes a dynamic rule."""
    if isinstance(rule, Rule):
        return rule
    if callable(rule):
        return Rule(getattr(rule, "__name__", "custom"), "dynamic", rule, 256,
                    (rule.__doc__ or "").strip())
    return RULES.lookup(rule)


class RuleState:
    """What a priority function may look at while the schedule is being built."""

    def __init__(self, core: Any, options: Mapping[str, Any]) -> None:
        self._core = core
        self.instance = core.instance
        self.options = dict(options)
        self._now = 0
        self._now_count = -1
        self._cache: dict[str, Any] = {}  # per-run constants of built-in rules

    @property
    def now(self) -> int:
        """Earliest time a machine is free (the end of its last operation, 0 when it has none),
        over the machines that can run some operation of the plan."""
        core = self._core
        if self._now_count != core.count:
            lines = core.timeline.lines
            self._now = min((lines[m].available() for m in core.active), default=0)
            self._now_count = core.count
        return self._now

    @property
    def placed(self) -> int:
        """How many operations are placed so far."""
        return self._core.count

    def ready_time(self, op) -> int:
        """Earliest start allowed by predecessors and their aging (of a ready operation)."""
        return self._core.ready[self._core.index_of(op)]

    def available(self, machine: str) -> int:
        """End of the last operation on ``machine`` (0 when it has none yet)."""
        return self._core.timeline.lines[self._core.mindex[machine]].available()

    def last_op(self, machine: str):
        """The operation that ends last on ``machine``, or None."""
        x = self._core.timeline.lines[self._core.mindex[machine]].last_op()
        return None if x < 0 else self._core.ops[x]

    def setup(self, prev, op, machine: str) -> int:
        """Setup slots before ``op`` when ``prev`` (None = nothing) ran before it on ``machine``."""
        if prev is None:
            return 0
        core = self._core
        return core.setups.setup(core.index_of(prev), core.index_of(op), core.mindex[machine])


# -- built-in priorities -------------------------------------------------------------------
def _edd(x: int, state: RuleState) -> int:
    return state._core.due[x]


def _spt(x: int, state: RuleState) -> int:
    return state._core.pmin[x]


def _atcs(x: int, state: RuleState) -> float:
    """log of the inverse ATCS index (smaller = more urgent), underflow-free.

    index = 1/p * exp(-max(due - p - t, 0) / (k1 * mean p)) * exp(-setup / (k2 * mean setup))
    with p the shortest duration, t = max(now, ready time) and setup the smallest changeover
    after the last operation of an eligible machine.
    """
    core = state._core
    consts = state._cache.get("atcs")
    if consts is None:
        k1 = float(state.options.get("k1", 2.0))
        k2 = float(state.options.get("k2", 0.5))
        consts = state._cache["atcs"] = (
            1.0 / (k1 * core.pbar) if core.pbar > 0 else 0.0,
            1.0 / (k2 * core.sbar) if core.sbar > 0 else 0.0,
            [math.log(p) for p in core.pmin])
    slack_w, setup_w, logp = consts
    now = state.now
    start = core.ready[x] if core.ready[x] > now else now
    slack = core.due[x] - core.pmin[x] - start
    value = logp[x]
    if slack > 0:
        value += slack * slack_w
    if setup_w:
        lines = core.timeline.lines
        setup = core.setups.setup
        best = -1
        for m, _d in core.elig[x]:
            last = lines[m].last_op()
            s = setup(last, x, m) if last >= 0 else 0
            if best < 0 or s < best:
                best = s
                if not s:
                    break
        value += best * setup_w
    return value


def _mwkr(x: int, state: RuleState) -> int:
    tails = state._cache.get("mwkr")
    if tails is None:
        tails = state._cache["mwkr"] = work_remaining(state._core.succ, state._core.pmin,
                                                      state._core.aging)
    return -tails[x]


def _mwkr_es(x: int, state: RuleState) -> int:
    """Earliest start minus work remaining (smaller first).

    The start is where ``x`` would end soonest appended after an eligible machine's last
    operation (its changeover included), not before its ready time.
    """
    core = state._core
    tails = state._cache.get("mwkr")
    if tails is None:
        tails = state._cache["mwkr"] = work_remaining(core.succ, core.pmin, core.aging)
    setups = state._cache.get("setups")
    if setups is None:  # without changeovers the last operations need not be looked up
        setups = state._cache["setups"] = core.setups.setup if core.sbar > 0 else False
    r = core.ready[x]
    lines = core.timeline.lines
    start = end = -1
    for m, d in core.elig[x]:
        line = lines[m]
        a = line.tail
        if setups:
            last = line.last_op()
            if last >= 0:
                a += setups(last, x, m)
        t = a if a > r else r
        if end < 0 or t + d < end:
            start, end = t, t + d
    return start - tails[x]


def work_remaining(succ, pmin, aging) -> list[int]:
    """Per operation: the longest chain of minimum durations and aging waits from it (itself
    included) to the end, along the successor lists ``succ``. An arc closing a cycle is
    ignored (the dispatch reports the cycle)."""
    n = len(pmin)
    tail = [-1] * n
    state = bytearray(n)  # 0 unseen, 1 on the path, 2 done
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:  # iterative depth-first: every successor's tail before its own
            x, i = stack[-1]
            after = succ[x]
            while i < len(after) and state[after[i]]:
                i += 1
            if i < len(after):
                y = after[i]
                stack[-1] = (x, i + 1)
                state[y] = 1
                stack.append((y, 0))
                continue
            stack.pop()
            state[x] = 2
            rest = max((tail[y] for y in after), default=-1)
            tail[x] = pmin[x] + (aging[x] + rest if rest >= 0 else 0)
    return tail


RULES["window"] = Rule("window", "window", None, None, "due window with mixture/operation grouping")
RULES["edd"] = Rule("edd", "static", _edd, None, "earliest due date first", internal=True)
RULES["spt"] = Rule("spt", "static", _spt, None, "shortest processing time first", internal=True)
RULES["mwkr"] = Rule("mwkr", "static", _mwkr, None, "most work remaining first (makespan)",
                     internal=True)
RULES["mwkr_es"] = Rule("mwkr_es", "dynamic", _mwkr_es, 32,
                        "earliest start minus most work remaining, best of 4 seeded passes "
                        "(makespan)", internal=True, restarts=4)
RULES["atcs"] = Rule("atcs", "dynamic", _atcs, 32, "apparent tardiness cost with setups",
                     internal=True)
