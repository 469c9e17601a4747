"""Cross-table checks on the canonical tables (after ``prodsched.inputs.normalise``).

Unknown machine codes and broken routings are errors; everything a later stage can decide
(orders without routing, operations without an eligible machine, unknown classes, missing
changeover pairs, wide routing disagreements) is a warning naming the rows involved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prodsched.inputs.groups import rank_in_runs
from prodsched.inputs.spec import ROW

MAX_LISTED = 8


def _listing(values) -> str:
    values = [str(v) for v in values]
    more = len(values) - MAX_LISTED
    return ", ".join(values[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def check_tables(tables: dict[str, pd.DataFrame], ctx) -> None:
    broken = ctx.broken
    if "machine_master_info" not in broken:
        _unknown_machines(tables, ctx)
    if "operation_sequence" not in broken:
        _routing_seq(tables, ctx)
        if "order_data" not in broken:
            _orders_without_routing(tables, ctx)
        if not {"linespeed", "machine_master_info"} & broken:
            _eligibility(tables, ctx)
        if "operation_types" not in broken:
            _classes(tables, ctx)
        if "gitem_operation" not in broken:
            _wide_routing(tables, ctx)
    if "machine_rest" not in broken:
        _downtime(tables, ctx)
    for table in ("machine_allocate", "machine_limit"):
        if table not in broken and "operation_sequence" not in broken:
            _pairs_used(tables, table, ctx)


def _unknown_machines(tables, ctx) -> None:
    known = set(tables["machine_master_info"]["machine"])
    for table in ("linespeed", "machine_allocate", "machine_limit", "machine_rest"):
        frame = tables[table]
        if frame.empty:
            continue
        unknown = ~frame["machine"].isin(known)
        for r, m in zip(frame.loc[unknown, ROW], frame.loc[unknown, "machine"]):
            ctx.report.error(table, r, ctx.label(table, "machine"), m,
                             f"unknown machine code {m!r} (not in machine_master_info)")


def _routing_seq(tables, ctx) -> None:
    routing = tables["operation_sequence"]
    if routing.empty:
        return
    # an item's steps are 1..n when, in seq order, its k-th step has seq k; only the items where
    # that fails are looked at one by one (in the order they first appear)
    codes, items = pd.factorize(routing["item"])
    seq = routing["seq"].to_numpy()
    order = np.lexsort((seq, codes))
    grouped = codes[order]
    rank = rank_in_runs(grouped) + 1
    for code in np.unique(grouped[(seq[order] != rank) & (grouped >= 0)]):  # code -1: no item
        item, group = items[code], routing[codes == code]
        seqs = sorted(group["seq"].tolist())
        if seqs != list(range(1, len(seqs) + 1)):
            ctx.report.error("operation_sequence", int(group[ROW].min()), ctx.label("operation_sequence", "seq"),
                             ",".join(map(str, seqs)), f"item {item}: routing steps must be numbered "
                             f"1..{len(seqs)} without gaps, found {seqs} (rows {_listing(sorted(group[ROW]))})")


def _orders_without_routing(tables, ctx) -> None:
    orders, routing = tables["order_data"], tables["operation_sequence"]
    missing = ~orders["item"].isin(set(routing["item"]))
    for r, po, item in zip(orders.loc[missing, ROW], orders.loc[missing, "po_no"], orders.loc[missing, "item"]):
        ctx.report.warning("order_data", r, ctx.label("order_data", "item"), item,
                           f"order {po}: item {item} has no routing in operation_sequence; "
                           "it will be listed as unable (no_routing)")


def speed_machines(speeds: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """(item, operation) -> the machines with a speed for it, both in the order they first appear."""
    out: dict[tuple[str, str], dict[str, None]] = {}
    for item, op, machine in zip(speeds["item"].tolist(), speeds["operation"].tolist(), speeds["machine"].tolist()):
        out.setdefault((item, op), {})[machine] = None
    return {pair: list(machines) for pair, machines in out.items()}


def eligible_machines(tables: dict[str, pd.DataFrame],
                      with_speed: dict[tuple[str, str], list[str]] | None = None) -> dict[tuple[str, str], list[str]]:
    """(item, operation) -> machines that may run it: speed present, allocation, limits.

    An allocation restricts an operation to its allocated machines among those with a speed;
    an allocation to a machine with no speed for the item is not applied. Limits remove machines.
    ``with_speed``: :func:`speed_machines` of the linespeed table when the caller has it already.
    """
    alloc = tables["machine_allocate"].groupby("operation")["machine"].agg(set).to_dict()
    limit = tables["machine_limit"].groupby("operation")["machine"].agg(set).to_dict()
    out: dict[tuple[str, str], list[str]] = {}
    if with_speed is None:
        with_speed = speed_machines(tables["linespeed"])
    for (item, op), machines in with_speed.items():
        allowed = [m for m in machines if m in alloc.get(op, ())]
        base = allowed if allowed else machines
        out[(item, op)] = [m for m in base if m not in limit.get(op, ())]
    return out


def _eligibility(tables, ctx) -> None:
    routing = tables["operation_sequence"]
    with_machines = speed_machines(tables["linespeed"])
    eligible = eligible_machines(tables, with_machines)
    for r, item, op in zip(routing[ROW].tolist(), routing["item"].tolist(), routing["operation"].tolist()):
        if (item, op) not in with_machines:
            ctx.report.warning("operation_sequence", r, ctx.label("operation_sequence", "operation"), op,
                               f"item {item}, operation {op}: no speed on any machine in linespeed; "
                               "the item cannot be made (no_machine)")
        elif not eligible.get((item, op)):
            ctx.report.warning("operation_sequence", r, ctx.label("operation_sequence", "operation"), op,
                               f"item {item}, operation {op}: no eligible machine after machine_limit and "
                               "machine_allocate; the item cannot be made (no_machine)")
    alloc = tables["machine_allocate"]
    if alloc.empty:
        return
    items_of = routing.groupby("operation", sort=False)["item"].agg(lambda s: list(dict.fromkeys(s))).to_dict()
    allocated = alloc.groupby("operation", sort=False)["machine"].agg(set).to_dict()
    first_row = alloc.groupby("operation", sort=False)[ROW].first().to_dict()
    for op, machines in allocated.items():
        lacking = [i for i in items_of.get(op, []) if (i, op) in with_machines
                   and machines.isdisjoint(with_machines[(i, op)])]
        if lacking:
            ctx.report.warning("machine_allocate", first_row[op], ctx.label("machine_allocate", "machine"),
                               ", ".join(sorted(machines)),
                               f"operation {op} is allocated to {', '.join(sorted(machines))}, none of which "
                               f"has a speed for item(s) {_listing(lacking)}; the allocation is not applied "
                               "to them")


def _classes(tables, ctx) -> None:
    routing, types = tables["operation_sequence"], tables["operation_types"]
    known = types[types["op_class"] != ""]
    by_name = dict(zip(known["operation"], known["op_class"]))
    by_code = dict(zip(known.loc[known["operation_code"] != "", "operation_code"],
                       known.loc[known["operation_code"] != "", "op_class"]))
    used: dict[str, None] = {}
    if not types.empty:
        seen: set[str] = set()
        for r, op, code in zip(routing[ROW], routing["operation"], routing["operation_code"]):
            cls = by_name.get(op) or by_code.get(code)
            if cls:
                used.setdefault(cls, None)
            elif op not in seen:
                seen.add(op)
                ctx.report.warning("operation_sequence", r, ctx.label("operation_sequence", "operation"), op,
                                   f"operation {op} has no class in operation_types (unknown operation "
                                   "class); it gets no class changeovers")
    delay = tables["operation_delay"]
    if delay.empty or "operation_delay" in ctx.broken:
        return
    pairs = set(zip(delay["from_class"], delay["to_class"]))
    for a in used:
        lacking = [b for b in used if (a, b) not in pairs]
        if lacking:
            ctx.report.warning("operation_delay", None, ctx.label("operation_delay", "to_class"), a,
                               f"no changeover time from class {a} to {_listing(lacking)}; treated as 0")


def _wide_routing(tables, ctx) -> None:
    wide, routing = tables["gitem_operation"], tables["operation_sequence"]
    if wide.empty:
        return
    steps: dict[str, dict[int, tuple[str, str]]] = {}
    for item, seq, op, code in zip(routing["item"], routing["seq"], routing["operation"], routing["operation_code"]):
        steps.setdefault(item, {})[int(seq)] = (op, code)
    for rec in wide.to_dict("records"):
        item, row = rec["item"], rec[ROW]
        if item not in steps:
            ctx.report.warning("gitem_operation", row, ctx.label("gitem_operation", "item"), item,
                               f"item {item} is in gitem_operation but has no routing in operation_sequence")
            continue
        route = steps[item]
        for k in range(1, 8):
            given, expected = rec.get(f"op{k}", ""), route.get(k)
            if given == "" and expected is None:
                continue
            if expected is None or given not in expected:
                ctx.report.warning("gitem_operation", row, ctx.label("gitem_operation", f"op{k}"), given,
                                   f"item {item}, step {k}: gitem_operation says {given or '(nothing)'!r}, "
                                   f"operation_sequence says {expected[0] if expected else '(nothing)'!r}; "
                                   "operation_sequence is used")


def _downtime(tables, ctx) -> None:
    rest = tables["machine_rest"]
    wrong = rest["end"] <= rest["start"]
    for r, s, e in zip(rest.loc[wrong, ROW], rest.loc[wrong, "start"], rest.loc[wrong, "end"]):
        ctx.report.error("machine_rest", r, ctx.label("machine_rest", "end"), e,
                         f"downtime ends ({e}) at or before it starts ({s})")


def _pairs_used(tables, table, ctx) -> None:
    frame, routing = tables[table], tables["operation_sequence"]
    ops = set(routing["operation"])
    for r, op in zip(frame[ROW], frame["operation"]):
        if op not in ops:
            ctx.report.warning(table, r, ctx.label(table, "operation"), op,
                               f"operation {op} is in no routing; this {table} row has no effect")
