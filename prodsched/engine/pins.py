"""Pinned operations and ``now``: the rules a pin must keep, checked before anything is placed.

A pin puts an operation on a machine at a start slot; it is placed first and never moved, so a
pin that breaks a rule is an error naming the operations involved, never a silent move:

* the operation and machine exist, the machine is eligible, the start is a slot >= 0;
* no overlap with another pin on the machine, and room before it for the setup it needs after the
  pinned operation before it on that machine;
* neither the operation nor that setup overlaps the machine's downtime;
* it starts after its pinned predecessors end plus their aging, and before its pinned
  successors (an unpinned predecessor is placed by the dispatch; if it cannot end in time,
  :func:`check_unpinned_predecessors` names both);
* it ends by the horizon.

:func:`check_pin` checks one proposed pin against the others (the panel's what-if drops).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from prodsched.engine.model import Assignment, Instance
from prodsched.engine.setups import setup_between
from prodsched.errors import ScheduleError


def pinned_by_machine(instance: Instance) -> dict[str, list[tuple[int, str]]]:
    """``{machine: [(start, op_id), ...]}`` in start order."""
    out: dict[str, list[tuple[int, str]]] = {}
    for op_id, (machine, start) in instance.pins.items():
        out.setdefault(machine, []).append((start, op_id))
    for items in out.values():
        items.sort()
    return out


def _downtime_hit(downtime, a: int, b: int) -> tuple[int, int] | None:
    if a >= b or not downtime:
        return None
    i = bisect_right([e for _, e in downtime], a)
    if i < len(downtime) and downtime[i][0] < b:
        return downtime[i]
    return None


def check_pins(instance: Instance) -> None:
    """Raise ScheduleError for the first pin that breaks a rule (see the module docstring)."""
    pins = instance.pins
    for op_id, (machine, start) in pins.items():
        if not instance.has_op(op_id):
            raise ScheduleError(op_id, "it is pinned but is not an operation of the plan")
        if not instance.has_machine(machine):
            raise ScheduleError(op_id, f"it is pinned to machine {machine}, which is not a "
                                       "machine of the plan")
        op = instance.op(op_id)
        if machine not in op.durations:
            raise ScheduleError(op_id, f"it is pinned to machine {machine}, which is not eligible "
                                       f"for it (eligible: {', '.join(sorted(op.durations))})")
        if start < 0:
            raise ScheduleError(op_id, f"it is pinned to start at slot {start}, before slot 0")
        end = start + int(op.durations[machine])
        if instance.horizon is not None and end > instance.horizon:
            raise ScheduleError(op_id, f"it is pinned to end at slot {end}, after the horizon "
                                       f"(slot {instance.horizon})")
    for machine, items in pinned_by_machine(instance).items():
        mc = instance.machine(machine)
        prev = None
        prev_end = 0
        for start, op_id in items:
            op = instance.op(op_id)
            end = start + int(op.durations[machine])
            setup = 0
            if prev is not None:
                if start < prev_end:
                    raise ScheduleError(op_id, f"its pin [{start}, {end}) on {machine} overlaps "
                                               f"the pin of {prev.id} (ends at {prev_end})")
                setup = setup_between(prev, op, mc, instance.class_setup)
                if start - prev_end < setup:
                    raise ScheduleError(op_id, f"its pin at {start} on {machine} leaves "
                                               f"{start - prev_end} slot(s) after the pin of "
                                               f"{prev.id}, but the setup between them needs "
                                               f"{setup}")
            hit = _downtime_hit(mc.downtime, start - setup, end)
            if hit is not None:
                what = ("it" if _downtime_hit(mc.downtime, start, end) else
                        f"its setup after the pin of {prev.id}")
                raise ScheduleError(op_id, f"{what} overlaps downtime [{hit[0]}, {hit[1]}) of "
                                           f"{machine} (pinned at [{start}, {end}))")
            prev, prev_end = op, end
    for op_id, (_machine, start) in pins.items():
        for pid in instance.op(op_id).predecessors:
            if pid not in pins or not instance.has_op(pid):
                continue
            pm, ps = pins[pid]
            pred = instance.op(pid)
            ready = ps + int(pred.durations[pm]) + int(pred.aging_slots)
            if start < ready:
                raise ScheduleError(op_id, f"it is pinned to start at {start}, before its pinned "
                                           f"predecessor {pid} has ended and aged (slot {ready})")


def check_unpinned_predecessors(instance: Instance, assignments: Iterable[Assignment]) -> None:
    """After the dispatch: every pin's unpinned predecessors ended (and aged) before it starts."""
    pins = instance.pins
    need = {pid for op_id in pins for pid in instance.op(op_id).predecessors if pid not in pins}
    if not need:
        return
    at = {a.op_id: a for a in assignments if a.op_id in need}
    for op_id, (_machine, start) in sorted(instance.pins.items()):
        for pid in instance.op(op_id).predecessors:
            if pid in instance.pins or pid not in at:
                continue
            ready = at[pid].end + int(instance.op(pid).aging_slots)
            if ready > start:
                raise ScheduleError(pid, f"it is a predecessor of pinned {op_id} (starts at "
                                         f"{start}) but the earliest place the dispatch found "
                                         f"for it ends and ages at slot {ready}; pin it too, "
                                         f"or pin {op_id} later")


