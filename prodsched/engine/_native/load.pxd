# Declarations of the compiled set-up: an instance's operations as the compiled core's arrays.

from libcpp.vector cimport vector

from prodsched.engine._native.arrays cimport i64
from prodsched.engine._native.setups cimport Shared


cdef class Columns:
    cdef readonly Py_ssize_t n
    # by priority position x (operation x is the x-th most urgent)
    cdef vector[Py_ssize_t] order  # x -> position in the given order
    cdef vector[i64] due, aging, pmin, width
    cdef vector[int] estart, em, sstart, succ, npred  # eligibility and successors, flat
    cdef vector[i64] ed
    cdef vector[int] cls, mix, opn  # codes: rank in the sorted class / mixture / name lists
    # in the given order, as Core keeps them
    cdef vector[int] em_given, eoff_given
    cdef vector[i64] ed_given
    cdef readonly list ids, class_names, mixture_names, op_names, machine_classes, min_durations
    cdef readonly dict index
    cdef readonly Shared shared
