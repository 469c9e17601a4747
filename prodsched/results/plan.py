"""One view of a schedule, built once: its calendar, machine order, downtime and setups.

Every fact about a schedule that more than one reader needs is computed here and nowhere else:

* the calendar: ``base_date`` (slot 0 is its midnight) and ``slot_minutes``, taken from the
  calendar of stage 2, else the DAG of stage 4, else read exactly off the schedule's
  ``start``/``start_time`` columns (as stage 5 writes them); without any of these it is an error;
* the machine order: machine_master_info by machine_index, else the DAG's machines, then any
  machine of the schedule that neither names (sorted);
* planned downtime in slots per machine (start floored, end ceiled, merged);
* each operation's setup with its reason, worded one way: ``class change A→B``, ``mixture change
  X→Y``, ``width change long→short W1→W2`` / ``short→long``.

Stage 5 builds the engine's instance with the same :func:`downtime_slots` and
:class:`Changeovers`, so the results explain what the engine scheduled. The verifier
(``engine/verify.py``) re-derives every rule on its own and uses none of this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from prodsched.engine.model import merge_intervals
from prodsched.errors import ProdschedError
from prodsched.inputs.cells import blank
from prodsched.inputs.spec import ROW, machine_order
from prodsched.results.columns import SETUP_COLUMNS

__all__ = ["Calendar", "Changeovers", "PlanView", "as_plan", "calendar_of", "class_setups",
           "downtime_slots", "n_slots", "width_setups"]

PLAN_COLUMNS = ["op_id", "machine", "start", "end", "setup_slots", "op_class", "mixture", "width_mm"]


def n_slots(n: int) -> str:
    return f"{n} slot" if n == 1 else f"{n} slots"


# --------------------------------------------------------------------------- calendar
@dataclass(frozen=True)
class Calendar:
    """Slot ``k`` starts at ``base_date + k * slot_minutes``."""

    base_date: pd.Timestamp
    slot_minutes: int

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(minutes=self.slot_minutes)

    def time(self, slots):
        """The datetime of a slot (an int) or of many (a DatetimeIndex)."""
        if np.ndim(slots) == 0:
            return self.base_date + int(slots) * self.step
        return self.base_date + pd.to_timedelta(np.asarray(slots, dtype="int64") * self.slot_minutes,
                                                unit="min")

    def to_dict(self) -> dict[str, Any]:
        return {"base_date": self.base_date.date().isoformat(), "slot_minutes": self.slot_minutes}


def calendar_of(calendar: Mapping[str, Any] | Calendar | None = None, dag: Any = None,
                schedule: pd.DataFrame | None = None) -> Calendar:
    """The schedule's calendar: ``calendar`` (stage 2's artifact), else the DAG's graph attributes,
    else read off the schedule's slots and times; an error naming what is missing otherwise."""
    if isinstance(calendar, Calendar):
        return calendar
    given, graph = dict(calendar or {}), _graph_attrs(dag)
    base = _first(given.get("base_date"), graph.get("base_date"))
    slot = _first(given.get("slot_minutes"), graph.get("slot_minutes"))
    base = None if base is None else _base_date(base)
    slot = None if slot is None else _slot_minutes(slot)
    if (base is None or slot is None) and schedule is not None:
        base, slot = _from_times(schedule, base, slot)
    missing = [name for name, value in (("base_date", base), ("slot_minutes", slot)) if value is None]
    if missing:
        raise ProdschedError(
            f"the schedule has no calendar: {' and '.join(missing)} missing (give the calendar of "
            "stage 2 or the DAG of stage 4, or a schedule whose start_time/end_time show it)")
    return Calendar(base, slot)


def _graph_attrs(dag: Any) -> Mapping[str, Any]:
    if dag is None:
        return {}
    graph = getattr(dag, "graph", None)
    if graph is None and isinstance(dag, Mapping):
        graph = dag.get("graph")
    return graph or {}


def _first(*values: Any) -> Any:
    return next((v for v in values if not blank(v)), None)


