"""The compiled timeline against the Python reference: identical schedules, every rule."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import latest_first, plants

from prodsched.engine import Instance, Machine, Operation, SetupTable, schedule, verify
from prodsched.engine.core import Core
from prodsched.engine.timeline import Timeline, _native_timeline, timeline_class

NATIVE = _native_timeline()
needs_native = pytest.mark.skipif(NATIVE is None, reason="compiled timeline not built here")
RULES = ("window", "edd", "spt", "atcs", "mwkr", "mwkr_es", latest_first)


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
@pytest.mark.parametrize("rule", ["window", "edd", "atcs", "mwkr_es"])
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


@needs_native
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), downtime=st.booleans())
def test_long_lines_answer_every_search_alike(seed, downtime):
    """Hundreds of gaps on one machine (many capacity blocks, inserts and removals in the middle
    of them): every search, bounded or not, gets the same answer from both timelines: the same
    start and setup, in the same gap (named by its end slot: the index of a gap is each
    timeline's own handle) or after the last operation."""
    rng = random.Random(seed)
    n = 700
    ops = [Operation(f"o{i}", f"o{i}", 1, rng.choice("ABC"), rng.choice(["", "X", "Y"]),
                     rng.choice([1000, 1300]), durations={"M1": rng.randint(1, 6)})
           for i in range(n)]
    dts = tuple((t, t + 7) for t in range(150, 9000, 400)) if downtime else ()
    machine = Machine("M1", dts, 1, 2)
    table = SetupTable(ops, [machine], {("A", "B"): 2, ("B", "C"): 3, ("C", "A"): 1,
                                        ("A", "A"): 1})
    classes = sorted(set(table.cls))
    ref = Timeline(table, [machine.downtime], [classes], [1]).lines[0]
    fast = NATIVE(table, [machine.downtime], [classes], [1]).lines[0]
    gaps_seen = 0
    for x, o in enumerate(ops):
        d = o.durations["M1"]
        r = rng.randint(0, 12 * x + 10)  # ready times spread out: gaps form, later ones fill them
        queries = [(x, d, r), (x, d, r, r + d + rng.randint(0, 40))]
        for _ in range(6):  # other operations, sizes and ready times against the same line
            q = (rng.randrange(n), rng.randint(1, 12), rng.randint(0, ref.tail + 5))
            queries += [q, (*q, q[1] + q[2] + rng.randint(0, 200))]
        for args in queries:
            assert _answer(fast, fast.find(*args)) == _answer(ref, ref.find(*args)), args
        ref.place(x, d, *ref.find(x, d, r))
        fast.place(x, d, *fast.find(x, d, r))
        gaps_seen = max(gaps_seen, len(ref.gap_ends))
    assert gaps_seen > 3 * 64, gaps_seen  # the searches crossed several capacity blocks
    assert fast.starts == ref.starts and fast.ends == ref.ends and fast.ops == ref.ops
    assert fast.cur == list(ref.cur)


@needs_native
@pytest.mark.parametrize("downtime", [False, True])
def test_filled_gaps_go_and_searches_still_agree(downtime):
    """Gaps filled exactly are dropped from every index: searches before, during and after
    that agree with the reference, and so does the line at the end."""
    rng = random.Random(3)
    n = 600
    ops = [Operation(f"o{i}", f"o{i}", 1, "A", "", 1000, durations={"M1": 5}) for i in range(n)]
    dts = ((2003, 2009), (2500, 2503)) if downtime else ()
    machine = Machine("M1", dts)
    table = SetupTable(ops, [machine], {})
    ref = Timeline(table, [machine.downtime], [[0]], [5]).lines[0]
    fast = NATIVE(table, [machine.downtime], [[0]], [5]).lines[0]
    gaps = []
    for x in range(n):
        # first 250 ops at 10-slot steps leave a 5-slot gap after each; the rest fill them
        r = 10 * x if x < 250 else 0
        for args in [(x, 5, r), (x, 5, r, r + 40), (x, rng.randint(1, 9), rng.randint(0, 3000))]:
            assert _answer(fast, fast.find(*args)) == _answer(ref, ref.find(*args)), (x, args)
        ref.place(x, 5, *ref.find(x, 5, r))
        fast.place(x, 5, *fast.find(x, 5, r))
        gaps.append(len(ref.gap_ends))
    assert max(gaps) > 200 and gaps[-1] < max(gaps) - 150  # many gaps came and went
    assert fast.starts == ref.starts and fast.ends == ref.ends and fast.ops == ref.ops
    assert fast.gap_limit == ref.gap_limit


def _answer(line, found):
    """A search result with the gap named by its end slot (-1: after the last operation)."""
    if found is None:
        return None
    t, s, k = found
    return t, s, -1 if k < 0 else line.gap_end(k)


@needs_native
@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(-5, 5), st.sampled_from([0, 1000, 1300, 2**40]),
                               st.text(min_size=0, max_size=3)), max_size=60))
