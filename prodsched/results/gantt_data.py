"""Gantt chart data: one JSON-able dict per schedule, drawn by the widget, the HTML and the PNG.

``gantt_data`` turns a stage-5 schedule DataFrame (plus, optionally, the input tables and the
DAG) into one dict; the anywidget front end (``widgets/gantt.js``), the self-contained HTML
export and the PNG export all draw from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["LATE_COLOR", "PALETTE", "asset", "class_palette", "gantt_data"]

DEFAULT_SLOT_MINUTES = 30
# Colour-blind-friendly qualitative palette; red is kept for late operations.
PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#EDC948", "#76B7B2", "#9C755F", "#FF9DA7",
           "#A0CBE8", "#FFBE7D", "#8CD17D", "#D4A6C8", "#86BCB6", "#F1CE63", "#BAB0AC", "#499894")
LATE_COLOR = "#D62728"


def class_palette(classes) -> dict[str, str]:
    """A colour per operation class, by position in ``classes`` (stable for a given table)."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}


def asset(name: str) -> str:
    """Text of a front-end file shipped in ``prodsched.widgets`` (gantt.js, gantt.css)."""
    return resources.files("prodsched.widgets").joinpath(name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- calendar
def _calendar(schedule: pd.DataFrame, dag, base_date, slot_minutes) -> tuple[pd.Timestamp, int]:
    """Calendar from explicit arguments, else the DAG's graph attributes, else the schedule."""
    graph = getattr(dag, "graph", None) or {}
    slot = slot_minutes or graph.get("slot_minutes")
    base = base_date or graph.get("base_date")
    if (slot is None or base is None) and len(schedule) and "start_time" in schedule:
        times = pd.to_datetime(schedule["start_time"])
        ends = pd.to_datetime(schedule["end_time"])
        spans = schedule["end"].astype(int) - schedule["start"].astype(int)
        if slot is None:
            ok = spans > 0
            if ok.any():
                minutes = (ends[ok] - times[ok]).dt.total_seconds() / 60 / spans[ok]
                slot = round(float(minutes.median()))
        if base is None:
            offset = pd.to_timedelta(schedule["start"].astype(int) * (slot or DEFAULT_SLOT_MINUTES), unit="m")
            base = (times - offset).min()
    if base is None:
        dues = pd.to_datetime(schedule["due"]) if "due" in schedule and len(schedule) else None
        base = dues.min().replace(day=1) if dues is not None else pd.Timestamp("2000-01-01")
    return pd.Timestamp(base).normalize(), int(slot or DEFAULT_SLOT_MINUTES)


def _iso(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return ""
    return pd.Timestamp(value).isoformat(timespec="minutes")


def _num(value, digits: int = 3):
    if value is None or pd.isna(value):
        return None
    value = float(value)
    return int(value) if value.is_integer() else round(value, digits)


def _machine_rows(schedule: pd.DataFrame, tables, dag) -> list[dict[str, Any]]:
    """Machines in display order: the DAG's list, else machine_master_info, else the schedule's."""
    master = (tables or {}).get("machine_master_info")
    names: dict[str, str] = {}
    order: list[str] = []
    if master is not None and len(master):
        master = master.sort_values("machine_index", kind="stable") if "machine_index" in master else master
        for _, row in master.iterrows():
            code = str(row["machine"])
            names[code] = str(row.get("machine_name", "") or "")
            order.append(code)
    graph_machines = list((getattr(dag, "graph", None) or {}).get("machines") or [])
    if graph_machines:
        order = [str(m) for m in graph_machines] + [m for m in order if m not in graph_machines]
    used = sorted({str(m) for m in schedule.get("machine", [])})
    order = list(dict.fromkeys(order + [m for m in used if m not in order]))
    return [{"machine": m, "name": names.get(m, ""), "row": i} for i, m in enumerate(order)]


def _setup_lookup(tables) -> tuple[dict, dict]:
    delay, width = {}, {}
    tables = tables or {}
    od = tables.get("operation_delay")
    if od is not None and len(od):
        delay = {(str(a), str(b)): int(s) for a, b, s in od[["from_class", "to_class", "setup_slots"]].itertuples(index=False)}
    wc = tables.get("width_change")
    if wc is not None and len(wc) and "machine" in wc:
        width = {str(r.machine): (int(r.long_to_short), int(r.short_to_long)) for r in wc.itertuples(index=False)}
    return delay, width


def setup_reason(prev: Mapping[str, Any] | None, cur: Mapping[str, Any], delay=None, width=None) -> str:
    """Why a setup precedes ``cur`` on its machine (class / mixture / width change), in words."""
    if prev is None:
        return "first operation on the machine"
    delay, width = delay or {}, width or {}
    parts = []
    a_cls, b_cls = str(prev.get("op_class", "")), str(cur.get("op_class", ""))
    a_mix, b_mix = str(prev.get("mixture", "") or ""), str(cur.get("mixture", "") or "")
    slots = delay.get((a_cls, b_cls))
    extra = f" ({slots} slots)" if slots is not None else ""
    if a_cls != b_cls:
        parts.append(f"class change {a_cls}→{b_cls}{extra}")
    elif a_mix != b_mix:
        parts.append(f"mixture change {a_mix or 'none'}→{b_mix or 'none'}{extra}")
    a_w, b_w = prev.get("width_mm"), cur.get("width_mm")
    if a_w is not None and b_w is not None and a_w != b_w:
        l2s, s2l = width.get(str(cur.get("machine")), (None, None))
        if b_w < a_w:
            parts.append(f"width change long→short {a_w}→{b_w} mm" + (f" ({l2s} slots)" if l2s is not None else ""))
        else:
            parts.append(f"width change short→long {a_w}→{b_w} mm" + (f" ({s2l} slots)" if s2l is not None else ""))
    return "; ".join(parts) if parts else "no change after the previous operation"


def _downtime(tables, rows: dict[str, int], base: pd.Timestamp, slot: int) -> list[dict[str, Any]]:
    rest = (tables or {}).get("machine_rest")
    if rest is None or not len(rest):
        return []
    master = (tables or {}).get("machine_master_info")
    by_index = {}
    if master is not None and len(master) and "machine_index" in master:
        by_index = {int(i): str(m) for i, m in master[["machine_index", "machine"]].itertuples(index=False)}
    out = []
    step = pd.Timedelta(minutes=slot)
    for rec in rest.to_dict("records"):
        code = str(rec.get("machine") or "")
        if code not in rows and rec.get("machine_index") is not None and not pd.isna(rec.get("machine_index")):
            code = by_index.get(int(rec["machine_index"]), code)
        if code not in rows or pd.isna(rec.get("start")) or pd.isna(rec.get("end")):
            continue
        start = math.floor((pd.Timestamp(rec["start"]) - base) / step)
        end = math.ceil((pd.Timestamp(rec["end"]) - base) / step)
        out.append({"machine": code, "row": rows[code], "start": start, "end": end,
                    "start_time": _iso(rec["start"]), "end_time": _iso(rec["end"])})
    return sorted(out, key=lambda d: (d["row"], d["start"]))


# --------------------------------------------------------------------------- data model
def gantt_data(
    schedule_df: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame] | None = None,
    dag=None,
    *,
    base_date=None,
    slot_minutes: int | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The chart's JSON-able data: machine rows, bars, setup and downtime segments, colours.

    Calendar (base_date, slot_minutes): the arguments, else ``dag.graph``, else inferred from the
    schedule's start/start_time columns.
    """
    sched = schedule_df.reset_index(drop=True)
    base, slot = _calendar(sched, dag, base_date, slot_minutes)
    machines = _machine_rows(sched, tables, dag)
    row_of = {m["machine"]: m["row"] for m in machines}
    delay, width = _setup_lookup(tables)
    step = pd.Timedelta(minutes=slot)
    class_order = []
    types = (tables or {}).get("operation_types")
    if types is not None and len(types) and "op_class" in types:
        class_order = [str(c) for c in types["op_class"]]
    classes = list(dict.fromkeys(class_order + sorted({str(c) for c in sched.get("op_class", [])})))
    used = {str(c) for c in sched.get("op_class", [])}
    palette = class_palette(classes)  # over the whole class table, so colours do not shift
    classes = [c for c in classes if c in used]

    bars, setups = [], []
    records = sched.sort_values(["machine", "start", "op_id"], kind="stable").to_dict("records") if len(sched) else []
    prev_by_machine: dict[str, dict] = {}
    for rec in records:
        machine = str(rec["machine"])
        start, end = int(rec["start"]), int(rec["end"])
        setup = int(rec.get("setup_slots", 0) or 0)
        due = pd.Timestamp(rec["due"]).normalize() if not pd.isna(rec.get("due")) else None
        end_time = pd.Timestamp(rec["end_time"]) if not pd.isna(rec.get("end_time")) else base + end * step
        start_time = pd.Timestamp(rec["start_time"]) if not pd.isna(rec.get("start_time")) else base + start * step
        late_days = max(0.0, (end_time - (due + pd.Timedelta(days=1))) / pd.Timedelta(days=1)) if due is not None else 0.0
        po = rec.get("po_nos", "")
        bar = {
            "op_id": str(rec["op_id"]), "job": str(rec.get("job_id", "")),
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
        }
        if setup > 0:
            bar["setup_reason"] = setup_reason(prev_by_machine.get(machine), bar, delay, width)
            setups.append({"op_id": bar["op_id"], "row": bar["row"], "start": start - setup, "end": start,
                           "reason": bar["setup_reason"]})
        else:
            bar["setup_reason"] = ""
        prev_by_machine[machine] = bar
        bars.append(bar)
    downtime = _downtime(tables, row_of, base, slot)
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
