# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of :mod:`prodsched.engine.timeline` (same API, same results, C++ vectors).

``timeline.py`` is the reference; this module mirrors it method for method so that the
scheduler can use either (``PRODSCHED_TIMELINE=python`` forces the reference). Tests run both
and require identical schedules.
"""

from cython.operator cimport dereference as deref
from libcpp.algorithm cimport sort as std_sort
from libcpp.utility cimport pair
from libcpp.vector cimport vector

from prodsched.engine._native.arrays cimport _bl, _br, _drop, _overwrite, _put, _scan

cdef i64 NEVER = (<i64>1) << 62
cdef int CLAMP = 255


cdef inline i64 _byte(i64 v):
    return 0 if v < 0 else (v if v < CLAMP else CLAMP)


cdef class NativeLine:
    """One machine; see :class:`prodsched.engine.timeline.MachineLine`."""

    def __init__(self, int m, downtime, Shared shared, classes, i64 min_duration=1):
        cdef Py_ssize_t i
        self.m = m
        self.S = shared
        self.classes = list(classes)
        self.local = [-1] * shared.ncls
        for i in range(self.classes.size()):
            self.local[self.classes[i]] = i
        self.tloc.assign(shared.ntyp, -1)
        self.gbuf.resize(self.classes.size())
        self.gtop.resize(self.classes.size())
        self.capbuf.resize(self.classes.size())
        self._dts = [int(s) for s, _ in downtime]
        self._dte = [int(e) for _, e in downtime]
        self.mind = max(1, int(min_duration))
        self.tail = 0
        self.gap_limit = -1
        self._last = -1
        self._last_start = 0
        span = <i64>shared.ncls * shared.nw * (shared.ncls + 1) * shared.nw
        if span <= 16384:
            self._gslot.assign(span, -1)

    # -- views for tests and results ---------------------------------------------------------
    @property
    def starts(self):
        return [self._starts[i] for i in self._by_start()]

    @property
    def ends(self):
        return [self._ends[i] for i in self._by_start()]

    @property
    def ops(self):
        return [self._ops[i] for i in self._by_start()]

    cdef vector[Py_ssize_t] _by_start(self):
        """Indexes of the placements ordered by start."""
        cdef vector[pair[i64, Py_ssize_t]] keys
        cdef vector[Py_ssize_t] out
        cdef Py_ssize_t i
        for i in range(self._starts.size()):
            keys.push_back(pair[i64, Py_ssize_t](self._starts[i], i))
        std_sort(keys.begin(), keys.end())
        for i in range(keys.size()):
            out.push_back(keys[i].second)
        return out

    @property
    def bounds_hashed(self):
        """Whether the gap bounds are cached in a hash map (many classes and widths) rather
        than a dense table (for inspection)."""
        return self._gslot.size() == 0

    @property
    def dts(self):
        return list(self._dts)

    @property
    def dte(self):
        return list(self._dte)

    @property
    def cur(self):
        return self.S.cur_list()

    # -- queries -----------------------------------------------------------------------------
    def available(self):
        return self.tail

    def last_op(self):
        return self._last

    cdef Py_ssize_t _after(self, i64 v) noexcept:
        """The first downtime ending after slot ``v`` (``bisect_right`` on the ends)."""
        return _br(self._dte, v, 0, self._dte.size())

    cdef i64 _clear(self, i64 t, i64 sin, i64 d):
        cdef Py_ssize_t nd = self._dts.size()
        cdef Py_ssize_t q
        if nd == 0:
            return t
        q = self._after(t - sin)
        while q < nd and self._dts[q] < t + d:
            t = self._dte[q] + sin
            q += 1
        return t

    def clear(self, i64 t, i64 sin, i64 d):
        return self._clear(t, sin, d)

    cdef bint _hits(self, i64 a, i64 b):
        cdef Py_ssize_t nd = self._dts.size()
        cdef Py_ssize_t q
        if a >= b or nd == 0:
            return False
        q = self._after(a)
        return q < nd and self._dts[q] < b

    def hits_downtime(self, i64 a, i64 b):
        return self._hits(a, b)

    def tail_end(self, int x, i64 d, i64 r):
        return self._tail_end(x, d, r)

    cdef i64 _tail_end(self, int x, i64 d, i64 r):
        """End of ``x`` appended after the line's last operation (and any downtime)."""
        cdef i64 sin, t
        if self._last < 0:
            return self._clear(r, 0, d) + d
        sin = self.S.between(&self._lastkey, &self.S.op[x], self.m)
        t = self.tail + sin
        if r > t:
            t = r
        return self._clear(t, sin, d) + d

    def find(self, int x, i64 d, i64 r, i64 bound=NEVER):
        if self._find(x, d, r, bound):
            return self.rt, self.rs, self.rk
        return None

    cdef bint _find(self, int x, i64 d, i64 r, i64 bound):
        cdef i64 lo, t, sin, lim, before, bt = 0, bs = 0, bk = 0
        cdef Py_ssize_t k, hit, i, g, n
        cdef unsigned char dd
        cdef bint found
        cdef int ty
        cdef const OpSetup* xs = &self.S.op[x]
        if self._last < 0:
            t = self._clear(r, 0, d)
            if t + d <= bound:
                self.rt, self.rs, self.rk = t, 0, -1
                return True
            return False
        lo = r + d
        n = self._ge.size()
        if n and lo <= self._last_start and lo <= bound:
            dd = d if d < CLAMP else CLAMP
            # gap ends are sorted. A gap whose predecessor ends after ``bound - d`` starts too
            # late, and so does every later one: checked at each hit, no bisection for it
            lim = bound - d if bound < NEVER else NEVER
            found = False
            k = 0 if lo <= self._ge[0] else self._gap_at(lo)
            while True:
                hit = _scan(self.gbuf[self.local[xs.cls]], self.gtop[self.local[xs.cls]], k,
                            n, dd)
                if hit < 0 or (hit and self._ge[hit - 1] > lim):
                    break
                k = hit
                if self._try_gap(k, xs, d, r):
                    found = True
                    bt, bs, bk = self.rt, self.rs, self.rk
                    break
                k += 1
            # gaps next to an operation of x's own type, before the gap found (if any)
            ty = self.tloc[xs.typ]
            if ty >= 0 and not (found and k == 0):
                ends = &self.tix[ty].ends
                tb = &self.tix[ty].buf
                tt = &self.tix[ty].top
                before = self._ge[k] if found else NEVER
                if ends.size():
                    i = 0 if lo <= ends[0][0] else _bl(ends[0], lo, 0, ends.size())
                    while True:
                        hit = _scan(tb[0], tt[0], i, ends.size(), dd)
                        if hit < 0 or ends[0][hit] >= before:
                            break
                        i = hit
                        g = self._gap_at(ends[0][i])
                        if g and self._ge[g - 1] > lim:
                            break
                        if self._try_gap(g, xs, d, r):
                            found = True
                            bt, bs, bk = self.rt, self.rs, self.rk
                            break
                        i += 1
            if found:
                if bt + d <= bound:
                    self.rt, self.rs, self.rk = bt, bs, bk
                    return True
                return False
        t = self.tail
        if t + d > bound:
            return False
        sin = self.S.between(&self._lastkey, xs, self.m)
        t += sin
        if r > t:
            t = r
        if t + d > bound:
            return False
        if self._dts.size():
            t = self._clear(t, sin, d)
            if t + d > bound:
                return False
        self.rt, self.rs, self.rk = t, sin, -1
        return True

    cdef bint _try_gap(self, Py_ssize_t k, const OpSetup* xs, i64 d, i64 r):
        cdef const GapRec* g = &self._gx[k]
        cdef i64 nstart = self._ge[k]
        cdef i64 sin = self.S.between(&g.ps, xs, self.m) if g.p >= 0 else 0
        cdef i64 sout = self.S.between(xs, &g.ns, self.m)
        cdef i64 limit = nstart - sout
        cdef i64 t = g.start + sin
        cdef i64 now
        if t < r:
            t = r
        if t + d > limit:
            return False
        if self._dts.size():
            now = g.ns.cur
            if sout > now and self._hits(nstart - sout, nstart - now):
                return False
            t = self._clear(t, sin, d)
            if t + d > limit:
                return False
        self.rt, self.rs, self.rk = t, sin, k
        return True

    # -- updates -----------------------------------------------------------------------------
    cdef const int* _generic(self, const OpSetup* ps, const OpSetup* ns):
        """(both, into, leave) per local class for a gap after ``ps`` (NULL: none) and before
        ``ns``, cached; see SetupTable.gap_bounds. Valid until the next call."""
        cdef Shared S = self.S
        cdef int b = ns.cls
        cdef int wn = ns.wr
        cdef int a = -1, wp = 0, c, into, leave, both, v, w, x1, x2
        cdef Py_ssize_t i, off
        cdef i64 key
        if ps != NULL:
            a = ps.cls
            wp = ps.wr
        key = ((<i64>b * S.nw + wn) * (S.ncls + 1) + a + 1) * S.nw + wp
        if self._gslot.size():
            off = self._gslot[key]
        else:
            it = self._gmap.find(key)
            off = deref(it).second if it != self._gmap.end() else -1
        if off >= 0:
            return self._gdata.data() + off
        off = self._gdata.size()
        if self._gslot.size():
            self._gslot[key] = off
        else:
            self._gmap[key] = off
        for i in range(self.classes.size()):
            c = self.classes[i]
            if ps == NULL:
                leave = S.matrix[c * S.ncls + b]
                self._gdata.push_back(leave)
                self._gdata.push_back(0)
                self._gdata.push_back(leave)
                continue
            into = S.matrix[a * S.ncls + c]
            leave = S.matrix[c * S.ncls + b]
            both = -1
            for w in range(S.nw):
                x1 = S.change(wp, w, self.m)
                x2 = S.change(w, wn, self.m)
                v = (into if into > x1 else x1) + (leave if leave > x2 else x2)
                if both < 0 or v < both:
                    both = v
            self._gdata.push_back(both)
            self._gdata.push_back(into)
            self._gdata.push_back(leave)
        return self._gdata.data() + off

    cdef bint _gap(self, i64 a, i64 b, const OpSetup* ps, const OpSetup* ns):
        """Fill ``capbuf``, ``cap_p``, ``cap_n`` for gap [a, b) after ``ps`` (NULL: none) and
        before ``ns``; False when nothing can fit."""
        cdef Shared S = self.S
        cdef i64 mind = self.mind
        cdef i64 early = 0
        cdef i64 cur = a
        cdef i64 last, c, top, direct = 0, both_p = 0, both_n = 0, v1, v2, x1, x2
        cdef Py_ssize_t q, nd = self._dts.size(), i, nc = self.classes.size()
        cdef int w, ca, cb
        cdef const int* gen
        if nd:
            q = self._after(a)
            while q < nd and self._dts[q] < b:
                if self._dts[q] - cur > early:
                    early = self._dts[q] - cur
                cur = self._dte[q]
                q += 1
        last = b - cur if b > cur else 0
        if last < mind and early < mind:
            return False
        gen = self._generic(ps, ns)
        if ps != NULL:
            ca = ps.cls
            cb = ns.cls
            direct = S.matrix[ca * S.ncls + cb] if (ca != cb or ps.mix != ns.mix) else 0
            both_p = -1
            both_n = -1
            for w in range(S.nw):
                x1 = S.change(ps.wr, w, self.m)
                x2 = S.change(w, ns.wr, self.m)
                v1 = x1 + (direct if direct > x2 else x2)
                v2 = (direct if direct > x1 else x1) + x2
                if both_p < 0 or v1 < both_p:
                    both_p = v1
                if both_n < 0 or v2 < both_n:
                    both_n = v2
        top = -(NEVER)
        for i in range(nc):
            c = last - gen[3 * i]
            if early and gen[3 * i + 2] <= last and early - gen[3 * i + 1] > c:
                c = early - gen[3 * i + 1]
            if c > top:
                top = c
            self.capbuf[i] = (c if c < CLAMP else CLAMP) if c > 0 else 0
        if early:
            self.cap_n = last - both_n
            if early - direct > self.cap_n:
                self.cap_n = early - direct
            self.cap_p = -1
            if ps != NULL:
                self.cap_p = last - both_p
                if direct <= last and early > self.cap_p:
                    self.cap_p = early
        else:
            self.cap_n = last - both_n
            self.cap_p = last - both_p if ps != NULL else -1
        if self.cap_p < mind and self.cap_n < mind and top < mind:
            return False
        return True

    cdef void _index(self, Py_ssize_t k, i64 b, i64 a, int p, int n, const OpSetup* ps,
                     const OpSetup* ns, bint insert):
        """Gap [a, b) between ``p`` (``ps``; -1 and NULL: none) and ``n`` (``ns``) as gap
        ``k``, inserted before the gap now at ``k`` or (``insert`` false) written over it;
        capacities from the last ``_gap``."""
        cdef Py_ssize_t c
        cdef i64 cap_p = self.cap_p, cap_n = self.cap_n
        cdef int tn, tp
        cdef GapRec rec
        rec.start = a
        rec.p = p
        rec.n = n
        if ps != NULL:
            rec.ps = ps[0]
        rec.ns = ns[0]
        if insert:
            self._ge.insert(self._ge.begin() + k, b)
            self._gx.insert(self._gx.begin() + k, rec)
            for c in range(self.gbuf.size()):
                _put(self.gbuf[c], self.gtop[c], k, self.capbuf[c])
        else:
            self._ge[k] = b
            self._gx[k] = rec
            for c in range(self.gbuf.size()):
                _overwrite(self.gbuf[c], self.gtop[c], k, self.capbuf[c])
        tn = ns.typ
        if ps != NULL:
            tp = ps.typ
            if tp == tn:
                if cap_p > cap_n:
                    cap_n = cap_p
            elif cap_p >= self.mind:
                self._index_type(tp, b, cap_p)
        if cap_n >= self.mind:
            self._index_type(tn, b, cap_n)

    cdef void _index_type(self, int t, i64 g, i64 cap):
        cdef Py_ssize_t j
        cdef int slot = self.tloc[t]
        if slot < 0:
            slot = self.tloc[t] = self.tix.size()
            self.tix.resize(slot + 1)
        ends = &self.tix[slot].ends
        if ends.size() == 0 or g > ends.back():
            j = ends.size()
            ends.push_back(g)
        else:
            j = _bl(ends[0], g, 0, ends.size())
            ends.insert(ends.begin() + j, g)
        _put(self.tix[slot].buf, self.tix[slot].top, j, <unsigned char>_byte(cap))

    cdef void _unindex_type(self, int t, i64 g):
        cdef Py_ssize_t j
        cdef int slot = self.tloc[t]
        if slot < 0:
            return
        ends = &self.tix[slot].ends
        if ends.size():
            j = _bl(ends[0], g, 0, ends.size())
            if j < <Py_ssize_t>ends.size() and ends[0][j] == g:
                ends.erase(ends.begin() + j)
                _drop(self.tix[slot].buf, self.tix[slot].top, j)

    cdef void _unindex(self, Py_ssize_t k):
        """Gap ``k`` out of the per-type indexes; its slot stays for ``_index`` or ``_erase``."""
        cdef i64 g = self._ge[k]
        cdef const GapRec* rec = &self._gx[k]
        cdef int tn = rec.ns.typ
        self._unindex_type(tn, g)
        if rec.p >= 0 and rec.ps.typ != tn:
            self._unindex_type(rec.ps.typ, g)

    cdef void _erase(self, Py_ssize_t k):
        """Gap ``k`` is gone: out of the gap list and every class's capacities."""
        cdef Py_ssize_t c
        self._ge.erase(self._ge.begin() + k)
        self._gx.erase(self._gx.begin() + k)
        for c in range(self.gbuf.size()):
            _drop(self.gbuf[c], self.gtop[c], k)

    cdef Py_ssize_t _gap_at(self, i64 v) noexcept:
        """The first gap ending at or after slot ``v`` (bisect_left on the gap ends)."""
        return _bl(self._ge, v, 0, self._ge.size())

    def gap_end(self, Py_ssize_t k):
        """End of gap ``k`` (``k`` as :meth:`find` returns it)."""
        return self._ge[k]

    def place(self, int x, i64 d, i64 t, i64 sin, Py_ssize_t k):
        self._place(x, d, t, sin, k)

    cdef void _place(self, int x, i64 d, i64 t, i64 sin, Py_ssize_t k):
        cdef i64 e = t + d
        cdef i64 a, b
        cdef bint vacant
        cdef OpSetup xs
        cdef GapRec old
        self.S.op[x].cur = sin
        xs = self.S.op[x]
        self._starts.push_back(t)
        self._ends.push_back(e)
        self._ops.push_back(x)
        if k < 0:
            a = self.tail if self._last >= 0 else 0
            if t - a >= self.mind and self._gap(
                    a, t, &self._lastkey if self._last >= 0 else NULL, &xs):
                self._index(self._ge.size(), t, a, self._last, x,
                            &self._lastkey if self._last >= 0 else NULL, &xs, True)
            self._last = x
            self._lastkey = xs
            self._last_start = t
            self.tail = e
        else:
            old = self._gx[k]
            a = old.start
            b = self._ge[k]
            old.ns.cur = self.S.between(&xs, &old.ns, self.m)  # x now runs right before n
            self.S.op[old.n].cur = old.ns.cur
            if old.n == self._last:
                self._lastkey.cur = old.ns.cur
            # the gap becomes up to two, [a, t) and [e, b), in its own slot where it can (no
            # shift of the later gaps)
            self._unindex(k)
            vacant = True
            if b - e >= self.mind and self._gap(e, b, &xs, &old.ns):
                self._index(k, b, e, x, old.n, &xs, &old.ns, False)
                vacant = False
            if t - a >= self.mind and self._gap(a, t, &old.ps if old.p >= 0 else NULL, &xs):
                self._index(k, t, a, old.p, x, &old.ps if old.p >= 0 else NULL, &xs, not vacant)
                vacant = False
            if vacant:
                self._erase(k)
        self.gap_limit = self._last_start if self._ge.size() else -1