def test_compiled_priority_order_is_sorted_order(rows):
    from prodsched.engine._native.load import priority_order

    dues, widths, ids = ([r[k] for r in rows] for k in range(3))
    expected = sorted(range(len(rows)), key=lambda i: (dues[i], -widths[i], ids[i]))
    assert priority_order(dues, widths, ids) == expected


@needs_native
def test_compiled_priority_order_leaves_other_types_to_sorted():
    from prodsched.engine._native.load import priority_order

    assert priority_order([1, 2.5], [1, 1], ["a", "b"]) is None
    assert priority_order([1, 2], [1, True], ["a", "b"]) is None
    assert priority_order([2**70, 1], [1, 1], ["a", "b"]) is None


@needs_native
def test_a_source_newer_than_its_build_falls_back_with_a_warning():
    source = Path(NATIVE.__module__.replace(".", "/")).with_suffix(".pxd")
    source = Path(__file__).resolve().parents[1] / source
    before = source.stat()
    built = Path(sys.modules[NATIVE.__module__].__file__).stat()
    try:
        os.utime(source, (before.st_atime, built.st_mtime + 3600))
        with pytest.warns(RuntimeWarning, match=r"older than .*_native/timeline\.pxd"):
            assert _native_timeline.__wrapped__() is None
    finally:
        os.utime(source, (before.st_atime, before.st_mtime))
    assert _native_timeline.__wrapped__() is NATIVE


CORE_COLUMNS = ("due", "aging", "pmin", "npred", "succ", "mixture", "opname", "opid",
                "elig_machines", "elig_durations", "elig_offsets", "position", "order", "index", "active", "mrank",
                "tie", "pbar", "sbar",
                "ready", "horizon", "ops", "preds", "elig")
SETUP_COLUMNS = ("classes", "cls", "mix", "typ", "width", "widths", "matrix", "l2s", "s2l")


def noop(count):
    pass


@needs_native
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=plants(), seed=st.integers(0, 3))
def test_compiled_set_up_builds_the_columns_python_builds(inst, seed):
    assert_same_columns(inst, seed)


def assert_same_columns(inst, seed):
    loaded = Core(inst, seed, noop, "native")
    assert loaded.native.keyed  # plain ints and strs: the compiled set-up took them
    reference = Core(inst, seed, noop, "python")
    for name in CORE_COLUMNS:
        assert getattr(loaded, name) == getattr(reference, name), name
    for name in SETUP_COLUMNS:
        assert getattr(loaded.setups, name) == getattr(reference.setups, name), name


@needs_native
def test_compiled_set_up_counts_a_predecessor_named_twice_once():
    ops = (Operation("a", "A", 1, "C", durations={"M1": 2}),
           Operation("b", "B", 1, "D", durations={"M1": 1}),
           Operation("c", "C", 1, "C", durations={"M1": 1}, predecessors=("a", "b", "a")),
           Operation("d", "D", 1, "C", durations={"M1": 1}, predecessors=("a",)))
    inst = Instance(ops, (Machine("M1"),), {})
    assert_same_columns(inst, 0)
    core = Core(inst, 0, noop, "native")
    assert core.npred[core.index["c"]] == 2
    assert core.succ[core.index["a"]] == [core.index["c"], core.index["d"]]


