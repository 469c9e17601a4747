"""The compiled timeline against the Python reference: identical schedules, every rule."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import latest_first, plants

from prodsched.engine import schedule, verify
from prodsched.engine.timeline import Timeline, _native_timeline, timeline_class

NATIVE = _native_timeline()
needs_native = pytest.mark.skipif(NATIVE is None, reason="compiled timeline not built here")
RULES = ("window", "edd", "spt", "atcs", latest_first)


def test_native_is_built_where_required():
    # scripts/test.sh sets this: the install must have compiled it
    if os.environ.get("PRODSCHED_REQUIRE_NATIVE") != "1":
        pytest.skip("PRODSCHED_REQUIRE_NATIVE is not set")
    assert NATIVE is not None and timeline_class() is NATIVE


def test_timeline_names():
    assert timeline_class("python") is Timeline
    with pytest.raises(ValueError, match="unknown timeline 'fast'"):
        timeline_class("fast")


@needs_native
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=plants(), seed=st.integers(0, 3), window=st.sampled_from([0, 0.1, 1, 5]))
def test_native_and_python_give_the_same_schedule(inst, seed, window):
    for rule in RULES:
        ref = schedule(inst, rule=rule, seed=seed, window_days=window,
                       options={"timeline": "python"})
        fast = schedule(inst, rule=rule, seed=seed, window_days=window,
                        options={"timeline": "native"})
        assert fast.info["timeline"] == "native" and ref.info["timeline"] == "python"
        assert fast.assignments == ref.assignments, rule
        assert verify(inst, fast) == []


@needs_native
@pytest.mark.parametrize("rule", ["window", "edd", "atcs"])
def test_same_schedule_on_a_benchmark_plant(rule):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from engine import make_instance
    finally:
        sys.path.pop(0)
    inst = make_instance(1500, seed=7)
    ref = schedule(inst, rule=rule, options={"timeline": "python"})
    fast = schedule(inst, rule=rule, options={"timeline": "native"})
    assert fast.assignments == ref.assignments
    assert verify(inst, fast) == []
