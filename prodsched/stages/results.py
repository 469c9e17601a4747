"""Stage 6 — results: key figures, per-order/per-machine tables, gap analysis, verification.

Inputs (artifacts of stages 1-5): ``schedule``, ``dag``, ``calendar``, ``jobs``, ``order_jobs``,
``unable``, the twelve tables and ``validation``. Artifacts: ``kpis`` (dict), ``orders``,
``late_orders``, ``machines``, ``gaps``, ``violations`` and ``bounds`` (DataFrames). When
``params.out`` is set the result files of the output contract are written there as well (those
``params.outputs`` chooses; schedule.csv, kpis.json and run.json always).

The schedule's plan view (calendar, machine order, downtime, setups and their reasons) is built
once here and read by the key figures, the gap analysis and every exported file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import pandas as pd

from prodsched.errors import Cancelled
from prodsched.inputs.spec import TABLE_NAMES
from prodsched.results import kpis as K
from prodsched.results.columns import VIOLATION_COLUMNS
from prodsched.results.plan import PlanView
from prodsched.stages import StageResult

log = logging.getLogger(__name__)


def run(inputs: Mapping[str, Any], params, progress=None, cancel=None) -> StageResult:
    def step(fraction: float, message: str) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("results cancelled")
        if progress is not None:
            progress(fraction, message)

    if "schedule" not in inputs:
        raise ValueError("the results need the schedule (run stage 5 first)")
    schedule = inputs["schedule"]
    dag = inputs.get("dag")
    tables = {name: inputs[name] for name in TABLE_NAMES if name in inputs}
    plan = PlanView.build(schedule, dag, tables, inputs.get("calendar"))
    gantt = None
    if getattr(params, "out", None):  # gantt.png is drawn in its own process from here on
        from prodsched.results.exports import start_gantt

        gantt = start_gantt(plan, params.out, getattr(params, "outputs", None))

    step(0.0, "verifying the schedule")
    replan = (inputs.get("schedule_info") or {}).get("replan")
    violations = verify_schedule(schedule, dag, tables, replan)

    step(0.3, "orders and lateness")
    orders = K.order_table(schedule, tables.get("order_data"), inputs.get("order_jobs"),
                           inputs.get("unable"), inputs.get("jobs"))
    late = K.late_order_table(orders)

    step(0.5, "machines and gaps")
    machines, gaps = K.machine_and_gap_tables(plan)

    step(0.8, "lower bounds and key figures")
    bounds = K.lower_bounds(dag, plan.makespan)
    kpis = K.compute_kpis(plan, orders, machines, bounds, len(violations), params)
    kpis.update(inputs.get("schedule_figures") or {})  # stage 5's objective figures
    artifacts = {"kpis": kpis, "orders": orders, "late_orders": late, "machines": machines,
                 "gaps": gaps, "violations": violations, "bounds": bounds}
    if replan and replan.get("from"):  # a re-plan: each operation and the KPIs against the previous plan
        artifacts["changes"] = _changes(schedule, kpis, replan)
    summary = {"kpis": kpis, "late_orders": len(late), "violations": len(violations),
               "gaps": gaps["kind"].value_counts().to_dict() if len(gaps) else {}}
    if getattr(params, "out", None):
        step(0.9, f"writing result files to {params.out}")
        from prodsched.results.exports import write_results
        from prodsched.results.manifest import build_manifest, write_manifest

        files = write_results(ChainMap(artifacts, inputs), params.out, plan, getattr(params, "outputs", None), gantt)
        manifest = build_manifest(params, inputs.get("calendar"), inputs.get("schedule_info"))
        files.append(write_manifest(manifest, params.out))
        summary["files"] = [str(p) for p in files]
    step(1.0, "done")
    return StageResult(artifacts=artifacts, summary=summary)


def _changes(schedule: pd.DataFrame, kpis: dict, replan: Mapping[str, Any]) -> pd.DataFrame:
    """changes.csv's table; the re-plan's cells (counts, KPI deltas) are added to ``kpis``."""
    from prodsched.results.changes import changes_table, replan_kpis
    from prodsched.results.exports import read_schedule_csv

    folder = Path(replan["from"])
    previous = read_schedule_csv(folder / "schedule.csv")
    old_kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    changes = changes_table(previous, schedule, pd.Timestamp(replan["now"]))
    kpis.update(replan_kpis(changes, old_kpis, kpis, replan))
    return changes


def verify_schedule(schedule: pd.DataFrame, dag, tables: Mapping[str, pd.DataFrame],
                    replan: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The independent verifier's findings as a DataFrame (op_id, check, message); ``replan``
    (stage 5's record of a re-plan) adds its ``now`` and pins to the rules checked."""
    from prodsched.stages.schedule import verify

    found = verify(schedule, dag, dict(tables), replan)
    return pd.DataFrame([{c: str(v.get(c, "")) for c in VIOLATION_COLUMNS} for v in found],
                        columns=VIOLATION_COLUMNS)

