"""The panel as a web page: ``prodsched app`` serves ``00_panel.ipynb`` with Voila (code hidden).

The store and the input reach the page's kernel through the environment: ``PRODSCHED_STORE``
(read by every session) and ``PRODSCHED_APP_DATA`` (read by :func:`panel`).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

from prodsched.errors import ProdschedError

APP_DATA_ENV = "PRODSCHED_APP_DATA"
PANEL_NOTEBOOK = "00_panel.ipynb"
DEFAULT_PORT = 8866
HOST = "127.0.0.1"


def panel(data: str | None = None):
    """The stage panel of ``00_panel.ipynb``: on the app's ``--data`` when it was given, else on ``data``."""
    from prodsched.jupyter.panel import StagePanel

    return StagePanel(data=os.environ.get(APP_DATA_ENV) or data)


class AppError(ProdschedError):
    """The app cannot start (port taken, Voila missing, bad --data); the message is one line."""


def port_free(port: int, host: str = HOST) -> bool:
    """True when ``host:port`` can be bound now (as the server binds it: address reuse on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def voila_command(port: int, host: str = HOST) -> list[str]:
    from prodsched.jupyter.notebooks import notebooks_dir

    notebook = notebooks_dir() / PANEL_NOTEBOOK
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--Voila.ip={host}",
            f"--Voila.port={port}", "--Voila.port_retries=0", "--strip_sources=True", "--show_tracebacks=False"]


def app_environment(store: str | None, data: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if store:
        env["PRODSCHED_STORE"] = store
    if data:
        path = Path(data).expanduser()
        if not path.exists():
            raise AppError(f"--data {data}: no such file or folder")
        env[APP_DATA_ENV] = str(path.resolve())
    return env


def serve(port: int = DEFAULT_PORT, store: str | None = None, data: str | None = None) -> int:
    """Run Voila in the foreground until it stops (Ctrl+C); returns its exit code."""
    if not 0 < port < 65536:
        raise AppError(f"--port {port} is not a port number (1-65535)")
    env = app_environment(store, data)
    if not port_free(port):
        raise AppError(f"port {port} on {HOST} is taken; choose another with --port")
    try:
        import voila  # noqa: F401
    except ImportError:
        raise AppError("the app needs Voila: pip install 'prodsched[app]'") from None
    print(f"prodsched app: the panel is at http://{HOST}:{port}/ (Ctrl+C stops it)", file=sys.stderr, flush=True)
    proc = subprocess.Popen(voila_command(port), env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
        return 0
