"""The independent verifier catches every kind of planted violation."""

from __future__ import annotations

import pytest

from prodsched.engine import Assignment, Instance, Machine, Operation, schedule, verify


def plant():
    ops = (
        Operation("a1", "A", 1, "X", "m1", 1500, 20, 2, {"M1": 3, "M2": 4}),
        Operation("a2", "A", 2, "Y", "", 1500, 20, 0, {"M1": 2}, ("a1",)),
        Operation("b1", "B", 1, "X", "m2", 1000, 30, 0, {"M1": 2, "M2": 2}),
        Operation("b2", "B", 2, "Y", "", 1000, 30, 0, {"M2": 3}, ("b1",)),
    )
    machines = (Machine("M1", ((20, 24),), long_to_short=1, short_to_long=2), Machine("M2"))
    return Instance(ops, machines, {("X", "Y"): 2, ("Y", "X"): 3, ("X", "X"): 1})


# A hand-made feasible plan: M1 runs a1 [0,3), then a2 after aging 2 and setup X->Y 2 at [5,7),
# then b1 (Y->X 3, narrower 1) at [10,12); M2 runs b2 after b1 at [12,15).
GOOD = [Assignment("a1", "M1", 0, 3, 0), Assignment("a2", "M1", 5, 7, 2),
        Assignment("b1", "M1", 10, 12, 3), Assignment("b2", "M2", 12, 15, 0)]


def checks(found):
    return sorted({v.check for v in found})


def with_changed(op_id, **changes):
    return [a._replace(**changes) if a.op_id == op_id else a for a in GOOD]


def test_a_feasible_plan_has_no_violations():
    assert verify(plant(), GOOD) == []
    engine_plan = schedule(plant())
    assert verify(plant(), engine_plan) == []


def test_overlap():
    found = verify(plant(), with_changed("b1", start=6, end=8, setup=0))
    assert "overlap" in checks(found)
    v = next(v for v in found if v.check == "overlap")
    assert set(v.op_ids) == {"b1", "a2"} and "M1" in v.message


def test_missing_setup_before_an_operation():
    found = verify(plant(), with_changed("b1", start=8, end=10))
    assert checks(found) == ["setup"]
    assert found[0].op_ids == ("b1", "a2") and "needs a setup of 3" in found[0].message


def test_misreported_setup():
    found = verify(plant(), with_changed("b1", setup=1))
    assert checks(found) == ["setup_charged"]


def test_mixture_change_within_a_class_needs_its_setup():
    inst = plant()
    plan = [Assignment("a1", "M2", 0, 4, 0), Assignment("b1", "M2", 4, 6, 1)]
    found = [v for v in verify(inst, plan) if v.op_id == "b1"]
    assert [v.check for v in found] == ["setup"]  # X/m1 -> X/m2 costs the (X, X) pair


def test_first_operation_on_a_machine_needs_no_setup():
    found = verify(plant(), with_changed("a1", setup=2))
    assert checks(found) == ["setup_charged"]


def test_operation_overlapping_downtime():
    found = verify(plant(), with_changed("b1", start=19, end=21))
    assert "downtime" in checks(found)
    assert any("[20, 24)" in v.message for v in found if v.check == "downtime")


def test_setup_overlapping_downtime():
    # b1 at [25, 27) is clear of the downtime [20, 24) but its 3 setup slots [22, 25) are not
    plan = with_changed("b1", start=25, end=27)
    plan = [a._replace(start=a.start + 15, end=a.end + 15) if a.op_id == "b2" else a for a in plan]
    found = verify(plant(), plan)
    assert checks(found) == ["downtime"] and "setup of b1" in found[0].message


def test_precedence_and_aging():
    found = verify(plant(), with_changed("b2", start=11, end=14))
    assert checks(found) == ["precedence"] and found[0].op_ids == ("b2", "b1")
    found = verify(plant(), with_changed("a2", start=4, end=6, setup=0))
    assert "aging" in checks(found)  # a1 ends at 3 and must age 2 slots


def test_wrong_duration():
    found = verify(plant(), with_changed("b2", end=14))
    assert checks(found) == ["duration"] and "needs 3" in found[0].message


def test_ineligible_and_unknown_machine():
    assert "eligibility" in checks(verify(plant(), with_changed("a2", machine="M2")))
    assert checks(verify(plant(), with_changed("b2", machine="M7"))) == ["machine"]


def test_missing_duplicate_and_unknown_operations():
    found = verify(plant(), GOOD[:-1])
    assert checks(found) == ["missing"] and found[0].op_id == "b2"
    found = verify(plant(), GOOD + [GOOD[0]])
    assert checks(found) == ["duplicate"]
    found = verify(plant(), GOOD + [Assignment("zz", "M2", 40, 41, 0)])
    assert checks(found) == ["unknown_op"]


@pytest.mark.parametrize("start, end", [(-3, 0), (5, 5)])
def test_invalid_interval(start, end):
    found = verify(plant(), with_changed("b2", start=start, end=end))
    assert "horizon" in checks(found)


def test_violation_as_dict():
    v = verify(plant(), GOOD[:-1])[0]
    assert v.to_dict() == {"op_id": "b2", "check": "missing", "message": "b2 is not scheduled"}
