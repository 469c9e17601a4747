"""The stage panel without a browser: Button.click() through the stages on the sample factory."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from prodsched.jupyter.panel import StagePanel, panel, resolve_data
from prodsched.session import Session
from prodsched.stages import STAGES



@pytest.fixture()
def store(tmp_path) -> str:
    return str(tmp_path / "sessions.db")


def enabled(p: StagePanel) -> list[str]:
    return [n for n in STAGES if not p.buttons[n].disabled]


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def click(p: StagePanel, name: str, timeout: float = 60) -> dict:
    p.buttons[name].click()
    st = p.wait(timeout)
    return {s["name"]: s for s in st["stages"]}


def shown(p: StagePanel, name: str, status: str = "done", timeout: float = 60) -> None:
    """Wait until the panel's own monitor shows the stage's status (no explicit refresh here)."""
    deadline = time.monotonic() + timeout
    while f"prodsched-badge-{status}" not in p.statuses[name].value:
        assert time.monotonic() < deadline, f"{name} never showed {status}: {p.statuses[name].value} {p.error.value}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def finished(sample_dir, tmp_path_factory):
    """One panel clicked through all six stages (shared by the assertions below)."""
    store = str(tmp_path_factory.mktemp("store") / "sessions.db")
    p = StagePanel(data=sample_dir, store=store)
    seen = {"enabled_before": {}, "progress": []}
    p.progress.observe(lambda c: seen["progress"].append((time.monotonic(), c["new"])), names="value")
    for name in STAGES:
        seen["enabled_before"][name] = enabled(p)
        if name == "schedule":
            p.window_days.value, p.seed.value = 4, 7
        if name == "results":
            assert list(p.outputs.value) == ["csv", "json", "xlsx", "png", "html"]  # all by default
            p.outputs.value = ["png", "csv"]
        p.buttons[name].click()  # the next click comes right after the view shows done, as a user's would
        shown(p, name)
    assert all(s["status"] == "done" for s in p.wait(60)["stages"]), p.error.value
    yield p, seen, store
    p.close()


def test_only_done_stages_and_the_next_one_are_enabled_at_each_step(finished):
    _, seen, _ = finished
    assert seen["enabled_before"] == {name: list(STAGES[: i + 1]) for i, name in enumerate(STAGES)}


def test_status_lines_show_done_and_elapsed_time(finished):
    p, _, _ = finished
    for name in STAGES:
        line = text(p.statuses[name].value)
        assert "done" in line and re.search(r"\d+(\.\d)? s|min", line), line
        assert p.buttons[name].button_style == "success"
    assert enabled(p) == list(STAGES)  # every stage may be re-run now
    assert p.error_box.layout.display == "none"


def test_progress_reaches_one_and_is_throttled(finished):
    p, seen, _ = finished
    assert p.progress.value == 1.0 and p.progress.bar_style == "success"
    values = [v for _, v in seen["progress"]]
    assert values[-1] == 1.0 and max(values) == 1.0
    times = [t for t, _ in seen["progress"]]
    if len(times) > 2:  # the monitor polls at most ten times a second
        assert (len(times) - 1) / max(times[-1] - times[0], 1e-9) <= 12


def test_schedule_parameters_from_the_controls_reach_the_session(finished):
    p, _, _ = finished
    params = p.session.params
    assert (params.window_days, params.seed, params.rule) == (4, 7, "window")
    assert params.outputs == ["csv", "json", "png"]  # kpis.json is always written


def test_kpis_and_summaries_are_shown(finished):
    p, _, _ = finished
    kpis = p.session.artifact("kpis")
    shown = text(p.kpis.value)
    assert p.kpis.layout.display != "none"
    assert "Late orders" in shown and f"{kpis['late_orders']:,}" in shown
    assert "Makespan" in shown and "Violations" in shown
    assert "validation" in p.summaries["load"].value
    assert "jobs" in text(p.summaries["preprocess"].value)
    assert "nodes" in text(p.summaries["dag"].value)
    assert "late orders" in text(p.summaries["results"].value)


def test_the_produced_schedule_passes_the_verifier(finished):
    from prodsched.stages.schedule import verify

    p, _, _ = finished
    schedule = p.session.artifact("schedule")
    assert len(schedule) > 0
    assert verify(schedule, p.session.artifact("dag"), p.session.artifacts("load")) == []


def test_gantt_shows_the_schedule_and_a_click_fills_the_details(finished):
    p, _, _ = finished
    schedule = p.session.artifact("schedule")
    assert p.gantt is not None and p.gantt_box.children == (p.gantt,)
    assert p.gantt.data["stats"]["operations"] == len(schedule)
    assert "Click a bar" in p.details.value
    late = [b for b in p.gantt.bars() if b["late"]]
    bar = (late or p.gantt.bars())[0]
    p.gantt.selected_op = bar["op_id"]  # what the front end sets on a click
    shown = text(p.details.value)
    assert bar["op_id"] in shown and bar["due"] in shown and bar["machine"] in shown
    assert all(po in shown for po in bar["po_nos"])
    assert ("late" in shown) if bar["late"] else ("on time" in shown)


def test_attaching_to_a_session_run_elsewhere_shows_its_states(sample_dir, store):
    other = Session.create({"data": str(sample_dir)}, store)
    other.run("load")
    other.run("preprocess")
    p = StagePanel(data=sample_dir, store=store)
    try:
        assert other.id in [v for _, v in p.picker.options]
        p.picker.value = other.id
        p.attach_btn.click()
        assert p.session.id == other.id
        assert "done" in text(p.statuses["preprocess"].value) and "pending" in text(p.statuses["yield"].value)
        assert enabled(p) == ["load", "preprocess", "yield"]
        assert "jobs" in text(p.summaries["preprocess"].value)
        assert other.id[:8] in p.header.value
        other.run("yield")  # progress made elsewhere shows after a refresh
        p.refresh()
        assert "done" in text(p.statuses["yield"].value) and not p.buttons["dag"].disabled
    finally:
        p.close()


def test_a_broken_table_shows_the_error_with_the_stage_and_allows_a_retry(sample_dir, store, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(sample_dir, bad)
    orders = next(f for f in bad.iterdir() if "order_data" in f.name and f.suffix == ".csv")
    lines = orders.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    due_col = next(i for i, h in enumerate(header) if h.strip() in ("due", "납기일"))
    cells = lines[1].split(",")
    cells[due_col] = "not-a-date"
    lines[1] = ",".join(cells)
    orders.write_text("\n".join(lines) + "\n", encoding="utf-8")

    p = StagePanel(data=bad, store=store)
    try:
        stages = click(p, "load")
        assert stages["load"]["status"] == "failed"
        shown = text(p.error.value)
        assert p.error_box.layout.display != "none"
        assert "stage 1 (load) failed" in shown and "order_data" in shown and "not-a-date" in shown
        assert not p.buttons["load"].disabled and p.buttons["preprocess"].disabled
        assert p.retry_btn.layout.display != "none" and not p.retry_btn.disabled
        assert p.buttons["load"].button_style == "danger"
        # fix the input and retry from the error box
        p.data.value = str(sample_dir)
        p.retry_btn.click()
        p.wait(60)
        assert "done" in text(p.statuses["load"].value)
        assert p.error_box.layout.display == "none" and not p.buttons["preprocess"].disabled
    finally:
        p.close()


def test_running_out_of_order_is_refused_in_the_panel(sample_dir, store):
    p = panel(data=sample_dir, store=store)
    try:
        p.run_stage("dag")
        assert "stage 1 (load)" in text(p.error.value) and "dag" in text(p.error.value)
        assert p.session.status()["stages"][3]["status"] == "pending"
    finally:
        p.close()


def test_relative_data_paths_are_made_absolute(sample_dir, monkeypatch):
    monkeypatch.chdir(sample_dir.parent)
    assert resolve_data(sample_dir.name) == str(sample_dir.resolve())
    assert resolve_data("no/such/folder") == "no/such/folder"
    assert resolve_data(None) is None


def test_panel_displays_as_one_widget(sample_dir, store):
    p = StagePanel(data=sample_dir, store=store)
    try:
        bundle = p._repr_mimebundle_()
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == p.widget.model_id
        assert "prodsched-panel" in p.widget._dom_classes
        for name in STAGES:
            assert f"prodsched-stage-btn-{name}" in p.buttons[name]._dom_classes
            assert f"prodsched-status-{name}" in p.statuses[name]._dom_classes
        assert "window" in p.rule.options and "prodsched-session-picker" in p.picker._dom_classes
    finally:
        p.close()


def test_tables_escape_cell_text_and_say_when_they_are_cut():
    import pandas as pd

    from prodsched.jupyter.views import table_html

    frame = pd.DataFrame({"name": ["<script>x</script>"] * 5, "n": range(5)})
    out = table_html(frame, max_rows=3)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.count("<tr>") == 4 and "showing 3 of 5 rows" in out


def test_validation_report_lists_errors_first_and_counts_them():
    import pandas as pd

    from prodsched.jupyter.views import validation_html

    frame = pd.DataFrame({"severity": ["warning", "error"], "table": ["linespeed", "order_data"], "row": [3, 7],
                          "column": ["speed", "due"], "value": ["", "x"], "message": ["dup", "bad date"]})
    out = validation_html(frame)
    assert "1 error(s)" in out and "1 warning(s)" in out
    assert out.index("order_data") < out.index("linespeed") and "prodsched-sev-error" in out


def test_kpi_cards_flag_late_orders_and_violations():
    from prodsched.jupyter.views import kpi_html

    good = kpi_html({"makespan_slots": 96, "slot_minutes": 30, "late_orders": 0, "violations": 0, "on_time_rate": 1.0})
    assert "2.0 days" in good and "prodsched-kpi-bad" not in good
    bad = kpi_html({"late_orders": 3, "violations": 0, "on_time_rate": 0.5})
    assert bad.count("prodsched-kpi-bad") == 2


@pytest.fixture()
def slow_rule():
    """A registered rule that takes a few milliseconds per decision, so stage 5 runs long enough."""
    from prodsched.engine import rules

    def slow_edd(op, state):
        time.sleep(0.004)
        return op.due_slot

    name = "slow_edd_panel_test"
    rules.register_rule(name, slow_edd, candidates=4, replace=True)
    yield name
    rules.RULES.pop(name, None)


def test_stage5_progress_moves_while_running_and_cancel_stops_it(sample_dir, store, slow_rule):
    p = StagePanel(data=sample_dir, store=store)
    try:
        for name in STAGES[:4]:
            assert click(p, name)[name]["status"] == "done"
        assert slow_rule in p.rule.options
        p.rule.value = slow_rule
        values = []
        p.progress.observe(lambda c: values.append((time.monotonic(), c["new"])), names="value")
        p.buttons["schedule"].click()  # returns at once: the kernel is never blocked
        deadline = time.monotonic() + 30
        while not any(0 < v < 1 for _, v in values) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(0 < v < 1 for _, v in values), values
        assert not p.cancel_btn.disabled and all(p.buttons[n].disabled for n in STAGES)
        assert "running" in text(p.statuses["schedule"].value)
        p.cancel_btn.click()
        stages = {s["name"]: s for s in p.wait(60)["stages"]}
        assert stages["schedule"]["status"] == "failed" and "cancel" in stages["schedule"]["error"]
        assert "stage 5 (schedule) failed" in text(p.error.value) and "cancel" in text(p.error.value)
        assert not p.buttons["schedule"].disabled and p.cancel_btn.disabled
        times = [t for t, _ in values]
        assert len(times) < 3 or (len(times) - 1) / (times[-1] - times[0]) <= 12  # <= ~10 updates a second
    finally:
        p.close()


@pytest.mark.redis
def test_two_panels_share_a_session_through_redis(sample_dir, redis_url):
    first = StagePanel(data=sample_dir, store=redis_url)
    second = None
    try:
        click(first, "load")
        second = StagePanel(session=first.session.id, store=redis_url)
        assert "done" in text(second.statuses["load"].value) and not second.buttons["preprocess"].disabled
        click(first, "preprocess")  # a run started in the other panel is picked up by the reload button
        second.reload_btn.click()
        second.wait(30)
        assert "done" in text(second.statuses["preprocess"].value) and "jobs" in text(second.summaries["preprocess"].value)
        assert first.session.id in [v for _, v in second.picker.options]
    finally:
        first.close()
        if second is not None:
            second.close()
