"""Per-machine calendar: placed operations, downtime, and the earliest-feasible-start search.

A :class:`MachineLine` keeps the operations on one machine as parallel sorted lists
(``starts``, ``ends``, ``ops``), the setup charged to each op in the timeline-wide list ``cur``,
and its downtime as sorted, merged lists. An operation ``x`` with setup ``s`` occupies
``[start - s, start + duration)``: the setup slots lie immediately before it and, like the
operation, never overlap downtime or other work.

Idle stretches between consecutive operations are indexed as *gaps* ``[prev.end, next.start)``
(from 0 before the first operation). A gap has capacities: upper bounds on the duration of an
operation that could fit, from its length, the downtime inside and lower bounds on the setups
into and out of it (:meth:`SetupTable.gap_bounds`) — one per operation class of the machine
(for operations of another type than the gap's neighbours) and one for operations of the same
type (class and mixture) as a neighbour. Gaps no operation fits are not kept. Capacities are
mirrored, clamped to 255, in ``bytearray``s, so finding the next gap that may hold ``d`` slots
is a C-level regular-expression scan; each candidate is then checked exactly. Inserting ``x``
between ``p`` and ``n`` requires room for the setup ``p -> x`` before it and for the recomputed
setup ``x -> n`` before ``n``, which does not move; that setup is then charged to ``n``. When
no gap fits, ``x`` goes after the last operation.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from pathlib import Path

from prodsched.engine.setups import SetupTable

_CLAMP = 255
# _AT_LEAST[d](buf, pos, endpos) finds the first byte >= d (1 <= d <= 255)
_AT_LEAST = [None] + [re.compile(b"[\\x%02x-\\xff]" % d).search for d in range(1, _CLAMP + 1)]
_NEVER = 1 << 62


def _byte(v: int) -> int:
    return 0 if v < 0 else (v if v < _CLAMP else _CLAMP)


class MachineLine:
    """One machine. ``cur`` is the timeline-wide list of the setup charged to each placed op."""

    __slots__ = (
        "class_caps",
        "classes",
        "cls",
        "cur",
        "dte",
        "dts",
        "ends",
        "gap_ends",
        "gap_limit",
        "gaps",
        "local",
        "m",
        "mind",
        "ops",
        "setup",
        "starts",
        "table",
        "tail",
        "typ",
        "type_caps",
        "type_gap_ends",
    )

    def __init__(self, m: int, downtime: Sequence[tuple[int, int]], table: SetupTable,
                 classes: Sequence[int], min_duration: int = 1,
                 cur: list[int] | None = None) -> None:
        self.m = m
        self.table = table
        self.setup = table.setup
        self.cls = table.cls
        self.typ = table.typ
        self.classes = list(classes)  # global class ids of the operations this machine may run
        self.local = {c: i for i, c in enumerate(self.classes)}
        self.cur = cur if cur is not None else [0] * len(table.cls)
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.ops: list[int] = []
        # the gaps, sorted: their ends (= start of the operation after), (gap start, op before
        # or -1, op after), and per class the capacity for an op of another type than its sides
        self.gap_ends: list[int] = []
        self.gaps: list[tuple[int, int, int]] = []
        self.class_caps = [bytearray() for _ in self.classes]
        # per type: the ends of the gaps next to an op of that type, and their capacity for one
        self.type_gap_ends: dict[int, list[int]] = {}
        self.type_caps: dict[int, bytearray] = {}
        self.dts = [int(s) for s, _ in downtime]
        self.dte = [int(e) for _, e in downtime]
        self.mind = max(1, int(min_duration))
        self.tail = 0  # end of the last operation (0 when empty)
        self.gap_limit = -1  # start of the last operation when some gap is indexed, else -1

    # -- queries ---------------------------------------------------------------------------
    def available(self) -> int:
        """End of the last operation (0 when the machine is empty)."""
        return self.tail

    def gap_end(self, k: int) -> int:
        """End of gap ``k`` (``k`` as :meth:`find` returns it: a handle valid until the next
        :meth:`place`)."""
        return self.gap_ends[k]

    def last_op(self) -> int:
        """Index of the operation that ends last, -1 when the machine is empty."""
        return self.ops[-1] if self.ops else -1

    def clear(self, t: int, sin: int, d: int) -> int:
        """Earliest ``t' >= t`` with ``[t' - sin, t' + d)`` free of downtime."""
        dts = self.dts
        if not dts:
            return t
        dte = self.dte
        q = bisect_right(dte, t - sin)
        nd = len(dts)
        while q < nd and dts[q] < t + d:
            t = dte[q] + sin
            q += 1
        return t

    def hits_downtime(self, a: int, b: int) -> bool:
        """Whether ``[a, b)`` overlaps downtime."""
        if a >= b or not self.dts:
            return False
        q = bisect_right(self.dte, a)
        return q < len(self.dts) and self.dts[q] < b

    def tail_end(self, x: int, d: int, r: int) -> int:
        """End of ``x`` appended after the last operation: an upper bound of :meth:`find`."""
        ends = self.ends
        if not ends:
            return (self.clear(r, 0, d) if self.dts else r) + d
        sin = self.setup(self.ops[-1], x, self.m)
        t = ends[-1] + sin
        if r > t:
            t = r
        return (self.clear(t, sin, d) if self.dts else t) + d

    def find(self, x: int, d: int, r: int, bound: int = _NEVER) -> tuple[int, int, int] | None:
        """Earliest feasible ``(start, setup, gap)`` for op ``x`` of ``d`` slots ready at ``r``.

        ``gap`` is the index of the gap used, or -1 when appended after the last operation.
        With ``bound``, None is returned when the earliest placement would end after it.
        Candidates come from two indexes: gaps whose capacity for ``x``'s class (as an op of
        another type than its neighbours) reaches ``d``, and gaps next to an op of ``x``'s
        own type whose capacity for that type reaches ``d``; the earliest that fits wins.
        """
        starts = self.starts
        if not starts:
            t = self.clear(r, 0, d) if self.dts else r
            return (t, 0, -1) if t + d <= bound else None
        lo = r + d
        gap_ends = self.gap_ends
        if gap_ends and lo <= starts[-1] and lo <= bound:
            search = _AT_LEAST[d if d < _CLAMP else _CLAMP]
            # a gap starts at or after the end of the gap before it: those starting after
            # ``bound - d`` cannot meet the bound
            stop = len(gap_ends)
            if bound < _NEVER:
                stop = bisect_right(gap_ends, bound - d) + 1
                if stop > len(gap_ends):
                    stop = len(gap_ends)
            best = None
            buf = self.class_caps[self.local[self.cls[x]]]
            k = bisect_left(gap_ends, lo)
            while True:
                hit = search(buf, k, stop)
                if hit is None:
                    break
                k = hit.start()
                best = self._try_gap(k, x, d, r)
                if best is not None:
                    stop = k
                    break
                k += 1
            ends = self.type_gap_ends.get(self.typ[x])
            if ends and stop:
                i = bisect_left(ends, lo)
                end = bisect_right(ends, gap_ends[stop - 1])  # only gaps before ``stop``
                type_caps = self.type_caps[self.typ[x]]
                while True:
                    hit = search(type_caps, i, end)
                    if hit is None:
                        break
                    i = hit.start()
                    found = self._try_gap(bisect_left(gap_ends, ends[i]), x, d, r)
                    if found is not None:
                        best = found
                        break
                    i += 1
            if best is not None:
                return best if best[0] + d <= bound else None
        t = self.ends[-1]
        if t + d > bound:
            return None
        sin = self.setup(self.ops[-1], x, self.m)
        t += sin
        if r > t:
            t = r
        if t + d > bound:
            return None
        if self.dts:
            t = self.clear(t, sin, d)
            if t + d > bound:
                return None
        return t, sin, -1

    def _try_gap(self, k: int, x: int, d: int, r: int) -> tuple[int, int, int] | None:
        """Exact check of gap ``k``: earliest ``(start, setup, k)`` there, or None."""
        a, p, n = self.gaps[k]
        nstart = self.gap_ends[k]
        setup = self.setup
        m = self.m
        sin = setup(p, x, m) if p >= 0 else 0
        sout = setup(x, n, m)
        limit = nstart - sout
        t = a + sin
        if t < r:
            t = r
        if t + d > limit:
            return None
        if self.dts:
            now = self.cur[n]
            if sout > now and self.hits_downtime(nstart - sout, nstart - now):
                return None
            t = self.clear(t, sin, d)
            if t + d > limit:
                return None
        return t, sin, k

    # -- updates ---------------------------------------------------------------------------
    def _gap(self, a: int, b: int, p: int, n: int) -> tuple | None:
        """Capacities ``(per class bytes, same type as p, same type as n)`` of the gap
        ``[a, b)`` between ops ``p`` (-1: none) and ``n``; None when nothing can fit.

        Without downtime inside, a capacity is the length minus the setup bound. With
        downtime, ``x`` either shares the last downtime-free run with ``n``'s setup, or sits
        in an earlier run (its own setup inside that run) and ``n``'s new setup must fit in
        the last run.
        """
        mind = self.mind
        early = 0
        cur = a
        dts = self.dts
        if dts:
            dte = self.dte
            q = bisect_right(dte, a)
            nd = len(dts)
            while q < nd and dts[q] < b:
                if dts[q] - cur > early:
                    early = dts[q] - cur
                cur = dte[q]
                q += 1
        last = b - cur if b > cur else 0
        if last < mind and early < mind:
            return None
        generic, direct, both_p, both_n = self.table.gap_bounds(p, n, self.m, self.classes)
        if early:
            caps = []
            for both, into, leave in generic:
                c = last - both
                if leave <= last and early - into > c:
                    c = early - into
                caps.append(c)
            cap_n = last - both_n
            if early - direct > cap_n:
                cap_n = early - direct
            cap_p = -1
            if p >= 0:
                cap_p = last - both_p
                if direct <= last and early > cap_p:
                    cap_p = early
        else:
            caps = [last - g[0] for g in generic]
            cap_n = last - both_n
            cap_p = last - both_p if p >= 0 else -1
        if cap_p < mind and cap_n < mind and max(caps) < mind:
            return None
        return bytes([(c if c < _CLAMP else _CLAMP) if c > 0 else 0 for c in caps]), cap_p, cap_n

    def _index(self, k: int, b: int, a: int, p: int, n: int, caps: tuple) -> None:
        """Insert gap ``[a, b)`` (between ``p`` and ``n``) at index ``k`` of every index."""
        cbytes, cap_p, cap_n = caps
        if k == len(self.gap_ends):
            self.gap_ends.append(b)
            self.gaps.append((a, p, n))
            for c, buf in enumerate(self.class_caps):
                buf.append(cbytes[c])
        else:
            self.gap_ends.insert(k, b)
            self.gaps.insert(k, (a, p, n))
            for c, buf in enumerate(self.class_caps):
                buf.insert(k, cbytes[c])
        typ = self.typ
        tn = typ[n]
        mind = self.mind
        if p >= 0:
            tp = typ[p]
            if tp == tn:
                if cap_p > cap_n:
                    cap_n = cap_p
            elif cap_p >= mind:
                self._index_type(tp, b, cap_p)
        if cap_n >= mind:
            self._index_type(tn, b, cap_n)

    def _index_type(self, t: int, g: int, cap: int) -> None:
        ends = self.type_gap_ends.get(t)
        if ends is None:
            ends = self.type_gap_ends[t] = []
            self.type_caps[t] = bytearray()
        if not ends or g > ends[-1]:
            ends.append(g)
            self.type_caps[t].append(_byte(cap))
        else:
            j = bisect_left(ends, g)
            ends.insert(j, g)
            self.type_caps[t].insert(j, _byte(cap))

    def _unindex(self, k: int) -> None:
        """Remove gap ``k`` from every index."""
        g = self.gap_ends.pop(k)
        _a, p, n = self.gaps.pop(k)
        for buf in self.class_caps:
            del buf[k]
        typ = self.typ
        tn = typ[n]
        for t in (tn, typ[p]) if p >= 0 and typ[p] != tn else (tn,):
            ends = self.type_gap_ends.get(t)
            if ends:
                j = bisect_left(ends, g)
                if j < len(ends) and ends[j] == g:
                    del ends[j]
                    del self.type_caps[t][j]

    def place(self, x: int, d: int, t: int, sin: int, k: int) -> None:
        """Put op ``x`` at ``t`` with setup ``sin`` into gap ``k`` (or append when ``k`` < 0)."""
        e = t + d
        self.cur[x] = sin
        mind = self.mind
        if k < 0:
            ends = self.ends
            if ends:
                a = ends[-1]
                p = self.ops[-1]
            else:
                a = 0
                p = -1
            if t - a >= mind:
                caps = self._gap(a, t, p, x)
                if caps is not None:
                    self._index(len(self.gap_ends), t, a, p, x, caps)
            self.starts.append(t)
            ends.append(e)
            self.ops.append(x)
            self.tail = e
            self.gap_limit = t if self.gap_ends else -1
            return
        a, p, n = self.gaps[k]
        b = self.gap_ends[k]
        j = bisect_left(self.starts, b)
        self.starts.insert(j, t)
        self.ends.insert(j, e)
        self.ops.insert(j, x)
        self.cur[n] = self.setup(x, n, self.m)
        self._unindex(k)
        if b - e >= mind:
            caps = self._gap(e, b, x, n)
            if caps is not None:
                self._index(k, b, e, x, n, caps)
        if t - a >= mind:
            caps = self._gap(a, t, p, x)
            if caps is not None:
                self._index(k, t, a, p, x, caps)
        self.gap_limit = self.starts[-1] if self.gap_ends else -1


