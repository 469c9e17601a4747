"""Changeover rules and the machine timeline: gap insertion, downtime, setups before ops.

The brute-force checker at the bottom defines "earliest feasible start" independently of the
gap index; a hypothesis test compares the two on random machines.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodsched.engine import (
    Instance,
    Machine,
    Operation,
    SetupTable,
    Timeline,
    schedule,
    setup_between,
    verify,
)


def op(op_id, op_class="C", mixture="", width=1000, durations=None, **kw):
    return Operation(op_id, kw.pop("job", op_id), kw.pop("seq", 1), op_class, mixture, width,
                     durations=durations or {"M1": 1}, **kw)


def line_for(ops, machine=None, class_setup=None):
    """A one-machine timeline over ``ops`` (indexes = positions in ``ops``)."""
    machine = machine or Machine("M1")
    table = SetupTable(ops, [machine], class_setup or {})
    classes = sorted(set(table.cls))
    mind = min(min(o.durations.values()) for o in ops)
    return Timeline(table, [machine.downtime], [classes], [mind]).lines[0], table


# -- setups --------------------------------------------------------------------------------
M = Machine("M1", long_to_short=2, short_to_long=5)


def test_type_change_when_class_differs():
    assert setup_between(op("a", "SR"), op("b", "EPU"), M, {("SR", "EPU"): 3}) == 3
    assert setup_between(op("a", "SR"), op("b", "EPU"), M, {("EPU", "SR"): 3}) == 0  # directed


def test_mixture_change_within_a_class_costs_the_class_pair():
    table = {("SR", "SR"): 4}
    assert setup_between(op("a", "SR", "MX1"), op("b", "SR", "MX2"), M, table) == 4
    assert setup_between(op("a", "SR", "MX1"), op("b", "SR", "MX1"), M, table) == 0
    assert setup_between(op("a", "SR", ""), op("b", "SR", "MX1"), M, table) == 4


def test_missing_pair_costs_nothing():
    assert setup_between(op("a", "SR"), op("b", "EPU"), M, {}) == 0


def test_width_change_directions_and_max_with_type_change():
    wide, narrow = op("w", width=1500), op("n", width=1000)
    assert setup_between(wide, narrow, M, {}) == 2  # long -> short
    assert setup_between(narrow, wide, M, {}) == 5  # short -> long
    assert setup_between(wide, op("w2", width=1500), M, {}) == 0
    assert setup_between(wide, op("n2", "D", width=1000), M, {("C", "D"): 7}) == 7
    assert setup_between(narrow, op("w2", "D", width=1500), M, {("C", "D"): 3}) == 5


def test_first_operation_on_a_machine_needs_no_setup():
    assert setup_between(None, op("a", "SR"), M, {("SR", "SR"): 9}) == 0
    inst = Instance((op("a", "SR", "MX1", durations={"M1": 2}),), (M,), {("SR", "SR"): 9})
    plan = schedule(inst)
    assert verify(inst, plan) == []
    assert plan.assignments[0].start == 0 and plan.assignments[0].setup == 0


_op_strategy = st.builds(
    lambda i, c, mx, w, d: op(f"o{i}", c, mx, w, {"M1": d}),
    st.integers(0, 10**6), st.sampled_from("ABC"), st.sampled_from(["", "x", "y"]),
    st.sampled_from([1000, 1300, 1500]), st.integers(1, 6))
_matrix = st.dictionaries(st.tuples(st.sampled_from("ABC"), st.sampled_from("ABC")),
                          st.integers(0, 6), max_size=9)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_op_strategy, min_size=3, max_size=6), matrix=_matrix,
       l2s=st.integers(0, 4), s2l=st.integers(0, 4))
def test_setup_table_and_gap_bounds_agree_with_the_rule(ops, matrix, l2s, s2l):
    machine = Machine("M1", long_to_short=l2s, short_to_long=s2l)
    table = SetupTable(ops, [machine], matrix)
    classes = sorted(set(table.cls))
    for p in range(len(ops)):
        for x in range(len(ops)):
            assert table.setup(p, x, 0) == setup_between(ops[p], ops[x], machine, matrix)
    # the gap bounds never exceed the setups any op actually pays (soundness of the gap index)
    for p in [-1, *range(len(ops))]:
        for n in range(len(ops)):
            generic, direct, both_p, both_n = table.gap_bounds(p, n, 0, classes)
            for x in range(len(ops)):
                into = table.setup(p, x, 0) if p >= 0 else 0
                out = table.setup(x, n, 0)
                tx = table.typ[x]
                if p >= 0 and tx == table.typ[p]:
                    assert into + out >= both_p and out >= direct
                if tx == table.typ[n]:
                    assert into + out >= both_n and into >= direct
                if tx != table.typ[n] and (p < 0 or tx != table.typ[p]):
                    both, b_in, b_out = generic[classes.index(table.cls[x])]
                    assert into + out >= both and into >= b_in and out >= b_out


# -- timeline ------------------------------------------------------------------------------
def test_gap_insertion_leaves_room_for_the_successors_new_setup():
    ops = [op("a", "A", durations={"M1": 2}), op("n", "A", durations={"M1": 4}),
           op("x", "B", durations={"M1": 5}), op("y", "B", durations={"M1": 4})]
    line, _table = line_for(ops, class_setup={("A", "B"): 1, ("B", "A"): 3})
    line.place(0, 2, 0, 0, -1)  # a [0, 2)
    line.place(1, 4, 10, 0, -1)  # n [10, 14), same type as a: no setup; idle gap [2, 10)
    # x needs 1 (a -> x) + 5 + 3 (x -> n) = 9 slots > 8: not in the gap; after n + setup 1
    assert line.find(2, 5, 0) == (15, 1, -1)
    # y needs 1 + 4 + 3 = 8: fits exactly, n keeps its start and is charged the new setup
    t, s, k = line.find(3, 4, 0)
    assert (t, s) == (3, 1) and k >= 0
    line.place(3, 4, t, s, k)
    assert list(zip(line.ops, line.starts, line.ends)) == [(0, 0, 2), (3, 3, 7), (1, 10, 14)]
    assert line.cur[1] == 3 and line.cur[3] == 1


def test_gap_before_the_first_operation_respects_its_new_setup():
    ops = [op("n", "A", durations={"M1": 3}), op("x", "B", durations={"M1": 3})]
    line, _ = line_for(ops, class_setup={("B", "A"): 2})
    line.place(0, 3, 6, 0, -1)  # n [6, 9), first op: no setup
    t, s, k = line.find(1, 3, 0)
    assert (t, s) == (0, 0) and k == 0  # x [0, 3), then setup [3, 5) before n at 6
    line.place(1, 3, t, s, k)
    assert line.cur[0] == 2


def test_operation_never_overlaps_downtime_and_is_never_split():
    ops = [op("long", durations={"M1": 8}), op("short", durations={"M1": 4})]
    line, _ = line_for(ops, machine=Machine("M1", downtime=((5, 10),)))
    assert line.find(0, 8, 0) == (10, 0, -1)  # does not fit before the downtime
    assert line.find(1, 4, 0) == (0, 0, -1)  # fits before it
    assert line.find(1, 4, 3) == (10, 0, -1)  # ready at 3: [3, 7) would hit the downtime


def test_setup_slots_do_not_overlap_downtime():
    ops = [op("a", "A", durations={"M1": 3}), op("x", "B", durations={"M1": 2})]
    line, _ = line_for(ops, machine=Machine("M1", downtime=((3, 6),)), class_setup={("A", "B"): 2})
    line.place(0, 3, 0, 0, -1)
    assert line.find(1, 2, 0) == (8, 2, -1)  # setup [6, 8) after the downtime, not [3, 5)


def test_successor_setup_that_would_move_into_downtime_blocks_the_gap():
    ops = [op("a", "A", durations={"M1": 2}), op("n", "A", durations={"M1": 2}),
           op("x", "B", durations={"M1": 2})]
    machine = Machine("M1", downtime=((8, 10),))
    line, _ = line_for(ops, machine=machine, class_setup={("B", "A"): 2})
    line.place(0, 2, 0, 0, -1)
    line.place(1, 2, 10, 0, -1)  # n right after the downtime, no setup needed
    # x fits in [2, 8), but n would then need setup [8, 10) = downtime: x goes after n
    assert line.find(2, 2, 0) == (12, 0, -1)


def test_bound_returns_none_when_the_op_cannot_end_in_time():
    ops = [op("a", durations={"M1": 5}), op("b", durations={"M1": 5})]
    line, _ = line_for(ops)
    line.place(0, 5, 0, 0, -1)
    assert line.find(1, 5, 0) == (5, 0, -1)
    assert line.find(1, 5, 0, bound=10) == (5, 0, -1)
    assert line.find(1, 5, 0, bound=9) is None


# -- brute force ---------------------------------------------------------------------------
def brute_force_start(line, table, x, d, r):
    """Earliest start of op x by trying every slot (no gap index)."""
    m = line.m
    placed = sorted(zip(line.starts, line.ends, line.ops))
    dts = list(zip(line.dts, line.dte))

    def free(a, b):
        return all(b <= s or a >= e for s, e in dts)

    horizon = max([r] + [e for _, e, _ in placed] + [e for _, e in dts]) + 20 + d
    for t in range(r, horizon):
        before = [p for p in placed if p[0] < t]
        after = [p for p in placed if p[0] >= t]
        sin = table.setup(before[-1][2], x, m) if before else 0
        if before and t - sin < before[-1][1]:
            continue
        if t - sin < 0 or not free(t - sin, t + d):
            continue
        if after:
            n_start, _, n = after[0]
            sout = table.setup(x, n, m)
            if t + d > n_start - sout or not free(n_start - sout, n_start):
                continue
        return t, sin
    raise AssertionError("no start found")


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_find_returns_the_earliest_feasible_start(data):
    n_ops = data.draw(st.integers(4, 14))
    ops = [op(f"o{i}", data.draw(st.sampled_from("AB")), data.draw(st.sampled_from(["", "x"])),
              data.draw(st.sampled_from([1000, 1500])), {"M1": data.draw(st.integers(1, 5))})
           for i in range(n_ops)]
    starts = sorted(data.draw(st.lists(st.integers(0, 60), max_size=3, unique=True)))
    downtime = tuple((s, s + data.draw(st.integers(1, 4))) for s in starts)
    machine = Machine("M1", downtime, data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3)))
    matrix = data.draw(_matrix)
    line, table = line_for(ops, machine, matrix)
    for x in range(n_ops):
        d = ops[x].durations["M1"]
        r = data.draw(st.integers(0, 50))
        t, s, k = line.find(x, d, r)
        assert (t, s) == brute_force_start(line, table, x, d, r)
        line.place(x, d, t, s, k)
    inst = Instance(tuple(ops), (machine,), matrix)
    from prodsched.engine import Assignment

    plan = [Assignment(ops[x].id, "M1", s, e, line.cur[x])
            for x, s, e in zip(line.ops, line.starts, line.ends)]
    assert verify(inst, plan) == []


@pytest.mark.parametrize("bound", [0, 5, 12, 30])
def test_bounded_find_matches_unbounded(bound):
    ops = [op(f"o{i}", "AB"[i % 2], durations={"M1": 1 + i % 4}) for i in range(10)]
    line, _ = line_for(ops, class_setup={("A", "B"): 2, ("B", "A"): 1})
    for x, r in zip(range(8), [0, 9, 3, 20, 1, 14, 2, 6]):
        t, s, k = line.find(x, ops[x].durations["M1"], r)
        line.place(x, ops[x].durations["M1"], t, s, k)
    for x in (8, 9):
        d = ops[x].durations["M1"]
        full = line.find(x, d, 0)
        bounded = line.find(x, d, 0, bound)
        assert bounded == (full if full[0] + d <= bound else None)


def test_long_operations_beyond_the_byte_capacities_still_use_gaps():
    ops = [op("a", durations={"M1": 10}), op("n", durations={"M1": 10}),
           op("big", durations={"M1": 300}), op("huge", durations={"M1": 400})]
    line, _ = line_for(ops)
    line.place(0, 10, 0, 0, -1)
    line.place(1, 10, 700, 0, -1)  # idle gap [10, 700)
    assert line.find(2, 300, 0) == (10, 0, 0)
    line.place(2, 300, 10, 0, 0)  # leaves [310, 700): 390 slots
    assert line.find(3, 400, 0) == (710, 0, -1)


def test_machine_downtime_is_merged_and_checked():
    assert Machine("M1", ((5, 8), (0, 2), (7, 10), (10, 12))).downtime == ((0, 2), (5, 12))
    with pytest.raises(ValueError, match="M1.*ends before it starts"):
        Machine("M1", ((4, 4),))
