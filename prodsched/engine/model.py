"""Core types of the scheduling engine: plain, typed, pandas-free.

Time is an integer number of slots from the plan's base date. Intervals are half-open
``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a job.

    ``durations`` maps every eligible machine code to the number of slots the operation takes
    there; ``predecessors`` are op ids that must end (plus their ``aging_slots``) before it starts.
    ``operation`` is the operation's name (e.g. "coating"); the ``window`` rule groups by it.
    """

    id: str
    job: str
    seq: int
    op_class: str
    mixture: str = ""
    width: int = 0
    due_slot: int = 0
    aging_slots: int = 0
    durations: Mapping[str, int] = field(default_factory=dict)
    predecessors: tuple[str, ...] = ()
    operation: str = ""

    @property
    def name(self) -> str:
        """The operation name, falling back to the class when none was given."""
        return self.operation or self.op_class


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine with planned downtime ``[(start, end), ...]`` and width changeover slots."""

    code: str
    downtime: tuple[tuple[int, int], ...] = ()
    long_to_short: int = 0
    short_to_long: int = 0

    def __post_init__(self) -> None:
        for start, end in self.downtime:
            if int(end) <= int(start):
                raise ValueError(
                    f"machine {self.code}: downtime [{start}, {end}) ends before it starts"
                )
        if self.long_to_short < 0 or self.short_to_long < 0:
            raise ValueError(f"machine {self.code}: width changeover slots must be >= 0")
        object.__setattr__(self, "downtime", merge_intervals(self.downtime))


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort half-open intervals and merge those that overlap or touch."""
    merged: list[list[int]] = []
    for start, end in sorted((int(s), int(e)) for s, e in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


@dataclass(frozen=True)
class Instance:
    """Operations, machines and the class changeover table ``{(from_class, to_class): slots}``.

    ``horizon`` (slots, None = unlimited): every operation must end by it, else scheduling
    raises ScheduleError naming the first operation that cannot.

    Re-planning (DESIGN §4, README "Re-planning"): ``now`` is the slot before which nothing new
    starts (neither an operation nor its setup); ``pins`` maps op id -> ``(machine, start)``:
    those operations are placed first, exactly there, and never moved. Every operation that
    starts before ``now`` must be pinned (an operation running at ``now`` is pinned by
    definition). :func:`prodsched.engine.pins.check_pins` rejects pins that break a rule.
    """

    operations: tuple[Operation, ...]
    machines: tuple[Machine, ...]
    class_setup: Mapping[tuple[str, str], int] = field(default_factory=dict)
    horizon: int | None = None
    now: int = 0
    pins: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", tuple(self.operations))
        object.__setattr__(self, "machines", tuple(self.machines))
        object.__setattr__(self, "class_setup", dict(self.class_setup))
        if isinstance(self.now, bool) or int(self.now) != self.now or self.now < 0:
            raise ValueError(f"now must be a whole slot >= 0, got {self.now!r}")
        object.__setattr__(self, "now", int(self.now))
        pins = {}
        for op_id, where in dict(self.pins).items():
            try:
                machine, start = where
            except (TypeError, ValueError):
                raise ValueError(f"pin of {op_id}: expected (machine, start), got {where!r}") from None
            if isinstance(start, bool) or int(start) != start:
                raise ValueError(f"pin of {op_id}: start {start!r} is not a whole slot")
            pins[str(op_id)] = (str(machine), int(start))
        object.__setattr__(self, "pins", pins)
        ops = {}
        for op in self.operations:
            if op.id in ops:
                raise ValueError(f"operation id {op.id} appears twice")
            ops[op.id] = op
        machines = {}
        for machine in self.machines:
            if machine.code in machines:
                raise ValueError(f"machine {machine.code} appears twice")
            machines[machine.code] = machine
        object.__setattr__(self, "_ops", ops)
        object.__setattr__(self, "_machines", machines)

    def op(self, op_id: str) -> Operation:
        return self._ops[op_id]  # type: ignore[attr-defined]

    def machine(self, code: str) -> Machine:
        return self._machines[code]  # type: ignore[attr-defined]

    def has_op(self, op_id: str) -> bool:
        return op_id in self._ops  # type: ignore[attr-defined]

    def has_machine(self, code: str) -> bool:
        return code in self._machines  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.operations)

    @property
    def replanning(self) -> bool:
        """Whether ``now`` or pins constrain this instance."""
        return bool(self.now or self.pins)


class Assignment(NamedTuple):
    """Where and when an operation runs; ``setup`` slots lie in ``[start - setup, start)``."""

    op_id: str
    machine: str
    start: int
    end: int
    setup: int = 0


@dataclass(frozen=True)
class Schedule:
    """The result of :func:`prodsched.engine.schedule`: one assignment per operation."""

    assignments: tuple[Assignment, ...]
    rule: str = ""
    window_days: float = 0
    seed: int = 0
    elapsed_s: float = 0.0
    passes: int = 1
    info: Mapping[str, object] = field(default_factory=dict)

    @property
    def makespan(self) -> int:
        return max((a.end for a in self.assignments), default=0)

    @property
    def setup_slots(self) -> int:
        return sum(a.setup for a in self.assignments)

    @property
    def machines_used(self) -> int:
        return len({a.machine for a in self.assignments})

    def by_op(self) -> dict[str, Assignment]:
        return {a.op_id: a for a in self.assignments}

    def by_machine(self) -> dict[str, list[Assignment]]:
        out: dict[str, list[Assignment]] = {}
        for a in sorted(self.assignments, key=lambda a: (a.machine, a.start, a.op_id)):
            out.setdefault(a.machine, []).append(a)
        return out

    def tardiness(self, instance: Instance) -> int:
        """Total slots by which jobs (their last operation) end after their due slot."""
        ends: dict[str, int] = {}
        dues: dict[str, int] = {}
        for a in self.assignments:
            op = instance.op(a.op_id)
            ends[op.job] = max(ends.get(op.job, a.end), a.end)
            dues[op.job] = min(dues.get(op.job, op.due_slot), op.due_slot)
        return sum(max(0, ends[job] - dues[job]) for job in ends)

    def __len__(self) -> int:
        return len(self.assignments)
