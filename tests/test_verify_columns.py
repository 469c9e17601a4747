"""The verifier's column checks: times against slots and copied attributes against the graph."""

from __future__ import annotations

import pandas as pd
from test_results import make_world  # tests/ is on sys.path under pytest

from prodsched.stages.schedule import verify


def _findings(schedule, world):
    return sorted((v["op_id"], v["check"], v["message"]) for v in verify(schedule, world["dag"], world))


def test_a_consistent_schedule_has_no_findings():
    world = make_world()
    assert _findings(world["schedule"], world) == []


def test_each_tampered_column_is_named_with_its_operation():
    world = make_world()
    s = world["schedule"].copy()
    first, second = s["op_id"].iloc[0], s["op_id"].iloc[1]
    s.loc[0, "start_time"] = s.loc[0, "start_time"] + pd.Timedelta(minutes=1)
    s.loc[1, "job_id"] = "J9"
    s.loc[1, "width_mm"] = 1
    s.loc[0, "due"] = pd.Timestamp("2030-01-01")
    found = _findings(s, world)
    checks = [(op, check) for op, check, _ in found]
    assert (first, "start_time") in checks and (first, "attributes") in checks
    assert checks.count((second, "attributes")) == 2
    messages = " | ".join(m for _, _, m in found)
    assert f"{second}: job_id is 'J9', the graph says" in messages
    assert f"{second}: width_mm is 1, the graph says" in messages
    assert f"{first}: due is 2030-01-01 00:00:00, the graph says" in messages
    assert f"{first}: start_time" in messages and "does not match slot start" in messages
    untouched = set(s["op_id"]) - {first, second}
    assert not [f for f in found if f[0] in untouched]


def test_a_missing_due_on_both_sides_is_not_a_finding():
    world = make_world()
    s = world["schedule"].copy()
    op = s["op_id"].iloc[0]
    world["dag"].nodes[op]["due"] = None
    s.loc[0, "due"] = pd.NaT
    assert [f for f in _findings(s, world) if f[1] == "attributes"] == []
