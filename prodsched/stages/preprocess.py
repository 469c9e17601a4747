"""Stage 2 — orders become jobs (month merge + width combination) and jobs become operations.

Artifacts: ``calendar`` (dict), ``jobs``, ``order_jobs``, ``operations``, ``eligibility``,
``unable`` (DataFrames, columns per the interface contract). Every order ends up in exactly one
of ``order_jobs`` or ``unable``; a violation raises instead of losing an order.

Unable reason codes: ``no_due`` (no due date), ``zero_length`` (length missing, zero or negative),
``bad_width`` (width missing, zero or negative), ``no_routing`` (item has no operation sequence),
``no_machine`` (an operation of the item has no eligible machine after limits/allocations),
``no_width_combination`` (a custom width table without "*" row matched no row).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

import numpy as np
import pandas as pd

from prodsched.errors import Cancelled, ProdschedError
from prodsched.inputs.groups import rank_in_runs, run_starts
from prodsched.inputs.spec import machine_order
from prodsched.inputs.widths import DEFAULT_WIDTH_COMBINATIONS, combine, resolve_table
from prodsched.params import Params
from prodsched.results.columns import UNABLE_COLUMNS
from prodsched.stages import StageResult

JOB_COLUMNS = ["job_id", "item", "item_name", "widths", "fabric_width_mm", "roll_length_m", "length_m",
               "fabric_length_m", "due", "po_nos", "n_orders", "month"]
JOB_DTYPES = {"job_id": str, "item": str, "item_name": str, "widths": str, "fabric_width_mm": "int64",
              "roll_length_m": float, "length_m": float, "fabric_length_m": float, "due": "datetime64[us]",
              "po_nos": str, "n_orders": "int64", "month": str}
OPERATION_COLUMNS = ["op_id", "job_id", "seq", "item", "operation_code", "operation", "op_class", "mixture",
                     "width_mm", "length_m", "due", "aging_hours"]


def checkpoint(progress, cancel, fraction: float, message: str, stage: str) -> None:
    """Raise Cancelled when asked to stop, else report progress."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{stage} cancelled")
    if progress is not None:
        progress(fraction, message)