def check_now(instance: Instance) -> None:
    """``now`` lies within the horizon."""
    if instance.horizon is not None and instance.now > instance.horizon:
        raise ScheduleError("-", f"now (slot {instance.now}) is after the horizon "
                                 f"(slot {instance.horizon})")


def check_pin(instance: Instance, op_id: str, machine: str, start: int) -> None:
    """Raise ScheduleError when pinning ``op_id`` on ``machine`` at ``start`` — on top of the
    instance's pins, replacing the operation's own — breaks a rule: those of :func:`check_pins`,
    plus a start before ``now``, moving an operation that started before ``now``, and a start
    before its unpinned predecessors can have ended and aged (each at its shortest duration,
    nothing before ``now``). The message names the operation and the other one involved."""
    if not instance.has_op(op_id):
        raise ScheduleError(op_id, "it is not an operation of the plan")
    kept = instance.pins.get(op_id)
    if kept is not None and kept[1] < instance.now:
        raise ScheduleError(op_id, f"it started before now (slot {instance.now}) on {kept[0]} at "
                                   f"slot {kept[1]}; it cannot move")
    if start < instance.now:
        raise ScheduleError(op_id, f"it would start at slot {start}, before now (slot "
                                   f"{instance.now}); nothing new starts before now")
    pins = {**instance.pins, op_id: (machine, int(start))}
    check_pins(Instance(instance.operations, instance.machines, instance.class_setup,
                        instance.horizon, now=instance.now, pins=pins))
    ready, via = _earliest(instance, pins, op_id, {})
    if via is not None and start < ready:
        raise ScheduleError(op_id, f"it would start at slot {start}, but its predecessor {via} "
                                   f"cannot have ended and aged before slot {ready}")


def _earliest(instance: Instance, pins, op_id: str, memo: dict) -> tuple[int, str | None]:
    """The earliest slot ``op_id`` can start after its predecessors (pinned ones where pinned,
    others at their shortest duration from ``now``), and the predecessor that sets it."""
    if op_id in memo:
        return memo[op_id]
    best, via = instance.now, None
    for pid in instance.op(op_id).predecessors:
        if not instance.has_op(pid):
            continue
        pred = instance.op(pid)
        if pid in pins:
            pm, ps = pins[pid]
            end = ps + int(pred.durations[pm])
        else:
            end = _earliest(instance, pins, pid, memo)[0] + min((int(d) for d in pred.durations.values()), default=0)
        if end + int(pred.aging_slots) > best:
            best, via = end + int(pred.aging_slots), pid
    memo[op_id] = (best, via)
    return best, via
