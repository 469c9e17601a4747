"""Width-combination table: which order widths share one fabric, or run several-up on it.

A table is a list of rows, tried in order. Each row is a dict:

    {"lanes": [508, 1016], "fabric_width_mm": 1500}    a 508 job and a 1016 job share one fabric
    {"lanes": [508], "up": 2, "fabric_width_mm": 1000} a 508 job runs two-up: fabric length halved
    {"lanes": "*", "fabric_width_mm": 1300}             fallback: any job not matched so far, alone

Keys:
  lanes            list of order widths in mm, one *different* job per entry (a repeated width,
                   e.g. [508, 508], combines two different jobs of that width); or "*" = any one job.
  fabric_width_mm  width of the fabric the routing processes (int > 0). It is the plant's nominal
                   fabric and is not checked against the sum of the lanes (1016 runs on 1000).
  up               optional int >= 1 (default 1): every job of the row is laid side by side `up`
                   times, so its fabric length is its length / up.
  name             optional label used in the stage summary (default e.g. "508+1016 on 1500").

Matching: jobs (already merged by item, width, roll length and due month) are combined only with
jobs of the same item and due month. For each row in turn, within each (item, month) the
still-unmatched jobs of each lane width are taken in order (earliest due, then input order) and
as many complete combinations as possible are formed; a row with a single lane therefore takes
every remaining job of that width. The "*" row, if present, must be the last row. A job that no
row matches is reported as unable (reason ``no_width_combination``), never dropped.

Fabric length of a combination = the longest lane (max of job length / up).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from prodsched.errors import ProdschedError
from prodsched.inputs.groups import rank_in_runs

ANY = "*"

DEFAULT_WIDTH_COMBINATIONS: list[dict[str, Any]] = [
    {"lanes": [1524], "fabric_width_mm": 1500},
    {"lanes": [508, 1016], "fabric_width_mm": 1500},
    {"lanes": [1016], "fabric_width_mm": 1000},
    {"lanes": [508], "up": 2, "fabric_width_mm": 1000},
    {"lanes": [609, 914], "fabric_width_mm": 1500},
    {"lanes": [609], "fabric_width_mm": 1500},
    {"lanes": [914], "fabric_width_mm": 1500},
    {"lanes": [762], "up": 2, "fabric_width_mm": 1500},
    {"lanes": ANY, "fabric_width_mm": 1300},
]

_KEYS = {"lanes", "fabric_width_mm", "up", "name"}


class WidthTableError(ProdschedError, ValueError):
    """The width-combination table is malformed; the message names the row and the key."""


@dataclass(frozen=True)
class WidthRule:
    lanes: tuple[int, ...] | None  # None = "*" (any single job)
    fabric_width_mm: int
    up: int = 1
    name: str = ""

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        lanes = "any" if self.lanes is None else "+".join(str(w) for w in self.lanes)
        if self.up > 1:
            lanes = f"({lanes})x{self.up}" if self.lanes is not None and len(self.lanes) > 1 else f"{lanes}x{self.up}"
        return f"{lanes} on {self.fabric_width_mm}"


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value) if value > 0 else None
    if isinstance(value, (float, np.floating)) and float(value).is_integer() and value > 0:
        return int(value)
    return None


def resolve_table(table: Sequence[dict[str, Any]] | None) -> list[WidthRule]:
    """Validate a user table (None = plant default) and return its rules; WidthTableError if bad."""
    if table is None:
        table = DEFAULT_WIDTH_COMBINATIONS
    if isinstance(table, (str, bytes, dict)) or not isinstance(table, Sequence):
        raise WidthTableError(
            f"width_combinations must be a list of rows like "
            f'{{"lanes": [508, 1016], "fabric_width_mm": 1500}}, got {type(table).__name__}'
        )
    if len(table) == 0:
        raise WidthTableError("width_combinations is empty; give at least one row, e.g. "
                              '{"lanes": "*", "fabric_width_mm": 1300}')
    rules: list[WidthRule] = []
    for number, row in enumerate(table, start=1):
        where = f"width_combinations row {number}"
        if not isinstance(row, dict):
            raise WidthTableError(f"{where}: must be a dict, got {row!r}")
        unknown = sorted(set(row) - _KEYS)
        if unknown:
            raise WidthTableError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
        for key in ("lanes", "fabric_width_mm"):
            if key not in row:
                raise WidthTableError(f"{where}: missing key {key!r} (row is {row!r})")
        lanes_raw = row["lanes"]
        if isinstance(lanes_raw, str) and lanes_raw.strip() == ANY:
            lanes = None
        elif isinstance(lanes_raw, (list, tuple)) and len(lanes_raw) > 0:
            widths = [_positive_int(w) for w in lanes_raw]
            if any(w is None for w in widths):
                raise WidthTableError(
                    f"{where}: 'lanes' must hold positive whole widths in mm, got {list(lanes_raw)!r}")
            lanes = tuple(widths)  # type: ignore[arg-type]
        else:
            raise WidthTableError(
                f"{where}: 'lanes' must be a non-empty list of widths in mm or \"*\", got {lanes_raw!r}")
        fabric = _positive_int(row["fabric_width_mm"])
        if fabric is None:
            raise WidthTableError(
                f"{where}: 'fabric_width_mm' must be a positive whole number, got {row['fabric_width_mm']!r}")
        up = _positive_int(row.get("up", 1))
        if up is None:
            raise WidthTableError(f"{where}: 'up' must be a whole number >= 1, got {row.get('up')!r}")
        name = row.get("name", "")
        if not isinstance(name, str):
            raise WidthTableError(f"{where}: 'name' must be a string, got {name!r}")
        if rules and rules[-1].lanes is None:
            raise WidthTableError(
                f"{where}: comes after the \"*\" fallback row {number - 1}, so it could never match; "
                "the fallback must be the last row")
        rules.append(WidthRule(lanes, fabric, up, name))
    return rules


def combine(groups: pd.DataFrame, rules: Sequence[WidthRule]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assign merged jobs to fabric combinations.

    ``groups`` has one row per merged job with columns ``key`` (unique), ``item``, ``month``,
    ``width_mm`` and ``order`` (the pairing order: earliest due, then input order).
    Returns (assigned, unmatched): assigned has columns key, combo (int), lane (int),
    rule (int, 0-based row), fabric_width_mm, up; unmatched is the rows of ``groups`` no rule took.
    Combinations of a row are numbered by item, month and position, in that (sorted) order.
    """
    pool = groups.sort_values("order", kind="stable")
    # integer codes, in sorted order, of item and month; widths as they are
    item = pd.factorize(pool["item"], sort=True)[0]
    month = pd.factorize(pool["month"], sort=True)[0]
    width = pool["width_mm"].to_numpy()
    free = np.ones(len(pool), dtype=bool)  # still in the pool
    parts: list[pd.DataFrame] = []
    next_combo = 0
    for index, rule in enumerate(rules):
        if not free.any():
            break
        if rule.lanes is None:
            rows = np.flatnonzero(free)
            combo = np.arange(len(rows)) + next_combo
            lane = np.zeros(len(rows), dtype=int)
        else:
            found = _lane_matches(item, month, width, free, rule.lanes)
            if found is None:
                continue
            rows, combo, lane = found
            combo = combo + next_combo
        parts.append(pd.DataFrame({
            "key": pool["key"].to_numpy()[rows],
            "combo": combo,
            "lane": lane,
            "rule": index,
            "fabric_width_mm": rule.fabric_width_mm,
            "up": rule.up,
        }))
        next_combo = int(combo.max()) + 1
        free[rows] = False
    columns = ["key", "combo", "lane", "rule", "fabric_width_mm", "up"]
    assigned = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return assigned, pool[free]


