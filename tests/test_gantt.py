"""Gantt data model, static PNG/HTML exports and the widget's Python side (hand-made schedules)."""

from __future__ import annotations

import json
import re
import struct
from types import SimpleNamespace

import pandas as pd
import pytest

from prodsched.errors import ProdschedError
from prodsched.jupyter.gantt import GanttWidget
from prodsched.results.gantt_data import bar_records, downtime_records, gantt_data, setup_records
from prodsched.results.gantt_html import gantt_html, write_gantt_html
from prodsched.results.gantt_png import hangul_font, label, romanize, write_gantt_png
from prodsched.results.plan import PlanView

BASE = pd.Timestamp("2024-03-01")
SLOT = 30


def op(op_id, machine, start, end, op_class="SR", mixture="", width=1500, setup=0, due="2024-03-02", po="P1", seq=1):
    return {
        "op_id": op_id, "job_id": op_id.split("-")[0], "po_nos": po, "item": "ITEM1", "operation": f"op-{op_class}",
        "op_class": op_class, "mixture": mixture, "seq": seq, "width_mm": width, "length_m": 1200.0,
        "machine": machine, "start": start, "end": end,
        "start_time": BASE + pd.Timedelta(minutes=SLOT * start), "end_time": BASE + pd.Timedelta(minutes=SLOT * end),
        "setup_slots": setup, "aging_slots": 0, "due": pd.Timestamp(due),
    }


@pytest.fixture()
def schedule():
    return pd.DataFrame([
        op("J1-01", "M2", 0, 10, "SR", due="2024-03-10", po="P1;P2"),
        op("J1-02", "M1", 12, 20, "EPU", mixture="MX1", width=1500, due="2024-03-10", po="P1;P2", seq=2),
        op("J2-01", "M1", 23, 30, "EPU", mixture="MX2", width=1300, setup=3, due="2024-03-01", po="P3"),
        op("J3-01", "M1", 32, 40, "SR", width=1500, setup=2, due="2024-03-01", po="P4"),
    ])


@pytest.fixture()
def tables():
    return {
        "machine_master_info": pd.DataFrame({"machine": ["M1", "M2", "M3"], "machine_index": [1, 2, 3],
                                             "machine_name": ["Coater A", "Laminator", "Printer"]}),
        "operation_types": pd.DataFrame({"operation_code": ["a", "b", "c"], "operation": ["x", "y", "z"],
                                         "op_class": ["EPU", "SR", "인쇄"]}),
        "operation_delay": pd.DataFrame({"from_class": ["EPU", "EPU"], "to_class": ["EPU", "SR"], "setup_slots": [3, 2]}),
        "width_change": pd.DataFrame({"machine_index": [1], "machine_name": ["Coater A"], "long_to_short": [3],
                                      "short_to_long": [1], "machine": ["M1"]}),
        "machine_rest": pd.DataFrame({"machine": ["M2"], "machine_index": [2],
                                      "start": [pd.Timestamp("2024-03-01 08:10")], "end": [pd.Timestamp("2024-03-01 09:40")]}),
    }


def test_rows_follow_machine_master_order_and_include_idle_machines(schedule, tables):
    data = gantt_data(schedule, tables)
    assert [m["machine"] for m in data["machines"]] == ["M1", "M2", "M3"]
    assert data["machines"][0]["name"] == "Coater A"
    assert {b["op_id"]: b["row"] for b in bar_records(data)} == {"J1-01": 1, "J1-02": 0, "J2-01": 0, "J3-01": 0}


def test_calendar_is_inferred_from_the_schedule_or_taken_from_the_dag(schedule):
    data = gantt_data(schedule)
    assert (data["base_date"], data["slot_minutes"]) == ("2024-03-01", 30)

    dag = SimpleNamespace(graph={"base_date": "2024-02-01", "slot_minutes": 60, "machines": ["M2", "M1"]})
    data = gantt_data(schedule, dag=dag)
    assert (data["base_date"], data["slot_minutes"]) == ("2024-02-01", 60)
    assert [m["machine"] for m in data["machines"]] == ["M2", "M1"]


