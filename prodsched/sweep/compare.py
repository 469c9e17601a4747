"""The runs of a sweep or of a store's sessions in one table, and their KPI deltas against a baseline.

A *run* is a sweep scenario (a row of ``sweep.parquet``) or a session of the store. The runs table
has one row per run, indexed by its label ("scenario 3", "session 1f79b21c"): ``dataset``, the
parameters that differ between the runs, every KPI of :data:`prodsched.results.exports.KPI_BETTER`
(the numeric KPIs of kpis.json), ``objective_value``, ``status``, ``error`` and ``session_id``.
The panel's compare view (:mod:`prodsched.jupyter.compare`) shows it; nothing here draws widgets.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from prodsched.errors import ParameterError
from prodsched.results.exports import KPI_BETTER
from prodsched.results.plan import PlanView
from prodsched.session import Session
from prodsched.store import open_store
from prodsched.sweep.grid import KINDS
from prodsched.sweep.table import objective_key, tradeoff_png

KPIS = list(KPI_BETTER)
TAIL = ["objective_value", "status", "error", "session_id"]
DELTA_COLUMNS = ["run", "kpi", "value", "baseline", "delta", "delta_pct", "verdict"]


def finish(rows: pd.DataFrame, params: list[str] | None = None) -> pd.DataFrame:
    """Keep the parameters that differ between the runs (``params``; default: every column that is
    not a KPI or bookkeeping); KPIs as numbers; the run's label is the index."""
    if params is None:
        params = [c for c in rows.columns if c not in ("dataset", *KPIS, *TAIL)]
    varied = [p for p in params if p in rows and rows[p].astype(str).nunique() > 1]
    for k in KPIS:
        rows[k] = pd.to_numeric(rows[k], errors="coerce") if k in rows else float("nan")
    for c in ("dataset", *TAIL):
        if c not in rows:
            rows[c] = None
    if rows.index.has_duplicates:
        raise ParameterError("runs", list(rows.index[rows.index.duplicated()]), "two runs have the same label")
    return rows[["dataset", *varied, *KPIS, *TAIL]]


def from_sweep(folder: str | os.PathLike) -> pd.DataFrame:
    """The runs of a sweep's output folder (its ``sweep.parquet``)."""
    path = Path(folder) / "sweep.parquet"
    if not path.is_file():
        raise ParameterError("sweep", str(folder), "has no sweep.parquet (give the folder a sweep wrote with out=)")
    table = pd.read_parquet(path)
    table.index = [f"scenario {s}" for s in table["scenario"]]
    return finish(table, [c for c in table.columns if c in KINDS or c == "trial"])


