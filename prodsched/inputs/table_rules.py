"""Per-table rules applied after the cells are typed (see ``prodsched.inputs.normalise``).

Each rule may fix a frame up (fill lengths, convert percent yields, join machine codes) and mark
rows to drop in ``bad``; every dropped row is reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prodsched.inputs.cells import Cells, blank, blank_cells, number_cells, text_cells
from prodsched.inputs.spec import MIXTURE_NONE, ROW

EMPTY_MEANING = {
    "yield_data": "every yield is taken as 1 (no scrap)",
    "operation_types": "every operation has an unknown class (no class changeovers)",
    "operation_delay": "every class changeover takes 0 slots",
    "width_change": "width changes take 0 slots on every machine",
}


def _codes(done: dict[str, pd.DataFrame]) -> list[str]:
    master = done.get("machine_master_info")
    return [] if master is None else [str(m) for m in master["machine"]]


def linespeed_to_long(frame: pd.DataFrame, ctx, done: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Wide linespeed (item, operation, a column per machine code) -> long rows.

    A column whose header is not a machine code but holds numbers names a machine that
    machine_master_info does not list (plant exports keep retired machines): the column is
    dropped with a warning. Other unknown columns are kept as extra columns. Non-numeric speed cells are reported by
    row and machine column; empty cells mean the machine cannot run the operation.
    """
    report = ctx.report
    codes = _codes(done)
    by_lower = {c.lower(): c for c in codes}
    trust_headers = "machine_master_info" in ctx.broken
    machine_cols: list[tuple[Any, str]] = []
    extras: list[Any] = []
    for col in frame.columns:
        if col in ("item", "operation", ROW):
            continue
        name = str(col).strip()
        code = name if name in codes else by_lower.get(name.lower())
        if code is None and not trust_headers:
            cells = frame[col][~blank_cells(frame[col])]
            numeric = len(cells) > 0 and number_cells(cells).notna().mean() >= 0.5
            if numeric:
                report.warning("linespeed", None, name, name, f"linespeed column {name!r} is not a machine "
                               "code of machine_master_info (a retired or unknown machine): the column "
                               "is dropped and its speeds are not used")
                continue
            extras.append(col)
            continue
        machine_cols.append((col, code or name))
    n = len(frame)
    rows = frame[ROW].to_numpy()
    # all machine columns read as one column (column after column), then folded back
    block = frame[[col for col, _ in machine_cols]].to_numpy(dtype=object) if machine_cols else \
        np.empty((n, 0), dtype=object)
    cells = Cells(pd.Series(block.ravel(order="F"), dtype=object))
    speeds = cells.numbers().to_numpy().reshape(block.shape, order="F")
    wrong = np.isnan(speeds) & ~cells.blank().to_numpy().reshape(block.shape, order="F")
    for j, (_, code) in enumerate(machine_cols):  # only bad cells one by one
        for i in np.flatnonzero(wrong[:, j]):
            report.error("linespeed", rows[i], code, block[i, j], f"speed for machine {code} must be a number "
                         f"(m/min), got {block[i, j]!r}; this machine is not used for the row")
    ri, mj = np.nonzero(~np.isnan(speeds))
    base = frame.reset_index(drop=True)
    base["item"] = text_cells(base["item"]).where(~blank_cells(base["item"]), None)
    base["operation"] = text_cells(base["operation"]).where(~blank_cells(base["operation"]), None)
    long = pd.DataFrame({
        "item": base["item"].to_numpy(dtype=object)[ri],
        "operation": base["operation"].to_numpy(dtype=object)[ri],
        "machine": np.array([code for _, code in machine_cols], dtype=object)[mj] if len(mj) else
        np.array([], dtype=object),
        "speed_m_min": speeds[ri, mj],
    })
    for col in extras:
        long[col] = base[col].to_numpy(dtype=object)[ri]
    long[ROW] = rows[ri]
    nothing = np.isnan(speeds).all(axis=1) if len(machine_cols) else np.ones(n, dtype=bool)
    for i in np.nonzero(nothing)[0]:
        if blank(base.at[i, "item"]) or blank(base.at[i, "operation"]):
            report.error("linespeed", rows[i], "item" if blank(base.at[i, "item"]) else "operation",
                         "", "missing item or operation in a linespeed row; row ignored")
        else:
            report.warning("linespeed", rows[i], "", f"{base.at[i, 'item']} / {base.at[i, 'operation']}",
                           "no speed on any machine in this linespeed row; row ignored")
    # wide duplicates: the same (item, operation) in two rows -> the first row wins as a whole
    first = long.groupby(["item", "operation"], sort=False)[ROW].transform("first")
    dup = (long[ROW] != first).to_numpy()
    for row in pd.unique(long.loc[dup, ROW]):
        rec = long[long[ROW] == row].iloc[0]
        winner = int(first[long[ROW] == row].iloc[0])
        report.warning("linespeed", row, "item, operation", f"{rec['item']}, {rec['operation']}",
                       f"duplicate key (item={rec['item']}, operation={rec['operation']}) of row "
                       f"{winner}: row {winner} wins, this row is ignored")
    return long[~dup].reset_index(drop=True)