def test_bars_carry_order_and_lateness_details(schedule, tables):
    bars = {b["op_id"]: b for b in bar_records(gantt_data(schedule, tables))}
    assert bars["J1-01"]["po_nos"] == ["P1", "P2"]
    assert bars["J1-01"]["late"] is False and bars["J1-01"]["late_days"] == 0
    # J2-01 ends 2024-03-01 15:00, due 2024-03-01: deadline is the end of the due day -> on time
    assert bars["J2-01"]["late"] is False
    assert bars["J2-01"]["due_slot"] == 48
    late = bar_records(gantt_data(schedule.assign(due=pd.Timestamp("2024-02-29")), tables))
    j3 = next(b for b in late if b["op_id"] == "J3-01")  # ends 2024-03-01 20:00 -> 20 h late
    assert j3["late"] and j3["late_days"] == pytest.approx(20 / 24, abs=0.01) and j3["late_whole_days"] == 1
    assert json.loads(json.dumps(gantt_data(schedule, tables)))  # JSON-able as is


def test_setup_segments_sit_right_before_their_operation_with_a_reason(schedule, tables):
    data = gantt_data(schedule, tables)
    setups = {s["op_id"]: s for s in setup_records(data)}
    assert set(setups) == {"J2-01", "J3-01"}
    assert (setups["J2-01"]["start"], setups["J2-01"]["end"]) == (20, 23)
    assert (setups["J3-01"]["start"], setups["J3-01"]["end"]) == (30, 32)
    assert setups["J2-01"]["reason"] == "mixture change MX1→MX2 (3 slots); width change long→short 1500→1300 (3 slots)"
    assert setups["J3-01"]["reason"] == ("class change EPU→SR (2 slots); mixture change MX2→none; "
                                         "width change short→long 1300→1500 (1 slot)")
    assert next(b for b in bar_records(data) if b["op_id"] == "J1-02")["setup_reason"] == ""


def test_setup_reasons_are_the_plan_views(schedule, tables):
    plan = PlanView.build(schedule, tables=tables)
    bars = bar_records(gantt_data(plan))
    assert {b["op_id"]: b["setup_reason"] for b in bars} == dict(zip(plan.setups["op_id"], plan.setups["reason"]))
    assert gantt_data(plan) == gantt_data(schedule, tables)  # a schedule is turned into its plan view first
    with pytest.raises(TypeError, match="PlanView already holds"):
        gantt_data(plan, tables)


def test_downtime_is_drawn_over_the_slots_it_blocks(schedule, tables):
    data = gantt_data(schedule, tables)  # rest 08:10-09:40: slots 16 (floored) to 20 (ceiled)
    assert downtime_records(data) == [{"machine": "M2", "row": 1, "start": 16, "end": 20,
                                       "start_time": "2024-03-01T08:00", "end_time": "2024-03-01T10:00"}]
    assert data["downtime"] == {"row": [1], "start": [16], "end": [20]}


def test_downtime_rows_found_by_machine_index_when_the_code_is_missing(schedule, tables):
    rest = tables["machine_rest"].assign(machine="")
    data = gantt_data(schedule, {**tables, "machine_rest": rest})
    assert [d["machine"] for d in downtime_records(data)] == ["M2"]


def test_colours_follow_the_class_table_and_do_not_shift_with_usage(schedule, tables):
    data = gantt_data(schedule, tables)
    assert data["classes"] == ["EPU", "SR"]
    only_sr = gantt_data(schedule[schedule.op_class == "SR"], tables)
    assert only_sr["colors"]["SR"] == data["colors"]["SR"]
    assert data["colors"]["EPU"] != data["colors"]["SR"]


def test_schedule_read_back_from_csv_gives_the_same_data(schedule, tables, tmp_path):
    schedule.to_csv(tmp_path / "s.csv", index=False)
    again = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert gantt_data(again, tables)["bars"] == gantt_data(schedule, tables)["bars"]
    assert bar_records(gantt_data(again, tables)) == bar_records(gantt_data(schedule, tables))


