"""results.xlsx through rustpy-xlsxwriter (the rust_xlsxwriter engine; the sheets go in as typed
columns, not cell by cell).

Sheets kpis, orders, late_orders, machines, schedule, gaps, each with a frozen header row and
column widths fitted to the first 500 values. Cell values: numbers as numbers, datetimes as
Excel date-times (``yyyy-mm-dd h:mm:ss``), the ``due`` column as dates (``yyyy-mm-dd``), text as
text (never turned into formulas or links), missing values and empty text as empty cells.

Each column is turned into a typed column once (vectorised: datetimes become Excel serial
numbers with the column's number format); a sheet with a column that mixes text and numbers
(the kpis sheet) goes in as row dicts.
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
    import rustpy_xlsxwriter as rx

    path = Path(path)
    formats = {"datetime": rx.Format().set_num_format(DATETIME_FORMAT),
               "date": rx.Format().set_num_format(DATE_FORMAT)}
    entries, widths, column_formats = [], {}, {}
    for name, df in sheets.items():
        data, kinds, widths[name] = _sheet(df)
        entries.append((name, data))
        column_formats[name] = {c: formats[k] for c, k in kinds.items() if k in formats}
    rx.write_worksheets(entries, str(path), freeze_panes={"general": {"row": 1, "col": 0}},
                        column_widths=widths, column_formats=column_formats)
    return path


def _kpi_value(v: Any) -> Any:
    v = plain(v)
    return "" if v is None else v


def _sheet(df: pd.DataFrame) -> tuple[Any, dict[str, str], list[float]]:
    """(data, kind of each column, widths) of one sheet. The data is a DataFrame of typed columns
    (nulls are empty cells) or, when a column mixes text and numbers, a list of row dicts."""
    columns, kinds, widths = {}, {}, []
    for name in df.columns:
        kind, values = _column(df[name])
        head = values[:_WIDTH_SAMPLE] if isinstance(values, list) else _plain_list(values.iloc[:_WIDTH_SAMPLE])
        widths.append(min(max(max([len(str(name))] + [_display_len(v, kind) for v in head]) + 2, 8), 60))
        columns[name], kinds[name] = values, kind
    if "mixed" in kinds.values():
        lists = [v if isinstance(v, list) else _plain_list(v) for v in columns.values()]
        return [dict(zip(columns, row)) for row in zip(*lists)], kinds, widths
    return pd.DataFrame(columns, columns=list(columns)), kinds, widths


def _column(s: pd.Series) -> tuple[str, pd.Series | list[Any]]:
    """(kind, values) of a column: numbers, Excel serial date-times, text or mixed; nulls are empty."""
    s = s.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(s):
        kind = "date" if s.name == "due" else "datetime"
        values = pd.to_datetime(s)
        if kind == "date":
            values = values.dt.normalize()
        return kind, _serials(values)
    if pd.api.types.is_bool_dtype(s):
        return "bool", s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s):
        return "number", s
    values = s.astype(object).where(s.notna(), None)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return "text", values.where(values != "", None)  # "" is an empty cell
    return "mixed", [(v or None) if v is None or type(v) is str else plain(v) for v in values.tolist()]


def _plain_list(s: pd.Series) -> list[Any]:
    """A column's values as Python values, nulls None (for the widths and the row dicts)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v
            for v in s.astype(object).tolist()]


def _serials(s: pd.Series) -> pd.Series:
    """Datetimes as Excel serial day numbers (1900 date system); NaT -> NaN (an empty cell)."""
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    days = (s - _EXCEL_EPOCH) / pd.Timedelta(days=1)
    early = days < 61  # Excel counts a 29 February 1900 that never was
    if early.any():
        if (days[early.fillna(False)] < 1).any():
            raise ValueError(f"column {s.name}: dates before 1900 cannot be written to Excel")
        days = days.where(~early, days - 1)
    return days.astype("float64")


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
