"""The Python re-timing of the optimiser's machine sequences (the reference; DESIGN §4).

:class:`Retiming` is the part of :class:`~prodsched.engine.sequencing.Sequencing` that times
operations: from scratch for a start schedule, and incrementally after a move
(:meth:`Retiming._propagate`, visiting only operations whose times change and the ones right
after them), with the undo of a move. Its compiled twin is ``prodsched.engine._native.retime``
(same results), used when the compiled timeline is.
"""

from __future__ import annotations

from bisect import bisect_right
from heapq import heapify, heappop, heappush


class Retiming:
    """Timing methods of :class:`~prodsched.engine.sequencing.Sequencing` (its attributes)."""

    def _restore(self, log: list) -> None:
        start, end, stp, job_end = self.start, self.end, self.stp, self.job_end
        for item in reversed(log[1:]):
            if item[0] == 0:
                _tag, v, s, e, u = item
                start[v], end[v] = s, e
                self.setups += u - stp[v]
                stp[v] = u
            else:
                _tag, j, e, tard, late = item
                self.flow += e - job_end[j]
                job_end[j] = e
                self.tard, self.late = tard, late
        x, m1, i1, old_dur, self.sig = log[0]
        self._move(x, m1, i1)
        self.mach[x] = m1
        self.dur[x] = old_dur

    def _propagate(self, x: int, seeds: list[int], log: list) -> bool:
        """Re-time after moving ``x`` (``seeds``: the operations whose machine predecessor
        changed, ``x`` first), visiting only operations whose times change and their next ones.

        Before the move, starts ordered every arc; after it, only arcs into and out of ``x`` may
        break that order. Let ``lo`` be the latest old start before ``x`` (its new machine
        predecessor, its job predecessors) and ``hi`` the earliest after it. When ``lo < hi``
        the old starts, with ``x`` between the two, order every arc. Otherwise the operations
        reachable from ``x`` that started at or before ``lo`` (``F``) go, in their old order,
        right after ``x``, which goes right after ``lo``: that orders every arc again, unless a
        predecessor of ``x`` is in ``F`` — a cycle: False, nothing re-timed.
        """
        start, end, stp, aging, dur = self.start, self.end, self.stp, self.aging, self.dur
        seq, pos, mach, preds, succs = self.seq, self.pos, self.mach, self.preds, self.succs
        line = seq[mach[x]]
        i = pos[x]
        before_x = preds[x] + [line[i - 1]] if i else preds[x]
        lo = -1
        for p in before_x:
            if start[p] > lo:
                lo = start[p]
        after_x = succs[x] + [line[i + 1]] if i + 1 < len(line) else succs[x]
        self._stamp += 2
        on = self._stamp
        mark = self._mark  # on: queued; on + 1: in F (and queued once it is)
        late = self._late
        for p in before_x:
            late[p] = on
        stack = [w for w in after_x if start[w] <= lo]
        for w in stack:
            mark[w] = on + 1
        while stack:  # F: reachable from x, started at or before lo
            v = stack.pop()
            if late[v] == on:
                return False  # x would come after itself
            ln = seq[mach[v]]
            k = pos[v] + 1
            nxt = succs[v] + [ln[k]] if k < len(ln) else succs[v]
            for w in nxt:
                if start[w] <= lo and mark[w] != on + 1:
                    mark[w] = on + 1
                    stack.append(w)
        heap = [(lo, 1, 0, x)]
        queued = {x}
        for v in seeds[1:]:
            if v not in queued:
                queued.add(v)
                heap.append((lo, 2, start[v], v) if mark[v] == on + 1 else (start[v], 0, 0, v))
        heapify(heap)
        setup = self.table.setup
        dts, dte = self.dts, self.dte
        horizon = self.horizon
        pin, now = self.pin, self.now
        job = self.job
        jobs_hit = []
        while heap:
            v = heappop(heap)[3]
            m = mach[v]
            ln = seq[m]
            k = pos[v]
            r = 0
            for p in preds[v]:
                e = end[p] + aging[p]
                if e > r:
                    r = e
            s = 0
            if k:
                u = ln[k - 1]
                s = setup(u, v, m) if v in seeds else stp[v]
                e = end[u] + s
                if e > r:
                    r = e
            d = dur[v]
            if pin[v] >= 0:
                t = self._pinned_start(v, m, r, s)
                if t < 0:
                    return False
            else:
                t = r if r >= now + s else now + s
                ds = dts[m]
                if ds:
                    de = dte[m]
                    q = bisect_right(de, t - s)
                    while q < len(ds) and ds[q] < t + d:
                        t = de[q] + s
                        q += 1
            if t == start[v] and t + d == end[v] and s == stp[v]:
                continue
            if t + d > horizon:
                return False
            log.append((0, v, start[v], end[v], stp[v]))
            moved = t + d != end[v]
            start[v] = t
            end[v] = t + d
            self.setups += s - stp[v]
            stp[v] = s
            if not moved:
                continue
            jobs_hit.append(job[v])
            if k + 1 < len(ln):
                w = ln[k + 1]
                if w not in queued:
                    queued.add(w)
                    heappush(heap, (lo, 2, start[w], w) if mark[w] == on + 1
                             else (start[w], 0, 0, w))
            for w in succs[v]:
                if w not in queued:
                    queued.add(w)
                    heappush(heap, (lo, 2, start[w], w) if mark[w] == on + 1
                             else (start[w], 0, 0, w))
        if jobs_hit:
            self._update_jobs(jobs_hit, log)
        return True

    def _time_all(self, order: list[int]) -> None:
        """Time every operation from scratch, in ``order`` (the start schedule's starts: in a
        feasible schedule every predecessor starts earlier)."""
        start, end, stp, aging, dur = self.start, self.end, self.stp, self.aging, self.dur
        seq, pos, mach, setup = self.seq, self.pos, self.mach, self.table.setup
        timed = bytearray(self.n)
        for x in order:
            r = 0
            for p in self.preds[x]:
                if not timed[p]:
                    raise ValueError(f"the start schedule starts {self.instance.operations[x].id} "
                                     f"before its predecessor {self.instance.operations[p].id}")
                r = max(r, end[p] + aging[p])
            m = mach[x]
            s = 0
            if pos[x]:
                u = seq[m][pos[x] - 1]
                s = setup(u, x, m)
                r = max(r, end[u] + s)
            if self.pin[x] >= 0:
                t = self._pinned_start(x, m, r, s)
                if t < 0:
                    raise ValueError(f"the start schedule cannot keep the pin of "
                                     f"{self.instance.operations[x].id}")
            else:
                t = max(r, self.now + s)
                ds, de = self.dts[m], self.dte[m]
                q = bisect_right(de, t - s)
                while q < len(ds) and ds[q] < t + dur[x]:
                    t = de[q] + s
                    q += 1
            start[x], end[x], stp[x] = t, t + dur[x], s
            timed[x] = 1
        self.setups = sum(stp)

    def _pinned_start(self, x: int, m: int, r: int, s: int) -> int:
        """The pinned start of ``x`` when ``r`` (its earliest start after the operations before
        it) allows it and its setup ``s`` overlaps no downtime there; -1 otherwise."""
        t = self.pin[x]
        if r > t:
            return -1
        ds = self.dts[m]
        if ds and s:
            q = bisect_right(self.dte[m], t - s)
            if q < len(ds) and ds[q] < t:
                return -1
        return t

    def _update_jobs(self, jobs: list[int], log: list) -> None:
        job_end, job_due, end, job_ops = self.job_end, self.job_due, self.end, self.job_ops
        for j in dict.fromkeys(jobs):
            e = 0
            for x in job_ops[j]:
                if end[x] > e:
                    e = end[x]
            old = job_end[j]
            if e == old:
                continue
            log.append((1, j, old, self.tard, self.late))
            self.flow += e - old
            due = job_due[j]
            if old > due:
                self.tard -= old - due
                self.late -= 1
            if e > due:
                self.tard += e - due
                self.late += 1
            job_end[j] = e
