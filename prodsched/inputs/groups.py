"""Runs of equal neighbours in a grouped array (e.g. sorted keys): where each run starts and each
element's place in its run, the array form of ``groupby(...).cumcount()``."""

from __future__ import annotations

import numpy as np


def run_starts(keys: np.ndarray) -> np.ndarray:
    """Positions of the first element of each run of equal neighbours in ``keys``."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """Each element's place (0, 1, ...) in its run of equal neighbours in ``keys``."""
    starts = run_starts(keys)
    return np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
