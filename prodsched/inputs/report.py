"""ValidationReport: one entry per problem found in the input tables.

Each entry names the severity ("error" or "warning"), the table, the row as the user counts it
(CSV: the first data row is 2; JSON: the 1-based record number; xlsx: the sheet row), the column,
the offending value and a message. Only errors stop a run (stage 1 raises ``InputError``).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator

import pandas as pd

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)
COLUMNS = ("severity", "table", "row", "column", "value", "message")


@dataclass(frozen=True)
class Issue:
    severity: str
    table: str
    row: int | None
    column: str
    value: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _width(text: str) -> int:
    """Display width in a terminal: East Asian wide characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


class ValidationReport:
    """An ordered list of :class:`Issue` with helpers to filter, tabulate and print it."""

    def __init__(self, issues: Iterable[Issue] = ()):
        self._issues: list[Issue] = list(issues)

    def add(
        self,
        severity: str,
        table: str,
        row: int | None,
        column: str | None,
        value: Any,
        message: str,
    ) -> Issue:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
        issue = Issue(
            severity=severity,
            table=table or "",
            row=None if row is None or (isinstance(row, float) and math.isnan(row)) else int(row),
            column=column or "",
            value=_value_text(value),
            message=message,
        )
        self._issues.append(issue)
        return issue

    def error(self, table: str, row: int | None, column: str | None, value: Any, message: str) -> Issue:
        return self.add(ERROR, table, row, column, value, message)

    def warning(self, table: str, row: int | None, column: str | None, value: Any, message: str) -> Issue:
        return self.add(WARNING, table, row, column, value, message)

    def extend(self, other: "ValidationReport | Iterable[Issue]") -> None:
        self._issues.extend(list(other))

    @property
    def issues(self) -> list[Issue]:
        return list(self._issues)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self._issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self._issues if i.severity == WARNING]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(i.severity == ERROR for i in self._issues)

    def for_table(self, table: str) -> list[Issue]:
        return [i for i in self._issues if i.table == table]

    def __iter__(self) -> Iterator[Issue]:
        return iter(list(self._issues))

    def __len__(self) -> int:
        return len(self._issues)

    def __bool__(self) -> bool:  # a report object is always truthy, even when empty
        return True

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with columns severity, table, row (nullable int), column, value, message."""
        frame = pd.DataFrame([i.to_dict() for i in self._issues], columns=list(COLUMNS))
        frame["row"] = frame["row"].astype("Int64")
        for col in ("severity", "table", "column", "value", "message"):
            frame[col] = frame[col].astype(object).fillna("").astype(str)
        return frame

    def to_records(self, limit: int | None = None) -> list[dict[str, Any]]:
        """JSON-able list of issues (errors first), at most ``limit`` of them."""
        ordered = self.errors + self.warnings
        return [i.to_dict() for i in (ordered if limit is None else ordered[:limit])]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame | None) -> "ValidationReport":
        report = cls()
        if frame is None:
            return report
        for rec in frame.to_dict("records"):
            row = rec.get("row")
            row = None if row is None or pd.isna(row) else int(row)
            report.add(str(rec.get("severity", ERROR)), str(rec.get("table", "")), row,
                       str(rec.get("column", "")), rec.get("value", ""), str(rec.get("message", "")))
        return report

    def summary_line(self) -> str:
        return f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"

    def __str__(self) -> str:
        if not self._issues:
            return "validation: no problems found"
        head = COLUMNS
        rows = [
            (i.severity, i.table, "" if i.row is None else str(i.row), i.column,
             i.value if len(i.value) <= 24 else i.value[:21] + "...", i.message)
            for i in self.errors + self.warnings
        ]
        widths = [max(_width(head[k]), *(_width(r[k]) for r in rows)) for k in range(5)]
        lines = ["  ".join(_pad(h, w) for h, w in zip(head[:5], widths)) + "  " + head[5]]
        lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(head[5]))
        for r in rows:
            lines.append("  ".join(_pad(c, w) for c, w in zip(r[:5], widths)) + "  " + r[5])
        lines.append(f"({self.summary_line()})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ValidationReport {self.summary_line()}>"

    def _repr_html_(self) -> str:
        if not self._issues:
            return "<p>validation: no problems found</p>"
        return self.to_frame().to_html(index=False, na_rep="")
