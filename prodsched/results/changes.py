"""A re-plan against the plan it replaces: what happened to each operation, and the KPI change.

Operations are matched across the two plans by their orders and routing step (``po_nos`` sorted,
``seq``), so a job re-numbered by the new input still matches. ``status`` per operation:

* ``done``: its order(s) finished before ``now`` in the previous plan (kept, not rescheduled);
* ``unchanged``: same machine and start;
* ``moved``: another machine or start;
* ``new``: not in the previous plan;
* ``removed``: in the previous plan, not started before ``now``, and no longer in the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

import pandas as pd

CHANGE_COLUMNS = ["op_id", "po_nos", "seq", "operation", "old_op_id", "old_machine", "old_start_time",
                  "new_machine", "new_start_time", "status"]
STATUSES = ("done", "unchanged", "moved", "new", "removed")


def op_key(po_nos: Any, seq: Any) -> tuple[str, int]:
    """An operation across runs: its orders (sorted, ``;``-joined) and routing step."""
    orders = sorted(p for p in str(po_nos or "").split(";") if p)
    return ";".join(orders), int(seq)


def done_orders(previous: pd.DataFrame, now: pd.Timestamp) -> set[str]:
    """Order keys (sorted po_nos) of the previous plan's jobs whose operations all ended by ``now``."""
    if previous.empty:
        return set()
    keys = previous["po_nos"].map(lambda p: op_key(p, 0)[0])
    ended = pd.to_datetime(previous["end_time"]) <= now
    return {k for k, ok in ended.groupby(keys).all().items() if ok}


def changes_table(previous: pd.DataFrame, current: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """One row per operation of either plan (``CHANGE_COLUMNS``), current plan's order first."""
    done = done_orders(previous, now)
    old = {op_key(p, s): (o, m, pd.Timestamp(t)) for o, p, s, m, t in
           zip(previous["op_id"], previous["po_nos"], previous["seq"], previous["machine"],
               previous["start_time"])}
    rows = []
    seen = set()
    for o, p, s, op, m, t in zip(current["op_id"], current["po_nos"], current["seq"], current["operation"],
                                 current["machine"], current["start_time"]):
        key = op_key(p, s)
        seen.add(key)
        t = pd.Timestamp(t)
        before = old.get(key)
        if key[0] in done:
            status = "done"
        elif before is None:
            status = "new"
        elif before[1] == m and before[2] == t:
            status = "unchanged"
        else:
            status = "moved"
        rows.append((o, key[0], int(s), op, *(before or ("", "", pd.NaT)), m, t, status))
    for (o, p, s, op, m, t) in zip(previous["op_id"], previous["po_nos"], previous["seq"],
                                   previous["operation"], previous["machine"], previous["start_time"]):
        key = op_key(p, s)
        if key in seen:
            continue
        status = "done" if key[0] in done else "removed"
        rows.append(("", key[0], int(s), op, o, m, pd.Timestamp(t), "", pd.NaT, status))
    frame = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    frame["old_start_time"] = pd.to_datetime(frame["old_start_time"])
    frame["new_start_time"] = pd.to_datetime(frame["new_start_time"])
    return frame


def replan_kpis(changes: pd.DataFrame, old: Mapping[str, Any], new: Mapping[str, Any],
                record: Mapping[str, Any]) -> dict[str, Any]:
    """Flat KPI cells of a re-plan: counts per status, what was pinned, and ``delta_<kpi>`` =
    new minus previous for every numeric KPI both plans report."""
    counts = changes["status"].value_counts()
    out: dict[str, Any] = {
        "replan_now": record.get("now"),
        "replan_from": record.get("from"),
        "replan_pinned": int(record.get("pinned", 0)),
        "replan_pinned_from_run": int(record.get("pinned_from_run", 0)),
        "replan_pinned_from_table": int(record.get("pinned_from_table", 0)),
    }
    for status in STATUSES:
        out[f"replan_{status}"] = int(counts.get(status, 0))
    for key, value in new.items():
        if key.startswith(("delta_", "replan_")):
            continue
        before = old.get(key)
        if _number(value) and _number(before):
            delta = value - before
            out[f"delta_{key}"] = round(delta, 6) if isinstance(delta, float) else delta
    return out


def _number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and v == v
