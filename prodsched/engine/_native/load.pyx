# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of the column building in :class:`prodsched.engine.core.Core`.

:func:`load` reads each operation once, in the given order, straight into C++ arrays: codes
for classes, mixtures and names, flat eligibility, successors, the priority order and the setup
table of the compiled timeline. It returns None for any operation the Python set-up should see
(a value that is not a plain ``int``/``str``, durations that are not a ``dict``, or anything
Core rejects); Core then builds the columns in Python and words the error. Tests require
identical schedules both ways.
"""

from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_Compare
from libcpp.algorithm cimport sort as std_sort
from libcpp.vector cimport vector

from prodsched.engine._native.arrays cimport i64
from prodsched.engine._native.setups cimport Shared


ctypedef unsigned char u8


cdef struct Key:
    i64 due
    i64 negw
    Py_ssize_t i
    PyObject* id  # borrowed from the list of ids the caller holds while it sorts


cdef bint _before(Key a, Key b):
    if a.due != b.due:
        return a.due < b.due
    if a.negw != b.negw:
        return a.negw < b.negw
    cdef int c = PyUnicode_Compare(<object>a.id, <object>b.id)
    return c < 0 if c else a.i < b.i  # equal keys keep their given order, as sorted() does


cdef void _sort(vector[Key]& keys):
    """Sort ``keys`` by (due, -width, id); the ids are str."""
    std_sort(keys.begin(), keys.end(), _before)


def priority_order(list dues, list widths, list ids):
    """Indexes sorted by (due, -width, id), like ``sorted`` on those tuples; None unless every
    due and width is an int within 64 bits and every id a str (then ``sorted`` decides)."""
    cdef Py_ssize_t n = len(ids), i
    cdef vector[Key] keys
    cdef Key k
    for i in range(n):
        if type(dues[i]) is not int or type(widths[i]) is not int or type(ids[i]) is not str:
            return None
    keys.resize(n)
    try:
        for i in range(n):
            k.due = dues[i]
            k.negw = -<i64>widths[i]
            k.i = i
            k.id = <PyObject*>ids[i]
            keys[i] = k
    except OverflowError:
        return None
    _sort(keys)
    return [keys[i].i for i in range(n)]


cdef int _code(dict codes, list names, object key) except -2:
    """The code of ``key`` in ``codes``, a new one (and ``key`` appended to ``names``) if unseen."""
    cdef PyObject* found = PyDict_GetItem(codes, key)
    if found is not NULL:
        return <int><object>found
    cdef int c = len(names)
    codes[key] = c
    names.append(key)
    return c


cdef list _ranks(list names, list sorted_names):
    """For each code (index into ``names``), its rank in ``sorted_names``."""
    cdef dict rank = {nm: r for r, nm in enumerate(sorted_names)}
    return [rank[nm] for nm in names]


cdef class Columns:
    """Per-operation arrays of one instance (see :func:`load`); lists for Core on request."""

    def id_index(self):
        """``{op id: priority position}``, built on first use."""
        cdef Py_ssize_t x
        if self.index is None:
            self.index = {self.ids[self.order[x]]: x for x in range(self.n)}
        return self.index

    def by_position(self, str name):
        """Column ``name`` as a list by priority position (Core's Python-side columns)."""
        cdef Py_ssize_t x, n = self.n
        if name == "due":
            return [self.due[x] for x in range(n)]
        if name == "aging":
            return [self.aging[x] for x in range(n)]
        if name == "pmin":
            return [self.pmin[x] for x in range(n)]
        if name == "npred":
            return [self.npred[x] for x in range(n)]
        if name == "width":
            return [self.width[x] for x in range(n)]
        if name == "opid":
            return [self.ids[self.order[x]] for x in range(n)]
        if name == "op_class":
            return [self.class_names[self.cls[x]] for x in range(n)]
        if name == "mixture":
            return [self.mixture_names[self.mix[x]] for x in range(n)]
        if name == "opname":
            return [self.op_names[self.opn[x]] for x in range(n)]
        if name == "order":
            return [self.order[x] for x in range(n)]
        if name == "position":
            out = [0] * n
            for x in range(n):
                out[self.order[x]] = x
            return out
        if name == "succ":
            return [[self.succ[j] for j in range(self.sstart[x], self.sstart[x + 1])]
                    for x in range(n)]
        if name == "elig_machines":
            return list(self.em_given)
        if name == "elig_durations":
            return list(self.ed_given)
        if name == "elig_offsets":
            return list(self.eoff_given)
        raise KeyError(name)


def load(operations, dict mindex, list mrank, machines, class_setup):
    """The columns of ``operations`` (machines coded by ``mindex``, each operation's machines
    in ``mrank`` order), or None when an operation needs the Python set-up."""
    cdef Columns c = Columns.__new__(Columns)
    cdef Py_ssize_t n = len(operations), nm = len(mrank), i, x, j, a, b, k, pos, p
    cdef i64 d, least, due, width, aging
    cdef int m, cc, mx, on, y
    cdef dict cls_codes = {}, mix_codes = {}, op_codes = {}, index = None
    cdef list cls_names = [], mix_names = [], op_names = [], ids = [], pids = []
    cdef vector[i64] due_g, width_g, aging_g, pmin_g
    cdef vector[int] cls_g, mix_g, opn_g, poff, pres, last, rank = mrank
    cdef vector[i64] mind = vector[i64](nm)
    cdef vector[vector[u8]] mcls = vector[vector[u8]](nm)
    cdef vector[Key] keys
    cdef vector[Py_ssize_t] x_of
    cdef Key key
    cdef PyObject* found
    due_g.reserve(n)
    width_g.reserve(n)
    aging_g.reserve(n)
    pmin_g.reserve(n)
    c.eoff_given.reserve(n + 1)
    c.eoff_given.push_back(0)
    poff.reserve(n + 1)
    poff.push_back(0)
    try:
        for op in operations:
            oid = op.id
            opclass = op.op_class
            mixture = op.mixture
            name = op.operation
            durations = op.durations
            if (type(oid) is not str or type(opclass) is not str or type(mixture) is not str
                    or type(name) is not str or type(durations) is not dict or not durations
                    or type(op.due_slot) is not int or type(op.width) is not int
                    or type(op.aging_slots) is not int):
                return None
            due = op.due_slot
            width = op.width
            aging = op.aging_slots
            if aging < 0:
                return None
            ids.append(oid)
            due_g.push_back(due)
            width_g.push_back(width)
            aging_g.push_back(aging)
            cc = _code(cls_codes, cls_names, opclass)
            cls_g.push_back(cc)
            mix_g.push_back(_code(mix_codes, mix_names, mixture))
            opn_g.push_back(_code(op_codes, op_names, name or opclass))
            least = 0
            for mc, dur in (<dict>durations).items():
                found = PyDict_GetItem(mindex, mc)
                if found is NULL or type(dur) is not int or dur < 1:
                    return None
                m = <int><object>found
                d = dur
                c.em_given.push_back(m)
                c.ed_given.push_back(d)
                if mind[m] == 0 or d < mind[m]:
                    mind[m] = d
                if least == 0 or d < least:
                    least = d
                if <Py_ssize_t>mcls[m].size() <= cc:
                    mcls[m].resize(cc + 1)
                mcls[m][cc] = 1
            c.eoff_given.push_back(c.em_given.size())
            pmin_g.push_back(least)
            for pid in op.predecessors:
                pids.append(pid)
            poff.push_back(len(pids))
    except OverflowError:  # an int beyond 64 bits
        return None
    # the priority order: due, then wider first, then id, then the given order
    keys.resize(n)
    for i in range(n):
        key.due = due_g[i]
        key.negw = -width_g[i]
        key.i = i
        key.id = <PyObject*>ids[i]
        keys[i] = key
    _sort(keys)
    c.n = n
    c.order.resize(n)
    x_of.resize(n)
    for x in range(n):
        c.order[x] = keys[x].i
        x_of[keys[x].i] = x
    # successors by priority position, each in the given order of the operations naming it;
    # a predecessor named twice by one operation counts once. Most operations name the one
    # given just before them; the others are looked up by id (the id index is built then)
    c.npred.assign(n, 0)
    pres.resize(len(pids))
    last.assign(n, -1)
    cdef vector[int] nsucc = vector[int](n + 1)
    for i in range(n):
        x = x_of[i]
        for j in range(poff[i], poff[i + 1]):
            pid = pids[j]
            if i and (pid is ids[i - 1] or pid == ids[i - 1]):
                p = x_of[i - 1]
            else:
                if index is None:
                    index = {}
                    for k in range(n):
                        PyDict_SetItem(index, ids[k], x_of[k])
                found = PyDict_GetItem(index, pid)
                if found is NULL:
                    return None
                p = <Py_ssize_t><object>found
            if last[p] == x:
                pres[j] = -1
                continue
            last[p] = x
            pres[j] = p
            nsucc[p + 1] += 1
            c.npred[x] += 1
    c.sstart.resize(n + 1)
    for x in range(n):
        c.sstart[x + 1] = c.sstart[x] + nsucc[x + 1]
    c.succ.resize(c.sstart[n])
    for x in range(n):
        nsucc[x] = c.sstart[x]
    for i in range(n):
        for j in range(poff[i], poff[i + 1]):
            if pres[j] >= 0:
                c.succ[nsucc[pres[j]]] = x_of[i]
                nsucc[pres[j]] += 1
    # per-operation arrays by priority position; each operation's machines in rank order
    cdef list class_names = sorted(set(cls_names) | {pair[0] for pair in class_setup}
                                   | {pair[1] for pair in class_setup})
    cdef vector[int] crank = _ranks(cls_names, class_names)
    cdef list mixture_names = sorted(mix_names)
    cdef vector[int] xrank = _ranks(mix_names, mixture_names)
    cdef list names = sorted(op_names)
    cdef vector[int] nrank = _ranks(op_names, names)
    c.due.resize(n)
    c.aging.resize(n)
    c.pmin.resize(n)
    c.width.resize(n)
    c.cls.resize(n)
    c.mix.resize(n)
    c.opn.resize(n)
    c.estart.reserve(n + 1)
    c.em.reserve(c.em_given.size())
    c.ed.reserve(c.em_given.size())
    c.estart.push_back(0)
    for x in range(n):
        i = c.order[x]
        c.due[x] = due_g[i]
        c.aging[x] = aging_g[i]
        c.pmin[x] = pmin_g[i]
        c.width[x] = width_g[i]
        c.cls[x] = crank[cls_g[i]]
        c.mix[x] = xrank[mix_g[i]]
        c.opn[x] = nrank[opn_g[i]]
        a = c.eoff_given[i]
        b = c.eoff_given[i + 1]
        pos = c.em.size()
        for j in range(a, b):  # insertion sort by machine rank
            m = c.em_given[j]
            d = c.ed_given[j]
            c.em.push_back(m)
            c.ed.push_back(d)
            k = pos + (j - a)
            while k > pos and rank[c.em[k - 1]] > rank[m]:
                c.em[k] = c.em[k - 1]
                c.ed[k] = c.ed[k - 1]
                k -= 1
            c.em[k] = m
            c.ed[k] = d
        c.estart.push_back(c.em.size())
    c.ids = ids
    c.index = index
    c.class_names = class_names
    c.mixture_names = mixture_names
    c.op_names = names
    c.machine_classes = [sorted([crank[j] for j in range(mcls[m].size()) if mcls[m][j]])
                         for m in range(nm)]
    c.min_durations = [mind[m] for m in range(nm)]
    c.shared = _shared(c, machines, class_setup, class_names)
    return c


cdef Shared _shared(Columns c, machines, class_setup, list class_names):
    """The compiled timeline's setup table, as ``Shared(SetupTable(...))`` would build it."""
    cdef Shared S = Shared.__new__(Shared)
    cdef Py_ssize_t x, n = c.n
    cdef int nmix = len(c.mixture_names)
    widths = sorted({c.width[x] for x in range(n)})
    cdef dict wrank = {w: r for r, w in enumerate(widths)}
    S.op.resize(n)
    for x in range(n):
        S.op[x].cur = 0
        S.op[x].cls = c.cls[x]
        S.op[x].mix = c.mix[x]
        S.op[x].typ = 0
        S.op[x].wr = wrank[c.width[x]]
    S.nw = len(widths)
    S.ncls = len(class_names)
    S._dense_types(nmix)
    S.matrix = [int(class_setup.get((a, b), 0)) for a in class_names for b in class_names]
    S.l2s = [int(mc.long_to_short) for mc in machines]
    S.s2l = [int(mc.short_to_long) for mc in machines]
    return S
