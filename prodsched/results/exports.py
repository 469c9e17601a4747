"""Result files of the output contract (DESIGN §5): CSV, JSON, Excel and the static Gantt charts.

``write_results(artifacts, out_dir, plan)`` takes the merged artifacts of a run (stage 1-6 names)
and the schedule's plan view, and writes ``schedule.csv``, ``kpis.json``, ``orders.csv``,
``unable.csv``, ``validation.csv``, ``results.xlsx``, ``gantt.png`` and ``gantt.html``. Datetimes are
ISO 8601 (``2024-03-05T14:30:00``), due dates ISO dates, multi-values ';'-joined, text UTF-8.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodsched.inputs.spec import TABLE_NAMES
from prodsched.results.columns import (
    GAP_COLUMNS,
    MACHINE_COLUMNS,
    ORDER_COLUMNS,
    SCHEDULE_COLUMNS,
    UNABLE_COLUMNS,
    VALIDATION_COLUMNS,
)
from prodsched.results.gantt_data import gantt_data
from prodsched.results.gantt_html import gantt_html
from prodsched.results.gantt_png import render_png
from prodsched.results.plan import PlanView

log = logging.getLogger(__name__)

XLSX_SHEETS = ("kpis", "orders", "late_orders", "machines", "schedule", "gaps")
KPI_SHEET_COLUMNS = ["kpi", "value", "meaning"]
KPI_MEANING = {
    "makespan_slots": "end of the last operation, slots from base_date",
    "makespan_hours": "makespan in hours",
    "makespan_days": "makespan in days",
    "makespan_end": "date and time the last operation ends",
    "orders": "purchase orders in the input",
    "scheduled_orders": "purchase orders whose job is scheduled",
    "unable_orders": "purchase orders that cannot be made (see unable.csv)",
    "jobs": "scheduled jobs (merged orders)",
    "operations": "scheduled operations",
    "late_orders": "scheduled purchase orders finished after the end of their due day",
    "on_time_orders": "scheduled purchase orders finished by the end of their due day",
    "total_tardiness_days": "sum of late days over purchase orders",
    "mean_tardiness_days": "total tardiness / scheduled purchase orders",
    "max_tardiness_days": "largest late days of one purchase order",
    "on_time_rate": "on-time orders / all orders (unable orders count as not on time)",
    "on_time_rate_scheduled": "on-time orders / scheduled orders",
    "work_slots": "slots machines run operations",
    "setup_slots": "slots spent on changeovers",
    "setups": "changeovers with a non-zero setup",
    "idle_slots": "slots machines stand idle within the makespan (no work, setup or downtime)",
    "idle_between_slots": "idle slots between two operations of a machine",
    "downtime_slots": "planned downtime slots within the makespan",
    "machines": "machines in the plant",
    "machines_used": "machines that run at least one operation",
    "utilisation": "work slots / (machines x makespan)",
    "setup_loss": "setup slots / (machines x makespan)",
    "idle_loss": "idle slots / (machines x makespan)",
    "violations": "feasibility violations the verifier found (0 = feasible)",
    "lower_bound": "best lower bound on the makespan, slots",
    "gap_to_lower_bound": "(makespan - lower bound) / lower bound",
    "gap_to_lower_bound_slots": "makespan - lower bound, slots",
    "slot_minutes": "minutes per slot",
    "base_date": "slot 0 is midnight of this date",
    "rule": "dispatch rule",
    "window_days": "window of the window rule, days",
    "seed": "tie-break seed",
    "min_yield": "yields below this were clamped up to it",
    "yield_policy": "how yields turn into production lengths",
}


# --------------------------------------------------------------------------- formatting

def _iso_datetime(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.strftime("%Y-%m-%dT%H:%M:%S").where(s.notna(), "")


def _iso_date(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.strftime("%Y-%m-%d").where(s.notna(), "")


def _with_columns(df: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(columns=columns) if df is None else df
    missing = [c for c in columns if c not in df.columns]
    if missing:
        df = df.assign(**{c: "" for c in missing})
    return df[columns]


def schedule_for_csv(schedule: pd.DataFrame) -> pd.DataFrame:
    """The schedule in the exact column order of the output contract, times as ISO text."""
    out = _with_columns(schedule, SCHEDULE_COLUMNS).copy()
    out["start_time"] = _iso_datetime(out["start_time"])
    out["end_time"] = _iso_datetime(out["end_time"])
    out["due"] = _iso_date(out["due"])
    return out.sort_values(["start", "machine", "op_id"], kind="stable")


def orders_for_csv(orders: pd.DataFrame) -> pd.DataFrame:
    out = _with_columns(orders, ORDER_COLUMNS).copy()
    out["due"] = _iso_date(out["due"])
    out["end_time"] = _iso_datetime(out["end_time"])
    return out


def kpis_json(kpis: Mapping[str, Any]) -> str:
    return json.dumps({k: _plain(v) for k, v in kpis.items()}, indent=2, ensure_ascii=False) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    return v


# --------------------------------------------------------------------------- writing

def write_results(artifacts: Mapping[str, Any], out_dir: str | Path, plan: PlanView | None = None) -> list[Path]:
    """Write every result file into ``out_dir`` (created); return the paths written.

    ``plan`` is the schedule's plan view; without it, it is built from the artifacts.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def csv(name: str, df: pd.DataFrame) -> None:
        path = out / name
        df.to_csv(path, index=False, encoding="utf-8")
        written.append(path)

    schedule = artifacts["schedule"]
    csv("schedule.csv", schedule_for_csv(schedule))
    path = out / "kpis.json"
    path.write_text(kpis_json(artifacts["kpis"]), encoding="utf-8")
    written.append(path)
    csv("orders.csv", orders_for_csv(artifacts["orders"]))
    csv("unable.csv", _with_columns(artifacts.get("unable"), UNABLE_COLUMNS))
    csv("validation.csv", _with_columns(artifacts.get("validation"), VALIDATION_COLUMNS))
    if artifacts.get("changes") is not None:  # a re-plan: each operation against the previous plan
        changes = artifacts["changes"].copy()
        for col in ("old_start_time", "new_start_time"):
            changes[col] = _iso_datetime(changes[col])
        csv("changes.csv", changes)
    written.append(write_xlsx(artifacts, out / "results.xlsx"))
    if plan is None:
        tables = {k: artifacts[k] for k in TABLE_NAMES if k in artifacts}
        plan = PlanView.build(schedule, artifacts.get("dag"), tables, artifacts.get("calendar"))
    written.extend(write_gantt(plan, out))
    return written


