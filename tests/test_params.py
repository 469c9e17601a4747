"""Parameters are checked before stage 1: a bad one names itself and leaves no session behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import cli_env, run_cli
from prodsched.errors import ParameterError
from prodsched.params import Params, parse_outputs
from prodsched.session import Session
from prodsched.stages.checks import check_params

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"

BAD = [
    ("window_days", -1, "0 or more"),
    ("window_days", "five", "finite number"),
    ("slot_minutes", 0, "at least 1"),
    ("slot_minutes", 7, "divide a day"),
    ("slot_minutes", 2.5, "whole number"),
    ("seed", -3, "at least 0"),
    ("seed", True, "whole number"),
    ("time_limit_s", -5, "more than 0"),
    ("time_limit_s", float("nan"), "finite number"),
    ("min_yield", 0, "(0, 1]"),
    ("min_yield", 1.5, "(0, 1]"),
    ("yield_policy", "average", "cumulative"),
    ("rule", "fastest", "known rule"),
    ("base_date", "June", "a date like"),
    ("width_combinations", [{"lanes": [508], "fabric_width_mm": -1}], "fabric_width_mm"),
    ("width_combinations", {"lanes": "*"}, "list of rows"),
    ("extra", {"rule_options": [1, 2]}, "mapping"),
    ("extra", {"rule_options": {"restarts": 0}}, "restarts must be a whole number >= 1"),
    ("extra", {"rule_options": {"restarts": 2.5}}, "restarts must be a whole number >= 1"),
    ("data", "/no/such/folder", "no such file"),
    ("objective", "cheapest", "unknown objective"),
    ("solver", "gurobi", "'cpsat'"),
    ("improve_iterations", -1, "at least 0"),
    ("objective_options", [1], "mapping"),
    ("outputs", "csv,pdf", "pdf is not a result file kind"),
    ("outputs", ["xlsx", "gif", "jpg"], "gif, jpg are not"),
    ("outputs", 3, "'all' or result file kinds"),
    ("outputs", ["csv", 1], "'all' or result file kinds"),
]


@pytest.mark.parametrize("name,value,text", BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_each_bad_parameter_is_named(name, value, text):
    with pytest.raises(ParameterError) as info:
        check_params(Params().updated(**{name: value}))
    assert info.value.name == name
    assert text in str(info.value)


def test_good_parameters_pass_unchanged():
    params = Params(data=str(SAMPLE), window_days=0, rule="EDD", base_date="2025-06-01", time_limit_s=2.5,
                    min_yield=1, width_combinations=[{"lanes": "*", "fabric_width_mm": 1600}])
    assert check_params(params) is params
    assert check_params({"window_days": 3}).window_days == 3


@pytest.mark.parametrize("value, chosen", [
    (None, {"csv", "json", "xlsx", "png", "html"}), ("all", {"csv", "json", "xlsx", "png", "html"}),
    ("", {"csv", "json", "xlsx", "png", "html"}), ("csv,json", {"csv", "json"}), (" XLSX , png", {"xlsx", "png", "json"}),
    (["html"], {"html", "json"}), ("json", {"json"}), (["all", "csv"], {"csv", "json", "xlsx", "png", "html"}),
])
def test_outputs_name_the_files_to_write(value, chosen):
    assert check_params(Params(outputs=value)).outputs == value
    assert parse_outputs(value) == chosen  # kpis.json is always among them


def test_unknown_parameter_name_is_named():
    with pytest.raises(ParameterError, match="window_day"):
        check_params({"window_day": 3})


def test_session_create_refuses_bad_parameters_and_stores_nothing(tmp_path):
    store = str(tmp_path / "s.db")
    with pytest.raises(ParameterError, match="window_days"):
        Session.create(params={"data": str(SAMPLE), "window_days": -2}, store=store)
    assert Session.list(store=store) == []


def test_set_params_refuses_and_keeps_the_old_values(tmp_path):
    session = Session.create(params={"data": str(SAMPLE)}, store=str(tmp_path / "s.db"))
    with pytest.raises(ParameterError, match="rule"):
        session.set_params(rule="fastest")
    with pytest.raises(ParameterError, match="window_dayz"):
        session.set_params(window_dayz=2)
    assert session.params.rule == "window"
    assert session.set_params(window_days=2) == []  # nothing ran yet: no stage to mark stale
    assert session.params.window_days == 2


def test_run_chain_refuses_before_any_notebook_runs(tmp_path):
    from prodsched.jupyter.notebooks import run_chain

    store = str(tmp_path / "s.db")
    with pytest.raises(ParameterError, match="min_yield"):
        run_chain(data=SAMPLE, out=tmp_path / "out", store=store, params={"min_yield": 2})
    assert Session.list(store=store) == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_panel_shows_a_bad_data_path_and_keeps_its_session(tmp_path):
    from prodsched.jupyter.panel import StagePanel

    panel = StagePanel(data=SAMPLE, store=str(tmp_path / "s.db"))
    before = panel.session.id
    panel.data.value = str(tmp_path / "missing")
    panel.new_btn.click()
    assert panel.session.id == before
    assert "data" in panel.error.value and "no such file" in panel.error.value
    assert len(Session.list(store=str(tmp_path / "s.db"))) == 1


def _cli(tmp_path, *args):
    return run_cli(cli_env(tmp_path / "store.db"), *args, timeout=120)


@pytest.mark.parametrize("flag,value,text", [("--window-days", -1, "0 or more"),
                                             ("--time-limit", -5, "more than 0"),
                                             ("--rule", "fastest", "known rule"),
                                             ("--base-date", "June", "a date like"),
                                             ("--objective", "cheapest", "unknown objective"),
                                             ("--improve", -3, "at least 0")])
def test_cli_exit_2_names_the_option_before_stage_1(tmp_path, flag, value, text):
    proc = _cli(tmp_path, "run", SAMPLE, "--out", tmp_path / "out", flag, value)
    assert proc.returncode == 2, proc.stderr
    assert flag in proc.stderr and text in proc.stderr and "Traceback" not in proc.stderr
    assert "stage" not in proc.stdout  # nothing ran
    listed = _cli(tmp_path, "sessions", "--json")
    assert json.loads(listed.stdout) == []
    assert not (tmp_path / "out" / "schedule.csv").exists()


def test_solver_options_are_checked_with_the_solver():
    with pytest.raises(ParameterError, match="work_units and workers"):
        check_params(Params(solver="cpsat", extra={"solver_options": {"speed": 1}}))
    with pytest.raises(ParameterError, match="more than 0"):
        check_params(Params(solver="cpsat", extra={"solver_options": {"work_units": 0}}))
    assert check_params(Params(solver="cpsat", extra={"solver_options": {"work_units": 2, "workers": 1}}))
