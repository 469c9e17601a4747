"""The optimiser: never worse than its start, always verified, deterministic; each neighbourhood
improves a case made for it; cancel, the time cap and progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import plants

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
from prodsched.engine.sequencing import Sequencing
from prodsched.engine.timeline import _native_timeline

REPO = Path(__file__).resolve().parents[1]
needs_native = pytest.mark.skipif(_native_timeline() is None,
                                  reason="compiled timeline not built here")
OBJECTIVE_NAMES = ("tardiness", "makespan", "setups", "weighted")


def value(plan, inst, objective, options=None):
    return get_objective(objective).value(figures_of(plan, inst), options)


def improved(inst, start, **kw):
    plan = improve(inst, start, **kw)
    assert verify(inst, plan) == []
    return plan


def op(op_id, job=None, durations=None, **kw):
    return Operation(op_id, job or op_id, kw.pop("seq", 1), kw.pop("op_class", "C"),
                     durations=durations or {"M1": 2}, **kw)


# -- properties on random plants (setups, downtime, aging, eligibility, assemblies) ----------
RUN = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RUN
@given(inst=plants(), rule=st.sampled_from(["window", "edd", "spt", "atcs", "mwkr"]),
       objective=st.sampled_from(OBJECTIVE_NAMES), seed=st.integers(0, 3))
def test_never_worse_than_its_start_verified_and_repeatable(inst, rule, objective, seed):
    start = schedule(inst, rule=rule, seed=seed)
    plan = improved(inst, start, objective=objective, iterations=25, seed=seed)
    assert value(plan, inst, objective) <= value(start, inst, objective)
    assert plan.info["capped"] is False
    assert plan.info["iterations"] == 25 or (plan.info["exhausted"] and plan.info["iterations"] < 25)
    assert plan.info["value"] == list(value(plan, inst, objective))
    again = improve(inst, start, objective=objective, iterations=25, seed=seed)
    assert again.assignments == plan.assignments


TIMELINE_NAMES = ["python", pytest.param("native", marks=needs_native)]


@pytest.mark.parametrize("timeline", TIMELINE_NAMES)
@RUN
@given(inst=plants(), data=st.data())
def test_incremental_re_timing_matches_timing_from_scratch(timeline, inst, data):
    """Random moves, kept or taken back: the incrementally re-timed state (by the Python or the
    compiled re-timing) always equals the state timed from scratch from its own assignments,
    and passes the verifier."""
    state = Sequencing(inst, schedule(inst), timeline=timeline)
    assert state.timeline == timeline
    for _ in range(20):
        x = data.draw(st.integers(0, state.n - 1))
        m, _d = data.draw(st.sampled_from(state.elig[x]))
        size = len(state.seq[m]) - (state.mach[x] == m)
        p = data.draw(st.integers(0, size))
        before = state.assignments(), state.figures(), state.sig
        if not state.relocate(x, m, p):
            assert (state.assignments(), state.figures(), state.sig) == before
            continue
        rows = state.assignments()
        assert verify(inst, rows) == []
        fresh = Sequencing(inst, Schedule(rows))
        assert fresh.assignments() == rows and fresh.sig == state.sig
        assert state.figures() == fresh.figures() == figures_of(Schedule(rows), inst)
        if data.draw(st.booleans()):
            state.undo()
            assert (state.assignments(), state.figures(), state.sig) == before
        else:
            state.keep()


@needs_native
@RUN
@given(inst=plants(), objective=st.sampled_from(OBJECTIVE_NAMES))
def test_same_schedule_whichever_timeline_ran_the_dispatch(inst, objective):
    plans = [schedule(inst, rule="window", objective=objective, improve_iterations=20,
                      options={"timeline": name}) for name in ("python", "native")]
    assert [p.info["timeline"] for p in plans] == ["python", "native"]
    assert [p.info["retime"] for p in plans] == ["python", "native"]  # the optimiser's re-timing
    assert plans[0].assignments == plans[1].assignments
    assert verify(inst, plans[1]) == []


_HASHSEED_SCRIPT = """
import hashlib, json, sys
sys.path.insert(0, {bench!r})
from engine import make_instance
from prodsched.engine import schedule
inst = make_instance(240, seed=3)
plan = schedule(inst, rule="window", objective=sys.argv[1], improve_iterations=40, seed=5)
print(json.dumps([hashlib.sha256(repr(plan.assignments).encode()).hexdigest(),
                  plan.info["iterations"], plan.info["value"]]))
