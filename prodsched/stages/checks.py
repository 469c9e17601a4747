"""Parameters checked before stage 1 runs: a bad one is a ParameterError naming it.

The CLI, the Python API (Session.create / set_params), the notebooks and the panel all go through
:func:`check_params`, so a run never fails halfway, or leaves a session behind, for a parameter
that could have been checked up front.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
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


def _solver(params: Params) -> None:
    if params.solver is None:
        return
    if params.solver != "cpsat":
        raise ParameterError("solver", params.solver, "must be unset (dispatch and optimiser) or 'cpsat'")
    if importlib.util.find_spec("ortools") is None:
        raise ParameterError("solver", params.solver, "needs OR-Tools: pip install 'prodsched[cp]'")
    options = params.extra.get("solver_options") if isinstance(params.extra, dict) else None
    if options is None:
        return
    if not isinstance(options, dict) or set(options) - {"work_units", "workers"}:
        raise ParameterError("extra", options, "solver_options takes work_units and workers only")
    if "work_units" in options and _number("extra", options["work_units"]) <= 0:
        raise ParameterError("extra", options, "solver_options work_units must be more than 0")
    if "workers" in options:
        _integer("extra", options["workers"], 1)


def check_params(params: Params | dict[str, Any], *, data_exists: bool = True) -> Params:
    """The parameters as Params, or ParameterError naming the first bad one.

    ``data_exists=False`` skips the check that the input path exists (a shared session may have
    been started on another machine; its data is checked where it is set).
    """
    # imported here: the rule registry and the width table bring in the engine and pandas, which
    # commands that only read a session (``prodsched status``) do not need
    from prodsched.engine.objectives import check_options, get_objective
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
    try:
        get_objective(params.objective)
    except (ValueError, TypeError) as exc:
        raise ParameterError("objective", params.objective, str(exc)) from None
    _integer("improve_iterations", params.improve_iterations, 0)
    _solver(params)
    if not isinstance(params.objective_options, dict):
        raise ParameterError("objective_options", params.objective_options, "must be a mapping")
    try:
        check_options(params.objective, params.objective_options)
    except (ValueError, TypeError) as exc:
        raise ParameterError("objective_options", params.objective_options, str(exc)) from None
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
    restarts = (options or {}).get("restarts", 1)
    if isinstance(restarts, bool) or not isinstance(restarts, Integral) or restarts < 1:
        raise ParameterError("extra", options, "rule_options restarts must be a whole number >= 1")
    _replan(params, data_exists)
    return params


def _replan(params: Params, files_exist: bool) -> None:
    """``now`` is a date-time; ``replan_from`` a run folder (needs ``now``); ``pins`` a table."""
    if params.now is not None:
        try:
            dt.datetime.fromisoformat(str(params.now).strip())
        except ValueError:
            raise ParameterError("now", params.now, "must be a date-time like '2025-06-03 08:00'") from None
    if params.replan_from is not None:
        if params.now is None:
            raise ParameterError("replan_from", params.replan_from, "needs now: the time before which "
                                 "started work is kept")
        if not isinstance(params.replan_from, (str, Path)):
            raise ParameterError("replan_from", params.replan_from, "must be the folder of a previous run")
        if files_exist:
            folder = Path(params.replan_from)
            missing = [n for n in ("schedule.csv", "kpis.json") if not (folder / n).is_file()]
            if missing:
                raise ParameterError("replan_from", str(params.replan_from), f"is not a run folder: no "
                                     f"{' or '.join(missing)} there")
    pins = params.pins
    if pins is None:
        return
    if isinstance(pins, (str, Path)):
        if files_exist and not Path(pins).is_file():
            raise ParameterError("pins", str(pins), "no such file")
    elif not isinstance(pins, list) or not all(isinstance(r, dict) for r in pins):
        raise ParameterError("pins", pins, "must be a pinned table file or a list of records "
                             "(op_id or po_no and operation, machine, start)")
