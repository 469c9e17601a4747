"""JupyterLab + headless Chromium: the compare view of a sweep, driven through the page.

A sweep of 4 scenarios (one failing on the workers) runs in this process into the server's store;
a notebook calls ``prodsched.compare(sweep=...)``; the page changes the baseline, opens a run (its
Gantt appears with that run's operations) and the failed run (its error appears). Outside CI the
test skips with the reason when Chromium/Playwright/JupyterLab is missing; with CI set it fails.
"""

from __future__ import annotations

import json

import pytest
from browser_helpers import ARTIFACTS, JupyterLab, require_browser, run_all_cells, wait_kernel_idle

from prodsched.engine.rules import RULES, register_rule

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

TIMEOUT_MS = 120_000
CLIENT_ONLY = "browser_compare_client_only"  # registered in this process only: the workers fail it


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab whose root holds a sweep's output folder and a notebook that compares it."""
    require_browser()
    pytest.importorskip("distributed")
    from prodsched.inputs.sample import write_sample
    from prodsched.sweep import sweep

    base = tmp_path_factory.mktemp("lab_compare")
    root = base / "root"
    root.mkdir()
    data = write_sample(root / "plant", orders=60, seed=1, machines=4) and root / "plant"
    register_rule(CLIENT_ONLY, lambda op, state: op.due, dynamic=False)
    try:
        table = sweep(data, grid={"rule": ["window", "atcs", "spt", CLIENT_ONLY]}, workers=2,
                      store=base / "sessions.db", out=root / "sweep_out", progress=False)
    finally:
        RULES.pop(CLIENT_ONLY, None)
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": ["import prodsched\n", "\n", "prodsched.compare(sweep=\"sweep_out\")"]}
    notebook = {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (root / "compare.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    server = JupyterLab(base, root, base / "sessions.db")  # the kernel's default store is the sweep's
    server.start()
    yield server, table
    server.stop()


def test_compare_view_changes_baseline_and_opens_a_run_in_the_gantt(lab, browser):
    server, table = lab
    assert list(table["status"]) == ["done", "done", "done", "failed"]
    page = browser.new_page(viewport={"width": 1500, "height": 1800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{server.url}/lab/tree/compare.ipynb", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT_MS)
        wait_kernel_idle(page)
        run_all_cells(page)
        page.wait_for_selector(".prodsched-compare .prodsched-compare-runs", timeout=TIMEOUT_MS)
        rows = page.locator(".prodsched-compare-row")
        assert rows.count() == 4
        assert page.locator(".prodsched-compare-baseline-row").get_attribute("data-run") == "scenario 0"

        # the baseline: scenario 2 (spt, some orders late); scenario 0's tardiness is now better than it
        page.locator(".prodsched-compare-baseline select").select_option(label="scenario 2 · done")
        page.wait_for_selector('.prodsched-compare-baseline-row[data-run="scenario 2"]', timeout=30_000)
        tardiness = page.locator('tr[data-run="scenario 0"] .prodsched-delta[data-kpi="total_tardiness_days"]')
        expected = table.loc[0, "total_tardiness_days"] - table.loc[2, "total_tardiness_days"]
        assert expected < 0 and "prodsched-better" in tardiness.get_attribute("class")
        assert tardiness.inner_text().startswith("-")

        # open scenario 1: its Gantt with its operations
        page.locator(".prodsched-compare-open select").select_option(label="scenario 1 · done")
        page.wait_for_selector(".prodsched-compare-gantt .prodsched-gantt canvas", timeout=TIMEOUT_MS)
        gantt = page.locator(".prodsched-compare-gantt .prodsched-gantt")
        page.wait_for_function("(n) => document.querySelector('.prodsched-compare-gantt .prodsched-gantt')"
                               ".getAttribute('data-bar-count') == n", arg=str(int(table.loc[1, "operations"])),
                               timeout=30_000)
        assert int(gantt.get_attribute("data-bar-count")) == table.loc[1, "operations"]
        assert table.loc[1, "session_id"] in page.locator(".prodsched-compare-run").inner_text()
        wait_kernel_idle(page)  # the plot has its ring on the opened run
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".prodsched-compare").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)

        # the failed scenario: its error, no Gantt
        page.locator(".prodsched-compare-open select").select_option(label="scenario 3 · failed")
        page.wait_for_selector(".prodsched-compare-run .prodsched-error-title", timeout=30_000)
        assert CLIENT_ONLY in page.locator(".prodsched-compare-run").inner_text()
        assert page.locator(".prodsched-compare-gantt .prodsched-gantt").count() == 0
        assert not [e for e in errors if "prodsched" in e or "gantt" in e.lower()], errors
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compare-failure.png"), full_page=True)
        print("page errors:", errors, "\nJupyterLab log:\n", server.log())
        raise
    finally:
        page.close()