"""


@pytest.mark.parametrize("objective", ["tardiness", "setups"])
def test_same_schedule_whatever_the_hash_seed(objective):
    outs = printed_per_hash_seed(_HASHSEED_SCRIPT.format(bench=str(REPO / "benchmarks")), objective)
    assert outs[0] == outs[1] and outs[0][1] == 40


def printed_per_hash_seed(script: str, *args: str) -> list:
    """The JSON that ``python -c script *args`` prints under PYTHONHASHSEED 1 and under 4242."""
    outs = []
    for hashseed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(REPO))
        done = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        outs.append(json.loads(done.stdout))
    return outs


# -- each neighbourhood improves a case made for it ----------------------------------------
def only(*names, **search):
    return {"search": {"neighbourhoods": names, **search}}


def test_critical_block_moves_shorten_the_makespan():
    # J1: a (M1, 1) -> b (M2, 5); J2: c (M1, 5) -> d (M2, 1). Starting with c before a on M1
    # gives 11; a before c gives 7.
    ops = (op("a", "J1", {"M1": 1}), op("b", "J1", {"M2": 5}, seq=2, predecessors=("a",)),
           op("c", "J2", {"M1": 5}), op("d", "J2", {"M2": 1}, seq=2, predecessors=("c",)))
    inst = Instance(ops, (Machine("M1"), Machine("M2")))
    start = Schedule((Assignment("c", "M1", 0, 5), Assignment("a", "M1", 5, 6),
                      Assignment("d", "M2", 5, 6), Assignment("b", "M2", 6, 11)))
    assert verify(inst, start) == [] and start.makespan == 11
    plan = improved(inst, start, objective="makespan", iterations=5,
                    options=only("critical"))
    assert plan.makespan == 7 and plan.info["last_improvement"] >= 1


def test_reassignment_moves_work_to_an_idle_machine():
    ops = tuple(op(f"o{i}", durations={"M1": 3, "M2": 4}) for i in range(4))
    inst = Instance(ops, (Machine("M1"), Machine("M2")))
    start = Schedule(tuple(Assignment(f"o{i}", "M1", 3 * i, 3 * i + 3) for i in range(4)))
    plan = improved(inst, start, objective="makespan", iterations=10,
                    options=only("reassign"))
    assert plan.makespan == 8  # two on each machine (M2 takes 4 per operation)
    assert {a.machine for a in plan.assignments} == {"M1", "M2"}


def test_setup_moves_group_the_same_mixture():
    mixtures = "ABABAB"
    ops = tuple(op(f"o{i}", mixture=mx) for i, mx in enumerate(mixtures))
    inst = Instance(ops, (Machine("M1"),), {("C", "C"): 3})
    start = schedule(inst, rule="spt", options={})  # spt keeps the given order here: A B A B ...
    start_fig = figures_of(start, inst)
    assert start_fig.setup_slots == 15
    plan = improved(inst, start, objective="setups", iterations=20, options=only("setups"))
    assert figures_of(plan, inst).setup_slots == 3  # AAA then BBB: one change


@pytest.mark.parametrize("timeline", TIMELINE_NAMES)
def test_a_run_of_one_mixture_moves_as_a_whole(timeline):
    """A A B B A A: moving one A of the second run next to the first saves nothing (the other A
    then changes from B), moving the run A A together saves two changes."""
    from prodsched.engine.neighbourhoods import Neighbourhoods, apply_move

    ops = tuple(op(f"o{i}", mixture=mx) for i, mx in enumerate("AABBAA"))
    inst = Instance(ops, (Machine("M1"),), {("C", "C"): 3})
    start = schedule(inst, rule="spt", options={})  # spt keeps the given order here
    assert figures_of(start, inst).setup_slots == 6
    state = Sequencing(inst, start, timeline=timeline)
    moves = Neighbourhoods(state, "setups", 48, ("setups",))
    assert (4, 0, 2, (5,)) in moves._run_moves(4)  # o4 right after o1, o5 right after o4
    assert apply_move(state, (4, 0, 2, (5,))) == 2
    assert [ops[x].id for x in state.seq[0]] == ["o0", "o1", "o4", "o5", "o2", "o3"]
    assert state.figures().setup_slots == 3 and verify(inst, state.assignments()) == []
    state.undo()
    state.undo()
    assert state.assignments() == Sequencing(inst, start).assignments()
    # no single relocation saves a change here: one iteration gets there by a run move
    plan = improved(inst, start, objective="setups", iterations=1, options=only("setups"))
    assert figures_of(plan, inst).setup_slots == 3


def test_pull_moves_bring_a_late_job_forward():
    # y (due 2) waits behind x (due 10) on the only machine: pulling it first makes both on time
    ops = (op("x", durations={"M1": 5}, due_slot=10), op("y", durations={"M1": 2}, due_slot=2))
    inst = Instance(ops, (Machine("M1"),))
    start = Schedule((Assignment("x", "M1", 0, 5), Assignment("y", "M1", 5, 7)))
    assert figures_of(start, inst).tardiness == 5
    plan = improved(inst, start, objective="tardiness", iterations=3, options=only("pull"))
    assert figures_of(plan, inst).tardiness == 0


def test_late_chain_moves_reduce_tardiness():
    # J2's second step on M2 waits behind J1's long one; J2 is due early, J1 late
    ops = (op("a", "J1", {"M1": 1}, due_slot=50), op("b", "J1", {"M2": 6}, seq=2,
                                                      predecessors=("a",), due_slot=50),
           op("c", "J2", {"M1": 1}, due_slot=4), op("d", "J2", {"M2": 2}, seq=2,
                                                     predecessors=("c",), due_slot=4))
    inst = Instance(ops, (Machine("M1"), Machine("M2")))
    start = Schedule((Assignment("a", "M1", 0, 1), Assignment("c", "M1", 1, 2),
                      Assignment("b", "M2", 1, 7), Assignment("d", "M2", 7, 9)))
    assert verify(inst, start) == [] and figures_of(start, inst).tardiness == 5
    plan = improved(inst, start, objective="tardiness", iterations=5, options=only("late"))
    assert figures_of(plan, inst).tardiness == 0


def test_setups_on_both_sides_of_a_gap_and_downtime_hold_after_moves():
    """A machine with downtime and width changeovers: whatever the search does, the verifier
    (which charges setups before each operation and forbids downtime under setups) agrees."""
    ops = tuple(op(f"o{i}", f"J{i}", {"M1": 2 + i % 3, "M2": 3}, width=(1000, 1500)[i % 2],
                   mixture="AB"[i % 3 == 0], due_slot=4 * i) for i in range(12))
    inst = Instance(ops, (Machine("M1", ((5, 8), (20, 22)), 2, 1), Machine("M2", ((3, 4),), 1, 1)),
                    {("C", "C"): 2})
    for objective in OBJECTIVE_NAMES:
        start = schedule(inst, rule="edd")
        plan = improved(inst, start, objective=objective, iterations=60)
        assert value(plan, inst, objective) <= value(start, inst, objective)


# -- budget, cap, cancel, progress ---------------------------------------------------------
def big(n_jobs=60):
    ops = []
    for j in range(n_jobs):
        prev = ()
        for s in (1, 2, 3):
            oid = f"J{j:03d}-{s}"
            ops.append(op(oid, f"J{j:03d}", {"M1": 1 + (j + s) % 4, "M2": 2 + j % 3,
                                               "M3": 1 + s}, seq=s, predecessors=prev,
                          mixture=f"m{j % 4}", due_slot=3 * j, op_class="AB"[s % 2]))
            prev = (oid,)
    return Instance(tuple(ops), (Machine("M1", ((30, 34),), 1, 1), Machine("M2"), Machine("M3")),
                    {("A", "B"): 2, ("B", "A"): 1})


def test_the_time_cap_is_recorded():
    inst = big()
    start = schedule(inst)
    none = improved(inst, start, iterations=50, time_limit_s=0)
    assert none.info["capped"] is True and none.info["iterations"] == 0
    assert value(none, inst, "tardiness") <= value(start, inst, "tardiness")
    cut = improved(inst, start, iterations=10**7, time_limit_s=0.3)
    assert cut.info["capped"] is True and 0 < cut.info["iterations"] < 10**7
    full = improved(inst, start, iterations=5, time_limit_s=60)
    assert full.info["capped"] is False and full.info["iterations"] == 5


def test_cancel_returns_the_best_so_far():
    inst = big()
    start = schedule(inst)
    stop = threading.Event()
    seen = []
    first = value(start, inst, "tardiness")

    def progress(iteration, best):
        seen.append((iteration, best))
        if best < first:
            stop.set()  # pressed as soon as the first improvement shows

    plan = improved(inst, start, iterations=10**6, progress=progress, cancel=stop)
    assert plan.info["cancelled"] is True and plan.info["iterations"] < 10**6
    assert seen and value(plan, inst, "tardiness") == seen[-1][1]
    assert value(plan, inst, "tardiness") < value(start, inst, "tardiness")


def test_progress_reports_iterations_and_best_values():
    inst = big()
    calls = []
    plan = schedule(inst, improve_iterations=60, on_iteration=lambda i, v: calls.append((i, v)))
    assert calls and calls[-1] == (60, tuple(plan.info["value"]))
    iterations = [i for i, _ in calls]
    values = [v for _, v in calls]
    assert iterations == sorted(iterations) and values == sorted(values, reverse=True)
    assert plan.info["objective"] == "tardiness" and plan.info["iterations"] == 60


def test_schedule_runs_dispatch_then_the_optimiser():
    inst = big()
    dispatch = schedule(inst, rule="edd", seed=2)
    plan = schedule(inst, rule="edd", objective="makespan", improve_iterations=80, seed=2)
    assert verify(inst, plan) == []
    assert plan.info["start_value"] == list(value(dispatch, inst, "makespan"))
    assert plan.makespan < dispatch.makespan
    fractions = []
    schedule(inst, rule="edd", improve_iterations=30, progress=lambda f, m: fractions.append(f))
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)


@pytest.mark.parametrize("kw, message", [
    ({"iterations": -1}, "iterations must be >= 0"),
    ({"objective": "quickest"}, "unknown objective 'quickest'"),
    ({"options": {"search": {"stall": -3}}}, "stall"),
    ({"options": {"search": {"grow": 0}}}, "grow"),
    ({"options": {"search": {"speed": 3}}}, "unknown setting"),
    ({"options": {"search": {"neighbourhoods": ["swap"]}}}, "choose from critical"),
    ({"options": {"search": {"first": "yes"}}}, r"\['first'\] must be True or False"),
    ({"options": {"weights": {"tardy": 1}}, "objective": "weighted"}, "unknown weight"),
])
def test_bad_settings_are_named(kw, message):
    inst = big(5)
    with pytest.raises(ValueError, match=message):
        improve(inst, schedule(inst), **kw)


@pytest.mark.parametrize("timeline", TIMELINE_NAMES)
def test_first_improvement_takes_an_improving_move_without_trying_the_rest(timeline):
    """By default an iteration stops at the first allowed move that improves the current
    schedule; with ``first: False`` it tries every candidate and takes the best. Both are
    verified, never worse than the start and repeatable."""
    inst = big(60)
    start = schedule(inst, rule="window")
    runs = {}
    for first in (True, False):
        kw = dict(objective="tardiness", iterations=40, seed=3, timeline=timeline,
                  options={"search": {"first": first, "candidates": 48}})
        plan = improved(inst, start, **kw)
        assert value(plan, inst, "tardiness") <= value(start, inst, "tardiness")
        assert improve(inst, start, **kw).assignments == plan.assignments
        runs[first] = plan.info
    assert runs[True]["retime"] == timeline
    assert runs[True]["value"] < runs[True]["start_value"]
    # every iteration of the full sample tries up to 48 moves; the first improving one ends it sooner
    assert runs[True]["evaluations"] < runs[False]["evaluations"]
    assert runs[False]["evaluations"] > 40 * 20


def test_the_tardiness_sample_grows_with_the_instance_and_a_given_size_wins():
    from prodsched.engine.improve import _search_settings

    assert _search_settings(None, "tardiness", 150)["candidates"] == 12
    assert _search_settings(None, "tardiness", 2_400)["candidates"] == 24
    assert _search_settings(None, "tardiness", 50_000)["candidates"] == 48
    assert _search_settings(None, "makespan", 150)["candidates"] == 48
    assert _search_settings({"candidates": 30}, "tardiness", 150)["candidates"] == 30
    inst = big(30)
    plan = improved(inst, schedule(inst, rule="window"), objective="tardiness", iterations=5)
    assert plan.info["evaluations"] <= 5 * 12  # (no new best can grow it within 25 iterations)


def test_position_ranges_read_and_sample_as_the_list_of_their_moves():
    import random

    from prodsched.engine.positions import PositionRanges

    ranges = PositionRanges()
    for x, m, first, stop in ((4, 1, 0, 3), (4, 2, 5, 5), (7, 0, 2, 6)):
        ranges.add(x, m, first, stop)
    moves = [(4, 1, 0), (4, 1, 1), (4, 1, 2), (7, 0, 2), (7, 0, 3), (7, 0, 4), (7, 0, 5)]
    assert len(ranges) == 7 and list(ranges) == moves and ranges[-1] == (7, 0, 5)
    with pytest.raises(IndexError):
        ranges[7]
    assert random.Random(5).sample(ranges, 4) == random.Random(5).sample(moves, 4)
    assert len(PositionRanges()) == 0 and list(PositionRanges()) == []


def test_an_infeasible_start_is_refused_naming_the_violation():
    inst = Instance((op("a"), op("b")), (Machine("M1"),))
    overlapping = Schedule((Assignment("a", "M1", 0, 2), Assignment("b", "M1", 1, 3)))
    with pytest.raises(ValueError, match="start schedule is not feasible.*overlaps"):
        improve(inst, overlapping)


def test_schedule_checks_its_optimiser_settings():
    inst = big(5)
    with pytest.raises(ValueError, match="improve_iterations must be >= 0"):
        schedule(inst, improve_iterations=-2)
    with pytest.raises(ValueError, match="unknown objective"):
        schedule(inst, objective="nope")


# -- plant-shaped data ------------------------------------------------------------------------
def test_on_a_tight_plant_sample_both_re_timings_cut_tardiness_and_setups(tmp_path):
    """A tight sample factory (150 orders, tightness 7): a fixed budget from the window rule
    gives the same schedule with the Python and the compiled re-timing, verified, with less
    tardiness and fewer setup slots than the rule."""
    from prodsched.inputs.sample import write_sample
    from prodsched.params import Params
    from prodsched.stages import run_stage
    from prodsched.stages.schedule import as_graph, build_instance

    write_sample(tmp_path / "data", orders=150, seed=0, tightness=7.0)
    params = Params(data=str(tmp_path / "data"))
    inputs: dict = {}
    for stage in ("load", "preprocess", "yield", "dag"):
        inputs.update(run_stage(stage, inputs, params).artifacts)
    inst = build_instance(as_graph(inputs["dag"]), inputs)
    start = schedule(inst, rule="window")
    before = figures_of(start, inst)
    assert before.late_jobs > 0
    names = ["python"] + (["native"] if _native_timeline() is not None else [])
    plans = [improved(inst, start, objective="tardiness", iterations=150, seed=1, timeline=name)
             for name in names]
    assert [p.info["retime"] for p in plans] == names
    assert all(p.assignments == plans[0].assignments for p in plans)
    after = figures_of(plans[0], inst)
    assert after.tardiness < before.tardiness and after.setup_slots < before.setup_slots
