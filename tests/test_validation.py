"""Every input check: a small bad input, and the report entry naming table, row, column and value."""

from __future__ import annotations

import copy
import json
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from prodsched.inputs.read import read_raw

from prodsched.inputs.write import write_tables
from prodsched.inputs.spec import ROW, TABLE_NAMES
from prodsched.inputs.read import load_tables
from prodsched.inputs.report import ValidationReport

BASE = json.loads((Path(__file__).parent / "bad_inputs" / "base_payload.json").read_text(encoding="utf-8"))


def payload(**changes):
    data = copy.deepcopy(BASE)
    for table, value in changes.items():
        if value is None:
            data.pop(table)
        else:
            data[table] = value
    return data


def find(report, severity, table, row=None, column=None, text=None):
    """The issues matching; asserts there is at least one and that str(report) shows it."""
    hits = [i for i in report
            if i.severity == severity and i.table == table
            and (row is None or i.row == row)
            and (column is None or i.column.split(" (")[0] == column)
            and (text is None or text in i.message)]
    assert hits, f"no {severity} for {table} row {row} column {column} {text!r} in:\n{report}"
    shown = str(report)
    for issue in hits:
        assert issue.table in shown and issue.message in shown
        if issue.row is not None:
            assert str(issue.row) in shown
    return hits


def test_base_payload_is_clean():
    tables, report = load_tables(BASE)
    assert report.ok and not report.warnings, str(report)
    assert set(tables) == set(TABLE_NAMES)


# --------------------------------------------------------------------------- structure

def test_missing_required_table_is_an_error():
    _, report = load_tables(payload(linespeed=None))
    issue = find(report, "error", "linespeed", text="missing")[0]
    assert "md_step2_linespeed.json" in issue.message
    assert not report.ok


def test_missing_optional_tables_are_fine():
    tables, report = load_tables(payload(machine_rest=None, machine_allocate=None, machine_limit=None,
                                         gitem_operation=None))
    assert report.ok, str(report)
    assert tables["machine_rest"].empty and list(tables["machine_rest"].columns) == [
        "machine", "machine_index", "start", "end", ROW]


def test_missing_required_column_names_table_and_column():
    orders = [{k: v for k, v in rec.items() if k != "납기일"} for rec in BASE["order_data"]]
    _, report = load_tables(payload(order_data=orders))
    find(report, "error", "order_data", column="due", text="has no column due")


def test_missing_length_columns():
    orders = [{k: v for k, v in rec.items() if k not in ("원단길이", "의뢰량")} for rec in BASE["order_data"]]
    _, report = load_tables(payload(order_data=orders))
    find(report, "error", "order_data", text="length_m (or roll_length_m and rolls)")


def test_invalid_json_file_is_named(tmp_path):
    write_tables(load_tables(BASE)[0], tmp_path, form="json")
    (tmp_path / "linespeed.json").write_text('[{"item": "A", ', encoding="utf-8")
    _, report = load_tables(tmp_path)
    issue = find(report, "error", "linespeed", text="not valid JSON")[0]
    assert issue.value == "linespeed.json" and "linespeed.json" in issue.message
    # the unreadable file is not reported a second time as a missing table
    assert not [i for i in report.errors if "missing" in i.message]


def test_invalid_csv_file_is_named(tmp_path):
    write_tables(load_tables(BASE)[0], tmp_path, form="csv")
    (tmp_path / "order_data.csv").write_bytes(b"\x00\x01\x02binary\xff\xfe")
    _, report = load_tables(tmp_path)
    issue = find(report, "error", "order_data", text="order_data.csv")[0]
    assert issue.value == "order_data.csv"


def test_csv_row_with_too_many_fields(tmp_path):
    write_tables(load_tables(BASE)[0], tmp_path, form="csv")
    path = tmp_path / "machine_limit.csv"
    path.write_text(path.read_text(encoding="utf-8") + "코팅,C01,extra,more\n", encoding="utf-8")
    _, report = load_tables(tmp_path)
    find(report, "error", "machine_limit", row=3, text="fields")


def test_invalid_xlsx_is_named(tmp_path):
    book = tmp_path / "plant.xlsx"
    book.write_text("this is not a workbook", encoding="utf-8")
    tables, report = load_tables(book)
    issue = find(report, "error", "", text="plant.xlsx")[0]
    assert "not a valid .xlsx" in issue.message
    assert set(tables) == set(TABLE_NAMES)