def _flat(values: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value if not isinstance(value, list) else ", ".join(map(str, value))
    return out


def from_store(store=None, session_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The runs of the store's sessions (all, oldest first, or ``session_ids``); a session whose
    results are not done has its overall status and, when a stage failed, that stage's error."""
    store = open_store(store)
    if session_ids is None:
        listed = sorted(Session.list(store), key=lambda r: (r.get("created") or "", r["session_id"]))
        session_ids = [r["session_id"] for r in listed if r["overall"] != "unreadable"]
    rows, params = [], []
    for sid in session_ids:
        session = Session.attach(sid, store)
        st = session.status()
        values = _flat({k: v for k, v in st["params"].items() if k not in ("data", "out")})
        params += [k for k in values if k not in params]
        failed = [s for s in st["stages"] if s["status"] == "failed"]
        results_done = st["stages"][-1]["status"] == "done"
        kpis = dict(session.artifact("kpis")) if results_done else {}
        row = {**values, "dataset": Path(str(st["params"].get("data") or "-")).name,
               **{k: kpis.get(k) for k in KPIS}, "objective_value": kpis.get("objective_value"),
               "status": "done" if results_done else st["overall"], "session_id": session.id,
               "error": f"stage {failed[0]['number']} ({failed[0]['name']}): {failed[0]['error']}" if failed else None}
        rows.append(pd.Series(row, name=f"session {session.id[:8]}"))
    return finish(pd.DataFrame(rows), params)


def default_baseline(runs: pd.DataFrame) -> Any:
    """The first finished run (None when none finished)."""
    done = runs.index[runs["status"] == "done"]
    return done[0] if len(done) else None


def verdict(kpi: str, delta: float) -> str:
    """"better", "worse" or "same" by the KPI's direction; "" when it has none or no delta."""
    direction = KPI_BETTER.get(kpi)
    if direction is None or delta is None or math.isnan(delta):
        return ""
    if delta == 0:
        return "same"
    return "better" if (delta < 0) == (direction == "lower") else "worse"


def deltas(runs: pd.DataFrame, baseline: Any) -> pd.DataFrame:
    """One row per run and KPI: value, the baseline's value, delta (run - baseline), delta in % of
    the baseline (NaN when the baseline is 0) and the verdict; ``baseline=None`` (no run finished):
    the values without deltas."""
    if baseline is None:
        base = pd.Series(float("nan"), index=KPIS)
    elif baseline not in runs.index:
        raise ParameterError("baseline", baseline, f"is not a run; runs: {', '.join(map(str, runs.index))}")
    elif runs.at[baseline, "status"] != "done":
        raise ParameterError("baseline", baseline, f"is {runs.at[baseline, 'status']}, not a finished run")
    else:
        base = runs.loc[baseline, KPIS].astype(float)
    rows = []
    for run, values in runs[KPIS].astype(float).iterrows():
        for kpi in KPIS:
            delta = values[kpi] - base[kpi]
            pct = delta / abs(base[kpi]) * 100 if base[kpi] != 0 and not math.isnan(delta) else float("nan")
            rows.append((run, kpi, values[kpi], base[kpi], delta, pct, verdict(kpi, delta)))
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


def ordered(runs: pd.DataFrame, by: str) -> pd.DataFrame:
    """The runs ordered by a KPI (better first by its direction) or by ``objective_value``
    (smaller first); runs without a value last; ties and ``by="run"`` keep the run order."""
    if by == "run":
        return runs
    position = pd.Series(range(len(runs)), index=runs.index)
    if by == "objective_value":
        key = runs[by].map(lambda v: objective_key(v) if isinstance(v, str) and v else None)
        missing = key.isna()
        order = sorted(runs.index[~missing], key=lambda r: (key[r], position[r]))
        return runs.loc[order + list(runs.index[missing])]
    if by not in KPI_BETTER:
        raise ParameterError("order", by, f"is not a KPI; KPIs: {', '.join(KPIS)}")
    sign = -1.0 if KPI_BETTER[by] == "higher" else 1.0
    values = runs[by].astype(float) * sign
    order = sorted(runs.index[values.notna()], key=lambda r: (values[r], position[r]))
    return runs.loc[order + list(runs.index[values.isna()])]


def tradeoff_bytes(runs: pd.DataFrame, highlight: Any = None) -> bytes:
    """The sweep's trade-off plot (tardiness against setup slots, Pareto front) of these runs as PNG."""
    buffer = io.BytesIO()
    tradeoff_png(runs, buffer, highlight=highlight)
    return buffer.getvalue()


def run_plan(runs: pd.DataFrame, run: Any, store=None) -> PlanView:
    """The plan view of a finished run's schedule, read from its session; a run that is not done
    (or has no session) is a ParameterError carrying its status and error."""
    row = runs.loc[run]
    if row["status"] != "done" or not row["session_id"]:
        why = f"is {row['status']}" + (f": {row['error']}" if row["error"] else "")
        raise ParameterError("run", run, why if row["status"] != "done" else "has no stored session")
    session = Session.attach(row["session_id"], open_store(store))
    return PlanView.build(session.artifact("schedule"), session.artifact("dag"), session.artifacts("load"),
                          session.artifact("calendar"))
