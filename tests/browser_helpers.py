"""Helpers of the browser test: a throw-away JupyterLab server and headless Chromium via Playwright."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"

# JupyterLab user settings for a quiet, offline session (no news fetch, no extension manager).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def require_browser() -> None:
    """Skip (outside CI) or fail (CI set) when Chromium, Playwright or JupyterLab is missing."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(CHROMIUM)
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module}")
    if missing:
        reason = "the browser test needs " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so this is an error, not a skip)")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """JupyterLab on 127.0.0.1 with its own root, config, data, runtime, settings and workspaces."""

    def __init__(self, base: Path, root: Path, store: Path):
        self.base, self.root, self.store = base, root, store
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = base / "jupyterlab.log"
        dirs = {name: base / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        for name, values in LAB_SETTINGS.items():
            plugin_dir, file_name = name.rsplit("/", 1)
            target = dirs["settings"] / plugin_dir
            target.mkdir(parents=True, exist_ok=True)
            (target / file_name).write_text(json.dumps(values), encoding="utf-8")
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]), "IPYTHONDIR": str(dirs["ipython"]),
            "PRODSCHED_STORE": str(store), "JUPYTER_PLATFORM_DIRS": "1",
        }
        self.env.pop("PRODSCHED_REDIS_URL", None)
        self.dirs = dirs
        # its kernel python3 runs this interpreter, whatever python3 kernel is registered elsewhere:
        # the spec sits in the server's data folder, which is searched first
        spec = dirs["data"] / "kernels" / "python3"
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}), encoding="utf-8")
        self.env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(dirs["data"]), os.environ.get("JUPYTER_PATH")]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def labextensions(self) -> str:
        out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], env=self.env,
                             capture_output=True, text=True, timeout=120, check=False)
        return out.stdout + out.stderr

    def start(self, timeout: float = 90) -> None:
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
               "--PasswordIdentityProvider.hashed_password=", "--ServerApp.password_required=False",
               f"--ServerApp.root_dir={self.root}", f"--LabApp.user_settings_dir={self.dirs['settings']}",
               f"--LabApp.workspaces_dir={self.dirs['workspaces']}", "--LabApp.news_url=",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
               "--ServerApp.disable_check_xsrf=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
            cmd.append("--allow-root")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.proc.returncode}):\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log()}")
            time.sleep(0.3)

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """Shut the kernels down through the API, then stop the server's process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for kernel in self.api("/api/kernels") or []:
                    self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
            except (urllib.error.URLError, OSError, ValueError):
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.proc = None


def prepare_root(root: Path) -> None:
    """A server root holding copies of the notebooks and the sample data, as in the repository."""
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    sample = REPO / "sample_data"
    if sample.is_dir() and any(sample.iterdir()):
        shutil.copytree(sample, root / "sample_data")
    else:
        from prodsched.inputs.sample import write_sample

        write_sample(root / "sample_data")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def run_all_cells(page) -> None:
    """Run > Run All Cells from the menu bar (the app command when the menu is not reachable)."""
    try:
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click(timeout=10_000)
    except Exception:  # noqa: BLE001 - fall back to the command registry
        page.keyboard.press("Escape")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_kernel_idle(page, timeout_ms: int = 120_000) -> None:
    page.wait_for_function(
        """() => {
            const app = window.jupyterapp;
            const w = app && app.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return !!k && k.status === 'idle';
        }""",
        timeout=timeout_ms,
    )


def widest_bar(page) -> dict:
    """Scroll the Gantt into view and return the widest visible bar: {op_id, x, y, width, height}."""
    page.locator(".prodsched-gantt").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    return page.evaluate(
        """() => {
            const g = document.querySelector('.prodsched-gantt').prodschedGantt;
            let best = null;
            for (const id of g.opIds()) {
                const r = g.barRect(id);
                const inside = r && r.y > 0 && r.y + r.height < window.innerHeight && r.x > 0
                    && r.x + r.width < window.innerWidth;
                if (inside && (!best || r.width > best.width)) best = {op_id: id, ...r};
            }
            return best;
        }"""
    )