def _order_data(frame: pd.DataFrame, bad: pd.Series, ctx) -> pd.DataFrame:
    report = ctx.report
    raw = ctx.raw_missing
    length, roll, rolls = frame["length_m"].copy(), frame["roll_length_m"].copy(), frame["rolls"].copy()
    no_len, no_roll, no_rolls = raw["length_m"], raw["roll_length_m"], raw["rolls"]
    product = no_len & ~no_roll & ~no_rolls
    length[product] = roll[product] * rolls[product]
    lost = no_len & (no_roll | no_rolls) & ~bad
    for r in frame.loc[lost, ROW]:
        report.error("order_data", r, ctx.label("order_data", "length_m"), "",
                     "no length: length_m is empty and roll_length_m x rolls cannot be computed; row ignored")
    bad |= lost
    only_len = ~no_len & no_roll & no_rolls
    roll[only_len], rolls[only_len] = length[only_len], 1.0
    fill_rolls = ~no_len & ~no_roll & no_rolls & (roll > 0)
    rolls[fill_rolls] = length[fill_rolls] / roll[fill_rolls]
    fill_roll = ~no_len & no_roll & ~no_rolls & (rolls > 0)
    roll[fill_roll] = length[fill_roll] / rolls[fill_roll]
    zero = (length == 0) & ~bad
    for r, po in zip(frame.loc[zero, ROW], frame.loc[zero, "po_no"]):
        report.warning("order_data", r, ctx.label("order_data", "length_m"), 0,
                       f"order {po} has zero length; it cannot be made and will be listed as unable")
    return frame.assign(length_m=length, roll_length_m=roll, rolls=rolls)


def _operation_sequence(frame: pd.DataFrame) -> pd.DataFrame:
    mix = frame["mixture"].map(lambda m: "" if str(m).strip().lower() in MIXTURE_NONE else str(m).strip())
    return frame.assign(mixture=mix.astype(object))


def _linespeed(frame: pd.DataFrame, bad: pd.Series, ctx) -> pd.DataFrame:
    zero = (frame["speed_m_min"] == 0) & ~bad
    for r, m in zip(frame.loc[zero, ROW], frame.loc[zero, "machine"]):
        ctx.report.warning("linespeed", r, m if ctx.wide_linespeed else ctx.label("linespeed", "speed_m_min"), 0,
                           f"speed 0 on machine {m} is read as 'cannot run'; entry ignored")
    bad |= zero
    return frame


def _machine_master_info(frame: pd.DataFrame, ctx) -> pd.DataFrame:
    index = frame["machine_index"].copy()
    missing = ctx.raw_missing["machine_index"]
    if missing.any():
        start = int(index[~missing].max()) if (~missing).any() else 0
        index[missing] = np.arange(start + 1, start + 1 + int(missing.sum()))
    names = frame["machine_name"].where(frame["machine_name"] != "", frame["machine"])
    return frame.assign(machine_index=index.astype("int64"), machine_name=names)


def _yield_data(frame: pd.DataFrame, bad: pd.Series, ctx) -> pd.DataFrame:
    report = ctx.report
    label = ctx.label("yield_data", "yield")
    values = frame["yield"]
    ok = values.notna() & ~bad
    if ok.any() and ((values[ok] > 1) & (values[ok] <= 100)).all():
        report.warning("yield_data", None, label, "", "every yield lies in (1, 100]: the column is "
                       "read as percent and divided by 100")
        values = values / 100.0
    out = ok & ((values <= 0) | (values > 1))
    for r, v in zip(frame.loc[out, ROW], frame.loc[out, "yield"]):
        report.error("yield_data", r, label, v, f"yield {v:g} is outside (0, 1] (a percent column "
                     "must lie wholly in (1, 100]); row ignored")
    bad |= out
    return frame.assign(**{"yield": values})


