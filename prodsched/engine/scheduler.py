"""The list scheduler: the dispatch loop of each kind of rule, and :func:`schedule`.

Every loop takes the ready operations in its rule's order and puts each where it finishes
earliest (:meth:`Core.best`); the ``window`` loop then lets window operations of the same
mixture, then of the same operation, follow the head on its machine (DESIGN §4).
"""

from __future__ import annotations

import functools
import math
import re
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping
from heapq import heappop, heappush
from typing import Any

from prodsched.engine.core import Core
from prodsched.engine.improve import improve
from prodsched.engine.model import Assignment, Instance, Schedule
from prodsched.engine.objectives import check_options, figures_of, get_objective
from prodsched.engine.pins import check_now, check_unpinned_predecessors
from prodsched.engine.rules import Rule, RuleState, get_rule
from prodsched.engine.timeline import _NEVER, Timeline
from prodsched.errors import Cancelled


def _run_window(core: Core, window: int, options: Mapping[str, Any]) -> None:
    max_rejects = int(options.get("follow_rejects", 3))
    max_scan = int(options.get("follow_scan", 256))
    if core.native is not None and core.native.keyed:  # the compiled twin of the loop below
        core.placed = core.native.run_window(core, window, max_rejects, max_scan)
        core.count = core.native.count
        return
    mixid = {mx: i for i, mx in enumerate(sorted(set(core.mixture)))}
    mixkey = [mixid[mx] if mx else -1 for mx in core.mixture]
    opid = {nm: i for i, nm in enumerate(sorted(set(core.opname)))}
    opkey = [opid[nm] for nm in core.opname]
    if core.native is not None:  # set up in Python (see Core), with the compiled loops
        core.placed = core.native.run_window(core, window, max_rejects, max_scan, mixkey,
                                             opkey, len(mixid), len(opid))
        core.count += core.native.count  # after the pins Core placed (none without re-planning)
        return
    due = core.due
    placed = core.placed
    ready = core.ready
    elig = core.elig
    lines = core.timeline.lines
    dur = [dict(pairs) for pairs in elig]
    mixlists: list[list[int]] = [[] for _ in mixid]
    oplists: list[list[int]] = [[] for _ in opid]
    heap: list[int] = []

    def on_ready(y: int) -> None:
        heappush(heap, y)
        if mixkey[y] >= 0:
            insort(mixlists[mixkey[y]], y)
        insort(oplists[opkey[y]], y)

    def remove(x: int) -> None:
        if mixkey[x] >= 0:
            lst = mixlists[mixkey[x]]
            del lst[bisect_left(lst, x)]
        lst = oplists[opkey[x]]
        del lst[bisect_left(lst, x)]

    for x in range(core.n):
        if core.npred[x] == 0:
            on_ready(x)
    while heap:
        h = heappop(heap)
        if placed[h]:
            continue
        m, t, s, k, d = core.best(h)
        remove(h)
        core.commit(h, m, t, s, k, d, on_ready)
        lo = bisect_left(due, due[h] - window)
        hi = bisect_right(due, due[h] + window)
        groups = [oplists[opkey[h]]]
        if mixkey[h] >= 0:
            groups.insert(0, mixlists[mixkey[h]])
        line = lines[m]
        for lst in groups:
            rejects = 0
            scanned = 0
            last = lo - 1
            while scanned < max_scan:
                scanned += 1
                i = bisect_right(lst, last)
                if i >= len(lst) or lst[i] >= hi:
                    break
                c = last = lst[i]
                dm = dur[c].get(m)
                if dm is None:
                    continue
                rc = ready[c]
                # an upper bound of c's end elsewhere: appended to the other machine that
                # looks least busy
                other = None
                guess = _NEVER
                for pair in elig[c]:
                    if pair[0] != m:
                        a = lines[pair[0]].tail
                        est = (a if a > rc else rc) + pair[1]
                        if est < guess:
                            guess = est
                            other = pair
                ub = _NEVER if other is None else lines[other[0]].tail_end(c, other[1], rc)
                found = line.find(c, dm, rc, ub)
                if found is not None and not core.finishes_earlier_elsewhere(
                        c, m, found[0] + dm):
                    remove(c)
                    core.commit(c, m, found[0], found[1], found[2], dm, on_ready)
                    continue
                rejects += 1
                if rejects >= max_rejects:
                    break


