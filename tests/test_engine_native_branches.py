"""The compiled engine's size-triggered branches, each reached by an instance built to reach it,
against the Python reference: the same answers step by step, the same schedule, and a schedule
the verifier accepts.

The compiled engine keeps some lookups dense (a table indexed by value) while the values are few
or close together, and falls back to a hash map or a comparison sort when they spread wider; the
small instances of the other tests only ever take the dense side.
"""

from __future__ import annotations

import random

import pytest

from prodsched.engine import (
    Assignment,
    Instance,
    Machine,
    Operation,
    SetupTable,
    schedule,
    verify,
)
from prodsched.engine.core import Core
from prodsched.engine.timeline import Timeline, _native_timeline

NATIVE = _native_timeline()
pytestmark = pytest.mark.skipif(NATIVE is None, reason="compiled timeline not built here")


def noop(count):
    pass


def _answer(line, found):
    """A search result with the gap named by its end slot (-1: after the last operation)."""
    if found is None:
        return None
    t, s, k = found
    return t, s, -1 if k < 0 else line.gap_end(k)


def lockstep(ops, machine, class_setup, seed):
    """Place ``ops`` one by one on ``machine`` in both timelines, asking both the same searches
    (the op's own, bounded and not, and others' against the same line) at every step; returns
    the compiled timeline once the lines are equal and the result verifies."""
    rng = random.Random(seed)
    table = SetupTable(ops, [machine], class_setup)
    classes = sorted(set(table.cls))
    ref = Timeline(table, [machine.downtime], [classes], [1]).lines[0]
    compiled = NATIVE(table, [machine.downtime], [classes], [1])
    fast = compiled.lines[0]
    gaps = 0
    for x, op in enumerate(ops):
        d = op.durations[machine.code]
        r = rng.randint(0, 9 * x + 10)  # ready times spread out: gaps form, later ops fill them
        queries = [(x, d, r), (x, d, r, r + d + rng.randint(0, 40))]
        for _ in range(3):
            q = (rng.randrange(len(ops)), rng.randint(1, 9), rng.randint(0, ref.tail + 5))
            queries += [q, (*q, q[1] + q[2] + rng.randint(0, 100))]
        for args in queries:
            assert _answer(fast, fast.find(*args)) == _answer(ref, ref.find(*args)), (x, args)
        ref.place(x, d, *ref.find(x, d, r))
        fast.place(x, d, *fast.find(x, d, r))
        gaps = max(gaps, len(ref.gap_ends))
    assert gaps > 50, gaps  # the searches had many gaps to look through
    assert (fast.starts, fast.ends, fast.ops) == (ref.starts, ref.ends, ref.ops)
    assert fast.cur == list(ref.cur)
    plan = [Assignment(ops[x].id, machine.code, s, e, ref.cur[x])
            for x, s, e in zip(ref.ops, ref.starts, ref.ends)]
    assert verify(Instance(tuple(ops), (machine,), class_setup), plan) == []
    return compiled


def same_schedules(inst, rules=("window", "edd", "atcs")):
    for rule in rules:
        ref = schedule(inst, rule=rule, options={"timeline": "python"})
        fast = schedule(inst, rule=rule, options={"timeline": "native"})
        assert fast.info["timeline"] == "native"
        assert fast.assignments == ref.assignments, rule
        assert verify(inst, fast) == [], rule


def many_classes_and_widths(n=500, seed=1):
    """20 operation classes and 8 widths: (20 + 1) * 20 * 8 * 8 = 26,880 possible (class and
    width either side) keys of the gap bounds, more than the dense table's 16,384."""
    rng = random.Random(seed)
    classes = [f"C{i:02d}" for i in range(20)]
    widths = [1000 + 100 * i for i in range(8)]
    ops = [Operation(f"o{i}", f"o{i}", 1, rng.choice(classes), rng.choice(["", "X", "Y"]),
                     rng.choice(widths), durations={"M1": rng.randint(1, 6)})
           for i in range(n)]
    class_setup = {(a, b): rng.randint(1, 4) for a in classes for b in classes
                   if a != b and rng.random() < 0.5}
    return ops, Machine("M1", tuple((t, t + 7) for t in range(300, 5000, 450)), 1, 2), class_setup


def test_gap_bounds_by_hash_with_many_classes_and_widths():
    ops, machine, class_setup = many_classes_and_widths()
    compiled = lockstep(ops, machine, class_setup, seed=5)
    assert compiled.lines[0].bounds_hashed
    one = [Operation(op.id, op.job, 1, "C00", op.mixture, 1000, durations=op.durations)
           for op in ops[:200]]  # one class, one width: the dense table
    assert not lockstep(one, Machine("M1"), {}, seed=5).lines[0].bounds_hashed


