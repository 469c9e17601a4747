"""Runs of equal neighbours: the array form of groupby().cumcount() the input and stage code use."""

import numpy as np
import pandas as pd

from prodsched.inputs.groups import rank_in_runs, run_starts


def test_runs_and_ranks_match_pandas_on_grouped_keys():
    rng = np.random.default_rng(0)
    keys = np.sort(rng.integers(0, 7, size=200))
    assert run_starts(keys).tolist() == np.flatnonzero(np.diff(keys, prepend=keys[0] - 1)).tolist()
    assert rank_in_runs(keys).tolist() == pd.Series(keys).groupby(keys).cumcount().tolist()


def test_neighbours_count_not_sorting_and_empty_keys():
    keys = np.array([3, 3, 1, 3, 3, 3])  # 3 appears in two runs
    assert run_starts(keys).tolist() == [0, 2, 3]
    assert rank_in_runs(keys).tolist() == [0, 1, 0, 0, 1, 2]
    assert run_starts(np.array([], dtype=int)).tolist() == [] and rank_in_runs(np.array([], dtype=int)).tolist() == []
