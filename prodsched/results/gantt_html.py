"""The Gantt chart as one self-contained HTML page (renderer, CSS and data inline; no network)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prodsched.results.gantt_data import asset, gantt_data
from prodsched.results.plan import PlanView

_ESM_EXPORT = "export default { render };"
_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 16px; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f5f6f8; }}
{css}
</style></head>
<body>
<div id="prodsched-gantt-app"></div>
<script id="prodsched-gantt-data" type="application/json">{data}</script>
<script>
{js}
</script>
<script>
(function () {{
  const state = {{ data: JSON.parse(document.getElementById("prodsched-gantt-data").textContent),
                   selected_op: "", view_start: null, view_end: null, row_height: 22 }};
  const handlers = {{}};
  const model = {{
    get: (k) => state[k],
    set: (k, v) => {{ state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); }},
    save_changes: () => {{}},
    on: (ev, f) => {{ (handlers[ev] = handlers[ev] || []).push(f); }},
    off: (ev, f) => {{ handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); }},
  }};
  window.prodschedGanttModel = model;
  window.prodschedGanttModule.render({{ model, el: document.getElementById("prodsched-gantt-app") }});
}})();
</script>
</body></html>
"""


def gantt_html(data: Mapping[str, Any], title: str | None = None) -> str:
    """A self-contained HTML page (renderer, CSS and data inline; no network) for ``data``."""
    js = asset("gantt.js")
    if _ESM_EXPORT not in js:
        raise RuntimeError("widgets/gantt.js must end with " + _ESM_EXPORT)
    js = js.replace(_ESM_EXPORT, "window.prodschedGanttModule = { render };")
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    page_title = title or data.get("title") or "prodsched schedule"
    return _HTML_PAGE.format(title=_escape(page_title), css=asset("gantt.css"), data=payload, js=js)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_gantt_html(source: PlanView | pd.DataFrame, path, tables=None, dag=None, title: str | None = None,
                     **calendar) -> Path:
    """Write the interactive chart as one self-contained HTML file; returns the path.

    ``source``: the plan view, or a schedule with its tables, DAG and calendar (as ``gantt_data``)."""
    data = gantt_data(source, tables, dag, title=title, **calendar)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(gantt_html(data, title), encoding="utf-8")
    return path
