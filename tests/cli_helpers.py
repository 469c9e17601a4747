"""The command line as a user runs it: `python -m prodsched ...` in a subprocess of this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli_env(store: str | Path, **extra: str) -> dict[str, str]:
    """This process's environment with its own SQLite store ``store`` (never a configured Redis),
    pictures drawn without a display, and ``extra`` on top."""
    env = {**os.environ, "PRODSCHED_STORE": str(store), "MPLBACKEND": "Agg", **extra}
    env.pop("PRODSCHED_REDIS_URL", None)
    return env


def run_cli(env: dict[str, str] | None, *args, timeout: float = 240) -> subprocess.CompletedProcess:
    """``prodsched ARGS`` run from the repository root; output captured as text."""
    return subprocess.run([sys.executable, "-m", "prodsched", *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
