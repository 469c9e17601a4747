"""FJSPLIB reader, conversion to input tables, and Brandimarte mk01 through the pipeline."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import pytest

from prodsched.inputs.fjsp import FjspFormatError, fjsp_to_tables, read_fjs, speed_for

ROOT = Path(__file__).resolve().parents[1]
MK = ROOT / "benchmarks" / "fjsp" / "brandimarte"
BKS = json.loads((ROOT / "benchmarks" / "fjsp" / "bks.json").read_text())

# 3 jobs, 3 machines: job 1 has 2 operations, job 2 has 3, job 3 has 1
TINY = """3 3 1.5
2  2 1 3 2 5   1 3 2
3  1 2 4   2 1 1 3 6   1 1 7
1  3 1 2 2 2 3 9
"""
TINY_JOBS = [
    [{0: 3, 1: 5}, {2: 2}],
    [{1: 4}, {0: 1, 2: 6}, {0: 7}],
    [{0: 2, 1: 2, 2: 9}],
]


def test_tiny_instance_parses():
    inst = read_fjs(TINY, name="tiny")
    assert (inst.n_jobs, inst.n_machines, inst.n_operations) == (3, 3, 6)
    assert [list(ops) for ops in inst.jobs] == TINY_JOBS
    assert inst.machine_codes == ["M01", "M02", "M03"]


@pytest.mark.parametrize("variant", [
    TINY.replace(" ", "\t"),
    TINY.replace("\n", "\r\n"),
    "\n\n" + TINY.replace("\n", "\n\n") + "   \n",
    "\ufeff" + TINY.replace("3 1.5", "3"),  # BOM, header without the average
    # a job wrapped over two lines, comments and trailing blanks
    "# tiny\n3 3\n2 2 1 3 2 5\n  1 3 2\n3 1 2 4 2 1 1 3 6 1 1 7   # job 2\n1 3 1 2 2 2 3 9",
    TINY.replace(" 5 ", " 5.0 "),
])
def test_whitespace_variants_parse_the_same(variant):
    assert [list(ops) for ops in read_fjs(variant).jobs] == TINY_JOBS


def test_read_from_path_and_name(tmp_path):
    path = tmp_path / "tiny.fjs"
    path.write_text(TINY)
    assert read_fjs(path).name == "tiny"
    assert read_fjs(str(path)).jobs == read_fjs(TINY).jobs


@pytest.mark.parametrize("text, line, words", [
    ("", 0, "empty"),
    ("3\n", 1, "header"),
    ("x 3\n2 1 1 1 1 1 1\n", 1, "number of jobs"),
    ("1 2 abc\n1 1 1 1\n", 1, "average"),
    ("2 3\n1 1 1 4\n", 2, "declares 2 jobs but the file has only 1"),
    ("1 3\n2 1 1 4 1 x 7\n", 2, "machine must be an integer"),
    ("1 3\n1 1 4 5\n", 2, "machine 4 is out of range 1..3"),
    ("1 3\n1 2 1 4 1 5\n", 2, "machine 1 is listed twice"),
    ("1 3\n1 1 2 0\n", 2, "duration on machine 2 must be >= 1"),
    ("1 3\n1 1 2 3.5\n", 2, "must be an integer, found '3.5'"),
    ("1 3\n1 0\n", 2, "number of machines must be >= 1"),
    ("1 3\n1 4 1 1 2 2 3 3 1 1\n", 2, "4 alternative machines but the instance has 3"),
    ("1 3\n1 1 2 3 9 9\n", 2, "declares 1 operations but the line has more values"),
    ("1 3\n1 1 2 3\n1 1 1 1\n", 3, "unexpected values after the 1 declared jobs"),
    ("2 3\n2 1 1 4\n1 1 2 2\n", 3, "read over lines 2-3: is line 2 incomplete?"),
    ("1 3\n3 1 1 4 1 2\n", 2, "ends early: job 1 is missing"),
])
def test_malformed_files_name_the_line(text, line, words):
    with pytest.raises(FjspFormatError) as err:
        read_fjs(text)
    assert err.value.line == line
    assert words in str(err.value)
    if line:
        assert f"line {line}:" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FjspFormatError, match="file not found"):
        read_fjs(tmp_path / "nope.fjs")


def test_brandimarte_sizes():
    mk01 = read_fjs(MK / "mk01.fjs")
    assert (mk01.n_jobs, mk01.n_operations, mk01.n_machines) == (10, 55, 6)
    expected_ops = {"mk02": 58, "mk03": 150, "mk08": 225, "mk15": 284}
    for name, ops in expected_ops.items():
        assert read_fjs(MK / f"{name}.fjs").n_operations == ops
    for name, (low, best) in BKS.items():
        inst = read_fjs(MK / f"{name}.fjs")
        assert inst.lower_bound() <= low <= best


@pytest.mark.parametrize("slot", [1, 15, 30, 60])
def test_speed_gives_exact_duration(slot):
    for duration in range(1, 200):
        for length in (12000.0, 1000.0, 777.7, 1e-3):
            speed = speed_for(length, duration, slot)
            assert math.ceil(length / speed / slot) == duration
            assert math.ceil(length / (speed * slot)) == duration


def test_tables_shape_and_speeds():
    inst = read_fjs(TINY, name="tiny")
    t = fjsp_to_tables(inst, slot_minutes=30)
    assert len(t["order_data"]) == 3 and t["order_data"]["item"].is_unique
    assert t["order_data"]["po_no"].is_unique
    seq = t["operation_sequence"]
    assert len(seq) == 6 and seq.groupby("item")["seq"].apply(list).tolist() == [[1, 2], [1, 2, 3], [1]]
    assert seq["operation"].is_unique  # routing is per job
    assert set(t["operation_types"]["op_class"]) == {"FJSP"}
    assert (t["width_change"][["long_to_short", "short_to_long"]] == 0).all().all()
    assert t["machine_rest"].empty and t["operation_delay"]["setup_slots"].eq(0).all()
    assert t["machine_master_info"]["machine"].tolist() == ["M01", "M02", "M03"]
    speeds = t["linespeed"].merge(t["order_data"][["item", "length_m"]], on="item")
    got = {}
    for row in speeds.itertuples():
        got[row.item, row.operation, row.machine] = math.ceil(row.length_m / row.speed_m_min / 30)
    want = {}
    for j, ops in enumerate(TINY_JOBS):
        for o, op in enumerate(ops):
            for m, d in op.items():
                want[f"tiny-J{j + 1:02d}", f"J{j + 1:02d}-O{o + 1:02d}", f"M{m + 1:02d}"] = d
    assert got == want
    assert t["yield_data"]["yield"].eq(1.0).all()
    assert (t["order_data"]["due"] > "2030-01-01").all()


def test_engine_instance_matches_the_file():
    from prodsched.inputs.fjsp import fjsp_to_instance

    inst = fjsp_to_instance(read_fjs(TINY, name="tiny"))
    assert [m.code for m in inst.machines] == ["M01", "M02", "M03"]
    assert [op.id for op in inst.operations] == ["J01-01", "J01-02", "J02-01", "J02-02", "J02-03", "J03-01"]
    assert inst.op("J02-03").predecessors == ("J02-02",) and inst.op("J02-01").predecessors == ()
    assert dict(inst.op("J02-02").durations) == {"M01": 1, "M03": 6}
    assert {op.op_class for op in inst.operations} == {"FJSP"} and not inst.class_setup
    horizon = sum(max(op.values()) for ops in TINY_JOBS for op in ops)
    assert all(op.due_slot > horizon for op in inst.operations)


def _stages(instance, upto="dag", changeovers=False, **params):
    """Run the pipeline from the stage-1 payload up to ``upto``; returns the merged artifacts."""
    from prodsched.inputs.fjsp import fjsp_payload
    from prodsched.params import Params
    from prodsched.stages import STAGES, run_stage

    p = Params(base_date="2026-01-01", **params)
    inputs = {"payload": fjsp_payload(instance, slot_minutes=p.slot_minutes, base_date=p.base_date,
                                      changeovers=changeovers)}
    for stage in STAGES[: STAGES.index(upto) + 1]:
        inputs.update(run_stage(stage, inputs, p).artifacts)
    return inputs


def _dag_durations(dag, instance):
    """{(job index, op index): durations} read back from the DAG through each node's item."""
    out = {}
    for _node, a in dag.nodes(data=True):
        j = int(a["item"].rsplit("-J", 1)[1]) - 1
        out[j, a["seq"] - 1] = {m: int(d) for m, d in a["durations"].items()}
    return out


