"""Raw tables (as read) -> canonical tables: headers, cell types, per-table rules, duplicates.

Every row that does not make it into a table leaves an entry in the report (the row as the
user counts it, the column and the value). Cross-table checks live in ``prodsched.inputs.checks``.
"""

from __future__ import annotations

import pandas as pd

from prodsched.inputs.cells import Cells, blank_cells, to_timestamp
from prodsched.inputs.report import ValidationReport
from prodsched.inputs.spec import (DTYPES, ROW, TABLE_NAMES, ColumnSpec, canonical_column, empty_table,
                                   spec_of)


class Context:
    """Shared state while normalising: the report, broken tables, original header labels."""

    def __init__(self, report: ValidationReport):
        self.report = report
        self.broken: set[str] = set()
        self.headers: dict[str, dict[str, str]] = {}
        self.raw_missing: dict[str, pd.Series] = {}  # per column of the table being normalised
        self.cells: dict[str, Cells] = {}  # the same columns' cells as read
        self.wide_linespeed = False

    def label(self, table: str, column: str) -> str:
        """A column as the user knows it: ``due (납기일)`` when the file used an alias."""
        original = self.headers.get(table, {}).get(column)
        return column if not original or original.strip().lower() == column else f"{column} ({original})"


def _dates(series: pd.Series) -> pd.Series:
    """Cells -> datetime64[ns]; NaT where unparseable (fast path for ISO strings)."""
    if pd.api.types.infer_dtype(series, skipna=True) == "string":
        text = series.str.strip()
    else:
        text = series.map(lambda v: v.strip() if isinstance(v, str) else None)
    fast = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if getattr(fast.dt, "tz", None) is not None:
        fast = fast.dt.tz_localize(None)
    fast = fast.astype("datetime64[ns]")
    slow = fast.isna() & ~blank_cells(series)
    if slow.any():
        fast.loc[slow] = series[slow].map(lambda v: to_timestamp(v) or pd.NaT).astype("datetime64[ns]")
    return fast


def coerce(frame: pd.DataFrame, table: str, spec: ColumnSpec, ctx: Context,
           bad: pd.Series) -> pd.Series:
    """Convert one column in place of ``frame``; marks rows to drop in ``bad`` (reported)."""
    series = frame[spec.name]
    cells = ctx.cells[spec.name] if spec.name in ctx.cells else Cells(series)
    missing = ctx.raw_missing[spec.name] if spec.name in ctx.raw_missing else cells.blank()
    label = ctx.label(table, spec.name)
    rows = frame[ROW]
    if spec.required:
        for r, v in zip(rows[missing], series[missing]):
            ctx.report.error(table, r, label, v, f"missing value in required column {label}; row ignored")
        bad |= missing
    if spec.kind == "str":
        return cells.text()
    if spec.kind in ("date", "datetime"):
        out = _dates(series)
        wrong = out.isna() & ~missing
        for r, v in zip(rows[wrong], series[wrong]):
            ctx.report.error(table, r, label, v, f"{label}: {v!r} is not a date/time "
                             "(use YYYY-MM-DD or YYYY-MM-DD HH:MM); row ignored")
        bad |= wrong
        if spec.kind == "date":
            out = out.dt.normalize()
        return out.where(~missing, pd.NaT) if not spec.required else out
    num = cells.numbers()
    wrong = num.isna() & ~missing
    for r, v in zip(rows[wrong], series[wrong]):
        ctx.report.error(table, r, label, v, f"{label} must be a number, got {v!r}; row ignored")
    bad |= wrong
    if spec.kind == "int":
        frac = ~num.isna() & (num % 1 != 0)
        for r, v in zip(rows[frac], series[frac]):
            ctx.report.error(table, r, label, v, f"{label} must be a whole number, got {v!r}; row ignored")
        bad |= frac
    if spec.min_value is not None:
        low = (num <= spec.min_value) if spec.strict else (num < spec.min_value)
        low &= ~num.isna()
        op = ">" if spec.strict else ">="
        for r, v in zip(rows[low], series[low]):
            ctx.report.error(table, r, label, v, f"{label} must be {op} {spec.min_value:g}, got {v}; row ignored")
        bad |= low
    if not spec.required and spec.default is not None:
        num = num.where(~missing, float(spec.default))
    if spec.kind == "int":
        return num.fillna(0).round().astype("int64")
    return num


# ----------------------------------------------------------------------------- tables

def _rename(frame: pd.DataFrame, table: str, ctx: Context) -> pd.DataFrame:
    rename: dict[str, str] = {}
    originals: dict[str, str] = {}
    for col in frame.columns:
        if col == ROW:
            continue
        canon = canonical_column(table, col)
        if canon is None:
            continue
        if canon in originals:
            keep = str(col) if str(col) != canon else f"{col}.1"
            rename[col] = keep
            ctx.report.warning(table, None, canon, str(col), f"columns {originals[canon]!r} and {col!r} "
                               f"both mean {canon}; the first is used, the other is kept as extra "
                               f"column {keep!r}")
            continue
        originals[canon] = str(col)
        rename[col] = canon
    ctx.headers[table] = originals
    return frame.rename(columns=rename)


