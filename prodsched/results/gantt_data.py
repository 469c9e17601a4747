"""Gantt chart data: one JSON-able dict per schedule, drawn by the widget, the HTML and the PNG.

``gantt_data`` turns a schedule's plan view (:class:`prodsched.results.plan.PlanView`: calendar,
machine order, downtime, setups and their reasons) into one dict; the anywidget front end
(``widgets/gantt.js``), the self-contained HTML export and the PNG export all draw from it. A
stage-5 schedule DataFrame (with, optionally, the input tables, the DAG and the calendar) is
turned into its plan view first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import resources
from typing import Any

import pandas as pd

from prodsched.results.plan import PlanView, as_plan

__all__ = ["LATE_COLOR", "NO_CLASS", "PALETTE", "asset", "class_palette", "gantt_data"]

# Colour-blind-friendly qualitative palette; red is kept for late operations.
PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#EDC948", "#76B7B2", "#9C755F", "#FF9DA7",
           "#A0CBE8", "#FFBE7D", "#8CD17D", "#D4A6C8", "#86BCB6", "#F1CE63", "#BAB0AC", "#499894")
LATE_COLOR = "#D62728"
# How every legend (PNG, HTML, widget) names operations that have no class.
NO_CLASS = "(no class)"


def class_palette(classes) -> dict[str, str]:
    """A colour per operation class, by position in ``classes`` (stable for a given table)."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}


def asset(name: str) -> str:
    """Text of a front-end file shipped in ``prodsched.widgets`` (gantt.js, gantt.css)."""
    return resources.files("prodsched.widgets").joinpath(name).read_text(encoding="utf-8")


def _iso(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return ""
    return pd.Timestamp(value).isoformat(timespec="minutes")


def _num(value, digits: int = 3):
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return int(value) if value.is_integer() else round(value, digits)


def _downtime(plan: PlanView) -> list[dict[str, Any]]:
    """The plan's downtime spans on the chart's rows (machines without a row are not drawn)."""
    rows, cal = plan.rows, plan.calendar
    out = [{"machine": m, "row": rows[m], "start": s, "end": e,
            "start_time": _iso(cal.time(s)), "end_time": _iso(cal.time(e))}
           for m, spans in plan.downtime.items() if m in rows for s, e in spans]
    return sorted(out, key=lambda d: (d["row"], d["start"]))


# --------------------------------------------------------------------------- data model
def gantt_data(
    source: PlanView | pd.DataFrame,
    tables: Mapping[str, pd.DataFrame] | None = None,
    dag=None,
    *,
    base_date=None,
    slot_minutes: int | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The chart's JSON-able data: machine rows, bars, setup and downtime segments, colours.

    ``source`` is the schedule's plan view, or a stage-5 schedule DataFrame whose plan view is
    built from ``tables``, ``dag`` and the calendar (``base_date``/``slot_minutes``, else the
    DAG's, else read off the schedule's times; see :func:`prodsched.results.plan.calendar_of`).
    """
    plan = as_plan(source, tables, dag, base_date=base_date, slot_minutes=slot_minutes)
    base, slot, step = plan.calendar.base_date, plan.calendar.slot_minutes, plan.calendar.step
    row_of = plan.rows
    machines = [{"machine": m, "name": plan.machine_names.get(m, ""), "row": i}
                for i, m in enumerate(plan.machines)]
    used = {str(c) for c in plan.schedule["op_class"]}
    palette = class_palette(plan.classes)  # over the whole class table, so colours do not shift
    classes = [c for c in plan.classes if c in used]

    bars, setups = [], []
    for rec in plan.schedule.to_dict("records"):
        machine = rec["machine"]
        start, end = int(rec["start"]), int(rec["end"])
        setup = int(rec.get("setup_slots", 0) or 0)
        due = pd.Timestamp(rec["due"]).normalize() if not pd.isna(rec.get("due")) else None
        end_time = pd.Timestamp(rec["end_time"]) if not pd.isna(rec.get("end_time")) else base + end * step
        start_time = pd.Timestamp(rec["start_time"]) if not pd.isna(rec.get("start_time")) else base + start * step
        late_days = max(0.0, (end_time - (due + pd.Timedelta(days=1))) / pd.Timedelta(days=1)) if due is not None else 0.0
        po = rec.get("po_nos", "")
        bar = {
            "op_id": rec["op_id"], "job": str(rec.get("job_id", "")),
            "po_nos": [p for p in str(po if not pd.isna(po) else "").split(";") if p],
            "item": str(rec.get("item", "")), "operation": str(rec.get("operation", "")),
            "op_class": str(rec.get("op_class", "")), "mixture": str(rec.get("mixture", "") or ""),
            "seq": _num(rec.get("seq")), "width_mm": _num(rec.get("width_mm")), "length_m": _num(rec.get("length_m"), 1),
            "machine": machine, "row": row_of[machine], "start": start, "end": end,
            "start_time": _iso(start_time), "end_time": _iso(end_time),
            "setup_slots": setup, "aging_slots": _num(rec.get("aging_slots")) or 0,
            "due": due.date().isoformat() if due is not None else "",
            "due_slot": int(((due + pd.Timedelta(days=1)) - base) / step) if due is not None else None,
            "late": late_days > 0, "late_days": round(late_days, 2), "late_whole_days": math.ceil(late_days - 1e-9),
            "setup_reason": plan.reason(rec["op_id"]),
        }
        if setup > 0:
            setups.append({"op_id": bar["op_id"], "row": bar["row"], "start": start - setup, "end": start,
                           "reason": bar["setup_reason"]})
        bars.append(bar)
    downtime = _downtime(plan)
    ends = [b["end"] for b in bars] + [d["end"] for d in downtime if d["start"] < max((b["end"] for b in bars), default=0)]
    starts = [b["start"] - b["setup_slots"] for b in bars]
    makespan = max((b["end"] for b in bars), default=0)
    return {
        "version": 1,
        "title": title or "",
        "base_date": base.date().isoformat(),
        "slot_minutes": slot,
        "machines": machines,
        "bars": bars,
        "setups": setups,
        "downtime": downtime,
        "classes": classes,
        "colors": {c: palette[c] for c in classes},
        "horizon": [min(starts + [0]), max(ends + [makespan, 1])],
        "stats": {"operations": len(bars), "machines": len(machines), "makespan_slots": makespan,
                  "late_operations": sum(b["late"] for b in bars),
                  "late_jobs": len({b["job"] for b in bars if b["late"]}),
                  "setup_slots": sum(b["setup_slots"] for b in bars)},
    }
