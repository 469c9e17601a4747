"""Sessions: the stage state machine over a store, its background worker and status views."""

from prodsched.session.session import PARAM_STAGE, Session
from prodsched.session.status import format_sessions, format_status, overall_status

__all__ = ["PARAM_STAGE", "Session", "format_sessions", "format_status", "overall_status"]