def test_json_not_a_list_of_records(tmp_path):
    write_tables(load_tables(BASE)[0], tmp_path, form="json")
    (tmp_path / "order_data.json").write_text('{"P1": {"item": "A"}}', encoding="utf-8")
    (tmp_path / "linespeed.json").write_text('[["A", "코팅", 20]]', encoding="utf-8")
    _, report = load_tables(tmp_path)
    find(report, "error", "order_data", text="order_data.json is not a list of records")
    issue = find(report, "error", "linespeed", text="linespeed.json is not a list of records")[0]
    assert issue.row == 1


def test_payload_value_not_a_list():
    _, report = load_tables(payload(machine_limit={"공정명": "코팅"}))
    find(report, "error", "machine_limit", text="not a list of records")


def test_empty_required_table_is_an_error_and_empty_delay_a_warning():
    _, report = load_tables(payload(order_data=[], operation_delay=[]))
    find(report, "error", "order_data", text="is empty")
    find(report, "warning", "operation_delay", text="0 slots")


def test_unknown_table_names_are_reported_not_dropped_silently():
    data = payload()
    data["orders_backup"] = []
    _, report = load_tables(data)
    find(report, "warning", "", text="'orders_backup' is not one of the input tables")


# --------------------------------------------------------------------------- cell types and ranges

def test_wrong_types_name_the_cell():
    orders = copy.deepcopy(BASE["order_data"])
    orders[0]["너비"] = "wide"
    orders[1]["납기일"] = "2026-13-45"
    orders[2]["원단길이"] = "lots"
    tables, report = load_tables(payload(order_data=orders))
    assert find(report, "error", "order_data", row=1, column="width_mm")[0].value == "wide"
    assert find(report, "error", "order_data", row=2, column="due", text="not a date")[0].value == "2026-13-45"
    assert find(report, "error", "order_data", row=3, column="length_m")[0].value == "lots"
    assert tables["order_data"].empty  # every bad row is out, each one reported


def test_non_numeric_speed_wide_and_long():
    speeds = copy.deepcopy(BASE["linespeed"])
    speeds[2]["C02"] = "fast"
    _, report = load_tables(payload(linespeed=speeds))
    issue = find(report, "error", "linespeed", row=3, column="C02")[0]
    assert issue.value == "fast"
    long = [{"item": "A", "operation": "코팅", "machine": "C01", "speed_m_min": "20"},
            {"item": "A", "operation": "후처리", "machine": "F01", "speed_m_min": "n/a"},
            {"item": "B", "operation": "코팅", "machine": "C01", "speed_m_min": 15}]
    _, report = load_tables(payload(linespeed=long))
    assert find(report, "error", "linespeed", row=2, column="speed_m_min")[0].value == "n/a"


def test_negative_and_zero_values():
    orders = copy.deepcopy(BASE["order_data"])
    orders[0]["길이"] = -100
    orders[1]["너비"] = 0
    orders[2]["원단길이"] = 0
    tables, report = load_tables(payload(order_data=orders))
    assert find(report, "error", "order_data", row=1, column="roll_length_m", text=">= 0")[0].value == "-100"
    assert find(report, "error", "order_data", row=2, column="width_mm", text="> 0")[0].value == "0"
    find(report, "warning", "order_data", row=3, column="length_m", text="zero length")
    assert tables["order_data"]["po_no"].tolist() == ["P3"]  # zero length is kept for stage 2 (unable)


def test_zero_rolls_and_negative_speed():
    orders = copy.deepcopy(BASE["order_data"])
    orders[1]["의뢰량"] = 0
    speeds = copy.deepcopy(BASE["linespeed"])
    speeds[0]["C01"] = -5
    speeds[1]["F01"] = 0
    tables, report = load_tables(payload(order_data=orders, linespeed=speeds))
    find(report, "warning", "order_data", row=2, text="zero length")
    assert find(report, "error", "linespeed", row=1, column="speed_m_min", text=">= 0")[0].value == "-5"
    find(report, "warning", "linespeed", row=2, column="F01", text="cannot run")


def test_routing_seq_and_aging_types():
    routing = copy.deepcopy(BASE["operation_sequence"])
    routing[0]["공정순서"] = 1.5
    routing[1]["숙성시간"] = "long"
    _, report = load_tables(payload(operation_sequence=routing))
    assert find(report, "error", "operation_sequence", row=1, column="seq", text="whole number")[0].value == "1.5"
    find(report, "error", "operation_sequence", row=2, column="aging_hours")


