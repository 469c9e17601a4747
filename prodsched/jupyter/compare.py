"""The compare view: the runs of a sweep or of the store's sessions side by side.

A table (one row per run: data set, the parameters that differ, every KPI with its delta against
the chosen baseline, objective value, status), the sweep's trade-off plot with the selected run
ringed, and the selected run's schedule in the Gantt (or its error when it failed). The table and
the deltas come from :mod:`prodsched.sweep.compare`; this module only lays them out. Elements
carry stable CSS classes (``prodsched-compare-…``) for browser tests.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from typing import Any

import ipywidgets as W
import pandas as pd

from prodsched.errors import ProdschedError
from prodsched.jupyter.gantt import GanttWidget
from prodsched.jupyter.views import esc, fmt_value
from prodsched.results.exports import KPI_BETTER
from prodsched.store import open_store
from prodsched.sweep import compare as C

__all__ = ["CompareView", "compare_view"]

ORDER_BY = [("run order", "run"), ("objective value", "objective_value")] + [(k.replace("_", " "), k) for k in C.KPIS]
MAX_ROWS = 200  # runs drawn in the table; more make the page slow and unreadable


def _classed(widget, *classes: str):
    for cls in classes:
        widget.add_class(cls)
    return widget


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def delta_text(delta: float, pct: float) -> str:
    """"+5 (+4.0 %)"; the percent is left out when the baseline is 0."""
    text = f"{delta:+,.4g}"
    return text + (f" ({pct:+.1f} %)" if _number(pct) else "")


def runs_html(runs: pd.DataFrame, table: pd.DataFrame, baseline: Any, limit: int = MAX_ROWS) -> str:
    """The runs (in their order) with each KPI's value and its delta against ``baseline``; past
    ``limit`` runs only the first ones (and the baseline) are drawn, with a line saying so."""
    total = len(runs)
    if total > limit:
        head_runs = list(runs.index[:limit])
        if baseline in runs.index and baseline not in head_runs:
            head_runs = [baseline, *head_runs[:limit - 1]]
        runs = runs.loc[head_runs]
    by_cell = table.set_index(["run", "kpi"])
    fixed = [c for c in runs.columns if c not in C.KPIS and c not in ("error", "session_id")]
    head = "".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in ["run", *fixed])
    hint = {k: f"{d} is better" if d else "neither better nor worse" for k, d in KPI_BETTER.items()}
    head += "".join(f'<th class="prodsched-compare-kpi" title="{esc(hint[k])}">{esc(k.replace("_", " "))}</th>'
                    for k in C.KPIS)
    body = []
    for run, row in runs.iterrows():
        cells = [f"<th>{esc(run)}</th>"] + [f"<td>{esc(fmt_value(row[c]) if row[c] is not None else '')}</td>"
                                            for c in fixed]
        for kpi in C.KPIS:
            cell = by_cell.loc[(run, kpi)]
            text = esc(fmt_value(cell["value"])) if _number(cell["value"]) else ""
            if run != baseline and _number(cell["delta"]):
                text += (f'<br><span class="prodsched-delta prodsched-{cell["verdict"] or "neutral"}" '
                         f'data-kpi="{esc(kpi)}">{esc(delta_text(cell["delta"], cell["delta_pct"]))}</span>')
            cells.append(f"<td>{text}</td>")
        cls = " prodsched-compare-baseline-row" if run == baseline else ""
        body.append(f'<tr class="prodsched-compare-row{cls}" data-run="{esc(run)}">{"".join(cells)}</tr>')
    more = (f'<div class="prodsched-compare-more">{len(runs)} of {total} runs shown (the first in this '
            f'order); every run is in the view\'s <code>runs</code> and <code>deltas()</code> tables.</div>'
            if total > len(runs) else "")
    return (f'<div class="prodsched-table-wrap"><table class="prodsched-table prodsched-compare-runs">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{more}')


class CompareView:
    """The compare view of ``runs`` (a table of :mod:`prodsched.sweep.compare`); ``display(view)``."""

    def __init__(self, runs: pd.DataFrame, store=None):
        if runs.empty:
            raise ProdschedError("nothing to compare: no runs (run a sweep or a session first)")
        self.runs, self.store = runs, open_store(store)
        self.gantt: GanttWidget | None = None
        labels = [(f"{run} · {row['status']}", run) for run, row in runs.iterrows()]
        done = [(label, run) for label, run in labels if runs.at[run, "status"] == "done"]
        css = resources.files("prodsched.widgets").joinpath("panel.css").read_text(encoding="utf-8")
        self.baseline = _classed(W.Dropdown(description="Baseline", options=done, value=C.default_baseline(runs),
                                            layout=W.Layout(width="320px")), "prodsched-compare-baseline")
        self.order = _classed(W.Dropdown(description="Order by", options=ORDER_BY, value="run",
                                         layout=W.Layout(width="320px")), "prodsched-compare-order")
        self.table = _classed(W.HTML(), "prodsched-compare-table")
        self.plot = _classed(W.Image(format="png", layout=W.Layout(width="560px")), "prodsched-compare-plot")
        self.picker = _classed(W.Select(description="Open run", options=labels, value=None, rows=min(8, len(labels)),
                                        layout=W.Layout(width="320px")), "prodsched-compare-open")
        self.run_info = _classed(W.HTML(), "prodsched-compare-run")
        self.gantt_box = _classed(W.VBox(), "prodsched-compare-gantt")
        self.widget = _classed(W.VBox([
            W.HTML(f"<style>{css}</style>", layout=W.Layout(display="none")),
            W.HTML(f"<h3>Compare runs ({len(runs)})</h3>"),
            W.HBox([self.baseline, self.order]), self.table,
            W.HBox([self.plot, W.VBox([self.picker, self.run_info])]), self.gantt_box,
        ]), "prodsched-compare")
        self.baseline.observe(lambda _c: self.refresh(), names="value")
        self.order.observe(lambda _c: self.refresh(), names="value")
        self.picker.observe(lambda c: self.open(c["new"]), names="value")
        self.refresh()

    def deltas(self) -> pd.DataFrame:
        """Every run's KPIs and their deltas against the chosen baseline (no deltas when no run finished)."""
        return C.deltas(self.runs, self.baseline.value)

    def refresh(self) -> None:
        """Redraw the table (baseline, order) and the plot (the selected run ringed)."""
        shown = C.ordered(self.runs, self.order.value)
        self.table.value = runs_html(shown, self.deltas(), self.baseline.value)
        self.plot.value = C.tradeoff_bytes(self.runs, highlight=self.picker.value)

    def open(self, run: Any) -> None:
        """Show ``run``'s schedule in the Gantt; a run that did not finish shows its error instead."""
        if self.gantt is not None:
            self.gantt.close()
            self.gantt = None
        self.gantt_box.children = ()
        if run is None:
            self.run_info.value = ""
        else:
            row = self.runs.loc[run]
            try:
                plan = C.run_plan(self.runs, run, self.store)
            except (ProdschedError, KeyError) as exc:
                text = row["error"] if row["status"] != "done" and row["error"] else str(exc)
                self.run_info.value = (f'<div class="prodsched-error-title">{esc(run)}: {esc(row["status"])}</div>'
                                       f'<pre class="prodsched-error-text">{esc(text)}</pre>')
            else:
                self.gantt = _classed(GanttWidget.from_plan(plan, title=f"{run} · {row['dataset']}"),
                                      "prodsched-compare-gantt-chart")
                self.gantt_box.children = (self.gantt,)
                self.run_info.value = (f'<p class="prodsched-compare-opened">{esc(run)}: {len(plan.schedule):,} '
                                       f"operations, session <code>{esc(row['session_id'])}</code></p>")
        self.plot.value = C.tradeoff_bytes(self.runs, highlight=run)

    def close(self) -> None:
        if self.gantt is not None:
            self.gantt.close()
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def compare_view(sweep: str | os.PathLike | None = None, store=None, sessions: bool | list[str] | None = None
                 ) -> CompareView:
    """The compare view of a sweep's output folder and/or the store's sessions.

    ``sweep``: a folder a sweep wrote (``out=``); its scenario sessions are read from ``store``
    (None: the configured store, as the sweep's default). ``sessions``: True for every session of
    the store, a list for those ids; by default the store's sessions when no sweep is given."""
    parts = []
    if sweep is not None:
        parts.append(C.from_sweep(sweep))
    if sessions is True or (sessions is None and sweep is None):
        parts.append(C.from_store(store))
    elif sessions:
        parts.append(C.from_store(store, sessions))
    if len(parts) > 1:  # a sweep's scenario sessions are in the store too: each run once
        swept = set(parts[0]["session_id"].dropna()) - {""}
        parts[1] = parts[1][~parts[1]["session_id"].isin(swept)]
    runs = pd.concat(parts) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        runs = C.finish(runs)  # the parameters that differ across both
    return CompareView(runs, store)
