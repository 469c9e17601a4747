"""Dispatch rules on tiny hand-made plants; errors, cancel, progress, determinism."""

from __future__ import annotations

import threading
import time

import pytest

from prodsched.engine import (
    RULES,
    Instance,
    Machine,
    Operation,
    Rule,
    get_rule,
    register_rule,
    schedule,
    verify,
)
from prodsched.engine.timeline import Timeline, timeline_class
from prodsched.errors import Cancelled, ScheduleError


def op(op_id, op_class="C", mixture="", width=1000, due=0, durations=None, **kw):
    return Operation(op_id, kw.pop("job", op_id), kw.pop("seq", 1), op_class, mixture, width, due,
                     durations={"M1": 2} if durations is None else durations, **kw)


def plan_of(inst, **kw):
    plan = schedule(inst, **kw)
    assert verify(inst, plan) == []
    return plan


def order_on(plan, machine="M1"):
    return [a.op_id for a in plan.by_machine().get(machine, [])]


# -- window --------------------------------------------------------------------------------
def mixture_plant():
    """One machine; changing mixture within class C costs 3 slots."""
    ops = (op("H", mixture="A", due=10), op("X", mixture="B", due=11), op("Y", mixture="A", due=12))
    return Instance(ops, (Machine("M1"),), {("C", "C"): 3})


def test_window_groups_the_same_mixture_behind_the_head():
    inst = mixture_plant()
    plan = plan_of(inst, rule="window", window_days=5)
    assert order_on(plan) == ["H", "Y", "X"]
    assert plan.setup_slots == 3
    edd = plan_of(inst, rule="edd")
    assert order_on(edd) == ["H", "X", "Y"]
    assert edd.setup_slots == 6


def test_window_ignores_operations_due_outside_the_window():
    # window_days=0: Y (due 2 slots after H) is not in H's window, so the due order holds
    plan = plan_of(mixture_plant(), rule="window", window_days=0)
    assert order_on(plan) == ["H", "X", "Y"]


def test_window_groups_the_same_operation_when_there_is_no_mixture():
    ops = (op("H", "coat", due=10, operation="coating"), op("X", "print", due=11, operation="printing"),
           op("Y", "coat", due=12, operation="coating"))
    inst = Instance(ops, (Machine("M1"),), {("coat", "print"): 4, ("print", "coat"): 4})
    assert order_on(plan_of(inst)) == ["H", "Y", "X"]


def test_follower_that_would_finish_later_goes_to_its_own_best_machine():
    both = {"M1": 2, "M2": 2}
    ops = (op("H", mixture="A", due=10, durations=both), op("Y", mixture="A", due=12, durations=both))
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {})
    plan = plan_of(inst)
    where = {a.op_id: (a.machine, a.start) for a in plan.assignments}
    assert where == {"H": ("M1", 0), "Y": ("M2", 0)}


def test_head_goes_where_it_finishes_earliest_including_setup():
    ops = (op("P", "A", due=0, durations={"M1": 2}), op("Q", "B", due=1, durations={"M2": 1}),
           op("H", "A", due=5, durations={"M1": 2, "M2": 2}))
    # M1 is free at 2 and needs no setup (A -> A): H ends at 4; M2 is free at 1, B -> A costs 5
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {("B", "A"): 5})
    plan = plan_of(inst)
    assert plan.by_op()["H"] == plan.by_op()["H"]._replace(machine="M1", start=2, end=4)


def test_priority_is_due_then_wider_then_id():
    ops = (op("c", due=5, width=1000), op("b", due=5, width=1500), op("a", due=5, width=1000),
           op("z", due=1, width=1000))
    inst = Instance(ops, (Machine("M1"),), {})
    assert order_on(plan_of(inst, rule="window", window_days=0)) == ["z", "b", "a", "c"]
    assert order_on(plan_of(inst, rule="edd")) == ["z", "b", "a", "c"]


