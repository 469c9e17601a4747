"""Integer arrays of one instance, prepared once, and the timeline being filled.

Operations are renumbered in the total priority order (earliest due, then wider first, then
id), so "more urgent" is "smaller index" and the due dates form a sorted array the ``window``
rule bisects. An operation becomes ready when all its predecessors are placed; its ready time is
the latest predecessor end plus that predecessor's aging slots.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from prodsched.engine.model import Instance, Operation, merge_intervals
from prodsched.engine.pins import check_pins
from prodsched.engine.setups import SetupTable
from prodsched.engine.timeline import _NEVER, Timeline, timeline_class
from prodsched.errors import ScheduleError


def _whole_slots(op: Operation, machine: str, d: Any) -> int:
    """``d`` as an int >= 1, or ScheduleError naming the operation."""
    try:
        whole = not isinstance(d, bool) and int(d) == d and int(d) >= 1
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise ScheduleError(op.id, f"duration {d!r} on machine {machine} is not a whole number "
                                   "of slots >= 1")
    return int(d)


def _closed_downtime(instance: Instance) -> list[tuple[tuple[int, int], ...]]:
    """Each machine's downtime; with ``now``, also ``[0, now)``: closed to new work (pins are
    placed there directly)."""
    if not instance.now:
        return [mc.downtime for mc in instance.machines]
    return [merge_intervals((*mc.downtime, (0, instance.now))) for mc in instance.machines]


def _ignore(_y: int) -> None:
    """``on_ready`` while pins are placed: the dispatch loops collect ready operations later."""


def _priority_order(source, compiled: bool) -> list[int]:
    """Indexes of ``source`` in the total priority order: due, then wider first, then id."""
    if compiled:
        from prodsched.engine._native.load import priority_order
        order = priority_order([op.due_slot for op in source], [op.width for op in source],
                               [op.id for op in source])
        if order is not None:
            return order
    return sorted(range(len(source)),
                  key=[(op.due_slot, -op.width, op.id) for op in source].__getitem__)


_FROM_COLUMNS = frozenset({"due", "aging", "pmin", "npred", "succ", "mixture", "opname", "opid",
                           "elig_machines", "elig_durations", "elig_offsets", "position",
                           "order"})


class Core:
    """Integer arrays of one instance and the timeline being filled."""

    def __init__(self, instance: Instance, seed: int, ticker: Callable[[int], None],
                 timeline: str | None = None) -> None:
        self.instance = instance
        machines = instance.machines
        self.mindex = mindex = {mc.code: m for m, mc in enumerate(machines)}
        source = instance.operations
        self.n = n = len(source)
        timeline_type = timeline_class(timeline)
        rng = random.Random(seed) if seed else None
        morder = list(range(len(machines)))
        if rng is not None:
            rng.shuffle(morder)
        self.mrank = mrank = [0] * len(machines)
        for rank, m in enumerate(morder):
            mrank[m] = rank
        tie = list(range(n))
        if rng is not None:
            rng.shuffle(tie)
        self.tie = tie
        columns = None
        if timeline_type is not Timeline:
            from prodsched.engine._native.load import load
            columns = load(source, mindex, mrank, machines, instance.class_setup)
        if columns is None:
            self._set_up(source, machines, timeline_type)
        else:  # the Python-side columns are built from these on first use (__getattr__)
            self._columns = columns
            self.timeline = timeline_type(None, _closed_downtime(instance),
                                          columns.machine_classes, columns.min_durations,
                                          shared=columns.shared)
            self.active = [m for m, c in enumerate(columns.machine_classes) if c]
        self.placed = bytearray(n)
        self.horizon = _NEVER if instance.horizon is None else int(instance.horizon)
        self.count = 0
        self.ticker = ticker
        self.native = None  # the compiled twin of best() and of the window loop
        if not isinstance(self.timeline, Timeline):
            from prodsched.engine._native.dispatch import NativeCore
            self.native = NativeCore(self, columns)
        self.pins_compiled = False  # checked and placed by the compiled loader's arrays
        if instance.replanning:
            if self.native is not None and self.native.keyed:
                self.pins_compiled = self._place_pins_native()
            if not self.pins_compiled:
                check_pins(instance)  # the reference: raises naming the pin that breaks a rule
                self._place_pins()
                if self.native is not None and self.native.keyed:
                    self.native.take_pins(self)  # the compiled loops keep their own copies

    def _place_pins(self) -> None:
        """Put the pinned operations on their machines first (in start order, each with the
        setup after the pin before it), and let nothing else start before ``now``: the reference,
        and the path of a compiled timeline not set up by the compiled loader (its loops take
        ``ready``/``npred`` from these lists)."""
        instance = self.instance
        index, mindex, lines = self.index, self.mindex, self.timeline.lines
        pinned: list[int] = []
        noop = _ignore
        for code, start, op_id in sorted((c, t, o) for o, (c, t) in instance.pins.items()):  # machine, start
            m = mindex[code]
            x = index[op_id]
            d = int(instance.op(op_id).durations[code])  # eligible: check_pins
            last = lines[m].last_op()
            s = self.setups.setup(last, x, m) if last >= 0 else 0
            self.commit(x, m, start, s, -1, d, noop)
            pinned.append(x)
        never = self.n + 1
        for x in pinned:  # a pin never becomes ready again
            self.npred[x] = never
        now = instance.now
        if now:
            ready = self.ready
            for x in range(self.n):
                if ready[x] < now:
                    ready[x] = now

    def _place_pins_native(self) -> bool:
        """:func:`check_pins` and :meth:`_place_pins` in the compiled arrays (the same checks,
        placements, setups, ready times and counts); False, with nothing placed, when a pin
        breaks a rule or names an unknown operation or machine (the reference then words the
        error). The Python loops of the other rules read the state back (``__getattr__``)."""
        instance = self.instance
        offsets, starts, ends = [0], [], []
        for mc in instance.machines:
            starts.extend(a for a, _ in mc.downtime)
            ends.extend(b for _, b in mc.downtime)
            offsets.append(len(starts))
        if not self.native.place_pins(instance.pins, self.mindex, instance.now, self.horizon, offsets, starts,
                                      ends):
            return False
        self.count = self.native.count
        self.placed = self.native.state("placed")
        return True

    def _set_up(self, source, machines, timeline_type: type) -> None:
        """Columns, setup table and timeline, in Python (the reference; it words the errors)."""
        n = self.n
        mindex = self.mindex
        instance = self.instance
        order = _priority_order(source, timeline_type is not Timeline)
        position = [0] * n  # priority position of each operation in the given order
        for x, i in enumerate(order):
            position[i] = x
        self.index = index = {op.id: x for op, x in zip(source, position)}
        # one pass over the operations in their given order (how they lie in memory), filling
        # per-operation columns at each one's priority position
        due = [0] * n
        aging = [0] * n
        # eligible machines and their durations, flat, in the given order: operation i's pairs
        # are at elig_offsets[i]:elig_offsets[i + 1]
        elig_machines: list[int] = []
        elig_durations: list[int] = []
        elig_offsets = [0]
        pmin = [0] * n
        none: list[int] = []  # shared by every operation without successors
        npred = [0] * n
        succ: list[list[int]] = [none] * n
        op_class = [""] * n
        mixture = [""] * n
        width = [0] * n
        opname = [""] * n
        opid = [""] * n
        mind = [0] * len(machines)
        mclass: list[set[str]] = [set() for _ in machines]
        for op, x in zip(source, position):
            if not op.durations:
                raise ScheduleError(op.id, "no eligible machine (no machine can run it after "
                                           "speeds, limits and allocations)")
            if op.aging_slots < 0:
                raise ScheduleError(op.id, f"aging_slots {op.aging_slots} is negative")
            due[x] = op.due_slot
            aging[x] = op.aging_slots
            op_class[x] = c = op.op_class
            mixture[x] = op.mixture
            width[x] = op.width
            opname[x] = op.operation or c
            opid[x] = op.id
            least = 0
            for mc, d in op.durations.items():
                m = mindex.get(mc)
                if m is None:
                    raise ScheduleError(op.id, f"machine {mc} in its durations is not a machine "
                                               "of the plan")
                if type(d) is not int or d < 1:
                    d = _whole_slots(op, mc, d)
                elig_machines.append(m)
                elig_durations.append(d)
                if mind[m] == 0 or d < mind[m]:
                    mind[m] = d
                if least == 0 or d < least:
                    least = d
                mclass[m].add(c)
            elig_offsets.append(len(elig_machines))
            pmin[x] = least
            for pid in op.predecessors:
                p = index.get(pid)
                if p is None:
                    raise ScheduleError(op.id, f"its predecessor {pid} is not an operation "
                                               "of the plan")
                after = succ[p]
                if after is none:
                    succ[p] = [x]
                elif after[-1] != x:  # a predecessor named twice counts once
                    after.append(x)
                else:
                    continue
                npred[x] += 1
        self.due, self.aging, self.pmin = due, aging, pmin
        self.elig_machines, self.elig_durations = elig_machines, elig_durations
        self.elig_offsets, self.position, self.order = elig_offsets, position, order
        self.succ, self.npred = succ, npred
        self.mixture, self.opname, self.opid = mixture, opname, opid
        self.setups = SetupTable.from_columns(op_class, mixture, width, machines,
                                              instance.class_setup)
        cindex = {c: k for k, c in enumerate(self.setups.classes)}
        mclasses = [sorted(cindex[c] for c in names) for names in mclass]
        self.timeline = timeline_type(self.setups, _closed_downtime(instance), mclasses, mind)
        self.active = [m for m, c in enumerate(mclasses) if c]  # machines with eligible ops
        self.ready = [0] * n
        self.pbar = sum(pmin) / n if n else 0.0
        self.sbar = self.setups.mean_positive()

    def __getattr__(self, name: str) -> Any:
        """The Python-side columns of a Core set up by the compiled loader, built on first use
        (the compiled loops never need them; the other rules' Python loops do)."""
        columns = self.__dict__.get("_columns")
        if columns is None or name.startswith("__"):
            raise AttributeError(name)
        if name in ("ready", "npred") and self.__dict__.get("pins_compiled"):
            value = self.native.state(name)  # after the pins placed in the compiled arrays
        elif name in _FROM_COLUMNS:
            value = columns.by_position(name)
        elif name == "index":
            value = columns.id_index()
        elif name == "ready":
            value = [0] * self.n
        elif name == "setups":
            value = SetupTable.from_columns(columns.by_position("op_class"), self.mixture,
                                            columns.by_position("width"),
                                            self.instance.machines, self.instance.class_setup)
        elif name == "pbar":
            value = sum(self.pmin) / self.n if self.n else 0.0
        elif name == "sbar":
            value = self.setups.mean_positive()
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value

    @functools.cached_property
    def ops(self) -> list[Operation]:
        """The operations in priority order (``ops[x]`` is operation ``x``)."""
        source = self.instance.operations
        return [source[i] for i in self.order]

    @functools.cached_property
    def preds(self) -> list[list[int]]:
        """Each operation's predecessors, in the order its ``predecessors`` names them."""
        index = self.index
        out: list[list[int]] = []
        for op in self.ops:
            mine: list[int] = []
            for pid in op.predecessors:
                p = index[pid]
                if p not in mine:
                    mine.append(p)
            out.append(mine)
        return out

    @functools.cached_property
    def elig(self) -> list[list[tuple[int, int]]]:
        """``[(machine, duration), ...]`` of each operation, machines in their seeded order."""
        machines, durations, offsets = self.elig_machines, self.elig_durations, self.elig_offsets
        mrank = self.mrank
        out: list[list[tuple[int, int]]] = [[]] * self.n
        for i, x in enumerate(self.position):
            a, b = offsets[i], offsets[i + 1]
            pairs = list(zip(machines[a:b], durations[a:b]))
            if b - a > 1:
                pairs.sort(key=lambda pair: mrank[pair[0]])
            out[x] = pairs
        return out

    def index_of(self, op: Operation | str) -> int:
        return self.index[op if isinstance(op, str) else op.id]

    def best(self, x: int) -> tuple[int, int, int, int, int]:
        """Machine where ``x`` finishes earliest: ``(m, start, setup, gap, duration)``.

        Ties go to the smaller setup, then to the machine ranked first (seeded order). The
        machine that looks earliest is searched first; the others only when a lower bound on
        their end does not exceed the best so far, and then only for placements that end no
        later (``bound``), which keeps their gap searches short.
        """
        r = self.ready[x]
        if self.native is not None:
            return self.native.best(x, r)
        lines = self.timeline.lines
        elig = self.elig[x]
        if len(elig) == 1:
            m, d = elig[0]
            t, s, k = lines[m].find(x, d, r)
            return m, t, s, k, d
        first = elig[0]
        guess = _NEVER
        for pair in elig:
            a = lines[pair[0]].tail
            est = (a if a > r else r) + pair[1]
            if est < guess:
                guess = est
                first = pair
        bm, bd = first
        bt, bs, bk = lines[bm].find(x, bd, r)
        be = bt + bd
        mrank = self.mrank
        for m, d in elig:
            if m == first[0] or r + d > be:
                continue
            line = lines[m]
            # without a usable gap the op ends after the machine's last op
            if line.tail + d > be and line.gap_limit < r + d:
                continue
            found = line.find(x, d, r, be)
            if found is None:
                continue
            t, s, k = found
            e = t + d
            if e < be or (e == be and (s < bs or (s == bs and mrank[m] < mrank[bm]))):
                bm, bt, bs, bk, bd, be = m, t, s, k, d, e
        return bm, bt, bs, bk, bd

    def finishes_earlier_elsewhere(self, x: int, m: int, end: int) -> bool:
        """Whether ``x`` could end before ``end`` on an eligible machine other than ``m``."""
        r = self.ready[x]
        lines = self.timeline.lines
        later = []  # machines with usable gaps: their searches cost more, so they go last
        for m2, d2 in self.elig[x]:
            if m2 == m or r + d2 >= end:
                continue
            line = lines[m2]
            if line.gap_limit >= r + d2:
                later.append((line, d2))
                continue
            a = line.tail
            if (a if a > r else r) + d2 >= end:
                continue
            if line.find(x, d2, r, end - 1) is not None:
                return True
        for line, d2 in later:
            if line.find(x, d2, r, end - 1) is not None:
                return True
        return False

    def commit(self, x: int, m: int, t: int, s: int, k: int, d: int, on_ready) -> None:
        if t + d > self.horizon:
            raise self.horizon_error(x, m, t + d)
        self.timeline.lines[m].place(x, d, t, s, k)
        self.placed[x] = 1
        done = t + d + self.aging[x]
        ready = self.ready
        npred = self.npred
        for y in self.succ[x]:
            if done > ready[y]:
                ready[y] = done
            npred[y] -= 1
            if npred[y] == 0:
                on_ready(y)
        self.count += 1
        if not self.count & 127:
            self.ticker(self.count)

    def horizon_error(self, x: int, m: int, end: int) -> ScheduleError:
        code = self.instance.machines[m].code
        return ScheduleError(self.ops[x].id, f"it cannot end by the horizon (slot "
                             f"{self.horizon}) on any eligible machine: the earliest is slot "
                             f"{end} on {code}, after the operations placed before it and the "
                             "downtime")

    def unplaced_error(self) -> ScheduleError:
        """The error for operations that never became ready (a precedence cycle)."""
        x = next(i for i in range(self.n) if not self.placed[i])
        seen: list[int] = []
        while x not in seen:
            seen.append(x)
            x = next(p for p in self.preds[x] if not self.placed[p])
        cycle = seen[seen.index(x):] + [x]
        names = " -> ".join(self.ops[i].id for i in reversed(cycle))
        return ScheduleError(self.ops[x].id, f"its predecessors form a cycle: {names}")
