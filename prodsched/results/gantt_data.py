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

import numpy as np
import pandas as pd

from prodsched.results.colors import LATE_COLOR, NO_CLASS, PALETTE
from prodsched.results.plan import PlanView, as_plan

__all__ = ["BAR_COLUMNS", "LATE_COLOR", "NO_CLASS", "PALETTE", "asset", "bar_records", "class_palette",
           "downtime_records", "gantt_data", "machine_durations", "setup_records"]



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


def _coded(values: pd.Series) -> dict[str, list]:
    """A text column as its distinct values and, per row, the index of its value (compact JSON)."""
    codes, uniques = pd.factorize(values, sort=False)
    return {"values": [str(v) for v in uniques], "codes": codes.tolist()}


def _decoded(column) -> list:
    return [column["values"][c] for c in column["codes"]] if isinstance(column, Mapping) else list(column)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    s = frame[name]
    return s.astype(object).where(s.notna(), "").astype(str)


def _numbers(frame: pd.DataFrame, name: str, digits: int = 3, default=None) -> list:
    """A numeric column as JSON numbers: whole values as ints, others rounded; missing -> default."""
    if name not in frame.columns:
        return [default] * len(frame)
    s = pd.to_numeric(frame[name], errors="coerce").astype(float).round(digits)
    whole = s.notna() & (s == s.round(0))
    out = s.astype(object).where(s.notna(), default)
    out[whole] = s[whole].astype("int64")
    return out.tolist()


def _slots(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name]).to_numpy(dtype="int64") if len(frame) else np.zeros(0, dtype="int64")


# --------------------------------------------------------------------------- data model
BAR_COLUMNS = ("op_id", "job", "po_nos", "item", "operation", "op_class", "mixture", "seq", "width_mm",
               "length_m", "row", "start", "end", "setup_slots", "aging_slots", "due", "late_days",
               "late_whole_days", "setup_reason")