# -- other rules ---------------------------------------------------------------------------
def test_spt_takes_the_shortest_first():
    ops = (op("long", due=0, durations={"M1": 5}), op("short", due=9, durations={"M1": 1}))
    inst = Instance(ops, (Machine("M1"),), {})
    assert order_on(plan_of(inst, rule="spt")) == ["short", "long"]
    assert order_on(plan_of(inst, rule="edd")) == ["long", "short"]


def test_atcs_avoids_a_changeover_when_dues_are_equal():
    ops = (op("first", "A", "m", due=0, durations={"M1": 2}),
           op("b_change", "B", due=50, durations={"M1": 2}),
           op("c_same", "A", "m", due=50, durations={"M1": 2}))
    inst = Instance(ops, (Machine("M1"),), {("A", "B"): 6, ("B", "A"): 6})
    assert order_on(plan_of(inst, rule="edd")) == ["first", "b_change", "c_same"]
    assert order_on(plan_of(inst, rule="atcs", options={"k2": 0.1})) == ["first", "c_same", "b_change"]


def test_mwkr_es_prefers_work_that_can_start_now_over_longer_work_that_waits():
    # A's successor C can start only at 6 (aging); B (6 slots) does not fit the gap [1, 6)
    ops = (op("A", job="A", due=0, durations={"M1": 1}, aging_slots=5),
           op("C", job="A", seq=2, due=0, durations={"M1": 7}, predecessors=("A",)),
           op("B", due=0, durations={"M1": 6}))
    inst = Instance(ops, (Machine("M1"),), {})
    mwkr = plan_of(inst, rule="mwkr")  # C has more work left than B: it goes first, at 6
    assert order_on(mwkr) == ["A", "C", "B"] and mwkr.makespan == 19
    es = plan_of(inst, rule="mwkr_es")  # B starts at 1 (1 - 6 < 6 - 7)
    assert order_on(es) == ["A", "B", "C"] and es.makespan == 14
    assert es.passes == 4 and mwkr.passes == 1


def test_mwkr_es_counts_the_changeover_into_the_start():
    # P (most work left: Q follows on M2) goes first; X and Y have equal work left, but after
    # P (class A) the changeover to B would start Y at 7, so X (same class) goes next on M1
    ops = (op("P", "A", due=0, durations={"M1": 2}, job="P"),
           op("Q", "A", due=0, durations={"M2": 10}, job="P", seq=2, predecessors=("P",)),
           op("Y", "B", due=1, durations={"M1": 3}, job="Y"),
           op("X", "A", due=2, durations={"M1": 3}, job="X"))
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {("A", "B"): 5, ("B", "A"): 5})
    plan = plan_of(inst, rule="mwkr_es", options={"restarts": 1})
    assert order_on(plan) == ["P", "X", "Y"] and plan.setup_slots == 5
    mwkr = plan_of(inst, rule="mwkr")  # the tie goes by due date: Y, two changeovers
    assert order_on(mwkr) == ["P", "Y", "X"] and mwkr.setup_slots == 10


@pytest.mark.parametrize("objective", ["tardiness", "makespan"])
def test_restarts_keep_the_best_pass_by_the_objective(objective):
    from prodsched.engine.objectives import figures_of, get_objective

    inst = big_plant(60)
    plan = plan_of(inst, rule="mwkr_es", seed=6, objective=objective)
    assert plan.passes == 4 and plan.seed == 6
    value = get_objective(objective).value
    # seed 6 with 4 restarts: the passes' seeds are 24-27
    passes = [plan_of(inst, rule="mwkr_es", seed=s, options={"restarts": 1}) for s in range(24, 28)]
    values = [value(figures_of(p, inst)) for p in passes]
    first_best = values.index(min(values))
    assert first_best > 0  # here a later pass wins (by either objective)
    assert plan.assignments == passes[first_best].assignments
    assert plan.info["pass_seed"] == 24 + first_best
    # any rule takes the option; one pass is the rule's own schedule
    assert plan_of(inst, rule="edd", options={"restarts": 1}).assignments == \
        plan_of(inst, rule="edd").assignments
    three = plan_of(inst, rule="spt", seed=1, options={"restarts": 3}, objective=objective)
    singles = [plan_of(inst, rule="spt", seed=s) for s in (3, 4, 5)]
    assert value(figures_of(three, inst)) == min(value(figures_of(p, inst)) for p in singles)