@pytest.mark.parametrize("slot", [30, 15])
def test_tiny_through_stages_2_to_4_keeps_durations_exact(slot):
    inst = read_fjs(TINY, name="tiny")
    art = _stages(inst, slot_minutes=slot)
    assert art["validation"].empty and art["unable"].empty
    assert len(art["jobs"]) == 3 and art["jobs"]["n_orders"].eq(1).all()  # nothing merged
    codes = inst.machine_codes
    want = {(j, o): {codes[m]: d for m, d in op.items()}
            for j, ops in enumerate(TINY_JOBS) for o, op in enumerate(ops)}
    dag = art["dag"]
    assert _dag_durations(dag, inst) == want
    assert dag.number_of_edges() == 3
    assert {a["op_class"] for _n, a in dag.nodes(data=True)} == {"FJSP"}


def test_brandimarte_durations_exact_through_stages_2_to_4():
    for name in ("mk01", "mk10"):
        inst = read_fjs(MK / f"{name}.fjs")
        art = _stages(inst)
        codes = inst.machine_codes
        want = {(j, o): {codes[m]: d for m, d in op.items()}
                for j, ops in enumerate(inst.jobs) for o, op in enumerate(ops)}
        assert _dag_durations(art["dag"], inst) == want


def fjsp_problems(instance, schedule_df) -> list[str]:
    """Feasibility of a pipeline schedule checked against the .fjs data alone (not prodsched's
    verifier): every operation once, an eligible machine with the file's duration, job order,
    no overlap on a machine."""
    problems, runs, ends = [], {}, {}
    for row in schedule_df.itertuples():
        j = int(row.item.rsplit("-J", 1)[1]) - 1
        o = int(row.seq) - 1
        op = instance.jobs[j][o]
        m = int(row.machine[1:]) - 1
        if op.get(m) != row.end - row.start:
            problems.append(f"job {j + 1} op {o + 1}: {row.machine} for {row.end - row.start} slots")
        if (j, o) in ends:
            problems.append(f"job {j + 1} op {o + 1} scheduled twice")
        ends[j, o] = (row.start, row.end)
        runs.setdefault(m, []).append((row.start, row.end))
    if len(ends) != instance.n_operations:
        problems.append(f"{len(ends)} of {instance.n_operations} operations scheduled")
    for (j, o), (start, _end) in ends.items():
        if o and start < ends.get((j, o - 1), (0, 0))[1]:
            problems.append(f"job {j + 1} op {o + 1} starts before its predecessor ends")
    for m, intervals in runs.items():
        intervals.sort()
        problems += [f"M{m + 1:02d} overlap at {b[0]}" for a, b in pairwise(intervals) if b[0] < a[1]]
    return problems


