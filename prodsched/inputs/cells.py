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
