"""The tutorials' helpers (rules compared, the verifier tampered with, the optimiser converging) and
the two tutorial notebooks executed with papermill parameters."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from prodsched import Params
from prodsched.jupyter import tutorials
from prodsched.jupyter.notebooks import notebooks_dir
from prodsched.session import Session

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tutorials")
    s = Session.create(params=Params(data=str(SAMPLE), window_days=5), store=str(tmp / "s.db"))
    for stage in ("load", "preprocess", "yield", "dag", "schedule"):
        s.run(stage)
    return s


def least_slack(op, state):
    return op.due_slot - state.ready_time(op) - min(op.durations.values())


def test_compare_rules_gives_each_rule_its_verified_figures(session):
    shown = tutorials.compare_rules(session, ["window", "edd", least_slack])
    frame = shown.frame
    assert list(frame.index) == ["window", "edd", "least_slack"]
    assert (frame["verifier"] == "valid").all()
    # the window row is the schedule stage 5 made with the same parameters
    info = session.artifact("schedule_info")
    window = frame.loc["window"]
    assert (window["tardiness"], window["setup_slots"], window["makespan"]) == (
        info["tardiness_slots"], info["setup_slots"], info["makespan_slots"])
    assert shown.facts["best"] in frame.index


def test_the_tampered_schedule_is_caught(session):
    shown = tutorials.tampered(session, "edd")
    assert "precedence" in shown.facts["checks"]
    assert shown.frame["op_id"].iloc[0] == shown.facts["moved"]


def test_convergence_never_gets_worse_and_is_deterministic(session):
    first = tutorials.convergence(session, ["makespan", "setups"], 40)
    for objective, row in first.frame.iterrows():
        assert row["final"] <= row["start"] and row["iterations"] == 40 and row["verifier"] == "valid"
        values = [v for _, v in first.facts["curves"][objective]]
        assert all(b <= a for a, b in zip(values, values[1:])), f"{objective} got worse"
    assert first.frame.loc["makespan", "final"][0] == first.frame.loc["makespan", "makespan"]
    again = tutorials.convergence(session, ["makespan", "setups"], 40)
    assert again.frame.equals(first.frame)
    with pytest.raises((ValueError, KeyError)):
        tutorials.convergence(session, ["no-such-objective"], 5)


def _run(name: str, out: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    papermill.execute_notebook(str(notebooks_dir() / name), str(out), parameters=parameters, kernel_name="python3",
                               cwd=str(notebooks_dir()), progress_bar=False)
    return nbformat.read(out, as_version=4)


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") + str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.notebooks
def test_tutorial_notebooks_run_with_parameters(tmp_path):
    store = str(tmp_path / "s.db")
    rules = _run("tutorial_custom_rule.ipynb", tmp_path / "rule.ipynb", store=store, data=str(SAMPLE), window_days=3)
    text = _text(rules)
    assert "least_slack" in text and "precedence" in text
    optimiser = _run("tutorial_optimiser.ipynb", tmp_path / "opt.ipynb", store=store, data=str(SAMPLE),
                     objectives="tardiness,makespan", iterations=20)
    text = _text(optimiser)
    assert "ran 20 iterations" in text and "tardiness" in text and "makespan" in text
