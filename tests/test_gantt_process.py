"""gantt.png drawn in a separate process: the same picture, and failures there fail the run loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    there = gantt_process.result(gantt_process.draw(data, tmp_path / "there.png"))
    assert there == tmp_path / "there.png"
    assert there.read_bytes() == here.read_bytes()


def test_an_error_while_drawing_is_raised_in_the_parent_with_its_message(tmp_path):
    (tmp_path / "gantt.png").mkdir()  # savefig cannot write a file where a folder is
    with pytest.raises(IsADirectoryError, match=r"^\[Errno 21\] Is a directory: '.*gantt.png'$"):
        E.write_results(_artifacts(), tmp_path)
    assert (tmp_path / "results.xlsx").is_file() and (tmp_path / "gantt.html").is_file()  # the rest was written


def _stand_in(monkeypatch, script: str) -> None:
    """Replace the drawing process by a stand-in running ``script`` (it reads one request first)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline(); " + script],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    monkeypatch.setattr(gantt_process, "_child", child)


def test_a_drawing_process_that_dies_fails_the_file_by_name_and_is_replaced(tmp_path, monkeypatch):
    data = gantt_data(_plan(_artifacts()))
    _stand_in(monkeypatch, "sys.exit(3)")
    with pytest.raises(gantt_process.DrawingError,
                       match=r"^g.png: the process drawing it stopped unexpectedly \(exit code 3\)$"):
        gantt_process.result(gantt_process.draw(data, tmp_path / "g.png"))
    assert not (tmp_path / "g.png").exists()
    assert gantt_process.result(gantt_process.draw(data, tmp_path / "g.png")).is_file()  # a fresh process


def test_an_error_of_another_library_names_the_file_and_its_type(tmp_path, monkeypatch):
    _stand_in(monkeypatch, "print('{\"error\": \"ParserError\", \"message\": \"no font\"}', flush=True); "
                           "sys.stdin.readline()")
    with pytest.raises(gantt_process.DrawingError, match=r"^g.png: ParserError: no font$"):
        gantt_process.result(gantt_process.draw(gantt_data(_plan(_artifacts())), tmp_path / "g.png"))


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


def test_an_interrupt_meant_for_the_parent_leaves_the_drawing_process_running(tmp_path):
    """Ctrl-C (or a Jupyter kernel's shutdown) reaches the whole process group; the drawing
    process ignores it and ends when the parent closes its input."""
    data = gantt_data(_plan(_artifacts()))
    gantt_process.result(gantt_process.draw(data, tmp_path / "a.png"))
    child = gantt_process._child
    os.kill(child.pid, signal.SIGINT)
    assert gantt_process.result(gantt_process.draw(data, tmp_path / "b.png")).is_file()
    assert gantt_process._child is child and child.poll() is None
