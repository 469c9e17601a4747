"""Ruin and recreate in the optimiser: a step keeps only a better schedule and otherwise
changes nothing, puts an urgent job back first, respects pins and ``now``, and the search that
uses it stays verified and deterministic."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_engine_pins import assert_replanned, pinned_plants
from test_engine_properties import plants
from test_improve import (  # big: 60 jobs of three operations on three machines, most of them late
    REPO,
    RUN,
    TIMELINE_NAMES,
    big,
    printed_per_hash_seed,
)

from prodsched.engine import (
    Assignment,
    Instance,
    Machine,
    Operation,
    Schedule,
    figures_of,
    get_objective,
    schedule,
    verify,
)
from prodsched.engine.improve import improve
from prodsched.engine.recreate import RuinRecreate
from prodsched.engine.sequencing import Sequencing
from prodsched.engine.timeline import _native_timeline

TARDINESS = get_objective("tardiness")
EVERY = {"search": {"recreate": 1}}  # a ruin and recreate after every iteration


def judge(figures):
    return TARDINESS.value(figures)


@pytest.mark.parametrize("timeline", TIMELINE_NAMES)
@RUN
@given(inst=plants(), seed=st.integers(0, 3), k=st.integers(1, 5))
def test_a_step_keeps_only_a_better_schedule_else_changes_nothing(timeline, inst, seed, k):
    state = Sequencing(inst, schedule(inst), timeline=timeline)
    rr = RuinRecreate(state, judge)
    rng = random.Random(seed)
    for _ in range(3):
        before = state.assignments(), state.figures(), state.sig
        current = judge(state.figures())
        found = rr.step(rng, k, current)
        if found is None:
            assert (state.assignments(), state.figures(), state.sig) == before
            continue
        state.keep()
        assert found == judge(state.figures()) and found < current
        rows = state.assignments()
        assert verify(inst, rows) == []
        fresh = Sequencing(inst, Schedule(rows))  # the incremental re-timing agrees
        assert fresh.assignments() == rows and fresh.figures() == state.figures()


def test_an_urgent_job_is_put_back_before_the_jobs_it_waited_behind():
    # y (due 3) waits on M1 behind x and w (due 40); on M2 its second step waits behind v
    ops = (Operation("x", "X", 1, "C", durations={"M1": 4}, due_slot=40),
           Operation("w", "W", 1, "C", durations={"M1": 3}, due_slot=40),
           Operation("y", "Y", 1, "C", durations={"M1": 1}, due_slot=3),
           Operation("v", "V", 1, "C", durations={"M2": 5}, due_slot=40),
           Operation("z", "Y", 2, "C", durations={"M2": 1}, predecessors=("y",), due_slot=3))
    inst = Instance(ops, (Machine("M1"), Machine("M2")))
    start = Schedule((Assignment("x", "M1", 0, 4), Assignment("w", "M1", 4, 7),
                      Assignment("y", "M1", 7, 8), Assignment("v", "M2", 0, 5),
                      Assignment("z", "M2", 8, 9)))
    assert verify(inst, start) == [] and figures_of(start, inst).tardiness == 6
    state = Sequencing(inst, start)
    found = RuinRecreate(state, judge).step(random.Random(0), 3, judge(state.figures()))
    assert found is not None
    plan = Schedule(state.assignments())
    assert verify(inst, plan) == [] and figures_of(plan, inst).tardiness == 0
    assert plan.by_op()["y"].start == 0


@RUN
@given(case=pinned_plants(), seed=st.integers(0, 2))
def test_ruin_and_recreate_never_moves_a_pin_nor_starts_before_now(case, seed):
    inst, _base = case
    plan = schedule(inst, objective="tardiness", improve_iterations=15, seed=seed,
                    objective_options=EVERY)
    assert_replanned(inst, plan)


@RUN
@given(inst=plants(), seed=st.integers(0, 3))
def test_with_ruin_and_recreate_never_worse_than_the_start_and_repeatable(inst, seed):
    start = schedule(inst)
    plans = [improve(inst, start, objective="tardiness", iterations=15, seed=seed, options=EVERY)
             for _ in range(2)]
    assert verify(inst, plans[0]) == []
    assert judge(figures_of(plans[0], inst)) <= judge(figures_of(start, inst))
    assert plans[0].assignments == plans[1].assignments
    kept, tried = plans[0].info["recreated"]
    assert 0 <= kept <= tried <= 15


def test_it_runs_by_default_for_tardiness_only_and_can_be_turned_off():
    inst = big()
    start = schedule(inst, rule="window")
    assert figures_of(start, inst).late_jobs > 0
    on = improve(inst, start, objective="tardiness", iterations=40)
    assert on.info["recreated"][1] == 13  # iterations 3, 6, .., 39
    off = improve(inst, start, objective="tardiness", iterations=40,
                  options={"search": {"recreate": 0}})
    assert off.info["recreated"] == [0, 0]
    assert improve(inst, start, objective="makespan", iterations=40).info["recreated"] == [0, 0]


def test_the_default_interval_follows_the_size():
    from prodsched.engine.improve import TARDINESS_RECREATE_MAX_OPS, _search_settings

    assert _search_settings(None, "tardiness", TARDINESS_RECREATE_MAX_OPS)["recreate"] == 3
    assert _search_settings(None, "tardiness", TARDINESS_RECREATE_MAX_OPS + 1)["recreate"] == 0
    assert _search_settings({"recreate": 7}, "tardiness", 10**6)["recreate"] == 7


@pytest.mark.parametrize("setting, message", [({"recreate": -1}, "recreate"), ({"ruin": 0}, "ruin")])
def test_bad_ruin_settings_are_named(setting, message):
    inst = Instance((Operation("a", "A", 1, "C", durations={"M1": 1}),), (Machine("M1"),))
    with pytest.raises(ValueError, match=message):
        improve(inst, schedule(inst), options={"search": setting})


_SCRIPT = """
import hashlib, json, sys
sys.path.insert(0, {tests!r})
from test_improve import big
from prodsched.engine import schedule
inst = big()
plans = [schedule(inst, rule="window", objective="tardiness", improve_iterations=30, seed=5,
                  options={{"timeline": name}}, objective_options={{"search": {{"recreate": 3}}}})
         for name in sys.argv[1:]]
print(json.dumps([[hashlib.sha256(repr(p.assignments).encode()).hexdigest(), p.info["recreated"],
                   p.info["retime"]] for p in plans]))
"""


def test_same_schedule_whatever_the_hash_seed_and_the_re_timing():
    names = ["python", "native"] if _native_timeline() is not None else ["python"]
    outs = printed_per_hash_seed(_SCRIPT.format(tests=str(REPO / "tests")), *names)
    assert outs[0] == outs[1]
    assert [retime for _h, _r, retime in outs[0]] == names
    assert len({(h, tuple(r)) for h, r, _t in outs[0]}) == 1  # both re-timings: one schedule
    assert outs[0][0][1][1] == 10  # ten ruin-and-recreate steps ran