def _run_static(core: Core, rule: Rule, state: RuleState) -> None:
    prio = rule.priority
    internal = rule.internal
    ops = None if internal else core.ops  # built-in rules work on indexes
    tie = core.tie
    heap: list[tuple[Any, int, int]] = []

    def on_ready(y: int) -> None:
        key = prio(y, state) if internal else prio(ops[y], state)
        heappush(heap, (key, tie[y], y))

    for x in range(core.n):
        if core.npred[x] == 0:
            on_ready(x)
    while heap:
        x = heappop(heap)[2]
        m, t, s, k, d = core.best(x)
        core.commit(x, m, t, s, k, d, on_ready)


def _run_dynamic(core: Core, rule: Rule, state: RuleState) -> None:
    prio = rule.priority
    internal = rule.internal
    limit = rule.candidates
    ops = None if internal else core.ops  # built-in rules work on indexes
    tie = core.tie
    ready_list: list[int] = [x for x in range(core.n) if core.npred[x] == 0]

    def on_ready(y: int) -> None:
        insort(ready_list, y)

    while ready_list:
        cands = ready_list if limit is None else ready_list[:limit]
        best_key = None
        best = -1
        for c in cands:
            key = (prio(c, state) if internal else prio(ops[c], state), tie[c])
            if best < 0 or key < best_key:
                best_key, best = key, c
        del ready_list[bisect_left(ready_list, best)]
        m, t, s, k, d = core.best(best)
        core.commit(best, m, t, s, k, d, on_ready)


class _Ticker:
    """Checks cancel and reports progress at most ~10 times a second."""

    def __init__(self, n: int, progress, cancel, offset: float = 0.0, scale: float = 1.0) -> None:
        self.n = max(n, 1)
        self.progress = progress
        self.cancel = cancel
        self.offset = offset
        self.scale = scale
        self.last = time.perf_counter()

    def __call__(self, count: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("scheduling was cancelled")
        if self.progress is not None:
            now = time.perf_counter()
            if now - self.last >= 0.1:
                self.last = now
                self.progress(self.offset + self.scale * count / self.n,
                              f"placed {count} of {self.n} operations")


def _one_pass(instance, rule: Rule, window_slots: int, seed: int, options, ticker) -> Core:
    core = Core(instance, seed, ticker, options.get("timeline"))
    if rule.kind == "window":
        _run_window(core, window_slots, options)
    else:
        state = RuleState(core, options)
        if rule.kind == "static":
            _run_static(core, rule, state)
        else:
            _run_dynamic(core, rule, state)
    if core.count < core.n:
        raise core.unplaced_error()
    return core


def restarts_of(rule: Rule, options: Mapping[str, Any]) -> int:
    """The number of passes: option ``restarts`` (an int >= 1), else the rule's own."""
    value = options.get("restarts", rule.restarts)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"rule option restarts must be an integer >= 1, got {value!r}")
    return value


def _best_pass(instance, rule: Rule, window_slots: int, seed: int, options, ticker,
               restarts: int, objective, objective_options):
    """``restarts`` passes with the seeds ``seed * restarts + i``; the assignments of the best
    by ``objective`` (the first of equals), the timeline kind and that pass's seed."""
    best = None
    for i in range(restarts):
        ticker.offset = i * ticker.scale
        pass_seed = seed * restarts + i
        core = _one_pass(instance, rule, window_slots, pass_seed, options, ticker)
        assignments = _assignments(core)
        timeline = "python" if isinstance(core.timeline, Timeline) else "native"
        del core
        if restarts == 1:
            return assignments, timeline, pass_seed
        value = get_objective(objective).value(
            figures_of(Schedule(assignments=assignments), instance), objective_options)
        if best is None or value < best[0]:
            best = (value, assignments, timeline, pass_seed)
    return best[1:]


def _assignments(core: Core) -> tuple[Assignment, ...]:
    """Final assignments; setups come from the timeline (insertions may have changed them)."""
    codes = [mc.code for mc in core.instance.machines]
    if core.native is not None:  # the same, built in one compiled pass
        return core.native.assignments(Assignment, codes,
                                       None if core.native.keyed else core.opid)
    starts, machines, ops, ends, setups = core.timeline.columns()
    return tuple(map(_new_assignment, zip(map(core.opid.__getitem__, ops),
                                          map(codes.__getitem__, machines), starts, ends,
                                          setups)))


_new_assignment = functools.partial(tuple.__new__, Assignment)  # Assignment(*row), without
# the Python-level __new__ of a NamedTuple


