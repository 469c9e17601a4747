"""What-if re-planning in the stage panel: drag a bar to propose a pin, re-plan stages 5-6.

The view keeps the planner's pins (operation -> machine and start slot) and a ``now`` (default:
the plan's start). A drop in the Gantt (``GanttWidget.drop_proposal``) is checked by
:func:`prodsched.engine.pins.check_pin` against the session's instance, ``now``, the operations
that started before ``now`` (kept where they are) and the other pins; a refusal goes back to the
chart (``drop_refusal``) with the reason, an accepted drop becomes a pin. "Re-plan" runs stages 5
and 6 of the session with ``pins`` (the ``pinned`` table: the kept operations and the planner's
pins) and ``now`` through :meth:`Session.run`, then shows the changes against the plan before
(:mod:`prodsched.results.changes`: counts per status, the moved operations) and the KPI change.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import pandas as pd

from prodsched.engine.pins import check_pin
from prodsched.errors import ProdschedError, ScheduleError
from prodsched.jupyter.views import KPI_CARDS, esc, fmt_value, table_html
from prodsched.results.changes import STATUSES, changes_table, replan_kpis
from prodsched.results.plan import calendar_of
from prodsched.stages.replan import constrain, now_slot_of
from prodsched.stages.schedule import as_graph, build_instance

if TYPE_CHECKING:
    from prodsched.jupyter.gantt import GanttWidget

__all__ = ["WhatIfView"]

MOVED_COLUMNS = ["op_id", "operation", "old_machine", "old_start_time", "new_machine", "new_start_time"]


def _classed(widget, *classes: str):
    for cls in classes:
        widget.add_class(cls)
    return widget


class WhatIfView:
    """The what-if box under the panel's Gantt; ``host`` is the :class:`StagePanel` (its session,
    its status polling)."""

    def __init__(self, host):
        self.host = host
        self.gantt: GanttWidget | None = None
        self.pins: dict[str, tuple[str, int]] = {}  # the planner's pins: op_id -> (machine, slot)
        self.last: dict[str, Any] | None = None  # the last re-plan: changes, kpis, error
        self._session_id: str | None = None
        self._instance_key: tuple | None = None
        self._instance = self._cal = None
        self._runner: threading.Thread | None = None
        self.now = _classed(W.Text(description="Now", placeholder="YYYY-MM-DD HH:MM",
                                   tooltip="Nothing new starts before now; operations of the plan that "
                                           "started before it stay where they are",
                                   layout=W.Layout(width="260px")), "prodsched-whatif-now")
        self.replan_btn = _classed(W.Button(description="Re-plan", icon="refresh", button_style="primary",
                                            tooltip="Run stages 5-6 again with the pins and now"),
                                   "prodsched-whatif-replan")
        self.clear_btn = _classed(W.Button(description="Remove all pins", icon="times"), "prodsched-whatif-clear")
        self.message = _classed(W.HTML(), "prodsched-whatif-message")
        self.pin_list = _classed(W.VBox(), "prodsched-whatif-pins")
        self.result = _classed(W.HTML(), "prodsched-whatif-result")
        intro = W.HTML("<b>What-if</b>: drag a bar to another machine or time to pin it there, then "
                       "re-plan. Eligible machines are highlighted while dragging.")
        self.widget = _classed(W.VBox([intro, W.HBox([self.now, self.replan_btn, self.clear_btn]), self.message,
                                       self.pin_list, self.result], layout=W.Layout(display="none")),
                               "prodsched-whatif")
        self.now.observe(lambda _c: self._show_now(), names="value")
        self.replan_btn.on_click(lambda _b: self.replan())
        self.clear_btn.on_click(lambda _b: self.clear())

    # -- the chart ----------------------------------------------------------------------------
    def bind(self, gantt: GanttWidget | None) -> None:
        """Follow the panel's (new) Gantt chart: drag mode on, drops proposed here."""
        self.gantt = gantt
        running = self._runner is not None and self._runner.is_alive()
        self.widget.layout.display = "none" if gantt is None and not running else ""
        if gantt is None:
            return
        if self.host.session.id != self._session_id:  # another session: its pins and now
            self._session_id = self.host.session.id
            self._load(self.host.session.params)
        if not self.now.value:
            self.now.value = self._time(0)
        gantt.editable = True
        gantt.observe(self._on_drop, names="drop_proposal")
        self._show_pins()
        self._show_now()

    def _show_now(self) -> None:
        """The chart marks ``now`` (none while the field is not a date-time or is the start)."""
        if self.gantt is None:
            return
        try:
            slot = self.now_slot()
        except ProdschedError:
            slot = 0
        self.gantt.now_slot = slot or None

    def _on_drop(self, change) -> None:
        proposal = change["new"] or {}
        if not proposal:
            return
        try:
            reason = self.propose(str(proposal["op_id"]), str(proposal["machine"]), int(proposal["start_slot"]))
        except Exception as exc:  # noqa: BLE001 - a drop must answer in the chart, never vanish in a callback
            reason = f"{type(exc).__name__}: {exc}"
        if self.gantt is not None:
            self.gantt.drop_refusal = ""  # so the same reason twice is shown twice
            self.gantt.drop_refusal = reason or ""

    def propose(self, op_id: str, machine: str, start: int) -> str | None:
        """Pin ``op_id`` on ``machine`` at slot ``start`` if no rule forbids it; else the reason."""
        try:
            instance = self.instance(without=op_id)
            check_pin(instance, op_id, machine, start)
        except (ScheduleError, ProdschedError, ValueError) as exc:
            self.message.value = f'<span class="prodsched-whatif-refused">Refused: {esc(exc)}</span>'
            return str(exc)
        self.pins[op_id] = (machine, int(start))
        self.message.value = (f'<span class="prodsched-whatif-accepted">Pinned {esc(op_id)} on {esc(machine)} '
                              f'at {esc(self._time(start))}; re-plan to see its effect.</span>')
        self._show_pins()
        return None

    def remove(self, op_id: str) -> None:
        self.pins.pop(op_id, None)
        self.message.value = f"Removed the pin of {esc(op_id)}."
        self._show_pins()

    def clear(self) -> None:
        self.pins.clear()
        self.message.value = "Removed every pin."
        self._show_pins()

    # -- the instance the drops are checked against ------------------------------------------
    def _calendar(self):
        self._base()
        return self._cal

    def _time(self, slot: int) -> str:
        cal = self._calendar()
        return (pd.Timestamp(cal.base_date) + int(slot) * pd.Timedelta(cal.step)).strftime("%Y-%m-%d %H:%M")

    def now_slot(self) -> int:
        """The slot of the ``now`` field (rounded up to the grid); a bad value names the field."""
        text = self.now.value.strip()
        if not text:
            return 0
        try:
            return now_slot_of(text, self._calendar())
        except ValueError:
            raise ProdschedError(f"now: {text!r} is not a date-time like '2026-01-02 08:00'") from None

    def kept(self) -> dict[str, tuple[str, int]]:
        """The operations of the current plan that start before ``now``: they stay where they are."""
        now = self.now_slot()
        plan = self.host.session.artifact("schedule")
        early = plan[plan["start"] < now]
        return {str(o): (str(m), int(s)) for o, m, s in zip(early["op_id"], early["machine"], early["start"])}

    def _base(self):
        """The session's instance without pins and its calendar (read once per stage-4 run)."""
        session = self.host.session
        key = (session.id, next(s.get("ended") for s in session.status()["stages"] if s["name"] == "dag"))
        if key != self._instance_key:
            dag = as_graph(session.artifact("dag"))
            self._instance = build_instance(dag, session.artifacts("load"))
            self._cal = calendar_of(dag=dag)
            self._instance_key = key
        return self._instance

    def instance(self, without: str | None = None):
        """The session's instance with ``now``, the kept operations and the pins (but ``without``'s)."""
        from prodsched.engine import Instance

        base = self._base()
        pins = {**self.kept(), **{k: v for k, v in self.pins.items() if k != without}}
        return Instance(base.operations, base.machines, base.class_setup, base.horizon,
                        now=self.now_slot(), pins=pins)

    # -- re-planning --------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """The ``pinned`` table of a re-plan: the kept operations, then the planner's pins."""
        kept = self.kept()
        pins = {**kept, **self.pins}
        return [{"op_id": op_id, "machine": m, "start": self._time(s)} for op_id, (m, s) in pins.items()]

    def check(self) -> None:
        """Every pin against ``now``, the kept operations and the pins before it (raises)."""
        from prodsched.engine import Instance

        instance = self.instance()
        placed = dict(self.kept())
        for op_id, (machine, start) in self.pins.items():
            check_pin(Instance(instance.operations, instance.machines, instance.class_setup, instance.horizon,
                               now=instance.now, pins=placed), op_id, machine, start)
            placed[op_id] = (machine, start)

    def replan(self) -> None:
        """Run stages 5-6 with the pins and ``now`` in the background; the result shows here."""
        if self._runner is not None and self._runner.is_alive():
            return
        try:
            self.check()
            records = self.records()
            now = self.now_slot()
        except (ProdschedError, ValueError) as exc:
            self.message.value = f'<span class="prodsched-whatif-refused">Cannot re-plan: {esc(exc)}</span>'
            return
        self.replan_btn.disabled = True
        self.message.value = f"Re-planning with {len(records)} pinned operation(s)…"
        self._runner = threading.Thread(target=self._replan, args=(records, now), daemon=True,
                                        name="prodsched-panel-whatif")
        self._runner.start()

    def _replan(self, records: list[dict], now: int) -> None:
        session = self.host.session
        before = session.artifact("schedule")
        try:
            old_kpis = session.artifact("kpis")
        except KeyError:
            old_kpis = None
        error = None
        try:
            changes = {"pins": records or None, "now": self._time(now) if now > 0 else None}
            for stage in ("schedule", "results"):
                session.run(stage, background=True, **changes)
                changes = {}
                self.host._watch()
                entry = next(s for s in session.wait(stage)["stages"] if s["name"] == stage)
                if entry["status"] != "done":
                    raise ProdschedError(f"stage {entry['number']} ({stage}) {entry['status']}: "
                                         f"{entry.get('error') or ''}")
            after, new_kpis = session.artifact("schedule"), session.artifact("kpis")
            when = pd.Timestamp(self._time(now))
            table = changes_table(before, after, when)
            record = (session.artifact("schedule_info") or {}).get("replan") or {}
            delta = replan_kpis(table, old_kpis or {}, new_kpis, record)
            self.last = {"changes": table, "old_kpis": old_kpis, "kpis": new_kpis, "replan": delta, "error": None}
        except Exception as exc:  # noqa: BLE001 - shown in the view (the panel shows a failed stage too)
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ProdschedError) else str(exc)
            self.last = {"error": error}
        finally:
            self.replan_btn.disabled = False
        self.message.value = ("" if error is None else
                              f'<span class="prodsched-whatif-refused">Re-plan failed: {esc(error)}</span>')
        self.result.value = "" if error is not None else self._result_html()
        self.host._watch()

    def wait(self, timeout: float | None = None) -> dict | None:
        """Block until a running re-plan ended and the panel shows it (chart, pins, KPIs; for
        scripts and tests); the last result."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._runner is not None:
            self._runner.join(timeout)
        self.host.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.last

    # -- views --------------------------------------------------------------------------------
    def _load(self, params) -> None:
        """The pins and now of a session's parameters, read as stage 5 reads them (a pinned
        table, a previous run): the pins at or after ``now`` are the planner's, those before it
        are kept from the plan."""
        self.pins.clear()
        self.result.value = self.message.value = ""
        self.now.value = str(params.now or "")
        if not (params.pins or params.replan_from):
            return
        try:
            _, record = constrain(self._base(), as_graph(self.host.session.artifact("dag")), params)
        except ProdschedError as exc:
            self.message.value = f'<span class="prodsched-whatif-refused">The session\'s pins: {esc(exc)}</span>'
            return
        for op_id, machine, start in record["pins"]:
            if start >= record["now_slot"]:
                self.pins[op_id] = (machine, int(start))

    def _show_pins(self) -> None:
        rows = []
        slots = {}
        base = self._base() if self.pins else None
        for op_id, (machine, start) in self.pins.items():
            btn = _classed(W.Button(description="remove", icon="times", layout=W.Layout(width="100px")),
                           "prodsched-whatif-remove")
            btn.on_click(lambda _b, o=op_id: self.remove(o))
            label = _classed(W.HTML(f'<span class="prodsched-whatif-pin" data-op="{esc(op_id)}">'
                                    f'<b>{esc(op_id)}</b> on <b>{esc(machine)}</b> at '
                                    f'{esc(self._time(start))}</span>'), "prodsched-whatif-pin-label")
            rows.append(_classed(W.HBox([label, btn]), "prodsched-whatif-pin-row"))
            duration = 1
            if base is not None and base.has_op(op_id):
                duration = int(base.op(op_id).durations.get(machine, 1))
            slots[op_id] = {"op_id": op_id, "machine": machine, "start": start, "end": start + duration}
        head = W.HTML(f"<div>{len(self.pins)} pin(s)</div>" if self.pins else
                      '<div class="prodsched-empty">No pins: drag a bar in the chart.</div>')
        self.pin_list.children = [head, *rows]
        self.clear_btn.disabled = not self.pins
        if self.gantt is not None:
            self.gantt.pins = list(slots.values())

    def _result_html(self) -> str:
        last = self.last or {}
        table = last["changes"]
        counts = table["status"].value_counts()
        badges = "".join(f'<span class="prodsched-whatif-count" data-status="{s}">{s}: {int(counts.get(s, 0))}</span> '
                         for s in STATUSES if s != "done" or counts.get(s, 0))
        moved = table[table["status"] == "moved"][MOVED_COLUMNS]
        old, new = last.get("old_kpis") or {}, last["kpis"]
        rows = []
        for key, title, _pattern in KPI_CARDS:
            delta = last["replan"].get(f"delta_{key}")
            if delta is None:
                continue
            rows.append({"kpi": title, "before": fmt_value(old.get(key)), "after": fmt_value(new.get(key)),
                         "change": ("+" if delta > 0 else "") + fmt_value(delta)})
        kpi_part = (table_html(pd.DataFrame(rows), css="prodsched-whatif-kpis") if rows else
                    '<p class="prodsched-empty">No KPIs of the plan before (stage 6 had not run).</p>')
        return (f'<h4>Changes against the plan before</h4><p>{badges}</p>'
                f'<h4>Moved operations ({len(moved)})</h4>{table_html(moved, css="prodsched-whatif-moved")}'
                f'<h4>KPI change</h4>{kpi_part}')
