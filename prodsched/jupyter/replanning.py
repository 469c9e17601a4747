"""Re-planning from a notebook (``notebooks/07_replan.ipynb``): one call, a finished session."""

from __future__ import annotations

from pathlib import Path

from prodsched.params import Params
from prodsched.session import Session
from prodsched.stages.checks import check_params
from prodsched.stages.replan import replan_params


def replan_session(data: str, replan_from: str | None, now: str, out: str, pins=None,
                   store: str | None = None) -> Session:
    """Re-plan ``replan_from`` on ``data`` from ``now`` into ``out`` and return the session (all
    six stages run). Without ``replan_from`` the previous plan is first made by a plain run of
    ``data`` into ``<out>_previous`` (a demonstration on the sample data)."""
    if replan_from is None:
        previous = str(Path(out).resolve()) + "_previous"
        first = Session.create(params=check_params(Params(data=str(Path(data).resolve()), out=previous)),
                               store=store)
        first.run_all()
        replan_from = previous
    session = Session.create(params=replan_params(data, replan_from, now, out=out, pins=pins), store=store)
    session.run_all()
    return session
