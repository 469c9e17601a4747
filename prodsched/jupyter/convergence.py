"""Stage 5's optimiser in the panel: the best objective against iterations, live and afterwards.

While the stage improves, each progress line of the optimiser (read back from the store, so a run
in another kernel or process shows too) adds a point; once it is done the stored history replaces
the live points, and the objective is shown beside the dispatch rule's start.
"""

from __future__ import annotations

import io
import time

import ipywidgets as W
import pandas as pd

from prodsched.engine.scheduler import parse_iteration_message
from prodsched.jupyter.views import esc

REDRAW_S = 0.5  # at most two pictures a second while the optimiser runs


def curve_png(iterations: list[int], best: list[float], title: str) -> bytes:
    """A small step plot of the best objective value against the iteration."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 2.4), dpi=96)
    ax = fig.add_subplot()
    ax.step(iterations, best, where="post", color="#4E79A7")
    ax.plot(iterations[-1:], best[-1:], "o", color="#4E79A7")
    ax.set_xlabel("iteration")
    ax.set_ylabel("best (leading term)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


class ConvergenceView:
    """The picture and the objective line; ``widget`` goes into the panel."""

    def __init__(self) -> None:
        self.image = W.Image(format="png", layout=W.Layout(display="none"))
        self.image.add_class("prodsched-convergence")
        self.objective = W.HTML()
        self.objective.add_class("prodsched-objective")
        self.widget = W.VBox([self.objective, self.image])
        self.points: dict[int, float] = {}
        self._run: object = None
        self._drawn = 0.0

    def reset(self) -> None:
        self.points.clear()
        self.image.layout.display = "none"
        self.objective.value = ""

    def running(self, run: object, message: str | None) -> None:
        """A progress line of a running stage 5 (``run`` tells one run from the next)."""
        if run != self._run:
            self.reset()
            self._run = run
        point = parse_iteration_message(message)
        if point is None:
            return
        self.points[point[0]] = point[1]
        if time.monotonic() - self._drawn >= REDRAW_S:
            self._draw("improving…")

    def done(self, history: pd.DataFrame, figures: dict) -> None:
        """The finished run: its stored history and its objective against the dispatch start."""
        self.points = {int(i): float(b) for i, b in zip(history["iteration"], history["best"])}
        name, value = figures.get("objective", ""), figures.get("objective_value", "")
        start = figures.get("dispatch_objective_value", value)
        done, asked = figures.get("improve_iterations_done", 0), figures.get("improve_iterations", 0)
        capped = " (cut by the time limit)" if figures.get("improve_capped") else ""
        change = "" if value == start else f" — dispatch rule gave <code>{esc(start)}</code>"
        self.objective.value = (f"<b>objective {esc(name)}</b>: <code>{esc(value)}</code>{change}; "
                                f"optimiser {done} of {asked} iterations{capped}")
        if self.points:
            self._draw(f"{name}: best after {done} iterations")
        else:
            self.image.layout.display = "none"

    def _draw(self, title: str) -> None:
        steps = sorted(self.points.items())
        self.image.value = curve_png([i for i, _ in steps], [b for _, b in steps], title)
        self.image.layout.display = ""
        self._drawn = time.monotonic()
