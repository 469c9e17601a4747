"""gantt.png drawn in a separate process: the same picture, and failures there fail the run loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from test_exports import _artifacts  # tests/ is on sys.path under pytest

from prodsched.results import exports as E
from prodsched.results import gantt_process
from prodsched.results.gantt_data import gantt_data
from prodsched.results.gantt_png import render_png
from prodsched.results.plan import PlanView

ROOT = Path(__file__).resolve().parent.parent


def _plan(a) -> PlanView:
    tables = {k: a[k] for k in ("machine_master_info", "machine_rest", "operation_types") if k in a}
    return PlanView.build(a["schedule"], a.get("dag"), tables, a.get("calendar"))


def test_the_child_draws_the_same_png_as_in_process(tmp_path):
    data = gantt_data(_plan(_artifacts()), title="Same")
    here = render_png(data, tmp_path / "here.png")
    there = gantt_process.result(gantt_process.draw(data, tmp_path / "there.png"), tmp_path / "there.png")
    assert there == tmp_path / "there.png"
    assert there.read_bytes() == here.read_bytes()


def test_an_error_while_drawing_is_raised_in_the_parent_with_its_message(tmp_path):
    (tmp_path / "gantt.png").mkdir()  # savefig cannot write a file where a folder is
    with pytest.raises(IsADirectoryError, match="gantt.png"):
        E.write_results(_artifacts(), tmp_path)
    assert (tmp_path / "results.xlsx").is_file() and (tmp_path / "gantt.html").is_file()  # the rest was written


def test_a_drawing_process_that_dies_fails_the_file_by_name(tmp_path):
    died = Future()
    died.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
    with pytest.raises(gantt_process.DrawingProcessError, match=r"gantt.png: the process drawing it stopped"):
        gantt_process.result(died, tmp_path / "gantt.png")
    data = gantt_data(_plan(_artifacts()))  # the next chart gets a fresh process
    assert gantt_process.result(gantt_process.draw(data, tmp_path / "g.png"), tmp_path / "g.png").is_file()


def test_a_killed_drawing_process_is_replaced(tmp_path):
    data = gantt_data(_plan(_artifacts()))
    gantt_process.result(gantt_process.draw(data, tmp_path / "a.png"), tmp_path / "a.png")
    for proc in list(gantt_process._pool._processes.values()):
        proc.kill()
        proc.join(10)
    path = tmp_path / "b.png"
    try:
        drawn = gantt_process.result(gantt_process.draw(data, path), path)
    except gantt_process.DrawingProcessError as exc:  # the pool noticed only while this chart was queued
        assert str(exc).startswith("b.png: the process drawing it stopped")
        drawn = gantt_process.result(gantt_process.draw(data, path), path)
    assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_fails_in_one_line_when_the_png_cannot_be_written(tmp_path):
    out = tmp_path / "out"
    (out / "gantt.png").mkdir(parents=True)
    env = {**os.environ, "PRODSCHED_STORE": str(tmp_path / "sessions.db"), "MPLBACKEND": "Agg"}
    env.pop("PRODSCHED_REDIS_URL", None)
    proc = subprocess.run([sys.executable, "-m", "prodsched", "run", str(ROOT / "sample_data"), "--out", str(out),
                           "--quiet"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"prodsched: stage 6 (results) failed: IsADirectoryError: [Errno 21] Is a directory: '{out / 'gantt.png'}'"]
