"""The interactive Gantt chart for Jupyter (anywidget); it draws the dict of ``gantt_data``."""

from __future__ import annotations

from typing import Any

import anywidget
import pandas as pd
import traitlets

from prodsched.results.gantt_data import asset, bar_records, gantt_data
from prodsched.results.plan import PlanView, as_plan


class GanttWidget(anywidget.AnyWidget):
    """Interactive Gantt: a row per machine, zoom (wheel), pan (drag), hover details, click selects.

    ``selected_op`` follows the user's click; ``view_start``/``view_end`` (slots) follow zoom/pan
    and may be set from Python to move the view.

    With ``editable`` on, dragging a bar (the background still pans) highlights the rows of the
    machines eligible for it (the data's ``bars.eligible``), snaps to slots and, on drop, sets
    ``drop_proposal`` = ``{op_id, machine, start_slot, nonce}``. Python decides: it refuses by
    setting ``drop_refusal`` (the reason, shown over the chart) or accepts by adding the pin to
    ``pins`` (``[{op_id, machine, start, end}]`` in slots, drawn as pinned outlines).
    ``now_slot`` (None: none) draws the re-plan's ``now`` with the time before it shaded.
    """

    _esm = asset("gantt.js")
    _css = asset("gantt.css")
    data = traitlets.Dict().tag(sync=True)
    selected_op = traitlets.Unicode("").tag(sync=True)
    view_start = traitlets.Float(None, allow_none=True).tag(sync=True)
    view_end = traitlets.Float(None, allow_none=True).tag(sync=True)
    row_height = traitlets.Int(22).tag(sync=True)
    editable = traitlets.Bool(False).tag(sync=True)
    drop_proposal = traitlets.Dict().tag(sync=True)
    drop_refusal = traitlets.Unicode("").tag(sync=True)
    pins = traitlets.List().tag(sync=True)
    now_slot = traitlets.Int(None, allow_none=True).tag(sync=True)

    @classmethod
    def from_plan(cls, plan: PlanView, title: str | None = None, **kwargs) -> GanttWidget:
        """The chart of a schedule's plan view."""
        return cls(data=gantt_data(plan, title=title), **kwargs)

    @classmethod
    def from_schedule(cls, schedule_df: pd.DataFrame, tables=None, dag=None, **kwargs) -> GanttWidget:
        """The chart of a stage-5 schedule (its plan view is built from tables, DAG and calendar)."""
        calendar = {k: kwargs.pop(k) for k in ("base_date", "slot_minutes") if k in kwargs}
        return cls.from_plan(as_plan(schedule_df, tables, dag, **calendar), kwargs.pop("title", None), **kwargs)

    def bar(self, op_id: str | None = None) -> dict[str, Any] | None:
        """The bar dict of ``op_id`` (default: the selected one), or None."""
        op_id = self.selected_op if op_id is None else op_id
        ids = self.data.get("bars", {}).get("op_id", [])
        if op_id not in ids:
            return None
        return next(b for b in self.bars() if b["op_id"] == op_id)

    def bars(self) -> list[dict[str, Any]]:
        """Every bar as a dict (see :func:`prodsched.results.gantt_data.bar_records`)."""
        return bar_records(self.data) if self.data else []

    def show_window(self, start: float | None = None, end: float | None = None) -> None:
        """Move the view to slots [start, end); both None = fit the whole schedule."""
        self.view_start, self.view_end = start, end