def _lane_matches(item: np.ndarray, month: np.ndarray, width: np.ndarray, free: np.ndarray,
                  lanes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The jobs one row of lanes takes from the pool (``free`` rows, in pairing order): their row
    numbers, combination numbers from 0 (by item, month, position) and lanes; None when it takes none.

    Within an (item, month) the k-th free job of a width that appears m times in ``lanes`` goes to
    combination k // m, slot k % m; only as many combinations as every width can fill are kept."""
    mult = Counter(lanes)
    widths = list(mult)
    rows = np.flatnonzero(free & np.isin(width, widths))
    if not len(rows):
        return None
    sorted_widths = np.sort(widths)
    lane_width = np.searchsorted(sorted_widths, width[rows])  # which of the row's widths
    per_width = np.array([mult[w] for w in sorted_widths])
    n_widths = len(sorted_widths)
    pair = item[rows].astype(np.int64) * (month.max() + 1) + month[rows]  # (item, month) as one code
    group = pair * n_widths + lane_width  # (item, month, width)
    order = np.argsort(group, kind="stable")
    rank = np.empty(len(rows), dtype=np.int64)
    rank[order] = rank_in_runs(group[order])
    m = per_width[lane_width]
    position, slot = rank // m, rank % m
    pairs, pair_code = np.unique(pair, return_inverse=True)
    counts = np.zeros((len(pairs), n_widths), dtype=np.int64)
    np.add.at(counts, (pair_code, lane_width), 1)
    complete = (counts // per_width).min(axis=1)  # combinations every width can fill
    keep = position < complete[pair_code]
    if not keep.any():
        return None
    rows, position, slot, pair = rows[keep], position[keep], slot[keep], pair[keep]
    combo = np.unique(np.stack([pair, position]), axis=1, return_inverse=True)[1].reshape(-1)
    lanes_of = {w: [i for i, x in enumerate(lanes) if x == w] for w in mult}
    lane = np.array([lanes_of[w][s] for w, s in zip(width[rows], slot)], dtype=int)
    return rows, combo, lane
