"""Stage 3 (yield): per item/operation yields, clamping, missing yields and the two policies."""

from __future__ import annotations

import pandas as pd
import pytest

from prodsched.errors import ProdschedError
from prodsched.params import Params
from prodsched.stages import yields


def operations(routes):
    """routes: {job_id: (item, fabric_length, [operation, ...])} -> a stage-2 operations table."""
    rows = [(f"{job}-{seq:02d}", job, seq, item, op, length)
            for job, (item, length, ops) in routes.items() for seq, op in enumerate(ops, start=1)]
    return pd.DataFrame(rows, columns=["op_id", "job_id", "seq", "item", "operation", "length_m"])


def ydata(rows):
    df = pd.DataFrame(rows, columns=["item", "operation", "machines", "yield"])
    df["_row"] = range(2, len(df) + 2)
    return df


def run(ops, yd, **params):
    return yields.run({"operations": ops, "yield_data": yd}, Params(**params))


def by_op(result):
    return result.artifacts["op_lengths"].set_index("op_id")


def test_yield_is_mean_over_machines_and_cumulative_runs_backward():
    ops = operations({"J1": ("I", 1000.0, ["coat", "dye", "print"])})
    yd = ydata([("I", "coat", "M1", 0.96), ("I", "coat", "M2", 0.92),
                ("I", "dye", "M1", 0.95), ("I", "print", "M3", 0.98)])
    r = run(ops, yd)
    t = by_op(r)
    y_coat, y_dye, y_print = 0.94, 0.95, 0.98
    last = 1000.0 / y_print
    middle = last / y_dye
    first = middle / y_coat
    assert t["length_m"].tolist() == pytest.approx([first, middle, last])
    assert t["op_yield"].tolist() == pytest.approx([y_coat, y_dye, y_print])
    assert (t["length_m_input"] == 1000.0).all()
    assert t["length_m"].tolist() == pytest.approx((t["length_m_input"] / t["yield"]).tolist())
    assert set(t["yield_source"]) == {"observed"}
    assert list(r.artifacts["op_lengths"].columns) == yields.COLUMNS
    assert r.summary["policy"] == "cumulative" and r.summary["observed"] == 3


def test_item_product_applies_one_factor_to_every_operation():
    ops = operations({"J1": ("I", 1000.0, ["coat", "dye", "print"]), "J2": ("K", 500.0, ["coat"])})
    yd = ydata([("I", "coat", "M1", 0.94), ("I", "dye", "M1", 0.95), ("I", "print", "M1", 0.98),
                ("K", "coat", "M1", 0.91)])
    t = by_op(run(ops, yd, yield_policy="item_product"))
    factor = 0.94 * 0.95 * 0.98
    assert t.loc[["J1-01", "J1-02", "J1-03"], "length_m"].tolist() == pytest.approx([1000.0 / factor] * 3)
    assert t.loc["J2-01", "length_m"] == pytest.approx(500.0 / 0.91)
    assert t.loc["J1-03", "yield"] == pytest.approx(factor)


def test_low_yields_are_clamped_to_min_yield():
    ops = operations({"J1": ("I", 900.0, ["coat", "print"])})
    yd = ydata([("I", "coat", "M1", 0.7), ("I", "coat", "M2", 0.8), ("I", "print", "M1", 0.95),
                ("I", "print", "M2", 0.85)])   # print's mean is 0.9 up to float noise: not clamped
    r = run(ops, yd)
    t = by_op(r)
    assert t.loc["J1-01", "op_yield"] == pytest.approx(0.9) and t.loc["J1-01", "yield_source"] == "clamped"
    assert t.loc["J1-02", "yield_source"] == "observed"
    assert t.loc["J1-01", "length_m"] == pytest.approx(900.0 / 0.9 / 0.9)
    assert r.summary["clamped"] == 1 and any("min_yield" in w for w in r.summary["warnings"])
    t2 = by_op(run(ops, yd, min_yield=0.5))
    assert t2.loc["J1-01", "op_yield"] == pytest.approx(0.75) and t2.loc["J1-01", "yield_source"] == "observed"


def test_missing_yield_is_one_with_a_warning():
    ops = operations({"J1": ("I", 800.0, ["coat", "print"])})
    r = run(ops, ydata([("I", "coat", "M1", 0.95)]))
    t = by_op(r)
    assert t.loc["J1-02", "op_yield"] == 1.0 and t.loc["J1-02", "yield_source"] == "missing"
    assert t.loc["J1-02", "length_m"] == pytest.approx(800.0)
    assert t.loc["J1-01", "length_m"] == pytest.approx(800.0 / 0.95)
    assert r.summary["missing"] == 1
    assert any("I/print" in w for w in r.summary["warnings"])


def test_empty_yield_table_means_no_scrap():
    ops = operations({"J1": ("I", 800.0, ["coat"])})
    empty = pd.DataFrame({"item": pd.Series(dtype=str), "operation": pd.Series(dtype=str),
                          "machines": pd.Series(dtype=str), "yield": pd.Series(dtype=float)})
    r = run(ops, empty)
    assert r.artifacts["op_lengths"]["length_m"].tolist() == [800.0]
    assert r.summary["extra_pct"] == 0.0


def test_bad_policy_min_yield_and_yield_values_are_clear_errors():
    ops = operations({"J1": ("I", 800.0, ["coat"])})
    yd = ydata([("I", "coat", "M1", 0.95)])
    with pytest.raises(ProdschedError, match="yield_policy 'forward' is unknown; choose one of cumulative, item_product"):
        run(ops, yd, yield_policy="forward")
    with pytest.raises(ProdschedError, match="min_yield"):
        run(ops, yd, min_yield=1.5)
    with pytest.raises(ProdschedError, match=r"yield_data row 3, column yield: value 95.0 is outside \(0, 1\]"):
        run(ops, ydata([("I", "coat", "M1", 0.95), ("I", "coat", "M2", 95.0)]))


def test_inputs_are_not_mutated():
    ops = operations({"J1": ("I", 800.0, ["coat", "print"])})
    yd = ydata([("I", "coat", "M1", 0.8)])
    before_ops, before_yd = ops.copy(), yd.copy()
    run(ops, yd)
    pd.testing.assert_frame_equal(ops, before_ops)
    pd.testing.assert_frame_equal(yd, before_yd)