class Timeline:
    """All machines' lines; machine indexes follow the instance's machine order.

    ``machine_classes[m]`` lists the (global) class ids of the operations machine ``m`` may run.
    """

    __slots__ = ("cur", "lines")

    def __init__(self, table: SetupTable, downtimes: Sequence[Sequence[tuple[int, int]]],
                 machine_classes: Sequence[Sequence[int]],
                 min_durations: Sequence[int] | None = None) -> None:
        mins = list(min_durations) if min_durations is not None else [1] * len(downtimes)
        self.cur = [0] * len(table.cls)
        self.lines = [MachineLine(m, dt, table, machine_classes[m], mins[m], self.cur)
                      for m, dt in enumerate(downtimes)]

    def columns(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """Every placement as columns ``(starts, machines, ops, ends, setups)``, ordered by
        start, then machine, then op."""
        cur = self.cur
        rows = sorted((s, line.m, x, e) for line in self.lines
                      for x, s, e in zip(line.ops, line.starts, line.ends))
        starts = [r[0] for r in rows]
        machines = [r[1] for r in rows]
        ops = [r[2] for r in rows]
        return starts, machines, ops, [r[3] for r in rows], [cur[x] for x in ops]

    def placements(self) -> list[tuple[int, int, int, int, int]]:
        """``(op, machine, start, end, setup)`` for every placed operation."""
        cur = self.cur
        return [(x, line.m, s, e, cur[x]) for line in self.lines
                for x, s, e in zip(line.ops, line.starts, line.ends)]


@functools.cache
def _native_timeline() -> type | None:
    """The compiled twin of :class:`Timeline`, or None when it is not built or is older than
    one of its sources (an edited ``.pyx``/``.pxd`` not yet rebuilt: ``pip install -e .``
    rebuilds it).

    It comes with the compiled setup table, set-up and dispatch loops and the optimiser's
    re-timing (``_native.setups``, ``_native.load``, ``_native.dispatch``, ``_native.retime``);
    all five must be there.
    """
    try:
        from prodsched.engine._native import dispatch, load, retime, setups
        from prodsched.engine._native import timeline as compiled
    except ImportError:
        return None
    here = Path(__file__).parent
    declarations = sorted((here / "_native").glob("*.pxd"))  # any module may cimport these
    for module in (compiled, setups, load, dispatch, retime):
        built = Path(module.__file__)
        own = here / "_native" / (module.__name__.rpartition(".")[2] + ".pyx")
        stale = [src.relative_to(here).as_posix() for src in [own, *declarations]
                 if src.stat().st_mtime > built.stat().st_mtime + 1]
        if stale:
            warnings.warn(f"{built.name} is older than {', '.join(sorted(stale))}; using the "
                          "Python timeline until it is rebuilt (pip install -e .)",
                          RuntimeWarning, stacklevel=2)
            return None
    return compiled.NativeTimeline


TIMELINES = ("native", "python")


def timeline_class(name: str | None = None) -> type:
    """The timeline implementation by name: ``native`` (compiled, the default when built) or
    ``python`` (this module, the reference). ``None`` reads ``PRODSCHED_TIMELINE``."""
    choice = (name or os.environ.get("PRODSCHED_TIMELINE") or "").strip().lower()
    if choice not in ("", *TIMELINES):
        raise ValueError(f"unknown timeline {choice!r}; choose one of {', '.join(TIMELINES)}")
    if choice == "python":
        return Timeline
    native = _native_timeline()
    if native is None and choice == "native":
        raise RuntimeError("the compiled timeline is not built here (it needs a C++ compiler "
                           "when the package is installed); use timeline 'python'")
    return native or Timeline