def write_gantt(plan: PlanView, out: Path) -> list[Path]:
    """gantt.png and gantt.html, drawn from the same Gantt data."""
    data = gantt_data(plan)
    png, html = render_png(data, out / "gantt.png"), out / "gantt.html"
    html.write_text(gantt_html(data), encoding="utf-8")
    return [png, html]


def write_xlsx(artifacts: Mapping[str, Any], path: str | Path) -> Path:
    """results.xlsx: sheets kpis, orders, late_orders, machines, schedule, gaps (frozen header)."""
    from openpyxl import Workbook

    kpis = artifacts["kpis"]
    sheets = {
        "kpis": pd.DataFrame([{"kpi": k, "value": _xlsx_kpi(v), "meaning": KPI_MEANING.get(k, "")}
                              for k, v in kpis.items()], columns=KPI_SHEET_COLUMNS),
        "orders": _with_columns(artifacts.get("orders"), ORDER_COLUMNS),
        "late_orders": _with_columns(artifacts.get("late_orders"), ORDER_COLUMNS),
        "machines": _with_columns(artifacts.get("machines"), MACHINE_COLUMNS),
        "schedule": _with_columns(artifacts.get("schedule"), SCHEDULE_COLUMNS),
        "gaps": _with_columns(artifacts.get("gaps"), GAP_COLUMNS),
    }
    wb = Workbook(write_only=True)
    for name in XLSX_SHEETS:
        _write_sheet(wb.create_sheet(name), sheets[name])
    path = Path(path)
    wb.save(path)
    return path


def _xlsx_kpi(v: Any) -> Any:
    v = _plain(v)
    return "" if v is None else v


def _write_sheet(ws, df: pd.DataFrame) -> None:
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "A2"
    columns = [_cell_values(df[c]) for c in df.columns]
    for i, (name, values) in enumerate(zip(df.columns, columns), start=1):
        sample = values[:500]
        width = max([len(str(name))] + [_display_len(v) for v in sample])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    ws.append(list(df.columns))
    for row in zip(*columns):
        ws.append(row)


def _display_len(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, dt.datetime):
        return 19
    if isinstance(v, dt.date):
        return 10
    if isinstance(v, float):
        return len(f"{v:.6g}")
    return len(str(v))


def _cell_values(s: pd.Series) -> list[Any]:
    """Python values openpyxl can write: datetimes, dates (midnight datetimes named due), numbers."""
    if pd.api.types.is_datetime64_any_dtype(s):
        dates_only = s.name == "due"
        return [None if pd.isna(v) else (v.date() if dates_only else v.to_pydatetime()) for v in s]
    if pd.api.types.is_integer_dtype(s) and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
        return [int(v) for v in s]
    if pd.api.types.is_float_dtype(s):
        return [None if math.isnan(v) else float(v) for v in s]
    return [None if _isna(v) else _plain(v) for v in s]


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def read_schedule_csv(path: str | Path) -> pd.DataFrame:
    """Read a schedule.csv back into the schedule DataFrame dtypes (for ``prodsched verify``)."""
    df = pd.read_csv(path, dtype={"op_id": str, "job_id": str, "po_nos": str, "item": str,
                                  "operation": str, "op_class": str, "mixture": str, "machine": str},
                     keep_default_na=False, encoding="utf-8")
    missing = [c for c in SCHEDULE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: not a schedule.csv, missing column(s) {', '.join(missing)}")
    for c in ("seq", "width_mm", "start", "end", "setup_slots", "aging_slots"):
        df[c] = pd.to_numeric(df[c]).astype("int64")
    df["length_m"] = pd.to_numeric(df["length_m"]).astype(float)
    for c in ("start_time", "end_time", "due"):
        df[c] = pd.to_datetime(df[c])
    return df[SCHEDULE_COLUMNS]

