"""The CP-SAT back-end: same semantics as the verifier, never worse than its start, deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from test_engine_properties import plants

from cli_helpers import cli_env, run_cli
from prodsched.engine import Instance, Machine, Operation, figures_of, get_objective, register_objective, schedule, verify
from prodsched.engine import cpsat
from prodsched.errors import ProdschedError

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"


def small_plant() -> Instance:
    """Two jobs on two machines where the dispatch rule leaves a setup the solver can avoid."""
    ops = [
        Operation("A1", "A", 1, "X", durations={"M1": 3, "M2": 4}, due_slot=6),
        Operation("A2", "A", 2, "Y", durations={"M1": 2}, due_slot=6, predecessors=("A1",)),
        Operation("B1", "B", 1, "Y", durations={"M1": 2, "M2": 2}, due_slot=4),
        Operation("B2", "B", 2, "X", durations={"M2": 3}, due_slot=9, predecessors=("B1",), aging_slots=0),
    ]
    machines = (Machine("M1", ((9, 11),), 1, 2), Machine("M2", (), 0, 0))
    return Instance(tuple(ops), machines, {("X", "Y"): 3, ("Y", "X"): 2})


@pytest.mark.parametrize("objective", ["tardiness", "makespan", "setups"])
def test_solution_verifies_and_is_never_worse_than_its_start(objective):
    inst = small_plant()
    start = schedule(inst, "edd")
    result = cpsat.solve(inst, objective, hint=start, work_units=2)
    assert verify(inst, result.schedule) == []
    key = get_objective(objective).value
    assert key(result.figures, None) <= key(figures_of(start, inst), None)
    assert result.status in ("OPTIMAL", "FEASIBLE")
    if result.status == "OPTIMAL":
        assert result.bound is not None and result.bound <= key(result.figures, None)[0]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plants())
def test_random_plants_verify_with_setups_downtime_aging_and_eligibility(instance):
    start = schedule(instance, "window")
    result = cpsat.solve(instance, "tardiness", hint=start, work_units=0.5)
    assert verify(instance, result.schedule) == []
    assert get_objective("tardiness").value(result.figures, None) <= \
        get_objective("tardiness").value(figures_of(start, instance), None)


def test_same_input_and_budget_give_the_same_schedule():
    inst = small_plant()
    a = cpsat.solve(inst, "makespan", work_units=1, seed=3)
    b = cpsat.solve(inst, "makespan", work_units=1, seed=3)
    assert a.schedule.assignments == b.schedule.assignments


def test_objectives_it_cannot_model_and_oversized_models_are_refused(monkeypatch):
    inst = small_plant()
    register_objective("only_python", lambda f, o: (f.late_jobs,), replace=True)
    with pytest.raises(ProdschedError, match="registered in Python only"):
        cpsat.solve(inst, "only_python", work_units=1)
    monkeypatch.setattr(cpsat, "MAX_ARCS", 5)
    with pytest.raises(ProdschedError, match="sequencing literals"):
        cpsat.solve(inst, "tardiness", work_units=1)


def test_an_infeasible_start_is_refused_with_the_reason():
    inst = small_plant()
    start = schedule(inst, "edd")
    broken = start.__class__(assignments=tuple(a._replace(start=a.start + 100, end=a.end + 99)
                                               for a in start.assignments))
    with pytest.raises(ProdschedError, match="start schedule given to CP-SAT is infeasible"):
        cpsat.solve(inst, "tardiness", hint=broken, work_units=1)


def test_cli_solver_cpsat_runs_a_plant_and_reports(tmp_path):
    from prodsched.inputs.sample import write_sample

    data = write_sample(tmp_path / "data", orders=30, seed=5)
    env = cli_env(tmp_path / "s.db")
    proc = run_cli(env, "run", data, "--out", tmp_path / "out", "--solver", "cpsat", "--objective", "setups",
                   "--time-limit", "30", "-q", timeout=600)
    assert proc.returncode == 0, proc.stderr
    kpis = json.loads((tmp_path / "out" / "kpis.json").read_text())
    assert kpis["violations"] == 0 and kpis["solver"] == "cpsat"
    assert kpis["solver_status"] in ("OPTIMAL", "FEASIBLE")
    value = [float(v) for v in kpis["objective_value"].split(", ")]
    start = [float(v) for v in kpis["dispatch_objective_value"].split(", ")]
    assert value <= start
    bad = run_cli(env, "run", data, "--out", tmp_path / "x", "--solver", "cpsat", "--objective", "only_python",
                  timeout=120)
    assert bad.returncode == 2 and "--objective" in bad.stderr


def test_pins_stay_put_and_nothing_new_starts_before_now():
    inst = small_plant()
    start = schedule(inst, "edd")
    first = min(start.assignments, key=lambda a: (a.start, a.op_id))
    pinned = Instance(inst.operations, inst.machines, inst.class_setup, now=first.end,
                      pins={first.op_id: (first.machine, first.start)})
    hint = schedule(pinned, "edd")
    result = cpsat.solve(pinned, "makespan", hint=hint, work_units=2)
    assert verify(pinned, result.schedule) == []
    placed = result.schedule.by_op()[first.op_id]
    assert (placed.machine, placed.start) == (first.machine, first.start)
    assert all(a.start - a.setup >= first.end for a in result.schedule.assignments if a.op_id != first.op_id)
