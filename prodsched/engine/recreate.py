"""Ruin and recreate (iterated greedy) for the optimiser (DESIGN §4).

Every so often the search takes out the operations of a few related jobs — a late job and jobs
whose operations it waits behind on its machines — and puts them back one job at a time, the
most urgent (earliest due) first, each operation at the best of a few positions per eligible
machine near where it can start and near where it must start to be on time. A position is
judged by the objective on the re-timed schedule (setups both sides included), with the job's
own tardiness estimated from the operation's end and the shortest work left after it. The
result replaces the current schedule when the objective finds it better; otherwise every
relocation is undone.

"Taking out" is moving to the end of the operation's machine sequence (in reverse start order,
so no cycle can close); the positions tried for putting back lie before those ends.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable

from prodsched.engine.objectives import Figures
from prodsched.engine.sequencing import Sequencing

SPREAD = 2  # positions tried either side of each anchor on a machine


class RuinRecreate:
    """Ruin-and-recreate steps on ``state`` judged by ``value(figures)``."""

    def __init__(self, state: Sequencing, value: Callable[[Figures], tuple]) -> None:
        self.state = state
        self.value = value
        # per operation: the shortest work (durations and aging) from its end to its job's end
        n = state.n
        rest = [0] * n
        fastest = [min(d for _m, d in pairs) for pairs in state.elig]
        order = sorted(range(n), key=lambda v: (state.start[v], v), reverse=True)
        for v in order:  # successors start later: they come first
            best = 0
            for w in state.succs[v]:
                t = state.aging[v] + fastest[w] + rest[w]
                if t > best:
                    best = t
            rest[v] = best
        self.rest = rest
        self.tried = self.kept = 0

    def related(self, rng: random.Random, k: int) -> list[int]:
        """A late job (drawn) and up to ``k - 1`` jobs whose operations run on its machines
        between where it could start and where it starts; no job with a pinned operation."""
        state = self.state
        pin, job, start, end = state.pin, state.job, state.start, state.end
        free = [j for j in range(len(state.job_due))
                if state.job_end[j] > state.job_due[j] and all(pin[x] < 0 for x in state.job_ops[j])]
        if not free:
            return []
        j0 = free[rng.randrange(len(free))]
        near: dict[int, None] = {}
        for x in sorted(state.job_ops[j0], key=lambda v: (start[v], v)):
            line = state.seq[state.mach[x]]
            r = state.ready(x)
            for i in range(state.pos[x] - 1, -1, -1):
                u = line[i]
                if end[u] <= r:
                    break
                ju = job[u]
                if ju != j0 and all(pin[y] < 0 for y in state.job_ops[ju]):
                    near[ju] = None
        others = list(near)
        if len(others) > k - 1:
            others = rng.sample(others, k - 1)
        return [j0, *others]

    def step(self, rng: random.Random, k: int, current: tuple) -> tuple | None:
        """One ruin and recreate of ``k`` related jobs: the new value when it beats
        ``current`` (the moves kept in the undo log), else None with nothing changed."""
        jobs = self.related(rng, k)
        if not jobs:
            return None
        self.tried += 1
        state = self.state
        ops = sorted((x for j in jobs for x in state.job_ops[j]), key=lambda v: (state.start[v], v))
        made = 0
        tail = [0] * len(state.seq)  # taken-out operations at the end of each machine
        for x in reversed(ops):
            m = state.mach[x]
            if not state.relocate(x, m, len(state.seq[m]) - 1 - tail[m]):
                return self._undo(made)
            made += 1
            tail[m] += 1
        order = {j: i for i, j in enumerate(jobs)}
        for j in sorted(jobs, key=lambda j: (state.job_due[j], order[j])):
            for x in (v for v in ops if state.job[v] == j):  # in precedence order
                placed = self._put_back(x, tail)
                if placed < 0:
                    return self._undo(made)
                made += placed
        new = self.value(state.figures())
        if new < current:
            self.kept += 1
            return new
        return self._undo(made)

    def _undo(self, made: int) -> None:
        for _ in range(made):
            self.state.undo()
        return None

    def _put_back(self, x: int, tail: list[int]) -> int:
        """``x`` (taken out: after the placed operations of its machine) to the best position
        tried: 1, or 0 when it stays where it is, -1 when no position is feasible."""
        state = self.state
        start = state.start
        j = state.job[x]
        due = state.job_due[j]
        m1 = state.mach[x]
        r = state.ready(x)
        best_key = None
        best_at = None
        for m2, d in state.elig[x]:
            line = state.seq[m2]
            placed = len(line) - tail[m2]  # operations before the taken-out ones (x not among them)
            at = start.__getitem__
            lo = bisect_left(line, r, 0, placed, key=at)
            due_at = bisect_left(line, due - self.rest[x] - d, 0, placed, key=at)
            spots = {placed}
            for anchor in (lo, due_at):
                spots.update(range(max(0, anchor - SPREAD), min(placed, anchor + SPREAD) + 1))
            for p in sorted(spots):
                if m2 == m1 and p == state.pos[x]:
                    key = self._key(x, j, due)  # where it is now
                else:
                    if not state.relocate(x, m2, p):
                        continue
                    key = self._key(x, j, due)
                    state.undo()
                if best_key is None or key < best_key:
                    best_key, best_at = key, (m2, p)
        if best_at is None:
            return -1
        tail[m1] -= 1
        m2, p = best_at
        if m2 == m1 and p == state.pos[x]:
            return 0  # already there
        return 1 if state.relocate(x, m2, p) else -1

    def _key(self, x: int, j: int, due: int) -> tuple:
        """The objective with job ``j``'s tardiness estimated from ``x``'s end and the shortest
        work after it (its later operations are still taken out), then ``x``'s end."""
        state = self.state
        own = state.job_end[j] - due
        guess = state.end[x] + self.rest[x] - due
        tard = state.tard - max(own, 0) + max(guess, 0)
        f = state.figures()
        return self.value(Figures(tard, f.late_jobs, f.setup_slots, f.makespan)), state.end[x]
