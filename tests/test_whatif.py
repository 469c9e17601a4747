"""What-if in the panel without a browser: drops set on the Gantt's traitlets, pins, re-plan."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from prodsched.jupyter.panel import StagePanel
from prodsched.results.gantt_data import bar_records, machine_durations
from prodsched.stages.schedule import as_graph, verify



@pytest.fixture()
def panel(sample_dir, tmp_path):
    p = StagePanel(data=sample_dir, store=str(tmp_path / "sessions.db"))
    p.run_all()
    st = p.wait(120)
    assert all(s["status"] == "done" for s in st["stages"]), p.error.value
    yield p
    p.whatif.wait(120)
    p.close()


def drop(p: StagePanel, op_id: str, machine: str, start: int) -> str:
    """What the front end does on a drop; returns the refusal shown (empty when accepted)."""
    p.gantt.drop_proposal = {"op_id": op_id, "machine": machine, "start_slot": int(start), "nonce": drop.n}
    drop.n += 1
    return p.gantt.drop_refusal


drop.n = 0


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def eligible(p: StagePanel, op_id: str) -> dict[str, int]:
    return machine_durations(p.session.artifact("dag"))[op_id]


def plan_row(p: StagePanel, op_id: str) -> pd.Series:
    plan = p.session.artifact("schedule")
    return plan[plan["op_id"] == op_id].iloc[0]


def movable(p: StagePanel) -> pd.Series:
    """An operation of the plan with at least two eligible machines, without predecessors."""
    dag = as_graph(p.session.artifact("dag"))
    plan = p.session.artifact("schedule")
    for row in plan.itertuples(index=False):
        if len(eligible(p, row.op_id)) > 1 and not list(dag.predecessors(row.op_id)):
            return plan_row(p, row.op_id)
    raise AssertionError("the sample has no operation with two eligible machines")


def check_verifies(p: StagePanel) -> None:
    """The project's verifier finds nothing in the session's schedule (with its pins and now)."""
    replan = p.session.artifact("schedule_info").get("replan")
    found = verify(p.session.artifact("schedule"), p.session.artifact("dag"), p.session.artifacts("load"), replan)
    assert found == []
    assert len(p.session.artifact("violations")) == 0


def test_the_chart_is_editable_and_carries_each_bars_eligible_machines(panel):
    g = panel.gantt
    assert g.editable and panel.whatif.widget.layout.display == ""
    rows = {m["machine"]: m["row"] for m in g.data["machines"]}
    durations = machine_durations(panel.session.artifact("dag"))
    column = g.data["bars"]["eligible"]
    assert len(column["codes"]) == len(g.data["bars"]["op_id"])
    assert len(column["values"]) < len(column["codes"])  # coded: distinct lists once
    for op_id, code in zip(g.data["bars"]["op_id"], column["codes"]):
        assert sorted(map(tuple, column["values"][code])) == sorted((rows[m], d) for m, d in durations[op_id].items())


def test_a_legal_drop_becomes_a_pin_listed_with_its_time(panel):
    op = movable(panel)
    other = next(m for m in sorted(eligible(panel, op.op_id)) if m != op.machine)
    assert drop(panel, op.op_id, other, op.start + 3) == ""
    assert panel.whatif.pins == {op.op_id: (other, op.start + 3)}
    assert panel.gantt.pins == [{"op_id": op.op_id, "machine": other, "start": op.start + 3,
                                 "end": op.start + 3 + eligible(panel, op.op_id)[other]}]
    when = (op.start_time + pd.Timedelta(minutes=30 * 3)).strftime("%Y-%m-%d %H:%M")
    listed = text(panel.whatif.pin_list.children[1].children[0].value)
    assert f"{op.op_id} on {other} at {when}" in listed
    # dropping the same bar again moves its pin
    assert drop(panel, op.op_id, other, op.start + 5) == ""
    assert panel.whatif.pins == {op.op_id: (other, op.start + 5)}


def test_a_drop_on_an_ineligible_machine_is_refused_with_the_reason(panel):
    op = movable(panel)
    machines = [m["machine"] for m in panel.gantt.data["machines"]]
    wrong = next(m for m in machines if m not in eligible(panel, op.op_id))
    reason = drop(panel, op.op_id, wrong, op.start)
    assert op.op_id in reason and wrong in reason and "not eligible" in reason
    assert ", ".join(sorted(eligible(panel, op.op_id))) in reason
    assert panel.whatif.pins == {} and panel.gantt.pins == []
    assert "Refused" in panel.whatif.message.value
    # the same refusal again is shown again (the chart sees a change)
    seen = []
    panel.gantt.observe(lambda c: seen.append(c["new"]), names="drop_refusal")
    assert drop(panel, op.op_id, wrong, op.start) == reason
    assert seen[-1] == reason


def test_a_drop_onto_downtime_is_refused(panel):
    instance = panel.whatif.instance()
    for mc in instance.machines:
        spans = [(s, e) for s, e in mc.downtime if s > 0]
        ops = [o for o in instance.operations if mc.code in o.durations and not o.predecessors]
        if spans and ops:
            break
    else:
        raise AssertionError("the sample data has no downtime on a machine with a first operation")
    (down_start, down_end), op = spans[0], ops[0]
    start = max(0, down_start - 1)
    reason = drop(panel, op.id, mc.code, start)
    assert op.id in reason and f"downtime [{down_start}, {down_end})" in reason and mc.code in reason
    assert panel.whatif.pins == {}


def test_a_drop_overlapping_another_pin_or_breaking_precedence_is_refused(panel):
    dag = as_graph(panel.session.artifact("dag"))
    first = movable(panel)
    assert drop(panel, first.op_id, first.machine, first.start) == ""
    plan = panel.session.artifact("schedule")
    rival = next(r for r in plan.itertuples(index=False) if r.op_id != first.op_id
                 and first.machine in eligible(panel, r.op_id) and not list(dag.predecessors(r.op_id)))
    reason = drop(panel, rival.op_id, first.machine, first.start + 1)
    assert first.op_id in reason and rival.op_id in reason and "overlaps" in reason
    # a successor dropped before its pinned predecessor has ended
    succ = next(iter(dag.successors(first.op_id)), None)
    if succ is not None:
        machine = sorted(eligible(panel, succ))[0]
        reason = drop(panel, succ, machine, first.start + 1)
        assert succ in reason and first.op_id in reason and "predecessor" in reason
    # an operation dropped before its (unpinned) predecessor can have ended
    later = next(r for r in plan.itertuples(index=False) if list(dag.predecessors(r.op_id))
                 and first.op_id not in dag.predecessors(r.op_id))
    reason = drop(panel, later.op_id, later.machine, 0)
    assert later.op_id in reason and "predecessor" in reason
    assert any(p in reason for p in dag.predecessors(later.op_id))
    assert list(panel.whatif.pins) == [first.op_id]


def test_a_drop_before_now_is_refused_and_started_operations_stay(panel):
    assert panel.gantt.now_slot is None  # now at the plan's start: nothing to mark
    panel.whatif.now.value = "2026-01-02 00:00"
    now = panel.whatif.now_slot()
    step = pd.Timedelta(minutes=panel.gantt.data["slot_minutes"])
    assert now == (pd.Timestamp("2026-01-02") - pd.Timestamp(panel.gantt.data["base_date"])) / step
    assert panel.gantt.now_slot == now
    op = movable(panel)
    reason = drop(panel, op.op_id, op.machine, now - 1)
    plan = panel.session.artifact("schedule")
    started = plan[plan["start"] < now].iloc[0]
    if started.op_id != op.op_id:
        assert "before now" in reason and op.op_id in reason
    moved = drop(panel, started.op_id, started.machine, now + 2)
    assert started.op_id in moved and "started before now" in moved and "cannot move" in moved


def test_removing_pins(panel):
    op = movable(panel)
    assert drop(panel, op.op_id, op.machine, op.start + 2) == ""
    row = panel.whatif.pin_list.children[1]
    row.children[1].click()  # the remove button of that pin
    assert panel.whatif.pins == {} and panel.gantt.pins == []
    assert "No pins" in panel.whatif.pin_list.children[0].value
    assert drop(panel, op.op_id, op.machine, op.start + 2) == ""
    panel.whatif.clear_btn.click()
    assert panel.whatif.pins == {}


def test_replan_keeps_the_pin_where_it_was_dropped_verifies_and_shows_changes(panel):
    before = panel.session.artifact("schedule").copy()
    old_kpis = dict(panel.session.artifact("kpis"))
    op = movable(panel)
    other = next(m for m in sorted(eligible(panel, op.op_id)) if m != op.machine)
    target = op.start + 4
    assert drop(panel, op.op_id, other, target) == ""
    panel.whatif.replan_btn.click()
    last = panel.whatif.wait(120)
    assert last["error"] is None, last["error"]
    row = plan_row(panel, op.op_id)
    assert (row.machine, int(row.start)) == (other, target)
    assert panel.session.params.pins == [{"op_id": op.op_id, "machine": other,
                                          "start": panel.whatif._time(target)}]
    check_verifies(panel)
    after = panel.session.artifact("schedule")
    # the changes against the plan before: every operation once, the dropped one moved
    changes = last["changes"]
    assert len(changes) == len(before) == len(after)
    assert changes.set_index("op_id").loc[op.op_id, "status"] == "moved"
    merged = before.merge(after, on="op_id", suffixes=("_old", "_new"))
    really_moved = set(merged[(merged.machine_old != merged.machine_new) | (merged.start_old != merged.start_new)].op_id)
    assert set(changes[changes.status == "moved"].op_id) == really_moved
    shown = text(panel.whatif.result.value)
    assert f"moved: {len(really_moved)}" in shown and f"unchanged: {len(before) - len(really_moved)}" in shown
    assert f"Moved operations ({len(really_moved)})" in shown
    new_kpis = panel.session.artifact("kpis")
    for key in ("makespan_slots", "setup_slots", "late_orders"):
        assert last["replan"][f"delta_{key}"] == new_kpis[key] - old_kpis[key]
    assert "KPI change" in shown and "Makespan" in shown
    # the panel's chart shows the new plan with the pin drawn, and stays editable
    assert panel.gantt.editable and panel.gantt.pins[0]["op_id"] == op.op_id
    bar = next(b for b in bar_records(panel.gantt.data) if b["op_id"] == op.op_id)
    assert (bar["machine"], bar["start"]) == (other, target)
    # another panel on the same session lists the same pin (read as stage 5 reads it)
    again = StagePanel(session=panel.session.id, store=panel.store)
    try:
        again.wait(60)
        assert again.whatif.pins == {op.op_id: (other, target)}
    finally:
        again.close()


def test_replan_from_now_keeps_the_started_operations(panel):
    before = panel.session.artifact("schedule").copy()
    panel.whatif.now.value = "2026-01-02 12:00"
    now = panel.whatif.now_slot()
    refused = []
    for op in before.sort_values("start").itertuples(index=False):  # the first later one that may move
        others = [m for m in sorted(eligible(panel, op.op_id)) if m != op.machine]
        if op.start <= now + 10 or not others:
            continue
        reason = drop(panel, op.op_id, others[0], op.start + 2)
        if not reason:
            other = others[0]
            break
        assert op.op_id in reason  # e.g. kept predecessors forbid it: the reason names it
        refused.append(reason)
    else:
        raise AssertionError(f"no later operation could be pinned elsewhere: {refused[:3]}")
    panel.whatif.replan()
    last = panel.whatif.wait(120)
    assert last["error"] is None, last["error"]
    assert panel.session.params.now == "2026-01-02 12:00"
    after = panel.session.artifact("schedule").set_index("op_id")
    started = before[before["start"] < now]
    assert len(started) > 0
    for row in started.itertuples(index=False):
        assert (after.loc[row.op_id, "machine"], after.loc[row.op_id, "start"]) == (row.machine, row.start)
    unpinned = after.drop(index=[*started["op_id"], op.op_id])
    assert (unpinned["start"] - unpinned["setup_slots"] >= now).all()
    assert (after.loc[op.op_id, "machine"], after.loc[op.op_id, "start"]) == (other, op.start + 2)
    check_verifies(panel)


def test_replan_failure_is_shown_not_lost(panel):
    op = movable(panel)
    assert drop(panel, op.op_id, op.machine, op.start + 1) == ""
    panel.whatif.now.value = "yesterday-ish"
    panel.whatif.replan()
    assert "Cannot re-plan" in panel.whatif.message.value and "now" in panel.whatif.message.value
    assert panel.session.params.pins is None
