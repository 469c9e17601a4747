"""Exceptions shared by every layer (this module imports nothing of prodsched)."""

from __future__ import annotations


class ProdschedError(Exception):
    """Base class of every error prodsched raises on purpose."""


class InputError(ProdschedError):
    """The input tables have errors; ``report`` is the ValidationReport listing them."""

    def __init__(self, report, message: str | None = None):
        self.report = report
        super().__init__(message or f"the input has {len(report.errors)} error(s):\n{report}")


class ParameterError(ProdschedError, ValueError):
    """A run parameter is invalid; ``name`` is the parameter (as in Params), ``value`` what was given."""

    def __init__(self, name: str, value, message: str):
        self.name = name
        self.value = value
        self.reason = message
        super().__init__(f"parameter {name}={value!r}: {message}")


class StageOrderError(ProdschedError):
    """A stage was asked to run before the stage it builds on is done."""


class StageRunningError(ProdschedError):
    """The stage is already running in this session (another kernel or process holds it)."""


class ScheduleError(ProdschedError):
    """An operation could not be placed; names the operation and why."""

    def __init__(self, op_id: str, reason: str):
        self.op_id = op_id
        self.reason = reason
        super().__init__(f"operation {op_id} cannot be scheduled: {reason}")


class Cancelled(ProdschedError):
    """A running stage was cancelled on request."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


class StoreError(ProdschedError):
    """The session store holds something unreadable, or refused an operation."""


class CallbackError(ProdschedError):
    """A callback the caller passed in (e.g. ``progress``) raised; the run stops with this error."""