def test_restarts_report_progress_once_over_all_passes():
    calls = []

    states = []  # kept, so that each pass's RuleState is a new object

    def slow_spt(operation, state):
        if not any(s is state for s in states):  # each pass waits 0.15 s once: the ticker reports at
            states.append(state)                  # most ~10 times a second, every 128 operations placed
            time.sleep(0.15)
        return min(operation.durations.values())

    plan = plan_of(big_plant(70), rule=slow_spt, options={"restarts": 3}, progress=lambda f, m: calls.append(f))
    assert plan.passes == 3 and len(calls) >= 3
    assert all(a < b for a, b in zip(calls, calls[1:])), calls  # rising across the passes
    assert calls[-1] == 1.0 and 0 < calls[0] < 1


@pytest.mark.parametrize("bad", [0, -1, 2.0, "4", True])
def test_restarts_must_be_a_whole_number_of_at_least_one(bad):
    with pytest.raises(ValueError, match="restarts must be an integer >= 1"):
        schedule(big_plant(3), rule="mwkr_es", options={"restarts": bad})


def test_custom_callable_rule_and_registry():
    ops = tuple(op(f"o{i}", due=i, durations={"M1": d}) for i, d in enumerate([1, 3, 2]))
    inst = Instance(ops, (Machine("M1"),), {})

    def longest_first(operation, state):
        return -operation.durations["M1"]

    assert order_on(plan_of(inst, rule=longest_first)) == ["o1", "o2", "o0"]
    name = "test_longest_first"
    RULES.pop(name, None)
    register_rule(name, longest_first, dynamic=False)
    try:
        assert get_rule(name).kind == "static"
        assert order_on(plan_of(inst, rule=name)) == ["o1", "o2", "o0"]
        with pytest.raises(ValueError, match="already registered"):
            register_rule(name, longest_first)
    finally:
        RULES.pop(name, None)
    with pytest.raises(ValueError, match="known rules: .*window"):
        schedule(inst, rule="no-such-rule")


def test_rule_state_exposes_the_partial_schedule():
    ops = (op("a", "A", due=0, durations={"M1": 2}),
           op("b", "B", due=1, durations={"M1": 3}, aging_slots=4),
           op("c", "B", due=2, durations={"M1": 1}, job="b", seq=2, predecessors=("b",)))
    inst = Instance(ops, (Machine("M1"),), {("A", "B"): 1})
    seen = []

    def spy(operation, state):
        last = state.last_op("M1")
        seen.append((state.placed, state.now, state.available("M1"), last.id if last else None,
                     operation.id, state.ready_time(operation),
                     state.setup(last, operation, "M1")))
        return operation.due_slot

    plan_of(inst, rule=spy)
    assert (0, 0, 0, None, "a", 0, 0) in seen
    assert (1, 2, 2, "a", "b", 0, 1) in seen
    # c becomes ready when b ends (2 + 1 setup + 3 = 6) plus 4 aging slots
    assert (2, 6, 6, "b", "c", 10, 0) in seen


def test_aging_delays_the_successor():
    ops = (op("a", due=0, durations={"M1": 3}, job="J", seq=1, aging_slots=5),
           op("b", due=0, durations={"M2": 2}, job="J", seq=2, predecessors=("a",)))
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {})
    for rule in ("window", "edd", "spt", "atcs"):
        assert plan_of(inst, rule=rule).by_op()["b"].start == 8


