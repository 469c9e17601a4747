"""Result tables and key figures computed from a schedule (stage 6).

Everything here is a pure function of DataFrames/dicts; nothing is written.

Time accounting on a machine uses the horizon ``[0, makespan)``: every slot is either work (an
operation runs), setup (charged right before an operation), downtime (planned rest) or idle, so
``work + setup + downtime + idle == makespan`` for every machine of a feasible schedule.

Gaps (the ``gaps`` table) are the stretches of a machine's horizon not covered by operations:
the stretch before its first operation (``position`` "before_first"), each stretch between two
consecutive operations ("between"), the stretch after its last operation up to the makespan
("after_last"), and the whole horizon of a machine that runs nothing ("unused"). Each is split
into setup, downtime and idle slots and classified:
``downtime`` (it contains downtime), ``setup`` (only the setup of the next operation),
``setup+idle`` (setup plus waiting) or ``idle`` (only waiting).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prodsched.results.bounds import BOUND_COLUMNS, lower_bounds  # noqa: F401 - re-exported
from prodsched.results.columns import GAP_COLUMNS, MACHINE_COLUMNS, ORDER_COLUMNS
from prodsched.results.plan import PlanView

DAY = pd.Timedelta(days=1)


# --------------------------------------------------------------------------- orders

def order_table(schedule: pd.DataFrame, order_data: pd.DataFrame | None,
                order_jobs: pd.DataFrame | None, unable: pd.DataFrame | None,
                jobs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per purchase order with its completion and lateness.

    A PO is ``scheduled`` when its job has operations in the schedule; otherwise ``unable`` with
    the reason from the unable table. Late days are measured against the end of the PO's own due
    day (a merged job ends once, each of its POs is late by its own due date).
    """
    order_jobs = order_jobs if order_jobs is not None else pd.DataFrame(columns=["po_no", "job_id"])
    unable = unable if unable is not None else pd.DataFrame(columns=["po_no", "job_id", "reason", "detail"])
    if order_data is None or "po_no" not in getattr(order_data, "columns", []):
        order_data = _orders_from_jobs(jobs, order_jobs, unable)
    po = order_data[["po_no", "item", "due"]].copy()
    po["po_no"] = po["po_no"].astype(str)
    po["due"] = pd.to_datetime(po["due"]).dt.normalize()
    job_of = dict(zip(order_jobs["po_no"].astype(str), order_jobs["job_id"].astype(str)))
    po["job_id"] = po["po_no"].map(job_of)
    if len(unable):
        ujob = dict(zip(unable["po_no"].astype(str), unable.get("job_id", pd.Series("", index=unable.index)).astype(str)))
        po["job_id"] = po["job_id"].fillna(po["po_no"].map(ujob))
    po["job_id"] = po["job_id"].fillna("").astype(str)
    ends = schedule.groupby("job_id")["end_time"].max() if len(schedule) else pd.Series(dtype="datetime64[ns]")
    po["end_time"] = pd.to_datetime(po["job_id"].map(ends))
    scheduled = po["end_time"].notna()
    late = ((po["end_time"] - (po["due"] + DAY)).dt.total_seconds() / 86400.0).clip(lower=0.0)
    po["late_days"] = late.round(6).where(scheduled)
    po["late_whole_days"] = np.ceil(po["late_days"] - 1e-9).clip(lower=0).astype("Int64")
    po["status"] = np.where(scheduled, "scheduled", "unable")
    reasons = {}
    for row in unable.itertuples(index=False):
        reason = str(getattr(row, "reason", "") or "")
        detail = str(getattr(row, "detail", "") or "")
        reasons.setdefault(str(row.po_no), f"{reason}: {detail}" if detail and detail != "nan" else reason)
    po["reason"] = [
        "" if ok else reasons.get(p, "missing: the order is in no job and not in the unable list")
        for p, ok in zip(po["po_no"], scheduled)
    ]
    return po[ORDER_COLUMNS].reset_index(drop=True)


def _orders_from_jobs(jobs, order_jobs, unable) -> pd.DataFrame:
    if jobs is None:
        raise ValueError("the results need order_data or jobs to list the orders")
    j = jobs.set_index("job_id")
    rows = [{"po_no": p, "item": j.at[jid, "item"], "due": j.at[jid, "due"]}
            for p, jid in zip(order_jobs["po_no"].astype(str), order_jobs["job_id"].astype(str))]
    rows += [{"po_no": str(u.po_no), "item": getattr(u, "item", ""), "due": pd.NaT}
             for u in unable.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["po_no", "item", "due"])


