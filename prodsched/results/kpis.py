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

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from prodsched.results.bounds import BOUND_COLUMNS, lower_bounds  # noqa: F401 - re-exported
from prodsched.results.columns import GAP_COLUMNS, MACHINE_COLUMNS, ORDER_COLUMNS
from prodsched.results.plan import PlanView, n_slots

DAY = pd.Timedelta(days=1)


def _overlap(spans: Iterable[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    return [(max(s, lo), min(e, hi)) for s, e in spans if s < hi and e > lo]


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
    """Per-machine time accounting and the classified gaps (see the module docstring)."""
    makespan = plan.makespan
    ops = plan.schedule  # in machine sequence
    ready = {}
    for job, seq, end, aging in zip(ops["job_id"], ops["seq"], ops["end"], ops["aging_slots"]):
        ready[(job, int(seq) + 1)] = int(end) + int(aging)
    by_machine = {m: g.to_dict("records") for m, g in ops.groupby("machine", sort=False)}
    mrows, grows = [], []
    for m in plan.machines:
        recs = by_machine.get(m, [])
        down = _overlap(plan.downtime.get(m, ()), 0, makespan)
        work = sum(int(r["end"]) - int(r["start"]) for r in recs)
        setup = sum(int(r["setup_slots"]) for r in recs)
        idle_between = 0
        gaps = _machine_gaps(plan, m, recs, down, ready)
        for g in gaps:
            if g["position"] == "between":
                idle_between += g["idle_slots"]
        grows.extend(gaps)
        dt = sum(e - s for s, e in down)
        idle = sum(g["idle_slots"] for g in gaps)
        span = makespan or 1
        avail = makespan - dt
        mrows.append({
            "machine": m, "machine_name": plan.machine_names.get(m, ""), "operations": len(recs),
            "work_slots": work, "setup_slots": setup, "busy_slots": work + setup,
            "downtime_slots": dt, "idle_slots": idle, "idle_between_slots": idle_between,
            "setups": sum(1 for r in recs if int(r["setup_slots"]) > 0),
            "first_start": int(recs[0]["start"]) if recs else pd.NA,
            "last_end": max(int(r["end"]) for r in recs) if recs else pd.NA,
            "utilisation": work / span if makespan else 0.0,
            "utilisation_available": work / avail if avail > 0 else 0.0,
            "setup_loss": setup / span if makespan else 0.0,
            "idle_loss": idle / span if makespan else 0.0,
            "downtime_loss": dt / span if makespan else 0.0,
        })
    mdf = pd.DataFrame(mrows, columns=MACHINE_COLUMNS)
    for c in ("first_start", "last_end"):
        mdf[c] = mdf[c].astype("Int64")
    gdf = pd.DataFrame(grows, columns=GAP_COLUMNS)
    if len(gdf):
        gdf["start_time"] = plan.calendar.time(gdf["start"])
        gdf["end_time"] = plan.calendar.time(gdf["end"])
    else:
        gdf = gdf.astype({"start": "int64", "end": "int64", "slots": "int64",
                          "start_time": "datetime64[ns]", "end_time": "datetime64[ns]"})
    return mdf, gdf


def _machine_gaps(plan: PlanView, m, recs, down, ready) -> list[dict[str, Any]]:
    makespan = plan.makespan
    stretches = []  # (position, prev, next, lo, hi)
    if not recs:
        if makespan > 0:
            stretches.append(("unused", None, None, 0, makespan))
    else:
        stretches.append(("before_first", None, recs[0], 0, int(recs[0]["start"])))
        cursor = int(recs[0]["end"])
        prev = recs[0]
        for r in recs[1:]:
            stretches.append(("between", prev, r, cursor, int(r["start"])))
            if int(r["end"]) >= cursor:
                cursor, prev = int(r["end"]), r
        stretches.append(("after_last", prev, None, cursor, makespan))
    out = []
    for position, prev, nxt, lo, hi in stretches:
        if hi <= lo:
            continue
        setup = int(nxt["setup_slots"]) if nxt is not None else 0
        setup_span = [(max(lo, hi - setup), hi)] if setup > 0 else []
        dspans = _overlap(down, lo, hi)
        covered = _union_len(setup_span + dspans)
        dt = sum(e - s for s, e in dspans)
        idle = (hi - lo) - covered
        setup_in = sum(e - s for s, e in setup_span)
        kind = ("downtime" if dt > 0 else "setup" if setup_in and not idle
                else "setup+idle" if setup_in else "idle")
        reasons = []
        if setup_in:
            reasons.append(plan.reason(nxt["op_id"]))
        reasons += [f"downtime {s}–{e}" for s, e in dspans]
        if idle:
            reasons.append(_idle_reason(position, nxt, ready, lo, idle))
        out.append({"machine": m, "position": position,
                    "prev_op": prev["op_id"] if prev is not None else "",
                    "next_op": nxt["op_id"] if nxt is not None else "",
                    "start": lo, "end": hi, "slots": hi - lo, "start_time": None, "end_time": None,
                    "setup_slots": setup_in, "downtime_slots": dt, "idle_slots": idle,
                    "kind": kind, "reason": "; ".join(reasons)})
    return out


def _idle_reason(position, nxt, ready, lo, idle) -> str:
    if nxt is None:
        return f"idle {n_slots(idle)} after the last operation"
    r = ready.get((nxt["job_id"], int(nxt["seq"])))
    if r is not None and r > lo:
        return f"idle {n_slots(idle)} waiting for the previous step of {nxt['job_id']} (ready at slot {r})"
    if position == "before_first":
        return f"idle {n_slots(idle)} before the first operation"
    return f"idle {n_slots(idle)}, no operation assigned"


def _union_len(spans: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for s, e in sorted(spans):
        if end is None or s >= end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


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
