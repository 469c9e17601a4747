# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of the optimiser's re-timing (:meth:`Retiming._propagate`,
:meth:`Retiming._update_jobs` and :meth:`Retiming._restore` in :mod:`prodsched.engine.retiming`,
the reference).

The fixed data of an instance (precedence, aging, pins, downtime, jobs, the setup table) are
C++ vectors here; the state that moves (machine sequences, positions, times, job ends) stays in
the :class:`Sequencing` (its sequences are lists, the rest arrays of 64-bit ints), read and
written in place. What a move changed is kept here,
on a stack of the moves not yet kept or undone (the Python log of a move records how many
entries are its own), so the two re-time identically.
"""

from libcpp.queue cimport priority_queue
from libcpp.utility cimport pair
from libcpp.vector cimport vector

from prodsched.engine._native.arrays cimport _br, i64
from prodsched.engine._native.setups cimport Shared

ctypedef pair[i64, i64] P2
ctypedef pair[P2, P2] Entry  # (key, rank, start, op), negated: the max-heap pops the least


cdef inline Entry _entry(i64 key, i64 rank, i64 st, i64 v) noexcept:
    return Entry(P2(-key, -rank), P2(-st, -v))


cdef void _csr(list rows, vector[int]& at, vector[int]& out):
    at.push_back(0)
    for row in rows:
        for v in row:
            out.push_back(v)
        at.push_back(out.size())


cdef class Retimer:
    """The fixed data of one :class:`Sequencing` and its re-timing loops."""

    cdef vector[int] pred_at, pred, succ_at, succ, jops_at, jops, job, down_at
    cdef vector[i64] aging, pin, due, ds, de
    cdef vector[int] mark, late, queued, jmark
    cdef vector[i64] undo_buf  # 5 per entry: (0, op, start, end, setup) or (1, job, end, tard, late)
    cdef int stamp
    cdef i64 now, horizon
    cdef Shared table

    def __init__(self, state):
        _csr(state.preds, self.pred_at, self.pred)
        _csr(state.succs, self.succ_at, self.succ)
        _csr(state.job_ops, self.jops_at, self.jops)
        self.down_at.push_back(0)
        for starts, ends in zip(state.dts, state.dte):
            for v in starts:
                self.ds.push_back(v)
            for v in ends:
                self.de.push_back(v)
            self.down_at.push_back(self.ds.size())
        self.job = state.job
        self.aging = state.aging
        self.pin = state.pin
        self.due = state.job_due
        n = state.n
        self.mark.assign(n, 0)
        self.late.assign(n, 0)
        self.queued.assign(n, 0)
        self.jmark.assign(len(state.job_ops), 0)
        self.stamp = 0
        self.now = state.now
        self.horizon = state.horizon
        self.table = Shared(state.table)

    cdef i64 _pinned(self, int x, int m, i64 r, i64 s):
        cdef i64 t = self.pin[x]
        cdef Py_ssize_t a = self.down_at[m], b = self.down_at[m + 1], q
        if r > t:
            return -1
        if b > a and s:
            q = _br(self.de, t - s, a, b)
            if q < b and self.ds[q] < t:
                return -1
        return t

    def propagate(self, state, int x, list seeds, list log):
        """:meth:`Retiming._propagate`, compiled: True when re-timed, False on a cycle or past
        the horizon (what was re-timed is in ``log`` for the caller to restore)."""
        cdef i64[::1] start = state.start, end = state.end, stp = state.stp, dur = state.dur
        cdef i64[::1] pos = state.pos, mach = state.mach
        cdef list seq = state.seq
        cdef list line = seq[mach[x]], ln
        cdef int i = pos[x], k, m, v, w, u, a, nseeds = len(seeds)
        cdef int s1 = seeds[1] if nseeds > 1 else -1, s2 = seeds[2] if nseeds > 2 else -1
        cdef i64 lo = -1, r, e, s, t, d, setups = 0
        cdef Py_ssize_t q, qb
        cdef bint moved, ok = True
        cdef vector[int] stack, hit
        cdef priority_queue[Entry] heap
        self.stamp += 2
        cdef int on = self.stamp
        cdef Py_ssize_t mark0 = self.undo_buf.size()
        for a in range(self.pred_at[x], self.pred_at[x + 1]):
            v = self.pred[a]
            self.late[v] = on
            if <i64>start[v] > lo:
                lo = start[v]
        if i:
            v = line[i - 1]
            self.late[v] = on
            if <i64>start[v] > lo:
                lo = start[v]
        for a in range(self.succ_at[x], self.succ_at[x + 1]):
            stack.push_back(self.succ[a])
        if i + 1 < len(line):
            stack.push_back(line[i + 1])
        k = 0
        for a in range(<int>stack.size()):
            if <i64>start[stack[a]] <= lo:
                stack[k] = stack[a]
                self.mark[stack[k]] = on + 1
                k += 1
        stack.resize(k)
        while stack.size():  # F: reachable from x, started at or before lo
            v = stack.back()
            stack.pop_back()
            if self.late[v] == on:
                log.append(0)
                return False  # x would come after itself
            ln = seq[mach[v]]
            k = <int>pos[v] + 1
            for a in range(self.succ_at[v], self.succ_at[v + 1] + (1 if k < len(ln) else 0)):
                w = self.succ[a] if a < self.succ_at[v + 1] else ln[k]
                if <i64>start[w] <= lo and self.mark[w] != on + 1:
                    self.mark[w] = on + 1
                    stack.push_back(w)
        heap.push(_entry(lo, 1, 0, x))
        self.queued[x] = on
        for a in range(1, nseeds):
            v = seeds[a]
            if self.queued[v] != on:
                self.queued[v] = on
                heap.push(_entry(lo, 2, start[v], v) if self.mark[v] == on + 1
                          else _entry(start[v], 0, 0, v))
        while heap.size():
            v = <int>(-heap.top().second.second)
            heap.pop()
            m = mach[v]
            ln = seq[m]
            k = pos[v]
            r = 0
            for a in range(self.pred_at[v], self.pred_at[v + 1]):
                u = self.pred[a]
                e = <i64>end[u] + self.aging[u]
                if e > r:
                    r = e
            s = 0
            if k:
                u = ln[k - 1]
                s = self.table.setup(u, v, m) if (v == x or v == s1 or v == s2) else <i64>stp[v]
                e = <i64>end[u] + s
                if e > r:
                    r = e
            d = dur[v]
            if self.pin[v] >= 0:
                t = self._pinned(v, m, r, s)
                if t < 0:
                    ok = False
                    break
            else:
                t = r if r >= self.now + s else self.now + s
                q = self.down_at[m]
                qb = self.down_at[m + 1]
                if qb > q:
                    q = _br(self.de, t - s, q, qb)
                    while q < qb and self.ds[q] < t + d:
                        t = self.de[q] + s
                        q += 1
            if t == <i64>start[v] and t + d == <i64>end[v] and s == <i64>stp[v]:
                continue
            if t + d > self.horizon:
                ok = False
                break
            self._push(0, v, start[v], end[v], stp[v])
            moved = t + d != <i64>end[v]
            start[v] = t
            end[v] = t + d
            setups += s - <i64>stp[v]
            stp[v] = s
            if not moved:
                continue
            hit.push_back(self.job[v])
            for a in range(self.succ_at[v], self.succ_at[v + 1] + (1 if k + 1 < len(ln) else 0)):
                w = self.succ[a] if a < self.succ_at[v + 1] else ln[k + 1]
                if self.queued[w] != on:
                    self.queued[w] = on
                    heap.push(_entry(lo, 2, start[w], w) if self.mark[w] == on + 1
                              else _entry(start[w], 0, 0, w))
        state.setups += setups
        if ok and hit.size():
            self._update_jobs(state, hit, on)
        log.append((self.undo_buf.size() - mark0) // 5)
        return ok

    cdef inline void _push(self, i64 a, i64 b, i64 c, i64 d, i64 e):
        self.undo_buf.push_back(a)
        self.undo_buf.push_back(b)
        self.undo_buf.push_back(c)
        self.undo_buf.push_back(d)
        self.undo_buf.push_back(e)

    def clear(self):
        """Forget the moves on the stack (they are kept)."""
        self.undo_buf.clear()

    cdef void _update_jobs(self, state, vector[int]& hit, int on):
        cdef i64[::1] job_end = state.job_end, end = state.end
        cdef i64 tard = state.tard, late = state.late, flow = state.flow, e, old, due
        cdef int j, a
        cdef Py_ssize_t h
        for h in range(hit.size()):
            j = hit[h]
            if self.jmark[j] == on:
                continue
            self.jmark[j] = on
            e = 0
            for a in range(self.jops_at[j], self.jops_at[j + 1]):
                if <i64>end[self.jops[a]] > e:
                    e = end[self.jops[a]]
            old = job_end[j]
            if e == old:
                continue
            self._push(1, j, old, tard, late)
            flow += e - old
            due = self.due[j]
            if old > due:
                tard -= old - due
                late -= 1
            if e > due:
                tard += e - due
                late += 1
            job_end[j] = e
        state.tard = tard
        state.late = late
        state.flow = flow

    def restore(self, state, list log):
        """:meth:`Retiming._restore`, compiled: take back the move logged in ``log`` (the last
        one on the stack)."""
        cdef i64[::1] start = state.start, end = state.end, stp = state.stp, job_end = state.job_end
        cdef i64[::1] pos = state.pos, mach = state.mach
        cdef Py_ssize_t count = log[1], top = self.undo_buf.size(), h
        cdef i64* e
        cdef i64 setups = 0, flow = 0
        cdef int v, j, x, m1, i1, p, m2
        cdef bint jobs = False
        cdef i64 tard = 0, late = 0
        for h in range(count):
            e = &self.undo_buf[top - 5 * (h + 1)]
            if e[0] == 0:
                v = <int>e[1]
                start[v] = e[2]
                end[v] = e[3]
                setups += e[4] - <i64>stp[v]
                stp[v] = e[4]
            else:
                j = <int>e[1]
                flow += e[2] - <i64>job_end[j]
                job_end[j] = e[2]
                tard, late, jobs = e[3], e[4], True
        self.undo_buf.resize(top - 5 * count)
        if jobs:
            state.tard = tard
            state.late = late
        state.setups += setups
        state.flow += flow
        item = log[0]
        x, m1, i1 = item[0], item[1], item[2]
        state.sig = item[4]
        m2 = mach[x]
        p = pos[x]
        _move(state.seq[m2], state.seq[m1], pos, p, i1)
        mach[x] = m1
        state.dur[x] = item[3]

    def move(self, state, int x, int m2, int p):
        """Take ``x`` out of its sequence and put it at index ``p`` of ``m2``'s, positions
        renumbered (no re-timing)."""
        cdef i64[::1] pos = state.pos
        _move(state.seq[state.mach[x]], state.seq[m2], pos, pos[x], p)


cdef void _move(list src, list dst, i64[::1] pos, int i, int p):
    """``src[i]`` to index ``p`` of ``dst`` (the same list or another), positions renumbered."""
    cdef Py_ssize_t k, lo, hi
    x = src[i]
    del src[i]
    dst.insert(p, x)
    if src is dst:
        lo, hi = (i, p) if i < p else (p, i)
        for k in range(lo, hi + 1):
            pos[dst[k]] = k
        return
    for k in range(i, len(src)):
        pos[src[k]] = k
    for k in range(p, len(dst)):
        pos[dst[k]] = k