def _machine_join(frame: pd.DataFrame, table: str, bad: pd.Series, ctx, done) -> pd.DataFrame:
    """Fill machine code from machine_index (and back) using machine_master_info."""
    if "machine_master_info" in ctx.broken:
        return frame
    master = done["machine_master_info"]
    code_of = dict(zip(master["machine_index"], master["machine"]))
    index_of = dict(zip(master["machine"], master["machine_index"]))
    report = ctx.report
    have_code = frame["machine"].astype(str) != ""
    has_index_col = "machine_index" in ctx.headers.get(table, {})
    codes, idx = frame["machine"].copy(), frame["machine_index"].copy()
    for i in frame.index:
        row, code = frame.at[i, ROW], frame.at[i, "machine"]
        if bad[i]:
            continue
        if not have_code[i] and (not has_index_col or ctx.raw_missing["machine_index"][i]):
            report.error(table, row, ctx.label(table, "machine"), "", "no machine code and no machine_index; "
                         "row ignored")
            bad[i] = True
            continue
        if has_index_col and not ctx.raw_missing["machine_index"][i]:
            index = int(frame.at[i, "machine_index"])
            if index not in code_of:
                if not have_code[i]:
                    report.error(table, row, ctx.label(table, "machine_index"), index,
                                 f"unknown machine index {index} (not in machine_master_info); row ignored")
                    bad[i] = True
                    continue
            elif not have_code[i]:
                codes[i] = code_of[index]
            elif code_of[index] != code:
                report.warning(table, row, ctx.label(table, "machine_index"), index,
                               f"machine_index {index} is machine {code_of[index]}, not {code}; "
                               f"machine_index {index} is used" if table == "width_change" else
                               f"machine_index {index} is machine {code_of[index]}, not {code}; "
                               f"the code {code} is used")
                if table == "width_change":
                    codes[i] = code_of[index]
        if table != "width_change" and codes[i] in index_of:
            idx[i] = index_of[codes[i]]
    return frame.assign(machine=codes.astype(object), machine_index=idx.astype("int64"))


def apply(table: str, frame: pd.DataFrame, bad: pd.Series, ctx, done: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if table == "order_data":
        return _order_data(frame, bad, ctx)
    if table == "operation_sequence":
        return _operation_sequence(frame)
    if table == "linespeed":
        return _linespeed(frame, bad, ctx)
    if table == "machine_master_info":
        return _machine_master_info(frame, ctx)
    if table == "yield_data":
        return _yield_data(frame, bad, ctx)
    if table == "width_change":
        frame = frame.assign(machine=frame["machine"].map(lambda v: "" if blank(v) else str(v).strip()))
        return _machine_join(frame, table, bad, ctx, done)
    if table == "machine_rest":
        return _machine_join(frame, table, bad, ctx, done)
    if table == "pinned":
        return _pinned(frame, bad, ctx)
    return frame


def _pinned(frame: pd.DataFrame, bad: pd.Series, ctx) -> pd.DataFrame:
    """Each row names its operation by op_id, or by po_no and operation (not both ways)."""
    report = ctx.report
    for i, rec in frame.iterrows():
        if bad.loc[i]:
            continue
        has_id, has_po, has_op = (not blank(rec[c]) for c in ("op_id", "po_no", "operation"))
        if has_id and has_po:
            report.error("pinned", rec[ROW], "op_id", rec["op_id"], "give op_id or po_no, not both; "
                         "row ignored")
            bad.loc[i] = True
        elif not has_id and not has_po:
            report.error("pinned", rec[ROW], "op_id", "", "the row names no operation: give op_id, or "
                         "po_no and operation; row ignored")
            bad.loc[i] = True
        elif has_po and not has_op:
            report.error("pinned", rec[ROW], "operation", "", f"po_no {rec['po_no']} needs the "
                         "operation to pin; row ignored")
            bad.loc[i] = True
    return frame
