"""Result files of the output contract (DESIGN §5): CSV, JSON, Excel and the static Gantt charts.

``write_results(artifacts, out_dir, plan)`` takes the merged artifacts of a run (stage 1-6 names)
and the schedule's plan view, and writes ``schedule.csv``, ``kpis.json``, ``orders.csv``,
``unable.csv``, ``validation.csv``, ``results.xlsx``, ``gantt.png`` and ``gantt.html`` (or those
``outputs`` chooses). Datetimes are ISO 8601 (``2024-03-05T14:30:00``), due dates ISO dates,
multi-values ';'-joined, text UTF-8.

gantt.png is drawn in a separate process (:mod:`prodsched.results.gantt_process`) while the other
files are written here, one after the other: matplotlib's Agg holds the interpreter lock, so a
thread made the writers slower, not faster, when measured on two cores.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from prodsched.inputs.spec import TABLE_NAMES
from prodsched.params import parse_outputs
from prodsched.results.columns import (
    ORDER_COLUMNS,
    SCHEDULE_COLUMNS,
    UNABLE_COLUMNS,
    VALIDATION_COLUMNS,
)
from prodsched.results import gantt_process
from prodsched.results.gantt_data import gantt_data
from prodsched.results.plan import PlanView
from prodsched.results.workbook import XLSX_SHEETS, plain, sheets_of, with_columns, write_workbook  # noqa: F401

log = logging.getLogger(__name__)

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
    "tardiness_slots": "sum over jobs of slots finished after the due day (the objectives' figure)",
    "late_jobs": "jobs finished after their due day (the objectives' figure)",
}

# Which way each numeric KPI of kpis.json is better: "lower", "higher", or None (a count of the
# input or the plant, neither better nor worse). The compare view's KPIs are these, in this order.
KPI_BETTER: dict[str, str | None] = {
    "makespan_slots": "lower", "makespan_hours": "lower", "makespan_days": "lower",
    "orders": None, "scheduled_orders": "higher", "unable_orders": "lower", "jobs": None, "operations": None,
    "late_orders": "lower", "on_time_orders": "higher", "total_tardiness_days": "lower",
    "mean_tardiness_days": "lower", "max_tardiness_days": "lower", "on_time_rate": "higher",
    "on_time_rate_scheduled": "higher", "tardiness_slots": "lower", "late_jobs": "lower",
    "work_slots": None, "setup_slots": "lower", "setups": "lower", "idle_slots": "lower",
    "idle_between_slots": "lower", "downtime_slots": None, "machines": None, "machines_used": None,
    "utilisation": "higher", "setup_loss": "lower", "idle_loss": "lower", "violations": "lower",
    "lower_bound": None, "gap_to_lower_bound": "lower", "gap_to_lower_bound_slots": "lower",
}


# --------------------------------------------------------------------------- formatting

def _iso_datetime(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.strftime("%Y-%m-%dT%H:%M:%S").where(s.notna(), "")


def _iso_date(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.strftime("%Y-%m-%d").where(s.notna(), "")


def schedule_for_csv(schedule: pd.DataFrame) -> pd.DataFrame:
    """The schedule in the exact column order of the output contract, times as ISO text."""
    out = with_columns(schedule, SCHEDULE_COLUMNS).copy()
    out["start_time"] = _iso_datetime(out["start_time"])
    out["end_time"] = _iso_datetime(out["end_time"])
    out["due"] = _iso_date(out["due"])
    return out.sort_values(["start", "machine", "op_id"], kind="stable")


def orders_for_csv(orders: pd.DataFrame) -> pd.DataFrame:
    out = with_columns(orders, ORDER_COLUMNS).copy()
    out["due"] = _iso_date(out["due"])
    out["end_time"] = _iso_datetime(out["end_time"])
    return out


def kpis_json(kpis: Mapping[str, Any]) -> str:
    return json.dumps({k: plain(v) for k, v in kpis.items()}, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- writing

@dataclass
class GanttStart:
    """A plan's Gantt data and, when gantt.png is chosen, its drawing under way (else None)."""

    data: dict[str, Any]
    drawing: Future | None


