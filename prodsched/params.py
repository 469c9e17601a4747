"""Run parameters shared by every stage, the session, the notebooks and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

RULE_DEFAULT = "window"

# Result files stage 6 can write, by name (schedule.csv, kpis.json and run.json are always written):
OUTPUTS = {
    "csv": "orders.csv, unable.csv, validation.csv",
    "json": "kpis.json (always written)",
    "xlsx": "results.xlsx",
    "png": "gantt.png",
    "html": "gantt.html",
}


def parse_outputs(value: str | list[str] | tuple[str, ...] | set[str] | None) -> frozenset[str]:
    """The set of OUTPUTS names ``value`` chooses: None, "" or "all" = all of them; else a
    comma-separated text or a list of names. ValueError names what is not an output."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "all")):
        return frozenset(OUTPUTS)
    if isinstance(value, str):
        names = [v.strip().lower() for v in value.split(",")]
    elif isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        names = [v.strip().lower() for v in value]
    else:
        raise ValueError("must be 'all' or result file kinds such as 'csv,json'")
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(OUTPUTS) - {"all"})
    if unknown:
        raise ValueError(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a result file kind; "
                         f"choose from all, {', '.join(OUTPUTS)}")
    return frozenset(OUTPUTS) if "all" in names or not names else frozenset(names) | {"json"}


@dataclass
class Params:
    """Everything a run depends on besides its input data; JSON-serialisable."""

    data: str | None = None  # input folder, .xlsx workbook or JSON payload file
    slot_minutes: int = 30  # length of one time slot in minutes
    base_date: str | None = None  # None = first day of the month of the earliest due; "today"; or ISO date
    window_days: int = 5  # ± days around the head operation's due date for the `window` rule
    rule: str = RULE_DEFAULT  # dispatch rule name (see prodsched.engine.rules.RULES)
    seed: int = 0  # tie-break seed: same input + params + seed -> same schedule
    time_limit_s: float | None = None  # caps the optimiser's wall time (None = no cap)
    objective: str = "tardiness"  # how schedules are judged (prodsched.engine.OBJECTIVES)
    improve_iterations: int = 0  # optimiser iterations after the dispatch (0 = dispatch only)
    objective_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"weights": {...}}
    solver: str | None = None  # None: dispatch (+ optimiser); "cpsat": OR-Tools CP-SAT from that start
    min_yield: float = 0.9  # yields below this are clamped up to it
    yield_policy: str = "cumulative"  # "cumulative" or "item_product"
    width_combinations: list[dict[str, Any]] | None = None  # None = the plant default table
    out: str | None = None  # folder for result files (stage 6)
    # re-planning (README "Re-planning"): nothing new starts before ``now`` ("2025-06-03 08:00");
    # ``replan_from`` is a run folder whose operations that started before now are kept; ``pins``
    # is a pinned table (a .csv/.json/.parquet path or a list of records)
    now: str | None = None
    replan_from: str | None = None
    pins: str | list[dict[str, Any]] | None = None
    outputs: str | list[str] | None = None  # result files: None/"all", or e.g. "csv,json" (see OUTPUTS)
    extra: dict[str, Any] = field(default_factory=dict)  # rule-specific settings

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "Params":
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def updated(self, **changes: Any) -> "Params":
        merged = self.to_dict()
        merged.update({k: v for k, v in changes.items()})
        return Params.from_dict(merged)