def test_tiny_schedule_through_the_pipeline():
    from prodsched.stages.schedule import verify

    inst = read_fjs(TINY, name="tiny")
    art = _stages(inst, upto="schedule")
    sched = art["schedule"]
    assert verify(sched, art["dag"], art) == []
    assert fjsp_problems(inst, sched) == []
    assert sched["setup_slots"].eq(0).all()
    # job 2 alone needs 4 + 1 + 7 slots on its fastest machines
    assert sched["end"].max() >= 12


@pytest.mark.parametrize("rule", ["window", "spt", "atcs", "mwkr_es"])
def test_mk01_through_the_whole_pipeline(rule):
    from prodsched.stages import run_stage
    from prodsched.stages.schedule import verify

    inst = read_fjs(MK / "mk01.fjs")
    art = _stages(inst, upto="schedule", rule=rule)
    sched = art["schedule"]
    assert len(sched) == 55
    assert verify(sched, art["dag"], art) == []
    assert fjsp_problems(inst, sched) == []
    makespan = int(sched["end"].max())
    assert makespan >= BKS["mk01"][0]
    from prodsched.params import Params

    result = run_stage("results", art, Params(base_date="2026-01-01", rule=rule))
    kpis = result.artifacts["kpis"]
    assert kpis["violations"] == 0 and kpis["makespan_slots"] == makespan
    assert kpis["late_orders"] == 0 and kpis["setup_slots"] == 0


def test_changeover_recipe_in_the_tables():
    inst = read_fjs(TINY, name="tiny")
    plain = fjsp_to_tables(inst)
    tables = fjsp_to_tables(inst, changeovers=True)
    assert set(plain["operation_types"]["op_class"]) == {"FJSP"}
    assert list(tables["order_data"]["width_mm"]) == [1016, 1300, 1524]
    seq = tables["operation_sequence"].merge(tables["operation_types"], on=["operation_code", "operation"])
    # job j, operation o (from 0): class C{(j + o) % 3 + 1}, mixture X{j % 4 + 1}
    got = {(r.operation, r.op_class, r.mixture) for r in seq.itertuples()}
    assert ("J01-O01", "C1", "X1") in got and ("J02-O02", "C3", "X2") in got
    assert ("J03-O01", "C3", "X3") in got and len(got) == sum(len(ops) for ops in TINY_JOBS)
    delay = {(r.from_class, r.to_class): r.setup_slots for r in tables["operation_delay"].itertuples()}
    assert len(delay) == 9 and delay[("C1", "C1")] == 1 and delay[("C1", "C2")] == 2
    widths = tables["width_change"]
    assert list(widths["long_to_short"]) == [2, 3, 1] and list(widths["short_to_long"]) == [1, 0, 1]
    # everything else is the plain instance's
    for name in ("linespeed", "yield_data", "machine_master_info"):
        assert tables[name].equals(plain[name]), name


