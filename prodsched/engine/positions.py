"""Moves of one operation to a range of positions, made only when read (DESIGN §4).

A neighbourhood may offer thousands of such moves per iteration while the optimiser tries a
few: :class:`PositionRanges` keeps the ranges and makes a move ``(x, m, p)`` when it is read,
in the order the ranges were added, so sampling it gives the moves a list would.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence


class PositionRanges(Sequence):
    """Moves ``(x, m, p)`` for ``p`` in ranges, in the order added, made only when read.
    Callers add each ``(x, m)`` once, so no move appears twice (the search dedupes lists, not
    these)."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, int, int]] = []  # (x, m, first p)
        self._ends: list[int] = []  # cumulative counts

    def add(self, x: int, m: int, first: int, stop: int) -> None:
        if stop > first:
            self._rows.append((x, m, first))
            self._ends.append((self._ends[-1] if self._ends else 0) + stop - first)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __getitem__(self, i):
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        k = bisect_right(self._ends, i)
        x, m, first = self._rows[k]
        return x, m, first + i - (self._ends[k - 1] if k else 0)
