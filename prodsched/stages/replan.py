"""Re-planning inputs of stage 5: ``now`` and the pins, from a previous run and a pinned table.

* ``params.now`` becomes the instance's ``now`` slot (rounded up to the slot grid: nothing new
  starts before it).
* ``params.replan_from`` (a run folder): every operation of its ``schedule.csv`` that started
  before ``now`` is pinned where it ran. Operations are matched to the new plan by their orders
  and routing step (``po_nos``, ``seq``), so a re-numbered job still matches. An order whose
  operations all ended by ``now`` is *done*: kept as pins when it is still in the input, left out
  when it is not; a started operation of an unfinished order that the new input lacks is an error.
* ``params.pins`` (the ``pinned`` table): rows checked like the input tables, then against the
  plan (unknown operation or machine, a start off the slot grid, an operation pinned twice or
  moved although it started before ``now``); errors are an InputError naming table, row, column
  and value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from prodsched import engine
from prodsched.errors import InputError, ParameterError, ProdschedError
from prodsched.inputs.pinned import read_pinned
from prodsched.params import Params
from prodsched.results.changes import done_orders, op_key
from prodsched.results.exports import read_schedule_csv
from prodsched.results.plan import calendar_of


def replanning(params) -> bool:
    return bool(getattr(params, "now", None) or getattr(params, "replan_from", None)
                or getattr(params, "pins", None))


def previous_schedule(run_dir: str | Path) -> pd.DataFrame:
    path = Path(run_dir) / "schedule.csv"
    if not path.is_file():
        raise ProdschedError(f"replan_from: {path} does not exist (give a folder `prodsched run` wrote)")
    return read_schedule_csv(path)


def now_slot_of(now: Any, calendar) -> int:
    """The slot of ``now`` on the plan's calendar, rounded up to the slot grid (>= 0)."""
    base, step = pd.Timestamp(calendar.base_date), pd.Timedelta(calendar.step)
    return max(0, math.ceil((pd.Timestamp(now) - base) / step))


def with_record(instance: engine.Instance, record: Mapping[str, Any] | None) -> engine.Instance:
    """``instance`` with the ``now`` slot and pins of a record :func:`constrain` made (to verify
    a re-planned schedule later, e.g. in stage 6 or from run.json)."""
    if not record:
        return instance
    pins = {str(op): (str(m), int(t)) for op, m, t in record.get("pins", [])}
    return engine.Instance(instance.operations, instance.machines, instance.class_setup,
                           instance.horizon, now=int(record.get("now_slot", 0)), pins=pins)


