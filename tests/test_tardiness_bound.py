"""The lower bound on total tardiness: exact on cases made for it, never above a verified
schedule's tardiness."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import plants

from prodsched.engine import Instance, Machine, Operation, figures_of, schedule, verify
from prodsched.engine.bounds import tardiness_bound
from prodsched.engine.improve import improve


def op(op_id, job=None, durations=None, **kw):
    return Operation(op_id, job or op_id, kw.pop("seq", 1), kw.pop("op_class", "C"),
                     durations=durations or {"M1": 2}, **kw)


def test_chain_bound_counts_durations_aging_and_downtime():
    # a (3 slots, then 2 of aging) -> b (4 slots on M2, down [5, 7)) : b starts at 7, ends at 11
    inst = Instance([op("a", "J", {"M1": 3}, aging_slots=2, due_slot=20),
                     op("b", "J", {"M2": 4}, seq=2, predecessors=("a",), due_slot=6)],
                    [Machine("M1"), Machine("M2", downtime=((5, 7),))])
    assert tardiness_bound(inst).chain == 11 - 6
    assert tardiness_bound(inst).bound == 5


def test_machine_bound_sees_jobs_queueing_on_one_machine():
    # three jobs of 4 slots due at 4 on one machine: they end at 4, 8 and 12 at the earliest
    inst = Instance([op(j, durations={"M1": 4}, due_slot=4) for j in "abc"], [Machine("M1")])
    b = tardiness_bound(inst)
    assert b.chain == 0
    assert (b.bound, b.machines) == (4 + 8, ("M1",))


def test_machine_bound_charges_the_setup_into_each_other_kind():
    # two kinds, setup 3 between them; the first on the machine needs none: ends 2 and 2+3+2
    inst = Instance([op("a", op_class="X", due_slot=2), op("b", op_class="Y", due_slot=2)],
                    [Machine("M1")], {("X", "Y"): 3, ("Y", "X"): 3})
    assert tardiness_bound(inst).bound == 5
    assert figures_of(schedule(inst, rule="edd"), inst).tardiness == 5


def test_two_machines_pool_their_capacity():
    # pooled (work split freely over both machines) four jobs of 4 end at 2, 4, 6 and 8: a
    # weaker bound than the true 0 + 0 + 4 + 4, but never above it
    inst = Instance([op(j, durations={"M1": 4, "M2": 4}, due_slot=4) for j in "abcd"],
                    [Machine("M1"), Machine("M2")])
    assert tardiness_bound(inst).bound == 2 + 4
    assert figures_of(schedule(inst, rule="edd"), inst).tardiness == 8


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=plants(), rule=st.sampled_from(["window", "edd", "atcs"]), seed=st.integers(0, 2))
def test_never_above_a_verified_schedule(inst, rule, seed):
    bound = tardiness_bound(inst)
    assert 0 <= bound.chain <= bound.bound
    plan = improve(inst, schedule(inst, rule=rule, seed=seed), objective="tardiness",
                   iterations=60, seed=seed)
    assert verify(inst, plan) == []
    assert bound.bound <= figures_of(plan, inst).tardiness
