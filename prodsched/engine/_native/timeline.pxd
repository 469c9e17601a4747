# Declarations of the compiled timeline, shared with the compiled dispatch loops.

from libcpp.unordered_map cimport unordered_map
from libcpp.vector cimport vector

from prodsched.engine._native.arrays cimport i64
from prodsched.engine._native.setups cimport OpSetup, Shared


# One idle gap of a line: from ``start`` to the start of operation ``n``, after operation ``p``
# (-1: none), with copies of what the setups need of both (``ns.cur`` is the setup charged
# before ``n``, fixed while the gap lasts), so a search reads one record, not two operations
cdef struct GapRec:
    i64 start
    int p
    int n
    OpSetup ps
    OpSetup ns


# The gaps of a line next to operations of one type: their ends (sorted), the capacity byte of
# each for an operation of that type, and the block maxima of those bytes
cdef struct TypeGaps:
    vector[i64] ends
    vector[unsigned char] buf
    vector[unsigned char] top


cdef class NativeLine:
    cdef Shared S
    cdef readonly int m
    cdef readonly i64 tail, gap_limit, mind
    cdef vector[int] classes, local
    # placements in the order they were made (not by start: an insertion into a gap appends
    # too, so nothing shifts); the one that ends last is ``_last`` (-1: none), starting at
    # ``_last_start`` and ending at ``tail``
    cdef vector[i64] _starts, _ends, _dts, _dte
    cdef vector[int] _ops
    cdef int _last
    cdef OpSetup _lastkey  # what the setups need of _last
    cdef i64 _last_start
    # the gaps, by end (= start of the op after them): ends apart for bisections
    cdef vector[i64] _ge
    cdef vector[GapRec] _gx
    cdef vector[vector[unsigned char]] gbuf, gtop  # per local class: capacity bytes, block maxima
    # per type of operation met next to a gap (tloc[type]: its slot, -1 when none yet): ends of
    # those gaps, the capacity bytes for an op of that type, block maxima
    cdef vector[int] tloc
    cdef vector[TypeGaps] tix
    # generic gap bounds (see _generic) per (class and width of the ops either side): offset
    # into _gdata by a dense key when the keys are few (_gslot), else by a hash map
    cdef vector[int] _gslot, _gdata
    cdef unordered_map[i64, int] _gmap
    cdef vector[unsigned char] capbuf
    cdef i64 cap_p, cap_n
    cdef i64 rt, rs, rk  # result of the last successful search

    cdef Py_ssize_t _after(self, i64 v) noexcept
    cdef i64 _clear(self, i64 t, i64 sin, i64 d)
    cdef bint _hits(self, i64 a, i64 b)
    cdef i64 _tail_end(self, int x, i64 d, i64 r)
    cdef bint _find(self, int x, i64 d, i64 r, i64 bound)
    cdef bint _try_gap(self, Py_ssize_t k, const OpSetup* xs, i64 d, i64 r)
    cdef const int* _generic(self, const OpSetup* ps, const OpSetup* ns)
    cdef bint _gap(self, i64 a, i64 b, const OpSetup* ps, const OpSetup* ns)
    cdef void _index(self, Py_ssize_t k, i64 b, i64 a, int p, int n, const OpSetup* ps,
                     const OpSetup* ns, bint insert)
    cdef void _index_type(self, int t, i64 g, i64 cap)
    cdef void _unindex_type(self, int t, i64 g)
    cdef void _unindex(self, Py_ssize_t k)
    cdef void _erase(self, Py_ssize_t k)
    cdef Py_ssize_t _gap_at(self, i64 v) noexcept
    cdef void _place(self, int x, i64 d, i64 t, i64 sin, Py_ssize_t k)
    cdef vector[Py_ssize_t] _by_start(self)


cdef vector[Py_ssize_t] _placement_order(list lines) except *
