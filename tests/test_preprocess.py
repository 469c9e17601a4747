"""Stage 2 (preprocess): month merge, width combination, routing expansion, eligibility, unable."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from prodsched.errors import Cancelled, ProdschedError
from prodsched.params import Params
from prodsched.stages import preprocess
from prodsched.inputs.widths import DEFAULT_WIDTH_COMBINATIONS, WidthTableError, resolve_table

MACHINES = ("M1", "M2", "M3")


def make_tables(orders, routing=None, speeds=None, types=None, limits=(), allocs=(), machines=MACHINES):
    """Canonical stage-1 tables from short tuples.

    orders: (po, item, width, roll_length, rolls, due) ; routing: {item: [(code, operation, mixture, aging_h)]}
    (default: every item coats then prints); speeds: (item, operation, machine, speed) (default: all 100).
    """
    od = pd.DataFrame(orders, columns=["po_no", "item", "width_mm", "roll_length_m", "rolls", "due"])
    od = od.assign(item_name=od["item"] + " name", width_mm=od["width_mm"].astype("int64"),
                   roll_length_m=od["roll_length_m"].astype(float), rolls=od["rolls"].astype(float),
                   due=pd.to_datetime(od["due"]))
    od["length_m"] = od["roll_length_m"] * od["rolls"]
    od["_row"] = range(2, len(od) + 2)
    if routing is None:
        routing = {item: [("C1", "coat", "MX1", 0.0), ("P1", "print", "", 0.0)] for item in od["item"].unique()}
    seq = pd.DataFrame(
        [(item, code, op, mix, n, aging) for item, ops in routing.items()
         for n, (code, op, mix, aging) in enumerate(ops, start=1)],
        columns=["item", "operation_code", "operation", "mixture", "seq", "aging_hours"])
    if speeds is None:
        speeds = [(i, op, m, 100.0) for i, o, op in seq[["item", "seq", "operation"]].itertuples(index=False)
                  for m in machines]
    ls = pd.DataFrame(speeds, columns=["item", "operation", "machine", "speed_m_min"])
    if types is None:
        types = [("C1", "coat", "SR"), ("P1", "print", "인쇄")]
    return {
        "order_data": od,
        "operation_sequence": seq,
        "linespeed": ls,
        "machine_master_info": pd.DataFrame({"machine": list(machines), "machine_index": range(1, len(machines) + 1),
                                             "machine_name": [f"line {m}" for m in machines]}),
        "operation_types": pd.DataFrame(types, columns=["operation_code", "operation", "op_class"]),
        "machine_limit": pd.DataFrame(list(limits), columns=["operation", "machine"]),
        "machine_allocate": pd.DataFrame(list(allocs), columns=["operation", "machine"]),
    }


def run(tables, **params):
    return preprocess.run(tables, Params(**params))


def job_of(result, po):
    oj = result.artifacts["order_jobs"]
    job_id = oj.loc[oj["po_no"] == po, "job_id"].iloc[0]
    jobs = result.artifacts["jobs"]
    return jobs[jobs["job_id"] == job_id].iloc[0]


def check_every_order_once(tables, result):
    placed = list(result.artifacts["order_jobs"]["po_no"]) + list(result.artifacts["unable"]["po_no"])
    assert sorted(placed) == sorted(tables["order_data"]["po_no"])


# --- calendar -------------------------------------------------------------------------------------

def test_base_date_defaults_to_first_day_of_earliest_due_month():
    t = make_tables([("A", "I", 700, 10, 1, "2025-03-17"), ("B", "I", 700, 10, 1, "2025-02-11")])
    r = run(t)
    assert r.artifacts["calendar"] == {"base_date": "2025-02-01", "slot_minutes": 30}
    assert run(t, base_date="auto").artifacts["calendar"]["base_date"] == "2025-02-01"


def test_base_date_explicit_today_and_invalid():
    t = make_tables([("A", "I", 700, 10, 1, "2025-03-17")])
    assert run(t, base_date="2024-12-30", slot_minutes=15).artifacts["calendar"] == {
        "base_date": "2024-12-30", "slot_minutes": 15}
    assert run(t, base_date="today").artifacts["calendar"]["base_date"] == pd.Timestamp.today().date().isoformat()
    with pytest.raises(ProdschedError, match="base_date 'yesterday-ish'"):
        run(t, base_date="yesterday-ish")
    with pytest.raises(ProdschedError, match="slot_minutes"):
        run(t, slot_minutes=0)


# --- month merge ----------------------------------------------------------------------------------

def test_same_item_width_roll_and_month_merge_but_years_do_not():
    t = make_tables([
        ("P1", "I", 700, 100, 2, "2025-01-20"),
        ("P2", "I", 700, 100, 3, "2025-01-05"),
        ("P3", "I", 700, 100, 4, "2026-01-20"),   # same month name, next year
        ("P4", "I", 700, 100, 1, "2025-02-01"),   # next month
        ("P5", "I", 700, 50, 1, "2025-01-21"),    # other roll length
        ("P6", "J", 700, 100, 1, "2025-01-21"),   # other item
        ("P7", "I", 700, 100, 5, "2025-01-31"),
    ])
    r = run(t)
    merged = job_of(r, "P1")
    assert merged["po_nos"] == "P1;P2;P7"            # input order kept
    assert merged["n_orders"] == 3
    assert merged["length_m"] == pytest.approx(1000.0)
    assert merged["fabric_length_m"] == pytest.approx(1000.0)
    assert merged["due"] == pd.Timestamp("2025-01-05")  # earliest
    assert merged["month"] == "2025-01"
    for po in ("P3", "P4", "P5", "P6"):
        assert job_of(r, po)["n_orders"] == 1
    assert job_of(r, "P3")["month"] == "2026-01"
    assert r.summary["jobs"] == 5 and r.summary["merged_orders"] == 3
    check_every_order_once(t, r)


def test_job_ids_follow_due_then_item_and_are_deterministic():
    t = make_tables([("A", "Z", 700, 10, 1, "2025-03-01"), ("B", "Y", 700, 10, 1, "2025-01-09"),
                     ("C", "X", 700, 10, 1, "2025-01-09")])
    r1, r2 = run(t), run(t)
    assert list(r1.artifacts["jobs"]["po_nos"]) == ["C", "B", "A"]
    assert list(r1.artifacts["jobs"]["job_id"]) == ["J0001", "J0002", "J0003"]
    for name in ("jobs", "order_jobs", "operations", "eligibility", "unable"):
        pd.testing.assert_frame_equal(r1.artifacts[name], r2.artifacts[name])


# --- width combination (plant default) ------------------------------------------------------------

def test_1524_runs_on_1500():
    r = run(make_tables([("A", "I", 1524, 100, 2, "2025-01-10")]))
    job = job_of(r, "A")
    assert (job["widths"], job["fabric_width_mm"], job["fabric_length_m"]) == ("1524", 1500, 200.0)


def test_508_and_1016_of_same_item_and_month_share_1500_with_longer_lane():
    r = run(make_tables([("A", "I", 508, 100, 3, "2025-01-10"), ("B", "I", 1016, 100, 5, "2025-01-28")]))
    job = job_of(r, "A")
    assert job["job_id"] == job_of(r, "B")["job_id"]
    assert (job["widths"], job["fabric_width_mm"]) == ("508+1016", 1500)
    assert job["fabric_length_m"] == pytest.approx(500.0)     # the longer lane
    assert job["length_m"] == pytest.approx(800.0)            # all order metres
    assert job["due"] == pd.Timestamp("2025-01-10") and job["po_nos"] == "A;B"
    ops = r.artifacts["operations"]
    assert set(ops["width_mm"]) == {1500} and set(ops["length_m"]) == {500.0}


def test_508_and_1016_alone():
    # different months and different items never pair
    r = run(make_tables([("A", "I", 508, 100, 4, "2025-01-10"), ("B", "I", 1016, 100, 5, "2025-02-10"),
                         ("C", "K", 1016, 100, 1, "2025-01-10")]))
    a, b, c = job_of(r, "A"), job_of(r, "B"), job_of(r, "C")
    assert (a["widths"], a["fabric_width_mm"], a["fabric_length_m"]) == ("508x2", 1000, 200.0)  # two-up: halved
    assert (b["widths"], b["fabric_width_mm"], b["fabric_length_m"]) == ("1016", 1000, 500.0)
    assert (c["widths"], c["fabric_width_mm"]) == ("1016", 1000)


def test_pairing_takes_earliest_due_first_and_leftovers_run_alone():
    r = run(make_tables([("L", "I", 508, 100, 1, "2025-01-25"), ("E", "I", 508, 50, 1, "2025-01-03"),
                         ("W", "I", 1016, 100, 1, "2025-01-15")]))
    assert job_of(r, "E")["job_id"] == job_of(r, "W")["job_id"]
    assert job_of(r, "L")["widths"] == "508x2"
    assert r.summary["combined_jobs"] == 1
    assert r.summary["width_combinations"] == {"508+1016 on 1500": 1, "508x2 on 1000": 1}


def test_609_914_pair_and_alone():
    r = run(make_tables([("A", "I", 609, 100, 1, "2025-01-10"), ("B", "I", 914, 100, 2, "2025-01-12"),
                         ("C", "I", 609, 100, 1, "2025-03-10"), ("D", "K", 914, 100, 1, "2025-03-10")]))
    ab = job_of(r, "A")
    assert ab["job_id"] == job_of(r, "B")["job_id"]
    assert (ab["widths"], ab["fabric_width_mm"], ab["fabric_length_m"]) == ("609+914", 1500, 200.0)
    assert (job_of(r, "C")["widths"], job_of(r, "C")["fabric_width_mm"]) == ("609", 1500)
    assert (job_of(r, "D")["widths"], job_of(r, "D")["fabric_width_mm"]) == ("914", 1500)


def test_762_runs_two_up_on_1500_and_other_widths_on_1300():
    r = run(make_tables([("A", "I", 762, 100, 3, "2025-01-10"), ("B", "I", 1200, 100, 3, "2025-01-10")]))
    a, b = job_of(r, "A"), job_of(r, "B")
    assert (a["widths"], a["fabric_width_mm"], a["fabric_length_m"]) == ("762x2", 1500, 150.0)
    assert (b["widths"], b["fabric_width_mm"], b["fabric_length_m"]) == ("1200", 1300, 300.0)


# --- custom width tables --------------------------------------------------------------------------

def test_custom_width_table_pairs_same_width_jobs_and_uses_its_fallback():
    table = [{"lanes": [700, 700], "fabric_width_mm": 1400, "name": "double 700"},
             {"lanes": "*", "fabric_width_mm": 1250}]
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10"), ("B", "I", 700, 60, 3, "2025-01-11"),
                     ("C", "I", 700, 70, 1, "2025-01-12"), ("D", "I", 1524, 10, 1, "2025-01-12")])
    r = run(t, width_combinations=table)
    ab = job_of(r, "A")
    assert ab["job_id"] == job_of(r, "B")["job_id"]
    assert (ab["widths"], ab["fabric_width_mm"], ab["fabric_length_m"]) == ("700+700", 1400, 180.0)
    assert job_of(r, "C")["fabric_width_mm"] == 1250 and job_of(r, "D")["fabric_width_mm"] == 1250
    assert r.summary["width_table"] == "custom"
    assert r.summary["width_combinations"] == {"double 700": 1, "any on 1250": 2}


def test_custom_table_without_fallback_sends_unmatched_orders_to_unable():
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10"), ("B", "I", 800, 100, 1, "2025-01-10")])
    r = run(t, width_combinations=[{"lanes": [700], "up": 2, "fabric_width_mm": 1450}])
    assert job_of(r, "A")["fabric_length_m"] == pytest.approx(50.0)
    unable = r.artifacts["unable"].set_index("po_no")
    assert unable.loc["B", "reason"] == "no_width_combination"
    assert "800" in unable.loc["B", "detail"]
    check_every_order_once(t, r)


def test_default_table_is_valid_and_ends_with_fallback():
    rules = resolve_table(None)
    assert len(rules) == len(DEFAULT_WIDTH_COMBINATIONS) and rules[-1].lanes is None


@pytest.mark.parametrize("table, message", [
    ({"lanes": [508]}, "must be a list of rows"),
    ([], "is empty"),
    (["508+1016"], "row 1: must be a dict"),
    ([{"lanes": [508], "fabric_width": 1500}], "row 1: unknown key"),
    ([{"lanes": [508]}], "row 1: missing key 'fabric_width_mm'"),
    ([{"lanes": "*", "fabric_width_mm": 1300}, {"lanes": [1], "fabric_width_mm": 10}], "row 2: comes after"),
    ([{"lanes": [508, -1016], "fabric_width_mm": 1500}], "row 1: 'lanes' must hold positive"),
    ([{"lanes": [], "fabric_width_mm": 1500}], "row 1: 'lanes' must be a non-empty list"),
    ([{"lanes": [508], "fabric_width_mm": "wide"}], "row 1: 'fabric_width_mm' must be a positive"),
    ([{"lanes": [508], "fabric_width_mm": 1000, "up": 0}], "row 1: 'up' must be a whole number"),
])
def test_bad_width_tables_are_rejected_with_row_and_key(table, message):
    with pytest.raises(WidthTableError, match=message):
        resolve_table(table)
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10")])
    with pytest.raises(WidthTableError, match="width_combinations"):
        run(t, width_combinations=table)


# --- routing, classes, eligibility ----------------------------------------------------------------

def test_operations_follow_routing_with_class_by_code_then_name():
    routing = {"I": [("C1", "coat", "MX1", 0.0), ("XX", "print", "", 12.0), ("Q9", "mystery", "", 0.0),
                     ("E1", "emboss", "", 0.0)]}
    types = [("C1", "coat", "SR"), ("P1", "print", "인쇄"), ("E1", "emboss", ""), ("E2", "emboss", "후처리")]
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10")], routing=routing, types=types)
    r = run(t)
    ops = r.artifacts["operations"]
    assert list(ops["op_id"]) == ["J0001-01", "J0001-02", "J0001-03", "J0001-04"]
    assert list(ops["op_class"]) == ["SR", "인쇄", "", "후처리"]   # by code, by name, unknown, blank code class
    assert list(ops["mixture"]) == ["MX1", "", "", ""]
    assert list(ops["aging_hours"]) == [0.0, 12.0, 0.0, 0.0]
    assert list(ops.columns) == preprocess.OPERATION_COLUMNS
    assert any("mystery" in w for w in r.summary["warnings"])


def eligible(result, operation):
    ops = result.artifacts["operations"]
    op_id = ops.loc[ops["operation"] == operation, "op_id"].iloc[0]
    e = result.artifacts["eligibility"]
    return list(e.loc[e["op_id"] == op_id, "machine"])


def test_eligibility_needs_positive_speed():
    speeds = [("I", "coat", "M1", 100.0), ("I", "coat", "M2", 0.0), ("I", "print", "M3", 80.0)]
    r = run(make_tables([("A", "I", 700, 100, 1, "2025-01-10")], speeds=speeds))
    assert eligible(r, "coat") == ["M1"] and eligible(r, "print") == ["M3"]
    assert r.artifacts["eligibility"]["speed_m_min"].tolist() == [100.0, 80.0]


def test_limit_and_allocate_apply_pair_by_pair():
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10")],
                    limits=[("coat", "M1")], allocs=[("print", "M2")])
    r = run(t)
    assert eligible(r, "coat") == ["M2", "M3"]   # the limit removes only (coat, M1)
    assert eligible(r, "print") == ["M2"]        # the allocation restricts only print
    assert r.summary["warnings"] == []


def test_allocation_and_limit_on_same_pair_the_limit_wins_and_is_reported():
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10")],
                    limits=[("coat", "M1")], allocs=[("coat", "M1"), ("coat", "M3")])
    r = run(t)
    assert eligible(r, "coat") == ["M3"]
    assert any("both name coat on M1" in w for w in r.summary["warnings"])


def test_allocation_to_machine_without_speed_is_reported_and_ignored():
    speeds = [("I", op, m, 100.0) for op in ("coat", "print") for m in ("M1", "M2")]
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10")], speeds=speeds, allocs=[("coat", "M2"), ("coat", "M3")])
    r = run(t)
    assert eligible(r, "coat") == ["M2"]
    assert any("coat -> M3 ignored" in w and "no speed on M3" in w for w in r.summary["warnings"])


def test_allocations_all_without_speed_keep_speed_based_machines_minus_limits():
    speeds = [("I", op, m, 100.0) for op in ("coat", "print") for m in ("M1", "M2")]
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10")], speeds=speeds,
                    allocs=[("coat", "M3")], limits=[("coat", "M2")])
    r = run(t)
    assert eligible(r, "coat") == ["M1"]
    assert any("keep their speed-based machines" in w for w in r.summary["warnings"])


def test_job_with_operation_without_machine_goes_to_unable_with_detail():
    speeds = [("I", "coat", "M1", 100.0), ("I", "print", "M1", 100.0),
              ("K", "coat", "M1", 100.0), ("K", "print", "M2", 100.0)]
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10"), ("B", "I", 700, 100, 1, "2025-01-11"),
                     ("C", "K", 700, 100, 1, "2025-01-10")], speeds=speeds, limits=[("print", "M1")])
    r = run(t)
    unable = r.artifacts["unable"].set_index("po_no")
    assert set(unable.index) == {"A", "B"}
    assert (unable["reason"] == "no_machine").all() and (unable["job_id"] == "").all()
    assert "print (seq 2)" in unable.loc["A", "detail"] and "limited: M1" in unable.loc["A", "detail"]
    assert list(r.artifacts["order_jobs"]["po_no"]) == ["C"]
    assert set(r.artifacts["operations"]["item"]) == {"K"}
    assert r.summary["unable_reasons"] == {"no_machine": 2}
    check_every_order_once(t, r)


def test_no_routing_and_bad_lengths_go_to_unable():
    t = make_tables([("A", "I", 700, 100, 1, "2025-01-10"), ("N", "NOPE", 700, 100, 1, "2025-01-10"),
                     ("Z", "I", 700, 100, 0, "2025-01-10"), ("M", "I", 700, -5, 2, "2025-01-10")],
                    routing={"I": [("C1", "coat", "", 0.0)]})
    r = run(t)
    unable = r.artifacts["unable"].set_index("po_no")
    assert unable.loc["N", "reason"] == "no_routing" and "NOPE" in unable.loc["N", "detail"]
    assert unable.loc["Z", "reason"] == "zero_length" and "row 4" in unable.loc["Z", "detail"]
    assert unable.loc["M", "reason"] == "zero_length" and "-10.0" in unable.loc["M", "detail"]
    assert list(r.artifacts["unable"].columns) == preprocess.UNABLE_COLUMNS
    assert r.summary["orders"] == 4 and r.summary["unable"] == 3 and r.summary["jobs"] == 1
    check_every_order_once(t, r)


def test_artifacts_hold_contract_columns_and_scalars_only():
    t = make_tables([("A", "I", 508, 100, 1, "2025-01-10"), ("B", "I", 1016, 100, 1, "2025-01-10")])
    r = run(t)
    a = r.artifacts
    assert list(a["jobs"].columns) == preprocess.JOB_COLUMNS
    assert list(a["order_jobs"].columns) == ["po_no", "job_id"]
    assert list(a["eligibility"].columns) == ["op_id", "machine", "speed_m_min"]
    for name in ("jobs", "order_jobs", "operations", "eligibility", "unable"):
        for column in a[name].columns:
            assert not a[name][column].map(lambda v: isinstance(v, (list, dict, tuple))).any(), (name, column)
    import pyarrow as pa
    for name in ("jobs", "operations", "eligibility", "unable"):
        pa.Table.from_pandas(a[name])


def test_inputs_are_not_mutated_and_cancel_stops():
    t = make_tables([("A", "I", 508, 100, 1, "2025-01-10")])
    before = {k: v.copy() for k, v in t.items()}
    run(t)
    for k in t:
        pd.testing.assert_frame_equal(t[k], before[k])
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        preprocess.run(t, Params(), cancel=stop)
    seen = []
    preprocess.run(t, Params(), progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


@pytest.mark.parametrize("keep", [True, False])
def test_stages_2_to_4_accept_no_makeable_order(keep):
    from prodsched.stages import dag, yields

    t = make_tables([("A", "I", 700, 100, 0, "2025-01-10")])
    if not keep:
        t["order_data"] = t["order_data"].iloc[0:0]
    inputs, p = dict(t), Params(base_date="2025-01-01")
    for stage in (preprocess, yields, dag):
        result = stage.run(inputs, p)
        inputs.update(result.artifacts)
    assert result.summary["nodes"] == 0 and result.summary["lower_bound"] == 0
    assert len(inputs["jobs"]) == 0 and list(inputs["jobs"].columns) == preprocess.JOB_COLUMNS
    assert len(inputs["unable"]) == (1 if keep else 0)
