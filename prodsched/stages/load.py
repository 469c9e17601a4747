"""Stage 1 — load: read and validate the 12 input tables.

Artifacts: the 12 canonical tables (names of ``prodsched.inputs.spec.TABLE_NAMES``) and
``validation`` (the report as a DataFrame). Raises ``InputError`` when the report has errors.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from prodsched.errors import Cancelled, InputError
from prodsched.stages import StageResult
from prodsched.inputs.spec import TABLE_NAMES
from prodsched.inputs.read import load_tables
ISSUES_IN_SUMMARY = 50


def _source(inputs: Mapping[str, Any], params) -> Any:
    payload = inputs.get("payload") if inputs else None
    if payload is not None:
        return payload
    if isinstance(params, Mapping):
        return params.get("data")
    return getattr(params, "data", None)


def _date(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def summarise(tables: Mapping[str, pd.DataFrame], report, source: Any = None) -> dict[str, Any]:
    """The JSON-able stage-1 summary."""
    orders = tables["order_data"]
    due = orders["due"] if not orders.empty else pd.Series([], dtype="datetime64[ns]")
    return {
        "source": "payload" if isinstance(source, Mapping) else (None if source is None else str(source)),
        "rows": {name: int(len(tables[name])) for name in TABLE_NAMES},
        "orders": int(len(orders)),
        "items": int(orders["item"].nunique()),
        "routed_items": int(tables["operation_sequence"]["item"].nunique()),
        "machines": int(len(tables["machine_master_info"])),
        "due_min": _date(due.min()) if len(due) else None,
        "due_max": _date(due.max()) if len(due) else None,
        "total_length_m": float(orders["length_m"].sum()),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "issues": report.to_records(limit=ISSUES_IN_SUMMARY),
    }


def run(inputs: Mapping[str, Any], params, progress=None, cancel=None) -> StageResult:
    if cancel is not None and cancel.is_set():
        raise Cancelled("load cancelled before it started")
    source = _source(inputs, params)
    if progress:
        progress(0.0, "reading the input tables")
    tables, report = load_tables(source)
    if cancel is not None and cancel.is_set():
        raise Cancelled("load cancelled")
    if not report.ok:
        raise InputError(report)
    if progress:
        progress(1.0, f"loaded {len(tables['order_data'])} orders ({report.summary_line()})")
    artifacts: dict[str, Any] = {name: tables[name] for name in TABLE_NAMES}
    artifacts["validation"] = report.to_frame()
    return StageResult(artifacts=artifacts, summary=summarise(tables, report, source))
