# The compiled setup table: what the setups need of each operation, and the changeover rules.

from libcpp.vector cimport vector

from prodsched.engine._native.arrays cimport i64


# What the setups need of one operation, together (one cache line for the neighbours of a gap)
cdef struct OpSetup:
    i64 cur  # the setup charged right before it, once placed
    int cls  # class code (row/column of the class matrix)
    int mix  # mixture code
    int typ  # dense code of (class, mixture), 0 .. ntyp - 1
    int wr  # rank of its width


# setup before ``x`` when ``p`` precedes it on machine ``m`` (see Shared.setup)
cdef inline int _setup(const int* matrix, int ncls, const int* l2s, const int* s2l,
                       const OpSetup* p, const OpSetup* x, int m) noexcept:
    cdef int tc = (matrix[p.cls * ncls + x.cls]
                   if (p.cls != x.cls or p.mix != x.mix) else 0)
    cdef int wc
    if x.wr < p.wr:
        wc = l2s[m]
    elif x.wr > p.wr:
        wc = s2l[m]
    else:
        return tc
    return tc if tc > wc else wc


cdef class Shared:
    cdef vector[OpSetup] op
    cdef vector[int] matrix
    cdef int ncls, nw, ntyp
    cdef readonly bint types_hashed  # type codes by hash map (for inspection)
    cdef vector[int] l2s, s2l

    cdef void _dense_types(self, int nmix)
    cdef void _fill(self, list cls, list mix, list wr)
    cdef int change(self, int a, int b, int m)
    cdef int setup(self, int p, int x, int m)
    cdef int between(self, const OpSetup* p, const OpSetup* x, int m) noexcept