def test_schedules_agree_with_many_classes_and_widths():
    ops, machine, class_setup = many_classes_and_widths(300, seed=2)
    for i, op in enumerate(ops):  # a second machine and some precedence
        durations = {"M1": op.durations["M1"], "M2": op.durations["M1"] + 1}
        preds = (ops[i - 1].id,) if i % 3 else ()
        ops[i] = Operation(op.id, op.job, 1, op.op_class, op.mixture, op.width, i // 4, 0,
                           durations, preds)
    inst = Instance(tuple(ops), (machine, Machine("M2", (), 2, 1)), class_setup)
    core = Core(inst, 0, noop, "native")
    assert core.timeline.lines[0].bounds_hashed
    same_schedules(inst)


def many_types(n=400, seed=3):
    """Type codes (class, mixture) by hash: 300 classes named only in the changeover table sort
    before the five the operations use, so the largest class code of an operation is >= 300;
    with 60 mixtures that spans >= 301 * 60 = 18,060 (class, mixture) keys, more than
    4 n + 4096 = 5,696."""
    rng = random.Random(seed)
    spare = [f"A{i:03d}" for i in range(300)]
    used = [f"Z{i}" for i in range(5)]
    class_setup = {(a, b): rng.randint(1, 3) for a in used for b in used if a != b}
    class_setup.update({(a, "Z0"): 1 for a in spare})
    mixtures = [f"MX{i:02d}" for i in range(60)]
    ops = [Operation(f"o{i}", f"o{i}", 1, rng.choice(used), rng.choice(mixtures),
                     rng.choice([1000, 1300]), i // 3, durations={"M1": rng.randint(1, 5)})
           for i in range(n)]
    return ops, Machine("M1", ((250, 260), (900, 940)), 1, 2), class_setup


def test_type_codes_by_hash_with_many_classes_and_mixtures():
    ops, machine, class_setup = many_types()
    compiled = lockstep(ops, machine, class_setup, seed=8)
    assert compiled.shared.types_hashed
    assert not lockstep(ops, machine, {}, seed=8).shared.types_hashed  # 5 classes: dense


def test_schedules_agree_with_type_codes_by_hash():
    ops, machine, class_setup = many_types(300, seed=4)
    inst = Instance(tuple(ops), (machine, Machine("M2", ((40, 45),), 2, 0)), class_setup)
    ops = [Operation(op.id, op.job, 1, op.op_class, op.mixture, op.width, op.due_slot, 0,
                     {"M1": op.durations["M1"], "M2": op.durations["M1"] + 1}) for op in ops]
    inst = Instance(tuple(ops), inst.machines, class_setup)
    core = Core(inst, 0, noop, "native")
    assert core.native.keyed and core.timeline.shared.types_hashed  # the compiled set-up's table
    same_schedules(inst)


def test_due_dates_spread_far_apart():
    """Due dates 10,007 slots apart span far more than 4 n + 4096 slots: the priority order
    and the window rule's due-date lookups work on a sparse range."""
    n = 300
    rng = random.Random(6)
    ops = []
    for i in range(n):
        preds = (f"o{i - 1}",) if i % 4 else ()
        ops.append(Operation(f"o{i}", f"j{i // 4}", i % 4 + 1, rng.choice("AB"),
                             rng.choice(["", "X"]), rng.choice([1000, 1300]),
                             10_007 * rng.randrange(n), rng.choice([0, 0, 5]),
                             {"M1": rng.randint(1, 6), "M2": rng.randint(2, 7)}, preds,
                             rng.choice(["coat", "print"])))
    inst = Instance(tuple(ops), (Machine("M1", ((30, 40),), 1, 2), Machine("M2")),
                    {("A", "B"): 2, ("B", "A"): 1})
    dues = [op.due_slot for op in ops]
    assert max(dues) - min(dues) > 4 * n + 4096
    core = Core(inst, 0, noop, "native")
    assert core.native.keyed and core.order == Core(inst, 0, noop, "python").order
    same_schedules(inst)
    for days in (0, 300, 10_000):  # windows holding no, some and all other due dates
        ref = schedule(inst, window_days=days, options={"timeline": "python"})
        fast = schedule(inst, window_days=days, options={"timeline": "native"})
        assert fast.assignments == ref.assignments and verify(inst, fast) == []


def test_starts_spread_far_apart():
    """A machine down for its first 200,000 slots: starts spread far wider than 4 n + 4096
    slots, so the results are ordered and built over a sparse range of slots."""
    n = 200
    rng = random.Random(9)
    ops = [Operation(f"o{i}", f"o{i}", 1, rng.choice("AB"), "", 1000, rng.randrange(50),
                     durations={"M1": rng.randint(1, 5)} if i % 2 else {"M2": 3})
           for i in range(n)]
    inst = Instance(tuple(ops), (Machine("M1", ((0, 200_000),)), Machine("M2")), {})
    same_schedules(inst)
    plan = schedule(inst, options={"timeline": "native"})
    assert max(a.start for a in plan.assignments) > 4 * n + 4096
    assert min(a.start for a in plan.assignments) == 0
