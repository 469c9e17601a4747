"""Lower bounds on the makespan, from the operation graph of stage 4."""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd

from prodsched.frozen import is_read_only

BOUND_COLUMNS = ["bound", "slots", "gap_slots", "gap_rel", "description"]


def bounds(g: nx.DiGraph) -> dict[str, int]:
    """depth (nodes on the longest path), machines, lb_chain, lb_load, lower_bound.

    One pass in topological order: the chain bound of an operation is its minimum duration plus
    the largest (chain bound + aging wait) of its predecessors; ``lb_chain`` is the largest of
    them, ``depth`` the most operations on one path.
    """
    nodes = g.nodes
    min_dur = {n: min(a["durations"].values()) for n, a in nodes(data=True)}
    used = {m for _, a in nodes(data=True) for m in a["durations"]}
    chain: dict[object, int] = {}
    depth: dict[object, int] = {}
    pred = g.pred
    for n in nx.topological_sort(g):
        before = pred[n]
        chain[n] = min_dur[n] + max((chain[u] + nodes[u]["aging_slots"] for u in before), default=0)
        depth[n] = 1 + max((depth[u] for u in before), default=0)
    lb_chain = int(max(chain.values(), default=0))
    work = sum(min_dur.values())
    lb_load = math.ceil(work / len(used)) if used else 0
    return {
        "depth": max(depth.values(), default=0),
        "machines": len(g.graph.get("machines", [])),
        "machines_used": len(used),
        "min_work_slots": int(work),
        "lb_chain": lb_chain,
        "lb_load": int(lb_load),
        "lower_bound": int(max(lb_chain, lb_load)),
    }


def machine_bound(g: nx.DiGraph) -> dict[str, object]:
    """lb_machine, lb_machine_code: the work of the operations only one machine can run, on the
    busiest such machine (0 and "" when every operation has a choice)."""
    single: dict[str, int] = {}
    for _, d in g.nodes(data=True):
        dur = d.get("durations") or {}
        if len(dur) == 1:
            (m, v), = dur.items()
            single[m] = single.get(m, 0) + int(v)
    if not single:
        return {"lb_machine": 0, "lb_machine_code": ""}
    m, v = max(single.items(), key=lambda kv: (kv[1], kv[0]))
    return {"lb_machine": int(v), "lb_machine_code": str(m)}


def graph_bounds(g: nx.DiGraph) -> dict[str, object]:
    """:func:`bounds` and :func:`machine_bound` of ``g``; stage 4 stores them as the graph's
    attribute ``bounds``, read back (not computed again) from a read-only stored graph."""
    stored = g.graph.get("bounds")
    if stored is not None and is_read_only(g):  # nothing of the graph can have changed since
        return dict(stored)
    return {**bounds(g), **machine_bound(g)}


def lower_bounds(dag, makespan: int) -> pd.DataFrame:
    """Makespan lower bounds and the gap of ``makespan`` to each.

    chain and load are the operation graph's bounds (stage 4: longest routing chain of minimum
    durations plus aging waits; total minimum work over the machines that can run anything);
    machine adds the work of operations that only one machine can run, on the busiest such machine.
    """
    rows = []
    if dag is not None and dag.number_of_nodes():
        b = graph_bounds(dag)
        rows.append(("chain", b["lb_chain"], "longest routing chain of minimum durations plus aging waits"))
        rows.append(("load", b["lb_load"], f"total minimum work / {b['machines_used']} machines that can run it"))
        if b["lb_machine_code"]:
            rows.append(("machine", b["lb_machine"], f"work of the operations only {b['lb_machine_code']} can run"))
    best = max((r[1] for r in rows), default=0)
    rows.append(("best", best, "the largest of the bounds above"))
    return pd.DataFrame(
        [{"bound": b, "slots": int(s), "gap_slots": int(makespan - s),
          "gap_rel": round((makespan - s) / s, 6) if s > 0 else None, "description": d}
         for b, s, d in rows], columns=BOUND_COLUMNS)