def test_missing_value_in_required_column():
    orders = copy.deepcopy(BASE["order_data"])
    orders[1]["GITEM"] = "  "
    _, report = load_tables(payload(order_data=orders))
    find(report, "error", "order_data", row=2, column="item", text="missing value")


# --------------------------------------------------------------------------- duplicates

def test_duplicate_po_first_row_wins():
    orders = copy.deepcopy(BASE["order_data"])
    orders.append(dict(orders[0], 너비=508))
    tables, report = load_tables(payload(order_data=orders))
    issue = find(report, "warning", "order_data", row=4, column="po_no")[0]
    assert "row 1 wins" in issue.message and issue.value == "po_no=P1"
    assert tables["order_data"].set_index("po_no").loc["P1", "width_mm"] == 1524


def test_duplicate_routing_keys():
    routing = copy.deepcopy(BASE["operation_sequence"])
    routing.append({"GITEM": "A", "공정명": "코팅", "공정순서": 3})  # same item + operation
    routing.append({"GITEM": "B", "공정명": "후처리", "공정순서": 1})  # same item + seq
    tables, report = load_tables(payload(operation_sequence=routing))
    assert "row 1 wins" in find(report, "warning", "operation_sequence", row=4, text="duplicate")[0].message
    assert "row 3 wins" in find(report, "warning", "operation_sequence", row=5, text="duplicate")[0].message
    assert len(tables["operation_sequence"]) == 3


def test_duplicate_linespeed_rows_wide_and_long():
    speeds = copy.deepcopy(BASE["linespeed"])
    speeds.append({"GITEM": "A", "공정명": "코팅", "C01": 99})
    tables, report = load_tables(payload(linespeed=speeds))
    assert "row 1 wins" in find(report, "warning", "linespeed", row=4, text="duplicate")[0].message
    ls = tables["linespeed"]
    assert ls.loc[(ls["item"] == "A") & (ls["operation"] == "코팅") & (ls["machine"] == "C01"),
                  "speed_m_min"].tolist() == [20.0]
    long = [{"item": "B", "operation": "코팅", "machine": "C01", "speed_m_min": 15},
            {"item": "A", "operation": "코팅", "machine": "C01", "speed_m_min": 20},
            {"item": "A", "operation": "후처리", "machine": "F01", "speed_m_min": 30},
            {"item": "B", "operation": "코팅", "machine": "C01", "speed_m_min": 16}]
    _, report = load_tables(payload(linespeed=long))
    find(report, "warning", "linespeed", row=4, text="row 1 wins")


# --------------------------------------------------------------------------- cross-table checks

def test_order_without_routing_is_named():
    orders = copy.deepcopy(BASE["order_data"]) + [
        {"P/O NO": "P9", "GITEM": "Z", "너비": 1524, "원단길이": 100, "납기일": "2026-01-15"}]
    _, report = load_tables(payload(order_data=orders))
    issue = find(report, "warning", "order_data", row=4, column="item", text="no routing")[0]
    assert issue.value == "Z" and "P9" in issue.message
    assert report.ok


def test_routing_seq_not_one_to_n_is_an_error():
    routing = copy.deepcopy(BASE["operation_sequence"])
    routing[1]["공정순서"] = 3
    _, report = load_tables(payload(operation_sequence=routing))
    issue = find(report, "error", "operation_sequence", row=1, column="seq", text="item A")[0]
    assert issue.value == "1,3"


def test_operation_without_speed_or_eligible_machine():
    speeds = [s for s in BASE["linespeed"] if s["공정명"] != "후처리"]
    _, report = load_tables(payload(linespeed=speeds))
    issue = find(report, "warning", "operation_sequence", row=2, column="operation", text="no speed")[0]
    assert issue.value == "후처리" and "item A" in issue.message
    limits = BASE["machine_limit"] + [{"공정명": "후처리", "기계코드": "F01"}]
    _, report = load_tables(payload(machine_limit=limits))
    find(report, "warning", "operation_sequence", row=2, text="no eligible machine")


def test_allocation_without_speed_is_reported_not_applied():
    alloc = [{"공정명": "코팅", "기계코드": "F01"}]
    _, report = load_tables(payload(machine_allocate=alloc))
    issue = find(report, "warning", "machine_allocate", row=1, column="machine", text="not applied")[0]
    assert "A" in issue.message and "B" in issue.message
    assert not [i for i in report if "no eligible machine" in i.message]


def test_unknown_operation_class():
    types = [t for t in BASE["operation_types"] if t["공정명"] != "후처리"]
    _, report = load_tables(payload(operation_types=types))
    issue = find(report, "warning", "operation_sequence", row=2, text="unknown operation class")[0]
    assert issue.value == "후처리"


