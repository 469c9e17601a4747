"""What each stage notebook shows: its summary and the tables a person checks at that stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

# Artifacts worth a look after each stage, with how many rows to show (None = all).
_STAGE_TABLES: dict[str, list[tuple[str, str, int | None]]] = {
    "load": [("validation", "Validation report", None)],
    "preprocess": [("unable", "Orders that cannot be scheduled", None), ("jobs", "Jobs (first rows)", 15)],
    "yield": [("op_lengths", "Production lengths after yield (first rows)", 15)],
    "dag": [],
    "schedule": [("schedule", "Schedule (first rows)", 15)],
    "results": [("late_orders", "Late orders", None), ("machines", "Machines", None)],
}


def summary_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """A stage summary as a two-column table; nested dicts become dotted keys, lists are counted."""
    rows: list[tuple[str, Any]] = []

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            rows.append((prefix, f"{len(value)} item(s)" if len(value) > 3 else ", ".join(map(str, value))))
        else:
            rows.append((prefix, value))

    add("", summary)
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def _heading(text: str) -> None:
    from IPython.display import Markdown

    _display(Markdown(f"**{text}**"))


def show_stage(session, name: str) -> None:
    status = next(s for s in session.status()["stages"] if s["name"] == name)
    _heading(f"Stage {status['number']} ({name}): {status['status']} in {status.get('elapsed_s') or 0:.2f} s "
             f"— session {session.id}")
    _display(summary_frame(session.summary(name)))
    artifacts = session.artifacts(name)
    for key, title, limit in _STAGE_TABLES[name]:
        frame = artifacts.get(key)
        if isinstance(frame, pd.DataFrame):
            _heading(f"{title}: {len(frame)} row(s)")
            if len(frame):
                _display(frame if limit is None else frame.head(limit))
    if name == "results":
        _show_result_files(session)


def _show_result_files(session) -> None:
    out = session.params.out
    if not out:
        return
    folder = Path(out)
    files = sorted(p.name for p in folder.glob("*") if p.is_file())
    _heading(f"Files written to {folder}: {', '.join(files)}")
    png = folder / "gantt.png"
    if png.exists():
        from IPython.display import Image

        _display(Image(filename=str(png)))
