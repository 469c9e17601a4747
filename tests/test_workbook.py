"""results.xlsx cell by cell: every kind of column keeps its value, empty values stay empty cells."""

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from prodsched.results.workbook import write_workbook


@pytest.fixture()
def book(tmp_path):
    times = pd.to_datetime(["2024-03-05 14:30:00", None, "2024-03-06 00:00:01"])
    sheets = {
        "kpis": pd.DataFrame({"kpi": ["makespan_slots", "rule", "lower_bound"], "value": [60, "window", ""],
                              "meaning": ["end of the last operation", "", "bound"]}),
        "rows": pd.DataFrame({
            "text": ["=SUM(A1:A2)", "https://example.org", ""],
            "digits": ["007", None, "1e3"],
            "count": pd.array([3, None, -1], dtype="Int64"),
            "length_m": [0.1 + 0.2, np.nan, 12220.026439615807],
            "whole": np.array([1, 2, 3], dtype="int64"),
            "flag": [True, False, True],
            "start_time": times,
            "due": times,
        }),
    }
    path = write_workbook(sheets, tmp_path / "book.xlsx")
    return openpyxl.load_workbook(path)


def test_sheets_in_order_with_frozen_header(book):
    assert book.sheetnames == ["kpis", "rows"]
    assert all(ws.freeze_panes == "A2" for ws in book.worksheets)


def test_mixed_kpi_column_keeps_numbers_and_text(book):
    rows = list(book["kpis"].iter_rows(values_only=True))
    assert rows[0] == ("kpi", "value", "meaning")
    assert rows[1] == ("makespan_slots", 60, "end of the last operation")
    assert rows[2] == ("rule", "window", None)  # empty text is an empty cell
    assert rows[3] == ("lower_bound", None, "bound")


def test_every_column_kind_keeps_its_values(book):
    ws = book["rows"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert [r["text"] for r in rows] == ["=SUM(A1:A2)", "https://example.org", None]  # text, never formulas or links
    assert ws["A2"].data_type == "s" and ws["A3"].hyperlink is None
    assert [r["digits"] for r in rows] == ["007", None, "1e3"]  # digits stay text
    assert [r["count"] for r in rows] == [3, None, -1]
    assert [r["length_m"] for r in rows] == [0.1 + 0.2, None, 12220.026439615807]  # exact floats
    assert [r["whole"] for r in rows] == [1, 2, 3]
    assert [r["flag"] for r in rows] == [True, False, True]
    assert [r["start_time"] for r in rows] == [dt.datetime(2024, 3, 5, 14, 30), None, dt.datetime(2024, 3, 6, 0, 0, 1)]
    assert [r["due"] for r in rows] == [dt.datetime(2024, 3, 5), None, dt.datetime(2024, 3, 6)]  # dates: the day


def test_number_formats_and_widths(book):
    ws = book["rows"]
    col = {c.value: c.column_letter for c in ws[1]}
    assert ws[f"{col['start_time']}2"].number_format == "yyyy-mm-dd h:mm:ss"
    assert ws[f"{col['due']}2"].number_format == "yyyy-mm-dd"
    assert ws.column_dimensions[col["text"]].width > len("https://example.org")
    assert ws.column_dimensions[col["flag"]].width >= 8


def test_dates_before_1900_are_refused(tmp_path):
    sheets = {"rows": pd.DataFrame({"start_time": pd.to_datetime(["1899-06-01"])})}
    with pytest.raises(ValueError, match="start_time: dates before 1900"):
        write_workbook(sheets, tmp_path / "old.xlsx")