def test_missing_class_pairs_are_treated_as_zero():
    delay = [d for d in BASE["operation_delay"] if d["선행공정분류"] != "후처리"]
    _, report = load_tables(payload(operation_delay=delay))
    issue = find(report, "warning", "operation_delay", column="to_class", text="treated as 0")[0]
    assert issue.value == "후처리" and "SR" in issue.message


@pytest.mark.parametrize("table,record,row", [
    ("machine_limit", {"공정명": "코팅", "기계코드": "X99"}, 2),
    ("machine_allocate", {"공정명": "후처리", "기계코드": "X99"}, 2),
    ("machine_rest", {"기계코드": "X99", "시작시간": "2026-01-07", "종료시간": "2026-01-08"}, 2),
])
def test_unknown_machine_codes_are_errors(table, record, row):
    _, report = load_tables(payload(**{table: BASE[table] + [record]}))
    assert find(report, "error", table, row=row, column="machine", text="unknown machine")[0].value == "X99"


def test_a_wide_linespeed_column_of_a_retired_machine_is_dropped_with_a_warning():
    speeds = copy.deepcopy(BASE["linespeed"])
    speeds[0]["Z77"] = 12
    tables, report = load_tables(payload(linespeed=speeds))
    issue = find(report, "warning", "linespeed", column="Z77", text="unknown machine")[0]
    assert "column is dropped" in issue.message
    assert report.ok
    assert "Z77" not in set(tables["linespeed"]["machine"])
    assert "Z77" not in tables["linespeed"].columns


def test_unknown_machine_in_linespeed_long_form_is_an_error():
    long = [{"item": "A", "operation": "코팅", "machine": "C01", "speed_m_min": 20},
            {"item": "A", "operation": "후처리", "machine": "F9", "speed_m_min": 30}]
    _, report = load_tables(payload(linespeed=long))
    assert find(report, "error", "linespeed", row=2, column="machine")[0].value == "F9"


def test_unknown_machine_index_in_width_change():
    rows = BASE["width_change"] + [{"기계인덱스": 9, "long_to_short": 1, "short_to_long": 1}]
    _, report = load_tables(payload(width_change=rows))
    assert find(report, "error", "width_change", row=4, column="machine_index")[0].value == "9"


def test_downtime_end_not_after_start():
    rest = [{"기계코드": "C01", "시작시간": "2026-01-06 08:00", "종료시간": "2026-01-06 08:00"},
            {"기계인덱스": 2, "시작시간": "2026-01-09 10:00", "종료시간": "2026-01-09 06:00"},
            {"기계코드": "C02", "시작시간": "someday", "종료시간": "2026-01-09 06:00"}]
    tables, report = load_tables(payload(machine_rest=rest))
    find(report, "error", "machine_rest", row=1, column="end", text="at or before")
    find(report, "error", "machine_rest", row=2, column="end", text="at or before")
    assert find(report, "error", "machine_rest", row=3, column="start")[0].value == "someday"
    assert tables["machine_rest"]["machine"].tolist() == ["C01", "C02"]  # index 2 -> C02


def test_downtime_without_any_machine():
    rest = BASE["machine_rest"] + [{"시작시간": "2026-01-07", "종료시간": "2026-01-08"}]
    tables, report = load_tables(payload(machine_rest=rest))
    find(report, "error", "machine_rest", row=2, column="machine", text="no machine code")
    assert len(tables["machine_rest"]) == 1


def test_yield_outside_unit_interval_and_percent_columns():
    yields = copy.deepcopy(BASE["yield_data"])
    yields[1]["수율"] = 1.7
    yields[2]["수율"] = 0
    tables, report = load_tables(payload(yield_data=yields))
    assert find(report, "error", "yield_data", row=2, column="yield", text="outside (0, 1]")[0].value == "1.7"
    find(report, "error", "yield_data", row=3, column="yield", text="outside (0, 1]")
    percent = [dict(y, 수율=p) for y, p in zip(BASE["yield_data"], (95, 98.5, 100))]
    tables, report = load_tables(payload(yield_data=percent))
    assert report.ok
    find(report, "warning", "yield_data", column="yield", text="percent")
    assert tables["yield_data"]["yield"].tolist() == [0.95, 0.985, 1.0]