def table(inputs: Mapping[str, Any], name: str, columns: list[str]) -> pd.DataFrame:
    """The input table ``name`` (an empty one with ``columns`` when absent); missing columns are an error."""
    frame = inputs.get(name)
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ProdschedError(f"table {name} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame


def resolve_base_date(value: Any, dues: pd.Series) -> tuple[pd.Timestamp, str | None]:
    """base_date per Params: None/"auto" = first day of the earliest due's month; "today"; or a date."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        valid = pd.to_datetime(dues, errors="coerce").dropna()
        if valid.empty:
            today = pd.Timestamp(dt.date.today())
            return today.replace(day=1), "no order has a due date; base_date is the first day of this month"
        return valid.min().normalize().replace(day=1), None
    if isinstance(value, str) and value.strip().lower() == "today":
        return pd.Timestamp(dt.date.today()), None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ProdschedError(f"base_date {value!r} is not 'auto', 'today' or a date like 2025-01-01")
    return stamp.normalize().tz_localize(None) if stamp.tzinfo else stamp.normalize(), None


def _orders(inputs: Mapping[str, Any]) -> pd.DataFrame:
    raw = table(inputs, "order_data", ["po_no", "item", "width_mm", "roll_length_m", "due"])
    n = len(raw)

    def col(name: str) -> pd.Series:
        return raw[name] if name in raw.columns else pd.Series([np.nan] * n, index=raw.index)

    roll = pd.to_numeric(col("roll_length_m"), errors="coerce").astype(float)
    rolls = pd.to_numeric(col("rolls"), errors="coerce").astype(float)
    length = pd.to_numeric(col("length_m"), errors="coerce").astype(float)
    length = length.where(length.notna(), roll * rolls)
    item_name = col("item_name").astype(object)
    return pd.DataFrame({
        "po_no": raw["po_no"].astype(str).to_numpy(),
        "item": raw["item"].astype(str).to_numpy(),
        "item_name": item_name.where(item_name.notna(), "").astype(str).to_numpy(),
        "width_mm": pd.to_numeric(raw["width_mm"], errors="coerce").astype(float).to_numpy(),
        "roll_length_m": roll.to_numpy(),
        "rolls": rolls.to_numpy(),
        "length_m": length.to_numpy(),
        "due": pd.to_datetime(raw["due"], errors="coerce").dt.normalize().to_numpy(),
        "_pos": np.arange(n),
        "_row": (pd.to_numeric(raw["_row"], errors="coerce").to_numpy() if "_row" in raw.columns
                 else np.arange(n) + 1),
    })


def _routing(inputs: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    seq = table(inputs, "operation_sequence", ["item", "operation_code", "operation", "seq"])
    types = table(inputs, "operation_types", ["operation_code", "operation", "op_class"])
    r = pd.DataFrame({
        "item": seq["item"].astype(str),
        "operation_code": seq["operation_code"].fillna("").astype(str),
        "operation": seq["operation"].astype(str),
        "mixture": (seq["mixture"].fillna("").astype(str) if "mixture" in seq.columns else ""),
        "seq": pd.to_numeric(seq["seq"], errors="coerce").astype("int64"),
        "aging_hours": (pd.to_numeric(seq["aging_hours"], errors="coerce").fillna(0.0).astype(float)
                        if "aging_hours" in seq.columns else 0.0),
    }).sort_values(["item", "seq"], kind="stable")
    types = types[types["op_class"].fillna("").astype(str).str.strip() != ""]  # blank class: not a class
    codes = types[types["operation_code"].fillna("").astype(str) != ""].drop_duplicates("operation_code")
    by_code = codes.set_index(codes["operation_code"].astype(str))["op_class"]
    names = types.drop_duplicates("operation")
    by_name = names.set_index(names["operation"].astype(str))["op_class"]
    op_class = r["operation_code"].map(by_code)
    op_class = op_class.where(op_class.notna(), r["operation"].map(by_name))
    unknown = r.loc[op_class.isna(), "operation"].drop_duplicates().tolist()
    r["op_class"] = op_class.fillna("").astype(str)
    warnings = []
    if unknown:
        warnings.append(f"operation_types: no class for operation(s) {_few(unknown)}; they get op_class ''")
    return r.reset_index(drop=True), warnings


def _few(values: list, limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" … ({len(values)} in all)" if len(values) > limit else "")


def eligible_pairs(routing: pd.DataFrame, inputs: Mapping[str, Any]) -> tuple[pd.DataFrame, dict, list[str]]:
    """Eligible (item, operation, machine, speed_m_min, _morder) for the routing's operations.

    Speed present and > 0, minus machine_limit pairs; an operation with machine_allocate pairs is
    restricted to its allocated machines that have a speed (allocations without a speed are
    ignored and reported; when none has a speed, the speed-based machines stay). A pair both
    allocated and limited is not eligible (the limit wins, reported). Returns the pairs, a dict
    item -> why it has an operation without machine, and warnings.
    """
    warnings: list[str] = []
    speed = table(inputs, "linespeed", ["item", "operation", "machine", "speed_m_min"])
    master = table(inputs, "machine_master_info", ["machine", "machine_index"])
    limits = table(inputs, "machine_limit", ["operation", "machine"])
    allocs = table(inputs, "machine_allocate", ["operation", "machine"])
    keys = ["item", "operation"]
    pairs = routing[keys].drop_duplicates()
    sp = pd.DataFrame({"item": speed["item"].astype(str), "operation": speed["operation"].astype(str),
                       "machine": speed["machine"].astype(str),
                       "speed_m_min": pd.to_numeric(speed["speed_m_min"], errors="coerce").astype(float)})
    sp = sp[sp["speed_m_min"] > 0].drop_duplicates(keys + ["machine"]).merge(pairs, on=keys)
    morder = {m: i for i, m in enumerate(machine_order(master))}
    if morder:
        unknown = sorted(set(sp["machine"].unique()) - set(morder))
        if unknown:
            warnings.append(f"linespeed: machine(s) {_few(unknown)} are not in machine_master_info; ignored")
            sp = sp[sp["machine"].isin(morder)]
    else:
        morder = {m: i for i, m in enumerate(sorted(set(sp["machine"].unique())))}
    machine_code, machines = pd.factorize(sp["machine"])  # every machine is in morder by now
    sp = sp.assign(_morder=np.array([morder[m] for m in machines], dtype=np.int64)[machine_code])
    lim = limits[["operation", "machine"]].astype(str).drop_duplicates().assign(_lim=True)
    sp = sp.merge(lim, on=["operation", "machine"], how="left")
    sp["_lim"] = sp["_lim"].eq(True)

    al = allocs[["operation", "machine"]].astype(str).drop_duplicates()
    ap = pairs.merge(al, on="operation").merge(sp[keys + ["machine", "_lim"]], on=keys + ["machine"],
                                               how="left", indicator=True)
    nospeed = ap[ap["_merge"] == "left_only"]
    with_speed = ap[ap["_merge"] == "both"]
    for (op, machine), part in nospeed.groupby(["operation", "machine"], sort=True):
        warnings.append(f"machine_allocate: {op} -> {machine} ignored for item(s) "
                        f"{_few(sorted(part['item']))}: no speed on {machine}")
    restricted = with_speed[keys].drop_duplicates().assign(_r=True)
    fallback = nospeed[keys].drop_duplicates().merge(restricted, on=keys, how="left")
    for op, part in fallback[fallback["_r"].isna()].groupby("operation", sort=True):
        warnings.append(f"machine_allocate: no machine allocated to {op} has a speed for item(s) "
                        f"{_few(sorted(part['item']))}; they keep their speed-based machines minus limits")
    for (op, machine), part in with_speed[with_speed["_lim"].eq(True)].groupby(["operation", "machine"]):
        warnings.append(f"machine_allocate and machine_limit both name {op} on {machine} "
                        f"(item(s) {_few(sorted(part['item']))}); the limit wins")
    sp = sp.merge(restricted, on=keys, how="left").merge(
        with_speed[keys + ["machine"]].assign(_a=True), on=keys + ["machine"], how="left")
    eligible = sp[~sp["_lim"] & (sp["_r"].isna() | sp["_a"].eq(True))]

    bad = pairs.merge(eligible[keys].drop_duplicates().assign(_ok=True), on=keys, how="left")
    bad = bad[bad["_ok"].isna()][keys]
    bad_items: dict[str, str] = {}
    if len(bad):
        seqs = routing.drop_duplicates(keys).set_index(keys)["seq"]
        near = sp.merge(bad, on=keys)
        speed_on = near.groupby(keys)["machine"].agg(lambda s: ", ".join(s)).to_dict()
        limited = near[near["_lim"]].groupby(keys)["machine"].agg(lambda s: ", ".join(s)).to_dict()
        allocated = al.groupby("operation")["machine"].agg(lambda s: ", ".join(s)).to_dict()
        for item, op in zip(bad["item"], bad["operation"]):
            why = (f"speed on: {speed_on.get((item, op)) or 'none'}; limited: {limited.get((item, op)) or 'none'}"
                   f"; allocated: {allocated.get(op) or 'none'}")
            text = f"operation {op} (seq {seqs[(item, op)]}) has no eligible machine ({why})"
            bad_items[item] = f"{bad_items[item]}; {text}" if item in bad_items else text
    return eligible[keys + ["machine", "speed_m_min", "_morder"]], bad_items, warnings


def eligibility_rows(ops: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """op_id, machine, speed_m_min: every operation with each eligible pair of its (item, operation),
    ordered by op_id, then the machine's ``_morder``, then the pairs' order; what merging ``ops``
    with ``pairs`` on item and operation and sorting that stably by op_id and _morder gives, built
    from row positions (the table has a row per operation and machine: millions at 150,000 orders)."""
    keys = ["item", "operation"]
    codes = [pd.factorize(pd.concat([pairs[k], ops[k]], ignore_index=True), use_na_sentinel=False)[0]
             for k in keys]
    key = codes[0].astype(np.int64) * (int(codes[1].max(initial=0)) + 1) + codes[1]
    pair_key, op_key = key[:len(pairs)], key[len(pairs):]
    by_key = np.argsort(pair_key, kind="stable")  # the pairs grouped by key, each group in table order
    first = np.searchsorted(pair_key[by_key], op_key, side="left")
    count = np.searchsorted(pair_key[by_key], op_key, side="right") - first
    op_rows = np.repeat(np.arange(len(ops)), count)
    pair_rows = by_key[np.repeat(first, count) + rank_in_runs(op_rows)]
    op_rank = pd.factorize(ops["op_id"], sort=True)[0]
    order = np.lexsort((pairs["_morder"].to_numpy()[pair_rows], op_rank[op_rows]))
    return pd.DataFrame({
        "op_id": ops["op_id"].take(op_rows[order]).reset_index(drop=True),
        "machine": pairs["machine"].take(pair_rows[order]).reset_index(drop=True),
        "speed_m_min": pairs["speed_m_min"].take(pair_rows[order]).reset_index(drop=True),
    })


def _unable_reasons(orders: pd.DataFrame, routed: set, bad_items: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """Reason code and detail per order ("" when the order can be made); first failing check wins."""
    no_due = orders["due"].isna()
    zero = orders["length_m"].isna() | (orders["length_m"] <= 0)
    bad_width = orders["width_mm"].isna() | (orders["width_mm"] <= 0) | (orders["width_mm"] % 1 != 0)
    no_routing = ~orders["item"].isin(routed)
    no_machine = orders["item"].isin(bad_items)
    row = "order_data row " + orders["_row"].astype("Int64").astype(str)
    conds = [no_due, zero, bad_width, no_routing, no_machine]
    codes = ["no_due", "zero_length", "bad_width", "no_routing", "no_machine"]
    details = [
        row + ": no due date",
        row + ": length_m is " + orders["length_m"].astype(str) + " (must be > 0)",
        row + ": width_mm is " + orders["width_mm"].astype(str) + " (must be a positive whole number)",
        row + ": item " + orders["item"] + " has no operation_sequence",
        row + ": item " + orders["item"] + ": "
        + orders["item"].map(pd.Series(bad_items, dtype=object)).astype(object).fillna(""),
    ]
    reason = pd.Series(np.select(conds, codes, default=""), index=orders.index)
    detail = pd.Series("", index=orders.index, dtype=object)
    for cond, text in zip(reversed(conds), reversed(details)):
        detail = detail.mask(cond, text)
    return reason, detail


def joined(values: pd.Series, groups: pd.Series, sep: str) -> pd.Series:
    """``sep.join`` of the values of each group, in row order, indexed by the sorted group keys
    (what ``groupby(groups, sort=True)[...].agg(sep.join)`` gives, without a Python call per group)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = groups.to_numpy()
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = run_starts(keys)
    text = pa.array(values.astype(str).to_numpy(dtype=object)[order], pa.string())
    lists = pa.ListArray.from_arrays(pa.array(np.r_[starts, len(keys)], pa.int32()), text)
    return pd.Series(pc.binary_join(lists, sep).to_numpy(zero_copy_only=False), index=keys[starts], dtype=str)


def _jobs(ok: pd.DataFrame, rules) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Month merge then width combination; returns jobs, order->job map, unmatched orders, rule usage."""
    if ok.empty:
        jobs = pd.DataFrame({c: pd.Series(dtype=t) for c, t in JOB_DTYPES.items()} | {"rule": pd.Series(dtype="int64")})
        info = {"usage": {}, "merged_orders": 0, "combined_jobs": 0}
        return jobs, pd.DataFrame({"po_no": pd.Series(dtype=str), "job_id": pd.Series(dtype=str)}), ok, info
    ok = ok.assign(month=ok["due"].dt.strftime("%Y-%m"))
    keys = ["item", "width_mm", "roll_length_m", "month"]
    ok = ok.assign(grp=ok.groupby(keys, sort=False, dropna=False).ngroup())
    g = ok.groupby("grp", sort=True)
    groups = g.agg(item=("item", "first"), item_name=("item_name", "first"), width_mm=("width_mm", "first"),
                   roll_length_m=("roll_length_m", "first"), month=("month", "first"),
                   length_m=("length_m", "sum"), due=("due", "min"), first=("_pos", "min"),
                   n_orders=("po_no", "size"))
    groups.insert(groups.columns.get_loc("n_orders"), "po_nos", joined(ok["po_no"], ok["grp"], ";"))
    groups = groups.reset_index()
    groups = groups.sort_values(["due", "first"], kind="stable").assign(order=lambda d: np.arange(len(d)))
    assigned, unmatched = combine(groups.rename(columns={"grp": "key"}), rules)
    m = groups.merge(assigned.rename(columns={"key": "grp"}), on="grp").sort_values(["combo", "lane"])
    m["lane_len"] = m["length_m"] / m["up"]
    m["wtxt"] = m["width_mm"].astype("int64").astype(str)
    c = m.groupby("combo", sort=True)
    jobs = c.agg(item=("item", "first"), item_name=("item_name", "first"),
                 fabric_width_mm=("fabric_width_mm", "first"), roll_length_m=("roll_length_m", "max"),
                 length_m=("length_m", "sum"), fabric_length_m=("lane_len", "max"), due=("due", "min"),
                 n_orders=("n_orders", "sum"), month=("month", "first"),
                 first=("first", "min"), up=("up", "first"), rule=("rule", "first"),
                 lanes=("grp", "size"))
    jobs.insert(2, "widths", joined(m["wtxt"], m["combo"], "+"))
    jobs.insert(jobs.columns.get_loc("n_orders"), "po_nos", joined(m["po_nos"], m["combo"], ";"))
    jobs = jobs.reset_index()
    up = jobs["up"] > 1
    wrapped = jobs["widths"].where(~(up & (jobs["lanes"] > 1)), "(" + jobs["widths"] + ")")
    jobs["widths"] = wrapped.where(~up, wrapped + "x" + jobs["up"].astype(str))
    jobs = jobs.sort_values(["due", "item", "first"], kind="stable").reset_index(drop=True)
    digits = max(4, len(str(len(jobs))))
    jobs["job_id"] = [f"J{i:0{digits}d}" for i in range(1, len(jobs) + 1)]
    usage = {label: int(n) for label, n in jobs.groupby("rule")["job_id"].size().items()}
    combo_job = jobs.set_index("combo")["job_id"]
    grp_job = m.set_index("grp")["combo"].map(combo_job)
    order_jobs = ok.assign(job_id=ok["grp"].map(grp_job))
    left = order_jobs[order_jobs["job_id"].isna()]
    order_jobs = order_jobs[order_jobs["job_id"].notna()]
    order_jobs = order_jobs.sort_values(["job_id", "_pos"])[["po_no", "job_id"]].reset_index(drop=True)
    merged = int(ok.loc[ok["grp"].map(ok["grp"].value_counts()) > 1].shape[0])
    info = {"usage": usage, "merged_orders": merged, "combined_jobs": int((jobs["lanes"] > 1).sum())}
    jobs["fabric_width_mm"] = jobs["fabric_width_mm"].astype("int64")
    jobs["n_orders"] = jobs["n_orders"].astype("int64")
    return jobs[JOB_COLUMNS + ["rule"]], order_jobs, left, info


def run(inputs: Mapping[str, Any], params: Params, progress=None, cancel=None) -> StageResult:
    checkpoint(progress, cancel, 0.0, "reading orders", "preprocess")
    slot = params.slot_minutes
    if isinstance(slot, bool) or not isinstance(slot, (int, np.integer)) or slot <= 0:
        raise ProdschedError(f"slot_minutes must be a positive whole number of minutes, got {slot!r}")
    rules = resolve_table(params.width_combinations)
    orders = _orders(inputs)
    base, base_warning = resolve_base_date(params.base_date, orders["due"])
    warnings: list[str] = [base_warning] if base_warning else []
    routing, route_warnings = _routing(inputs)
    warnings += route_warnings

    checkpoint(progress, cancel, 0.2, "machine eligibility", "preprocess")
    wanted = routing[routing["item"].isin(set(orders["item"].unique()))]
    pairs, bad_items, elig_warnings = eligible_pairs(wanted, inputs)
    warnings += elig_warnings

    checkpoint(progress, cancel, 0.4, "merging orders into jobs", "preprocess")
    reason, detail = _unable_reasons(orders, set(routing["item"].unique()), bad_items)
    ok = orders[reason == ""]
    jobs, order_jobs, unmatched, info = _jobs(ok, rules)
    unable = orders.assign(reason=reason, detail=detail, job_id="")
    width_miss = unable["_pos"].isin(set(unmatched["_pos"])) & (unable["reason"] == "")
    unable.loc[width_miss, "reason"] = "no_width_combination"
    unable.loc[width_miss, "detail"] = ("order_data row " + unable.loc[width_miss, "_row"].astype("Int64")
                                        .astype(str) + ": no width_combinations row takes width "
                                        + unable.loc[width_miss, "width_mm"].astype("int64").astype(str))
    unable = unable[unable["reason"] != ""].sort_values("_pos")[UNABLE_COLUMNS].astype(str).reset_index(drop=True)

    checkpoint(progress, cancel, 0.7, "expanding jobs into operations", "preprocess")
    ops = jobs[["job_id", "item", "fabric_width_mm", "fabric_length_m", "due"]].merge(routing, on="item")
    ops = ops.sort_values(["job_id", "seq"], kind="stable").reset_index(drop=True)
    ops["op_id"] = ops["job_id"] + "-" + ops["seq"].astype(str).str.zfill(2)
    ops = ops.rename(columns={"fabric_width_mm": "width_mm", "fabric_length_m": "length_m"})[OPERATION_COLUMNS]
    eligibility = eligibility_rows(ops, pairs)

    _check_every_order(orders, order_jobs, unable)
    rule_labels = [r.label for r in rules]
    checkpoint(progress, cancel, 1.0, "done", "preprocess")
    summary = {
        "orders": int(len(orders)),
        "jobs": int(len(jobs)),
        "merged_orders": info["merged_orders"],
        "combined_jobs": info["combined_jobs"],
        "operations": int(len(ops)),
        "eligible_pairs": int(len(eligibility)),
        "unable": int(len(unable)),
        "unable_reasons": {k: int(v) for k, v in unable["reason"].value_counts().sort_index().items()},
        "width_table": "plant default" if params.width_combinations in (None, DEFAULT_WIDTH_COMBINATIONS)
        else "custom",
        "width_combinations": {rule_labels[k]: v for k, v in sorted(info["usage"].items())},
        "base_date": base.date().isoformat(),
        "slot_minutes": int(slot),
        "warnings": warnings,
    }
    artifacts = {
        "calendar": {"base_date": base.date().isoformat(), "slot_minutes": int(slot)},
        "jobs": jobs.drop(columns="rule"),
        "order_jobs": order_jobs,
        "operations": ops,
        "eligibility": eligibility,
        "unable": unable,
    }
    return StageResult(artifacts=artifacts, summary=summary)


def _check_every_order(orders: pd.DataFrame, order_jobs: pd.DataFrame, unable: pd.DataFrame) -> None:
    """Nothing vanishes: each order is in exactly one of order_jobs / unable."""
    placed = pd.concat([order_jobs["po_no"], unable["po_no"]], ignore_index=True)
    lost = sorted(set(orders["po_no"].tolist()) - set(placed.tolist()))  # lists: iterating Arrow text is slow
    twice = sorted(set(order_jobs["po_no"].tolist()) & set(unable["po_no"].tolist()))
    if lost or twice or len(placed) != len(orders):
        raise ProdschedError(
            f"preprocess lost track of orders: {len(orders)} in, {len(order_jobs)} in jobs + "
            f"{len(unable)} unable; missing {_few(lost)}; in both {_few(twice)}")
