"""Objectives: the four figures of a schedule, the registry, and every run reporting them all."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from test_engine_properties import plants

from prodsched.engine import (
    OBJECTIVES,
    Assignment,
    Figures,
    Instance,
    Machine,
    Operation,
    Schedule,
    figures_of,
    get_objective,
    register_objective,
    report,
    schedule,
    verify,
)
from prodsched.engine.objectives import check_options


def two_jobs():
    """J1 (due 4): a on M1 then b on M2; J2 (due 10): c on M1. Mixture change costs 2."""
    ops = (Operation("a", "J1", 1, "C", "x", 1000, 4, durations={"M1": 2}),
           Operation("b", "J1", 2, "C", "x", 1000, 4, durations={"M2": 3}, predecessors=("a",)),
           Operation("c", "J2", 1, "C", "y", 1000, 10, durations={"M1": 1}))
    return Instance(ops, (Machine("M1"), Machine("M2")), {("C", "C"): 2})


def test_figures_of_a_hand_made_schedule():
    inst = two_jobs()
    # c first, then a after a 2-slot mixture change, then b: J1 ends at 8 (due 4), J2 at 1
    plan = Schedule((Assignment("c", "M1", 0, 1, 0), Assignment("a", "M1", 3, 5, 2),
                     Assignment("b", "M2", 5, 8, 0)))
    assert verify(inst, plan) == []
    assert figures_of(plan, inst) == Figures(tardiness=4, late_jobs=1, setup_slots=2, makespan=8)
    assert figures_of(plan, inst).tardiness == plan.tardiness(inst)


def test_a_job_is_due_at_its_earliest_due_and_ends_with_its_last_operation():
    ops = (Operation("a", "J", 1, "C", due_slot=9, durations={"M1": 2}),
           Operation("b", "J", 2, "C", due_slot=3, durations={"M1": 2}, predecessors=("a",)))
    inst = Instance(ops, (Machine("M1"),))
    plan = Schedule((Assignment("a", "M1", 0, 2), Assignment("b", "M1", 2, 4)))
    assert figures_of(plan, inst) == Figures(1, 1, 0, 4)


def test_built_in_objectives_order_their_figures():
    f = Figures(tardiness=5, late_jobs=2, setup_slots=7, makespan=30)
    assert get_objective("tardiness").value(f) == (5, 2, 7, 30)
    assert get_objective("makespan").value(f) == (30, 7)
    assert get_objective("setups").value(f) == (7, 5)
    # lexicographic: fewer setups wins under `setups` even with far more tardiness
    worse_tardy = Figures(50, 9, 6, 99)
    assert get_objective("setups").value(worse_tardy) < get_objective("setups").value(f)
    assert get_objective("tardiness").value(worse_tardy) > get_objective("tardiness").value(f)


def test_weighted_uses_the_weights_in_its_options():
    f = Figures(tardiness=5, late_jobs=2, setup_slots=7, makespan=30)
    weighted = get_objective("weighted")
    assert weighted.value(f) == (5 + 7 + 30, 5, 7, 30)  # default weights 1, 0, 1, 1
    value = weighted.value(f, {"weights": {"tardiness": 10, "setup_slots": 0.5, "makespan": 0,
                                           "late_jobs": 3}})
    assert value == (10 * 5 + 3 * 2 + 0.5 * 7, 5, 7, 30)


@pytest.mark.parametrize("options, message", [
    ({"weights": {"lateness": 1}}, "unknown weight"),
    ({"weights": {"tardiness": -1}}, "weight tardiness must be a number >= 0"),
    ({"weights": {"makespan": "a lot"}}, "weight makespan must be a number"),
    ({"weights": [1, 2]}, "weights must be a mapping"),
])
def test_bad_weights_are_named(options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        check_options("weighted", options)


def test_registry_lookups_and_user_objectives():
    assert {"tardiness", "makespan", "setups", "weighted"} <= set(OBJECTIVES)
    with pytest.raises(ValueError, match="unknown objective 'fastest'.*makespan"):
        get_objective("fastest")
    with pytest.raises(ValueError, match="already registered"):
        register_objective("makespan", lambda f, o: f.makespan)
    with pytest.raises(TypeError, match="must be callable"):
        register_objective("broken", 3)
    try:
        obj = register_objective("late_then_setups", lambda f, o: (f.late_jobs, f.setup_slots))
        assert get_objective("Late_Then_Setups") is obj
        assert obj.value(Figures(5, 2, 7, 30)) == (2, 7)
        bare = get_objective(lambda f, o: f.makespan)  # a bare number becomes a 1-tuple
        assert bare.value(Figures(5, 2, 7, 30)) == (30,)
        inst = two_jobs()
        values = report(schedule(inst), inst)["objectives"]
        assert set(values) == set(OBJECTIVES) and "late_then_setups" in values
    finally:
        OBJECTIVES.pop("late_then_setups", None)


def test_report_gives_every_figure_and_objective():
    inst = two_jobs()
    plan = schedule(inst)
    out = report(plan, inst)
    fig = figures_of(plan, inst)
    assert out["figures"] == fig._asdict()
    for name, obj in OBJECTIVES.items():
        assert out["objectives"][name] == list(obj.value(fig))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=plants())
def test_figures_agree_with_the_schedule_on_random_plants(inst):
    plan = schedule(inst)
    assert verify(inst, plan) == []
    fig = figures_of(plan, inst)
    assert fig.makespan == plan.makespan and fig.setup_slots == plan.setup_slots
    assert fig.tardiness == plan.tardiness(inst)
    assert (fig.late_jobs == 0) == (fig.tardiness == 0) and fig.late_jobs <= fig.tardiness