def unusual_values():
    """Valid plants the compiled set-up leaves to the Python one."""
    np = pytest.importorskip("numpy")
    base = {"op_class": "C", "mixture": "m", "width": 1000, "due_slot": 4}
    yield "durations as a mapping proxy", [Operation("a", "A", 1, durations=MappingProxyType(
        {"M1": 2, "M2": 3}), **base), Operation("b", "A", 2, durations={"M1": 1},
                                                predecessors=("a",), **base)]
    yield "a whole float duration", [Operation("a", "A", 1, durations={"M1": 2.0}, **base),
                                     Operation("b", "B", 1, durations={"M1": 3}, **base)]
    yield "a numpy duration", [Operation("a", "A", 1, durations={"M1": np.int64(2)}, **base),
                               Operation("b", "B", 1, durations={"M2": 3}, **base)]
    yield "a numpy width", [Operation("a", "A", 1, "C", "m", np.int64(1300), 4,
                                      durations={"M1": 2}),
                            Operation("b", "B", 1, durations={"M1": 3}, **base)]


@needs_native
@pytest.mark.parametrize("case", list(unusual_values()), ids=lambda case: case[0])
@pytest.mark.parametrize("rule", ["window", "edd", "atcs"])
def test_values_left_to_the_python_set_up_schedule_alike(case, rule):
    inst = Instance(tuple(case[1]), (Machine("M1", ((5, 7),), 1, 2), Machine("M2")), {})
    core = Core(inst, 0, noop, "native")
    assert core.native is not None and not core.native.keyed and "_columns" not in vars(core)
    fast = schedule(inst, rule=rule, options={"timeline": "native"})
    ref = schedule(inst, rule=rule, options={"timeline": "python"})
    assert fast.info["timeline"] == "native"
    assert fast.assignments == ref.assignments
    assert verify(inst, fast) == []


@needs_native
def test_each_build_is_dated_against_its_own_source_and_the_declarations():
    """An edited ``.pyx`` makes its own module stale, not the others (a rebuild of only that
    module is current again); an edited ``.pxd`` makes every module stale."""
    from prodsched.engine._native import load, timeline

    source = Path(load.__file__).with_name("load.pyx")
    before = source.stat()
    built = {m: Path(m.__file__).stat().st_mtime for m in (load, timeline)}
    try:
        os.utime(source, (before.st_atime, built[load] + 3600))
        with pytest.warns(RuntimeWarning, match=r"^load\.\S+ is older than _native/load\.pyx;"):
            assert _native_timeline.__wrapped__() is None
        if built[load] - built[timeline] > 3:  # load built after timeline: only load is dated
            os.utime(source, (before.st_atime, built[load] - 2))
            assert _native_timeline.__wrapped__() is NATIVE
    finally:
        os.utime(source, (before.st_atime, before.st_mtime))
    assert _native_timeline.__wrapped__() is NATIVE


@needs_native
@pytest.mark.parametrize("timeline", ["native", "python"])
@pytest.mark.parametrize("rule", ["window", "edd"])
def test_a_run_leaves_the_cyclic_collector_alone(timeline, rule):
    """The collector stays enabled while the engine runs (the engine runs in the user's kernel)."""
    import gc

    seen = []

    class Watch:  # the engine asks it every 128 placements whether to cancel
        def is_set(self):
            seen.append(gc.isenabled())
            return False

    ops = tuple(Operation(f"o{i}", f"j{i}", 1, "C", durations={"M1": 1}) for i in range(300))
    inst = Instance(ops, (Machine("M1"),), {})
    plan = schedule(inst, rule=rule, cancel=Watch(), options={"timeline": timeline})
    assert verify(inst, plan) == []
    assert seen and all(seen) and gc.isenabled()
