# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of :class:`prodsched.engine.core.Core`'s searches and of the ``window`` loop.

``core.py`` and ``scheduler.py`` are the reference: :meth:`NativeCore.best` mirrors
``Core.best``, :meth:`NativeCore.finishes_earlier_elsewhere` mirrors its namesake, and
:meth:`NativeCore.run_window` mirrors ``scheduler._run_window`` step for step, on the compiled
timeline's lines and on compact per-operation arrays. Tests require identical schedules.
"""

from cython.operator cimport dereference as deref
from libcpp.queue cimport priority_queue
from libcpp.set cimport set as cset
from libcpp.vector cimport vector

from prodsched.engine._native_timeline cimport NativeLine, i64

cdef i64 NEVER = (<i64>1) << 62


cdef inline Py_ssize_t _bisect_left(vector[i64]& v, i64 x):
    cdef Py_ssize_t lo = 0, hi = v.size(), mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if v[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t _bisect_right(vector[i64]& v, i64 x):
    cdef Py_ssize_t lo = 0, hi = v.size(), mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < v[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef class NativeCore:
    """Per-operation arrays of a :class:`Core` whose timeline is the compiled one."""

    cdef object core  # the Core, only while run_window runs (no lasting reference cycle)
    cdef object ticker
    cdef int n
    cdef vector[int] estart, em, sstart, succ, npred, mrank
    cdef vector[i64] ed, ready, due, aging
    cdef vector[unsigned char] placed
    cdef i64 horizon
    cdef list lines  # keeps the lines alive for the borrowed pointers below
    cdef vector[void*] lp
    cdef vector[int] newly  # operations the last commit made ready
    cdef vector[int] later_m
    cdef vector[i64] later_d
    cdef i64 bm, bt, bs, bk, bd  # result of the last _best
    cdef readonly long count

    def __init__(self, core):
        cdef Py_ssize_t x
        self.core = None
        self.ticker = core.ticker
        self.n = core.n
        self.lines = list(core.timeline.lines)
        for line in self.lines:
            self.lp.push_back(<void*>line)
        self.estart.push_back(0)
        for pairs in core.elig:
            for m, d in pairs:
                self.em.push_back(m)
                self.ed.push_back(d)
            self.estart.push_back(self.em.size())
        self.sstart.push_back(0)
        for ys in core.succ:
            for y in ys:
                self.succ.push_back(y)
            self.sstart.push_back(self.succ.size())
        self.npred = core.npred
        self.mrank = core.mrank
        self.due = core.due
        self.aging = core.aging
        self.ready = core.ready
        self.placed.resize(self.n)
        self.horizon = core.horizon
        self.count = 0

    cdef inline NativeLine _line(self, int m):
        return <NativeLine>self.lp[m]

    cdef void _best(self, int x, i64 r):
        cdef Py_ssize_t j, j0 = self.estart[x], j1 = self.estart[x + 1], first
        cdef i64 guess, a, est, bt, bs, bk, bd, be, d, t, e
        cdef int bm, m
        cdef NativeLine line
        if j1 - j0 == 1:
            line = self._line(self.em[j0])
            line._find(x, self.ed[j0], r, NEVER)
            self.bm, self.bt, self.bs, self.bk, self.bd = (self.em[j0], line.rt, line.rs,
                                                          line.rk, self.ed[j0])
            return
        first = j0
        guess = NEVER
        for j in range(j0, j1):
            a = self._line(self.em[j]).tail
            est = (a if a > r else r) + self.ed[j]
            if est < guess:
                guess = est
                first = j
        bm = self.em[first]
        bd = self.ed[first]
        line = self._line(bm)
        line._find(x, bd, r, NEVER)
        bt, bs, bk = line.rt, line.rs, line.rk
        be = bt + bd
        for j in range(j0, j1):
            m = self.em[j]
            d = self.ed[j]
            if m == self.em[first] or r + d > be:
                continue
            line = self._line(m)
            if line.tail + d > be and line.gap_limit < r + d:
                continue
            if not line._find(x, d, r, be):
                continue
            t = line.rt
            e = t + d
            if e < be or (e == be and (line.rs < bs or (
                    line.rs == bs and self.mrank[m] < self.mrank[bm]))):
                bm, bt, bs, bk, bd, be = m, t, line.rs, line.rk, d, e
        self.bm, self.bt, self.bs, self.bk, self.bd = bm, bt, bs, bk, bd

    cdef bint _elsewhere(self, int x, int m, i64 end, i64 r):
        cdef Py_ssize_t j, i
        cdef int m2
        cdef i64 d2, a
        cdef NativeLine line
        self.later_m.clear()
        self.later_d.clear()
        for j in range(self.estart[x], self.estart[x + 1]):
            m2 = self.em[j]
            d2 = self.ed[j]
            if m2 == m or r + d2 >= end:
                continue
            line = self._line(m2)
            if line.gap_limit >= r + d2:
                self.later_m.push_back(m2)
                self.later_d.push_back(d2)
                continue
            a = line.tail
            if (a if a > r else r) + d2 >= end:
                continue
            if line._find(x, d2, r, end - 1):
                return True
        for i in range(self.later_m.size()):
            if self._line(self.later_m[i])._find(x, self.later_d[i], r, end - 1):
                return True
        return False

    cdef int _commit(self, int x, int m, i64 t, i64 s, i64 k, i64 d) except -1:
        """Place ``x``; the successors it makes ready go to ``newly``."""
        cdef Py_ssize_t j
        cdef int y
        cdef i64 done
        if t + d > self.horizon:
            raise self.core.horizon_error(x, m, t + d)
        self._line(m)._place(x, d, t, s, k)
        self.placed[x] = 1
        done = t + d + self.aging[x]
        self.newly.clear()
        for j in range(self.sstart[x], self.sstart[x + 1]):
            y = self.succ[j]
            if done > self.ready[y]:
                self.ready[y] = done
            self.npred[y] -= 1
            if self.npred[y] == 0:
                self.newly.push_back(y)
        self.count += 1
        if not self.count & 127:
            self.ticker(self.count)
        return 0

    # -- the Python-facing twins of Core's methods (used by the edd/spt/atcs/custom loops) -----
    def best(self, int x, i64 r):
        self._best(x, r)
        return self.bm, self.bt, self.bs, self.bk, self.bd

    def finishes_earlier_elsewhere(self, int x, int m, i64 end, i64 r):
        return self._elsewhere(x, m, end, r)

    # -- the window loop ---------------------------------------------------------------------
    def run_window(self, core, i64 window, int max_rejects, int max_scan, mixkey, opkey,
                   int nmix, int nop):
        """``scheduler._run_window`` on ``core``; returns the placed flags (a bytearray)."""
        self.core = core
        try:
            self._window(window, max_rejects, max_scan, mixkey, opkey, nmix, nop)
        finally:
            self.core = None
        return bytearray(self.placed)

    cdef int _window(self, i64 window, int max_rejects, int max_scan, mixkey, opkey, int nmix,
                     int nop) except -1:
        cdef vector[int] mk = mixkey
        cdef vector[int] ok = opkey
        cdef vector[cset[int]] mixsets = vector[cset[int]](nmix)
        cdef vector[cset[int]] opsets = vector[cset[int]](nop)
        cdef priority_queue[int] heap  # of -x: the smallest index on top
        cdef cset[int]* groups[2]
        cdef cset[int]* g
        cdef cset[int].iterator it
        cdef Py_ssize_t x, gi, ng, lo, hi, j, other
        cdef int h, c, m, y, rejects, scanned, last
        cdef i64 rc, dm, guess, a, est, ub, ft, fs, fk
        cdef NativeLine line
        for x in range(self.n):
            if self.npred[x] == 0:
                heap.push(-x)
                if mk[x] >= 0:
                    mixsets[mk[x]].insert(x)
                opsets[ok[x]].insert(x)
        while not heap.empty():
            h = -heap.top()
            heap.pop()
            if self.placed[h]:
                continue
            self._best(h, self.ready[h])
            m = self.bm
            if mk[h] >= 0:
                mixsets[mk[h]].erase(h)
            opsets[ok[h]].erase(h)
            self._commit(h, m, self.bt, self.bs, self.bk, self.bd)
            for y in self.newly:
                heap.push(-y)
                if mk[y] >= 0:
                    mixsets[mk[y]].insert(y)
                opsets[ok[y]].insert(y)
            lo = _bisect_left(self.due, self.due[h] - window)
            hi = _bisect_right(self.due, self.due[h] + window)
            ng = 0
            if mk[h] >= 0:
                groups[ng] = &mixsets[mk[h]]
                ng += 1
            groups[ng] = &opsets[ok[h]]
            ng += 1
            line = self._line(m)
            for gi in range(ng):
                g = groups[gi]
                rejects = 0
                scanned = 0
                last = lo - 1
                while scanned < max_scan:
                    scanned += 1
                    it = g.upper_bound(last)
                    if it == g.end() or deref(it) >= hi:
                        break
                    c = last = deref(it)
                    dm = -1
                    for j in range(self.estart[c], self.estart[c + 1]):
                        if self.em[j] == m:
                            dm = self.ed[j]
                            break
                    if dm < 0:
                        continue
                    rc = self.ready[c]
                    other = -1
                    guess = NEVER
                    for j in range(self.estart[c], self.estart[c + 1]):
                        if self.em[j] != m:
                            a = self._line(self.em[j]).tail
                            est = (a if a > rc else rc) + self.ed[j]
                            if est < guess:
                                guess = est
                                other = j
                    ub = NEVER if other < 0 else self._line(self.em[other])._tail_end(
                        c, self.ed[other], rc)
                    if line._find(c, dm, rc, ub):
                        ft, fs, fk = line.rt, line.rs, line.rk
                        if not self._elsewhere(c, m, ft + dm, rc):
                            if mk[c] >= 0:
                                mixsets[mk[c]].erase(c)
                            opsets[ok[c]].erase(c)
                            self._commit(c, m, ft, fs, fk, dm)
                            for y in self.newly:
                                heap.push(-y)
                                if mk[y] >= 0:
                                    mixsets[mk[y]].insert(y)
                                opsets[ok[y]].insert(y)
                            continue
                    rejects += 1
                    if rejects >= max_rejects:
                        break
        return 0
