"""gantt.png drawn in a separate process, so matplotlib's import and drawing overlap the rest of a run.

matplotlib's Agg holds the interpreter lock: in a thread it made the writers slower, not faster
(measured on two cores). One child process (``python -m prodsched.results.gantt_process``, with
this package first on its path) imports matplotlib as soon as :func:`start` is called
(``prodsched run`` calls it before stage 1) and then draws each chart it is sent. The two speak
JSON lines over the child's stdin and stdout: a request is the Gantt data and the file's path,
the answer the path written or the error. Nothing else is shared, nothing is pickled, and the
caller's main module is never imported again (as multiprocessing's spawn would).

An error while drawing is raised again in the parent: a built-in exception (OSError and its kin,
ValueError, ...) as the same type with the same message, any other as :class:`DrawingError`
naming the file, the type and the message. A child that dies fails the file with its exit code;
the next chart starts a fresh one. The process is reused by later runs in the same interpreter
and ends with it (its stdin closes); it runs in a session of its own and ignores SIGINT, so a
terminal's Ctrl-C or a Jupyter kernel's shutdown reaches the parent only.
"""

from __future__ import annotations

import atexit
import builtins
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_child: subprocess.Popen | None = None
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prodsched-gantt-png")


class DrawingError(RuntimeError):
    """Drawing gantt.png failed in the drawing process, or that process stopped."""


def start() -> None:
    """Start the drawing process if it is not running; it imports matplotlib in the background."""
    global _child
    with _lock:
        if _child is None or _child.poll() is not None:
            root = str(Path(__file__).resolve().parents[2])  # the folder holding this prodsched
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
            _child = subprocess.Popen([sys.executable, "-m", "prodsched.results.gantt_process"], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                                      start_new_session=True)  # a terminal's or kernel's Ctrl-C is not for it


def draw(data: Mapping[str, Any], path: str | Path) -> Future:
    """Send ``gantt_data`` output to the drawing process; the future's result is the PNG's path."""
    start()
    request = json.dumps({"path": str(path), "data": data}, ensure_ascii=False, separators=(",", ":"))
    return _sender.submit(_ask, request, Path(path).name)


def result(future: Future) -> Path:
    """The PNG's path once drawn; the drawing's error if it failed."""
    return Path(future.result())


@atexit.register
def _stop() -> None:
    """Close the drawing process's input and wait for it (it ends on its own when its input closes)."""
    with _lock:
        child = _child
    if child is not None and child.poll() is None:
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def _ask(request: str, name: str) -> str:
    with _lock:
        child = _child
    try:
        child.stdin.write(request + "\n")
        child.stdin.flush()
        line = child.stdout.readline()
    except (BrokenPipeError, OSError):
        line = ""
    if not line:
        code = child.wait()
        raise DrawingError(f"{name}: the process drawing it stopped unexpectedly (exit code {code})")
    answer = json.loads(line)
    if "error" not in answer:
        return answer["path"]
    kind = getattr(builtins, answer["error"], None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        raise kind(answer["message"])
    raise DrawingError(f"{name}: {answer['error']}: {answer['message']}")


# --------------------------------------------------------------------------- in the child

def _serve() -> None:
    """The drawing process: import what drawing needs, then answer requests until stdin closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: this process ends when its input closes
    from matplotlib import collections, colors, dates, figure, patches  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401

    from prodsched.results.gantt_png import hangul_font, render_png

    answers, sys.stdout = sys.stdout, sys.stderr  # stdout carries the answers only
    hangul_font()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer = {"path": str(render_png(request["data"], request["path"]))}
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
            answer = {"error": type(exc).__name__, "message": str(exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve()
