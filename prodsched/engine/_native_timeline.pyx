# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of :mod:`prodsched.engine.timeline` (same API, same results, C++ vectors).

``timeline.py`` is the reference; this module mirrors it method for method so that the
scheduler can use either (``PRODSCHED_TIMELINE=python`` forces the reference). Tests run both
and require identical schedules.
"""

from libcpp.algorithm cimport sort as std_sort
from libcpp.utility cimport pair
from libcpp.vector cimport vector

cdef i64 NEVER = (<i64>1) << 62
cdef int CLAMP = 255


# Gap capacities are bytes; ``top[b]`` bounds from above the largest of block ``b`` (BLOCK
# bytes), so a search skips whole blocks that cannot hold the operation instead of reading every
# gap. An insert or erase shifts the bytes after it by one: each later block then takes the byte
# that moved in into its bound (cheap, BLOCK times fewer steps than the shift itself), and a
# search that reads a whole block without a hit makes its bound exact again.
cdef enum:
    BLOCK_BITS = 6
    BLOCK = 1 << BLOCK_BITS


cdef void _put(vector[unsigned char]& buf, vector[unsigned char]& top, Py_ssize_t k,
               unsigned char v):
    """Insert ``v`` at index ``k``."""
    cdef Py_ssize_t b, n
    buf.insert(buf.begin() + k, v)
    n = buf.size()
    b = k >> BLOCK_BITS
    if b < <Py_ssize_t>top.size():
        if v > top[b]:
            top[b] = v
        b += 1
    while b < <Py_ssize_t>top.size():
        if buf[b << BLOCK_BITS] > top[b]:
            top[b] = buf[b << BLOCK_BITS]
        b += 1
    if <Py_ssize_t>top.size() << BLOCK_BITS < n:  # a new last block, holding one byte
        top.push_back(buf[n - 1])


cdef void _drop(vector[unsigned char]& buf, vector[unsigned char]& top, Py_ssize_t k):
    """Remove index ``k``."""
    cdef Py_ssize_t b, i, n
    buf.erase(buf.begin() + k)
    n = buf.size()
    top.resize((n + BLOCK - 1) >> BLOCK_BITS)
    b = k >> BLOCK_BITS
    while b < <Py_ssize_t>top.size():
        i = ((b + 1) << BLOCK_BITS) - 1
        if i < n and buf[i] > top[b]:
            top[b] = buf[i]
        b += 1


cdef inline unsigned char _block_max(const unsigned char* p):
    """The largest of the BLOCK bytes at ``p`` (a fixed-length loop the compiler vectorises)."""
    cdef unsigned char m = 0
    cdef int j
    for j in range(BLOCK):
        if p[j] > m:
            m = p[j]
    return m


cdef inline Py_ssize_t _scan(vector[unsigned char]& buf, vector[unsigned char]& top,
                             Py_ssize_t k, Py_ssize_t stop, unsigned char d):
    """First index in [k, stop) whose byte is >= d, -1 when none."""
    cdef Py_ssize_t i, b, end, n = buf.size()
    cdef unsigned char m
    cdef bint whole
    if stop > n:
        stop = n
    i = k
    while i < stop:
        b = i >> BLOCK_BITS
        if top[b] < d:
            i = (b + 1) << BLOCK_BITS
            continue
        end = (b + 1) << BLOCK_BITS
        whole = i == b << BLOCK_BITS and end <= n
        if whole:  # read the whole block at once: its bound becomes exact
            m = _block_max(&buf[i])
            top[b] = m
            if m < d:
                i = end
                continue
        if end > n:
            end = n
        while i < end:  # a whole block gets here only when it holds a hit
            if buf[i] >= d:
                return i if i < stop else -1
            i += 1
    return -1


cdef inline i64 _byte(i64 v):
    return 0 if v < 0 else (v if v < CLAMP else CLAMP)


cdef class Shared:
    """The integer setup table and the timeline-wide setup charged to each placed op."""

    def __init__(self, table):
        cdef Py_ssize_t i
        widths = sorted(set(table.width))
        rank = {w: i for i, w in enumerate(widths)}
        self.cls = list(table.cls)
        self.mix = list(table.mix)
        self.typ = list(table.typ)
        self.wr = [rank[w] for w in table.width]
        self.nw = len(widths)
        self.ncls = len(table.matrix)
        self.matrix = [v for row in table.matrix for v in row]
        self.l2s = list(table.l2s)
        self.s2l = list(table.s2l)
        self.cur = [0] * len(table.cls)

    def cur_list(self):
        return list(self.cur)

    cdef int change(self, int a, int b, int m):
        if b < a:
            return self.l2s[m]
        return self.s2l[m] if b > a else 0

    cdef int setup(self, int p, int x, int m):
        cdef int a = self.cls[p]
        cdef int b = self.cls[x]
        cdef int tc = self.matrix[a * self.ncls + b] if (a != b or self.mix[p] != self.mix[x]) else 0
        cdef int wp = self.wr[p]
        cdef int wx = self.wr[x]
        cdef int wc
        if wx < wp:
            wc = self.l2s[m]
        elif wx > wp:
            wc = self.s2l[m]
        else:
            return tc
        return tc if tc > wc else wc


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
        self.gbuf.resize(self.classes.size())
        self.gtop.resize(self.classes.size())
        self.capbuf.resize(self.classes.size())
        self._dts = [int(s) for s, _ in downtime]
        self._dte = [int(e) for _, e in downtime]
        self.mind = max(1, int(min_duration))
        self.tail = 0
        self.gap_limit = -1

    # -- views for tests and results ---------------------------------------------------------
    @property
    def starts(self):
        return list(self._starts)

    @property
    def ends(self):
        return list(self._ends)

    @property
    def ops(self):
        return list(self._ops)

    @property
    def dts(self):
        return list(self._dts)

    @property
    def dte(self):
        return list(self._dte)

    @property
    def cur(self):
        return list(self.S.cur)

    # -- queries -----------------------------------------------------------------------------
    def available(self):
        return self.tail

    def last_op(self):
        return self._ops.back() if self._ops.size() else -1

    cdef i64 _clear(self, i64 t, i64 sin, i64 d):
        cdef Py_ssize_t nd = self._dts.size()
        cdef Py_ssize_t q
        if nd == 0:
            return t
        q = _br(self._dte, t - sin, 0, nd)
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
        q = _br(self._dte, a, 0, nd)
        return q < nd and self._dts[q] < b

    def hits_downtime(self, i64 a, i64 b):
        return self._hits(a, b)

    def tail_end(self, int x, i64 d, i64 r):
        return self._tail_end(x, d, r)

    cdef i64 _tail_end(self, int x, i64 d, i64 r):
        """End of ``x`` appended after the line's last operation (and any downtime)."""
        cdef i64 sin, t
        if self._ends.size() == 0:
            return self._clear(r, 0, d) + d
        sin = self.S.setup(self._ops.back(), x, self.m)
        t = self._ends.back() + sin
        if r > t:
            t = r
        return self._clear(t, sin, d) + d

    def find(self, int x, i64 d, i64 r, i64 bound=NEVER):
        if self._find(x, d, r, bound):
            return self.rt, self.rs, self.rk
        return None

    cdef bint _find(self, int x, i64 d, i64 r, i64 bound):
        cdef i64 lo, t, sin, bt = 0, bs = 0, bk = 0
        cdef Py_ssize_t stop, k, hit, i, e, n
        cdef unsigned char dd
        cdef bint found
        cdef int ty
        if self._starts.size() == 0:
            t = self._clear(r, 0, d)
            if t + d <= bound:
                self.rt, self.rs, self.rk = t, 0, -1
                return True
            return False
        lo = r + d
        n = self._ge.size()
        if n and lo <= self._starts.back() and lo <= bound:
            dd = d if d < CLAMP else CLAMP
            stop = n
            if bound < NEVER:
                stop = _br(self._ge, bound - d, 0, n) + 1
                if stop > n:
                    stop = n
            found = False
            k = _bl(self._ge, lo, 0, n)
            while True:
                hit = _scan(self.gbuf[self.local[self.S.cls[x]]],
                            self.gtop[self.local[self.S.cls[x]]], k, stop, dd)
                if hit < 0:
                    break
                k = hit
                if self._try_gap(k, x, d, r):
                    found = True
                    bt, bs, bk = self.rt, self.rs, self.rk
                    stop = k
                    break
                k += 1
            ty = self.S.typ[x]
            it = self.tge.find(ty)
            if it != self.tge.end() and stop:
                ends = &self.tge[ty]
                tb = &self.tbuf[ty]
                tt = &self.ttop[ty]
                if ends.size():
                    i = _bl(ends[0], lo, 0, ends.size())
                    e = _br(ends[0], self._ge[stop - 1], 0, ends.size())
                    while True:
                        hit = _scan(tb[0], tt[0], i, e, dd)
                        if hit < 0:
                            break
                        i = hit
                        if self._try_gap(_bl(self._ge, ends[0][i], 0, n), x, d, r):
                            found = True
                            bt, bs, bk = self.rt, self.rs, self.rk
                            break
                        i += 1
            if found:
                if bt + d <= bound:
                    self.rt, self.rs, self.rk = bt, bs, bk
                    return True
                return False
        t = self._ends.back()
        if t + d > bound:
            return False
        sin = self.S.setup(self._ops.back(), x, self.m)
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

    cdef bint _try_gap(self, Py_ssize_t k, int x, i64 d, i64 r):
        cdef i64 a = self._gxa[k]
        cdef int p = self._gxp[k]
        cdef int n = self._gxn[k]
        cdef i64 nstart = self._ge[k]
        cdef i64 sin = self.S.setup(p, x, self.m) if p >= 0 else 0
        cdef i64 sout = self.S.setup(x, n, self.m)
        cdef i64 limit = nstart - sout
        cdef i64 t = a + sin
        cdef i64 now
        if t < r:
            t = r
        if t + d > limit:
            return False
        if self._dts.size():
            now = self.S.cur[n]
            if sout > now and self._hits(nstart - sout, nstart - now):
                return False
            t = self._clear(t, sin, d)
            if t + d > limit:
                return False
        self.rt, self.rs, self.rk = t, sin, k
        return True

    # -- updates -----------------------------------------------------------------------------
    cdef vector[int]* _generic(self, int p, int n):
        """(both, into, leave) per local class, cached; see SetupTable.gap_bounds."""
        cdef Shared S = self.S
        cdef int b = S.cls[n]
        cdef int wn = S.wr[n]
        cdef int a, wp, c, into, leave, both, v, w, x1, x2
        cdef Py_ssize_t i
        cdef i64 key
        if p < 0:
            key = (<i64>b * S.nw + wn) * (S.ncls + 1) * S.nw
        else:
            a = S.cls[p]
            wp = S.wr[p]
            key = ((<i64>b * S.nw + wn) * (S.ncls + 1) + a + 1) * S.nw + wp
        it = self.bounds.find(key)
        if it != self.bounds.end():
            return &self.bounds[key]
        out = &self.bounds[key]
        for i in range(self.classes.size()):
            c = self.classes[i]
            if p < 0:
                leave = S.matrix[c * S.ncls + b]
                out.push_back(leave)
                out.push_back(0)
                out.push_back(leave)
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
            out.push_back(both)
            out.push_back(into)
            out.push_back(leave)
        return out

    cdef bint _gap(self, i64 a, i64 b, int p, int n):
        """Fill ``capbuf``, ``cap_p``, ``cap_n`` for gap [a, b); False when nothing can fit."""
        cdef Shared S = self.S
        cdef i64 mind = self.mind
        cdef i64 early = 0
        cdef i64 cur = a
        cdef i64 last, c, top, direct = 0, both_p = 0, both_n = 0, v1, v2, x1, x2
        cdef Py_ssize_t q, nd = self._dts.size(), i, nc = self.classes.size()
        cdef int w, ca, cb
        cdef vector[int]* gen
        if nd:
            q = _br(self._dte, a, 0, nd)
            while q < nd and self._dts[q] < b:
                if self._dts[q] - cur > early:
                    early = self._dts[q] - cur
                cur = self._dte[q]
                q += 1
        last = b - cur if b > cur else 0
        if last < mind and early < mind:
            return False
        gen = self._generic(p, n)
        if p >= 0:
            ca = S.cls[p]
            cb = S.cls[n]
            direct = S.matrix[ca * S.ncls + cb] if (ca != cb or S.mix[p] != S.mix[n]) else 0
            both_p = -1
            both_n = -1
            for w in range(S.nw):
                x1 = S.change(S.wr[p], w, self.m)
                x2 = S.change(w, S.wr[n], self.m)
                v1 = x1 + (direct if direct > x2 else x2)
                v2 = (direct if direct > x1 else x1) + x2
                if both_p < 0 or v1 < both_p:
                    both_p = v1
                if both_n < 0 or v2 < both_n:
                    both_n = v2
        top = -(NEVER)
        for i in range(nc):
            c = last - gen[0][3 * i]
            if early and gen[0][3 * i + 2] <= last and early - gen[0][3 * i + 1] > c:
                c = early - gen[0][3 * i + 1]
            if c > top:
                top = c
            self.capbuf[i] = (c if c < CLAMP else CLAMP) if c > 0 else 0
        if early:
            self.cap_n = last - both_n
            if early - direct > self.cap_n:
                self.cap_n = early - direct
            self.cap_p = -1
            if p >= 0:
                self.cap_p = last - both_p
                if direct <= last and early > self.cap_p:
                    self.cap_p = early
        else:
            self.cap_n = last - both_n
            self.cap_p = last - both_p if p >= 0 else -1
        if self.cap_p < mind and self.cap_n < mind and top < mind:
            return False
        return True

    cdef void _index(self, Py_ssize_t k, i64 b, i64 a, int p, int n):
        cdef Py_ssize_t c
        cdef i64 cap_p = self.cap_p, cap_n = self.cap_n
        cdef int tn, tp
        self._ge.insert(self._ge.begin() + k, b)
        self._gxa.insert(self._gxa.begin() + k, a)
        self._gxp.insert(self._gxp.begin() + k, p)
        self._gxn.insert(self._gxn.begin() + k, n)
        for c in range(self.gbuf.size()):
            _put(self.gbuf[c], self.gtop[c], k, self.capbuf[c])
        tn = self.S.typ[n]
        if p >= 0:
            tp = self.S.typ[p]
            if tp == tn:
                if cap_p > cap_n:
                    cap_n = cap_p
            elif cap_p >= self.mind:
                self._index_type(tp, b, cap_p)
        if cap_n >= self.mind:
            self._index_type(tn, b, cap_n)

    cdef void _index_type(self, int t, i64 g, i64 cap):
        ends = &self.tge[t]
        cdef Py_ssize_t j
        if ends.size() == 0 or g > ends.back():
            j = ends.size()
            ends.push_back(g)
        else:
            j = _bl(ends[0], g, 0, ends.size())
            ends.insert(ends.begin() + j, g)
        _put(self.tbuf[t], self.ttop[t], j, <unsigned char>_byte(cap))

    cdef void _unindex_type(self, int t, i64 g):
        it = self.tge.find(t)
        cdef Py_ssize_t j
        if it == self.tge.end():
            return
        ends = &self.tge[t]
        if ends.size():
            j = _bl(ends[0], g, 0, ends.size())
            if j < <Py_ssize_t>ends.size() and ends[0][j] == g:
                ends.erase(ends.begin() + j)
                _drop(self.tbuf[t], self.ttop[t], j)

    cdef void _unindex(self, Py_ssize_t k):
        cdef i64 g = self._ge[k]
        cdef int p = self._gxp[k]
        cdef int n = self._gxn[k]
        cdef Py_ssize_t c
        cdef int tn
        self._ge.erase(self._ge.begin() + k)
        self._gxa.erase(self._gxa.begin() + k)
        self._gxp.erase(self._gxp.begin() + k)
        self._gxn.erase(self._gxn.begin() + k)
        for c in range(self.gbuf.size()):
            _drop(self.gbuf[c], self.gtop[c], k)
        tn = self.S.typ[n]
        self._unindex_type(tn, g)
        if p >= 0 and self.S.typ[p] != tn:
            self._unindex_type(self.S.typ[p], g)

    def place(self, int x, i64 d, i64 t, i64 sin, Py_ssize_t k):
        self._place(x, d, t, sin, k)

    cdef void _place(self, int x, i64 d, i64 t, i64 sin, Py_ssize_t k):
        cdef i64 e = t + d
        cdef i64 a, b
        cdef int p, n
        cdef Py_ssize_t j
        self.S.cur[x] = sin
        if k < 0:
            if self._ends.size():
                a = self._ends.back()
                p = self._ops.back()
            else:
                a = 0
                p = -1
            if t - a >= self.mind and self._gap(a, t, p, x):
                self._index(self._ge.size(), t, a, p, x)
            self._starts.push_back(t)
            self._ends.push_back(e)
            self._ops.push_back(x)
        else:
            a = self._gxa[k]
            p = self._gxp[k]
            n = self._gxn[k]
            b = self._ge[k]
            j = _bl(self._starts, b, 0, self._starts.size())
            self._starts.insert(self._starts.begin() + j, t)
            self._ends.insert(self._ends.begin() + j, e)
            self._ops.insert(self._ops.begin() + j, x)
            self.S.cur[n] = self.S.setup(x, n, self.m)
            self._unindex(k)
            if b - e >= self.mind and self._gap(e, b, x, n):
                self._index(k, b, e, x, n)
            if t - a >= self.mind and self._gap(a, t, p, x):
                self._index(k, t, a, p, x)
        self.tail = self._ends.back()
        self.gap_limit = self._starts.back() if self._ge.size() else -1


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

    def find(self, m, x, d, r, bound=NEVER):
        return self.lines[m].find(x, d, r, bound)

    def place(self, m, x, d, t, sin, k):
        self.lines[m].place(x, d, t, sin, k)

    def columns(self):
        """See :meth:`prodsched.engine.timeline.Timeline.columns`."""
        return _columns(self.lines, self.shared)

    def placements(self):
        cur = self.cur
        return [(x, line.m, s, e, cur[x]) for line in self.lines
                for x, s, e in zip(line.ops, line.starts, line.ends)]


cdef tuple _columns(list lines, Shared S):
    cdef vector[pair[pair[i64, int], int]] keys  # ((start, machine), op)
    cdef vector[i64] end_of = vector[i64](S.cur.size())
    cdef NativeLine line
    cdef Py_ssize_t i
    cdef int x
    for obj in lines:
        line = <NativeLine>obj
        for i in range(line._ops.size()):
            keys.push_back(pair[pair[i64, int], int](pair[i64, int](line._starts[i], line.m),
                                                     line._ops[i]))
            end_of[line._ops[i]] = line._ends[i]
    std_sort(keys.begin(), keys.end())
    starts, machines, ops, ends, setups = [], [], [], [], []
    for i in range(keys.size()):
        x = keys[i].second
        starts.append(keys[i].first.first)
        machines.append(keys[i].first.second)
        ops.append(x)
        ends.append(end_of[x])
        setups.append(S.cur[x])
    return starts, machines, ops, ends, setups
