"""Reading folders, workbooks and payloads; writing every form and reading it back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from prodsched.inputs.write import FORMS, tables_to_payload, write_tables

from prodsched.inputs.read import read_raw
from prodsched.inputs.sample import generate_tables
from prodsched.inputs.spec import ROW, SPECS, TABLE_NAMES
from prodsched.inputs.read import load_tables
BASE_FILE = Path(__file__).parent / "bad_inputs" / "base_payload.json"


@pytest.fixture(scope="module")
def factory():
    tables, report = load_tables(generate_tables(orders=25, seed=3))
    assert report.ok and not report.warnings, str(report)
    return tables


def assert_same(a: dict, b: dict) -> None:
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(a[name].drop(columns=ROW), b[name].drop(columns=ROW), obj=name)


def destination(tmp_path: Path, form: str) -> Path:
    return tmp_path / {"xlsx": "tables.xlsx", "payload": "payload.json"}.get(form, form)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("linespeed", ["wide", "long"])
def test_round_trip_of_every_form(factory, tmp_path, form, linespeed):
    dest = write_tables(factory, destination(tmp_path, form), form=form, linespeed=linespeed)
    again, report = load_tables(dest)
    assert report.ok and not report.warnings, str(report)
    assert_same(factory, again)


def test_plant_export_uses_export_names_and_korean_headers(factory, tmp_path):
    write_tables(factory, tmp_path, form="plant_export")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(spec.export_file for spec in SPECS.values())
    orders = json.loads((tmp_path / "user_step1_order_data.json").read_text(encoding="utf-8"))
    assert list(orders[0])[:3] == ["P/O NO", "GITEM", "GITEM명"] and "납기일" in orders[0]
    speeds = json.loads((tmp_path / "md_step2_linespeed.json").read_text(encoding="utf-8"))
    machines = factory["machine_master_info"].sort_values("machine_index")["machine"].tolist()
    assert list(speeds[0]) == ["GITEM", "공정명"] + machines  # wide, machines in index order
    routing = json.loads((tmp_path / "md_step1_operation_sequence.json").read_text(encoding="utf-8"))
    assert "배합X" in {r["배합코드"] for r in routing}


def test_csv_linespeed_wide_has_a_column_per_machine(factory, tmp_path):
    write_tables(factory, tmp_path, form="csv")
    header = (tmp_path / "linespeed.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:2] == ["item", "operation"]
    assert set(header[2:]) == set(factory["machine_master_info"]["machine"])


def test_writing_is_deterministic(factory, tmp_path):
    for form in ("csv", "json", "plant_export", "payload"):
        a = write_tables(factory, destination(tmp_path / "a", form), form=form)
        b = write_tables(factory, destination(tmp_path / "b", form), form=form)
        files = sorted(p.relative_to(a) for p in a.rglob("*")) if a.is_dir() else [Path()]
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), (form, f)


def test_payload_dict_and_dataframes(factory):
    payload = tables_to_payload(factory)
    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload  # plain JSON
    again, report = load_tables(payload)
    assert report.ok
    assert_same(factory, again)
    frames, report = load_tables({name: frame.drop(columns=ROW) for name, frame in factory.items()})
    assert report.ok
    assert_same(factory, frames)


def test_unknown_form_is_refused(factory, tmp_path):
    with pytest.raises(ValueError, match="unknown form"):
        write_tables(factory, tmp_path, form="yaml")


# --------------------------------------------------------------------------- row numbers

def test_csv_row_numbers_count_the_header_and_blank_lines(tmp_path):
    write_tables(load_tables(BASE_FILE)[0], tmp_path, form="csv")
    path = tmp_path / "order_data.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(2, "")  # a blank line between the first and second order
    lines[3] = lines[3].replace("2026-01-20", "not-a-date")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tables, report = load_tables(tmp_path)
    assert tables["order_data"][ROW].tolist() == [2, 5]
    bad = [i for i in report.errors if i.table == "order_data"]
    assert [(i.row, i.column, i.value) for i in bad] == [(4, "due", "not-a-date")]


def test_json_rows_are_record_numbers(tmp_path):
    data = json.loads(BASE_FILE.read_text(encoding="utf-8"))
    data["order_data"][2]["너비"] = "?"
    tables, report = load_tables(data)
    assert [(i.row, i.value) for i in report.errors] == [(3, "?")]
    assert tables["order_data"][ROW].tolist() == [1, 2]


def test_xlsx_rows_are_sheet_rows(tmp_path):
    book = write_tables(load_tables(BASE_FILE)[0], tmp_path / "plant.xlsx", form="xlsx")
    wb = openpyxl.load_workbook(book)
    sheet = wb["order_data"]
    sheet.insert_rows(3)  # an empty row 3: the second order is now on sheet row 4
    sheet.cell(row=4, column=4, value="wide")
    wb.save(book)
    tables, report = load_tables(book)
    assert [(i.table, i.row, i.column, i.value) for i in report.errors] == [("order_data", 4, "width_mm", "wide")]
    assert tables["order_data"][ROW].tolist() == [2, 5]


# --------------------------------------------------------------------------- folders

def test_folder_with_plant_names_and_korean_headers(tmp_path):
    write_tables(load_tables(BASE_FILE)[0], tmp_path, form="plant_export")
    assert (tmp_path / "md_step5 operation_delay.json").exists()
    tables, report = load_tables(tmp_path)
    assert report.ok and not report.warnings, str(report)
    assert len(tables["operation_delay"]) == 4


def test_folder_mixed_formats_and_duplicates(tmp_path):
    tables = load_tables(BASE_FILE)[0]
    write_tables(tables, tmp_path, form="csv")
    write_tables({"machine_limit": tables["machine_limit"]}, tmp_path / "j", form="json")
    (tmp_path / "j" / "machine_limit.json").rename(tmp_path / "user_step2_machine_limit.json")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("not data", encoding="utf-8")
    again, report = load_tables(tmp_path)
    assert report.ok
    messages = [i.message for i in report.warnings]
    assert any("user_step2_machine_limit.json is ignored" in m for m in messages)
    assert any("notes.csv is not one of the input tables" in m for m in messages)
    assert not any("README" in m for m in messages)
    assert_same(tables, again)


def test_folder_with_a_single_workbook(tmp_path):
    tables = load_tables(BASE_FILE)[0]
    write_tables(tables, tmp_path / "plant.xlsx", form="xlsx")
    again, report = load_tables(tmp_path)
    assert report.ok
    assert_same(tables, again)


def test_korean_csv_in_cp949(tmp_path):
    tables = load_tables(BASE_FILE)[0]
    write_tables(tables, tmp_path, form="csv")
    text = (tmp_path / "operation_types.csv").read_text(encoding="utf-8")
    (tmp_path / "operation_types.csv").write_bytes(text.encode("cp949"))
    again, report = load_tables(tmp_path)
    assert report.ok
    assert again["operation_types"]["operation"].tolist() == ["코팅", "후처리"]


def test_semicolon_csv_and_single_files(tmp_path):
    (tmp_path / "machine_limit.csv").write_text("공정명;기계코드\n코팅;C02\n", encoding="utf-8")
    raw, report = read_raw(tmp_path / "machine_limit.csv")
    assert report.ok and raw["machine_limit"].columns.tolist() == ["공정명", "기계코드", ROW]
    assert raw["machine_limit"][ROW].tolist() == [2]


def test_bad_sources_are_reported_not_raised(tmp_path):
    for source in (None, tmp_path / "nowhere", tmp_path):
        tables, report = load_tables(source)
        assert not report.ok
        assert set(tables) == set(TABLE_NAMES)
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    _, report = load_tables(tmp_path / "list.json")
    assert any("list.json" in i.message for i in report.errors)
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    _, report = load_tables(tmp_path / "notes.txt")
    assert any("notes.txt" in i.message for i in report.errors)


def test_repeated_csv_header_is_reported(tmp_path):
    (tmp_path / "machine_limit.csv").write_text("operation,machine,machine\n코팅,C02,C01\n", encoding="utf-8")
    raw, report = read_raw(tmp_path / "machine_limit.csv")
    assert raw["machine_limit"].columns.tolist() == ["operation", "machine", "machine.1", ROW]
    assert [(i.table, i.column) for i in report.warnings] == [("machine_limit", "machine")]


def test_loaded_frames_keep_their_row_numbers():
    tables = load_tables(BASE_FILE)[0]
    orders = tables["order_data"].iloc[[0, 2]]
    again, _ = load_tables({"order_data": orders.assign(width_mm=orders["width_mm"].astype(object)
                                                        .where(orders["po_no"] != "P3", "?"))})
    assert again["order_data"][ROW].tolist() == [1]
    assert [(i.row, i.value) for i in _.for_table("order_data")] == [(3, "?")]


def test_csv_short_rows_and_unnamed_columns_read_as_records_would(tmp_path):
    """A short row's missing fields are None; two blank header names are one column holding the last
    of their fields that the row has; whitespace-only rows are skipped."""
    (tmp_path / "machine_limit.csv").write_text("operation,,machine,\n코팅,x,C02,y\n인쇄,z\n \t, \n후처리\n",
                                                encoding="utf-8")
    raw, report = read_raw(tmp_path / "machine_limit.csv")
    frame = raw["machine_limit"]
    assert frame.columns.tolist() == ["operation", "", "machine", ROW]
    assert frame.to_dict("list") == {"operation": ["코팅", "인쇄", "후처리"], "": ["y", "z", None],
                                     "machine": ["C02", None, None], ROW: [2, 3, 5]}
    assert not report.issues
