"""Scenario sweeps and parameter search on Dask (DESIGN.md section 6b).

``prodsched.sweep(data, grid=…)`` returns one row per scenario (this package is callable: calling
it calls :func:`prodsched.sweep.run.sweep`). ``dask[distributed]`` (and ``optuna`` for
``search="optuna"``) come with the ``prodsched[dask]`` extra.
"""

import sys
import types

from prodsched.sweep.grid import GridError, expand
from prodsched.sweep.run import sweep
from prodsched.sweep.task import schedule_hash

__all__ = ["GridError", "expand", "schedule_hash", "sweep"]


class _CallablePackage(types.ModuleType):
    """``prodsched.sweep`` is both this package and the function (the import system sets the
    package as the attribute of ``prodsched``, so the package itself answers calls)."""

    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
