"""prodsched: a Jupyter-native production scheduler for coating/laminating plants."""

from prodsched.errors import InputError, ProdschedError, ScheduleError
from prodsched.params import Params

__version__ = "0.1.0"

__all__ = ["InputError", "Params", "ProdschedError", "ScheduleError", "__version__", "sweep"]


def __getattr__(name: str):
    """``prodsched.sweep`` is imported on first use (it pulls in pandas and the stages)."""
    if name == "sweep":
        import importlib

        return importlib.import_module("prodsched.sweep")
    raise AttributeError(f"module 'prodsched' has no attribute {name!r}")
