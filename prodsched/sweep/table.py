"""The sweep's table (one row per scenario) and its files: parquet, csv, trade-off plot, summary."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

VALUE_PREFIX = "value_"  # value_<objective>: the scenario's value under every registered objective
TAIL = ["objective_value", "schedule_sha256", "verified", "violations", "wall_s", "session_id", "worker",
        "status", "error"]


def frame(scenarios: Sequence, outcomes: Mapping[int, dict]) -> pd.DataFrame:
    """One row per scenario: data set, grid values, every KPI, objective values, bookkeeping."""
    rows, kpi_names, value_names = [], [], []
    for s in scenarios:
        out = outcomes[s.index]
        r = out["row"]
        row: dict[str, Any] = {"scenario": s.index, "dataset": s.dataset, "data": s.data, **s.values}
        kpis = r.get("kpis") or {}
        for k, v in kpis.items():
            if k not in row:
                row[k] = v
                if k not in kpi_names and k not in TAIL:
                    kpi_names.append(k)
        for name, value in (r.get("objectives") or {}).items():
            row[VALUE_PREFIX + name] = ", ".join(map(str, value))
            if VALUE_PREFIX + name not in value_names:
                value_names.append(VALUE_PREFIX + name)
        row.update({k: r.get(k) for k in ("schedule_sha256", "verified", "violations", "wall_s", "status", "error")})
        row["objective_value"] = kpis.get("objective_value")
        row["session_id"] = out.get("session_id")
        row["worker"] = r.get("worker")
        rows.append(row)
    head = ["scenario", "dataset", "data"] + [k for k in (scenarios[0].values if scenarios else {})]
    extra = [k for r in rows for k in r if k not in head and k not in kpi_names and k not in value_names
             and k not in TAIL]
    columns = head + list(dict.fromkeys(extra)) + kpi_names + value_names + TAIL
    table = pd.DataFrame(rows, columns=columns)
    return table


def pareto(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each point, whether no other point is at least as good in both and better in one."""
    flags = []
    for i, (x, y) in enumerate(points):
        flags.append(not any((a <= x and b <= y) and (a < x or b < y) for j, (a, b) in enumerate(points) if j != i))
    return flags


def objective_key(text: Any) -> tuple:
    return tuple(float(v) for v in str(text).split(","))


def best_by_objective(table: pd.DataFrame) -> dict[str, pd.Series]:
    done = table[table["status"] == "done"]
    best = {}
    for column in [c for c in table.columns if c.startswith(VALUE_PREFIX)]:
        rows = done[done[column].notna()]
        if len(rows):
            keys = rows[column].map(objective_key)
            best[column[len(VALUE_PREFIX):]] = rows.loc[min(keys.index, key=lambda i: (keys[i], rows.loc[i, "scenario"]))]
    return best


def write_outputs(table: pd.DataFrame, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "sweep.parquet", out / "sweep.csv", out / "tradeoff.png", out / "summary.md"]
    plain = table.copy()
    plain.attrs = {}
    plain.to_parquet(paths[0], index=False)
    plain.to_csv(paths[1], index=False)
    tradeoff_png(table, paths[2])
    paths[3].write_text(summary_md(table), encoding="utf-8")
    if "search" in table.attrs:
        path = out / "search.json"
        path.write_text(json.dumps(table.attrs["search"], indent=2, default=str) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def tradeoff_png(table: pd.DataFrame, path, x: str = "setup_slots", y: str = "total_tardiness_days",
                 highlight: Any = None) -> None:
    """Total tardiness against setup slots, one point per finished scenario, the Pareto front marked;
    ``highlight`` (a row label of ``table``) is ringed. ``path``: a file path or a binary file object."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    done = table[table["status"] == "done"] if x in table and y in table else table.iloc[0:0]
    fig = Figure(figsize=(7, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if len(done):
        pts = list(zip(done[x].astype(float), done[y].astype(float)))
        front = pareto(pts)
        ax.scatter(done[x], done[y], s=22, color="#8da0cb", label="scenario")
        fp = sorted(p for p, f in zip(pts, front) if f)
        ax.plot([p[0] for p in fp], [p[1] for p in fp], "o-", color="#d95f02", label="Pareto front")
        if highlight is not None and highlight in done.index:
            ax.scatter([float(done.at[highlight, x])], [float(done.at[highlight, y])], s=160, facecolors="none",
                       edgecolors="#1b9e77", linewidths=2.5, label=f"selected: {highlight}")
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no finished scenario", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("setup slots")
    ax.set_ylabel("total tardiness (days)")
    ax.set_title(f"{len(done)} scenarios")
    fig.tight_layout()
    fig.savefig(path, format="png")


def summary_md(table: pd.DataFrame) -> str:
    counts = table["status"].value_counts().to_dict()
    lines = ["# Sweep summary", "",
             f"{len(table)} scenarios on {table['dataset'].nunique()} data set(s): "
             + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".",
             f"Verified schedules: {int(table['verified'].fillna(False).astype(bool).sum())}.", "",
             "## Best scenario per objective", "", "| objective | value | scenario | data set | parameters | session |",
             "|---|---|---|---|---|---|"]
    params = _grid_columns(table)
    for name, row in best_by_objective(table).items():
        shown = ", ".join(f"{c}={row[c]}" for c in params)
        lines.append(f"| {name} | {row[VALUE_PREFIX + name]} | {row['scenario']} | {row['dataset']} | {shown} | "
                     f"{row['session_id'] or ''} |")
    search = table.attrs.get("search")
    if search:
        lines += ["", "## Search", "", f"{search['trials']} trials ({search['sampler']}); best value "
                  f"{search['best_value']} with {json.dumps(search['best_params'])}; study "
                  f"{search.get('storage') or 'in memory'}."]
    failed = table[table["status"] != "done"]
    if len(failed):
        lines += ["", "## Not done", ""] + [f"- scenario {r.scenario}: {r.status}: {r.error}" for r in failed.itertuples()]
    return "\n".join(lines) + "\n"


def _grid_columns(table: pd.DataFrame) -> list[str]:
    from prodsched.sweep.grid import KINDS

    return [c for c in table.columns if c in KINDS or c == "trial"]


OVERVIEW = ["total_tardiness_days", "late_orders", "setup_slots", "makespan_slots", "objective_value", "verified",
            "wall_s", "status"]


def overview(table: pd.DataFrame) -> pd.DataFrame:
    """The columns to compare scenarios by: data set, what the grid varied, the main KPIs."""
    keys = ["scenario", "dataset", *_grid_columns(table)]
    varied = [c for c in keys if c in ("scenario", "dataset") or table[c].nunique(dropna=False) > 1]
    return table[varied + [c for c in OVERVIEW if c in table]].set_index("scenario")
