"""JupyterLab + headless Chromium: the panel notebook clicked through all six stages.

Also checks the self-contained Gantt HTML export in the same browser (hover, click, zoom).
Outside CI the test skips with the reason when Chromium/Playwright/JupyterLab is missing; with
env CI set it fails instead.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from browser_helpers import (
    ARTIFACTS,
    run_all_cells,
    wait_kernel_idle,
    widest_bar,
)

from prodsched.stages import STAGES

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

STAGE_TIMEOUT_MS = 120_000


def test_widget_front_ends_are_enabled(lab):
    listing = lab.labextensions()
    for extension in ("@jupyter-widgets/jupyterlab-manager", "anywidget"):
        line = next((ln for ln in listing.splitlines() if extension in ln), "")
        assert "enabled" in line and "OK" in line, f"{extension} is not enabled:\n{listing}"


def test_panel_runs_all_six_stages_in_jupyterlab(lab, browser):
    page = browser.new_page(viewport={"width": 1500, "height": 2000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab.url}/lab/tree/notebooks/00_panel.ipynb", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=STAGE_TIMEOUT_MS)
        wait_kernel_idle(page)
        run_all_cells(page)
        page.wait_for_selector(".prodsched-panel", timeout=STAGE_TIMEOUT_MS)
        assert page.locator(".prodsched-stage-btn-load").is_enabled()
        assert page.locator(".prodsched-stage-btn-preprocess").is_disabled()

        for name in STAGES:
            button = page.locator(f".prodsched-stage-btn-{name}")
            button.wait_for(state="visible")
            page.wait_for_function(f"() => !document.querySelector('.prodsched-stage-btn-{name}').disabled",
                                   timeout=STAGE_TIMEOUT_MS)
            button.click()
            page.wait_for_selector(f".prodsched-status-{name} .prodsched-badge-done", timeout=STAGE_TIMEOUT_MS)
            assert page.locator(".prodsched-error-box").is_hidden(), page.locator(".prodsched-error").inner_text()

        progress = page.locator(".prodsched-progress .progress-bar, .prodsched-progress [role=progressbar]").first
        assert progress.count() == 1
        page.wait_for_selector(".prodsched-kpis .prodsched-kpi", timeout=STAGE_TIMEOUT_MS)
        kpis = page.locator(".prodsched-kpis").inner_text().lower()  # the titles are styled upper case
        assert "late orders" in kpis and "makespan" in kpis and "violations" in kpis

        page.wait_for_selector(".prodsched-gantt canvas", timeout=STAGE_TIMEOUT_MS)
        count = int(page.locator(".prodsched-gantt").get_attribute("data-bar-count"))
        assert count > 0
        bar = widest_bar(page)
        assert bar is not None, "no Gantt bar is visible"
        page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
        page.wait_for_selector(".prodsched-gantt-tooltip:not([hidden])", timeout=10_000)
        assert bar["op_id"] in page.locator(".prodsched-gantt-tooltip").inner_text()
        page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
        details = page.locator(".prodsched-details")
        details.get_by_text(bar["op_id"]).first.wait_for(timeout=30_000)  # kernel -> details box round trip
        text = details.inner_text()
        assert "due" in text and ("on time" in text or "late" in text)

        ARTIFACTS.mkdir(exist_ok=True)
        page.locator(".prodsched-panel").scroll_into_view_if_needed()
        page.evaluate("document.querySelector('.prodsched-panel').scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "panel.png"))
        assert not [e for e in errors if "prodsched" in e or "gantt" in e.lower()], errors
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "panel-failure.png"))
        print("page errors:", errors, "\nJupyterLab log:\n", lab.log())
        raise
    finally:
        page.close()


def test_static_gantt_html_hover_click_zoom(browser, tmp_path):
    from prodsched.results.gantt_html import write_gantt_html

    base = pd.Timestamp("2024-03-01")
    rows = []
    for i in range(40):
        start = (i // 4) * 12 + (i % 4)
        rows.append({"op_id": f"J{i:03d}-01", "job_id": f"J{i:03d}", "po_nos": f"P{i}", "item": "IT", "operation": "coat",
                     "op_class": ["SR", "EPU"][i % 2], "mixture": "", "seq": 1, "width_mm": 1500, "length_m": 900.0,
                     "machine": f"M{i % 4}", "start": start, "end": start + 10,
                     "start_time": base + pd.Timedelta(minutes=30 * start),
                     "end_time": base + pd.Timedelta(minutes=30 * (start + 10)),
                     "setup_slots": 0, "aging_slots": 0, "due": base + pd.Timedelta(days=2)})
    path = write_gantt_html(pd.DataFrame(rows), tmp_path / "gantt.html", title="Export check")
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".prodsched-gantt canvas")
        assert page.locator(".prodsched-gantt-title").inner_text() == "Export check"
        bar = widest_bar(page)
        x, y = bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2
        page.mouse.move(x, y)
        assert bar["op_id"] in page.locator(".prodsched-gantt-tooltip").inner_text()
        page.mouse.click(x, y)
        assert page.evaluate("window.prodschedGanttModel.get('selected_op')") == bar["op_id"]
        assert page.locator(".prodsched-gantt").get_attribute("data-selected-op") == bar["op_id"]
        before = page.evaluate("document.querySelector('.prodsched-gantt').prodschedGantt.view()")
        page.mouse.wheel(0, -500)
        page.wait_for_timeout(400)  # the view is synced to the model after a short pause
        after = page.evaluate("[window.prodschedGanttModel.get('view_start'), window.prodschedGanttModel.get('view_end')]")
        assert after[1] - after[0] < before["end"] - before["start"]
        assert all(re.match(r"^(file|data|blob):", url) for url in requests), requests  # no network
    finally:
        page.close()
