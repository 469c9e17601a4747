"""Test-wide setup: every test, notebook and subprocess uses a throw-away session store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_STORE_DIR = Path(tempfile.mkdtemp(prefix="prodsched-test-store-"))


def pytest_configure(config):
    # Notebooks run by nbval start kernels that inherit this environment.
    os.environ.setdefault("PRODSCHED_STORE", str(_STORE_DIR / "sessions.db"))
    os.environ.setdefault("MPLBACKEND", "Agg")