def schedule(
    instance: Instance,
    rule: str | Rule | Callable = "window",
    window_days: float = 5,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    cancel=None,
    time_limit_s: float | None = None,
    *,
    slot_minutes: int = 30,
    options: Mapping[str, Any] | None = None,
    objective: str | Callable = "tardiness",
    objective_options: Mapping[str, Any] | None = None,
    improve_iterations: int = 0,
    on_iteration: Callable[[int, tuple], None] | None = None,
) -> Schedule:
    """Place every operation of ``instance``; raise ScheduleError naming any that cannot be.

    ``window_days`` is converted to slots with ``slot_minutes``. The dispatch rule builds the
    schedule in one pass; with ``improve_iterations`` the optimiser
    (:func:`prodsched.engine.improve.improve`) then searches from it by ``objective`` (with
    ``objective_options``) for that many iterations, ``time_limit_s`` only capping its wall
    time. Same input, rule, options, seed and iterations give the identical schedule.
    ``on_iteration(iteration, best value)`` reports the optimiser's progress; cancel during the
    dispatch raises Cancelled, during the optimiser it returns the best schedule so far.
    """
    started = time.perf_counter()
    rule_obj = get_rule(rule)
    options = dict(options or {})
    window_slots = round(float(window_days) * 24 * 60 / int(slot_minutes))
    if window_slots < 0:
        raise ValueError(f"window_days must be >= 0, got {window_days}")
    improve_iterations = int(improve_iterations)
    if improve_iterations < 0:
        raise ValueError(f"improve_iterations must be >= 0, got {improve_iterations}")
    if time_limit_s is not None and float(time_limit_s) < 0:
        raise ValueError(f"time_limit_s must be >= 0, got {time_limit_s}")
    check_options(objective, objective_options)
    restarts = restarts_of(rule_obj, options)
    n = len(instance.operations)
    scale = 0.5 if improve_iterations else 1.0
    ticker = _Ticker(n, progress, cancel, 0.0, scale / restarts)
    if cancel is not None and cancel.is_set():
        raise Cancelled("scheduling was cancelled")
    if instance.replanning:
        check_now(instance)  # the pins are checked where they are placed (Core)
    assignments, timeline, best_seed = _best_pass(instance, rule_obj, window_slots, seed,
                                                  options, ticker, restarts, objective,
                                                  objective_options)
    if instance.replanning:
        check_unpinned_predecessors(instance, assignments)
    elapsed = time.perf_counter() - started
    info = {"timeline": timeline, "dispatch_s": elapsed,
            "ops_per_s": n * restarts / elapsed if elapsed > 0 else math.inf}
    if restarts > 1:
        info["pass_seed"] = best_seed
    plan = Schedule(
        assignments=assignments,
        rule=rule_obj.name,
        window_days=window_days,
        seed=seed,
        elapsed_s=elapsed,
        passes=restarts,
        info=info,
    )
    if improve_iterations:
        plan = _improved(instance, plan, objective, objective_options, improve_iterations, seed,
                         None if time_limit_s is None else
                         max(0.0, float(time_limit_s) - (time.perf_counter() - started)),
                         progress, on_iteration, cancel)
    if progress is not None:
        progress(1.0, f"placed {n} of {n} operations")
    return plan


def _improved(instance, plan, objective, objective_options, iterations, seed, time_left,
              progress, on_iteration, cancel) -> Schedule:
    """The optimiser after the dispatch; its progress as the second half of the stage's."""

    def report(iteration: int, value: tuple) -> None:
        if on_iteration is not None:
            on_iteration(iteration, value)
        if progress is not None:
            progress(0.5 + 0.5 * min(1.0, iteration / iterations), iteration_message(iteration, iterations, value))

    return improve(instance, plan, objective=objective, options=objective_options,
                   iterations=iterations, seed=seed, time_limit_s=time_left,
                   progress=report, cancel=cancel)


_ITERATION = re.compile(r"^iteration (\d+) of (\d+): best \[([^\],]+)")


def iteration_message(iteration: int, iterations: int, value: tuple) -> str:
    """The optimiser's progress line (what a stage reports while it improves)."""
    return f"iteration {iteration} of {iterations}: best {list(value)}"


def parse_iteration_message(message: str | None) -> tuple[int, float] | None:
    """(iteration, leading term of the best value) from :func:`iteration_message`'s line, else None."""
    match = _ITERATION.match(message or "")
    return (int(match.group(1)), float(match.group(3))) if match else None
