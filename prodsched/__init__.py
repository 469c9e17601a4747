"""prodsched: a Jupyter-native production scheduler for coating/laminating plants."""

from prodsched.errors import InputError, ProdschedError, ScheduleError
from prodsched.params import Params

__version__ = "0.1.0"

__all__ = ["InputError", "Params", "ProdschedError", "ScheduleError", "__version__", "compare", "sweep"]


def __getattr__(name: str):
    """``prodsched.sweep`` and ``prodsched.compare`` are imported on first use (they pull in pandas,
    the stages and, for compare, the widgets)."""
    if name == "sweep":
        import importlib

        return importlib.import_module("prodsched.sweep")
    if name in ("compare", "compare_view"):  # the panel's compare view of a sweep or the store's sessions
        import importlib

        return importlib.import_module("prodsched.jupyter.compare").compare_view
    raise AttributeError(f"module 'prodsched' has no attribute {name!r}")
