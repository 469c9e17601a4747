"""The table registry: canonical columns, aliases, dtypes, and the canonical form after loading."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from prodsched.inputs import spec as t
from prodsched.inputs.spec import ROW, SPECS, TABLE_NAMES
from prodsched.inputs.read import load_tables
BASE = json.loads((Path(__file__).parent / "bad_inputs" / "base_payload.json").read_text(encoding="utf-8"))

CANONICAL = {  # the interface contract, column by column
    "order_data": ["po_no", "item", "item_name", "width_mm", "roll_length_m", "rolls", "length_m", "due"],
    "operation_sequence": ["item", "operation_code", "operation", "mixture", "seq", "aging_hours"],
    "linespeed": ["item", "operation", "machine", "speed_m_min"],
    "machine_master_info": ["machine", "machine_index", "machine_name"],
    "yield_data": ["item", "operation", "machines", "yield"],
    "gitem_operation": ["item"] + [f"op{k}" for k in range(1, 8)],
    "operation_types": ["operation_code", "operation", "op_class"],
    "operation_delay": ["from_class", "to_class", "setup_slots"],
    "width_change": ["machine_index", "machine_name", "long_to_short", "short_to_long", "machine"],
    "machine_rest": ["machine", "machine_index", "start", "end"],
    "machine_allocate": ["operation", "machine"],
    "machine_limit": ["operation", "machine"],
}
KOREAN = {  # DESIGN §2 aliases
    "order_data": {"P/O NO": "po_no", "GITEM": "item", "GITEM명": "item_name", "너비": "width_mm",
                   "길이": "roll_length_m", "의뢰량": "rolls", "원단길이": "length_m", "납기일": "due"},
    "operation_sequence": {"GITEM": "item", "공정코드": "operation_code", "공정명": "operation",
                           "배합코드": "mixture", "공정순서": "seq", "숙성시간": "aging_hours"},
    "linespeed": {"GITEM": "item", "공정명": "operation"},
    "machine_master_info": {"기계코드": "machine", "기계인덱스": "machine_index", "기계이름": "machine_name"},
    "yield_data": {"GITEM": "item", "공정명": "operation", "기계코드": "machines", "수율": "yield"},
    "gitem_operation": {f"{k}공정": f"op{k}" for k in range(1, 8)} | {"GITEM": "item"},
    "operation_types": {"공정코드": "operation_code", "공정명": "operation", "공정분류": "op_class"},
    "operation_delay": {"선행공정분류": "from_class", "후행공정분류": "to_class", "타입교체시간": "setup_slots"},
    "width_change": {"기계인덱스": "machine_index", "기계명": "machine_name"},
    "machine_rest": {"기계코드": "machine", "기계인덱스": "machine_index", "시작시간": "start", "종료시간": "end"},
    "machine_allocate": {"공정명": "operation", "기계코드": "machine"},
    "machine_limit": {"공정명": "operation", "기계코드": "machine"},
}


def test_registry_has_the_twelve_tables_in_payload_order():
    assert list(TABLE_NAMES) == list(CANONICAL)
    for name, columns in CANONICAL.items():
        assert SPECS[name].column_names == columns
    assert set(t.OPTIONAL_TABLES) == {"machine_rest", "machine_allocate", "machine_limit", "gitem_operation"}
    assert set(t.REQUIRED_TABLES) == set(TABLE_NAMES) - set(t.OPTIONAL_TABLES)


@pytest.mark.parametrize("table", list(KOREAN))
def test_korean_aliases_and_canonical_variants(table):
    for alias, column in KOREAN[table].items():
        assert t.canonical_column(table, alias) == column
        assert t.canonical_column(table, f" {alias} ") == column
    for column in CANONICAL[table]:
        assert t.canonical_column(table, column) == column
        assert t.canonical_column(table, column.upper()) == column
        assert t.canonical_column(table, " " + column.replace("_", " ").title() + " ") == column
    assert t.canonical_column(table, "remarks") is None


def test_export_file_names_map_back_to_tables():
    for name, spec in SPECS.items():
        assert t.table_key(Path(spec.export_file).stem) == name
        assert t.table_key(name.upper()) == name
    assert t.table_key("md_step5 operation_delay") == "operation_delay"
    assert t.table_key("USER_STEP2_MACHINE_LIMIT") == "machine_limit"
    assert t.table_key("orders") is None


def test_keys_and_required_columns():
    assert SPECS["order_data"].keys == (("po_no",),)
    assert ("item", "operation") in SPECS["operation_sequence"].keys
    assert ("item", "seq") in SPECS["operation_sequence"].keys
    assert SPECS["order_data"].required_columns == ["po_no", "item", "width_mm", "due"]
    assert "mixture" not in SPECS["operation_sequence"].required_columns


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_empty_table_has_canonical_columns_and_dtypes(name):
    frame = t.empty_table(name)
    assert list(frame.columns) == CANONICAL[name] + [ROW]
    for column in SPECS[name].columns:
        assert frame[column.name].dtype == pd.Series([], dtype=t.DTYPES[column.kind]).dtype


def test_loaded_tables_have_contract_dtypes():
    tables, report = load_tables(BASE)
    assert report.ok
    expect = {"str": "object", "int": "int64", "float": "float64", "date": "datetime64[ns]",
              "datetime": "datetime64[ns]"}
    for name in TABLE_NAMES:
        frame = tables[name]
        assert list(frame.columns[: len(CANONICAL[name])]) == CANONICAL[name]
        assert frame.columns[-1] == ROW and frame[ROW].dtype == "int64"
        for column in SPECS[name].columns:
            assert str(frame[column.name].dtype) == expect[column.kind], (name, column.name)


def test_canonical_values_after_load():
    tables, _ = load_tables(BASE)
    orders = tables["order_data"].set_index("po_no")
    assert orders.loc["P1", "length_m"] == 1000.0  # roll_length_m x rolls
    assert orders.loc["P3", "roll_length_m"] == 600.0 and orders.loc["P3", "rolls"] == 1.0
    assert orders.loc["P1", "due"] == pd.Timestamp("2026-01-10")
    routing = tables["operation_sequence"]
    assert routing["mixture"].tolist() == ["MX-1", "", "MX-2"]  # 배합X -> ""
    assert routing["aging_hours"].tolist() == [12.0, 0.0, 0.0]
    speeds = tables["linespeed"]
    assert len(speeds) == 5 and set(speeds["machine"]) == {"C01", "C02", "F01"}
    assert tables["width_change"]["machine"].tolist() == ["C01", "C02", "F01"]
    assert tables["machine_rest"]["start"].iloc[0] == pd.Timestamp("2026-01-06 08:00")
    assert tables["gitem_operation"]["op3"].tolist() == ["", ""]
    assert tables["order_data"][ROW].tolist() == [1, 2, 3]


def test_mixture_none_spellings_and_date_formats():
    data = copy.deepcopy(BASE)
    for rec, mix in zip(data["operation_sequence"], ("none", None, "-")):
        rec["배합코드"] = mix
    for rec, due in zip(data["order_data"], ("2026.01.10", 20260120, 46056)):
        rec["납기일"] = due
    tables, report = load_tables(data)
    assert report.ok, str(report)
    assert tables["operation_sequence"]["mixture"].tolist() == ["", "", ""]
    assert tables["order_data"]["due"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-10", "2026-01-20",
                                                                             "2026-02-03"]


def test_wide_and_long_linespeed_are_equivalent():
    wide, _ = load_tables(BASE)
    data = copy.deepcopy(BASE)
    data["linespeed"] = [{"item": r["item"], "operation": r["operation"], "machine": r["machine"],
                          "speed_m_min": r["speed_m_min"]} for r in wide["linespeed"].to_dict("records")]
    long, report = load_tables(data)
    assert report.ok and not report.warnings
    pd.testing.assert_frame_equal(wide["linespeed"].drop(columns=ROW), long["linespeed"].drop(columns=ROW))


def test_unknown_extra_columns_are_kept():
    data = copy.deepcopy(BASE)
    for rec in data["order_data"]:
        rec["비고"] = "urgent"
    data["linespeed"][0]["비고"] = "checked"
    tables, report = load_tables(data)
    assert report.ok and not report.warnings, str(report)
    assert tables["order_data"]["비고"].tolist() == ["urgent"] * 3
    assert tables["order_data"].columns.tolist()[-2:] == ["비고", ROW]
    assert "비고" in tables["linespeed"].columns


def test_machine_index_filled_when_absent():
    data = copy.deepcopy(BASE)
    data["machine_master_info"] = [{"machine": m} for m in ("C01", "C02", "F01")]
    tables, report = load_tables(data)
    assert report.ok, str(report)
    master = tables["machine_master_info"]
    assert master["machine_index"].tolist() == [1, 2, 3]
    assert master["machine_name"].tolist() == ["C01", "C02", "F01"]