def gantt_data(
    source: PlanView | pd.DataFrame,
    tables: Mapping[str, pd.DataFrame] | None = None,
    dag=None,
    *,
    base_date=None,
    slot_minutes: int | None = None,
    title: str | None = None,
    durations: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """The chart's JSON-able data: machine rows, the bars column by column, downtime, colours.

    ``source`` is the schedule's plan view, or a stage-5 schedule DataFrame whose plan view is
    built from ``tables``, ``dag`` and the calendar (``base_date``/``slot_minutes``, else the
    DAG's, else read off the schedule's times; see :func:`prodsched.results.plan.calendar_of`).

    ``bars`` holds one list per field (:data:`BAR_COLUMNS`), in the plan's machine sequence;
    repetitive text fields are ``{"values": [...], "codes": [...]}``. ``po_nos`` is ';'-joined.
    What follows from these is left to the reader (:func:`bar_records` in Python, the front end
    in JavaScript): a bar's machine (its row), times (its slots), setup segment (the
    ``setup_slots`` right before its start), ``due_slot`` and whether it is late
    (``late_whole_days > 0``). ``downtime`` holds the rows and slot spans of planned downtime.

    With ``durations`` (``{op_id: {machine: slots}}``, see :func:`machine_durations`) the bars
    also get ``eligible``: per bar the ``[row, slots]`` pairs of the machines it may run on (the
    distinct lists once, coded per bar), which the widget's drag mode highlights.
    """
    plan = as_plan(source, tables, dag, base_date=base_date, slot_minutes=slot_minutes)
    base, slot = plan.calendar.base_date, plan.calendar.slot_minutes
    seq = plan.schedule
    machines = [{"machine": m, "name": plan.machine_names.get(m, ""), "row": i}
                for i, m in enumerate(plan.machines)]
    used = set(_text(seq, "op_class"))
    palette = class_palette(plan.classes)  # over the whole class table, so colours do not shift
    classes = [c for c in plan.classes if c in used]

    start, end = _slots(seq, "start"), _slots(seq, "end")
    setup = (pd.to_numeric(seq["setup_slots"]).fillna(0).to_numpy(dtype="int64") if len(seq)
             else np.zeros(0, dtype="int64"))
    due = (pd.to_datetime(seq["due"]) if "due" in seq.columns else pd.Series(pd.NaT, index=seq.index)).dt.normalize()
    end_time = pd.to_datetime(seq["end_time"]) if "end_time" in seq.columns else pd.Series(pd.NaT, index=seq.index)
    end_time = end_time.where(end_time.notna(), base + pd.to_timedelta(end * slot, unit="min"))
    late = ((end_time - (due + pd.Timedelta(days=1))) / pd.Timedelta(days=1)).clip(lower=0.0).fillna(0.0)
    late_whole = np.ceil(late.to_numpy() - 1e-9).astype("int64")
    bars = {
        "op_id": _text(seq, "op_id").tolist(),
        "job": _text(seq, "job_id").tolist(),
        "po_nos": _text(seq, "po_nos").tolist(),
        "item": _coded(_text(seq, "item")),
        "operation": _coded(_text(seq, "operation")),
        "op_class": _coded(_text(seq, "op_class")),
        "mixture": _coded(_text(seq, "mixture")),
        "seq": _numbers(seq, "seq"),
        "width_mm": _numbers(seq, "width_mm"),
        "length_m": _numbers(seq, "length_m", 1),
        "row": seq["machine"].map(plan.rows).astype("int64").tolist() if len(seq) else [],
        "start": start.tolist(),
        "end": end.tolist(),
        "setup_slots": setup.tolist(),
        "aging_slots": _numbers(seq, "aging_slots", default=0),
        "due": _coded(due.dt.strftime("%Y-%m-%d").where(due.notna(), "")),
        "late_days": late.round(2).tolist(),
        "late_whole_days": late_whole.tolist(),
        "setup_reason": _coded(plan.setups["reason"].astype(str)),
    }
    if durations is not None:
        bars["eligible"] = _eligible(bars["op_id"], durations, plan.rows)
    downtime = _downtime(plan)
    makespan = int(end.max()) if len(end) else 0
    shown = [e for s, e in zip(downtime["start"], downtime["end"]) if s < makespan]
    late_mask = late_whole > 0
    return {
        "version": 2,
        "title": title or "",
        "base_date": base.date().isoformat(),
        "slot_minutes": slot,
        "machines": machines,
        "bars": bars,
        "downtime": downtime,
        "classes": classes,
        "colors": {c: palette[c] for c in classes},
        "horizon": [int(min((start - setup).min(initial=0), 0)), int(max([makespan, 1, *shown]))],
        "stats": {"operations": len(seq), "machines": len(machines), "makespan_slots": makespan,
                  "late_operations": int(late_mask.sum()),
                  "late_jobs": int(pd.Series(bars["job"])[late_mask].nunique()) if len(seq) else 0,
                  "setup_slots": int(setup.sum())},
    }


def machine_durations(dag) -> dict[str, dict[str, int]]:
    """``{op_id: {machine: slots}}`` of the stage-4 graph (a DiGraph or its node-link dict)."""
    if isinstance(dag, Mapping):
        return {str(n["id"]): {str(m): int(d) for m, d in (n.get("durations") or {}).items()}
                for n in dag.get("nodes", [])}
    return {str(n): {str(m): int(d) for m, d in (a.get("durations") or {}).items()}
            for n, a in dag.nodes(data=True)}


def _eligible(op_ids: list[str], durations: Mapping[str, Mapping[str, int]],
              rows: Mapping[str, int]) -> dict[str, list]:
    """Per bar its eligible machines as ``[row, slots]`` pairs (machines with a row, in row
    order), dictionary-coded like the text columns."""
    values: list[list[list[int]]] = []
    index: dict[tuple, int] = {}
    codes = []
    for op_id in op_ids:
        pairs = tuple(sorted((rows[m], int(d)) for m, d in durations.get(op_id, {}).items() if m in rows))
        if pairs not in index:
            index[pairs] = len(values)
            values.append([list(p) for p in pairs])
        codes.append(index[pairs])
    return {"values": values, "codes": codes}


def _downtime(plan: PlanView) -> dict[str, list[int]]:
    """The plan's downtime spans on the chart's rows, sorted by row and start (machines without a
    row are not drawn)."""
    rows = plan.rows
    spans = sorted((rows[m], s, e) for m, found in plan.downtime.items() if m in rows for s, e in found)
    return {"row": [r for r, _, _ in spans], "start": [s for _, s, _ in spans], "end": [e for _, _, e in spans]}


# --------------------------------------------------------------------------- records
def bar_records(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bars of ``gantt_data`` as one dict per bar, with the fields that follow from them
    (machine, start_time, end_time, due_slot, late; po_nos as a list)."""
    bars = data["bars"]
    columns = {name: _decoded(bars[name]) for name in BAR_COLUMNS}
    base, slot = pd.Timestamp(data["base_date"]), int(data["slot_minutes"])
    step = pd.Timedelta(minutes=slot)
    machines = [m["machine"] for m in data["machines"]]
    out = []
    for values in zip(*(columns[name] for name in BAR_COLUMNS)):
        bar = dict(zip(BAR_COLUMNS, values))
        due = bar["due"]
        bar.update(
            machine=machines[bar["row"]],
            po_nos=[p for p in bar["po_nos"].split(";") if p],
            start_time=_iso(base + bar["start"] * step), end_time=_iso(base + bar["end"] * step),
            due_slot=int((pd.Timestamp(due) + pd.Timedelta(days=1) - base) / step) if due else None,
            late=bar["late_whole_days"] > 0,
        )
        out.append(bar)
    return out


def setup_records(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The setup segments the chart draws: right before each bar that is charged a setup."""
    return [{"op_id": b["op_id"], "row": b["row"], "start": b["start"] - b["setup_slots"], "end": b["start"],
             "reason": b["setup_reason"]} for b in bar_records(data) if b["setup_slots"] > 0]


def downtime_records(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The downtime spans of ``gantt_data`` as dicts with machine and ISO times."""
    base, step = pd.Timestamp(data["base_date"]), pd.Timedelta(minutes=int(data["slot_minutes"]))
    machines = [m["machine"] for m in data["machines"]]
    d = data["downtime"]
    return [{"machine": machines[r], "row": r, "start": s, "end": e, "start_time": _iso(base + s * step),
             "end_time": _iso(base + e * step)} for r, s, e in zip(d["row"], d["start"], d["end"])]