def test_empty_schedule_still_renders(tmp_path, tables):
    empty = pd.DataFrame(columns=list(op("J1-01", "M1", 0, 1)))
    data = gantt_data(empty, tables, base_date="2024-03-01", slot_minutes=30)
    assert bar_records(data) == [] and data["bars"]["op_id"] == [] and data["stats"]["operations"] == 0
    assert (data["base_date"], data["slot_minutes"]) == ("2024-03-01", 30)
    assert write_gantt_png(empty, tmp_path / "e.png", tables, slot_minutes=30,
                           base_date="2024-03-01").stat().st_size > 0


def test_a_schedule_without_a_calendar_is_an_error(tables):
    empty = pd.DataFrame(columns=list(op("J1-01", "M1", 0, 1)))
    with pytest.raises(ProdschedError, match="base_date and slot_minutes missing"):
        gantt_data(empty, tables)
    with pytest.raises(ProdschedError, match="base_date missing"):
        gantt_data(empty, tables, slot_minutes=30)


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def big_schedule(n_machines=30, n_ops=2000):
    """A dense, overlap-free hand-made schedule: ops spread round-robin over machines."""
    rows, free = [], [0] * n_machines
    classes = ["SR", "EPU", "염료", "안료", "후처리", "인쇄"]
    for i in range(n_ops):
        m = i % n_machines
        setup = (i // n_machines) % 3 if free[m] else 0
        start = free[m] + setup
        end = start + 3 + (i * 7) % 11
        free[m] = end
        rows.append(op(f"J{i:04d}-01", f"M{m:02d}", start, end, classes[i % len(classes)], setup=setup,
                       due="2024-03-20"))
    return pd.DataFrame(rows)


def test_png_scales_with_the_number_of_machines(schedule, tables, tmp_path):
    small = png_size(write_gantt_png(schedule, tmp_path / "small.png", tables, title="Small"))
    big = png_size(write_gantt_png(big_schedule(), tmp_path / "big.png"))
    assert big[1] > 2 * small[1]  # a row per machine: 30 machines need a taller image
    assert 1200 <= big[0] <= 2400 and big[1] <= 2400


def test_html_is_self_contained_and_embeds_the_data(schedule, tables, tmp_path):
    path = write_gantt_html(schedule, tmp_path / "g.html", tables, title="Plant <A>")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<title>Plant &lt;A&gt;</title>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"""import\s*(\(|[^;]*from\s*["'])""", html)  # no module imports at all
    assert "export default" not in html and "window.prodschedGanttModule = { render };" in html
    blob = re.search(r'<script id="prodsched-gantt-data" type="application/json">(.*?)</script>', html, re.DOTALL).group(1)
    data = json.loads(blob)
    assert data == json.loads(json.dumps(gantt_data(schedule, tables, title="Plant <A>")))


def test_html_data_cannot_close_its_script_tag(schedule, tmp_path):
    sneaky = schedule.assign(item="</script><script>alert(1)</script>")
    html = gantt_html(gantt_data(sneaky))
    assert html.count("</script>") == 3  # data, renderer, bootstrap: nothing from the data
    assert "<script>alert" not in html


def test_widget_loads_its_front_end_from_the_package(schedule, tables):
    w = GanttWidget.from_schedule(schedule, tables=tables)
    assert "export default { render };" in w._esm and ".prodsched-gantt" in w._css
    assert not re.search(r"""from\s*["']https?:""", w._esm)
    state = w.get_state()
    assert state["data"]["stats"]["operations"] == 4 and state["selected_op"] == ""
    w.selected_op = "J2-01"
    assert w.bar()["machine"] == "M1" and w.bar("nope") is None
    w.show_window(10, 30)
    assert (w.view_start, w.view_end) == (10, 30)


def test_romanize_and_glossary_labels():
    assert romanize("염료") == "yeomryo" and romanize("A-1") == "A-1"
    if hangul_font() is None:  # with a Hangul font the text is drawn as is
        assert label("후처리 2") == "post-treatment 2"
        assert label("코팅라인") == "coating " + romanize("라인")
        assert label("코팅기 1호") == "coater #1" and label("SR코팅") == "SR coating"
    else:
        assert label("후처리") == "후처리"
