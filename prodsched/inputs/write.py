"""Writing the input tables: folders of CSV/JSON/Parquet, plant export names, .xlsx, JSON payload."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from prodsched.inputs.spec import ROW, SPECS, TABLE_NAMES, machine_order

__all__ = ["FORMS", "linespeed_wide", "tables_to_payload", "write_tables"]

FORMS = ("csv", "json", "parquet", "plant_export", "xlsx", "payload")


def _cell(value: Any, kind: str | None) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            return None
        if kind == "date" or (kind != "datetime" and ts == ts.normalize()):
            return ts.strftime("%Y-%m-%d")
        return ts.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def linespeed_wide(linespeed: pd.DataFrame, machines: list[str] | None = None) -> pd.DataFrame:
    """Long linespeed (item, operation, machine, speed_m_min) -> one column per machine code."""
    long = linespeed.drop(columns=[ROW], errors="ignore")
    if {"machine", "speed_m_min"} - set(long.columns):
        return long  # already wide
    known = list(machines or [])
    codes = known + sorted(set(long["machine"].astype(str)) - set(known))
    pairs = long[["item", "operation"]].drop_duplicates()
    extras = [c for c in long.columns if c not in ("item", "operation", "machine", "speed_m_min")]
    wide = long.pivot_table(index=["item", "operation"], columns="machine", values="speed_m_min",
                            aggfunc="first", sort=False)
    wide = wide.reindex(columns=codes).reindex(pd.MultiIndex.from_frame(pairs))
    wide.columns = [str(c) for c in wide.columns]
    out = pairs.reset_index(drop=True)
    if extras:
        firsts = long.groupby(["item", "operation"], sort=False)[extras].first()
        out = out.join(firsts, on=["item", "operation"])
    return pd.concat([out, wide.reset_index(drop=True)], axis=1)


def _export_frame(name: str, frame: pd.DataFrame, korean: bool, wide: bool,
                  machines: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    spec = SPECS[name]
    frame = frame.drop(columns=[ROW], errors="ignore")
    kinds = {c.name: c.kind for c in spec.columns}
    if name == "linespeed" and wide:
        frame = linespeed_wide(frame, machines)
    if korean and name == "operation_sequence" and "mixture" in frame:
        frame = frame.assign(mixture=frame["mixture"].where(frame["mixture"].astype(str) != "", "배합X"))
    if korean:
        rename = {c.name: c.export_header for c in spec.columns if c.name in frame}
        frame = frame.rename(columns=rename)
        kinds = {rename.get(k, k): v for k, v in kinds.items()}
    return frame, kinds


def _records(frame: pd.DataFrame, kinds: dict[str, str]) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [
        {c: _cell(v, kinds.get(c)) for c, v in zip(cols, row)}
        for row in frame.itertuples(index=False, name=None)
    ]


def tables_to_payload(tables: Mapping[str, pd.DataFrame], linespeed: str = "long") -> dict[str, list[dict]]:
    """The stage-1 JSON payload (table -> list of records; dates as ISO strings)."""
    machines = machine_order(tables.get("machine_master_info"))
    payload = {}
    for name in TABLE_NAMES:
        if name in tables:
            frame, kinds = _export_frame(name, tables[name], False, linespeed == "wide", machines)
            payload[name] = _records(frame, kinds)
    return payload


def _dump_json(obj: Any) -> str:
    """Deterministic JSON: one record per line (a payload: one table per block)."""
    def records(recs: list[dict]) -> str:
        if not recs:
            return "[]"
        return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False, allow_nan=False) for r in recs) + "\n]"

    if isinstance(obj, dict):
        body = ",\n".join(f"{json.dumps(k, ensure_ascii=False)}: {records(v)}" for k, v in obj.items())
        return "{\n" + body + "\n}\n"
    return records(obj) + "\n"


def write_tables(tables: Mapping[str, pd.DataFrame], dest: str | Path, form: str = "csv",
                 linespeed: str = "wide") -> Path:
    """Write the tables; returns ``dest``.

    ``form``: ``csv`` / ``json`` / ``parquet`` (a folder of ``<table>.<ext>``), ``plant_export``
    (a folder of JSON files with the plant export names and Korean headers; linespeed wide),
    ``xlsx`` (one workbook, a sheet per table) or ``payload`` (one JSON file {table: records}).
    ``linespeed``: ``wide`` (a column per machine) or ``long``. Output is deterministic.
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; use one of {', '.join(FORMS)}")
    dest = Path(dest)
    machines = machine_order(tables.get("machine_master_info"))
    wide = linespeed == "wide" or form == "plant_export"
    if form == "payload":
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(_dump_json(tables_to_payload(tables, "wide" if wide else "long")), encoding="utf-8")
        return dest
    if form == "xlsx":
        dest.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(dest, engine="openpyxl") as writer:
            for name in TABLE_NAMES:
                if name in tables:
                    frame, kinds = _export_frame(name, tables[name], False, wide, machines)
                    pd.DataFrame(_records(frame, kinds), columns=frame.columns).to_excel(
                        writer, sheet_name=name, index=False)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name in TABLE_NAMES:
        if name not in tables:
            continue
        korean = form == "plant_export"
        frame, kinds = _export_frame(name, tables[name], korean, wide, machines)
        if form == "csv":
            out = pd.DataFrame(_records(frame, kinds), columns=frame.columns)
            out.to_csv(dest / f"{name}.csv", index=False, lineterminator="\n")
        elif form == "parquet":
            out = frame.copy()
            for c in out.columns:
                if out[c].dtype == object:
                    out[c] = out[c].astype("string")
            out.to_parquet(dest / f"{name}.parquet", index=False)
        else:
            file = SPECS[name].export_file if korean else f"{name}.json"
            (dest / file).write_text(_dump_json(_records(frame, kinds)), encoding="utf-8")
    return dest
