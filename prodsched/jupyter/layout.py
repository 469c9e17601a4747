"""Widget layout of the stage panel (the controller is :class:`prodsched.jupyter.panel.StagePanel`).

Every element carries stable CSS classes (``prodsched-…``) used by ``widgets/panel.css`` and the
browser test.
"""

from __future__ import annotations

from importlib import resources

import ipywidgets as W

from prodsched.engine.objectives import OBJECTIVES
from prodsched.jupyter.convergence import ConvergenceView
from prodsched.jupyter.views import details_html
from prodsched.jupyter.whatif import WhatIfView
from prodsched.params import OUTPUTS
from prodsched.stages import STAGES

STAGE_TITLES = {"load": "Load", "preprocess": "Preprocess", "yield": "Yield", "dag": "DAG",
                "schedule": "Schedule", "results": "Results"}


def _rules() -> list[str]:
    from prodsched.engine.rules import RULES

    return sorted(RULES, key=lambda r: (r != "window", r))


def _classed(widget, *classes: str):
    for cls in classes:
        widget.add_class(cls)
    return widget


class PanelLayout:
    """Builds the panel's widgets; the subclass supplies the actions the buttons call."""

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        css = resources.files("prodsched.widgets").joinpath("panel.css").read_text(encoding="utf-8")
        style = W.HTML(f"<style>{css}</style>", layout=W.Layout(display="none"))
        self.header = _classed(W.HTML(), "prodsched-header")
        self.picker = _classed(W.Dropdown(description="Session", layout=W.Layout(width="460px")),
                               "prodsched-session-picker")
        self.attach_btn = _classed(W.Button(description="Attach", icon="link"), "prodsched-attach")
        self.reload_btn = _classed(W.Button(icon="refresh", tooltip="Reload the session list and this session's state",
                                            layout=W.Layout(width="40px")), "prodsched-reload")
        self.new_btn = _classed(W.Button(description="New session", icon="plus"), "prodsched-new-session")
        self.compare_btn = _classed(W.Button(description="Compare runs", icon="table",
                                             tooltip="The store's sessions side by side"), "prodsched-compare-btn")
        self.compare_box = _classed(W.VBox(), "prodsched-compare-box")
        self.data = _classed(W.Text(description="Data", placeholder="folder, .xlsx or JSON payload",
                                    layout=W.Layout(width="460px")), "prodsched-data")
        self.window_days = _classed(W.BoundedIntText(description="Window days", min=0, max=365,
                                                     layout=W.Layout(width="170px"),
                                                     style={"description_width": "initial"}),
                                    "prodsched-param-window-days")
        self.rule = _classed(W.Dropdown(description="Rule", options=_rules(), layout=W.Layout(width="170px"),
                                        style={"description_width": "initial"}), "prodsched-param-rule")
        self.seed = _classed(W.IntText(description="Seed", layout=W.Layout(width="130px"),
                                       style={"description_width": "initial"}), "prodsched-param-seed")
        self.objective = _classed(W.Dropdown(description="Objective", options=sorted(OBJECTIVES),
                                             layout=W.Layout(width="220px"), style={"description_width": "initial"}),
                                  "prodsched-param-objective")
        self.improve = _classed(W.BoundedIntText(description="Improve iterations", min=0, max=10**7,
                                                 layout=W.Layout(width="220px"),
                                                 style={"description_width": "initial"}),
                                "prodsched-param-improve")
        self.convergence = ConvergenceView()
        self.outputs = _classed(W.TagsInput(allowed_tags=list(OUTPUTS), allow_duplicates=False,
                                            tooltip="Result files stage 6 writes (schedule.csv, kpis.json and "
                                                    "run.json always): " + "; ".join(f"{k} = {v}" for k, v in
                                                                                    OUTPUTS.items()),
                                            layout=W.Layout(width="300px")), "prodsched-param-outputs")
        self.buttons, self.statuses, cards = {}, {}, []
        for i, name in enumerate(STAGES, start=1):
            btn = _classed(W.Button(description=f"{i} {STAGE_TITLES[name]}", layout=W.Layout(width="136px")),
                           "prodsched-stage-btn", f"prodsched-stage-btn-{name}")
            btn.on_click(lambda _b, n=name: self.run_stage(n))
            status = _classed(W.HTML(), "prodsched-status", f"prodsched-status-{name}")
            self.buttons[name], self.statuses[name] = btn, status
            cards.append(_classed(W.VBox([btn, status]), "prodsched-stage", f"prodsched-stage-{name}"))
        self.run_all_btn = _classed(W.Button(description="Run all", icon="forward",
                                             layout=W.Layout(width="110px")), "prodsched-run-all")
        self.progress = _classed(W.FloatProgress(value=0.0, min=0.0, max=1.0, description="Schedule",
                                                 layout=W.Layout(width="420px")), "prodsched-progress")
        self.progress_label = _classed(W.HTML(), "prodsched-progress-label")
        self.cancel_btn = _classed(W.Button(description="Cancel", icon="stop", button_style="warning",
                                            disabled=True), "prodsched-cancel")
        self.error = _classed(W.HTML(), "prodsched-error")
        self.retry_btn = _classed(W.Button(description="Retry", icon="repeat", button_style="danger"),
                                  "prodsched-retry")
        self.error_box = _classed(W.VBox([self.error, self.retry_btn], layout=W.Layout(display="none")),
                                  "prodsched-error-box")
        self.summaries = {n: _classed(W.HTML(), "prodsched-summary", f"prodsched-summary-{n}") for n in STAGES}
        self.tabs = _classed(W.Tab(children=[self.summaries[n] for n in STAGES]), "prodsched-tabs")
        self.tabs.titles = tuple(f"{i} {STAGE_TITLES[n]}" for i, n in enumerate(STAGES, start=1))
        self.kpis = _classed(W.HTML(layout=W.Layout(display="none")), "prodsched-kpis")
        self.gantt_box = _classed(W.VBox(), "prodsched-gantt-box")
        self.details = _classed(W.HTML(details_html(None), layout=W.Layout(display="none")), "prodsched-details")
        self.whatif = WhatIfView(self)  # drag a bar -> pin -> re-plan (prodsched.jupyter.whatif)
        self.widget = _classed(W.VBox([
            style, self.header,
            _classed(W.HBox([self.picker, self.reload_btn, self.attach_btn, self.new_btn, self.compare_btn]),
                     "prodsched-row"),
            _classed(W.HBox([self.data, self.window_days, self.rule, self.seed]), "prodsched-row", "prodsched-params"),
            _classed(W.HBox([self.objective, self.improve, self.outputs]), "prodsched-row", "prodsched-params-optimiser"),
            _classed(W.HBox(cards + [self.run_all_btn]), "prodsched-stages"),
            _classed(W.HBox([self.progress, self.progress_label, self.cancel_btn]), "prodsched-row",
                     "prodsched-progress-row"),
            self.error_box, self.convergence.widget, self.kpis, self.gantt_box, self.details,
            self.whatif.widget, self.tabs, self.compare_box,
        ]), "prodsched-panel")
        self.attach_btn.on_click(lambda _b: self._guard("attach", lambda: self.attach(self.picker.value)))
        self.reload_btn.on_click(lambda _b: self.reload())
        self.new_btn.on_click(lambda _b: self._guard("new session", self.new_session))
        self.cancel_btn.on_click(lambda _b: self.cancel())
        self.retry_btn.on_click(lambda _b: self._retry())
        self.run_all_btn.on_click(lambda _b: self.run_all())
        self.compare_btn.on_click(lambda _b: self._guard("compare", self.show_compare))
        self.reload_sessions()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):  # older front ends
        from IPython.display import display

        display(self.widget)

