"""Jupyter front ends: the stage-runner panel, the Gantt widget, the papermill notebook chain."""
