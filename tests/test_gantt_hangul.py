"""Korean names in the Gantt chart: Hangul drawn with a CJK font, glosses (warned once) without one,
and operations without a class named "(no class)" in every legend."""

from __future__ import annotations

import os
import warnings

import pandas as pd
import pytest

from prodsched.results import gantt_png
from prodsched.results.gantt_data import NO_CLASS, gantt_data
from prodsched.results.gantt_html import gantt_html

BASE = pd.Timestamp("2025-03-03")


def _op(op_id, machine, start, end, operation, op_class):
    return {"op_id": op_id, "job_id": op_id.split("-")[0], "po_nos": "PO-1", "item": "G1", "operation": operation,
            "op_class": op_class, "mixture": "", "seq": 1, "width_mm": 1500, "length_m": 900.0, "machine": machine,
            "start": start, "end": end, "start_time": BASE + pd.Timedelta(minutes=30 * start),
            "end_time": BASE + pd.Timedelta(minutes=30 * end), "setup_slots": 0, "aging_slots": 0,
            "due": pd.Timestamp("2025-03-10")}


@pytest.fixture()
def korean():
    schedule = pd.DataFrame([
        _op("J1-01", "C01", 0, 12, "투명코팅", "투명"),
        _op("J1-02", "L01", 14, 30, "라미네이팅", "라미"),
        _op("J2-01", "C01", 13, 20, "엠보", ""),  # an operation without a class
    ])
    tables = {
        "machine_master_info": pd.DataFrame({"machine": ["C01", "L01"], "machine_index": [1, 2],
                                             "machine_name": ["코팅기 1호", "라미기 1호"]}),
        "operation_types": pd.DataFrame({"operation_code": ["P601", "P701"], "operation": ["투명코팅", "라미네이팅"],
                                         "op_class": ["투명", "라미"]}),
    }
    return gantt_data(schedule, tables, title="생산 계획")


def _font_or_fail() -> str:
    font = gantt_png.hangul_font()
    if font is None:
        message = "no font with Hangul glyphs is installed (apt-get install fonts-nanum)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return font


def test_png_draws_korean_names_without_a_missing_glyph(korean, tmp_path):
    _font_or_fail()
    with warnings.catch_warnings():
        # matplotlib warns "Glyph … missing from font(s) …" for every character it cannot draw
        warnings.simplefilter("error")
        path = gantt_png.render_png(korean, tmp_path / "gantt.png")
    assert path.stat().st_size > 5000
    assert gantt_png.label("코팅기 1호") == "코팅기 1호"


def test_legend_names_the_classless_operations(korean, tmp_path, monkeypatch):
    assert "" in korean["classes"]
    seen = []
    original = gantt_png.label
    monkeypatch.setattr(gantt_png, "label", lambda text: seen.append(text) or original(text))
    gantt_png.render_png(korean, tmp_path / "g.png")
    assert NO_CLASS in seen and "" not in seen
    # the HTML export and the widget share gantt.js, whose legend and tooltip name it the same way
    assert f'c || "{NO_CLASS}"' in gantt_html(korean) and f'b.op_class || "{NO_CLASS}"' in gantt_html(korean)


def test_without_a_hangul_font_glosses_are_used_and_said_once(korean, tmp_path, monkeypatch):
    monkeypatch.setattr(gantt_png, "hangul_font", lambda: None)
    gantt_png._warn_glosses.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert gantt_png.label("코팅기 1호") == "coater #1"
            gantt_png.render_png(korean, tmp_path / "glossed.png")
        said = [w for w in caught if issubclass(w.category, gantt_png.HangulFontWarning)]
        assert len(said) == 1 and "fonts-nanum" in str(said[0].message)
        assert not [w for w in caught if "missing from font" in str(w.message)]
    finally:
        gantt_png._warn_glosses.cache_clear()


def test_lesson_figures_draw_korean_codes_without_a_missing_glyph():
    import io

    import networkx as nx

    from prodsched.jupyter.lesson_charts import graph_figure, slice_figure

    _font_or_fail()
    g = nx.DiGraph()
    g.add_node("J1-01", seq=1, operation_code="코팅", durations={"코팅기1": 4}, aging_slots=2)
    g.add_node("J1-02", seq=2, operation_code="라미", durations={"라미기1": 3}, aging_slots=0)
    g.add_edge("J1-01", "J1-02")
    frame = pd.DataFrame({"machine": ["코팅기1", "라미기1"], "op_id": ["J1-01", "J1-02"], "start": [0, 6],
                          "end": [4, 9], "setup_slots": [0, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for figure in (graph_figure(g), slice_figure(frame)):
            figure.savefig(io.BytesIO(), format="png")


@pytest.mark.browser
def test_html_legend_in_chromium_shows_hangul_and_no_class(korean, tmp_path):
    """The HTML export in headless Chromium: Hangul names, "(no class)" in the legend (screenshot kept)."""
    from browser_helpers import ARTIFACTS, launch_chromium, require_browser, widest_bar

    require_browser()
    from playwright.sync_api import sync_playwright

    path = tmp_path / "gantt.html"
    path.write_text(gantt_html(korean), encoding="utf-8")
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 260})
            page.goto(path.as_uri())
            page.wait_for_selector(".prodsched-gantt canvas")
            legend = [t.strip() for t in page.locator(".prodsched-gantt-legend-item").all_inner_texts()]
            assert NO_CLASS in legend and "투명" in legend and "" not in legend
            bar = widest_bar(page)
            assert bar is not None
            page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
            page.wait_for_selector(".prodsched-gantt-tooltip:not([hidden])", timeout=10_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "gantt-hangul.png"))
        finally:
            browser.close()
