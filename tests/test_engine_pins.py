"""Pinned operations and ``now``: pins stay put under every rule and the optimiser, nothing new
starts before now, and a pin that breaks a rule is refused naming both operations."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import plants  # the same random plants as the engine's properties

from prodsched.engine import Instance, Machine, Operation, schedule, verify
from prodsched.engine.core import Core
from prodsched.engine.pins import check_pin, check_pins
from prodsched.errors import ScheduleError

RULES = ("window", "edd", "spt", "atcs", "mwkr_es")
RUN = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def replanned(inst: Instance, now: int, pins: dict) -> Instance:
    return Instance(inst.operations, inst.machines, inst.class_setup, inst.horizon, now=now,
                    pins=pins)


def closed_pins(inst: Instance, plan, chosen: set[str]) -> dict[str, tuple[str, int]]:
    """``chosen`` closed under job predecessors and the operations before them on their
    machine in ``plan`` (a cut of a feasible schedule: consecutive pins were adjacent)."""
    at = plan.by_op()
    before = {}
    for line in plan.by_machine().values():
        for a, b in zip(line, line[1:]):
            before[b.op_id] = a.op_id
    todo = list(chosen)
    out: set[str] = set()
    while todo:
        x = todo.pop()
        if x in out:
            continue
        out.add(x)
        todo.extend(inst.op(x).predecessors)
        if x in before:
            todo.append(before[x])
    return {x: (at[x].machine, at[x].start) for x in out}


def assert_replanned(inst: Instance, plan) -> None:
    assert verify(inst, plan) == []
    at = plan.by_op()
    for op_id, (machine, start) in inst.pins.items():
        assert (at[op_id].machine, at[op_id].start) == (machine, start), op_id
    for a in plan.assignments:
        if a.op_id not in inst.pins:
            assert a.start - a.setup >= inst.now, a


@st.composite
def pinned_plants(draw):
    inst = draw(plants())
    base = schedule(inst, rule=draw(st.sampled_from(RULES)))
    assert verify(inst, base) == []
    ids = [op.id for op in inst.operations]
    chosen = set(draw(st.lists(st.sampled_from(ids), max_size=len(ids))))
    pins = closed_pins(inst, base, chosen)
    free = [a.start - a.setup for a in base.assignments if a.op_id not in pins]
    now = draw(st.integers(0, min(free))) if free else draw(st.integers(0, base.makespan))
    return replanned(inst, now, pins), base


@RUN
@given(case=pinned_plants(), seed=st.integers(0, 2))
def test_pins_from_a_feasible_schedule_stay_put_under_every_rule(case, seed):
    inst, _base = case
    for rule in RULES:
        plan = schedule(inst, rule=rule, seed=seed)
        assert_replanned(inst, plan)
        again = schedule(inst, rule=rule, seed=seed)
        assert again.assignments == plan.assignments


@RUN
@given(case=pinned_plants(), objective=st.sampled_from(["tardiness", "makespan", "setups"]))
def test_the_optimiser_never_moves_a_pin_nor_starts_before_now(case, objective):
    inst, _base = case
    plan = schedule(inst, objective=objective, improve_iterations=40)
    assert_replanned(inst, plan)


@RUN
@given(inst=plants(), data=st.data())
def test_any_pins_give_a_verified_schedule_or_a_named_error(inst, data):
    """Arbitrary pins (not closed): never a silent move."""
    base = schedule(inst)
    ids = [op.id for op in inst.operations]
    chosen = data.draw(st.lists(st.sampled_from(ids), max_size=4, unique=True))
    at = base.by_op()
    pins = {x: (at[x].machine, at[x].start + data.draw(st.integers(0, 3))) for x in chosen}
    now = data.draw(st.integers(0, 10))
    pinned = replanned(inst, now, pins)
    try:
        plan = schedule(pinned, improve_iterations=data.draw(st.sampled_from([0, 20])))
    except ScheduleError as err:
        assert err.op_id in ids or err.op_id == "-"
        return
    assert_replanned(pinned, plan)


# -- conflicting pins ------------------------------------------------------------------------

def _plant() -> Instance:
    ops = (Operation("A-1", "A", 1, "SR", durations={"M1": 3, "M2": 4}, due_slot=10),
           Operation("A-2", "A", 2, "EPU", durations={"M1": 2}, predecessors=("A-1",), aging_slots=2),
           Operation("B-1", "B", 1, "SR", durations={"M1": 3, "M2": 3}),
           Operation("C-1", "C", 1, "EPU", durations={"M1": 3, "M2": 3}))
    return Instance(ops, (Machine("M1", downtime=((20, 22),)), Machine("M2")), {("SR", "EPU"): 1})


@pytest.mark.parametrize("pins, names, words", [
    ({"A-1": ("M1", 0), "B-1": ("M1", 2)}, ("A-1", "B-1"), "overlaps"),
    ({"A-1": ("M1", 0), "C-1": ("M1", 3)}, ("A-1", "C-1"), "setup"),
    ({"A-1": ("M2", 5), "A-2": ("M1", 7)}, ("A-1", "A-2"), "predecessor"),
    ({"A-2": ("M2", 0)}, ("A-2", "M2"), "not eligible"),
    ({"B-1": ("M1", 19)}, ("B-1", "[20, 22)"), "downtime"),
    ({"C-1": ("M2", 3), "B-1": ("M2", 0)}, ("B-1", "C-1"), "setup"),
    ({"Z-9": ("M1", 0)}, ("Z-9",), "not an operation"),
])
def test_a_pin_that_breaks_a_rule_is_refused_naming_both(pins, names, words):
    inst = replanned(_plant(), 0, pins)
    with pytest.raises(ScheduleError) as err:
        schedule(inst)
    for name in names:
        assert name in str(err.value)
    assert words in str(err.value)


def test_an_unpinned_predecessor_that_cannot_end_in_time_is_named_with_the_pin():
    inst = replanned(_plant(), 4, {"A-2": ("M1", 6)})  # A-1 cannot start before 4, ends >= 7
    with pytest.raises(ScheduleError) as err:
        schedule(inst)
    assert "A-1" in str(err.value) and "A-2" in str(err.value)


def test_nothing_new_starts_before_now_and_setups_around_pins_are_charged():
    inst = replanned(_plant(), 5, {"A-1": ("M1", 0)})
    plan = schedule(inst)
    assert_replanned(inst, plan)
    at = plan.by_op()
    assert at["A-2"].start >= 5 and at["A-2"].start >= 3 + 2  # now, and A-1's end plus aging
    # a new operation inserted right before a pin leaves room for the pin's new setup
    inst = replanned(_plant(), 0, {"C-1": ("M1", 4)})
    plan = schedule(inst, rule="edd")
    assert_replanned(inst, plan)
    line = [a for a in plan.by_machine()["M1"]]
    for a, b in zip(line, line[1:]):
        assert b.start - a.end >= b.setup


def test_the_verifier_reports_a_moved_pin_and_a_start_before_now():
    inst = replanned(_plant(), 5, {"A-1": ("M1", 0)})
    plan = schedule(inst)
    moved = [a._replace(start=a.start + 30, end=a.end + 30) if a.op_id == "A-1" else a
             for a in plan.assignments]
    assert "pin" in {v.check for v in verify(inst, moved)}
    early = replanned(_plant(), 5, {})
    plain = schedule(_plant())
    assert "now" in {v.check for v in verify(early, plain)}


def test_now_or_pins_that_are_not_slots_are_refused():
    with pytest.raises(ValueError, match="now"):
        replanned(_plant(), -1, {})
    with pytest.raises(ValueError, match="A-1"):
        replanned(_plant(), 0, {"A-1": ("M1", 1.5)})


@RUN
@given(case=pinned_plants(), seed=st.integers(0, 2))
def test_the_compiled_and_python_timelines_place_pins_alike(case, seed):
    """Pinned instances go through both timelines in lockstep (as tests/test_engine_native.py
    compares plain ones)."""
    inst, _base = case
    for rule in RULES:
        fast = schedule(inst, rule=rule, seed=seed, options={"timeline": "native"})
        ref = schedule(inst, rule=rule, seed=seed, options={"timeline": "python"})
        assert (fast.info["timeline"], ref.info["timeline"]) == ("native", "python")
        assert fast.assignments == ref.assignments, rule
        assert_replanned(inst, fast)


# -- one proposed pin (the panel's what-if drops) ---------------------------------------------

@RUN
@given(inst=plants(), data=st.data())
def test_a_proposed_pin_check_pin_accepts_is_placed_and_one_it_refuses_cannot_be(inst, data):
    """check_pin against existing pins: accepted -> the schedule has it there and verifies (or
    the dispatch names an unpinned predecessor); refused -> scheduling with it fails too."""
    base = schedule(inst)
    at = base.by_op()
    ids = [op.id for op in inst.operations]
    first = data.draw(st.sampled_from(ids))
    pinned = replanned(inst, 0, {first: (at[first].machine, at[first].start)})
    op = inst.op(data.draw(st.sampled_from(ids)))
    machine = data.draw(st.sampled_from(sorted({mc.code for mc in inst.machines})))
    start = data.draw(st.integers(0, base.makespan))
    proposed = replanned(inst, 0, {**pinned.pins, op.id: (machine, start)})
    try:
        check_pin(pinned, op.id, machine, start)
    except ScheduleError as err:
        assert op.id in str(err)
        with pytest.raises(ScheduleError):
            schedule(proposed)
        return
    try:
        plan = schedule(proposed)
    except ScheduleError as err:
        assert "predecessor" in str(err) and (op.id in str(err) or first in str(err))
        return
    assert_replanned(proposed, plan)


@pytest.mark.parametrize("pins, op_id, machine, start, names, words", [
    ({"A-1": ("M1", 0)}, "B-1", "M1", 2, ("A-1", "B-1"), "overlaps"),
    ({}, "A-2", "M2", 0, ("A-2", "M2"), "not eligible"),
    ({}, "B-1", "M1", 19, ("B-1", "[20, 22)"), "downtime"),
    ({"A-2": ("M1", 9)}, "A-1", "M2", 6, ("A-1", "A-2"), "predecessor"),
    ({}, "A-2", "M1", 2, ("A-2", "A-1"), "cannot have ended and aged before slot 3"),
    ({}, "B-1", "M2", 3, ("B-1",), "before now"),
    ({"B-1": ("M2", 0)}, "B-1", "M1", 6, ("B-1", "M2"), "started before now"),
])
def test_check_pin_refuses_naming_the_operations(pins, op_id, machine, start, names, words):
    inst = replanned(_plant(), 4 if words.endswith("now") else 0, pins)
    with pytest.raises(ScheduleError) as err:
        check_pin(inst, op_id, machine, start)
    for name in names:
        assert name in str(err.value)
    assert words in str(err.value)
    check_pin(replanned(_plant(), 0, {}), "A-2", "M1", 3)  # after A-1 (3 slots at its shortest)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=plants(), data=st.data())
def test_the_compiled_pin_check_agrees_with_the_reference(inst, data):
    """The compiled loader checks and places the pins itself; it must accept exactly the pins
    check_pins accepts (on a refusal the reference words the error)."""
    base = schedule(inst)
    at = base.by_op()
    ids = [op.id for op in inst.operations]
    codes = [mc.code for mc in inst.machines]
    pins = {}
    for x in data.draw(st.lists(st.sampled_from(ids), max_size=5, unique=True)):
        machine = data.draw(st.sampled_from([at[x].machine, *codes]))
        pins[x] = (machine, max(0, at[x].start + data.draw(st.integers(-3, 6))))
    pinned = replanned(inst, data.draw(st.integers(0, 6)), pins)
    horizon = data.draw(st.sampled_from([None, base.makespan]))
    pinned = Instance(pinned.operations, pinned.machines, pinned.class_setup, horizon, now=pinned.now,
                      pins=pinned.pins)
    try:
        check_pins(pinned)
    except ScheduleError:
        with pytest.raises(ScheduleError):
            Core(pinned, 0, lambda _count: None, "native")
        return
    core = Core(pinned, 0, lambda _count: None, "native")
    assert core.pins_compiled == pinned.replanning and core.count == len(pins)
    ref = Core(pinned, 0, lambda _count: None, "python")
    assert (core.ready, core.npred, core.placed) == (ref.ready, ref.npred, ref.placed)
