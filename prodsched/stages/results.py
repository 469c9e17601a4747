"""Stage 6 — results: key figures, per-order/per-machine tables, gap analysis, verification.

Inputs (artifacts of stages 1-5): ``schedule``, ``dag``, ``calendar``, ``jobs``, ``order_jobs``,
``unable``, the twelve tables and ``validation``. Artifacts: ``kpis`` (dict), ``orders``,
``late_orders``, ``machines``, ``gaps``, ``violations`` and ``bounds`` (DataFrames). When
``params.out`` is set the result files of the output contract are written there as well.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from prodsched import kpis as K
from prodsched.errors import Cancelled
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
    base, slot = K.calendar_of(inputs.get("calendar"), dag, params)
    tables = {name: inputs[name] for name in TABLES if name in inputs}

    step(0.0, "verifying the schedule")
    violations = verify_schedule(schedule, dag, tables)

    step(0.3, "orders and lateness")
    orders = K.order_table(schedule, tables.get("order_data"), inputs.get("order_jobs"),
                           inputs.get("unable"), inputs.get("jobs"))
    late = K.late_order_table(orders)

    step(0.5, "machines and gaps")
    machine_list, names = _machines(tables.get("machine_master_info"), dag)
    rules = K.SetupRules(tables.get("operation_delay"), tables.get("width_change"),
                         tables.get("machine_master_info"))
    downtime = K.downtime_slots(tables.get("machine_rest"), base, slot)
    machines, gaps = K.machine_and_gap_tables(schedule, machine_list, names, downtime, rules, base, slot)

    step(0.8, "lower bounds and key figures")
    bounds = K.lower_bounds(dag, K.makespan_of(schedule))
    kpis = K.compute_kpis(schedule, orders, machines, bounds, len(violations), base, slot, params)
    kpis.update(inputs.get("schedule_figures") or {})  # stage 5's objective figures
    artifacts = {"kpis": kpis, "orders": orders, "late_orders": late, "machines": machines,
                 "gaps": gaps, "violations": violations, "bounds": bounds}
    summary = {"kpis": kpis, "late_orders": len(late), "violations": len(violations),
               "gaps": gaps["kind"].value_counts().to_dict() if len(gaps) else {}}
    if getattr(params, "out", None):
        step(0.9, f"writing result files to {params.out}")
        from prodsched.exports import write_results

        summary["files"] = [str(p) for p in write_results({**inputs, **artifacts}, params.out)]
    step(1.0, "done")
    return StageResult(artifacts=artifacts, summary=summary)


TABLES = ("order_data", "operation_sequence", "linespeed", "machine_master_info", "yield_data",
          "gitem_operation", "operation_types", "operation_delay", "width_change", "machine_rest",
          "machine_allocate", "machine_limit")


def verify_schedule(schedule: pd.DataFrame, dag, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The independent verifier's findings as a DataFrame (op_id, check, message)."""
    from prodsched.stages.schedule import verify

    found = verify(schedule, dag, dict(tables))
    return pd.DataFrame([{c: str(v.get(c, "")) for c in K.VIOLATION_COLUMNS} for v in found],
                        columns=K.VIOLATION_COLUMNS)


def _machines(master: pd.DataFrame | None, dag) -> tuple[list[str], dict[str, str]]:
    names: dict[str, str] = {}
    order: list[str] = []
    if master is not None and len(master):
        m = master.sort_values("machine_index") if "machine_index" in master else master
        order = [str(x) for x in m["machine"]]
        if "machine_name" in m:
            names = {str(a): str(b) for a, b in zip(m["machine"], m["machine_name"].fillna(""))}
    elif dag is not None:
        order = [str(x) for x in dag.graph.get("machines", [])]
    return order, names
