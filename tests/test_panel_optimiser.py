"""Stage 5's objective and optimiser budget in the panel, and its convergence plot (no browser)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prodsched.engine.scheduler import iteration_message, parse_iteration_message
from prodsched.jupyter.convergence import ConvergenceView
from prodsched.jupyter.panel import StagePanel
from prodsched.stages.schedule import verify

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
PNG = b"\x89PNG\r\n\x1a\n"


def test_iteration_lines_round_trip_and_other_lines_are_not_points():
    assert parse_iteration_message(iteration_message(7, 50, (12, 3, 40, 99))) == (7, 12.0)
    assert parse_iteration_message(iteration_message(3, 9, (1.5, 2))) == (3, 1.5)
    assert parse_iteration_message("placed 10 of 10 operations") is None
    assert parse_iteration_message(None) is None


def test_live_points_accumulate_and_a_new_run_starts_afresh(monkeypatch):
    monkeypatch.setattr("prodsched.jupyter.convergence.REDRAW_S", 0.0)
    view = ConvergenceView()
    for i, best in ((1, 30), (5, 22), (9, 22)):
        view.running("run-a", iteration_message(i, 10, (best, 0)))
    view.running("run-a", "placed 10 of 10 operations")
    assert view.points == {1: 30.0, 5: 22.0, 9: 22.0}
    assert bytes(view.image.value).startswith(PNG) and view.image.layout.display == ""
    view.running("run-b", iteration_message(1, 10, (8, 0)))
    assert view.points == {1: 8.0}


def test_panel_runs_the_optimiser_with_the_chosen_objective_and_plots_it(tmp_path):
    panel = StagePanel(data=SAMPLE, store=str(tmp_path / "s.db"))
    panel.objective.value = "setups"
    panel.improve.value = 30
    for name in ("load", "preprocess", "yield", "dag", "schedule"):
        panel.buttons[name].click()
        panel.wait(300)
    session = panel.session
    assert (session.params.objective, session.params.improve_iterations) == ("setups", 30)
    figures = session.artifact("schedule_figures")
    assert figures["objective"] == "setups" and figures["improve_iterations_done"] == 30
    history = session.artifact("improve_history")
    assert len(history) >= 1 and history["iteration"].is_monotonic_increasing
    assert history["best"].is_monotonic_decreasing
    assert history["best"].iloc[-1] == float(figures["objective_value"].split(", ")[0])
    assert "objective setups" in panel.convergence.objective.value
    assert "30 of 30 iterations" in panel.convergence.objective.value
    assert bytes(panel.convergence.image.value).startswith(PNG)
    assert verify(session.artifact("schedule"), session.artifact("dag"), session.artifacts("load")) == []


def test_the_stored_history_is_the_same_for_the_same_run(tmp_path):
    from prodsched.session import Session

    curves = []
    for k in range(2):
        s = Session.create({"data": str(SAMPLE), "objective": "tardiness", "improve_iterations": 25},
                           store=str(tmp_path / f"{k}.db"))
        s.run_all(upto="schedule")
        curves.append(s.artifact("improve_history"))
    pd.testing.assert_frame_equal(curves[0], curves[1])
