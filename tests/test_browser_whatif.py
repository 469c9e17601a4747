"""JupyterLab + headless Chromium: what-if in the panel's Gantt with the mouse.

An illegal drop (a bar onto a machine not eligible for it) is refused with its reason shown over
the chart; a bar dragged to another eligible machine and a later time becomes a pin, "Re-plan"
runs stages 5-6, and the session's schedule has the operation exactly where it was dropped and
passes the project's verifier. Skips/fails like tests/test_browser.py when the browser is missing.
"""

from __future__ import annotations


import pytest
from browser_helpers import (
    ARTIFACTS,
    run_all_cells,
    wait_kernel_idle,
)

from prodsched.results.gantt_data import machine_durations
from prodsched.session import Session
from prodsched.stages.schedule import as_graph, verify

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

STAGE_TIMEOUT_MS = 120_000
HOOK = "document.querySelector('.prodsched-gantt')?.prodschedGantt"  # undefined while the chart is redrawn


def the_session(lab) -> Session:
    rows = Session.list(str(lab.store))
    assert len(rows) == 1, rows
    return Session.attach(rows[0]["session_id"], str(lab.store))


def choose(session: Session):
    """An operation without predecessors that may run on another machine, that machine, and a
    machine it may not run on."""
    dag = as_graph(session.artifact("dag"))
    durations = machine_durations(dag)
    machines = list(dag.graph.get("machines") or sorted({m for d in durations.values() for m in d}))
    plan = session.artifact("schedule").sort_values("start")
    for row in plan.itertuples(index=False):
        others = sorted(m for m in durations[row.op_id] if m != row.machine)
        wrong = [m for m in machines if m not in durations[row.op_id]]
        if others and wrong and not list(dag.predecessors(row.op_id)):
            return row, others[0], wrong[0]
    raise AssertionError("no operation of the sample may move to another machine")


def show(page, start: float, end: float) -> None:
    page.locator(".prodsched-gantt").scroll_into_view_if_needed()
    page.evaluate(f"{HOOK}.setView({start}, {end})")
    page.wait_for_timeout(600)  # the view is synced to the kernel after 200 ms and stays
    assert page.evaluate(f"{HOOK}.view()") == {"start": start, "end": end}


def drag(page, op_id: str, machine: str, start: int, shot: str | None = None) -> set[int]:
    """Press on the bar, move in steps to (machine's row, start), release; returns the rows
    highlighted while dragging (``shot``: a screenshot of the chart then, in test-artifacts)."""
    rect = page.evaluate(f"{HOOK}.barRect({op_id!r})")
    assert rect is not None, f"bar {op_id} is not in view"
    bar_slot_x = rect["x"]  # the bar's start is inside the view (see show)
    grab_x, grab_y = rect["x"] + min(8, rect["width"] / 2), rect["y"] + rect["height"] / 2
    row = page.evaluate(f"{HOOK}.rowOf({machine!r})")
    assert row >= 0
    to_x = page.evaluate(f"{HOOK}.slotX({start})") + (grab_x - bar_slot_x)
    to_y = page.evaluate(f"{HOOK}.rowY({row})")
    page.mouse.move(grab_x, grab_y)
    page.mouse.down()
    page.mouse.move((grab_x + to_x) / 2, (grab_y + to_y) / 2, steps=8)
    page.mouse.move(to_x, to_y, steps=8)
    page.wait_for_timeout(150)
    gantt = page.locator(".prodsched-gantt")
    assert gantt.get_attribute("data-drag-op") == op_id
    highlighted = {int(r) for r in gantt.get_attribute("data-drag-rows").split(",")}
    if shot:
        ARTIFACTS.mkdir(exist_ok=True)
        gantt.screenshot(path=str(ARTIFACTS / shot))
    page.mouse.up()
    return highlighted


def test_drag_a_bar_replan_and_the_operation_sits_where_dropped(lab, browser):
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{lab.url}/lab/tree/notebooks/00_panel.ipynb", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=STAGE_TIMEOUT_MS)
        wait_kernel_idle(page)
        run_all_cells(page)
        page.wait_for_selector(".prodsched-panel", timeout=STAGE_TIMEOUT_MS)
        page.locator(".prodsched-run-all").click()
        page.wait_for_selector(".prodsched-status-results .prodsched-badge-done", timeout=STAGE_TIMEOUT_MS)
        page.wait_for_selector(".prodsched-gantt[data-editable='1'] canvas", timeout=STAGE_TIMEOUT_MS)
        page.wait_for_selector(".prodsched-whatif", state="visible", timeout=STAGE_TIMEOUT_MS)

        session = the_session(lab)
        op, other, wrong = choose(session)
        target = int(op.start) + 6
        show(page, int(op.start) - 12, int(op.start) + 48)  # a slot is ~20 px wide: drops land on whole slots

        # an illegal drop: refused, the reason shown over the chart, no pin
        highlighted = drag(page, op.op_id, wrong, int(op.start))
        eligible = {page.evaluate(f"{HOOK}.rowOf({m!r})") for m in machine_durations(session.artifact("dag"))[op.op_id]}
        assert highlighted == eligible and page.evaluate(f"{HOOK}.rowOf({wrong!r})") not in highlighted
        refusal = page.locator(".prodsched-gantt-refusal")
        refusal.wait_for(state="visible", timeout=30_000)
        assert op.op_id in refusal.inner_text() and "not eligible" in refusal.inner_text()
        assert page.locator(".prodsched-whatif-pin").count() == 0

        # a legal drop: another eligible machine, 6 slots later -> a pin listed with its time
        assert drag(page, op.op_id, other, target, shot="gantt-whatif-drag.png") == eligible
        pin = page.locator(f".prodsched-whatif-pin[data-op='{op.op_id}']")
        pin.wait_for(timeout=30_000)
        assert other in pin.inner_text()
        assert refusal.is_hidden()

        page.locator(".prodsched-whatif-replan").click()
        page.locator(".prodsched-whatif-result", has_text="Moved operations").wait_for(timeout=STAGE_TIMEOUT_MS)
        result = page.locator(".prodsched-whatif-result").inner_text()
        assert "moved:" in result and "unchanged:" in result and "KPI change" in result

        session = the_session(lab)
        plan = session.artifact("schedule").set_index("op_id")
        assert (plan.loc[op.op_id, "machine"], int(plan.loc[op.op_id, "start"])) == (other, target)
        replan = session.artifact("schedule_info").get("replan")
        assert replan["pins"] == [[op.op_id, other, target]]
        assert verify(session.artifact("schedule"), session.artifact("dag"), session.artifacts("load"), replan) == []
        assert len(session.artifact("violations")) == 0
        page.wait_for_function(f"() => {HOOK} && {HOOK}.opIds().length > 0")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "panel-whatif.png"))
        assert not [e for e in errors if "prodsched" in e or "gantt" in e.lower()], errors
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "panel-whatif-failure.png"))
        print("page errors:", errors, "\nJupyterLab log:\n", lab.log())
        raise
    finally:
        page.close()
