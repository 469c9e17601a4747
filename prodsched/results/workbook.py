"""results.xlsx through XlsxWriter in constant-memory mode (rows stream to disk as written).

Sheets kpis, orders, late_orders, machines, schedule, gaps, each with a frozen header row and
column widths fitted to the first 500 values. Cell values: numbers as numbers, datetimes as
Excel date-times (``yyyy-mm-dd h:mm:ss``), the ``due`` column as dates (``yyyy-mm-dd``), text as
text (never turned into formulas or links), missing values and empty text as empty cells.

Each column is turned into a list of Python values once (vectorised), then the rows are written
in order, as constant-memory mode requires.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodsched.results.columns import GAP_COLUMNS, MACHINE_COLUMNS, ORDER_COLUMNS, SCHEDULE_COLUMNS

XLSX_SHEETS = ("kpis", "orders", "late_orders", "machines", "schedule", "gaps")
KPI_SHEET_COLUMNS = ["kpi", "value", "meaning"]
DATETIME_FORMAT, DATE_FORMAT = "yyyy-mm-dd h:mm:ss", "yyyy-mm-dd"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_WIDTH_SAMPLE = 500


def plain(v: Any) -> Any:
    """A value as plain JSON-able Python: numpy numbers unwrapped, NaN None, datetimes ISO text."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    return v


def with_columns(df: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    """``df`` with exactly ``columns`` in that order (missing ones empty)."""
    df = pd.DataFrame(columns=columns) if df is None else df
    missing = [c for c in columns if c not in df.columns]
    if missing:
        df = df.assign(**{c: "" for c in missing})
    return df[columns]


def sheets_of(artifacts: Mapping[str, Any], meanings: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """The six sheets as DataFrames, from the merged artifacts of a run."""
    kpis = artifacts["kpis"]
    return {
        "kpis": pd.DataFrame({"kpi": list(kpis), "value": [_kpi_value(v) for v in kpis.values()],
                              "meaning": [meanings.get(k, "") for k in kpis]}, columns=KPI_SHEET_COLUMNS),
        "orders": with_columns(artifacts.get("orders"), ORDER_COLUMNS),
        "late_orders": with_columns(artifacts.get("late_orders"), ORDER_COLUMNS),
        "machines": with_columns(artifacts.get("machines"), MACHINE_COLUMNS),
        "schedule": with_columns(artifacts.get("schedule"), SCHEDULE_COLUMNS),
        "gaps": with_columns(artifacts.get("gaps"), GAP_COLUMNS),
    }


def write_workbook(sheets: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """Write ``sheets`` (name -> DataFrame, in order) as an .xlsx file; return its path."""
    import xlsxwriter

    path = Path(path)
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
               "strings_to_numbers": False, "tmpdir": str(path.parent)}
    wb = xlsxwriter.Workbook(str(path), options)
    formats = {"datetime": wb.add_format({"num_format": DATETIME_FORMAT}),
               "date": wb.add_format({"num_format": DATE_FORMAT})}
    try:
        for name, df in sheets.items():
            _write_sheet(wb.add_worksheet(name), df, formats)
    finally:
        wb.close()
    return path


def _kpi_value(v: Any) -> Any:
    v = plain(v)
    return "" if v is None else v


def _write_sheet(ws, df: pd.DataFrame, formats: Mapping[str, Any]) -> None:
    ws.freeze_panes(1, 0)
    columns = []
    for i, name in enumerate(df.columns):
        kind, values = _column(df[name])
        width = max([len(str(name))] + [_display_len(v, kind) for v in values[:_WIDTH_SAMPLE]])
        ws.set_column(i, i, min(max(width + 2, 8), 60))
        columns.append((i, _writer(ws, kind), values, formats.get(kind)))
    for i, name in enumerate(df.columns):
        ws.write_string(0, i, str(name))
    for r in range(len(df)):
        row = r + 1
        for i, write, values, fmt in columns:
            v = values[r]
            if v is not None:
                write(row, i, v, fmt)


def _writer(ws, kind: str):
    if kind in ("number", "datetime", "date"):
        return ws.write_number
    if kind == "text":
        return ws.write_string
    if kind == "bool":
        return ws.write_boolean
    return ws.write  # mixed values: XlsxWriter picks by type (text stays text, see the options)


def _column(s: pd.Series) -> tuple[str, list[Any]]:
    """(kind, values) of a column: numbers, Excel serial date-times, text or mixed; None = empty."""
    if pd.api.types.is_datetime64_any_dtype(s):
        kind = "date" if s.name == "due" else "datetime"
        values = pd.to_datetime(s)
        if kind == "date":
            values = values.dt.normalize()
        return kind, _serials(values)
    if pd.api.types.is_bool_dtype(s):
        return "bool", s.astype(object).where(s.notna(), None).tolist()
    if pd.api.types.is_numeric_dtype(s):
        values = s.astype(object).where(s.notna(), None).tolist()
        return "number", [None if v is None else (int(v) if isinstance(v, (int, np.integer)) else float(v))
                          for v in values]
    values = s.astype(object).where(s.notna(), None).tolist()
    if all(v is None or type(v) is str for v in values):
        return "text", [v or None for v in values]  # "" is an empty cell
    return "mixed", [(v or None) if v is None or type(v) is str else plain(v) for v in values]


def _serials(s: pd.Series) -> list[float | None]:
    """Datetimes as Excel serial day numbers (1900 date system); NaT -> None."""
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    days = (s - _EXCEL_EPOCH) / pd.Timedelta(days=1)
    early = days < 61  # Excel counts a 29 February 1900 that never was
    if early.any():
        if (days[early.fillna(False)] < 1).any():
            raise ValueError(f"column {s.name}: dates before 1900 cannot be written to Excel")
        days = days.where(~early, days - 1)
    return days.astype(object).where(days.notna(), None).tolist()


def _display_len(v: Any, kind: str) -> int:
    if v is None:
        return 0
    if kind == "datetime":
        return 19
    if kind == "date":
        return 10
    if isinstance(v, float):
        return len(f"{v:.6g}")
    return len(str(v))
