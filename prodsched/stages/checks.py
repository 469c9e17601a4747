"""Parameters checked before stage 1 runs: a bad one is a ParameterError naming it.

The CLI, the Python API (Session.create / set_params), the notebooks and the panel all go through
:func:`check_params`, so a run never fails halfway, or leaves a session behind, for a parameter
that could have been checked up front.
"""

from __future__ import annotations

import datetime as dt
import math
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from prodsched.errors import ParameterError
from prodsched.params import Params, parse_outputs


def _integer(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(name, value, "must be a whole number")
    if value < low:
        raise ParameterError(name, value, f"must be at least {low}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ParameterError(name, value, "must be a finite number")
    return float(value)


def _base_date(value: Any) -> None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto", "today")):
        return
    if isinstance(value, dt.date):
        return
    try:
        dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ParameterError("base_date", value, "must be 'auto', 'today' or a date like 2025-06-01") from None


def check_params(params: Params | dict[str, Any], *, data_exists: bool = True) -> Params:
    """The parameters as Params, or ParameterError naming the first bad one.

    ``data_exists=False`` skips the check that the input path exists (a shared session may have
    been started on another machine; its data is checked where it is set).
    """
    # imported here: the rule registry and the width table bring in the engine and pandas, which
    # commands that only read a session (``prodsched status``) do not need
    from prodsched.engine.rules import RULES
    from prodsched.inputs.widths import WidthTableError, resolve_table
    from prodsched.stages.yields import POLICIES

    if isinstance(params, dict):
        try:
            params = Params.from_dict(params)
        except ValueError as exc:
            raise ParameterError(", ".join(sorted(set(params) - set(Params().to_dict()))), None,
                                 str(exc)) from None
    if params.data is not None and not isinstance(params.data, (str, Path)):
        raise ParameterError("data", params.data, "must be a path to a folder, .xlsx workbook or JSON file")
    if data_exists and params.data is not None and not Path(params.data).exists():
        raise ParameterError("data", str(params.data), "no such file or folder")
    _integer("slot_minutes", params.slot_minutes, 1)
    if 1440 % params.slot_minutes:
        raise ParameterError("slot_minutes", params.slot_minutes, "must divide a day (1440 minutes) evenly")
    _base_date(params.base_date)
    if _number("window_days", params.window_days) < 0:
        raise ParameterError("window_days", params.window_days, "must be 0 or more days")
    rule = str(params.rule).strip().lower() if isinstance(params.rule, str) else params.rule
    if rule not in RULES:
        raise ParameterError("rule", params.rule, f"is not a known rule; known: {', '.join(sorted(RULES))}")
    _integer("seed", params.seed, 0)
    if params.time_limit_s is not None and _number("time_limit_s", params.time_limit_s) <= 0:
        raise ParameterError("time_limit_s", params.time_limit_s, "must be more than 0 seconds (or unset)")
    min_yield = _number("min_yield", params.min_yield)
    if not 0 < min_yield <= 1:
        raise ParameterError("min_yield", params.min_yield, "must lie in (0, 1]")
    if str(params.yield_policy).strip().lower() not in POLICIES:
        raise ParameterError("yield_policy", params.yield_policy, f"must be one of {', '.join(POLICIES)}")
    try:
        resolve_table(params.width_combinations)
    except WidthTableError as exc:
        raise ParameterError("width_combinations", "…", str(exc)) from None
    try:
        parse_outputs(params.outputs)
    except ValueError as exc:
        raise ParameterError("outputs", params.outputs, str(exc)) from None
    if not isinstance(params.extra, dict):
        raise ParameterError("extra", params.extra, "must be a mapping")
    options = params.extra.get("rule_options")
    if options is not None and not isinstance(options, dict):
        raise ParameterError("extra", options, "rule_options must be a mapping of option name to value")
    return params
