"""Machine sequences and their timing: the optimiser's working state.

A schedule is held as one sequence of operations per machine. Timing a sequence uses the
dispatch semantics (DESIGN §4): an operation starts at the earliest slot at or after its
predecessors' ends plus their aging slots and after the previous operation on its machine plus
the setup between the two, such that the operation and the setup right before it overlap no
downtime. The sequences form, with the precedence arcs, a graph that must stay acyclic; every
start is as early as that graph allows (a semi-active schedule).

:meth:`Sequencing.relocate` moves one operation to a position on an eligible machine and re-times
only what the move changes: from the changed positions onwards, operations whose start changes
and the ones right after them (:mod:`prodsched.engine.retiming`, or its compiled twin
``_native.retime`` with the compiled timeline). It keeps an undo log, so a candidate move is
tried, judged by its :class:`~prodsched.engine.objectives.Figures` and taken back with
:meth:`Sequencing.undo`.
"""

from __future__ import annotations

from array import array

from prodsched.engine.model import Assignment, Instance, Schedule
from prodsched.engine.objectives import Figures
from prodsched.engine.retiming import Retiming
from prodsched.engine.setups import SetupTable
from prodsched.engine.timeline import Timeline, timeline_class

_NEVER = 1 << 62
_MASK = (1 << 64) - 1


def _zeros(n: int) -> array:
    return array("q", bytes(8 * n))


def _keys(count: int, salt: int) -> list[int]:
    """``count`` fixed pseudo-random odd 64-bit numbers (splitmix64 of index and ``salt``)."""
    out = []
    for i in range(count):
        z = ((i * 4 + salt) * 0x9E3779B97F4A7C15 + 1) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        out.append((z ^ (z >> 31)) | 1)
    return out


def _retimer_class(name: str | None):
    """The compiled re-timing (``_native.retime.Retimer``) when :func:`timeline_class` picks
    the compiled timeline for ``name``, else None (the Python reference)."""
    if timeline_class(name) is Timeline:
        return None
    from prodsched.engine._native.retime import Retimer

    return Retimer