def _missing_columns(table: str, frame: pd.DataFrame) -> list[str]:
    spec = spec_of(table)
    have = set(frame.columns)
    if table == "linespeed" and not {"machine", "speed_m_min"} & have:
        return [c for c in ("item", "operation") if c not in have]  # wide form
    missing = [c for c in spec.required_columns if c not in have]
    if table == "order_data" and "length_m" not in have and not {"roll_length_m", "rolls"} <= have:
        missing.append("length_m (or roll_length_m and rolls)")
    if table == "machine_rest" and not {"machine", "machine_index"} & have:
        missing.append("machine (or machine_index)")
    return missing


def _drop_duplicates(frame: pd.DataFrame, table: str, keys: tuple[str, ...], ctx: Context) -> pd.DataFrame:
    if frame.empty or any(k not in frame for k in keys):
        return frame
    dup = frame.duplicated(list(keys), keep="first")
    if not dup.any():
        return frame
    first_row = frame.groupby(list(keys), sort=False, dropna=False)[ROW].transform("first")
    for (_, rec), first in zip(frame[dup].iterrows(), first_row[dup]):
        values = ", ".join(f"{k}={rec[k]!s}" for k in keys)
        ctx.report.warning(table, rec[ROW], ", ".join(ctx.label(table, k) for k in keys), values,
                           f"duplicate key ({values}) of row {first}: row {first} wins, this row is ignored")
    return frame[~dup]


def _finish(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    spec = spec_of(table)
    canon = spec.column_names
    extras = [c for c in frame.columns if c not in canon and c != ROW]
    out = frame[canon + extras + [ROW]].reset_index(drop=True)
    for c in spec.columns:
        out[c.name] = out[c.name].astype(DTYPES[c.kind])
    out[ROW] = out[ROW].astype("int64")
    return out


def normalise_table(table: str, frame: pd.DataFrame | None, ctx: Context,
                    done: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from prodsched.inputs import table_rules
    spec = spec_of(table)
    report = ctx.report
    if frame is None:
        if any(i.severity == "error" for i in report.for_table(table)):
            ctx.broken.add(table)  # the file was there but unreadable: already reported
        elif not spec.optional:
            report.error(table, None, "", "", f"required table {table} is missing (give {table}.csv, "
                         f"{table}.json, a sheet {table!r} or the plant file {spec.export_file!r})")
            ctx.broken.add(table)
        return empty_table(table)
    frame = _rename(frame, table, ctx)
    if frame.empty:
        if not spec.may_be_empty:
            report.error(table, None, "", "", f"required table {table} is empty")
            ctx.broken.add(table)
        elif not spec.optional:
            report.warning(table, None, "", "", f"table {table} is empty; "
                           f"{table_rules.EMPTY_MEANING.get(table, 'nothing is taken from it')}")
        return empty_table(table)
    missing = _missing_columns(table, frame)
    for col in missing:
        report.error(table, None, col, "", f"table {table} has no column {col} "
                     f"(found: {', '.join(str(c) for c in frame.columns if c != ROW) or 'none'})")
    if missing:
        ctx.broken.add(table)
        return empty_table(table)
    if table == "linespeed" and "machine" not in frame:
        ctx.wide_linespeed = True
        frame = table_rules.linespeed_to_long(frame, ctx, done)
    for c in spec.columns:
        if c.name not in frame:
            frame[c.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    ctx.cells = {c.name: Cells(frame[c.name]) for c in spec.columns}
    ctx.raw_missing = {name: cells.blank() for name, cells in ctx.cells.items()}
    bad = pd.Series(False, index=frame.index)
    converted = {c.name: coerce(frame, table, c, ctx, bad) for c in spec.columns if c.name not in spec.derived}
    frame = frame.assign(**converted)
    frame = table_rules.apply(table, frame, bad, ctx, done)
    frame = frame[~bad.reindex(frame.index, fill_value=False)]
    for keys in spec.keys:
        frame = _drop_duplicates(frame, table, keys, ctx)
    return _finish(frame, table)


def normalise_all(raw: dict[str, pd.DataFrame], report: ValidationReport) -> dict[str, pd.DataFrame]:
    """All 12 canonical tables (plus the cross-table checks) from the raw ones."""
    from prodsched.inputs import checks
    ctx = Context(report)
    done: dict[str, pd.DataFrame] = {}
    for table in ("machine_master_info",) + tuple(t for t in TABLE_NAMES if t != "machine_master_info"):
        done[table] = normalise_table(table, raw.get(table), ctx, done)
    checks.check_tables(done, ctx)
    return {t: done[t] for t in TABLE_NAMES}
