"""Stage 4 — the operations as a networkx DiGraph with durations, due slots and lower bounds.

Node id = op_id; edges follow each job's routing (seq order). Node attributes per the interface
contract: job, seq, item, operation, operation_code, op_class, mixture, width, length, due,
due_slot, po_nos, aging_slots, durations {machine: slots}, speeds {machine: m/min}.

Lower bounds on the makespan (slots): ``lb_chain`` = the longest chain of minimum durations plus
aging waits; ``lb_load`` = ceil(total minimum work / machines that can run anything).
"""

from __future__ import annotations

from typing import Any, Mapping

import networkx as nx
import numpy as np
import pandas as pd

from prodsched.errors import ProdschedError
from prodsched.inputs.groups import run_starts
from prodsched.inputs.spec import machine_order
from prodsched.params import Params
from prodsched.results.bounds import graph_bounds
from prodsched.stages import StageResult
from prodsched.stages.preprocess import checkpoint, table

_EPS = 1e-9


def ceil_slots(values, slot_minutes: int) -> np.ndarray:
    """ceil(values / slot_minutes) as int, ignoring float noise (210.0000000001 -> 210)."""
    x = np.asarray(values, dtype=float) / float(slot_minutes)
    return np.ceil(x - _EPS * np.maximum(1.0, np.abs(x))).astype(np.int64)


def durations(length_m, speed_m_min, slot_minutes: int) -> np.ndarray:
    """Slots to run length_m at speed_m_min: ceil(length / speed / slot), at least 1."""
    minutes = np.asarray(length_m, dtype=float) / np.asarray(speed_m_min, dtype=float)
    return np.maximum(ceil_slots(minutes, slot_minutes), 1)


def aging_slots(aging_hours, slot_minutes: int) -> np.ndarray:
    hours = np.nan_to_num(np.asarray(aging_hours, dtype=float), nan=0.0)
    return np.maximum(ceil_slots(hours * 60.0, slot_minutes), 0)


def due_slots(due: pd.Series, base_date: pd.Timestamp, slot_minutes: int) -> np.ndarray:
    """Slot at the end of the due day: floor((due + 1 day - base_date) / slot)."""
    minutes = (pd.to_datetime(due).dt.normalize() + pd.Timedelta(days=1) - base_date) / pd.Timedelta(minutes=1)
    return np.floor(minutes.to_numpy(dtype=float) / slot_minutes + _EPS).astype(np.int64)


def _per_operation(op_ids: list[str], at: np.ndarray, machines: list[str], slots: list[int],
                   speeds: list[float]) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """op_id -> {machine: slots} and op_id -> {machine: m/min} from eligibility rows grouped by
    operation (``at``: the row of each one's operation in ``op_ids``); one dict per operation from
    its run of rows (a repeated machine keeps its first place and its last value)."""
    starts = run_starts(at).tolist()
    ends = starts[1:] + [len(at)]
    first = at[starts].tolist()
    dur = {op_ids[k]: dict(zip(machines[a:b], slots[a:b])) for k, a, b in zip(first, starts, ends)}
    spd = {op_ids[k]: dict(zip(machines[a:b], speeds[a:b])) for k, a, b in zip(first, starts, ends)}
    return dur, spd


