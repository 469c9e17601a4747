"""The run table ``pinned``: operations fixed on a machine at a start time (re-planning).

Read from a ``.csv``/``.json``/``.parquet`` file, a list of records or a DataFrame, and checked
like the 12 tables (headers, cell types, a row names its operation by ``op_id`` or by ``po_no``
and ``operation``); every row dropped leaves an error naming table, row, column and value. The
cross-check against the operations of the plan (unknown operation, machine, a start off the slot
grid, an operation pinned twice) happens where the plan is known (``prodsched.stages.replan``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from prodsched.inputs.normalise import Context, normalise_table
from prodsched.inputs.read import _read_file, _records_frame
from prodsched.inputs.report import ValidationReport

TABLE = "pinned"
SUFFIXES = (".csv", ".json", ".parquet")


def read_pinned(source: Any) -> tuple[pd.DataFrame, ValidationReport]:
    """The canonical ``pinned`` table from ``source`` and the report of what was wrong in it."""
    report = ValidationReport()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            report.error(TABLE, None, "", str(source), f"pinned table {source} does not exist")
            raw = None
        elif path.suffix.lower() not in SUFFIXES:
            report.error(TABLE, None, "", path.name, f"pinned table {path.name}: give a "
                         f"{', '.join(SUFFIXES)} file")
            raw = None
        else:
            raw = _read_file(path, TABLE, report)
    else:
        raw = _records_frame(source, TABLE, "pinned", report)
    if raw is None:
        if report.ok:
            report.error(TABLE, None, "", "", "the pinned table could not be read")
        return normalise_table(TABLE, None, Context(report), {}), report
    return normalise_table(TABLE, raw, Context(report), {}), report
