"""Result files: exact names, columns and formats of the output contract; results.xlsx sheets."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from test_results import make_world, plan_of  # tests/ is on sys.path under pytest

from prodsched.params import Params
from prodsched.results import exports as E
from prodsched.results import kpis as K
from prodsched.results.columns import VIOLATION_COLUMNS

SCHEDULE_CSV = ["op_id", "job_id", "po_nos", "item", "operation", "op_class", "mixture", "seq", "width_mm",
                "length_m", "machine", "start", "end", "start_time", "end_time", "setup_slots",
                "aging_slots", "due"]
KPI_KEYS = {"makespan_slots", "orders", "operations", "late_orders", "total_tardiness_days", "on_time_rate",
            "setup_slots", "idle_slots", "violations", "slot_minutes", "base_date"}


def _artifacts() -> dict:
    """The world's stage-6 artifacts computed from the KPI functions (the stage itself is tested
    in test_results, including the verifier)."""
    w = make_world()
    orders = K.order_table(w["schedule"], w["order_data"], w["order_jobs"], w["unable"], w["jobs"])
    plan = plan_of(w)
    machines, gaps = K.machine_and_gap_tables(plan)
    bounds = K.lower_bounds(w["dag"], plan.makespan)
    kpis = K.compute_kpis(plan, orders, machines, bounds, 0, Params())
    return {**w, "kpis": kpis, "orders": orders, "late_orders": K.late_order_table(orders),
            "machines": machines, "gaps": gaps, "bounds": bounds,
            "violations": pd.DataFrame(columns=VIOLATION_COLUMNS)}



@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    paths = E.write_results(_artifacts(), out)
    return out, paths


def test_file_names(written):
    out, paths = written
    names = {p.name for p in paths}
    expected = {"schedule.csv", "kpis.json", "orders.csv", "unable.csv", "validation.csv", "results.xlsx",
                "gantt.png", "gantt.html"}
    assert names == expected
    assert all((out / n).stat().st_size > 0 for n in names)


def test_gantt_files_are_real(written):
    out, _ = written
    assert (out / "gantt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "gantt.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and "J2-01" in html
    assert "<script src=\"http" not in html  # self-contained



def test_a_contract_file_that_cannot_be_written_is_an_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "gantt.png").mkdir()  # a folder where the picture should go: writing it must fail loudly
    with pytest.raises(OSError):
        E.write_results(_artifacts(), out)

def test_schedule_csv_columns_and_formats(written):
    out, _ = written
    raw = pd.read_csv(out / "schedule.csv", dtype=str, keep_default_na=False)
    assert list(raw.columns) == SCHEDULE_CSV
    row = raw.set_index("op_id").loc["J2-01"]
    assert row["start_time"] == "2024-03-01T14:00:00" and row["end_time"] == "2024-03-01T20:00:00"
    assert row["due"] == "2024-03-01" and row["setup_slots"] == "4" and row["start"] == "28"
    assert raw.set_index("op_id").at["J1-01", "po_nos"] == "P1;P2"
    assert list(raw["start"].astype(int)) == sorted(raw["start"].astype(int))


def test_schedule_csv_round_trips(written):
    out, _ = written
    back = E.read_schedule_csv(out / "schedule.csv").set_index("op_id").sort_index()
    orig = make_world()["schedule"].set_index("op_id").sort_index()
    pd.testing.assert_frame_equal(back, orig[back.columns], check_dtype=False)


def test_kpis_json(written):
    out, _ = written
    data = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert KPI_KEYS <= set(data)
    assert (data["makespan_slots"], data["orders"], data["late_orders"], data["base_date"]) == (60, 6, 1, "2024-03-01")
    assert data["total_tardiness_days"] == pytest.approx(0.25)


def test_orders_unable_validation_csv(written):
    out, _ = written
    orders = pd.read_csv(out / "orders.csv", dtype=str, keep_default_na=False)
    assert list(orders.columns) == ["po_no", "item", "job_id", "due", "end_time", "late_days",
                                    "late_whole_days", "status", "reason"]
    p1 = orders.set_index("po_no").loc["P1"]
    assert (p1["due"], p1["end_time"], p1["late_whole_days"], p1["status"]) == \
        ("2024-03-01", "2024-03-02T06:00:00", "1", "scheduled")
    p5 = orders.set_index("po_no").loc["P5"]
    assert (p5["status"], p5["end_time"], p5["late_days"]) == ("unable", "", "")
    unable = pd.read_csv(out / "unable.csv", dtype=str, keep_default_na=False)
    assert list(unable.columns) == ["po_no", "job_id", "item", "reason", "detail"]
    assert unable["po_no"].tolist() == ["P5"]
    validation = pd.read_csv(out / "validation.csv", dtype=str, keep_default_na=False)
    assert list(validation.columns) == ["severity", "table", "row", "column", "value", "message"]
    assert validation.iloc[0]["table"] == "operation_delay"


def test_empty_unable_and_validation_keep_their_headers(tmp_path):
    a = _artifacts()
    a["unable"] = pd.DataFrame()
    a.pop("validation")
    E.write_results(a, tmp_path)
    assert (tmp_path / "unable.csv").read_text().strip() == "po_no,job_id,item,reason,detail"
    assert (tmp_path / "validation.csv").read_text().strip() == "severity,table,row,column,value,message"


def test_results_xlsx_sheets(written):
    out, _ = written
    wb = openpyxl.load_workbook(out / "results.xlsx")
    assert wb.sheetnames == ["kpis", "orders", "late_orders", "machines", "schedule", "gaps"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.column_dimensions["A"].width >= 8
    header = lambda ws: [c.value for c in ws[1]]
    assert header(wb["schedule"]) == SCHEDULE_CSV
    assert header(wb["orders"]) == K.ORDER_COLUMNS == header(wb["late_orders"])
    assert header(wb["machines"]) == K.MACHINE_COLUMNS
    assert header(wb["gaps"]) == K.GAP_COLUMNS
    assert header(wb["kpis"]) == ["kpi", "value", "meaning"]
    kpis = {r[0]: r[1] for r in wb["kpis"].iter_rows(min_row=2, values_only=True)}
    assert kpis["makespan_slots"] == 60 and kpis["late_orders"] == 1
    sched = list(wb["schedule"].iter_rows(min_row=2, values_only=True))
    assert len(sched) == 5
    first = dict(zip(SCHEDULE_CSV, sched[0]))
    assert isinstance(first["start_time"], __import__("datetime").datetime)
    assert wb["late_orders"].max_row == 2 and wb["late_orders"]["A2"].value == "P1"
    width_of_reason = wb["gaps"].column_dimensions[openpyxl.utils.get_column_letter(len(K.GAP_COLUMNS))].width
    assert width_of_reason > 30  # readable: the long reason texts get a wide column