def start_gantt(plan: PlanView, out_dir: str | Path, outputs: Iterable[str] | str | None = None) -> GanttStart | None:
    """The Gantt data of ``plan``, and gantt.png's drawing started in the drawing process (it goes
    on while the caller computes the rest); for :func:`write_results`. None without png and html."""
    chosen = parse_outputs(outputs)
    if not chosen & {"png", "html"}:
        return None
    data = gantt_data(plan)
    drawing = None
    if "png" in chosen:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        drawing = gantt_process.draw(data, out / "gantt.png")
    return GanttStart(data, drawing)


def write_results(artifacts: Mapping[str, Any], out_dir: str | Path, plan: PlanView | None = None,
                  outputs: Iterable[str] | str | None = None, gantt: GanttStart | None = None) -> list[Path]:
    """Write the result files into ``out_dir`` (created); return the paths written.

    ``outputs`` chooses the files (see :data:`prodsched.params.OUTPUTS`; None = all of them):
    ``csv`` orders.csv, unable.csv and validation.csv; ``xlsx`` results.xlsx; ``png`` gantt.png;
    ``html`` gantt.html. schedule.csv and kpis.json are always written. ``plan`` is the
    schedule's plan view; without it, it is built from the artifacts when a Gantt file is asked for.
    ``gantt`` is :func:`start_gantt`'s output for this plan, folder and outputs, when the caller
    started the drawing early; otherwise it is started here, before the other files are written.
    """
    chosen = parse_outputs(outputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    schedule = artifacts["schedule"]
    jobs: list[tuple[str, Callable[[], list[Path]]]] = [
        ("schedule.csv", lambda: [write_csv(schedule_for_csv(schedule), out / "schedule.csv")]),
        ("kpis.json", lambda: [_write_text(out / "kpis.json", kpis_json(artifacts["kpis"]))]),
    ]
    if "csv" in chosen:
        jobs.append(("csv", lambda: [
            write_csv(orders_for_csv(artifacts["orders"]), out / "orders.csv"),
            write_csv(with_columns(artifacts.get("unable"), UNABLE_COLUMNS), out / "unable.csv"),
            write_csv(with_columns(artifacts.get("validation"), VALIDATION_COLUMNS), out / "validation.csv")]))
    if artifacts.get("changes") is not None:  # a re-plan: each operation against the previous plan
        jobs.append(("changes.csv", lambda: [write_csv(_changes_for_csv(artifacts["changes"]), out / "changes.csv")]))
    if "xlsx" in chosen:
        jobs.append(("xlsx", lambda: [write_xlsx(artifacts, out / "results.xlsx")]))
    if chosen & {"png", "html"}:
        if gantt is None:
            if plan is None:
                tables = {k: artifacts[k] for k in TABLE_NAMES if k in artifacts}
                plan = PlanView.build(schedule, artifacts.get("dag"), tables, artifacts.get("calendar"))
            gantt = start_gantt(plan, out, chosen)
        if "png" in chosen:  # drawn in its own process while the other files are written here
            jobs.append(("png", lambda: [gantt_process.result(gantt.drawing)]))
        if "html" in chosen:
            jobs.append(("html", lambda: [_write_text(out / "gantt.html", _gantt_html(gantt.data))]))
    files = {name: job() for name, job in sorted(jobs, key=lambda j: j[0] == "png")}  # the PNG waited for last
    return [path for name, _ in jobs for path in files[name]]


def _changes_for_csv(changes: pd.DataFrame) -> pd.DataFrame:
    out = changes.copy()
    for col in ("old_start_time", "new_start_time"):
        out[col] = _iso_datetime(out[col])
    return out


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False, encoding="utf-8")
    return path


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _render_png(data: Mapping[str, Any], path: Path) -> Path:
    from prodsched.results.gantt_png import render_png

    return render_png(data, path)


def _gantt_html(data: Mapping[str, Any]) -> str:
    from prodsched.results.gantt_html import gantt_html

    return gantt_html(data)


def write_gantt(plan: PlanView, out: Path) -> list[Path]:
    """gantt.png and gantt.html, drawn from the same Gantt data."""
    data = gantt_data(plan)
    return [_render_png(data, out / "gantt.png"), _write_text(out / "gantt.html", _gantt_html(data))]


def write_xlsx(artifacts: Mapping[str, Any], path: str | Path) -> Path:
    """results.xlsx: sheets kpis, orders, late_orders, machines, schedule, gaps (frozen header)."""
    return write_workbook(sheets_of(artifacts, KPI_MEANING), path)


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