class NativeTimeline:
    """All machines' compiled lines; see :class:`prodsched.engine.timeline.Timeline`."""

    __slots__ = ("lines", "shared")

    def __init__(self, table, downtimes, machine_classes, min_durations=None, shared=None):
        """As :class:`~prodsched.engine.timeline.Timeline`; ``shared``, when given, is the setup
        table already in compiled form (``table`` is then not read)."""
        mins = list(min_durations) if min_durations is not None else [1] * len(downtimes)
        self.shared = Shared(table) if shared is None else shared
        self.lines = [NativeLine(m, dt, self.shared, machine_classes[m], mins[m])
                      for m, dt in enumerate(downtimes)]

    @property
    def cur(self):
        return self.shared.cur_list()

    def columns(self):
        """See :meth:`prodsched.engine.timeline.Timeline.columns`."""
        return _columns(self.lines, self.shared)

    def placements(self):
        cur = self.cur
        return [(x, line.m, s, e, cur[x]) for line in self.lines
                for x, s, e in zip(line.ops, line.starts, line.ends)]


cdef vector[Py_ssize_t] _placement_order(list lines) except *:
    """Every placement of ``lines`` (machine ``m`` is ``lines[m]``) ordered by start, then
    machine, as pairs ``m, i`` (placement ``i`` of line ``m``) flattened."""
    cdef vector[Py_ssize_t] out
    cdef vector[pair[pair[i64, Py_ssize_t], Py_ssize_t]] keys  # ((start, m), i)
    cdef NativeLine line
    cdef Py_ssize_t m, i, j, nl = len(lines)
    for m in range(nl):
        line = <NativeLine>lines[m]
        for i in range(line._starts.size()):
            keys.push_back(pair[pair[i64, Py_ssize_t], Py_ssize_t](
                pair[i64, Py_ssize_t](line._starts[i], m), i))
    std_sort(keys.begin(), keys.end())
    out.resize(2 * keys.size())
    for j in range(keys.size()):
        out[2 * j] = keys[j].first.second
        out[2 * j + 1] = keys[j].second
    return out


cdef tuple _columns(list lines, Shared S):
    cdef vector[Py_ssize_t] order = _placement_order(lines)
    cdef NativeLine line
    cdef Py_ssize_t j, i
    cdef int x
    starts, machines, ops, ends, setups = [], [], [], [], []
    for j in range(order.size() // 2):
        line = <NativeLine>lines[order[2 * j]]
        i = order[2 * j + 1]
        x = line._ops[i]
        starts.append(line._starts[i])
        machines.append(line.m)
        ops.append(x)
        ends.append(line._ends[i])
        setups.append(S.op[x].cur)
    return starts, machines, ops, ends, setups
