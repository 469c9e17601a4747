"""`prodsched app`: the panel served by Voila, clicked through in headless Chromium.

The app runs all six stages, a Gantt bar opens its details, and a session started with
`prodsched run` against the same store is attached from the session picker. Outside CI the
browser test skips with the reason when Chromium, Playwright or Voila is missing; with CI set it
fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_helpers import ARTIFACTS, REPO, free_port, launch_chromium, require_browser, widest_bar

from cli_helpers import run_cli
from prodsched.jupyter.app import HOST, port_free, voila_command
from prodsched.stages import STAGES

pytestmark = [pytest.mark.timeout(600)]

STAGE_TIMEOUT_MS = 120_000
SAMPLE = REPO / "sample_data"


def test_voila_command_hides_code_and_listens_on_localhost_only():
    cmd = voila_command(8866)
    assert cmd[:3] == [sys.executable, "-m", "voila"] and cmd[3].endswith("00_panel.ipynb")
    assert "--strip_sources=True" in cmd and f"--Voila.ip={HOST}" in cmd and HOST == "127.0.0.1"
    assert "--Voila.port=8866" in cmd and "--Voila.port_retries=0" in cmd


def test_a_taken_port_is_one_clear_line_and_exit_1():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert not port_free(port)
        proc = run_cli(None, "app", "--port", str(port))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"prodsched: port {port} on 127.0.0.1 is taken; choose another with --port"


def test_missing_data_and_a_bad_port_are_named(tmp_path):
    proc = run_cli(None, "app", "--port", str(free_port()), "--data", str(tmp_path / "nowhere"))
    assert proc.returncode == 1 and "nowhere" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli(None, "app", "--port", "70000")
    assert proc.returncode == 1 and proc.stderr.strip() == "prodsched: --port 70000 is not a port number (1-65535)"


class App:
    """`prodsched app` in its own process group, with its log."""

    def __init__(self, base: Path, store: Path):
        self.port = free_port()
        self.log_path = base / "app.log"
        self.env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTER_PLATFORM_DIRS": "1",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        self.env.pop("PRODSCHED_REDIS_URL", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "prodsched", "app", "--port", str(self.port), "--store", str(store),
                 "--data", str(SAMPLE)], cwd=base, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/voila/static/voila.js", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # the server answers
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the app did not answer within 90 s:\n{self.log()}")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Voila shuts its kernels down on Ctrl+C
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cli_session(tmp_path_factory):
    base = tmp_path_factory.mktemp("app")
    store = base / "sessions.db"
    run = run_cli(None, "run", str(SAMPLE), "--out", str(base / "out"), "--store", str(store), "-q")
    assert run.returncode == 0, run.stderr
    listed = run_cli(None, "sessions", "--store", str(store), "--json")
    sessions = json.loads(listed.stdout)
    assert len(sessions) == 1
    return base, store, sessions[0]["session_id"]


@pytest.mark.browser
def test_app_runs_six_stages_shows_details_and_attaches_a_cli_session(cli_session):
    require_browser()
    try:
        import voila  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("the app test needs Voila (pip install '.[app]'); CI is set, so this is an error")
        pytest.skip("the app test needs Voila (pip install '.[app]')")
    from playwright.sync_api import sync_playwright

    base, store, cli_id = cli_session
    app = App(base, store)
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1500, "height": 2000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                page.goto(app.url + "/", wait_until="domcontentloaded", timeout=STAGE_TIMEOUT_MS)
                page.wait_for_selector(".prodsched-panel", timeout=STAGE_TIMEOUT_MS)
                content = page.content()
                assert "from prodsched" not in content and "panel(data=" not in content, "code is shown"

                for name in STAGES:
                    page.wait_for_function(f"() => !document.querySelector('.prodsched-stage-btn-{name}').disabled",
                                           timeout=STAGE_TIMEOUT_MS)
                    page.locator(f".prodsched-stage-btn-{name}").click()
                    page.wait_for_selector(f".prodsched-status-{name} .prodsched-badge-done", timeout=STAGE_TIMEOUT_MS)
                    assert page.locator(".prodsched-error-box").is_hidden(), page.locator(".prodsched-error").inner_text()
                kpis = page.locator(".prodsched-kpis").inner_text().lower()
                assert "late orders" in kpis and "violations" in kpis

                page.wait_for_selector(".prodsched-gantt canvas", timeout=STAGE_TIMEOUT_MS)
                bar = widest_bar(page)
                assert bar is not None, "no Gantt bar is visible"
                page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
                details = page.locator(".prodsched-details")
                details.get_by_text(bar["op_id"]).first.wait_for(timeout=30_000)
                text = details.inner_text()
                assert "due" in text and ("on time" in text or "late" in text)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)

                # the session `prodsched run` made is in the picker; attach it
                select = page.locator(".prodsched-session-picker select")
                label = select.evaluate(f"s => [...s.options].map(o => o.text).find(t => t.startsWith('{cli_id[:8]}'))")
                assert label, "the CLI's session is not in the picker"
                select.select_option(label=label)
                page.locator(".prodsched-attach").click()
                page.wait_for_function(
                    f"() => document.querySelector('.prodsched-header').innerText.includes('{cli_id[:8]}')",
                    timeout=30_000)
                for name in STAGES:
                    page.wait_for_selector(f".prodsched-status-{name} .prodsched-badge-done", timeout=30_000)
                page.wait_for_selector(".prodsched-gantt canvas", timeout=STAGE_TIMEOUT_MS)
                page.screenshot(path=str(ARTIFACTS / "app-cli-session.png"))
                assert not [e for e in errors if "prodsched" in e or "gantt" in e.lower()], errors
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "app-failure.png"))
                print("page errors:", errors, "\napp log:\n", app.log())
                raise
            finally:
                browser.close()
    finally:
        app.stop()


def test_the_app_data_overrides_the_notebooks_default(tmp_path, monkeypatch):
    from prodsched.jupyter.app import APP_DATA_ENV, panel

    monkeypatch.setenv("PRODSCHED_STORE", str(tmp_path / "s.db"))
    monkeypatch.setenv(APP_DATA_ENV, str(SAMPLE))
    other = str(SAMPLE / "plant_export")
    assert panel(data=other).session.params.data == str(SAMPLE)
    monkeypatch.delenv(APP_DATA_ENV)
    assert panel(data=other).session.params.data == other