def test_gitem_operation_disagreeing_with_routing():
    wide = [{"GITEM": "A", "1공정": "코팅", "2공정": "인쇄"}, {"GITEM": "B", "1공정": "코팅", "2공정": "후처리"},
            {"GITEM": "Q", "1공정": "코팅"}]
    _, report = load_tables(payload(gitem_operation=wide))
    issue = find(report, "warning", "gitem_operation", row=1, column="op2")[0]
    assert "item A, step 2" in issue.message and issue.value == "인쇄"
    find(report, "warning", "gitem_operation", row=2, column="op2", text="item B, step 2")
    find(report, "warning", "gitem_operation", row=3, column="item", text="no routing")


def test_allocate_and_limit_rows_for_unused_operations():
    _, report = load_tables(payload(machine_limit=[{"공정명": "도금", "기계코드": "C01"}]))
    assert find(report, "warning", "machine_limit", row=1, column="operation")[0].value == "도금"


def test_two_headers_for_one_column():
    orders = [dict(rec, item="OTHER") for rec in BASE["order_data"]]
    tables, report = load_tables(payload(order_data=orders))
    find(report, "warning", "order_data", column="item", text="both mean item")
    assert tables["order_data"]["item"].tolist() == ["A", "B", "A"]
    assert tables["order_data"]["item.1"].tolist() == ["OTHER"] * 3  # kept as an extra column


# --------------------------------------------------------------------------- nothing dropped silently

def test_every_dropped_row_is_reported():
    data = payload()
    data["order_data"] = BASE["order_data"] + [
        {"P/O NO": "P1", "GITEM": "A", "너비": 1524, "원단길이": 1, "납기일": "2026-01-11"},
        {"P/O NO": "P5", "GITEM": "A", "너비": "x", "원단길이": 1, "납기일": "2026-01-11"},
        {"P/O NO": "P6", "GITEM": "A", "너비": 1524, "원단길이": -1, "납기일": "2026-01-11"},
        {"P/O NO": "P7", "GITEM": "", "너비": 1524, "원단길이": 10, "납기일": "2026-01-11"},
        {"P/O NO": "P8", "GITEM": "A", "너비": 1524, "납기일": "2026-01-11"},
    ]
    data["linespeed"] = BASE["linespeed"] + [{"GITEM": "B", "공정명": "코팅", "C01": 1},
                                             {"GITEM": "C", "공정명": "코팅"}]
    data["yield_data"] = BASE["yield_data"] + [{"GITEM": "A", "공정명": "코팅", "수율": 3}]
    data["operation_delay"] = BASE["operation_delay"] + [BASE["operation_delay"][0]]
    data["width_change"] = BASE["width_change"] + [{"기계인덱스": 8, "long_to_short": 1, "short_to_long": 1}]
    data["machine_rest"] = BASE["machine_rest"] + [{"기계코드": "C01", "시작시간": "?", "종료시간": "?"}]
    raw, _ = read_raw(data)
    tables, report = load_tables(data)
    for name in TABLE_NAMES:
        before = set(raw[name][ROW])
        kept = set(tables[name][ROW])
        reported = {i.row for i in report.for_table(name) if i.row is not None}
        assert before - kept <= reported, (name, before - kept, str(report))
    assert len(tables["order_data"]) == 3


# --------------------------------------------------------------------------- the report object

def test_report_api_and_rendering():
    report = ValidationReport()
    assert report.ok and str(report) == "validation: no problems found" and bool(report)
    report.add("warning", "linespeed", None, "C01", 0, "speed 0")
    report.error("order_data", 5, "due (납기일)", "2026-13-01", "not a date")
    assert not report.ok and len(report.errors) == 1 and len(report.warnings) == 1
    frame = report.to_frame()
    assert list(frame.columns) == ["severity", "table", "row", "column", "value", "message"]
    assert frame["row"].isna().tolist() == [True, False]
    lines = str(report).splitlines()
    assert lines[0].split()[:6] == ["severity", "table", "row", "column", "value", "message"]
    assert lines[2].startswith("error") and "2026-13-01" in lines[2]  # errors first
    def display(text):  # terminal columns: Korean characters are two wide
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    assert display(lines[2][: lines[2].index("not a date")]) == display(lines[3][: lines[3].index("speed 0")])
    again = ValidationReport.from_frame(frame)
    assert [i.to_dict() for i in again] == [i.to_dict() for i in report]
    with pytest.raises(ValueError):
        report.add("fatal", "x", 1, "c", 1, "m")
    assert json.loads(json.dumps(report.to_records()))[0]["severity"] == "error"
    assert "<table" in report._repr_html_()
    assert isinstance(frame, pd.DataFrame)
