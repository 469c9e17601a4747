"""prodsched: a Jupyter-native production scheduler for coating/laminating plants."""

from prodsched.errors import InputError, ProdschedError, ScheduleError
from prodsched.params import Params

__version__ = "0.1.0"

__all__ = ["InputError", "Params", "ProdschedError", "ScheduleError", "__version__"]