def run(inputs: Mapping[str, Any], params: Params, progress=None, cancel=None) -> StageResult:
    checkpoint(progress, cancel, 0.0, "collecting operations", "dag")
    calendar = inputs.get("calendar")
    if not calendar:
        raise ProdschedError("dag needs the calendar of the preprocess stage")
    if "op_lengths" not in inputs:
        raise ProdschedError("dag needs op_lengths of the yield stage")
    slot = int(calendar["slot_minutes"])
    base = pd.Timestamp(calendar["base_date"])
    ops = table(inputs, "operations", ["op_id", "job_id", "seq", "item", "operation_code", "operation",
                                       "op_class", "mixture", "width_mm", "due", "aging_hours"])
    lengths = table(inputs, "op_lengths", ["op_id", "length_m"])
    elig = table(inputs, "eligibility", ["op_id", "machine", "speed_m_min"])
    jobs = table(inputs, "jobs", ["job_id", "po_nos"])
    master = table(inputs, "machine_master_info", ["machine", "machine_index"])

    dup = ops["op_id"][ops["op_id"].duplicated()]
    if len(dup):
        raise ProdschedError(f"operations: op_id {dup.iloc[0]} appears more than once")
    ops = ops.merge(lengths[["op_id", "length_m"]], on="op_id", how="left", suffixes=("_fabric", ""))
    if ops["length_m"].isna().any():
        raise ProdschedError(f"op_lengths has no length for operation {ops.loc[ops['length_m'].isna(), 'op_id'].iloc[0]}")
    ops = ops.sort_values(["job_id", "seq"], kind="stable").reset_index(drop=True)

    machines = machine_order(master)
    order = {m: i for i, m in enumerate(machines)}
    at = pd.Index(ops["op_id"]).get_indexer(elig["op_id"])  # each pair's operation (row of ops); -1: none
    e = elig[at >= 0]
    at = at[at >= 0]
    speeds = e["speed_m_min"].to_numpy(dtype=float)
    slots = durations(ops["length_m"].to_numpy()[at], speeds, slot)
    # each operation's machines in plant order, machines the plant does not list last by name
    by_name, names = pd.factorize(e["machine"], sort=True)
    rank = np.array([order.get(m, len(order)) for m in names], dtype=np.int64)[by_name]
    rows = np.lexsort((by_name, rank, at))
    dur, spd = _per_operation(ops["op_id"].tolist(), at[rows],
                              np.asarray(names.astype(str), dtype=object)[by_name[rows]].tolist(),
                              slots[rows].tolist(), speeds[rows].tolist())
    empty = [o for o in ops["op_id"].tolist() if o not in dur]
    if empty:
        raise ProdschedError(f"{len(empty)} operation(s) have no eligible machine, e.g. {', '.join(empty[:5])}; "
                             "check linespeed, machine_limit and machine_allocate")

    checkpoint(progress, cancel, 0.4, "building the graph", "dag")
    po_of_job = {job: [p for p in text.split(";") if p]
                 for job, text in zip(jobs["job_id"].tolist(), jobs["po_nos"].astype(str).tolist())}
    aging = aging_slots(ops["aging_hours"], slot)
    due_slot = due_slots(ops["due"], base, slot)
    due_iso = pd.to_datetime(ops["due"]).dt.strftime("%Y-%m-%d")
    cols = {c: ops[c].tolist() for c in ("op_id", "job_id", "seq", "item", "operation", "operation_code",
                                         "op_class", "mixture", "width_mm", "length_m")}
    nodes = [
        (op_id, {"job": job, "seq": int(seq), "item": item, "operation": operation, "operation_code": code,
                 "op_class": op_class, "mixture": mixture, "width": int(width), "length": float(length),
                 "due": due, "due_slot": int(ds), "po_nos": list(po_of_job.get(job, ())),
                 "aging_slots": int(ag), "durations": dur[op_id], "speeds": spd[op_id]})
        for op_id, job, seq, item, operation, code, op_class, mixture, width, length, due, ds, ag in zip(
            cols["op_id"], cols["job_id"], cols["seq"], cols["item"], cols["operation"], cols["operation_code"],
            cols["op_class"], cols["mixture"], cols["width_mm"], cols["length_m"], due_iso.tolist(),
            due_slot.tolist(), aging.tolist())
    ]
    same_job = (ops["job_id"].to_numpy()[1:] == ops["job_id"].to_numpy()[:-1])
    ids = ops["op_id"].to_numpy()
    edges = list(zip(ids[:-1][same_job], ids[1:][same_job]))
    g = nx.DiGraph(base_date=base.date().isoformat(), slot_minutes=slot, machines=machines)
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        raise ProdschedError(f"the operation graph has a cycle: {' -> '.join(u for u, _ in cycle)}")

    checkpoint(progress, cancel, 0.8, "lower bounds", "dag")
    g.graph["bounds"] = graph_bounds(g)  # stage 6 reads them from the stored graph
    summary = {"nodes": g.number_of_nodes(), "edges": g.number_of_edges(),
               "jobs": int(ops["job_id"].nunique()), **g.graph["bounds"]}
    checkpoint(progress, cancel, 1.0, "done", "dag")
    return StageResult(artifacts={"dag": g}, summary=summary)
