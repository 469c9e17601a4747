# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of :class:`prodsched.engine.core.Core`'s searches and of the ``window`` loop.

``core.py`` and ``scheduler.py`` are the reference: :meth:`NativeCore.best` mirrors
``Core.best`` (the other rules' loops call it), and :meth:`NativeCore.run_window` mirrors
``scheduler._run_window`` step for step, with ``Core.finishes_earlier_elsewhere`` and
``Core.commit``, on the compiled timeline's lines and on compact per-operation arrays. Tests
require identical schedules.
"""

from cpython.ref cimport Py_INCREF
from cpython.list cimport PyList_GET_ITEM
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.object cimport PyTypeObject
from libcpp.algorithm cimport sort as std_sort
from libcpp.queue cimport priority_queue
from libcpp.utility cimport pair
from libcpp.vector cimport vector

from prodsched.engine._native.load cimport Columns
from prodsched.engine._native.arrays cimport _bl, _br, i64
from prodsched.engine._native.setups cimport Shared
from prodsched.engine._native.timeline cimport NativeLine, _placement_order

cdef i64 NEVER = (<i64>1) << 62

ctypedef unsigned long long u64

cdef extern from "Python.h":
    object PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)
    void PyObject_GC_UnTrack(object op)

cdef extern from *:
    int __builtin_ctzll(unsigned long long) nogil


cdef inline void _set(u64* bits, int x):
    bits[x >> 6] |= (<u64>1) << (x & 63)


cdef inline void _unset(u64* bits, int x):
    bits[x >> 6] &= ~((<u64>1) << (x & 63))


cdef inline int _next(u64* bits, int last, Py_ssize_t hi):
    """The first member after ``last`` and before ``hi``, -1 when none."""
    cdef Py_ssize_t start = last + 1, w
    cdef u64 word
    if start >= hi:
        return -1
    w = start >> 6
    word = bits[w] & (~(<u64>0) << (start & 63))
    while True:
        if word:
            start = (w << 6) + __builtin_ctzll(word)
            return <int>start if start < hi else -1
        w += 1
        if (w << 6) >= hi:
            return -1
        word = bits[w]


cdef inline void _set_item(object tup, Py_ssize_t j, object item):
    """Item ``j`` of a tuple being filled (PyTuple_SET_ITEM steals a reference)."""
    Py_INCREF(item)
    PyTuple_SET_ITEM(tup, j, item)


cdef inline object _slot(list slots, i64 v):
    """The int ``v``, one object per value when ``slots`` (indexed by value) is given."""
    if slots is None or v < 0:
        return v
    cdef object known = <object>PyList_GET_ITEM(slots, v)
    if known is None:
        known = v
        slots[v] = known
    return known


cdef class NativeCore:
    """Per-operation arrays of a :class:`Core` whose timeline is the compiled one."""

    cdef object core  # the Core, only while run_window runs (no lasting reference cycle)
    cdef object ticker
    cdef int n
    cdef vector[int] estart, em, sstart, succ, npred, mrank
    cdef vector[int] mk, ok  # mixture and name codes of the window loop (-1: no mixture)
    cdef int nmix, nop
    cdef readonly bint keyed  # loaded from Columns: run_window needs no keys and no _load
    cdef list ids  # with Columns: the op ids in the given order, and the priority order
    cdef vector[Py_ssize_t] order
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

    def __init__(self, core, Columns columns=None):
        """What ``best`` needs; with ``columns`` (see ``_native.load``) also the window loop's
        arrays, else those come from ``core``'s lists in ``run_window``."""
        cdef Py_ssize_t x
        self.core = None
        self.ticker = core.ticker
        self.n = core.n
        self.lines = list(core.timeline.lines)
        for line in self.lines:
            self.lp.push_back(<void*>line)
        self.mrank = core.mrank
        self.count = 0
        self.keyed = columns is not None
        if not self.keyed:
            self._eligibility(core.elig_machines, core.elig_durations, core.elig_offsets,
                              core.order)
            return
        self.estart = columns.estart
        self.em = columns.em
        self.ed = columns.ed
        self.sstart = columns.sstart
        self.succ = columns.succ
        self.npred = columns.npred
        self.due = columns.due
        self.aging = columns.aging
        self.ready.assign(self.n, 0)
        self.placed.assign(self.n, 0)
        self.ok = columns.opn
        self.mk = columns.mix
        if columns.mixture_names and columns.mixture_names[0] == "":
            for x in range(self.n):
                if self.mk[x] == 0:
                    self.mk[x] = -1
        self.nmix = len(columns.mixture_names)
        self.nop = len(columns.op_names)
        self.ids = columns.ids
        self.order = columns.order

    cdef int _load(self, core) except -1:
        """Successors, predecessor counts, due dates, aging and ready times of ``core``."""
        self.sstart.clear()
        self.succ.clear()
        self.sstart.push_back(0)
        for ys in core.succ:
            for y in ys:
                self.succ.push_back(y)
            self.sstart.push_back(self.succ.size())
        self.npred = core.npred
        self.due = core.due
        self.aging = core.aging
        self.ready = core.ready
        self.placed.assign(self.n, 0)
        return 0

    cdef void _eligibility(self, vector[int] em, vector[i64] ed, vector[Py_ssize_t] eoff,
                           vector[Py_ssize_t] order):
        """``estart``/``em``/``ed`` by priority position from Core's flat pairs (given order),
        each operation's machines in their seeded order (``mrank``), like ``Core.elig``."""
        cdef Py_ssize_t n = order.size(), i, x, a, b, j, k, pos
        cdef int m
        cdef i64 d
        self.estart.reserve(n + 1)
        self.em.reserve(em.size())
        self.ed.reserve(em.size())
        self.estart.push_back(0)
        for x in range(n):
            i = order[x]
            a = eoff[i]
            b = eoff[i + 1]
            pos = self.em.size()
            for j in range(a, b):  # insertion sort by machine rank
                m = em[j]
                d = ed[j]
                self.em.push_back(m)
                self.ed.push_back(d)
                k = pos + (j - a)
                while k > pos and self.mrank[self.em[k - 1]] > self.mrank[m]:
                    self.em[k] = self.em[k - 1]
                    self.ed[k] = self.ed[k - 1]
                    k -= 1
                self.em[k] = m
                self.ed[k] = d
            self.estart.push_back(self.em.size())

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

    # -- the Python-facing twin of Core.best (the edd/spt/atcs/custom loops call it) -----------
    def best(self, int x, i64 r):
        self._best(x, r)
        return self.bm, self.bt, self.bs, self.bk, self.bd

    def assignments(self, cls, list codes, list opid=None):
        """Every placement as a ``cls`` tuple ``(op id, machine code, start, end, setup)``,
        ordered by start, then machine, then op: ``scheduler._assignments`` without the
        intermediate columns. ``opid`` (ids by priority position) is needed unless ``keyed``.
        Equal slot numbers share one int object (an end is mostly some other row's start)."""
        cdef vector[Py_ssize_t] order = _placement_order(self.lines)
        cdef Py_ssize_t j, i, total = order.size() // 2
        cdef NativeLine line
        cdef int x
        cdef i64 top = 0
        out = PyTuple_New(total)
        if total == 0:
            return out
        for obj in self.lines:
            if (<NativeLine>obj).tail > top:
                top = (<NativeLine>obj).tail
        cdef list slots = [None] * (top + 1) if top <= 4 * total + 4096 else None
        cdef Shared S = (<NativeLine>self.lines[0]).S  # the setups charged to each op
        cdef list ids = opid if opid is not None else self.ids  # by position, or given order
        for j in range(total):
            line = self._line(<int>order[2 * j])
            i = order[2 * j + 1]
            x = line._ops[i]
            row = PyType_GenericAlloc(<PyTypeObject*>cls, 5)  # what tuple.__new__(cls, ...) allocates
            _set_item(row, 0, <object>PyList_GET_ITEM(ids, x if opid is not None else self.order[x]))
            _set_item(row, 1, codes[line.m])
            _set_item(row, 2, _slot(slots, line._starts[i]))
            _set_item(row, 3, _slot(slots, line._ends[i]))
            _set_item(row, 4, S.op[x].cur)
            # only strings and ints inside: no reference cycle can run through a row, so the
            # cyclic collector need not walk the rows (as it stops walking plain tuples of
            # such items); 100k rows would cost every later full collection their walk
            PyObject_GC_UnTrack(row)
            _set_item(out, j, row)
        return out

    # -- the window loop ---------------------------------------------------------------------
    def place_pins(self, dict pins, dict mindex, i64 now, i64 horizon, list down_off, list down_s,
                   list down_e):
        """``check_pins`` and ``Core._place_pins`` on these arrays (keyed only): each pinned
        operation (``pins``: op id -> (machine code, start)) goes on its machine at its start —
        each machine's pins in start order, each with the setup after the one before it — its
        successors' ready times and predecessor counts follow, the pins never become ready
        again (count above n) and every ready time below ``now`` becomes ``now``. Machine
        ``m``'s own downtime (without ``now``) is ``down_s/down_e[down_off[m]:down_off[m + 1]]``.

        Returns False, placing nothing, when a pin names an unknown operation or machine or
        breaks a rule of ``check_pins`` (ineligible machine, before slot 0 or past the horizon,
        overlapping the pin before it or leaving too little room for the setup after it, it or
        that setup over downtime, before a pinned predecessor has ended and aged): the Python
        reference then words the error."""
        cdef Py_ssize_t i, j, k, q, a_off, b_off
        cdef int x, m, y, last
        cdef i64 t, s, d, done, start, prev_end
        cdef NativeLine line
        cdef vector[Py_ssize_t] position = vector[Py_ssize_t](self.n)
        cdef vector[pair[pair[int, i64], int]] keys  # ((machine, start), operation), sorted
        cdef vector[int] xs, ms
        cdef vector[i64] ts, dur
        cdef vector[i64] pin_t = vector[i64](self.n, -1)
        cdef vector[i64] ds = down_s, de = down_e
        cdef vector[Py_ssize_t] doff = down_off
        cdef object where, code
        for x in range(self.n):
            position[self.order[x]] = x
        for i in range(self.n):
            where = pins.get(<object>PyList_GET_ITEM(self.ids, i))
            if where is None:
                continue
            code, t = where
            code = mindex.get(code)
            if code is None:
                return False
            keys.push_back(pair[pair[int, i64], int](pair[int, i64](<int>code, t), <int>position[i]))
        if <Py_ssize_t>keys.size() != len(pins):
            return False  # a pin of an unknown operation
        std_sort(keys.begin(), keys.end())
        k = keys.size()
        for i in range(k):
            ms.push_back(keys[i].first.first)
            ts.push_back(keys[i].first.second)
            xs.push_back(keys[i].second)
        dur.resize(k)
        for i in range(k):
            x = xs[i]
            m = ms[i]
            t = ts[i]
            d = 0
            for j in range(self.estart[x], self.estart[x + 1]):
                if self.em[j] == m:
                    d = self.ed[j]
                    break
            if d == 0 or t < 0 or t + d > horizon:
                return False
            dur[i] = d
            pin_t[x] = t
        for i in range(k):
            x = xs[i]
            m = ms[i]
            t = ts[i]
            s = 0
            if i > 0 and ms[i - 1] == m:
                prev_end = <i64>ts[i - 1] + dur[i - 1]
                s = self._line(m).S.setup(xs[i - 1], x, m)
                if t < prev_end or t - prev_end < s:
                    return False
            start = t - s
            a_off = doff[m]
            b_off = doff[m + 1]
            if b_off > a_off and start < t + dur[i]:
                q = _br(de, start, a_off, b_off)
                if q < b_off and ds[q] < t + dur[i]:
                    return False
            for j in range(self.sstart[x], self.sstart[x + 1]):
                y = self.succ[j]
                if pin_t[y] >= 0 and pin_t[y] < t + dur[i] + self.aging[x]:
                    return False
        for i in range(k):
            x = xs[i]
            m = ms[i]
            t = ts[i]
            d = dur[i]
            line = self._line(m)
            last = line._last
            s = line.S.setup(last, x, m) if last >= 0 else 0
            line._place(x, d, t, s, -1)
            self.placed[x] = 1
            done = t + d + self.aging[x]
            for j in range(self.sstart[x], self.sstart[x + 1]):
                y = self.succ[j]
                if done > self.ready[y]:
                    self.ready[y] = done
                self.npred[y] -= 1
            self.count += 1
            if not self.count & 127:
                self.ticker(self.count)
        for i in range(k):
            self.npred[xs[i]] = self.n + 1
        if now:
            for x in range(self.n):
                if self.ready[x] < now:
                    self.ready[x] = now
        return True

    def take_pins(self, core):
        """Continue from the pinned operations ``core`` placed in Python (when ``place_pins``
        left them to the reference): its ready times, predecessor counts and count."""
        cdef Py_ssize_t x
        self.ready = core.ready
        self.npred = core.npred
        self.count = core.count
        for x in range(self.n):
            if self.npred[x] > self.n:
                self.placed[x] = 1

    def state(self, str name):
        """``ready``, ``npred`` (lists) or ``placed`` (a bytearray) as Core keeps them, for the
        Python loops of the other rules."""
        if name == "ready":
            return list(self.ready)
        if name == "npred":
            return list(self.npred)
        return bytearray(self.placed)

    def run_window(self, core, i64 window, int max_rejects, int max_scan, mixkey=None,
                   opkey=None, int nmix=0, int nop=0):
        """``scheduler._run_window`` on ``core``; returns the placed flags (a bytearray).

        The mixture and name keys are needed unless this was built from Columns (``keyed``)."""
        self.core = core
        self.horizon = core.horizon
        if not self.keyed:
            self._load(core)
            self.mk = mixkey
            self.ok = opkey
            self.nmix = nmix
            self.nop = nop
        try:
            self._window(window, max_rejects, max_scan)
        finally:
            self.core = None
        return bytearray(self.placed)

    cdef inline Py_ssize_t _due_from(self, i64 v) noexcept:
        """The first operation due at or after slot ``v`` (bisect_left on the due dates)."""
        return _bl(self.due, v, 0, self.due.size())

    cdef int _window(self, i64 window, int max_rejects, int max_scan) except -1:
        # the ready, unplaced operations of each mixture and of each operation name, as bitsets
        # over the priority order (the window scan asks for the next one after a given index)
        cdef vector[int] mk = self.mk
        cdef vector[int] ok = self.ok
        cdef Py_ssize_t words = (self.n + 63) >> 6
        cdef vector[u64] mixbits = vector[u64](self.nmix * words + 1)
        cdef vector[u64] opbits = vector[u64](self.nop * words + 1)
        cdef u64* mixrow = &mixbits[0]
        cdef u64* oprow = &opbits[0]
        # the ready operations, the most urgent (smallest index) on top: negated in a max-heap;
        # those a follower placed meanwhile are skipped when they come up
        cdef priority_queue[int] heap
        cdef u64* groups[2]
        cdef Py_ssize_t x, gi, ng, lo, hi, j, other
        cdef int h, c, m, rejects, scanned, last
        cdef i64 rc, dm, guess, a, est, ub, ft, fs, fk
        cdef NativeLine line
        for x in range(self.n):
            if self.npred[x] == 0:
                _ready_to(x, heap, mk, ok, mixrow, oprow, words)
        while not heap.empty():
            h = -heap.top()
            heap.pop()
            if self.placed[h]:
                continue
            self._best(h, self.ready[h])
            m = self.bm
            if mk[h] >= 0:
                _unset(mixrow + mk[h] * words, h)
            _unset(oprow + ok[h] * words, h)
            self._commit(h, m, self.bt, self.bs, self.bk, self.bd)
            for j in range(<Py_ssize_t>self.newly.size()):
                _ready_to(self.newly[j], heap, mk, ok, mixrow, oprow, words)
            lo = self._due_from(self.due[h] - window)
            hi = self._due_from(self.due[h] + window + 1)
            ng = 0
            if mk[h] >= 0:
                groups[ng] = mixrow + mk[h] * words
                ng += 1
            groups[ng] = oprow + ok[h] * words
            ng += 1
            line = self._line(m)
            for gi in range(ng):
                rejects = 0
                scanned = 0
                last = lo - 1
                while scanned < max_scan:
                    scanned += 1
                    c = _next(groups[gi], last, hi)
                    if c < 0:
                        break
                    last = c
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
                                _unset(mixrow + mk[c] * words, c)
                            _unset(oprow + ok[c] * words, c)
                            self._commit(c, m, ft, fs, fk, dm)
                            for j in range(<Py_ssize_t>self.newly.size()):
                                _ready_to(self.newly[j], heap, mk, ok, mixrow, oprow, words)
                            continue
                    rejects += 1
                    if rejects >= max_rejects:
                        break
        return 0


cdef inline void _ready_to(int y, priority_queue[int]& heap, vector[int]& mk, vector[int]& ok,
                           u64* mixrow, u64* oprow, Py_ssize_t words):
    heap.push(-y)
    if mk[y] >= 0:
        _set(mixrow + mk[y] * words, y)
    _set(oprow + ok[y] * words, y)

