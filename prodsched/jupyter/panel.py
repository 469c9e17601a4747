"""The ipywidgets stage-runner panel: six stage buttons over a (shared) :class:`Session`.

Every stage runs in the session's worker thread (``Session.run(..., background=True)``); a monitor
thread polls the session status at most 10 times a second while something runs and updates the
widgets, so the kernel never blocks. Elements carry stable CSS classes (``prodsched-…``) for
browser tests and styling (``widgets/panel.css``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from prodsched.errors import ProdschedError
from prodsched.jupyter.gantt import GanttWidget
from prodsched.jupyter.layout import PanelLayout
from prodsched.jupyter.views import (
    details_html,
    dict_html,
    error_html,
    esc,
    kpi_html,
    status_html,
    table_html,
    validation_html,
)
from prodsched.params import OUTPUTS, Params, parse_outputs
from prodsched.results.gantt_data import gantt_data, machine_durations
from prodsched.results.plan import PlanView
from prodsched.session import Session
from prodsched.stages import STAGES, stage_number
from prodsched.store import open_store

__all__ = ["StagePanel", "panel", "resolve_data"]

POLL_S = 0.1  # status polling while a stage runs: at most 10 widget updates a second
STAGE_ARTIFACT_TABLES = {"load": ("validation",), "preprocess": ("unable",), "results": ("late_orders", "violations")}


def resolve_data(data: str | Path | None) -> str | None:
    """An existing relative path becomes absolute (so kernels with another cwd can share it)."""
    if data is None or str(data).strip() == "":
        return None
    path = Path(str(data)).expanduser()
    return str(path.resolve()) if path.exists() else str(data)


class StagePanel(PanelLayout):
    """Run the six stages of a session from buttons; ``display(panel)`` or ``panel.widget``."""

    def __init__(self, session: Session | str | None = None, data: str | Path | None = None,
                 store=None, params: Params | dict | None = None):
        self.store = open_store(store)
        if isinstance(session, Session):
            self.session = session
        elif session:
            self.session = Session.attach(str(session), self.store)
        else:
            values = params.to_dict() if isinstance(params, Params) else dict(params or {})
            values["data"] = resolve_data(data) or values.get("data")
            self.session = Session.create(values, self.store)
            data = None
        if data is not None and resolve_data(data) != self.session.params.data:
            self.session.set_params(data=resolve_data(data))
        self._lock = threading.RLock()
        self._monitor: threading.Thread | None = None
        self._monitor_lock = threading.Lock()
        self._kick = False
        self._closed = False
        self._runner: threading.Thread | None = None
        self._rendered: dict[str, Any] = {}
        self._action_error = ""
        self._orders = None
        self.gantt: GanttWidget | None = None
        self.last_status: dict | None = None
        self._build()
        self._load_params()
        self.refresh()
        self._watch()

    # -- session handling ---------------------------------------------------------------------
    def reload_sessions(self) -> None:
        rows = sorted(Session.list(self.store), key=lambda r: r.get("created") or "", reverse=True)
        options = []
        for r in rows:
            data = Path(str(r.get("data") or "-")).name
            created = (r.get("created") or "")[:16]
            label = f"{r['session_id'][:8]} · {r['overall']} {r['completed']}/{r['total']} · {data} · {created}"
            options.append((label, r["session_id"]))
        if self.session.id not in [v for _, v in options]:
            options.insert(0, (f"{self.session.id[:8]} · this panel", self.session.id))
        chosen = self.picker.value
        self.picker.options = options
        self.picker.value = chosen if chosen in [v for _, v in options] else self.session.id

    def reload(self) -> None:
        """Re-read the session list and the shown session (runs started elsewhere get followed)."""
        self._guard("session list", self.reload_sessions)
        self.refresh()
        self._watch()

    def attach(self, session: Session | str) -> None:
        """Show another (possibly shared or papermill-run) session in this panel."""
        new = session if isinstance(session, Session) else Session.attach(str(session), self.store)
        self.picker.value = None
        with self._lock:
            self.session = new
            self._rendered.clear()
            self._orders = None
            self._set_gantt(None)
        self._load_params()
        self.reload_sessions()
        self.refresh()
        self._watch()

    def new_session(self) -> None:
        values = self.session.params.to_dict()
        values["data"] = resolve_data(self.data.value)
        self.attach(Session.create(values, self.store))

    def _load_params(self) -> None:
        p = self.session.params
        self.data.value = p.data or ""
        self.window_days.value = int(p.window_days)
        if p.rule not in self.rule.options:
            self.rule.options = list(self.rule.options) + [p.rule]
        self.rule.value = p.rule
        self.seed.value = int(p.seed)
        self.objective.value = p.objective
        self.improve.value = int(p.improve_iterations)
        self.outputs.value = sorted(parse_outputs(p.outputs), key=list(OUTPUTS).index)

    def _changes(self, name: str) -> dict[str, Any]:
        p, out = self.session.params, {}
        if name == "load" and resolve_data(self.data.value) != p.data:
            out["data"] = resolve_data(self.data.value)
        if name == "schedule":
            wanted = {"window_days": int(self.window_days.value), "rule": self.rule.value, "seed": int(self.seed.value),
                      "objective": self.objective.value, "improve_iterations": int(self.improve.value)}
            out.update({k: v for k, v in wanted.items() if getattr(p, k) != v})
        if name == "results":
            chosen = parse_outputs(list(self.outputs.value))
            if chosen != parse_outputs(p.outputs):
                out["outputs"] = None if chosen == set(OUTPUTS) else sorted(chosen, key=list(OUTPUTS).index)
        return out

    # -- running ------------------------------------------------------------------------------
    def run_stage(self, name: str) -> None:
        """Start one stage in the background (button click); errors show in the panel."""
        def start():
            self.session.run(name, background=True, **self._changes(name))
        self._guard(f"stage {stage_number(name)} ({name})", start)
        self.refresh()
        self._watch()

    def run_all(self) -> None:
        """Run every stage not yet done, one after the other, in a background thread."""
        if self._runner and self._runner.is_alive():
            return

        def chain():
            for name in STAGES:
                st = {s["name"]: s for s in self.session.status()["stages"]}
                if st[name]["status"] == "done" and not self._changes(name):
                    continue
                self.run_stage(name)
                final = self.session.wait(name)
                if next(s for s in final["stages"] if s["name"] == name)["status"] != "done":
                    break
            self.refresh()

        self._runner = threading.Thread(target=chain, daemon=True, name="prodsched-panel-run-all")
        self._runner.start()

    def cancel(self) -> None:
        self._guard("cancel", lambda: self.session.cancel(None))
        self.refresh()

    def _retry(self) -> None:
        failed = [s["name"] for s in (self.last_status or {}).get("stages", []) if s["status"] == "failed"]
        if failed:
            self.run_stage(failed[0])

    def wait(self, timeout: float | None = None) -> dict:
        """Block until nothing runs and the panel shows the final state (for scripts and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._runner is not None:
            self._runner.join(timeout)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.session.wait(timeout=left)
        monitor = self._monitor
        if monitor is not None:
            monitor.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.refresh()

    def _guard(self, what: str, func) -> Any:
        """Run a user action; a failure is shown (until the next action) instead of raised."""
        self._action_error = ""
        try:
            return func()
        except (ProdschedError, ValueError, KeyError, OSError) as exc:
            self._action_error = error_html(what, str(exc))
            self._show_error(self._action_error)
            return None

    def _watch(self) -> None:
        """Make sure the monitor polls: start it, or tell a running one to keep going."""
        with self._monitor_lock:
            self._kick = True
            if self._monitor is None and not self._closed:
                self._monitor = threading.Thread(target=self._poll, daemon=True, name="prodsched-panel-monitor")
                self._monitor.start()

    def _poll(self) -> None:
        """Refresh every POLL_S while something runs; stop after a few idle rounds (or on close).
        The decision to stop is taken under the lock ``_watch`` uses, so no start is ever missed."""
        idle_rounds = 0
        while True:
            try:
                st = self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep polling: a store hiccup must not freeze the view
                self._show_error(error_html("panel update", f"{type(exc).__name__}: {exc}"))
                st = self.last_status or {"stages": []}
            running = any(s["status"] == "running" for s in st["stages"])
            busy = running or (self._runner is not None and self._runner.is_alive())
            with self._monitor_lock:
                idle_rounds = 0 if busy or self._kick else idle_rounds + 1
                self._kick = False
                if idle_rounds >= 3 or self._closed:  # a few idle rounds catch a run just starting
                    self._monitor = None
                    return
            time.sleep(POLL_S)

    # -- view updates ---------------------------------------------------------------------------
    def refresh(self) -> dict:
        """Read the session status once and bring every widget up to date; returns the status."""
        with self._lock:
            try:
                st = self.session.status()
            except Exception as exc:  # noqa: BLE001 - shown in the panel, polling goes on
                self._show_error(error_html("session status", f"{type(exc).__name__}: {exc}"))
                return self.last_status or {"stages": []}
            self.last_status = st
            p = st.get("params", {})
            self.header.value = (f'<span class="prodsched-title">prodsched</span> session '
                                 f'<code>{st["session_id"][:8]}</code> · {st["overall"]} '
                                 f'({st["completed"]}/{st["total"]}) · store <code>{st.get("store", "")}</code>'
                                 f' · data <code>{p.get("data") or "–"}</code>')
            stages = {s["name"]: s for s in st["stages"]}
            running = [n for n in STAGES if stages[n]["status"] == "running"]
            next_stage = next((n for n in STAGES if stages[n]["can_run"] and stages[n]["status"] != "done"), None)
            for name, s in stages.items():
                btn = self.buttons[name]
                btn.disabled = not s["can_run"]
                btn.button_style = {"done": "success", "failed": "danger", "running": "info"}.get(
                    s["status"], "primary" if name == next_stage else "")
                btn.icon = {"done": "check", "failed": "times", "running": "hourglass-half", "stale": "refresh"}.get(
                    s["status"], "play")
                self.statuses[name].value = status_html(s)
            self.run_all_btn.disabled = bool(running) or all(s["status"] == "done" for s in stages.values())
            sched = stages["schedule"]
            self.progress.value = float(sched["progress"]) if sched["status"] in ("running", "done") else 0.0
            self.progress.bar_style = {"running": "info", "done": "success", "failed": "danger"}.get(sched["status"], "")
            self.progress_label.value = (f'{self.progress.value:.0%} {sched.get("message") or ""}'
                                         if sched["status"] == "running" else sched["status"])
            if sched["status"] == "running":
                self.convergence.running(sched.get("started"), sched.get("message"))
            self.cancel_btn.disabled = not running
            self.cancel_btn.button_style = "warning" if running else ""
            messages = [self._action_error] if self._action_error else []
            failed = [s for s in st["stages"] if s["status"] == "failed"]
            messages += [error_html(f"stage {f['number']} ({f['name']})", f["error"] or "failed") for f in failed[:1]]
            for name, s in stages.items():
                try:
                    self._render_stage(name, s)
                except Exception as exc:  # noqa: BLE001 - shown in the panel, never lost in the monitor thread
                    self._rendered.pop(name, None)
                    messages.append(error_html(f"showing stage {s['number']} ({name})", f"{type(exc).__name__}: {exc}"))
            self._show_error("".join(messages), retry=bool(failed))
            return st

    def _show_error(self, text: str | None, retry: bool = False) -> None:
        self.error.value = text or ""
        self.error_box.layout.display = "flex" if text else "none"
        self.retry_btn.layout.display = "" if retry else "none"
        self.retry_btn.disabled = not retry

    def _render_stage(self, name: str, s: dict) -> None:
        key = (s["status"], s.get("started"), s.get("ended"))
        if self._rendered.get(name) == key:
            return
        first_view = name not in self._rendered
        self._rendered[name] = key
        if not first_view and s["status"] in ("done", "failed"):
            try:
                self.reload_sessions()  # the picker shows the new state
            except ProdschedError:
                pass  # the list is a convenience; the stage view below matters
        box = self.summaries[name]
        if s["status"] != "done":
            box.value = {"pending": "<p class='prodsched-empty'>Not run yet.</p>",
                         "running": "<p class='prodsched-empty'>Running…</p>",
                         "stale": "<p class='prodsched-empty'>Stale: an earlier stage or a parameter changed; "
                                  "run this stage again.</p>",
                         "failed": "<p class='prodsched-empty'>Failed: see the error above.</p>"}.get(s["status"], "")
            if name == "schedule":
                self._set_gantt(None)
                if s["status"] != "running":
                    self.convergence.reset()
            if name == "results":
                self.kpis.layout.display = "none"
                self._orders = None
            return
        summary = self.session.summary(name)
        skip = ("kpis", "issues") + (("warnings",) if isinstance(summary.get("warnings"), list) else ())
        parts = [dict_html(summary, skip=skip)]
        for art in STAGE_ARTIFACT_TABLES.get(name, ()):
            frame = self.session.artifact(art)
            title = art.replace("_", " ")
            parts.append(f"<h4>{title} ({len(frame)})</h4>" +
                         (validation_html(frame) if art == "validation" else table_html(frame)))
        warnings = summary.get("warnings")
        if isinstance(warnings, list) and warnings:
            parts.append("<h4>warnings</h4><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")
        box.value = "".join(parts)
        self.tabs.selected_index = STAGES.index(name)
        if name == "schedule":
            self._build_gantt()
            self.convergence.done(self.session.artifact("improve_history"), self.session.artifact("schedule_figures"))
        if name == "results":
            self.kpis.value = kpi_html(summary.get("kpis") or self.session.artifact("kpis"))
            self.kpis.layout.display = ""
            self._orders = self.session.artifact("orders")
            self._update_details()

    def _build_gantt(self) -> None:
        plan = PlanView.build(self.session.artifact("schedule"), self.session.artifact("dag"),
                              self.session.artifacts("load"), self.session.artifact("calendar"))
        p = self.session.params
        title = f"Schedule · rule {p.rule} · window {p.window_days} d · seed {p.seed}"
        data = gantt_data(plan, title=title, durations=machine_durations(self.session.artifact("dag")))
        if self.gantt is None:
            self._set_gantt(GanttWidget(data=data))
        else:
            self.gantt.data = data
            self.gantt.selected_op = ""

    def _set_gantt(self, widget: GanttWidget | None) -> None:
        if self.gantt is not None and widget is None:
            self.gantt.close()
        self.gantt = widget
        if widget is not None:
            widget.observe(lambda _c: self._update_details(), names="selected_op")
        self.gantt_box.children = (widget,) if widget is not None else ()
        self.whatif.bind(widget)
        self.details.layout.display = "" if widget is not None else "none"
        self._update_details()

    def _update_details(self) -> None:
        bar = self.gantt.bar() if self.gantt is not None else None
        slot = self.gantt.data.get("slot_minutes", 30) if self.gantt is not None else 30
        self.details.value = details_html(bar, self._orders, slot)

    def show_compare(self, sweep: str | Path | None = None) -> None:
        """Open the compare view (the store's sessions, or a sweep's output folder) below the stages."""
        from prodsched.jupyter.compare import compare_view

        view = compare_view(sweep=sweep, store=self.store)
        if getattr(self, "compare_view", None) is not None:
            self.compare_view.close()
        self.compare_view, self.compare_box.children = view, (view.widget,)

    def close(self) -> None:
        """Stop polling and close the widgets (the session stays in the store)."""
        self._closed = True
        monitor = self._monitor
        if monitor is not None:
            monitor.join(5)
        self._set_gantt(None)
        if getattr(self, "compare_view", None) is not None:
            self.compare_view.close()
        self.widget.close()


def panel(session: Session | str | None = None, data: str | Path | None = None, store=None, **kwargs) -> StagePanel:
    """Create a :class:`StagePanel` (display it as the last expression of a cell)."""
    return StagePanel(session=session, data=data, store=store, **kwargs)
