"""Shared fixtures: a real redis-server for the session, and a `store` fixture over both stores.

Outside CI the Redis tests skip (with the reason) when no ``redis-server`` binary is found; with
env ``CI`` set a missing binary is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throw-away redis-server on 127.0.0.1 (no persistence) that can be stopped and restarted."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir), "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def url_with_namespace(self) -> str:
        return f"{self.url}?namespace=test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A running redis-server for the whole test session (skip outside CI without a binary)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed, but CI is set: the Redis store tests must run in CI")
        pytest.skip("redis-server binary not found on PATH: the Redis store tests are skipped")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The URL of the test redis-server with a fresh key namespace for this test."""
    return redis_server.url_with_namespace()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, tmp_path):
    """The same tests against both stores: SQLite in tmp_path, Redis in a fresh namespace."""
    from prodsched.store import open_store

    if request.param == "sqlite":
        st = open_store(tmp_path / "sessions.db")
    else:
        st = open_store(request.getfixturevalue("redis_url"))
    yield st
    st.close()


@pytest.fixture
def run_python():
    """Run Python code in a fresh interpreter (a second process); returns CompletedProcess."""

    def run(code: str, *args: str, timeout: float = 60, env: dict | None = None, check: bool = True):
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                              timeout=timeout, env=full_env, cwd=REPO, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


# -- input data for session tests ---------------------------------------------------------------
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(scope="session")
def plant() -> Path:
    """The sample factory's input tables (the real stages run on them)."""
    if not (SAMPLE_DATA / "order_data.csv").exists():
        pytest.fail(f"{SAMPLE_DATA} is missing; regenerate it (see sample_data/README.md)")
    return SAMPLE_DATA


class PayloadFifo:
    """A named pipe posing as a JSON payload file: stage 1 blocks reading it until it is fed."""

    def __init__(self, path: Path):
        self.path = path
        os.mkfifo(path)
        self.fd: int | None = None
        self.threads: list[threading.Thread] = []

    def __str__(self) -> str:
        return str(self.path)

    def wait_for_reader(self, timeout: float = 30) -> None:
        """Block until a reader has opened the pipe (the stage is then stuck reading it)."""
        deadline = time.monotonic() + timeout
        while self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader yet
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nobody opened {self.path} for reading within {timeout} s") from None
                time.sleep(0.02)
        os.set_blocking(self.fd, True)

    def feed(self, data_dir: Path) -> threading.Thread:
        """Write the payload of ``data_dir`` into the pipe (once a reader has opened it)."""
        from prodsched.inputs.write import tables_to_payload
        from prodsched.inputs.read import load_tables
        tables, _ = load_tables(data_dir)
        body = json.dumps(tables_to_payload(tables)).encode()

        def write():
            self.wait_for_reader()
            fd, self.fd = self.fd, None
            try:
                os.write(fd, body)
            finally:
                os.close(fd)

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def release(self) -> None:
        """Let any reader still blocked on the pipe go (it reads an empty, invalid payload)."""
        for thread in self.threads:
            thread.join(timeout=30)
        try:
            self.wait_for_reader(timeout=0.2)
        except TimeoutError:
            return
        os.close(self.fd)
        self.fd = None


@pytest.fixture
def payload_fifo(tmp_path):
    fifo = PayloadFifo(tmp_path / "plant.json")
    yield fifo
    fifo.release()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's /usr/bin/chromium) for a test module."""
    from browser_helpers import launch_chromium, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    """sample_data/, or a generated sample of 80 orders where the folder is empty."""
    if (REPO / "sample_data").is_dir() and any((REPO / "sample_data").iterdir()):
        return REPO / "sample_data"
    from prodsched.inputs.sample import write_sample

    return Path(write_sample(tmp_path_factory.mktemp("sample"), orders=80, seed=3))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with its own folders and store, the test notebooks in its root."""
    from browser_helpers import JupyterLab, prepare_root, require_browser

    require_browser()
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    prepare_root(root)
    server = JupyterLab(base, root, base / "sessions.db")
    server.start()
    yield server
    server.stop()