def _setup_between(prev, row, widths, delay):
    """The recipe's changeover before ``row`` after ``prev`` on one machine, from the rows alone."""
    typ = 0 if (prev.op_class, prev.mixture) == (row.op_class, row.mixture) else \
        delay[prev.op_class, row.op_class]
    l2s, s2l = widths[row.machine]
    wid = l2s if row.width_mm < prev.width_mm else s2l if row.width_mm > prev.width_mm else 0
    return max(typ, wid)


@pytest.mark.parametrize("rule", ["window", "mwkr_es"])
def test_mk01_with_changeovers_through_the_whole_pipeline(rule):
    from prodsched.stages.schedule import verify

    inst = read_fjs(MK / "mk01.fjs")
    art = _stages(inst, upto="schedule", changeovers=True, rule=rule)
    codes = inst.machine_codes
    want = {(j, o): {codes[m]: d for m, d in op.items()}
            for j, ops in enumerate(inst.jobs) for o, op in enumerate(ops)}
    assert _dag_durations(art["dag"], inst) == want  # the durations stay the file's
    sched = art["schedule"]
    assert verify(sched, art["dag"], art) == []
    assert fjsp_problems(inst, sched) == []
    assert set(sched["width_mm"]) == {1000, 1300, 1500}
    delay = {(r.from_class, r.to_class): r.setup_slots for r in art["operation_delay"].itertuples()}
    widths = {r.machine: (r.long_to_short, r.short_to_long) for r in art["width_change"].itertuples()}
    total = 0
    for _machine, rows in sched.sort_values("start").groupby("machine"):
        rows = list(rows.itertuples())
        assert rows[0].setup_slots == 0
        for prev, row in pairwise(rows):
            need = _setup_between(prev, row, widths, delay)
            assert row.setup_slots == need and row.start >= prev.end + need
            total += need
    assert total == sched["setup_slots"].sum() > 0
    assert int(sched["end"].max()) >= BKS["mk01"][0]


def test_fjsp_problems_detects_a_broken_schedule():
    inst = read_fjs(MK / "mk01.fjs")
    art = _stages(inst, upto="schedule")
    sched = art["schedule"].copy()
    row = sched.index[sched["seq"] == 2][0]
    sched.loc[row, "end"] += 1  # wrong duration
    assert any("slots" in p for p in fjsp_problems(inst, sched))
    assert fjsp_problems(inst, sched.drop(index=row))  # an operation missing


def test_engine_only_mk01_matches_the_pipeline_instance():
    from prodsched.engine import schedule, verify
    from prodsched.inputs.fjsp import fjsp_to_instance
    from prodsched.stages.schedule import build_instance

    fj = read_fjs(MK / "mk01.fjs")
    direct = fjsp_to_instance(fj)
    art = _stages(fj)
    via_dag = build_instance(art["dag"], art)

    def by_position(inst):
        return sorted((int(op.job.lstrip("J")), op.seq, sorted(op.durations.items()), len(op.predecessors))
                      for op in inst.operations)

    assert by_position(direct) == by_position(via_dag)
    plan = schedule(direct, rule="spt")
    assert verify(direct, plan) == []
    assert plan.makespan >= BKS["mk01"][0]


def test_cpsat_reference_model_on_the_tiny_instance():
    pytest.importorskip("ortools")
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cpsat import check_assignment, solve_fjsp

    inst = read_fjs(TINY, name="tiny")
    result = solve_fjsp(inst, time_limit_s=5)
    # job 2 needs 4 + 1 + 7 slots; M2 [0,4) M1 [4,5) M1 [5,12) | M1 [0,3) M3 [3,5) | M2 [4,6) fits
    assert (result["status"], result["makespan"]) == ("OPTIMAL", 12)
    assert check_assignment(inst, result["assignment"]) == []
    j, o, m, s, e = result["assignment"][0]
    broken = [(j, o, m, s, e + 1)] + result["assignment"][1:]
    assert check_assignment(inst, broken)
