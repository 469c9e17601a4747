"""The 12 input tables: canonical columns, header aliases, dtypes, keys.

Canonical column names are English snake_case. The Korean headers of the plants' exports are
accepted as aliases, and so are case / whitespace / ``-`` / ``_`` variants of the canonical
names. Unknown extra columns are kept. After loading every table has its canonical columns
(in this order), then any extra columns, then ``_row`` (the row as the user counts it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# column kinds -> pandas dtype after load
DTYPES = {"str": object, "int": "int64", "float": "float64", "date": "datetime64[ns]",
          "datetime": "datetime64[ns]"}
ROW = "_row"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str = "str"  # str | int | float | date (midnight) | datetime
    required: bool = True  # the column must be present (its cells must be filled)
    aliases: tuple[str, ...] = ()  # the first alias is the plant export header
    default: Any = None  # value of an absent optional column / empty optional cell
    min_value: float | None = None  # numbers must be >= this (with ``strict``: >)
    strict: bool = False

    @property
    def export_header(self) -> str:
        return self.aliases[0] if self.aliases else self.name


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    export_file: str  # the plant export file name
    keys: tuple[tuple[str, ...], ...] = ()  # duplicate-detection keys (first row wins)
    optional: bool = False  # the table may be absent
    may_be_empty: bool = False  # an empty (present) table is a warning, not an error
    description: str = ""
    derived: tuple[str, ...] = field(default=())  # filled by the loader, not required in input

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name, kind="str", required=True, *aliases, default=None, min_value=None, strict=False):
    if default is None and not required:
        default = {"str": "", "float": 0.0, "int": 0}.get(kind)
    return ColumnSpec(name, kind, required, tuple(aliases), default, min_value, strict)


_OPS = tuple(_c(f"op{k}", "str", False, f"{k}공정") for k in range(1, 8))

SPECS: dict[str, TableSpec] = {
    s.name: s
    for s in (
        TableSpec(
            "order_data",
            (
                _c("po_no", "str", True, "P/O NO", "PO"),
                _c("item", "str", True, "GITEM"),
                _c("item_name", "str", False, "GITEM명"),
                _c("width_mm", "int", True, "너비", min_value=0, strict=True),
                _c("roll_length_m", "float", False, "길이", min_value=0),
                _c("rolls", "float", False, "의뢰량", min_value=0),
                _c("length_m", "float", False, "원단길이", min_value=0),
                _c("due", "date", True, "납기일"),
            ),
            "user_step1_order_data.json",
            keys=(("po_no",),),
            description="one row per purchase order; length_m = roll_length_m x rolls when absent",
        ),
        TableSpec(
            "operation_sequence",
            (
                _c("item", "str", True, "GITEM"),
                _c("operation_code", "str", False, "공정코드"),
                _c("operation", "str", True, "공정명"),
                _c("mixture", "str", False, "배합코드"),
                _c("seq", "int", True, "공정순서", min_value=0, strict=True),
                _c("aging_hours", "float", False, "숙성시간", min_value=0),
            ),
            "md_step1_operation_sequence.json",
            keys=(("item", "seq"), ("item", "operation")),
            description="routing: each item's operations in order 1..n",
        ),
        TableSpec(
            "linespeed",
            (
                _c("item", "str", True, "GITEM"),
                _c("operation", "str", True, "공정명"),
                _c("machine", "str", True, "기계코드"),
                _c("speed_m_min", "float", True, "속도", "라인스피드", "speed", min_value=0),
            ),
            "md_step2_linespeed.json",
            keys=(("item", "operation", "machine"),),
            description="speed in m/min per (item, operation, machine); wide form accepted",
        ),
        TableSpec(
            "machine_master_info",
            (
                _c("machine", "str", True, "기계코드"),
                _c("machine_index", "int", False, "기계인덱스"),
                _c("machine_name", "str", False, "기계이름", "기계명"),
            ),
            "md_step2_machine_master_info.json",
            keys=(("machine",), ("machine_index",)),
            description="the machines",
        ),
        TableSpec(
            "yield_data",
            (
                _c("item", "str", True, "GITEM"),
                _c("operation", "str", True, "공정명"),
                _c("machines", "str", False, "기계코드", "machine"),
                _c("yield", "float", True, "수율"),
            ),
            "md_step3_yield_data.json",
            may_be_empty=True,
            description="observed yields, fraction in (0, 1] (percent columns converted)",
        ),
        TableSpec(
            "gitem_operation",
            (_c("item", "str", True, "GITEM"),) + _OPS,
            "md_step1_gitem_operation.json",
            keys=(("item",),),
            optional=True,
            may_be_empty=True,
            description="wide routing, cross-checked against operation_sequence",
        ),
        TableSpec(
            "operation_types",
            (
                _c("operation_code", "str", False, "공정코드"),
                _c("operation", "str", True, "공정명"),
                _c("op_class", "str", True, "공정분류"),
            ),
            "md_step4_operation_types.json",
            keys=(("operation",),),
            may_be_empty=True,
            description="operation class of each operation",
        ),
        TableSpec(
            "operation_delay",
            (
                _c("from_class", "str", True, "선행공정분류"),
                _c("to_class", "str", True, "후행공정분류"),
                _c("setup_slots", "int", True, "타입교체시간", min_value=0),
            ),
            "md_step5 operation_delay.json",
            keys=(("from_class", "to_class"),),
            may_be_empty=True,
            description="class changeover time in slots",
        ),
        TableSpec(
            "width_change",
            (
                _c("machine_index", "int", True, "기계인덱스"),
                _c("machine_name", "str", False, "기계명", "기계이름"),
                _c("long_to_short", "int", True, "광폭→협폭", min_value=0),
                _c("short_to_long", "int", True, "협폭→광폭", min_value=0),
                _c("machine", "str", False, "기계코드"),
            ),
            "md_step5 width_change.json",
            keys=(("machine_index",),),
            may_be_empty=True,
            description="width changeover per machine, in slots",
            derived=("machine",),
        ),
        TableSpec(
            "machine_rest",
            (
                _c("machine", "str", False, "기계코드"),
                _c("machine_index", "int", False, "기계인덱스"),
                _c("start", "datetime", True, "시작시간"),
                _c("end", "datetime", True, "종료시간"),
            ),
            "user_step2_machine_rest.json",
            keys=(("machine", "start", "end"),),
            optional=True,
            may_be_empty=True,
            description="planned downtime",
        ),
        TableSpec(
            "machine_allocate",
            (_c("operation", "str", True, "공정명"), _c("machine", "str", True, "기계코드")),
            "user_step2_machine_allocate.json",
            keys=(("operation", "machine"),),
            optional=True,
            may_be_empty=True,
            description="the operation may run only on the listed machine(s)",
        ),
        TableSpec(
            "machine_limit",
            (_c("operation", "str", True, "공정명"), _c("machine", "str", True, "기계코드")),
            "user_step2_machine_limit.json",
            keys=(("operation", "machine"),),
            optional=True,
            may_be_empty=True,
            description="the operation must not run on the listed machine",
        ),
    )
}

# Tables given with a run rather than in DATA (``Params.pins``, ``prodsched replan --pin``):
# read and validated like the 12 tables, never looked for in the input folder.
RUN_SPECS: dict[str, TableSpec] = {
    "pinned": TableSpec(
        "pinned",
        (
            _c("po_no", "str", False, "P/O NO", "PO"),
            _c("op_id", "str", False),
            _c("operation", "str", False, "공정명"),
            _c("machine", "str", True, "기계코드"),
            _c("start", "datetime", True, "시작시간"),
        ),
        "pinned.csv",
        optional=True,
        may_be_empty=True,
        description="operations fixed on a machine at a start time: op_id, or po_no and operation",
    ),
}

TABLE_NAMES: tuple[str, ...] = tuple(SPECS)
REQUIRED_TABLES: tuple[str, ...] = tuple(n for n, s in SPECS.items() if not s.optional)
OPTIONAL_TABLES: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.optional)
MIXTURE_NONE = {"", "배합x", "none", "nan", "null", "-", "없음", "n/a", "na"}


def header_key(name: Any) -> str:
    """Comparison key of a header: lower case without whitespace, ``_`` or ``-``."""
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def _alias_map(spec: TableSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in spec.columns:
        for alias in (c.name, *c.aliases):
            out.setdefault(header_key(alias), c.name)
    return out


def spec_of(table: str) -> TableSpec:
    """The spec of one of the 12 tables or of a run table (``pinned``)."""
    return SPECS[table] if table in SPECS else RUN_SPECS[table]


_ALIASES = {name: _alias_map(spec) for name, spec in {**SPECS, **RUN_SPECS}.items()}


def canonical_column(table: str, header: Any) -> str | None:
    """The canonical column a header stands for in ``table`` (None when unknown)."""
    return _ALIASES[table].get(header_key(header))


def table_key(file_stem: str) -> str | None:
    """The table a file or sheet name stands for, or None.

    Accepts ``order_data``, ``Order Data``, and the plant export names
    (``user_step1_order_data``, ``md_step5 operation_delay`` ...), case-insensitively.
    """
    stem = str(file_stem).strip().lower()
    stem = re.sub(r"^(md|user)[\s_\-]*step\s*\d+[\s_\-]*", "", stem)
    stem = re.sub(r"[\s\-]+", "_", stem).strip("_")
    return stem if stem in SPECS else None


def empty_table(name: str) -> pd.DataFrame:
    """An empty table with the canonical columns and dtypes (and ``_row``)."""
    spec = spec_of(name)
    frame = pd.DataFrame({c.name: pd.Series([], dtype=DTYPES[c.kind]) for c in spec.columns})
    frame[ROW] = pd.Series([], dtype="int64")
    return frame


def machine_order(machine_master_info: pd.DataFrame | None) -> list[str]:
    """The plant's machine codes in machine_index order (the first row of a repeated code wins)."""
    master = machine_master_info
    if master is None or len(master) == 0 or "machine" not in master.columns:
        return []
    if "machine_index" in master.columns:
        master = master.sort_values("machine_index", kind="stable")
    return list(dict.fromkeys(str(m) for m in master["machine"]))