class Sequencing(Retiming):
    """Machine sequences of one instance, their start/end/setup per operation and the figures.

    Operations are numbered in the instance's order, machines in the instance's order.
    """

    def __init__(self, instance: Instance, plan: Schedule, timeline: str | None = None) -> None:
        self.instance = instance
        ops = instance.operations
        self.n = n = len(ops)
        self.index = index = {op.id: x for x, op in enumerate(ops)}
        self.mindex = mindex = {mc.code: m for m, mc in enumerate(instance.machines)}
        self.codes = [mc.code for mc in instance.machines]
        self.table = SetupTable(ops, instance.machines, instance.class_setup)
        self.dts = [[s for s, _ in mc.downtime] for mc in instance.machines]
        self.dte = [[e for _, e in mc.downtime] for mc in instance.machines]
        self.horizon = _NEVER if instance.horizon is None else int(instance.horizon)
        # re-planning: pinned operations keep their start (-1: not pinned); the others, and
        # the setups before them, start at or after ``now``
        self.now = instance.now
        self.pin = [-1] * n
        for op_id, (_code, t) in instance.pins.items():
            self.pin[index[op_id]] = t
        self.elig = [sorted((mindex[c], int(d)) for c, d in op.durations.items()) for op in ops]
        self.dur_on = [dict(pairs) for pairs in self.elig]
        self.aging = [int(op.aging_slots) for op in ops]
        self.preds: list[list[int]] = [list(dict.fromkeys(index[p] for p in op.predecessors))
                                       for op in ops]
        self.succs: list[list[int]] = [[] for _ in range(n)]
        for x, ps in enumerate(self.preds):
            for p in ps:
                self.succs[p].append(x)
        jobs: dict[str, int] = {}
        self.job = [jobs.setdefault(op.job, len(jobs)) for op in ops]
        self.job_ops: list[list[int]] = [[] for _ in jobs]
        self.job_due = [_NEVER] * len(jobs)
        for x, op in enumerate(ops):
            j = self.job[x]
            self.job_ops[j].append(x)
            if op.due_slot < self.job_due[j]:
                self.job_due[j] = op.due_slot
        # the sequences, from the plan's machine order
        self.mach = _zeros(n)  # (arrays of 64-bit ints: the compiled re-timing reads them in place)
        self.dur = _zeros(n)
        self.seq: list[list[int]] = [[] for _ in instance.machines]
        placed = sorted((a.start, mindex[a.machine], index[a.op_id]) for a in plan.assignments)
        if len(placed) != n:
            raise ValueError(f"the start schedule places {len(placed)} of {n} operations")
        for _t, m, x in placed:
            self.mach[x] = m
            self.dur[x] = self.dur_on[x][m]
            self.seq[m].append(x)
        self.pos = _zeros(n)
        self._key_a, self._key_b = _keys(n + 1, 1), _keys(n + 1, 2)  # of _arc
        self._key_m = _keys(len(self.seq), 3)
        self.sig = 0  # the machine sequences' fingerprint: XOR of a key per adjacent pair
        for m, line in enumerate(self.seq):
            prev = -1
            for i, x in enumerate(line):
                self.pos[x] = i
                self.sig ^= self._arc(prev, x, m)
                prev = x
            self.sig ^= self._arc(prev, -1, m) if line else 0
        self.start = _zeros(n)
        self.end = _zeros(n)
        self.stp = _zeros(n)
        self._mark = [0] * n  # stamps of the re-timing passes
        self._late = [0] * n  # stamps of the operations x must follow
        self._stamp = 0
        self._log: list = []
        self._time_all([x for _t, _m, x in placed])
        # re-timing: the compiled twin when the compiled timeline is chosen (same results)
        retimer = _retimer_class(timeline)
        self._retimer = retimer(self) if retimer else None
        self.timeline = "native" if retimer else "python"
        self.job_end = array("q", [max(self.end[x] for x in xs) for xs in self.job_ops])
        self.flow = sum(self.job_end)  # sum of the job ends: the search's tie-break
        self.tard = 0
        self.late = 0
        for j, e in enumerate(self.job_end):
            if e > self.job_due[j]:
                self.tard += e - self.job_due[j]
                self.late += 1

    def _arc(self, a: int, b: int, m: int) -> int:
        """A fixed pseudo-random 64-bit key of ``a`` right before ``b`` on ``m`` (-1: the
        sequence's start or end); ``(-1, -1)`` keys 0 (an empty sequence)."""
        if a < 0 and b < 0:
            return 0
        return (self._key_a[a + 1] * self._key_b[b + 1] & _MASK) ^ self._key_m[m]

    # -- reading ---------------------------------------------------------------------------
    def figures(self) -> Figures:
        end = self.end
        makespan = 0
        for line in self.seq:
            if line and end[line[-1]] > makespan:
                makespan = end[line[-1]]
        return Figures(self.tard, self.late, self.setups, makespan)

    def snapshot(self) -> tuple[array, ...]:
        """The placement now (start, end, setup, machine per operation): cheap to take, made
        into assignments by :meth:`assignments`."""
        return self.start[:], self.end[:], self.stp[:], self.mach[:]

    def assignments(self, snapshot: tuple[array, ...] | None = None) -> tuple[Assignment, ...]:
        """The assignments now, or those of a :meth:`snapshot`."""
        start, end, stp, mach = snapshot or (self.start, self.end, self.stp, self.mach)
        ops = self.instance.operations
        codes = self.codes
        rows = sorted(zip(start, mach, range(self.n)))
        return tuple(Assignment(ops[x].id, codes[m], t, end[x], stp[x]) for t, m, x in rows)

    def ready(self, x: int) -> int:
        """Earliest start allowed by ``x``'s predecessors and their aging."""
        r = 0
        end, aging = self.end, self.aging
        for p in self.preds[x]:
            e = end[p] + aging[p]
            if e > r:
                r = e
        return r

    def binding(self, x: int) -> int:
        """The predecessor (job or machine) whose end bounds ``x``'s start most, -1 if none.
        Ties go to the machine predecessor (so critical blocks stay long)."""
        best = -1
        value = -1
        end, aging = self.end, self.aging
        for p in self.preds[x]:
            e = end[p] + aging[p]
            if e > value:
                value, best = e, p
        i = self.pos[x]
        if i:
            u = self.seq[self.mach[x]][i - 1]
            if end[u] + self.stp[x] >= value:
                best = u
        return best

    def prev_at(self, x: int, m: int, p: int) -> int:
        """The operation before index ``p`` of machine ``m``'s sequence counted without ``x``
        (-1: none): what ``x`` would follow there."""
        if p <= 0:
            return -1
        line = self.seq[m]
        j = p - 1
        if self.mach[x] == m and self.pos[x] <= j:
            j += 1
        return line[j]

    def next_at(self, x: int, m: int, p: int) -> int:
        """The operation at index ``p`` of machine ``m``'s sequence counted without ``x`` (-1:
        none): what ``x`` would precede there."""
        line = self.seq[m]
        j = p
        if self.mach[x] == m and self.pos[x] <= j:
            j += 1
        return line[j] if j < len(line) else -1

    # -- moving ----------------------------------------------------------------------------
    def relocate(self, x: int, m2: int, p: int) -> bool:
        """Move ``x`` to index ``p`` of machine ``m2``'s sequence (``p`` counted without ``x``)
        and re-time. False, with nothing changed, when that closes a cycle or passes the
        horizon. Otherwise the move is logged: :meth:`undo` takes it back, :meth:`keep` keeps it."""
        m1 = self.mach[x]
        i1 = self.pos[x]
        seq1 = self.seq[m1]
        old_sig = self.sig
        arc = self._arc
        u = seq1[i1 - 1] if i1 else -1
        w = seq1[i1 + 1] if i1 + 1 < len(seq1) else -1
        sig = old_sig ^ arc(u, x, m1) ^ arc(x, w, m1) ^ arc(u, w, m1)
        seeds = [x] if w < 0 else [x, w]  # w: its machine predecessor changed
        u = self.prev_at(x, m2, p)
        w = self.next_at(x, m2, p)
        self.sig = sig ^ arc(u, w, m2) ^ arc(u, x, m2) ^ arc(x, w, m2)
        self._move(x, m2, p)
        old_dur = self.dur[x]
        self.mach[x] = m2
        self.dur[x] = self.dur_on[x][m2]
        if w >= 0:
            seeds.append(w)
        log: list = [(x, m1, i1, old_dur, old_sig)]
        retimer = self._retimer
        if (retimer.propagate(self, x, seeds, log) if retimer is not None
                else self._propagate(x, seeds, log)):
            self._log.append(log)
            return True
        if self._retimer is not None:
            self._retimer.restore(self, log)
        else:
            self._restore(log)
        return False

    def undo(self) -> None:
        """Take back the last logged move."""
        log = self._log.pop()
        if self._retimer is not None:
            self._retimer.restore(self, log)
        else:
            self._restore(log)

    def keep(self) -> None:
        """Forget the undo log: the moves made stay."""
        self._log.clear()
        if self._retimer is not None:
            self._retimer.clear()

    def _move(self, x: int, m2: int, p: int) -> None:
        """``x`` out of its sequence and to index ``p`` of ``m2``'s (positions renumbered;
        ``mach`` and the times unchanged)."""
        if self._retimer is not None:
            self._retimer.move(self, x, m2, p)
            return
        pos = self.pos
        seq1 = self.seq[self.mach[x]]
        i1 = pos[x]
        del seq1[i1]
        for i in range(i1, len(seq1)):
            pos[seq1[i]] = i
        seq2 = self.seq[m2]
        seq2.insert(p, x)
        for i in range(p, len(seq2)):
            pos[seq2[i]] = i