def _base_date(value: Any) -> pd.Timestamp:
    if isinstance(value, str) and value.strip().lower() in ("auto", "today"):
        raise ProdschedError(f"base_date {value!r} is a request stage 2 resolves, not the calendar's date")
    try:
        day = pd.to_datetime(value, format="ISO8601") if isinstance(value, str) else pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ProdschedError(f"base_date {value!r} is not a date like 2025-01-01") from None
    if pd.isna(day) or day != day.normalize():
        raise ProdschedError(f"base_date {value!r} is not a date (slot 0 starts at its midnight)")
    return day


def _slot_minutes(value: Any) -> int:
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        raise ProdschedError(f"slot_minutes {value!r} is not a number") from None
    if not minutes.is_integer() or minutes <= 0:
        raise ProdschedError(f"slot_minutes {value!r} is not a positive whole number of minutes")
    return int(minutes)


def _from_times(schedule: pd.DataFrame, base: Any, slot: Any) -> tuple[Any, Any]:
    """Fill a missing base_date/slot_minutes from start/end and start_time/end_time, exactly."""
    if len(schedule) == 0 or not {"start", "end", "start_time", "end_time"} <= set(schedule.columns):
        return base, slot
    start, end = schedule["start"].astype("int64"), schedule["end"].astype("int64")
    t0, t1 = pd.to_datetime(schedule["start_time"]), pd.to_datetime(schedule["end_time"])
    if slot is None:
        span = end - start
        minutes = ((t1 - t0).dt.total_seconds() / 60.0)[span > 0] / span[span > 0]
        found = sorted(set(minutes.dropna().round(9)))
        if len(found) > 1:
            raise ProdschedError(f"the schedule's start_time/end_time follow no single slot length "
                                 f"(they give {', '.join(f'{m:g}' for m in found[:3])} minutes)")
        slot = _slot_minutes(found[0]) if found else None
    if base is None and slot is not None:
        step = pd.Timedelta(minutes=slot)
        bases = pd.concat([t0 - start * step, t1 - end * step]).dropna().drop_duplicates()
        if len(bases) > 1:
            raise ProdschedError("the schedule's start_time/end_time follow no single base_date "
                                 f"(they give {', '.join(str(b) for b in bases.iloc[:3])})")
        base = _base_date(bases.iloc[0]) if len(bases) else None
    return base, slot


# --------------------------------------------------------------------------- tables in slots
def _table(tables: Mapping[str, Any], name: str, columns: list[str]) -> pd.DataFrame:
    frame = (tables or {}).get(name)
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ProdschedError(f"table {name} lacks column(s) {missing}")
    return frame


def _codes_by_index(tables: Mapping[str, Any]) -> dict[int, str]:
    master = (tables or {}).get("machine_master_info")
    if master is None or not len(master) or not {"machine", "machine_index"} <= set(master.columns):
        return {}
    return {int(i): str(m) for i, m in zip(master["machine_index"], master["machine"]) if not pd.isna(i)}


def _machine_codes(frame: pd.DataFrame, tables: Mapping[str, Any]) -> list[str | None]:
    """Each row's machine code; a blank code is looked up by machine_index (None: not found)."""
    by_index = _codes_by_index(tables)
    index = frame["machine_index"] if "machine_index" in frame.columns else [None] * len(frame)
    return [str(code).strip() if not blank(code) else
            (by_index.get(int(i)) if not blank(i) else None)
            for code, i in zip(frame["machine"], index)]


def _rows(frame: pd.DataFrame) -> list[Any]:
    return list(frame[ROW]) if ROW in frame.columns else list(range(2, len(frame) + 2))


