# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of :class:`prodsched.engine.setups.SetupTable` for the compiled timeline: one
:c:type:`OpSetup` per operation (class, mixture, type, width rank and the setup charged to it
once placed), the class matrix and the width changeovers per machine."""

from cython.operator cimport dereference as deref
from libcpp.unordered_map cimport unordered_map
from libcpp.vector cimport vector


cdef class Shared:
    """The integer setup table and the timeline-wide setup charged to each placed op."""

    def __init__(self, table):
        cdef Py_ssize_t i
        widths = sorted(set(table.width))
        rank = {w: i for i, w in enumerate(widths)}
        self._fill(list(table.cls), list(table.mix), [rank[w] for w in table.width])
        self._dense_types(len(set(table.mix)))
        self.nw = len(widths)
        self.ncls = len(table.matrix)
        self.matrix = [v for row in table.matrix for v in row]
        self.l2s = list(table.l2s)
        self.s2l = list(table.s2l)

    cdef void _fill(self, list cls, list mix, list wr):
        """One :c:type:`OpSetup` per operation; ``cur`` 0, ``typ`` set by ``_dense_types``."""
        cdef Py_ssize_t x, n = len(cls)
        self.op.resize(n)
        for x in range(n):
            self.op[x].cur = 0
            self.op[x].cls = cls[x]
            self.op[x].mix = mix[x]
            self.op[x].typ = 0
            self.op[x].wr = wr[x]

    cdef void _dense_types(self, int nmix):
        """``typ``: each distinct (class, mixture) of ``cls``/``mix`` as a dense code, in order
        of first appearance (types are only compared, so any one-to-one code will do)."""
        cdef Py_ssize_t x, n = self.op.size()
        cdef i64 key, span = 0
        cdef vector[int] code
        cdef unordered_map[i64, int] sparse
        for x in range(n):
            if self.op[x].cls >= span:
                span = self.op[x].cls + 1
        span *= max(nmix, 1)
        self.ntyp = 0
        self.types_hashed = span > 4 * n + 4096
        if not self.types_hashed:
            code.assign(span, -1)
            for x in range(n):
                key = <i64>self.op[x].cls * nmix + self.op[x].mix
                if code[key] < 0:
                    code[key] = self.ntyp
                    self.ntyp += 1
                self.op[x].typ = code[key]
            return
        for x in range(n):
            key = <i64>self.op[x].cls * nmix + self.op[x].mix
            it = sparse.find(key)
            if it == sparse.end():
                sparse[key] = self.ntyp
                self.op[x].typ = self.ntyp
                self.ntyp += 1
            else:
                self.op[x].typ = deref(it).second

    def cur_list(self):
        return [self.op[x].cur for x in range(self.op.size())]

    cdef int change(self, int a, int b, int m):
        if b < a:
            return self.l2s[m]
        return self.s2l[m] if b > a else 0

    cdef int setup(self, int p, int x, int m):
        return self.between(&self.op[p], &self.op[x], m)

    cdef int between(self, const OpSetup* p, const OpSetup* x, int m) noexcept:
        return _setup(self.matrix.data(), self.ncls, self.l2s.data(), self.s2l.data(), p, x, m)
