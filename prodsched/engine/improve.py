"""The optimiser: tabu search over machine sequences and assignments (DESIGN §4).

It starts from any schedule (a dispatch rule's), holds it as machine sequences
(:class:`~prodsched.engine.sequencing.Sequencing`, re-timed with the dispatch semantics) and
moves one operation (or a run of operations) per iteration to another position or another
eligible machine. Each iteration tries, in a seeded order, a sample of the moves of the
neighbourhoods that suit the objective (:mod:`prodsched.engine.neighbourhoods`), judges each by
the objective and makes the first one not forbidden by the tabu list that improves the current
schedule, else the best one not forbidden (a forbidden move is allowed when it beats the best
schedule found). Without a new best the sample grows (``grow``); after ``stall`` iterations
without one the search goes back to the best and perturbs it. Every ``recreate`` iterations
(objective ``tardiness``: 3, up to 2,500 operations) the operations of ``ruin`` related jobs
are taken out and put back one job at a time (:mod:`prodsched.engine.recreate`), kept when the
objective finds that better.

The budget is a number of iterations: the same instance, start, objective, options, seed and
iterations give the identical schedule. ``time_limit_s`` only caps the wall time; the result
records the iterations done and whether the cap cut them. The best schedule found is returned,
so it is never worse than the start by the objective, and it is checked by
:func:`~prodsched.engine.verify.verify` before it is returned.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from prodsched.engine.model import Assignment, Instance, Schedule
from prodsched.engine.neighbourhoods import NAMES, Neighbourhoods, apply_move
from prodsched.engine.objectives import (
    Objective,
    check_options,
    figures_of,
    get_objective,
)
from prodsched.engine.recreate import RuinRecreate
from prodsched.engine.sequencing import Sequencing
from prodsched.engine.verify import verify
from prodsched.errors import ProdschedError

Progress = Callable[[int, tuple], None]

# search settings a caller may override through options["search"]
SEARCH_DEFAULTS = {
    "candidates": 48,  # moves tried per iteration (a sample when the neighbourhoods offer more; tardiness: below)
    "tenure": (8, 16),  # tabu tenure, drawn per move from this range (iterations)
    "stall": 250,  # iterations without a new best before going back to the best and perturbing
    "perturb": 4,  # random moves of a perturbation
    "neighbourhoods": None,  # names to draw on (None: those that suit the objective)
    "first": True,  # take the first allowed move that improves the current schedule (else the best)
    "grow": 8,  # without a new best, the sample grows by `candidates` every 25 iterations, to this many times
    "recreate": 0,  # every this many iterations, ruin and recreate a few related jobs (0: never; tardiness: below)
    "ruin": 2,  # jobs taken out and put back by one ruin and recreate
}
# For `tardiness` the sample is smaller on small and mid-sized instances: more, cheaper
# iterations pay there (150 and 1,500 plant orders: 12 moves beat 24 and 48 at 10 s); on large
# ones building the sample costs more than trying it, and 48 pay (5,000 orders). Measured in
# benchmarks/results/plant.md.
TARDINESS_OPS_PER_CANDIDATE = 100  # one move of the sample per this many operations, 12 to 48
# Ruin and recreate for `tardiness`: two jobs every 3 iterations (1,500 plant orders, 10 s, seeds
# 0-5: 12,044 on average against 12,282 every 2 and 12,517 every 4; 3 or 4 jobs, or every 20
# iterations, 13,400-14,000), up to 2,500 operations: at 5,000 orders (5,806 operations) a step
# costs about 75 ms and 10 s end 1-3 % worse with it (60 s: the same). Measured in
# benchmarks/results/plant.md.
TARDINESS_RECREATE = 3  # iterations between two ruin-and-recreate steps
TARDINESS_RUIN = 2  # jobs taken out by one
TARDINESS_RECREATE_MAX_OPS = 2500  # above this many operations: no ruin and recreate


def improve(
    instance: Instance,
    start: Schedule,
    *,
    objective: str | Objective | Callable = "tardiness",
    options: Mapping[str, Any] | None = None,
    iterations: int = 1000,
    seed: int = 0,
    time_limit_s: float | None = None,
    progress: Progress | None = None,
    cancel=None,
    timeline: str | None = None,
) -> Schedule:
    """Improve ``start`` by ``objective`` for ``iterations`` iterations; the best found.

    ``options`` go to the objective (e.g. ``{"weights": {...}}`` for ``weighted``); their key
    ``search`` may override :data:`SEARCH_DEFAULTS`. ``progress(iteration, best value)`` is
    called when the best improves, at least every 0.1 s while it runs, and at the end; ``cancel`` (an Event) stops the search and
    returns the best so far. ``info`` of the result records ``objective``, ``iterations``
    (done), ``iterations_asked``, ``capped`` (the time limit cut them), ``cancelled``,
    ``exhausted`` (stopped early: no move applied),
    ``start_value``, ``value``, ``evaluations``, ``last_improvement``, ``recreated`` (ruin and
    recreate steps kept, tried) and ``retime`` (which
    re-timing ran: ``timeline``, else the one ``start`` was dispatched on, else the compiled one
    when built — both give the same schedule).
    """
    started = time.perf_counter()
    obj = get_objective(objective)
    options = dict(options or {})
    check_options(obj, options)
    search = _search_settings(options.get("search"), obj.name, len(instance.operations))
    iterations = int(iterations)
    if iterations < 0:
        raise ValueError(f"improve iterations must be >= 0, got {iterations}")
    if time_limit_s is not None and float(time_limit_s) < 0:
        raise ValueError(f"time_limit_s must be >= 0, got {time_limit_s}")
    deadline = None if time_limit_s is None else started + float(time_limit_s)
    problems = verify(instance, start)
    if problems:
        raise ValueError(f"the start schedule is not feasible ({len(problems)} violation(s), "
                         f"first: {problems[0].message})")

    def value(f) -> tuple:
        return obj.value(f, options)

    start_value = value(figures_of(start, instance))
    timeline = timeline or start.info.get("timeline")
    state = Sequencing(instance, start, timeline)
    current = value(state.figures())
    best_value = start_value
    best = start.assignments  # the assignments, or a snapshot of the state (made into them when needed)
    if current < best_value:  # re-timing alone may start operations earlier
        best_value, best = current, state.snapshot()
    moves = Neighbourhoods(state, obj.name, search["candidates"], search["neighbourhoods"])
    rng = random.Random(seed)
    recreate = RuinRecreate(state, value) if search["recreate"] else None
    tabu: dict = {}  # what a move may not restore -> the iteration it is forbidden until
    tmin, tmax = search["tenure"]
    first = bool(search["first"])
    evaluations = 0
    done = 0
    last_improvement = 0
    since = 0
    capped = cancelled = exhausted = False
    reported = started
    for it in range(1, iterations + 1):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        if deadline is not None and time.perf_counter() > deadline:
            capped = True
            break
        chosen = None
        chosen_value = chosen_guide = None
        moves.limit = search["candidates"] * min(search["grow"], 1 + since // 25)
        candidates = moves.candidates(rng)
        if not candidates:  # no move of any neighbourhood applies: nothing left to try
            exhausted = True
            break
        for move in candidates:
            x, m2, p = move[0], move[1], move[2]
            forbidden = tabu.get((x, m2, state.prev_at(x, m2, p)), 0) > it or (
                m2 != state.mach[x] and tabu.get((x, m2), 0) > it)
            made = apply_move(state, move)
            if not made:
                continue
            evaluations += 1
            v = value(state.figures())
            guide = (v, state.flow)
            sig = state.sig
            for _ in range(made):
                state.undo()
            if (forbidden or tabu.get(sig, 0) > it) and not v < best_value:
                continue
            if chosen is None or guide < chosen_guide:
                chosen, chosen_value, chosen_guide = move, v, guide
                if first and v < current:
                    break
        done = it
        since += 1
        if chosen is None or since > search["stall"]:
            best = _rows(state, best)
            state = _perturbed(instance, best, moves, rng, search["perturb"], timeline)
            moves.state = state
            if recreate is not None:
                recreate.state = state
            tabu.clear()
            since = 0
            current = value(state.figures())
        else:
            x, m2 = chosen[0], chosen[1]
            until = it + rng.randint(tmin, tmax)
            m1 = state.mach[x]
            tabu[state.sig] = until  # the schedule being left,
            tabu[x, m1, state.prev_at(x, m1, state.pos[x])] = until  # x back where it was,
            if m2 != m1:
                tabu[x, m1] = until  # x back on the machine it leaves
            apply_move(state, chosen)
            state.keep()
            current = chosen_value
        if recreate is not None and it % search["recreate"] == 0:
            found = recreate.step(rng, search["ruin"], current)
            if found is not None:
                state.keep()
                current = found
        if current < best_value:
            best_value, best = current, state.snapshot()
            last_improvement = it
            since = 0
            if progress is not None:
                progress(it, best_value)
                reported = time.perf_counter()
        elif progress is not None and time.perf_counter() - reported >= 0.1:
            progress(it, best_value)  # a heartbeat (it changes nothing of the search)
            reported = time.perf_counter()
    if progress is not None:
        progress(done, best_value)
    plan = Schedule(assignments=_rows(state, best), rule=start.rule, window_days=start.window_days,
                    seed=start.seed, elapsed_s=start.elapsed_s + time.perf_counter() - started,
                    passes=start.passes,
                    info={**start.info, "objective": obj.name, "iterations": done,
                          "iterations_asked": iterations, "capped": capped,
                          "cancelled": cancelled, "exhausted": exhausted, "start_value": list(start_value),
                          "value": list(best_value), "evaluations": evaluations,
                          "last_improvement": last_improvement, "improve_seed": seed,
                          "recreated": [0, 0] if recreate is None else [recreate.kept, recreate.tried],
                          "retime": state.timeline})
    problems = verify(instance, plan)
    if problems:  # a bug, never a user error: say so loudly
        raise ProdschedError(f"the optimiser produced an infeasible schedule ({len(problems)} "
                             f"violation(s), first: {problems[0].message})")
    return plan


def _search_settings(given: Any, objective: str = "", operations: int = 0) -> dict[str, Any]:
    out = dict(SEARCH_DEFAULTS)
    if objective == "tardiness":
        out["candidates"] = min(48, max(12, operations // TARDINESS_OPS_PER_CANDIDATE))
        if operations <= TARDINESS_RECREATE_MAX_OPS:
            out["recreate"], out["ruin"] = TARDINESS_RECREATE, TARDINESS_RUIN
    if given is None:
        return out
    if not isinstance(given, Mapping):
        raise TypeError(f"options['search'] must be a mapping, got {given!r}")
    unknown = sorted(set(given) - set(SEARCH_DEFAULTS))
    if unknown:
        raise ValueError(f"options['search']: unknown setting(s) {unknown}; known: "
                         f"{', '.join(SEARCH_DEFAULTS)}")
    out.update(given)
    lo, hi = (int(v) for v in out["tenure"])
    if not 0 <= lo <= hi:
        raise ValueError(f"options['search']['tenure'] must be (low, high) with 0 <= low <= high, "
                         f"got {out['tenure']!r}")
    out["tenure"] = (lo, hi)
    only = out["neighbourhoods"]
    if only is not None:
        only = (only,) if isinstance(only, str) else tuple(only)
        wrong = [name for name in only if name not in NAMES]
        if wrong or not only:
            raise ValueError(f"options['search']['neighbourhoods']: unknown {wrong}; choose "
                             f"from {', '.join(NAMES)}")
        out["neighbourhoods"] = only
    if not isinstance(out["first"], bool):
        raise ValueError(f"options['search']['first'] must be True or False, got {out['first']!r}")
    for name in ("candidates", "stall", "perturb", "grow", "recreate", "ruin"):
        out[name] = int(out[name])
        if out[name] < (1 if name in ("candidates", "grow", "ruin") else 0):
            raise ValueError(f"options['search']['{name}'] is too small: {out[name]}")
    return out


def _rows(state: Sequencing, best) -> tuple:
    """The assignments of ``best`` (assignments, or a snapshot of ``state``)."""
    return best if not best or isinstance(best[0], Assignment) else state.assignments(best)


def _perturbed(instance: Instance, best, moves: Neighbourhoods, rng: random.Random, k: int,
               timeline: str | None) -> Sequencing:
    """The best schedule so far with ``k`` random feasible moves made on it."""
    fresh = Sequencing(instance, Schedule(best), timeline)
    moves.state = fresh
    made = 0
    for _ in range(8 * k + 8):
        if made >= k:
            break
        cands = moves.candidates(rng)
        if not cands:
            break
        if apply_move(fresh, cands[rng.randrange(len(cands))]):
            fresh.keep()
            made += 1
    return fresh