def downtime_slots(tables: Mapping[str, Any], calendar: Calendar) -> dict[str, tuple[tuple[int, int], ...]]:
    """machine_rest as sorted, merged slot spans ``[start, end)`` per machine code.

    Start is floored and end ceiled to slots (downtime covers every slot it touches). A row
    without a machine code is matched by machine_index through machine_master_info. A row whose
    machine or times are missing, or which ends before it starts, is an error (stage 1 reports
    such rows, so they only reach here from hand-made tables).
    """
    frame = _table(tables, "machine_rest", ["machine", "start", "end"])
    if len(frame) == 0:
        return {}
    start = ((pd.to_datetime(frame["start"]) - calendar.base_date) / calendar.step).tolist()
    end = ((pd.to_datetime(frame["end"]) - calendar.base_date) / calendar.step).tolist()
    spans: dict[str, list[tuple[int, int]]] = {}
    for code, s, e, row in zip(_machine_codes(frame, tables), start, end, _rows(frame)):
        if code is None:
            raise ProdschedError(f"machine_rest row {row}: no machine code, and its machine_index "
                                 "names no machine of machine_master_info")
        if pd.isna(s) or pd.isna(e) or e <= s:
            raise ProdschedError(f"machine_rest row {row}: machine {code} needs a start before its end")
        lo, hi = math.floor(s + 1e-9), math.ceil(e - 1e-9)
        if hi > lo:
            spans.setdefault(code, []).append((lo, hi))
    return {code: merge_intervals(found) for code, found in spans.items()}


