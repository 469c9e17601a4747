"""The synthetic factory: plant-shaped, loadable, schedulable, deterministic; the committed samples."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodsched.inputs.checks import eligible_machines
from prodsched.inputs.sample import BASE_ORDERS, START, WIDTH_FAMILIES, generate_tables, write_sample
from prodsched.inputs.spec import ROW, SPECS, TABLE_NAMES
from prodsched.inputs.read import load_tables
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_SEED = 42  # as in sample_data/README.md


def assert_schedulable(tables):
    routed = set(tables["operation_sequence"]["item"])
    assert set(tables["order_data"]["item"]) <= routed
    eligible = eligible_machines(tables)
    for item, op in tables["operation_sequence"][["item", "operation"]].itertuples(index=False):
        assert eligible.get((item, op)), (item, op)


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_generated_tables_load_cleanly_and_are_schedulable(seed):
    raw = generate_tables(orders=120, seed=seed)
    assert list(raw) == list(TABLE_NAMES)
    for name, frame in raw.items():
        assert list(frame.columns) == SPECS[name].column_names, name
    tables, report = load_tables(raw)
    assert report.ok and not report.warnings, str(report)
    assert_schedulable(tables)


def test_factory_is_plant_shaped():
    t = generate_tables(orders=400, seed=11)
    machines = t["machine_master_info"]
    assert 8 <= len(machines) <= 30
    assert machines["machine"].str.fullmatch(r"[CLPF]\d{2}").all()
    assert machines["machine_index"].tolist() == list(range(1, len(machines) + 1))
    classes = set(t["operation_types"]["op_class"])
    assert 6 <= len(classes) <= 8 and {"SR", "EPU", "후처리", "인쇄"} <= classes
    delay = t["operation_delay"]
    assert len(delay) == len(classes) ** 2 and delay["setup_slots"].between(0, 6).all()
    routing = t["operation_sequence"]
    lengths = routing.groupby("item")["seq"].max()
    assert lengths.min() >= 1 and lengths.max() <= 5 and lengths.nunique() >= 3
    assert (routing["aging_hours"] > 0).any() and set(routing["aging_hours"]) <= {0.0, 12.0, 24.0}
    assert (routing["mixture"] == "").any() and routing["mixture"].str.fullmatch(r"(MX-\d{3})?").all()
    speeds = t["linespeed"]["speed_m_min"]
    assert speeds.between(5, 50).all()
    per_pair = t["linespeed"].groupby(["item", "operation"]).size()
    assert per_pair.max() < len(machines)  # gaps: no operation runs everywhere
    widths = {w for fam in WIDTH_FAMILIES for w in fam}
    orders = t["order_data"]
    assert set(orders["width_mm"]) <= widths and {508, 1016, 1524} <= set(orders["width_mm"])
    assert set(orders["roll_length_m"]) <= {50.0, 100.0, 200.0}
    assert np.allclose(orders["length_m"], orders["roll_length_m"] * orders["rolls"])
    assert orders["due"].min() >= START and (orders["due"].max() - orders["due"].min()).days >= 55
    assert (orders["due"].max() - START).days <= 93
    assert t["yield_data"]["yield"].between(0.85, 1.0).all()
    assert t["yield_data"].groupby(["item", "operation"]).size().max() > 1
    rest = t["machine_rest"]
    assert (rest["end"] > rest["start"]).all() and rest["start"].min() >= START
    assert len(t["machine_allocate"]) > 0 and len(t["machine_limit"]) > 0


def test_same_seed_same_bytes_and_other_seeds_differ(tmp_path):
    a = write_sample(tmp_path / "a", orders=60, seed=9)
    b = write_sample(tmp_path / "b", orders=60, seed=9)
    c = write_sample(tmp_path / "c", orders=60, seed=10)
    names = sorted(p.name for p in a.iterdir())
    assert len(names) == 12
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    assert sum((a / n).read_bytes() != (c / n).read_bytes() for n in names) >= 8
    p1 = write_sample(tmp_path / "p1", orders=20, seed=9, form="plant_export")
    p2 = write_sample(tmp_path / "p2", orders=20, seed=9, form="plant_export")
    _, mismatch, errors = filecmp.cmpfiles(p1, p2, sorted(x.name for x in p1.iterdir()), shallow=False)
    assert not mismatch and not errors


def test_small_and_large_order_counts_share_the_factory():
    small, large = generate_tables(orders=40, seed=4), generate_tables(orders=300, seed=4)
    for name in TABLE_NAMES:
        if name != "order_data":
            pd.testing.assert_frame_equal(small[name], large[name], obj=name)
    assert len(small["order_data"]) == 40 and len(large["order_data"]) == 300


def test_the_factory_is_the_same_up_to_the_base_order_count_and_grows_past_it():
    small, base = generate_tables(orders=300, seed=4), generate_tables(orders=BASE_ORDERS, seed=4)
    for name in TABLE_NAMES:
        if name not in ("order_data", "operation_sequence", "linespeed", "yield_data", "gitem_operation",
                        "machine_allocate", "machine_limit"):  # these follow the item count
            pd.testing.assert_frame_equal(small[name], base[name], obj=name)
    big = generate_tables(orders=10 * BASE_ORDERS, seed=4)

    def load(t):  # orders per machine and day of due dates
        due = t["order_data"]["due"]
        return len(t["order_data"]) / (len(t["machine_master_info"]) * ((due.max() - due.min()).days + 1))

    m_base, m_big = len(base["machine_master_info"]), len(big["machine_master_info"])
    assert 2.5 * m_base <= m_big <= 3.5 * m_base  # machines grow with the square root of the orders
    assert (big["order_data"]["due"].max() - START).days > 2.5 * (base["order_data"]["due"].max() - START).days
    assert load(big) == pytest.approx(load(base), rel=0.25)  # as loaded a plant, not ten times busier
    assert set(big["machine_rest"]["machine"]) == set(big["machine_master_info"]["machine"])


def test_scales_to_fifteen_thousand_orders():
    t = generate_tables(orders=15000, seed=1)
    assert len(t["order_data"]) == 15000 and t["order_data"]["po_no"].is_unique
    assert t["operation_sequence"]["item"].nunique() >= 1000  # items grow with the orders
    tables, report = load_tables(t)
    assert report.ok and not report.warnings
    assert_schedulable(tables)


def test_committed_sample_data_is_the_generator_output(tmp_path):
    regenerated = write_sample(tmp_path / "csv", orders=150, seed=SAMPLE_SEED)
    for path in sorted(regenerated.iterdir()):
        assert path.read_bytes() == (SAMPLE / path.name).read_bytes(), path.name
    export = write_sample(tmp_path / "pe", orders=40, seed=SAMPLE_SEED, form="plant_export")
    for path in sorted(export.iterdir()):
        assert path.read_bytes() == (SAMPLE / "plant_export" / path.name).read_bytes(), path.name


def test_committed_samples_load_with_no_errors_and_are_schedulable():
    csv_tables, report = load_tables(SAMPLE)
    assert report.ok and not report.warnings, str(report)
    assert len(csv_tables["order_data"]) == 150
    assert_schedulable(csv_tables)
    plant, report = load_tables(SAMPLE / "plant_export")
    assert report.ok and not report.warnings, str(report)
    assert len(plant["order_data"]) == 40
    assert_schedulable(plant)
    for name in TABLE_NAMES:  # the same factory, fewer orders
        if name != "order_data":
            pd.testing.assert_frame_equal(csv_tables[name].drop(columns=ROW),
                                          plant[name].drop(columns=ROW), obj=name)
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert f"--seed {SAMPLE_SEED}" in readme and f"seed={SAMPLE_SEED}" in readme


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate_tables(orders=0)


def test_tightness_moves_only_the_due_dates_into_fewer_days():
    loose = generate_tables(orders=300, seed=3)
    tight = generate_tables(orders=300, seed=3, tightness=4.0)
    for name in TABLE_NAMES:  # the same factory and the same orders ...
        if name != "order_data":
            pd.testing.assert_frame_equal(loose[name], tight[name], obj=name)
    pd.testing.assert_frame_equal(loose["order_data"].drop(columns="due"),
                                  tight["order_data"].drop(columns="due"))
    # ... due within a quarter of the days (a Sunday due moves to Monday)
    days = lambda t: (t["order_data"]["due"] - START).dt.days  # noqa: E731
    span = days(loose).max() + 1
    assert days(tight).max() <= round(span / 4) + 1 < span
    assert days(tight).mean() < days(loose).mean() / 3
    assert generate_tables(orders=300, seed=3, tightness=4.0)["order_data"].equals(tight["order_data"])


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "2", True])
def test_bad_tightness_is_named(bad):
    with pytest.raises(ValueError, match="tightness"):
        generate_tables(orders=10, tightness=bad)