def test_several_predecessors_all_finish_first():
    ops = (op("a", durations={"M1": 3}), op("b", durations={"M2": 5}),
           op("c", durations={"M1": 1, "M2": 1}, predecessors=("a", "b")))
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {})
    assert plan_of(inst).by_op()["c"].start == 5


# -- errors --------------------------------------------------------------------------------
def needs(timeline):
    if timeline == "native" and timeline_class(None) is Timeline:
        pytest.skip("compiled timeline not built here")
    return {"timeline": timeline}


@pytest.mark.parametrize("timeline", ["native", "python"])
def test_operation_without_eligible_machine_raises_naming_it(timeline):
    ops = (op("ok"), op("dead-end", durations={}))
    with pytest.raises(ScheduleError, match="dead-end.*no eligible machine") as err:
        schedule(Instance(ops, (Machine("M1"),), {}), options=needs(timeline))
    assert err.value.op_id == "dead-end"


@pytest.mark.parametrize("timeline", ["native", "python"])
@pytest.mark.parametrize("bad, message", [
    (op("x", durations={"M9": 2}), "machine M9"),
    (op("x", durations={"M1": 0}), "whole number"),
    (op("x", durations={"M1": -2}), "whole number"),
    (op("x", durations={"M1": 1.5}), "whole number"),
    (op("x", durations={"M1": True}), "whole number"),
    (op("x", aging_slots=-1), "aging_slots -1 is negative"),
    (op("x", predecessors=("ghost",)), "predecessor ghost"),
])
def test_invalid_operations_raise_naming_them(bad, message, timeline):
    with pytest.raises(ScheduleError, match=f"x.*{message}") as err:
        schedule(Instance((op("fine"), bad), (Machine("M1"),), {}), options=needs(timeline))
    assert err.value.op_id == "x"


@pytest.mark.parametrize("timeline", ["native", "python"])
def test_operation_that_cannot_end_by_the_horizon_raises_naming_it(timeline):
    ops = (op("a", due=0, durations={"M1": 4}), op("b", due=1, durations={"M1": 6}))
    inst = Instance(ops, (Machine("M1", ((3, 40),)),), {}, horizon=45)
    # a does not fit before the downtime: it runs [40, 44); b would end at 50 > 45
    with pytest.raises(ScheduleError, match="b.*horizon.*slot 50 on M1") as err:
        schedule(inst, options=needs(timeline))
    assert err.value.op_id == "b"
    assert plan_of(Instance(ops[:1], inst.machines, {}, horizon=45)).makespan == 44


def test_an_empty_plan_is_empty():
    plan = plan_of(Instance((), (Machine("M1"),), {}))
    assert len(plan) == 0 and plan.makespan == 0


def test_precedence_cycle_raises_naming_the_cycle():
    ops = (op("a", predecessors=("c",)), op("b", predecessors=("a",)), op("c", predecessors=("b",)),
           op("free"))
    with pytest.raises(ScheduleError, match="cycle") as err:
        schedule(Instance(ops, (Machine("M1"),), {}))
    assert err.value.op_id in {"a", "b", "c"}


@pytest.mark.parametrize("timeline", ["native", "python"])
@pytest.mark.parametrize("rule", ["window", "edd", "atcs"])
def test_a_predecessor_named_twice_counts_once(rule, timeline):
    ops = (op("a", durations={"M1": 3}), op("b", durations={"M1": 2}),
           op("c", predecessors=("a", "b", "a"), durations={"M1": 1}, aging_slots=0))
    inst = Instance(ops, (Machine("M1"),), {})
    plan = schedule(inst, rule=rule, options=needs(timeline))
    assert verify(inst, plan) == []
    assert plan.by_op()["c"].start == 5  # after both, once each


def test_a_self_loop_is_a_cycle():
    with pytest.raises(ScheduleError, match="cycle: a -> a"):
        schedule(Instance((op("a", predecessors=("a",)),), (Machine("M1"),), {}))


