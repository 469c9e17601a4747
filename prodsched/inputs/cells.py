"""Cell values as the input files give them: blank, text, number and date readings.

One place decides what counts as an empty cell and how a cell reads as text, a number or a
timestamp; reading, normalisation and the per-table rules all use it.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def blank(v: Any) -> bool:
    """None, NaN, NaT or whitespace-only text."""
    if v is None or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def to_str(v: Any) -> str:
    if blank(v):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date)):
        return pd.Timestamp(v).isoformat()
    return str(v).strip()


def to_number(v: Any) -> float:
    if isinstance(v, (bool, np.bool_)):
        return math.nan
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip().replace(",", ""))
        except ValueError:
            return math.nan
    else:
        return math.nan
    return f if math.isfinite(f) else math.nan


def to_timestamp(v: Any) -> pd.Timestamp | None:
    try:
        if isinstance(v, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
            ts = pd.Timestamp(v)
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            f = float(v)
            if 19000101 <= f <= 29991231 and f.is_integer():
                ts = pd.Timestamp(str(int(f)))
            elif 1 <= f < 200000:  # an Excel serial date
                ts = _EXCEL_EPOCH + pd.Timedelta(days=f)
            elif 1e11 <= f < 1e14:  # epoch milliseconds (pandas' JSON default)
                ts = pd.Timestamp(int(f), unit="ms")
            else:
                return None
        elif isinstance(v, str):
            ts = pd.Timestamp(v.strip())
        else:
            return None
    except (ValueError, TypeError, OverflowError):
        return None
    if pd.isna(ts):
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts


# ----------------------------------------------------------------------------- whole columns
# The same readings for a whole column at once. A column of text cells (what CSV gives) or of
# numbers (what JSON gives) takes a vectorised path; a column that mixes kinds (or holds dates)
# is read cell by cell with the functions above, so every path reads a cell the same way.

# The characters Python's ``str.strip()`` removes (``str.isspace``), so that Arrow's trim of a whole
# column gives exactly what stripping each cell in Python gives.
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
                 + "\u2028\u2029\u202f\u205f\u3000")


def _kind(series: pd.Series) -> str:
    return pd.api.types.infer_dtype(series, skipna=True)


def _trimmed(series: pd.Series) -> pa.Array | None:
    """A text column (str cells or missing ones) as an Arrow array with every cell stripped as
    ``str.strip`` strips it (missing cells null); None when a cell has no UTF-8 form (a lone
    surrogate, possible in a JSON payload): such a column is read with pandas' per-cell strip."""
    try:
        text = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except UnicodeEncodeError:
        return None
    return pc.utf8_trim(text, characters=PY_WHITESPACE)


def _empty(trimmed: pa.Array) -> np.ndarray:
    """Bool array: the cell is missing or empty."""
    return pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False)


class Cells:
    """One column's cells, read as blanks, texts and numbers; a column of text is stripped once
    for all three readings."""

    def __init__(self, series: pd.Series):
        self.series = series
        self.kind = _kind(series)
        self._trim: pa.Array | None = None

    def _trimmed(self) -> pa.Array | None:
        if self._trim is None:
            self._trim = _trimmed(self.series)
        return self._trim

    def blank(self) -> pd.Series:
        """:func:`blank` of every cell (a bool Series on the column's index)."""
        series, kind = self.series, self.kind
        if kind == "empty":
            return pd.Series(True, index=series.index)
        if kind == "string":
            trimmed = self._trimmed()
            if trimmed is None:
                return series.isna() | series.str.strip().eq("").fillna(False).astype(bool)
            return pd.Series(_empty(trimmed), index=series.index)
        if kind in ("integer", "floating", "mixed-integer-float"):
            return series.isna()
        return series.map(blank).astype(bool)

    def text(self) -> pd.Series:
        """:func:`to_str` of every cell (object Series of str)."""
        series, kind = self.series, self.kind
        if kind == "empty":
            return pd.Series("", index=series.index, dtype=object)
        if kind == "string":
            trimmed = self._trimmed()
            if trimmed is None:
                return series.str.strip().where(~self.blank(), "").astype(object)
            return pd.Series(pc.fill_null(trimmed, "").to_numpy(zero_copy_only=False), index=series.index,
                             dtype=object)
        return series.map(to_str).astype(object)

    def numbers(self) -> pd.Series:
        """:func:`to_number` of every cell (float64 Series; NaN where a cell is no finite number)."""
        series, kind = self.series, self.kind
        if kind == "empty":
            return pd.Series(np.nan, index=series.index, dtype="float64")
        values = None
        if kind == "string":
            trimmed = self._trimmed()
            if trimmed is None:
                cleaned = series.str.strip().str.replace(",", "", regex=False)
                filled = cleaned.where(series.notna() & cleaned.ne(""), "nan").to_numpy(dtype=object)
            else:
                cleaned = pc.replace_substring(trimmed, ",", "")
                filled = pc.if_else(pc.fill_null(pc.equal(cleaned, ""), True), "nan", cleaned)
                filled = filled.to_numpy(zero_copy_only=False)
            try:  # float() of each text, as to_number does; any text that is no number -> cell by cell
                values = filled.astype("float64")
            except (TypeError, ValueError):
                values = None
        elif kind in ("integer", "floating", "mixed-integer-float"):
            values = series.to_numpy(dtype=object)
            values = np.array([np.nan if v is None else v for v in values], dtype="float64") \
                if series.isna().any() else values.astype("float64")
        if values is None:
            return series.map(to_number).astype("float64")
        return pd.Series(np.where(np.isfinite(values), values, np.nan), index=series.index)


def blank_cells(series: pd.Series) -> pd.Series:
    """:func:`blank` of every cell of ``series`` (a bool Series on its index)."""
    return Cells(series).blank()


def text_cells(series: pd.Series) -> pd.Series:
    """:func:`to_str` of every cell (object Series of str)."""
    return Cells(series).text()


def number_cells(series: pd.Series) -> pd.Series:
    """:func:`to_number` of every cell (float64 Series; NaN where a cell is no finite number)."""
    return Cells(series).numbers()
