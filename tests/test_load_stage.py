"""Stage 1 (load): artifacts, JSON-able summary, InputError on errors, progress and cancel."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from prodsched.errors import Cancelled, InputError
from prodsched.params import Params
from prodsched.stages import run_stage
from prodsched.stages.load import run
from prodsched.inputs.spec import TABLE_NAMES

ROOT = Path(__file__).resolve().parent.parent
BASE = json.loads((ROOT / "tests" / "bad_inputs" / "base_payload.json").read_text(encoding="utf-8"))


def test_load_sample_folder():
    calls = []
    result = run({}, Params(data=str(ROOT / "sample_data")), progress=lambda f, m: calls.append((f, m)))
    assert set(result.artifacts) == set(TABLE_NAMES) | {"validation"}
    assert isinstance(result.artifacts["validation"], pd.DataFrame)
    assert result.artifacts["validation"].empty
    summary = result.summary
    json.dumps(summary)
    assert summary["rows"]["order_data"] == summary["orders"] == 150
    assert summary["rows"]["linespeed"] == len(result.artifacts["linespeed"])
    assert summary["machines"] == len(result.artifacts["machine_master_info"])
    assert summary["items"] == result.artifacts["order_data"]["item"].nunique()
    assert summary["due_min"] == result.artifacts["order_data"]["due"].min().date().isoformat()
    assert summary["due_max"] > summary["due_min"]
    assert summary["errors"] == 0 and summary["warnings"] == 0
    assert calls[0][0] == 0.0 and calls[-1][0] == 1.0


def test_payload_input_wins_and_warnings_are_kept():
    data = copy.deepcopy(BASE)
    data["order_data"].append({"P/O NO": "P9", "GITEM": "Z", "너비": 1524, "원단길이": 100,
                               "납기일": "2026-01-15"})
    result = run_stage("load", {"payload": data}, Params(data="/nonexistent/folder"))
    assert result.summary["orders"] == 4 and result.summary["warnings"] == 1
    frame = result.artifacts["validation"]
    assert frame.loc[0, "severity"] == "warning" and frame.loc[0, "row"] == 4
    assert result.summary["issues"][0]["table"] == "order_data"
    json.dumps(result.summary)


def test_errors_raise_input_error_with_the_report():
    data = copy.deepcopy(BASE)
    data["order_data"][1]["납기일"] = "someday"
    with pytest.raises(InputError) as caught:
        run({"payload": data}, Params())
    report = caught.value.report
    assert [(i.table, i.row, i.column, i.value) for i in report.errors] == [("order_data", 2, "due (납기일)", "someday")]
    assert "someday" in str(caught.value)


def test_no_data_is_an_input_error():
    with pytest.raises(InputError, match="no input data"):
        run({}, Params())


def test_cancel_before_start():
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        run({"payload": BASE}, Params(), cancel=event)


def test_artifacts_are_fresh_frames():
    a = run({"payload": BASE}, Params()).artifacts
    b = run({"payload": BASE}, Params()).artifacts
    a["order_data"].loc[0, "item"] = "changed"
    assert b["order_data"].loc[0, "item"] == "A"