def big_plant(n_jobs=400):
    ops = []
    for j in range(n_jobs):
        prev = ()
        for s in (1, 2):
            oid = f"J{j:04d}-{s}"
            ops.append(op(oid, "AB"[s - 1], mixture=f"m{j % 5}", width=(1000, 1500)[j % 2], due=j,
                          job=f"J{j:04d}", seq=s, predecessors=prev,
                          durations={"M1": 1 + j % 3, "M2": 2 + j % 2}))
            prev = (oid,)
    return Instance(tuple(ops), (Machine("M1", ((50, 60),), 1, 2), Machine("M2")), {("A", "B"): 2})


class CancelAfter:
    """An Event stand-in that reports "set" from its ``n``-th check on."""

    def __init__(self, n):
        self.n = n
        self.checks = 0

    def is_set(self):
        self.checks += 1
        return self.checks >= self.n


@pytest.mark.parametrize("timeline", ["native", "python"])
def test_cancel_before_and_during_the_run(timeline):
    inst = big_plant()
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        schedule(inst, cancel=stop, options=needs(timeline))
    during = CancelAfter(3)
    with pytest.raises(Cancelled):
        schedule(inst, cancel=during, options=needs(timeline))
    assert during.checks == 3  # checked at the start, then every few hundred placements
    assert plan_of(inst, cancel=threading.Event()).makespan > 0


def test_progress_is_throttled_rising_and_ends_at_one():
    import time

    def slow_due(operation, state):
        time.sleep(0.002)
        return operation.due_slot

    calls = []
    started = time.perf_counter()
    static = Rule("slow_due", "static", slow_due)  # evaluated once per operation
    plan_of(big_plant(150), rule=static, progress=lambda f, m: calls.append((f, m)))
    elapsed = time.perf_counter() - started
    fractions = [f for f, _ in calls]
    assert len(calls) >= 2 and len(calls) <= elapsed / 0.1 + 2
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions) and "300 operations" in calls[-1][1]


# -- determinism ---------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["window", "edd", "spt", "atcs", "mwkr", "mwkr_es"])
def test_same_input_and_seed_give_the_same_schedule(rule):
    inst = big_plant(150)
    first = plan_of(inst, rule=rule, seed=7)
    assert schedule(inst, rule=rule, seed=7).assignments == first.assignments


def test_seed_only_breaks_exact_ties():
    ops = tuple(op(f"o{i}", due=i, durations={"M1": 2, "M2": 2}) for i in range(1))
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {})
    machines = {plan_of(inst, seed=s).assignments[0].machine for s in range(12)}
    assert machines == {"M1", "M2"}
    assert plan_of(inst, seed=0).assignments[0].machine == "M1"
    # no tie: the seed changes nothing
    ops = (op("a", durations={"M1": 1, "M2": 2}),)
    inst = Instance(ops, (Machine("M1"), Machine("M2")), {})
    assert {plan_of(inst, seed=s).assignments[0].machine for s in range(12)} == {"M1"}


def test_a_time_limit_alone_changes_nothing():
    # it only caps the optimiser's iterations: without any, the dispatch's schedule stands
    inst = big_plant(200)
    one = plan_of(inst, rule="window")
    capped = plan_of(inst, rule="window", time_limit_s=0.0)
    assert capped.assignments == one.assignments and capped.passes == 1


def test_now_ignores_machines_no_operation_can_use():
    ops = (op("a", due=0, durations={"M1": 3}), op("b", due=1, durations={"M1": 2}))
    inst = Instance(ops, (Machine("M1"), Machine("spare")), {})
    nows = []

    def spy(operation, state):
        nows.append((state.placed, state.now))
        return operation.due_slot

    plan_of(inst, rule=spy)
    assert (1, 3) in nows  # the spare machine (free at 0) runs nothing