def class_setups(tables: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """operation_delay as ``{(from_class, to_class): slots}`` (the first row of a pair wins)."""
    frame = _table(tables, "operation_delay", ["from_class", "to_class", "setup_slots"])
    out: dict[tuple[str, str], int] = {}
    for a, b, v in zip(frame["from_class"], frame["to_class"], frame["setup_slots"]):
        if not pd.isna(v):
            out.setdefault((str(a), str(b)), int(v))
    return out


def width_setups(tables: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """width_change as ``{machine code: (long_to_short, short_to_long)}`` (first row wins).

    A row is matched by its ``machine`` code, or by ``machine_index`` through
    machine_master_info when the code is empty; a row matching no machine is left out.
    """
    frame = _table(tables, "width_change", ["machine_index", "long_to_short", "short_to_long"])
    if "machine" not in frame.columns:
        frame = frame.assign(machine="")
    out: dict[str, tuple[int, int]] = {}
    for code, l2s, s2l in zip(_machine_codes(frame, tables), frame["long_to_short"], frame["short_to_long"]):
        if code is not None:
            out.setdefault(code, (0 if pd.isna(l2s) else int(l2s), 0 if pd.isna(s2l) else int(s2l)))
    return out


# --------------------------------------------------------------------------- setups
@dataclass(frozen=True)
class Changeovers:
    """The changeover tables as lookups, with the one wording of a setup's reason.

    Setup before B after A on a machine = max(type change, width change) (DESIGN §4): the type
    change is ``class_setup[(A.class, B.class)]`` when class or mixture differ (a missing pair is
    0); the width change is the machine's ``long_to_short`` when B is narrower, ``short_to_long``
    when wider.
    """

    class_setup: Mapping[tuple[str, str], int]
    width: Mapping[str, tuple[int, int]]

    @classmethod
    def from_tables(cls, tables: Mapping[str, Any]) -> Changeovers:
        return cls(class_setups(tables), width_setups(tables))

    def type_slots(self, a_class: str, a_mixture: str, b_class: str, b_mixture: str) -> int:
        if a_class == b_class and a_mixture == b_mixture:
            return 0
        return int(self.class_setup.get((a_class, b_class), 0))

    def width_slots(self, machine: str, a_width: int, b_width: int) -> int:
        l2s, s2l = self.width.get(machine, (0, 0))
        return l2s if b_width < a_width else s2l if b_width > a_width else 0

    def reasons(self, machine: str, a: tuple[str, str, int], b: tuple[str, str, int]) -> list[str]:
        """The non-zero parts of the changeover from ``a`` to ``b`` = (class, mixture, width)."""
        (ca, ma, wa), (cb, mb, wb) = a, b
        parts = []
        slots = self.type_slots(ca, ma, cb, mb)
        if slots > 0:
            if ca != cb:
                parts.append(f"class change {ca}→{cb} ({n_slots(slots)})")
            if ma != mb:
                parts.append(f"mixture change {ma or 'none'}→{mb or 'none'}"
                             + ("" if ca != cb else f" ({n_slots(slots)})"))
        width = self.width_slots(machine, wa, wb)
        if width > 0:
            way = "long→short" if wb < wa else "short→long"
            parts.append(f"width change {way} {wa}→{wb} ({n_slots(width)})")
        return parts


def _text(value: Any) -> str:
    return "" if blank(value) else str(value)


def _texts(values: pd.Series) -> pd.Series:
    """A column as text, blank cells (None, NaN, whitespace) as ""."""
    obj = values.astype(object)
    text = obj.astype(str)
    return text.where(obj.notna() & (text.str.strip() != ""), "")


def _slots_text(n: pd.Series) -> pd.Series:
    return n.astype(str) + np.where(n == 1, " slot", " slots")


def _setup_table(seq: pd.DataFrame, changeovers: Changeovers) -> pd.DataFrame:
    """A SETUP_COLUMNS row per operation of ``seq`` (sorted into machine sequence), column by
    column: each operation against its machine predecessor, worded as :meth:`Changeovers.reasons`."""
    if not len(seq):
        return pd.DataFrame(columns=SETUP_COLUMNS)
    machine, op_id = seq["machine"], seq["op_id"]
    cls, mix = _texts(seq["op_class"]), _texts(seq["mixture"])
    width = seq["width_mm"].astype("int64")
    setup = seq["setup_slots"].astype("int64")
    first = machine.ne(machine.shift())
    prev_op = op_id.shift().where(~first, "")
    p_cls, p_mix, p_width = cls.shift().where(~first, ""), mix.shift().where(~first, ""), width.shift().where(~first, 0)
    p_width = p_width.astype("int64")
    delay = changeovers.class_setup
    pairs = pd.MultiIndex.from_arrays([p_cls, cls])
    table = pd.Series(list(delay.values()), index=pd.MultiIndex.from_tuples(list(delay)), dtype="int64") \
        if delay else pd.Series([], index=pd.MultiIndex.from_arrays([[], []]), dtype="int64")
    changed = ~first & ((p_cls != cls) | (p_mix != mix))
    type_s = pd.Series(table.reindex(pairs).fillna(0).to_numpy(dtype="int64"), index=seq.index).where(changed, 0)
    l2s = machine.map({m: v[0] for m, v in changeovers.width.items()}).fillna(0).astype("int64")
    s2l = machine.map({m: v[1] for m, v in changeovers.width.items()}).fillna(0).astype("int64")
    narrower, wider = ~first & (width < p_width), ~first & (width > p_width)
    width_s = l2s.where(narrower, s2l.where(wider, 0))

    typed, widths = type_s > 0, width_s > 0
    cls_change, mix_change = typed & (p_cls != cls), typed & (p_mix != mix)

    def none(t: pd.Series) -> pd.Series:
        return t.where(t != "", "none")

    parts = [
        ("class change " + p_cls + "→" + cls + " (" + _slots_text(type_s) + ")").where(cls_change, ""),
        ("mixture change " + none(p_mix) + "→" + none(mix)
         + (" (" + _slots_text(type_s) + ")").where(~cls_change, "")).where(mix_change, ""),
        ("width change " + pd.Series(np.where(narrower, "long→short", "short→long"), index=seq.index) + " "
         + p_width.astype(str) + "→" + width.astype(str) + " (" + _slots_text(width_s) + ")").where(widths, ""),
    ]
    reason = parts[0]
    for part in parts[1:]:
        reason = reason.where(part == "", reason.where(reason == "", reason + "; ") + part)
    after = ("after " + prev_op.astype(str)).where(~first, "on the machine's first operation")
    reason = reason.where(reason != "", "setup " + _slots_text(setup) + " without a changeover " + after)
    return pd.DataFrame({"op_id": op_id, "machine": machine, "prev_op": prev_op, "setup_slots": setup,
                         "type_slots": type_s, "width_slots": width_s, "reason": reason.where(setup > 0, "")},
                        columns=SETUP_COLUMNS)


# --------------------------------------------------------------------------- the view
@dataclass(frozen=True, eq=False)
class PlanView:
    """The facts of one schedule that every result reads (see the module docstring).

    ``schedule`` holds the stage-5 rows in machine sequence (machine, start, end, op_id);
    ``setups`` has a row per operation in the same order (SETUP_COLUMNS): its machine
    predecessor, the setup charged, the type and width changeover the tables ask for, and the
    reason ("" when no setup is charged).
    """

    schedule: pd.DataFrame
    calendar: Calendar
    machines: tuple[str, ...]
    machine_names: Mapping[str, str]
    downtime: Mapping[str, tuple[tuple[int, int], ...]]
    setups: pd.DataFrame
    classes: tuple[str, ...]
    changeovers: Changeovers

    @classmethod
    def build(cls, schedule: pd.DataFrame, dag: Any = None, tables: Mapping[str, Any] | None = None,
              calendar: Mapping[str, Any] | Calendar | None = None) -> PlanView:
        """The view of ``schedule`` (stage 5's frame) with the DAG, input tables and calendar."""
        tables = tables or {}
        missing = [c for c in PLAN_COLUMNS if c not in schedule.columns]
        if missing:
            raise ProdschedError(f"the schedule lacks column(s) {missing}")
        cal = calendar_of(calendar, dag, schedule)
        seq = schedule.assign(op_id=schedule["op_id"].astype(str), machine=schedule["machine"].astype(str))
        seq = seq.sort_values(["machine", "start", "end", "op_id"], kind="stable").reset_index(drop=True)
        master = tables.get("machine_master_info")
        order = machine_order(master) or [str(m) for m in _graph_attrs(dag).get("machines") or []]
        machines = order + sorted(set(seq["machine"]) - set(order))
        names = {}
        if master is not None and len(master) and "machine_name" in master.columns:
            names = {str(m): _text(n) for m, n in zip(master["machine"], master["machine_name"])}
        changeovers = Changeovers.from_tables(tables)
        setups = _setup_table(seq, changeovers)
        types = tables.get("operation_types")
        listed = [str(c) for c in types["op_class"]] if types is not None and "op_class" in types else []
        classes = tuple(dict.fromkeys(listed + sorted({str(c) for c in seq["op_class"]})))
        return cls(seq, cal, tuple(machines), names, downtime_slots(tables, cal), setups.astype(
            {c: "int64" for c in ("setup_slots", "type_slots", "width_slots")}), classes, changeovers)

    @cached_property
    def makespan(self) -> int:
        return int(self.schedule["end"].max()) if len(self.schedule) else 0

    @cached_property
    def rows(self) -> dict[str, int]:
        """Each machine's position in :attr:`machines` (its row in a chart or table)."""
        return {m: i for i, m in enumerate(self.machines)}

    @cached_property
    def _reasons(self) -> dict[str, str]:
        return dict(zip(self.setups["op_id"], self.setups["reason"]))

    def reason(self, op_id: str) -> str:
        """Why the setup right before ``op_id`` is charged ("" when none is)."""
        return self._reasons.get(str(op_id), "")


def as_plan(source: PlanView | pd.DataFrame, tables: Mapping[str, Any] | None = None, dag: Any = None,
            *, base_date: Any = None, slot_minutes: Any = None) -> PlanView:
    """``source`` when it is a PlanView already, else the view built from a schedule frame."""
    if isinstance(source, PlanView):
        if tables is not None or dag is not None or base_date is not None or slot_minutes is not None:
            raise TypeError("a PlanView already holds its tables, DAG and calendar; pass it alone")
        return source
    calendar = {k: v for k, v in (("base_date", base_date), ("slot_minutes", slot_minutes)) if v is not None}
    return PlanView.build(source, dag, tables, calendar)
