"""The optimiser's moves: each puts one operation at a position of an eligible machine.

A move is ``(x, m, p)``: operation ``x`` goes to index ``p`` of machine ``m``'s sequence (counted
without ``x``). The neighbourhoods:

* **critical** (makespan; tardiness through a late job's chain): the chain of operations whose
  ends bound each other's starts back from the operation that ends last (or from a late job's
  last operation) splits into blocks of operations that follow each other on one machine. Moves
  of the N5/N7 family: an operation of a block goes before its first or after its last
  operation, and the first or last goes into the block (a swap of the two first or two last is
  one of these);
* **reassign**: an operation of that chain goes to another eligible machine, at the position
  where its predecessors let it start and where it starts now;
* **setups**: an operation with a setup before it goes right before or after an operation of
  the same class and mixture (else the same class, else the same width) on an eligible machine,
  the nearest in time first; and the run it starts (it and the operations of its class and
  mixture right after it) goes there as a whole (a move of several relocations);
* **pull** (tardiness): an operation of a late job goes one to three places earlier on its
  machine.

Which neighbourhoods an iteration draws on, and in what shares, follows the objective; a
sample of ``limit`` moves (seeded, in a seeded order) is tried when they offer more.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from heapq import nsmallest
from itertools import compress

from prodsched.engine.positions import PositionRanges
from prodsched.engine.sequencing import Sequencing

Move = tuple  # (x, m, p), or (x, m, p, (y, z, ..)): then y right after x, z right after y, ..

# shares of each neighbourhood per objective (others: equal shares)
FOCUS = {
    "makespan": {"critical": 0.75, "reassign": 0.25},
    "tardiness": {"late": 0.35, "reassign": 0.05, "pull": 0.15, "setups": 0.45},
    "setups": {"setups": 0.7, "late": 0.15, "pull": 0.15},
}
_EVEN = {"critical": 0.3, "late": 0.2, "reassign": 0.2, "setups": 0.2, "pull": 0.1}
NAMES = tuple(_EVEN)
NEAR = 6  # positions past the earliest that a late operation's reassignment tries


class Neighbourhoods:
    """Moves of ``state`` that suit the objective ``objective`` (its name)."""

    def __init__(self, state: Sequencing, objective: str, limit: int,
                 only: tuple[str, ...] | None = None) -> None:
        self.state = state
        self.limit = limit
        self.only = bool(only)
        self.shares = FOCUS.get(objective, _EVEN) if not only else dict.fromkeys(only, 1.0)
        table = state.table
        groups: dict[tuple, list[int]] = {}
        self.partners: list[tuple[list[int], ...]] = []
        # machines where some changeover costs time (reordering there changes setups)
        self.has_setups = [table.l2s[m] > 0 or table.s2l[m] > 0 or any(map(any, table.matrix))
                           for m in range(len(state.seq))]
        for x in range(state.n):
            groups.setdefault(("t", table.typ[x]), []).append(x)
            groups.setdefault(("c", table.cls[x]), []).append(x)
            groups.setdefault(("w", table.width[x]), []).append(x)
        for x in range(state.n):
            self.partners.append((groups[("t", table.typ[x])], groups[("c", table.cls[x])],
                                  groups[("w", table.width[x])]))

    # -- the sample of one iteration --------------------------------------------------------
    def candidates(self, rng: random.Random) -> list[Move]:
        state = self.state
        parts: dict[str, list[Move]] = {}
        shares = dict(self.shares)
        if state.late == 0 and not self.only:  # nothing is late: its share goes to the setups and the chain
            for name in ("late", "pull"):
                share = shares.pop(name, 0.0)
                if share:
                    shares["setups"] = shares.get("setups", 0.0) + share / 2
                    shares["critical"] = shares.get("critical", 0.0) + share / 2
        chain: list[int] = []
        if "critical" in shares or ("reassign" in shares and "late" not in shares and "pull" not in shares):
            # (reassignment draws on the late chains alone when there are any)
            chain, blocks = self.critical()
            parts["critical"] = self.block_moves(blocks)
        late_chain: list[int] = []
        if "late" in shares or "pull" in shares:
            jobs = self._late_jobs(rng)
            for j in jobs:
                z = max(state.job_ops[j], key=state.end.__getitem__)
                late_chain.extend(self.chain(z))
            parts["late"] = self.block_moves(self.blocks(late_chain))
            parts["pull"] = self.pull_moves(jobs)
        if "reassign" in shares:
            parts["reassign"] = self.reassign_moves(chain + late_chain, bool(chain))
        if "setups" in shares:
            parts["setups"] = self.setup_moves(rng)
        return self._sample(parts, shares, rng)

    def _sample(self, parts: dict[str, list[Move]], shares: dict[str, float],
                rng: random.Random) -> list[Move]:
        total = sum(shares.values()) or 1.0
        names = [k for k in ("critical", "late", "reassign", "setups", "pull") if k in shares]
        out: list[Move] = []
        spare = 0
        for name in names:  # quotas; what a part cannot use goes to the parts after it
            part = parts.get(name, ())
            moves = part if isinstance(part, PositionRanges) else list(dict.fromkeys(part))
            quota = round(self.limit * shares[name] / total) + spare
            if len(moves) > quota:
                moves = rng.sample(moves, quota)
                spare = 0
            else:
                spare = quota - len(moves)
            out.extend(moves)
        if spare:  # the last parts were short: fill from the first ones
            taken = set(out)
            rest = [m for name in names for m in dict.fromkeys(parts.get(name, ()))
                    if m not in taken]
            out.extend(rest[:spare] if len(rest) <= spare else rng.sample(rest, spare))
        mach, pos, pin = self.state.mach, self.state.pos, self.state.pin
        out = [mv for mv in dict.fromkeys(out)  # a pinned operation never moves
               if mv is not None and pin[mv[0]] < 0 and (len(mv) == 3 or all(pin[r] < 0 for r in mv[3]))
               and (mv[1] != mach[mv[0]] or mv[2] != pos[mv[0]])]
        rng.shuffle(out)  # the search may take the first improving one: no neighbourhood goes first
        return out

    # -- chains and blocks ------------------------------------------------------------------
    def _last(self) -> int:
        """The operation that ends last (the first such on the first machine)."""
        state = self.state
        end = state.end
        z, e = -1, -1
        for line in state.seq:
            if line and end[line[-1]] > e:
                z, e = line[-1], end[line[-1]]
        return z

    def chain(self, z: int) -> list[int]:
        """The binding chain ending at ``z``, first operation first."""
        out = []
        state = self.state
        while z >= 0:
            out.append(z)
            z = state.binding(z)
        out.reverse()
        return out

    def blocks(self, chain: list[int]) -> list[list[int]]:
        """Runs of a chain's operations that follow each other on one machine."""
        mach, pos = self.state.mach, self.state.pos
        return _runs(chain, lambda u, v: mach[v] == mach[u] and pos[v] == pos[u] + 1)

    def critical(self) -> tuple[list[int], list[list[int]]]:
        """The critical operations (those on a longest chain to the last end, downtime aside)
        and their blocks: runs of critical operations that follow each other on a machine
        without idle time."""
        state = self.state
        tails = self.tails()
        start, end, stp = state.start, state.end, state.stp
        cmax = max((end[line[-1]] for line in state.seq if line), default=0)
        ops: list[int] = []
        blocks: list[list[int]] = []
        for line in state.seq:
            # operations off the critical path lie between critical ones, so none can join across them
            critical = [v for v in line if start[v] + tails[v] >= cmax]
            ops.extend(critical)
            blocks.extend(_runs(critical, lambda u, v: end[u] + stp[v] == start[v]))
        return ops, blocks

    def block_moves(self, blocks: list[list[int]]) -> list[Move]:
        """N5/N7 moves in each block. Without setups on a block's machine, reordering a block
        cannot shorten it: an operation goes before the first only when a predecessor of the
        first is what delays the block, and after the last only when the chain goes on."""
        state = self.state
        end, start, aging, preds, stp, pos = (state.end, state.start, state.aging, state.preds,
                                              state.stp, state.pos)
        out: list[Move] = []
        for b in blocks:
            first, last = b[0], b[-1]
            front = back = True
            if not self.has_setups[state.mach[first]]:
                front = any(end[p] + aging[p] == start[first] for p in preds[first])
                back = bool(state.succs[last]) and any(
                    start[w] == end[last] + aging[last] for w in state.succs[last])
                i = state.pos[last] + 1
                line = state.seq[state.mach[last]]
                back = back or (i < len(line) and start[line[i]] == end[last] + stp[line[i]])
            # (a block lies on one machine in sequence order: ``before``/``after`` reduce to these)
            m = state.mach[first]
            if front:
                p = pos[first]
                out += [(v, m, p) for v in b[1:]]  # v before first
                out += [(first, m, pos[v]) for v in b[1:-1]]  # first after v
            if back:
                p = pos[last]
                out += [(v, m, p) for v in b[:-1]]  # v after last
                out += [(last, m, pos[v]) for v in b[1:-1]]  # last before v
        return out

    # -- other neighbourhoods ---------------------------------------------------------------
    def reassign_moves(self, ops: list[int], critical: bool = True) -> PositionRanges:
        """Each operation to every other eligible machine, at the positions from where
        its predecessors let it start to where it could start without ending the schedule
        later (``critical``), else to where it starts now but at most ``NEAR`` past the first
        (a late operation gains by starting early); one more either side."""
        state = self.state
        start, seq, mach = state.start, state.seq, state.mach
        tails = self.tails() if critical else None
        cmax = max((state.end[line[-1]] for line in seq if line), default=0)
        at = start.__getitem__
        out = PositionRanges()
        for v in dict.fromkeys(ops):
            r = state.ready(v)
            latest = cmax - tails[v] if tails is not None else start[v]
            if latest < start[v]:
                latest = start[v]
            for m2, _d in state.elig[v]:
                if m2 == mach[v]:
                    continue
                line = seq[m2]
                lo = bisect_left(line, r, key=at)  # the first operation starting at or after r
                hi = bisect_left(line, latest, key=at)
                if tails is None and hi > lo + NEAR:
                    hi = lo + NEAR
                out.add(v, m2, max(0, lo - 1), min(len(line), hi + 1) + 1)
        return out

    def tails(self) -> list[int]:
        """Per operation: the longest chain of durations, setups and aging from its start to
        the end of the schedule (downtime aside)."""
        state = self.state
        n = state.n
        start, dur, stp, aging, seq, mach, pos, succs = (state.start, state.dur, state.stp,
                                                         state.aging, state.seq, state.mach,
                                                         state.pos, state.succs)
        q = [0] * n
        for v in sorted(range(n), key=start.__getitem__, reverse=True):
            after = 0
            for w in succs[v]:
                if aging[v] + q[w] > after:
                    after = aging[v] + q[w]
            line = seq[mach[v]]
            i = pos[v] + 1
            if i < len(line):
                w = line[i]
                if stp[w] + q[w] > after:
                    after = stp[w] + q[w]
            q[v] = dur[v] + after
        return q

    def setup_moves(self, rng: random.Random, count: int = 8) -> list[Move]:
        state = self.state
        stp, start, mach = state.stp, state.start, state.mach
        with_setup = list(compress(range(state.n), stp))  # (setups are never negative)
        if len(with_setup) > count:
            with_setup = rng.sample(with_setup, count)
        out: list[Move] = []
        for v in with_setup:
            eligible = state.dur_on[v]
            t = start[v]
            for group in self.partners[v]:
                near = nsmallest(2, [(abs(start[y] - t), y) for y in group
                                     if y != v and mach[y] in eligible])
                for _gap, y in near:
                    out.append(self.before(v, y))
                    out.append(self.after(v, y))
                if near:
                    break
            out.extend(self._run_moves(v))
        return [mv for mv in out if mv is not None]

    def _run_moves(self, v: int) -> list[Move | None]:
        """The run of ``v`` (``v`` and the operations of its class and mixture right after it
        on its machine), moved together right before or after the nearest other operation of
        that class and mixture on a machine that can run them all."""
        state = self.state
        line = state.seq[state.mach[v]]
        typ, start, mach, pin = state.table.typ, state.start, state.mach, state.pin
        run = [v]
        for w in line[state.pos[v] + 1:]:
            if typ[w] != typ[v] or pin[w] >= 0:
                break
            run.append(w)
        if len(run) < 2:
            return []
        inside = set(run)
        common = set(state.dur_on[v]).intersection(*(state.dur_on[w] for w in run[1:]))
        t = start[v]
        near = nsmallest(2, [(abs(start[y] - t), y) for y in self.partners[v][0]
                             if mach[y] in common and y not in inside])
        out: list[Move | None] = []
        for _gap, y in near:
            for first in (self.before(v, y), self.after(v, y)):
                out.append(None if first is None else (*first, tuple(run[1:])))
        return out

    def pull_moves(self, jobs: list[int]) -> list[Move]:
        """Each operation of the jobs one to three places earlier on its machine."""
        state = self.state
        seq, mach, pos = state.seq, state.mach, state.pos
        out: list[Move] = []
        for j in jobs:
            for v in state.job_ops[j]:
                line = seq[mach[v]]
                for k in (1, 2, 3):
                    if pos[v] - k < 0:
                        break
                    out.append(self.before(v, line[pos[v] - k]))
        return out

    def _late_jobs(self, rng: random.Random, count: int = 3) -> list[int]:
        """The latest job and a few other late ones (drawn)."""
        state = self.state
        late = [j for j, e in enumerate(state.job_end) if e > state.job_due[j]]
        if not late:
            return []
        worst = max(late, key=lambda j: state.job_end[j] - state.job_due[j])
        others = [j for j in late if j != worst]
        if len(others) > count - 1:
            others = rng.sample(others, count - 1)
        return [worst, *others]

    # -- positions --------------------------------------------------------------------------
    def before(self, x: int, y: int) -> Move | None:
        """``x`` right before ``y`` (None when ``y``'s machine cannot run ``x``)."""
        state = self.state
        m = state.mach[y]
        if m not in state.dur_on[x]:
            return None
        j = state.pos[y]
        if state.mach[x] == m and state.pos[x] < j:
            j -= 1
        return x, m, j

    def after(self, x: int, y: int) -> Move | None:
        """``x`` right after ``y``."""
        state = self.state
        m = state.mach[y]
        if m not in state.dur_on[x]:
            return None
        j = state.pos[y] + 1
        if state.mach[x] == m and state.pos[x] < state.pos[y]:
            j -= 1
        return x, m, j


def _runs(items: list[int], follows) -> list[list[int]]:
    """Maximal runs of ``items`` in which each item ``follows(previous, item)``; runs of one left out."""
    out: list[list[int]] = []
    cur: list[int] = []
    for v in items:
        if cur and follows(cur[-1], v):
            cur.append(v)
        else:
            if len(cur) > 1:
                out.append(cur)
            cur = [v]
    if len(cur) > 1:
        out.append(cur)
    return out


def apply_move(state: Sequencing, move: Move) -> int:
    """Make ``move`` on ``state``: the relocations made (each logged), or 0 with nothing
    changed when one of them is not possible."""
    x, m, p = move[0], move[1], move[2]
    if not state.relocate(x, m, p):
        return 0
    made = 1
    mach, pos = state.mach, state.pos
    for r in move[3] if len(move) > 3 else ():
        q = pos[x] + 1
        if mach[r] == m and pos[r] < pos[x]:
            q -= 1
        if m not in state.dur_on[r] or not state.relocate(r, m, q):
            for _ in range(made):
                state.undo()
            return 0
        made += 1
        x = r
    return made