def late_order_table(orders: pd.DataFrame) -> pd.DataFrame:
    late = orders[(orders["status"] == "scheduled") & (orders["late_days"] > 0)]
    return late.sort_values(["late_days", "po_no"], ascending=[False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------- machines and gaps

def machine_and_gap_tables(plan: PlanView) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-machine time accounting and the classified gaps (see the module docstring).

    One pass over the plan's machine sequence, column by column: each operation opens the
    stretch before it (from the end of the latest-ending earlier operation of its machine), each
    machine closes with the stretch after its last operation; downtime overlaps come from sorted
    spans by binary search, setup and idle slots and the wording of reasons from column operations.
    """
    makespan = plan.makespan
    ops = plan.schedule  # in machine sequence
    rank = {m: i for i, m in enumerate(plan.machines)}
    down = _downtime_frame(plan, rank, makespan)
    stretches = _stretches(plan, ops, rank, makespan)
    gaps = _classify(plan, ops, stretches, down)

    mach = pd.DataFrame({"machine": list(plan.machines)})
    if len(ops):
        start, end = ops["start"].astype("int64"), ops["end"].astype("int64")
        setup = ops["setup_slots"].astype("int64")
        per = pd.DataFrame({"machine": ops["machine"], "work": end - start, "setup": setup,
                            "setups": (setup > 0).astype("int64"), "start": start, "end": end})
        agg = per.groupby("machine", sort=False).agg(operations=("work", "size"), work=("work", "sum"),
                                                      setup=("setup", "sum"), setups=("setups", "sum"),
                                                      first_start=("start", "first"), last_end=("end", "max"))
        mach = mach.join(agg, on="machine")
    else:
        mach = mach.assign(operations=0, work=0, setup=0, setups=0, first_start=pd.NA, last_end=pd.NA)
    dt = down.groupby("machine", sort=False)["slots"].sum() if len(down) else pd.Series(dtype="int64")
    idle = gaps.groupby("machine", sort=False)["idle_slots"].sum() if len(gaps) else pd.Series(dtype="int64")
    between = gaps[gaps["position"] == "between"].groupby("machine", sort=False)["idle_slots"].sum() \
        if len(gaps) else pd.Series(dtype="int64")
    counts = {c: mach[c].fillna(0).astype("int64") for c in ("operations", "work", "setup", "setups")}
    work, setup_s = counts["work"], counts["setup"]
    dt_s = mach["machine"].map(dt).fillna(0).astype("int64")
    idle_s = mach["machine"].map(idle).fillna(0).astype("int64")
    span = makespan or 1
    avail = makespan - dt_s

    def share(x: pd.Series) -> pd.Series:
        return x / span if makespan else pd.Series(0.0, index=x.index)

    mdf = pd.DataFrame({
        "machine": mach["machine"], "machine_name": [plan.machine_names.get(m, "") for m in mach["machine"]],
        "operations": counts["operations"], "work_slots": work, "setup_slots": setup_s, "busy_slots": work + setup_s,
        "downtime_slots": dt_s, "idle_slots": idle_s,
        "idle_between_slots": mach["machine"].map(between).fillna(0).astype("int64"),
        "setups": counts["setups"],
        "first_start": mach["first_start"].astype("Int64"), "last_end": mach["last_end"].astype("Int64"),
        "utilisation": share(work), "utilisation_available": (work / avail.where(avail > 0)).fillna(0.0),
        "setup_loss": share(setup_s), "idle_loss": share(idle_s), "downtime_loss": share(dt_s),
    }, columns=MACHINE_COLUMNS)
    return mdf, gaps


def _downtime_frame(plan: PlanView, rank: dict[str, int], makespan: int) -> pd.DataFrame:
    """Downtime spans clipped to [0, makespan), sorted by machine then start; key = start/end
    placed on one number line (machine blocks of makespan + 1 slots) for binary search."""
    rows = [(m, max(s, 0), min(e, makespan)) for m, spans in plan.downtime.items() if m in rank
            for s, e in spans if s < makespan and e > 0]
    down = pd.DataFrame(rows, columns=["machine", "start", "end"]).astype({"start": "int64", "end": "int64"})
    down["rank"] = down["machine"].map(rank).astype("int64")
    down = down.sort_values(["rank", "start"], kind="stable").reset_index(drop=True)
    down["slots"] = down["end"] - down["start"]
    return down


def _stretches(plan: PlanView, ops: pd.DataFrame, rank: dict[str, int], makespan: int) -> pd.DataFrame:
    """The stretches of every machine's horizon not covered by operations, in machine order."""
    n = len(ops)
    parts = []
    if n:
        machine = ops["machine"].to_numpy()
        start, end = ops["start"].to_numpy(dtype="int64"), ops["end"].to_numpy(dtype="int64")
        first = np.r_[True, machine[1:] != machine[:-1]]
        group = np.cumsum(first) - 1
        cursor = pd.Series(end).groupby(group).cummax().to_numpy()  # end of the latest-ending op so far
        before = np.r_[np.int64(0), cursor[:-1]]
        opens = first | (end >= np.where(first, end, before))  # the op becomes the machine's latest
        latest = pd.Series(np.where(opens, np.arange(n), -1)).replace(-1, np.nan).ffill().to_numpy(dtype="int64")
        prev_idx = np.r_[-1, latest[:-1]]
        parts.append(pd.DataFrame({
            "machine": machine, "rank": pd.Series(machine).map(rank).to_numpy(dtype="int64"),
            "order": ops.groupby("machine", sort=False).cumcount().to_numpy(),
            "position": np.where(first, "before_first", "between"),
            "prev": np.where(first, -1, prev_idx), "next": np.arange(n),
            "start": np.where(first, 0, before), "end": start}))
        last = np.r_[first[1:], True]  # the last op of each machine
        parts.append(pd.DataFrame({
            "machine": machine[last], "rank": pd.Series(machine[last]).map(rank).to_numpy(dtype="int64"),
            "order": np.full(last.sum(), n), "position": "after_last", "prev": latest[last], "next": -1,
            "start": cursor[last], "end": makespan}))
    used = set(ops["machine"]) if n else set()
    unused = [m for m in plan.machines if m not in used]
    if unused and makespan > 0:
        parts.append(pd.DataFrame({"machine": unused, "rank": [rank[m] for m in unused], "order": 0,
                                   "position": "unused", "prev": -1, "next": -1, "start": 0, "end": makespan}))
    if not parts:
        return pd.DataFrame(columns=["machine", "rank", "order", "position", "prev", "next", "start", "end"])
    out = pd.concat(parts, ignore_index=True)
    out = out[out["end"] > out["start"]]
    return out.sort_values(["rank", "order"], kind="stable").reset_index(drop=True)


def _overlaps(down: pd.DataFrame, rank: np.ndarray, lo: np.ndarray, hi: np.ndarray, block: int):
    """Per stretch [lo, hi) of machine ``rank``: slots of downtime inside it, and the range of
    downtime rows it touches (the spans are disjoint and sorted, so they form one run)."""
    if not len(down):
        zero = np.zeros(len(lo), dtype="int64")
        return zero, zero, zero
    d_rank = down["rank"].to_numpy(dtype="int64")
    s = d_rank * block + down["start"].to_numpy(dtype="int64")
    e = d_rank * block + down["end"].to_numpy(dtype="int64")
    total = np.r_[0, np.cumsum(e - s)]
    a, b = rank * block + lo, rank * block + hi
    i0 = np.searchsorted(e, a, side="right")  # first span ending after lo
    i1 = np.searchsorted(s, b, side="left")  # spans starting before hi
    hit = i1 > i0
    first_s = s[np.minimum(i0, len(s) - 1)]
    last_e = e[np.maximum(i1 - 1, 0)]
    slots = total[i1] - total[i0] - np.maximum(0, a - first_s) - np.maximum(0, last_e - b)
    return np.where(hit, slots, 0), i0, np.where(hit, i1, i0)


def _classify(plan: PlanView, ops: pd.DataFrame, st: pd.DataFrame, down: pd.DataFrame) -> pd.DataFrame:
    """The stretches split into setup, downtime and idle slots, with their kind and reason."""
    if not len(st):
        gdf = pd.DataFrame(columns=GAP_COLUMNS)
        return gdf.astype({"start": "int64", "end": "int64", "slots": "int64",
                           "start_time": "datetime64[ns]", "end_time": "datetime64[ns]"})
    lo, hi = st["start"].to_numpy(dtype="int64"), st["end"].to_numpy(dtype="int64")
    rank, nxt, prv = st["rank"].to_numpy(dtype="int64"), st["next"].to_numpy(), st["prev"].to_numpy()
    has_next = nxt >= 0
    setup_of_op = ops["setup_slots"].to_numpy(dtype="int64") if len(ops) else np.zeros(0, dtype="int64")
    setup = np.where(has_next, setup_of_op[np.maximum(nxt, 0)] if len(ops) else 0, 0)
    setup_lo = np.maximum(lo, hi - setup)
    setup_in = np.where(setup > 0, hi - setup_lo, 0)
    block = plan.makespan + 1
    dt, i0, i1 = _overlaps(down, rank, lo, hi, block)
    both, _, _ = _overlaps(down, rank, np.where(setup > 0, setup_lo, hi), hi, block)
    idle = (hi - lo) - (setup_in + dt - both)
    kind = np.select([dt > 0, (setup_in > 0) & (idle == 0), setup_in > 0], ["downtime", "setup", "setup+idle"], "idle")

    op_ids = ops["op_id"].to_numpy(dtype=object) if len(ops) else np.zeros(0, dtype=object)

    def pick(idx: np.ndarray) -> np.ndarray:
        return np.where(idx >= 0, op_ids[np.maximum(idx, 0)] if len(ops) else "", "")

    reasons = plan.setups["reason"].to_numpy(dtype=object) if len(ops) else np.zeros(0, dtype=object)
    setup_text = np.where(setup_in > 0, reasons[np.maximum(nxt, 0)] if len(ops) else "", "")
    down_text = np.full(len(st), "", dtype=object)
    d_start, d_end = down["start"].to_numpy(dtype="int64"), down["end"].to_numpy(dtype="int64")
    for k in np.flatnonzero(i1 > i0):  # only the stretches that meet downtime
        down_text[k] = "; ".join(f"downtime {max(d_start[j], lo[k])}–{min(d_end[j], hi[k])}" for j in range(i0[k], i1[k]))
    idle_text = _idle_reasons(ops, st, nxt, lo, idle)
    reason = pd.Series(setup_text, dtype=object)
    for part in (down_text, idle_text):
        part = pd.Series(part, dtype=object)
        reason = reason.where(part == "", reason.where(reason == "", reason + "; ") + part)

    cal = plan.calendar
    return pd.DataFrame({
        "machine": st["machine"].to_numpy(dtype=object), "position": st["position"].to_numpy(dtype=object),
        "prev_op": pick(prv), "next_op": pick(nxt), "start": lo, "end": hi, "slots": hi - lo,
        "start_time": cal.time(lo), "end_time": cal.time(hi),
        "setup_slots": setup_in, "downtime_slots": dt, "idle_slots": idle, "kind": kind, "reason": reason.to_numpy(),
    }, columns=GAP_COLUMNS)


def _idle_reasons(ops: pd.DataFrame, st: pd.DataFrame, nxt: np.ndarray, lo: np.ndarray, idle: np.ndarray):
    """Why a stretch has idle slots: after the last operation, waiting for the previous routing
    step of the next operation's job (ready = its end plus aging), before the first, or none."""
    count = pd.Series(np.where(idle == 1, "1 slot", pd.Series(idle).astype(str) + " slots"), dtype=object)
    out = pd.Series("idle " + count + " after the last operation", dtype=object)
    has_next = nxt >= 0
    if len(ops) and has_next.any():
        job, seq = ops["job_id"], ops["seq"].astype("int64")
        ready = pd.DataFrame({"job": job.to_numpy(), "seq": (seq + 1).to_numpy(),
                              "ready": (ops["end"].astype("int64") + ops["aging_slots"].astype("int64")).to_numpy()})
        ready = ready.drop_duplicates(["job", "seq"], keep="last")
        idx = np.maximum(nxt, 0)
        want = pd.DataFrame({"job": job.to_numpy()[idx], "seq": seq.to_numpy()[idx]})
        r = want.merge(ready, on=["job", "seq"], how="left")["ready"].to_numpy()
        waiting = has_next & ~np.isnan(r.astype(float)) & (np.nan_to_num(r.astype(float), nan=-np.inf) > lo)
        jobs = pd.Series(want["job"].astype(str).to_numpy(), dtype=object)
        ready_text = pd.Series(np.nan_to_num(r.astype(float)).astype("int64")).astype(str)
        out = out.where(~waiting, "idle " + count + " waiting for the previous step of " + jobs
                        + " (ready at slot " + ready_text + ")")
        first = has_next & ~waiting & (st["position"].to_numpy() == "before_first")
        out = out.where(~first, "idle " + count + " before the first operation")
        other = has_next & ~waiting & ~first
        out = out.where(~other, "idle " + count + ", no operation assigned")
    return out.where(idle > 0, "").to_numpy()


# --------------------------------------------------------------------------- key figures

def compute_kpis(plan: PlanView, orders: pd.DataFrame, machines: pd.DataFrame,
                 bounds: pd.DataFrame, violations: int, params=None) -> dict[str, Any]:
    """The run's key figures as a JSON-able dict (plain Python numbers and strings).

    Order counts are per purchase order: a merged job that is late makes each of its POs late by
    that PO's own due date. ``on_time_rate`` = on-time scheduled POs / all POs (an unable PO is
    never on time); ``on_time_rate_scheduled`` leaves the unable POs out of the denominator.
    """
    schedule, base, slot_minutes = plan.schedule, plan.calendar.base_date, plan.calendar.slot_minutes
    makespan = plan.makespan
    hours = makespan * slot_minutes / 60.0
    sched = orders[orders["status"] == "scheduled"]
    late = sched[sched["late_days"] > 0]
    n_all, n_sched = len(orders), len(sched)
    total_tardiness = float(sched["late_days"].sum()) if n_sched else 0.0
    capacity = makespan * len(machines)
    work = int(machines["work_slots"].sum()) if len(machines) else 0
    setup = int(machines["setup_slots"].sum()) if len(machines) else 0
    idle = int(machines["idle_slots"].sum()) if len(machines) else 0
    down = int(machines["downtime_slots"].sum()) if len(machines) else 0
    best = bounds[bounds["bound"] == "best"]
    lb = int(best["slots"].iloc[0]) if len(best) else 0
    p = params.to_dict() if params is not None else {}
    return {
        "makespan_slots": makespan,
        "makespan_hours": round(hours, 4),
        "makespan_days": round(hours / 24.0, 4),
        "makespan_end": (base + pd.Timedelta(minutes=makespan * slot_minutes)).isoformat(),
        "orders": n_all,
        "scheduled_orders": n_sched,
        "unable_orders": n_all - n_sched,
        "jobs": int(schedule["job_id"].nunique()) if len(schedule) else 0,
        "operations": len(schedule),
        "late_orders": len(late),
        "on_time_orders": n_sched - len(late),
        "total_tardiness_days": round(total_tardiness, 4),
        "mean_tardiness_days": round(total_tardiness / n_sched, 4) if n_sched else 0.0,
        "max_tardiness_days": round(float(sched["late_days"].max()), 4) if n_sched else 0.0,
        "on_time_rate": round((n_sched - len(late)) / n_all, 6) if n_all else 1.0,
        "on_time_rate_scheduled": round((n_sched - len(late)) / n_sched, 6) if n_sched else 1.0,
        "work_slots": work,
        "setup_slots": setup,
        "setups": int(machines["setups"].sum()) if len(machines) else 0,
        "idle_slots": idle,
        "idle_between_slots": int(machines["idle_between_slots"].sum()) if len(machines) else 0,
        "downtime_slots": down,
        "machines": len(machines),
        "machines_used": int((machines["operations"] > 0).sum()) if len(machines) else 0,
        "utilisation": round(work / capacity, 6) if capacity else 0.0,
        "setup_loss": round(setup / capacity, 6) if capacity else 0.0,
        "idle_loss": round(idle / capacity, 6) if capacity else 0.0,
        "violations": int(violations),
        "lower_bound": lb,
        "gap_to_lower_bound": round((makespan - lb) / lb, 6) if lb else None,
        "gap_to_lower_bound_slots": makespan - lb,
        "slot_minutes": int(slot_minutes),
        "base_date": base.date().isoformat(),
        "rule": p.get("rule"),
        "window_days": p.get("window_days"),
        "seed": p.get("seed"),
        "min_yield": p.get("min_yield"),
        "yield_policy": p.get("yield_policy"),
    }