def constrain(instance: engine.Instance, dag: nx.DiGraph, params) -> tuple[engine.Instance, dict]:
    """``instance`` with ``now`` and the pins of ``params``; and a record of what was pinned."""
    cal = calendar_of(dag=dag)
    base, step = pd.Timestamp(cal.base_date), pd.Timedelta(cal.step)
    now_time = pd.Timestamp(params.now) if params.now else None
    now_slot = 0 if now_time is None else now_slot_of(now_time, cal)
    by_key: dict[tuple[str, int], str] = {}
    by_order_op: dict[tuple[str, str], list[str]] = {}
    for node, attrs in dag.nodes(data=True):
        po_nos = ";".join(map(str, attrs.get("po_nos", [])))
        by_key[op_key(po_nos, attrs.get("seq", 0))] = str(node)
        for po in attrs.get("po_nos", []):
            by_order_op.setdefault((str(po), str(attrs.get("operation", ""))), []).append(str(node))
    pins: dict[str, tuple[str, int]] = {}
    origin: dict[str, str] = {}
    record: dict[str, Any] = {"now": None if now_time is None else str(now_time), "now_slot": now_slot,
                              "from": None, "pinned_from_run": 0, "pinned_from_table": 0,
                              "done_orders": []}

    def slot_of(when: pd.Timestamp) -> float:
        return (when - base) / step

    if params.replan_from:
        if now_time is None:
            raise ProdschedError("replan_from needs now (the time before which work is kept)")
        previous = previous_schedule(params.replan_from)
        record["from"] = str(params.replan_from)
        done = done_orders(previous, now_time)
        record["done_orders"] = sorted({po for key in done for po in key.split(";") if po})
        started = previous[previous["start_time"] < now_time]
        for row in started.itertuples(index=False):
            key = op_key(row.po_nos, row.seq)
            op_id = by_key.get(key)
            if op_id is None:
                if key[0] in done:
                    continue  # a finished order no longer in the input
                raise ProdschedError(f"operation {row.op_id} (orders {row.po_nos}, step {row.seq}) started "
                                     f"before now in {params.replan_from} but the new input has no such "
                                     "operation; it cannot be dropped while it runs")
            slot = slot_of(row.start_time)
            if slot != int(slot) or slot < 0:
                raise ProdschedError(f"operation {row.op_id} started at {row.start_time}, which is not a slot "
                                     f"of this plan (base {cal.base_date}, {cal.slot_minutes} min slots)")
            pins[op_id] = (str(row.machine), int(slot))
            origin[op_id] = f"{params.replan_from}/schedule.csv (op {row.op_id})"
        record["pinned_from_run"] = len(pins)
    if params.pins:
        table, report = read_pinned(params.pins)
        machines = {mc.code for mc in instance.machines}
        seen: dict[str, int] = {}
        for rec in table.to_dict("records"):
            row = rec["_row"]
            if rec["op_id"]:
                op_id = rec["op_id"] if dag.has_node(rec["op_id"]) else None
                if op_id is None:
                    report.error("pinned", row, "op_id", rec["op_id"], "not an operation of the plan")
                    continue
            else:
                found = by_order_op.get((rec["po_no"], rec["operation"]), [])
                if len(found) != 1:
                    what = "no operation" if not found else f"{len(found)} operations"
                    report.error("pinned", row, "operation", rec["operation"],
                                 f"order {rec['po_no']} has {what} named {rec['operation']!r} in the plan")
                    continue
                op_id = found[0]
            if rec["machine"] not in machines:
                report.error("pinned", row, "machine", rec["machine"], "not a machine of the plan")
                continue
            slot = slot_of(pd.Timestamp(rec["start"]))
            if slot != int(slot) or slot < 0:
                report.error("pinned", row, "start", rec["start"], f"not a slot of the plan (base "
                             f"{cal.base_date}, {cal.slot_minutes}-minute slots)")
                continue
            if op_id in seen:
                report.error("pinned", row, "op_id", op_id, f"{op_id} is pinned again (row {seen[op_id]})")
                continue
            seen[op_id] = row
            where = (rec["machine"], int(slot))
            if op_id in pins and pins[op_id] != where:
                report.error("pinned", row, "start", rec["start"], f"{op_id} started before now "
                             f"({origin[op_id]}) on {pins[op_id][0]} at slot {pins[op_id][1]}; it cannot move")
                continue
            pins[op_id] = where
        if not report.ok:
            raise InputError(report)
        record["pinned_from_table"] = len(seen)
    record["pinned"] = len(pins)
    record["pins"] = [[op_id, m, t] for op_id, (m, t) in sorted(pins.items())]
    constrained = engine.Instance(instance.operations, instance.machines, instance.class_setup,
                                  instance.horizon, now=now_slot, pins=pins)
    return constrained, record


def replan_params(data: str | Path, run_dir: str | Path, now: str, out: str | Path | None = None,
                  pins: str | list | None = None, **changes: Any) -> Params:
    """The parameters of a re-plan of ``run_dir`` (a folder `prodsched run` wrote) on ``data``
    from ``now``: the previous run's parameters and calendar (so its slots stay the same slots),
    with ``changes`` on top, checked like every run's.

    >>> params = replan_params("data", "runs/monday", "2025-06-03 08:00", out="runs/tuesday")
    >>> Session.create(params=params).run_all()  # doctest: +SKIP
    """
    from prodsched.results.manifest import ManifestError, read_manifest
    from prodsched.stages.checks import check_params

    try:
        manifest = read_manifest(run_dir)
    except ManifestError as exc:
        raise ParameterError("replan_from", str(run_dir), str(exc)) from None
    values = dict(manifest["parameters"])
    calendar = manifest.get("calendar") or {}
    for key in ("base_date", "slot_minutes"):
        if calendar.get(key) is not None:
            values[key] = calendar[key]
    values.update(data=str(Path(data).resolve()), replan_from=str(Path(run_dir).resolve()), now=str(now),
                  pins=str(Path(pins).resolve()) if isinstance(pins, (str, Path)) else pins,
                  out=None if out is None else str(Path(out).resolve()))
    values.update(changes)
    return check_params(values)
