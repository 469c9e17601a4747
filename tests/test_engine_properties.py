"""Random plants: every rule's schedule verifies, and the same input + seed repeats exactly."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodsched.engine import Instance, Machine, Operation, schedule, verify

CLASSES = "ABC"


@st.composite
def plants(draw):
    n_machines = draw(st.integers(1, 4))
    codes = [f"M{i}" for i in range(1, n_machines + 1)]
    machines = []
    for code in codes:
        starts = sorted(draw(st.lists(st.integers(0, 80), max_size=3, unique=True)))
        downtime = tuple((s, s + draw(st.integers(1, 8))) for s in starts)
        machines.append(Machine(code, downtime, draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    class_setup = draw(st.dictionaries(st.tuples(st.sampled_from(CLASSES), st.sampled_from(CLASSES)),
                                       st.integers(0, 5), max_size=9))
    ops: list[Operation] = []
    for j in range(draw(st.integers(1, 8))):
        width = draw(st.sampled_from([1000, 1300, 1500]))
        due = draw(st.integers(0, 80))
        prev: tuple[str, ...] = ()
        for seq in range(1, draw(st.integers(1, 4)) + 1):
            eligible = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=n_machines,
                                     unique=True))
            durations = {m: draw(st.integers(1, 6)) for m in eligible}
            preds = prev
            if ops and draw(st.integers(0, 5)) == 0:  # an assembly: also wait for an earlier job
                preds = tuple(dict.fromkeys(prev + (draw(st.sampled_from(ops)).id,)))
            op_id = f"J{j}-{seq}"
            ops.append(Operation(op_id, f"J{j}", seq, draw(st.sampled_from(CLASSES)),
                                 draw(st.sampled_from(["", "m1", "m2"])), width, due,
                                 draw(st.sampled_from([0, 0, 1, 3])), durations, preds,
                                 draw(st.sampled_from(["coat", "print", ""]))))
            prev = (op_id,)
    return Instance(tuple(ops), tuple(machines), class_setup)


def latest_first(op, state):
    """A user rule: latest due first, preferring ops whose machine is free."""
    return (-op.due_slot, min(state.available(m) for m in op.durations))


RUN = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RUN
@given(inst=plants(), seed=st.integers(0, 3), window=st.sampled_from([0, 0.1, 1, 5]))
def test_every_rule_gives_a_feasible_repeatable_schedule(inst, seed, window):
    for rule in ("window", "edd", "spt", "atcs", latest_first):
        plan = schedule(inst, rule=rule, seed=seed, window_days=window)
        assert verify(inst, plan) == [], rule
        assert len(plan) == len(inst.operations)
        again = schedule(inst, rule=rule, seed=seed, window_days=window)
        assert again.assignments == plan.assignments


@RUN
@given(inst=plants())
def test_reported_setups_and_ready_times_hold(inst):
    plan = schedule(inst)
    assert verify(inst, plan) == []
    at = plan.by_op()
    for op in inst.operations:
        a = at[op.id]
        assert a.end - a.start == op.durations[a.machine]
        for pid in op.predecessors:
            assert a.start >= at[pid].end + inst.op(pid).aging_slots
    assert plan.setup_slots == sum(a.setup for a in plan.assignments)
