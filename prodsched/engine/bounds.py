"""A lower bound on total job tardiness (objective ``tardiness``) of an instance.

Two relaxations:

* **chain**: each job alone, with unlimited machines. An operation starts no earlier than
  ``now`` and than its predecessors' earliest ends plus their aging, and ends at the earliest on
  the eligible machine where it first fits between downtimes; the job's bound is how far its
  latest such end lies past its due slot.
* **machine set**: the operations that only the machines of a set ``S`` can run (``S`` = an
  eligible set that occurs, or two of them joined, up to MAX_SET machines), each with its
  shortest duration on ``S`` plus its share of the least setup into its kind.
  Whatever the order, the ``k``-th of them to end ends no earlier than the ``k``-th end when
  the set's machines, pooled, run them preemptively from their ready slots, shortest remaining
  first (downtime counted), and than the ``k``-th smallest of their chain ends.
  One operation per job stands for it, with the due slot moved earlier by the shortest time
  from its end to the job's last end; pairing the sorted end bounds with the sorted due slots
  bounds the tardiness of those jobs (for a convex penalty of end minus due the sorted pairing
  is the cheapest).

Pooling and preemption keep the set bound cheap and valid, and make it weak when the set has
spare capacity. The bound is the best over the sets of ``max(set bound, chain bounds of its jobs)`` plus the
chain bounds of the other jobs. Pinned operations keep their pinned place and time.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import combinations

from prodsched.engine.model import Instance, Operation
from prodsched.engine.setups import setup_between


MAX_SET = 3  # machine sets joined from two eligible sets: up to this many machines


@dataclass(frozen=True)
class TardinessBound:
    """``bound`` = max(``chain``, best machine-set bound); ``machines`` names that set."""

    bound: int
    chain: int
    machines: tuple[str, ...] = ()


def _first_fit(downtime: tuple[tuple[int, int], ...], ready: int, length: int) -> int:
    """Earliest end of ``length`` slots starting at or after ``ready`` outside ``downtime``."""
    start = ready
    i = bisect_right([e for _, e in downtime], start)
    while i < len(downtime):
        s, e = downtime[i]
        if start + length <= s:
            break
        start = max(start, e)
        i += 1
    return start + length


class _Capacity:
    """Cumulative machine slots of a set of machines from slot 0, downtime excepted."""

    def __init__(self, instance: Instance, machines: tuple[str, ...]) -> None:
        events: dict[int, int] = {}
        for code in machines:
            for s, e in instance.machine(code).downtime:
                events[s] = events.get(s, 0) - 1
                events[e] = events.get(e, 0) + 1
        self.times, self.work, self.rates = [0], [0], [len(machines)]
        for t in sorted(events):
            if t <= 0:
                self.rates[0] += events[t]
                continue
            self.work.append(self.work[-1] + self.rates[-1] * (t - self.times[-1]))
            self.times.append(t)
            self.rates.append(self.rates[-1] + events[t])

    def work_by(self, t: int) -> int:
        i = bisect_right(self.times, t) - 1
        return self.work[i] + self.rates[i] * (t - self.times[i])

    def time_for(self, work: int) -> int:
        """The first slot by which ``work`` machine slots are available."""
        i = bisect_left(self.work, work)
        if i < len(self.work) and self.work[i] == work:
            return self.times[i]
        i -= 1  # work lies inside segment i, which has machines up (else work[i + 1] == work[i])
        return self.times[i] + -(-(work - self.work[i]) // self.rates[i])


def _srpt_ends(capacity: _Capacity, jobs: list[tuple[int, float]], exempt: float = 0) -> list[int]:
    """Sorted ends of ``(ready, length)`` jobs run preemptively, shortest remaining first, on
    the pooled capacity: the k-th end is the earliest any schedule can end k of them (less
    ``exempt`` machine slots of work)."""
    pending = sorted((capacity.work_by(r), length) for r, length in jobs)
    ends: list[int] = []
    heap: list[int] = []
    now, i = 0, 0
    while i < len(pending) or heap:
        if not heap:
            now = max(now, pending[i][0])
        while i < len(pending) and pending[i][0] <= now:
            heapq.heappush(heap, pending[i][1])
            i += 1
        left = heapq.heappop(heap)
        nxt = pending[i][0] if i < len(pending) else None
        if nxt is None or now + left <= nxt:
            now += left
            ends.append(capacity.time_for(max(0, math.floor(now - exempt + 1e-9))))
        else:
            heapq.heappush(heap, left - (nxt - now))
            now = nxt
    return ends


def tardiness_bound(instance: Instance) -> TardinessBound:
    """A lower bound on the total tardiness of every feasible schedule of ``instance``."""
    ops = instance.operations
    due: dict[str, int] = {}
    for op in ops:
        due[op.job] = min(due.get(op.job, op.due_slot), op.due_slot)
    succ: dict[str, list[Operation]] = {op.id: [] for op in ops}
    for op in ops:
        for p in op.predecessors:
            succ[p].append(op)
    order = _topological(ops)
    ends: dict[str, int] = {}
    ready_of: dict[str, int] = {}
    shortest: dict[str, int] = {}
    for op in order:
        shortest[op.id] = min(op.durations.values())
        if op.id in instance.pins:
            machine, start = instance.pins[op.id]
            ends[op.id] = start + op.durations[machine]
            continue
        ready = max([instance.now] + [ends[p] + instance.op(p).aging_slots for p in op.predecessors])
        ready_of[op.id] = ready
        ends[op.id] = min(_first_fit(instance.machine(m).downtime, ready, d)
                          for m, d in op.durations.items())
    tail: dict[str, int] = {}
    for op in reversed(order):
        tail[op.id] = max((op.aging_slots + shortest[s.id] + tail[s.id] for s in succ[op.id] if s.job == op.job),
                          default=0)
    job_end: dict[str, int] = {}
    for op in ops:
        job_end[op.job] = max(job_end.get(op.job, 0), ends[op.id])
    chain_of = {job: max(0, end - due[job]) for job, end in job_end.items()}
    chain = sum(chain_of.values())
    best, best_set = chain, ()
    groups: dict[frozenset, list[Operation]] = {}
    for op in ops:
        if op.id not in instance.pins:
            groups.setdefault(frozenset(op.durations), []).append(op)
    sets = set(groups) | {a | b for a, b in combinations(groups, 2) if len(a | b) <= MAX_SET}
    for machines in sorted(tuple(sorted(s)) for s in sets):
        inside = [op for g, members in groups.items() if g <= set(machines) for op in members]
        if not inside:
            continue
        value, jobs = _set_bound(instance, machines, inside, ready_of, ends, tail, due)
        total = max(value, sum(chain_of[j] for j in jobs)) + chain - sum(chain_of[j] for j in jobs)
        if total > best:
            best, best_set = total, machines
    return TardinessBound(best, chain, best_set)


def _set_bound(instance, machines, inside, ready_of, ends, tail, due) -> tuple[int, set[str]]:
    """(tardiness bound of the jobs ``inside`` stands for, those jobs) on the machine set."""
    entry, release = _entries(instance, machines, inside, ready_of)
    count: dict[tuple, int] = {}
    for op in inside:
        count[_kind(op)] = count.get(_kind(op), 0) + 1
    jobs = [(release[_kind(op)],
             min(d for m, d in op.durations.items() if m in machines) + entry[_kind(op)] / count[_kind(op)])
            for op in inside]
    # a machine's first operation needs no setup: up to one entry per machine is not owed
    exempt = sum(sorted(entry.values(), reverse=True)[:len(machines)])
    by_capacity = _srpt_ends(_Capacity(instance, machines), jobs, exempt)
    by_chain = sorted(ends[op.id] for op in inside)
    end_bounds = [max(a, b) for a, b in zip(by_capacity, by_chain)]
    moved_due: dict[str, int] = {}
    for op in inside:
        d = due[op.job] - tail[op.id]
        moved_due[op.job] = min(moved_due.get(op.job, d), d)
    dues = sorted(moved_due.values())
    # the jobs' stand-ins end at the k-th end bound at the earliest: pair the smallest bounds
    return sum(max(0, e - d) for e, d in zip(end_bounds, dues)), set(moved_due)


def _kind(op: Operation) -> tuple:
    """What the setup before and after an operation depends on."""
    return op.op_class, op.mixture, op.width


def _entries(instance, machines, inside, ready_of) -> tuple[dict, dict]:
    """Per kind of the operations ``inside``: the least setup into it on the set's machines
    from any operation of another kind that can run there, and the earliest slot that setup
    can begin (the kind's earliest ready slot on the set, less that setup)."""
    on = set(machines)
    kinds = {_kind(op): op for op in inside}
    nearby: dict[str, dict[tuple, Operation]] = {m: {} for m in machines}
    first_ready: dict[tuple, int] = {}
    for op in instance.operations:
        here = on.intersection(op.durations)
        for m in here:
            nearby[m].setdefault(_kind(op), op)
        if here and op.id in ready_of:
            k = _kind(op)
            first_ready[k] = min(first_ready.get(k, ready_of[op.id]), ready_of[op.id])
    entry, release = {}, {}
    for k, x in kinds.items():
        costs = [setup_between(p, x, instance.machine(m), instance.class_setup)
                 for m in on.intersection(x.durations) for pk, p in nearby[m].items() if pk != k]
        entry[k] = min(costs, default=0)
        release[k] = max(instance.now, first_ready[k] - entry[k])
    return entry, release


def _topological(ops) -> list[Operation]:
    by_id = {op.id: op for op in ops}
    seen: set[str] = set()
    out: list[Operation] = []
    for op in ops:
        stack = [(op, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                out.append(node)
                continue
            if node.id in seen:
                continue
            seen.add(node.id)
            stack.append((node, True))
            stack.extend((by_id[p], False) for p in node.predecessors if p not in seen)
    return out
