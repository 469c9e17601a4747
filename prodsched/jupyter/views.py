"""HTML fragments of the stage panel: status badges, tables, KPI cards, op details, errors.

Pure functions from plain data to HTML strings (escaped), so they are easy to test and reuse.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

MAX_ROWS = 200


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value)
    return str(value)


def status_html(entry: Mapping[str, Any]) -> str:
    """The status line of one stage: a coloured badge, elapsed time and the progress message."""
    status = entry.get("status", "pending")
    parts = [f'<span class="prodsched-badge prodsched-badge-{esc(status)}">{esc(status)}</span>']
    elapsed = fmt_seconds(entry.get("elapsed_s"))
    if elapsed:
        parts.append(f'<span class="prodsched-elapsed">{esc(elapsed)}</span>')
    if status == "running" and entry.get("message"):
        parts.append(f'<span class="prodsched-message">{esc(entry["message"])}</span>')
    return "".join(parts)


def table_html(frame: pd.DataFrame | None, max_rows: int = MAX_ROWS, css: str = "", row_class=None) -> str:
    """An escaped HTML table of ``frame`` (first ``max_rows`` rows, with a note when cut)."""
    if frame is None or len(frame) == 0:
        return '<p class="prodsched-empty">none</p>'
    shown = frame.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = "".join(f"<td>{esc(_cell(v))}</td>" for v in rec)
        cls = f' class="{esc(row_class(rec))}"' if row_class else ""
        rows.append(f"<tr{cls}>{cells}</tr>")
    note = (f'<p class="prodsched-note">showing {len(shown):,} of {len(frame):,} rows</p>'
            if len(frame) > len(shown) else "")
    return (f'<div class="prodsched-table-wrap"><table class="prodsched-table {esc(css)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{note}')


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    return fmt_value(value)


def dict_html(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    """A two-column key/value table; nested dicts become sub-tables, lists of records tables."""
    rows = []
    for key, value in values.items():
        if key in skip:
            continue
        if isinstance(value, Mapping):
            cell = dict_html(value) if value else "–"
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            cell = table_html(pd.DataFrame(value), max_rows=50)
        elif isinstance(value, list) and len(value) > 8:
            cell = esc(fmt_value(value[:8])) + f" … ({len(value)} in all)"
        else:
            cell = esc(fmt_value(value))
        rows.append(f"<tr><th>{esc(key.replace('_', ' '))}</th><td>{cell}</td></tr>")
    return f'<table class="prodsched-kv">{"".join(rows)}</table>'


def validation_html(frame: pd.DataFrame | None) -> str:
    if frame is None or len(frame) == 0:
        return '<p class="prodsched-ok">Validation: no problems found.</p>'
    n_err = int((frame["severity"] == "error").sum())
    n_warn = int((frame["severity"] == "warning").sum())
    order = frame.assign(_o=(frame["severity"] != "error").astype(int)).sort_values("_o", kind="stable")
    head = (f'<p><span class="prodsched-badge prodsched-badge-failed">{n_err} error(s)</span> '
            f'<span class="prodsched-badge prodsched-badge-stale">{n_warn} warning(s)</span></p>')
    return head + table_html(order.drop(columns="_o"), css="prodsched-validation",
                             row_class=lambda r: f"prodsched-sev-{getattr(r, 'severity', '')}")


KPI_CARDS = (
    ("makespan_days", "Makespan", "{:.1f} days"),
    ("orders", "Orders", "{:,}"),
    ("operations", "Operations", "{:,}"),
    ("late_orders", "Late orders", "{:,}"),
    ("on_time_rate", "On time", "{:.1%}"),
    ("total_tardiness_days", "Tardiness", "{:.1f} days"),
    ("utilisation", "Utilisation", "{:.1%}"),
    ("setup_slots", "Setup", "{:,} slots"),
    ("idle_slots", "Idle", "{:,} slots"),
    ("gap_to_lower_bound", "Gap to lower bound", "{:.1%}"),
    ("violations", "Violations", "{:,}"),
)


def kpi_html(kpis: Mapping[str, Any]) -> str:
    """KPI cards (the headline figures) followed by the full KPI table."""
    kpis = dict(kpis)
    if "makespan_days" not in kpis and "makespan_slots" in kpis and kpis.get("slot_minutes"):
        kpis["makespan_days"] = kpis["makespan_slots"] * kpis["slot_minutes"] / 1440
    cards = []
    for key, title, pattern in KPI_CARDS:
        if key not in kpis or kpis[key] is None:
            continue
        try:
            text = pattern.format(kpis[key])
        except (TypeError, ValueError):
            text = fmt_value(kpis[key])
        bad = (key in ("late_orders", "violations") and kpis[key]) or (key == "on_time_rate" and kpis[key] < 0.9)
        cards.append(f'<div class="prodsched-kpi{" prodsched-kpi-bad" if bad else ""}" data-kpi="{esc(key)}">'
                     f'<div class="prodsched-kpi-value">{esc(text)}</div>'
                     f'<div class="prodsched-kpi-title">{esc(title)}</div></div>')
    scalars = {k: v for k, v in kpis.items() if not isinstance(v, (dict, list))}
    return (f'<div class="prodsched-kpi-grid">{"".join(cards)}</div>'
            f'<details><summary>all key figures</summary>{dict_html(scalars)}</details>')


def error_html(stage_label: str, text: str) -> str:
    return (f'<div class="prodsched-error-title">{esc(stage_label)} failed</div>'
            f'<pre class="prodsched-error-text">{esc(text)}</pre>')


def details_html(bar: Mapping[str, Any] | None, orders: pd.DataFrame | None = None, slot_minutes: int = 30) -> str:
    """The details box of the clicked operation: orders, due, lateness, setup and its reason."""
    if not bar:
        return '<p class="prodsched-empty">Click a bar in the Gantt chart to see its operation here.</p>'
    hours = (bar["end"] - bar["start"]) * slot_minutes / 60
    late = (f'<span class="prodsched-badge prodsched-badge-failed">late {bar["late_days"]:.2f} days</span>'
            if bar.get("late") else '<span class="prodsched-badge prodsched-badge-done">on time</span>')
    setup = (f'{bar["setup_slots"]} slots ({bar["setup_slots"] * slot_minutes / 60:.1f} h): {esc(bar.get("setup_reason", ""))}'
             if bar.get("setup_slots") else "none")
    rows = {
        "operation": f'{esc(bar["op_id"])} · {esc(bar["operation"])} (seq {esc(bar.get("seq"))})',
        "class / mixture": f'{esc(bar["op_class"])} / {esc(bar.get("mixture") or "none")}',
        "job / orders": f'{esc(bar["job"])} · PO {esc(", ".join(bar.get("po_nos", [])))}',
        "item": f'{esc(bar["item"])} · {esc(bar.get("width_mm"))} mm · {esc(bar.get("length_m"))} m',
        "machine": esc(bar["machine"]),
        "time": f'{esc(bar["start_time"])} → {esc(bar["end_time"])} ({hours:.1f} h, slots {bar["start"]}–{bar["end"]})',
        "setup before": setup,
        "due": f'{esc(bar["due"])} {late}',
    }
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows.items())
    out = f'<div class="prodsched-details-title">{esc(bar["op_id"])}</div><table class="prodsched-kv">{body}</table>'
    if orders is not None and len(orders) and "po_no" in orders:
        mine = orders[orders["po_no"].astype(str).isin(bar.get("po_nos", []))]
        if len(mine):
            out += "<div>Orders of this job</div>" + table_html(mine, max_rows=20)
    return out
