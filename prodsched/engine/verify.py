"""Independent feasibility checker.

Recomputes everything from the instance and the assignments alone; it deliberately shares no
code with the timeline or the setup lookup the scheduler uses, so a bug there cannot hide here.

Checks (``Violation.check``): ``unknown_op``, ``duplicate``, ``missing``, ``machine`` (unknown
code), ``eligibility``, ``duration``, ``horizon`` (negative times), ``overlap``, ``setup`` (the
idle time before an operation is shorter than the setup it needs after the previous operation
on that machine), ``setup_charged`` (reported setup differs from the required one),
``downtime`` (an operation or its setup slots overlap planned downtime), ``precedence``,
``aging``, ``pin`` (a pinned operation is not on its pinned machine at its pinned start) and
``now`` (an unpinned operation, or the setup before it, starts before the instance's ``now``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from prodsched.engine.model import Assignment, Instance, Machine, Operation, Schedule


@dataclass(frozen=True, slots=True)
class Violation:
    check: str
    op_ids: tuple[str, ...]
    message: str

    @property
    def op_id(self) -> str:
        return self.op_ids[0] if self.op_ids else ""

    def to_dict(self) -> dict[str, str]:
        return {"op_id": self.op_id, "check": self.check, "message": self.message}


def required_setup(prev: Operation, op: Operation, machine: Machine,
                   class_setup) -> int:
    """Setup before ``op`` right after ``prev`` on ``machine`` (DESIGN §4), computed from scratch."""
    kind = 0
    if prev.op_class != op.op_class or prev.mixture != op.mixture:
        kind = int(class_setup.get((prev.op_class, op.op_class), 0))
    width = 0
    if op.width < prev.width:
        width = machine.long_to_short
    elif op.width > prev.width:
        width = machine.short_to_long
    return max(kind, width)


def _overlapping_downtime(intervals: list[tuple[int, int]], ends: list[int],
                          a: int, b: int) -> tuple[int, int] | None:
    if a >= b:
        return None
    i = bisect_right(ends, a)
    while i < len(intervals):
        s, e = intervals[i]
        if s >= b:
            return None
        if e > a:
            return s, e
        i += 1
    return None


def verify(instance: Instance, assignments: Iterable[Assignment] | Schedule) -> list[Violation]:
    """Every rule of DESIGN §4 checked independently; an empty list means feasible."""
    if isinstance(assignments, Schedule):
        assignments = assignments.assignments
    out: list[Violation] = []
    seen: dict[str, Assignment] = {}
    per_machine: dict[str, list[Assignment]] = {}
    for a in assignments:
        if not instance.has_op(a.op_id):
            out.append(Violation("unknown_op", (a.op_id,), f"{a.op_id} is not an operation of the plan"))
            continue
        if a.op_id in seen:
            out.append(Violation("duplicate", (a.op_id,), f"{a.op_id} is scheduled more than once"))
            continue
        seen[a.op_id] = a
        op = instance.op(a.op_id)
        if not instance.has_machine(a.machine):
            out.append(Violation("machine", (a.op_id,), f"{a.op_id} is on unknown machine {a.machine}"))
            continue
        per_machine.setdefault(a.machine, []).append(a)
        if a.machine not in op.durations:
            out.append(Violation("eligibility", (a.op_id,),
                                 f"{a.op_id} runs on {a.machine}, which is not eligible for it "
                                 f"(eligible: {', '.join(sorted(op.durations)) or 'none'})"))
        elif a.end - a.start != op.durations[a.machine]:
            out.append(Violation("duration", (a.op_id,),
                                 f"{a.op_id} takes {a.end - a.start} slots on {a.machine}, "
                                 f"needs {op.durations[a.machine]}"))
        if a.start < 0 or a.end <= a.start:
            out.append(Violation("horizon", (a.op_id,),
                                 f"{a.op_id} has an invalid interval [{a.start}, {a.end})"))
    for op in instance.operations:
        if op.id not in seen:
            out.append(Violation("missing", (op.id,), f"{op.id} is not scheduled"))
    for code, items in per_machine.items():
        out.extend(_check_machine(instance, instance.machine(code), items))
    for op_id, (machine, start) in sorted(instance.pins.items()):
        a = seen.get(op_id)
        if a is not None and (a.machine != machine or a.start != start):
            out.append(Violation("pin", (op_id,),
                                 f"{op_id} is pinned to {machine} at {start} but runs on "
                                 f"{a.machine} at {a.start}"))
    for op_id, a in seen.items():
        op = instance.op(op_id)
        for pid in op.predecessors:
            p = seen.get(pid)
            if p is None:
                continue
            pred = instance.op(pid)
            if a.start < p.end:
                out.append(Violation("precedence", (op_id, pid),
                                     f"{op_id} starts at {a.start} before its predecessor {pid} "
                                     f"ends at {p.end}"))
            elif a.start < p.end + pred.aging_slots:
                out.append(Violation("aging", (op_id, pid),
                                     f"{op_id} starts at {a.start}, before {pid} has aged "
                                     f"{pred.aging_slots} slots after ending at {p.end}"))
    return out


def _check_machine(instance: Instance, machine: Machine, items: list[Assignment]) -> list[Violation]:
    out: list[Violation] = []
    items = sorted(items, key=lambda a: (a.start, a.end, a.op_id))
    prev: Assignment | None = None  # the operation with the latest end so far
    intervals = sorted((int(s), int(e)) for s, e in machine.downtime)
    ends = [e for _, e in intervals]
    for a in items:
        op = instance.op(a.op_id)
        need = 0
        if prev is not None and a.start < prev.end:
            out.append(Violation("overlap", (a.op_id, prev.op_id),
                                 f"{a.op_id} [{a.start}, {a.end}) overlaps {prev.op_id} "
                                 f"[{prev.start}, {prev.end}) on {machine.code}"))
        elif prev is not None:
            need = required_setup(instance.op(prev.op_id), op, machine, instance.class_setup)
            if a.start - prev.end < need:
                out.append(Violation("setup", (a.op_id, prev.op_id),
                                     f"{a.op_id} starts {a.start - prev.end} slots after "
                                     f"{prev.op_id} on {machine.code} but needs a setup of {need}"))
        if a.setup != need and not (prev is not None and a.start < prev.end):
            out.append(Violation("setup_charged", (a.op_id,),
                                 f"{a.op_id} is charged {a.setup} setup slots on {machine.code}, "
                                 f"the changeover needs {need}"))
        if instance.now and a.op_id not in instance.pins and a.start - need < instance.now:
            out.append(Violation("now", (a.op_id,),
                                 f"{a.op_id} is not pinned but it (or its setup of {need}) starts "
                                 f"at {a.start - need}, before now (slot {instance.now})"))
        hit = _overlapping_downtime(intervals, ends, a.start, a.end)
        if hit is not None:
            out.append(Violation("downtime", (a.op_id,),
                                 f"{a.op_id} [{a.start}, {a.end}) overlaps downtime "
                                 f"[{hit[0]}, {hit[1]}) of {machine.code}"))
        else:
            hit = _overlapping_downtime(intervals, ends, a.start - need, a.start)
            if hit is not None:
                out.append(Violation("downtime", (a.op_id,),
                                     f"the setup of {a.op_id} [{a.start - need}, {a.start}) "
                                     f"overlaps downtime [{hit[0]}, {hit[1]}) of {machine.code}"))
        if prev is None or a.end > prev.end:
            prev = a
    return out
