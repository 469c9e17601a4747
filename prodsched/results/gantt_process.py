"""gantt.png drawn in a separate process, so matplotlib's import and drawing overlap the rest of a run.

matplotlib's Agg holds the interpreter lock: in a thread it made the writers slower, not faster
(measured on two cores). One child process (``spawn``, so nothing of the parent is inherited)
imports matplotlib as soon as :func:`start` is called (``prodsched run`` calls it before stage 1)
and then draws each chart it is sent. It is sent only the Gantt data as JSON text and the file's
path; it answers with the path written. An error while drawing is raised again in the parent with
its own type and message; a child that dies fails the file with its exit code. The process is
reused by later runs in the same interpreter and ends with it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


class DrawingProcessError(RuntimeError):
    """The process drawing gantt.png stopped before it answered."""


def start() -> None:
    """Start the drawing process if it is not running; it imports matplotlib in the background."""
    global _pool
    with _lock:
        if _pool is None:
            import multiprocessing

            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_warm_up)
            _pool.submit(_ready)  # a worker starts with its first task


def draw(data: Mapping[str, Any], path: str | Path) -> Future:
    """Send ``gantt_data`` output to the drawing process; the future's result is the PNG's path."""
    start()
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        return _pool.submit(_draw, payload, str(path))
    except BrokenProcessPool:  # it died since the last chart: one fresh process
        _stop()
        start()
        return _pool.submit(_draw, payload, str(path))


def result(future: Future, path: str | Path) -> Path:
    """The PNG's path once drawn; the drawing error itself if it failed."""
    try:
        return Path(future.result())
    except BrokenProcessPool as exc:
        _stop()
        raise DrawingProcessError(f"{Path(path).name}: the process drawing it stopped unexpectedly ({exc})") from None


def _stop() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- in the child

def _warm_up() -> None:
    """What drawing needs, imported before the first chart arrives: matplotlib's figure and Agg."""
    from matplotlib import collections, colors, dates, figure, patches  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401

    from prodsched.results.gantt_png import hangul_font

    hangul_font()


def _ready() -> bool:
    return True


def _draw(payload: str, path: str) -> str:
    from prodsched.results.gantt_png import render_png

    return str(render_png(json.loads(payload), path))
