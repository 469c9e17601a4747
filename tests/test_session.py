"""Session state machine on both stores, running the real stages."""

from __future__ import annotations

import json
import time
from datetime import datetime

import networkx as nx
import pytest

from prodsched.errors import InputError, StageOrderError, StageRunningError, StoreError
from prodsched.session import PARAM_STAGE, Session, format_sessions, format_status
from prodsched.stages import STAGES
from prodsched.store import open_store


def _stage(status: dict, name: str) -> dict:
    return next(s for s in status["stages"] if s["name"] == name)


def _statuses(session: Session) -> list[str]:
    return [s["status"] for s in session.status()["stages"]]


def test_stages_run_only_in_order(store, plant):
    s = Session.create({"data": str(plant)}, store)
    assert s.can_run("load") and not s.can_run("preprocess")
    with pytest.raises(StageOrderError, match=r"stage 2 \(preprocess\) needs stage 1 \(load\)"):
        s.run("preprocess")
    summary = s.run("load")
    assert summary["orders"] > 0 and summary["errors"] == 0
    with pytest.raises(StageOrderError, match=r"stage 3 \(yield\) needs stage 2 \(preprocess\)"):
        s.run(3)
    for stage in ("preprocess", "yield", "dag"):
        s.run(stage)
    st = s.status()
    assert st["session_id"] == s.id and st["total"] == 6 and st["completed"] == 4
    assert st["overall"] == "partial" and _statuses(s) == ["done"] * 4 + ["pending"] * 2
    dag = _stage(st, "dag")
    assert dag["progress"] == 1.0 and dag["error"] is None and dag["elapsed_s"] >= 0
    started, ended = datetime.fromisoformat(dag["started"]), datetime.fromisoformat(dag["ended"])
    assert started.utcoffset().total_seconds() == 0 and ended >= started
    assert [x["can_run"] for x in st["stages"]] == [True, True, True, True, True, False]
    graph = s.artifact("dag")
    assert isinstance(graph, nx.DiGraph) and graph.number_of_nodes() == s.summary("dag")["nodes"]
    # stage inputs came from the store: the graph covers exactly the operations of stage 2
    assert set(graph.nodes) == set(s.artifact("operations")["op_id"])
    assert set(s.artifacts("yield")) == {"op_lengths"}
    with pytest.raises(KeyError, match="no artifact named 'nope'.*available: .*calendar"):
        s.artifact("nope")


def test_rerun_marks_later_stages_stale_and_hides_their_artifacts(store, plant):
    s = Session.create({"data": str(plant)}, store)
    s.run_all(upto="dag")
    s.run("preprocess")
    assert _statuses(s) == ["done", "done", "stale", "stale", "pending", "pending"]
    with pytest.raises(StageOrderError, match=r"artifact 'dag' of stage 4 \(dag\).*stale; re-run it"):
        s.artifact("dag")
    with pytest.raises(StageOrderError, match="stale"):
        s.summary("yield")
    assert s.can_run("yield") and not s.can_run("dag")
    with pytest.raises(StageOrderError, match=r"needs stage 3 \(yield\).*\(it is stale\)"):
        s.run("dag")
    assert s.run_all(upto="dag").keys() == {"yield", "dag"}  # resumes at the first stage not done
    assert _statuses(s)[:4] == ["done"] * 4 and s.artifact("dag").number_of_nodes() > 0


def test_each_parameter_belongs_to_the_stage_that_first_uses_it():
    from prodsched.params import Params

    assert set(PARAM_STAGE) == set(Params().to_dict())
    assert PARAM_STAGE == {
        "data": "load", "slot_minutes": "preprocess", "base_date": "preprocess",
        "width_combinations": "preprocess", "min_yield": "yield", "yield_policy": "yield",
        "window_days": "schedule", "rule": "schedule", "seed": "schedule", "time_limit_s": "schedule",
        "objective": "schedule", "improve_iterations": "schedule", "objective_options": "schedule",
        "solver": "schedule", "extra": "schedule", "now": "schedule", "replan_from": "schedule",
        "pins": "schedule", "out": "results", "outputs": "results"}


def test_set_params_marks_the_affected_stage_and_later_ones_stale(store, plant):
    s = Session.create({"data": str(plant)}, store)
    s.run_all(upto="dag")
    done4 = ["done"] * 4 + ["pending"] * 2
    for change in ({"out": "x"}, {"outputs": "csv"}, {"window_days": 9}, {"rule": "edd"}, {"seed": 3}, {"time_limit_s": 5.0}):
        assert s.set_params(**change) == [] and _statuses(s) == done4  # stages 5-6 have not run
    assert s.set_params(window_days=9) == []  # unchanged value: nothing happens
    assert s.set_params(yield_policy="item_product") == ["yield", "dag"]
    assert _statuses(s) == ["done", "done", "stale", "stale", "pending", "pending"]
    assert s.set_params(slot_minutes=60) == ["preprocess", "yield", "dag"]
    assert _statuses(s) == ["done", "stale", "stale", "stale", "pending", "pending"]
    assert s.set_params(data=str(plant) + "/") == ["load", "preprocess", "yield", "dag"]
    assert _statuses(s) == ["stale"] * 4 + ["pending"] * 2 and not s.can_run("preprocess")
    again = Session.attach(s.id, store).params
    assert (again.slot_minutes, again.window_days, again.yield_policy, again.out) == (60, 9, "item_product", "x")


def test_param_changes_through_run_and_unknown_params(store, plant):
    s = Session.create({"data": str(plant)}, store)
    s.run_all(upto="yield")
    s.run("yield", min_yield=0.95)
    assert s.params.min_yield == 0.95 and _statuses(s)[:3] == ["done"] * 3
    with pytest.raises(ValueError, match="unknown parameter"):
        s.set_params(windows=3)


def test_failed_stage_is_recorded_and_reraised(store, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    s = Session.create({"data": str(empty)}, store)
    with pytest.raises(InputError, match="order_data"):
        s.run("load")
    st = s.status()
    load = _stage(st, "load")
    assert load["status"] == "failed" and "order_data" in load["error"] and load["ended"]
    assert st["overall"] == "failed" and s.can_run("load") and not s.can_run("preprocess")
    with pytest.raises(StageOrderError, match="failed"):
        s.summary("load")
    s.run("load", background=True)  # background failures are recorded, not raised
    assert _stage(s.wait(timeout=30), "load")["status"] == "failed"


def test_background_run_wait_progress_and_local_callback(store, plant):
    s = Session.create({"data": str(plant)}, store)
    seen = []
    s.run_all(upto="yield", progress=lambda f, m: seen.append((f, m)))
    assert seen and all(0.0 <= f <= 1.0 for f, _ in seen)
    entry = s.run("dag", background=True)
    assert entry["name"] == "dag" and entry["status"] in ("running", "done")
    st = s.wait("dag", timeout=30)
    assert _stage(st, "dag")["status"] == "done" and _stage(st, "dag")["progress"] == 1.0
    assert s.cancel("dag") is False  # nothing running


def test_cancel_a_running_stage_in_this_process(store, plant, payload_fifo):
    s = Session.create({"data": str(payload_fifo)}, store)
    s.run("load", background=True)
    payload_fifo.wait_for_reader()  # the stage is now stuck reading its input
    assert _stage(s.status(), "load")["status"] == "running" and not s.can_run("load")
    with pytest.raises(StageRunningError, match=r"stage 1 \(load\) is already running in session " + s.id):
        s.run("load")
    with pytest.raises(StageRunningError, match="while stage 1 \\(load\\) is running"):
        s.set_params(data=str(plant))
    assert s.cancel("load") is True
    payload_fifo.feed(plant)
    load = _stage(s.wait(timeout=30), "load")
    assert load["status"] == "failed" and load["error"] == "cancelled"
    s.set_params(data=str(plant))
    assert s.run("load")["orders"] > 0  # a cancelled stage can run again


def test_attach_list_and_text_views(store, plant):
    a = Session.create({"data": str(plant)}, store)
    b = Session.create(None, store)
    a.run("load")
    assert Session.attach(a.id[:8], store).id == a.id
    with pytest.raises(StoreError, match="does not exist"):
        Session.attach("0123456789abcdef", store)
    rows = {r["session_id"]: r for r in Session.list(store)}
    assert rows.keys() == {a.id, b.id}
    assert rows[a.id]["completed"] == 1 and rows[a.id]["data"] == str(plant) and rows[b.id]["overall"] == "pending"
    text = format_status(a.status())
    assert a.id in text and "1/6 stages done" in text
    lines = text.splitlines()
    assert any(line.split()[:3] == ["1", "load", "done"] for line in lines)
    assert any(line.split()[:3] == ["5", "schedule", "pending"] for line in lines)
    table = format_sessions(Session.list(store))
    assert a.id in table and b.id in table and "partial" in table
    json.dumps(a.status())  # the status is JSON as it is (the CLI prints it with --json)
    assert b.delete() and [r["session_id"] for r in Session.list(store)] == [a.id]


def test_sessions_expire_after_their_ttl(tmp_path, plant):
    store = open_store(tmp_path / "s.db", ttl_s=1.0)
    s = Session.create({"data": str(plant)}, store)
    time.sleep(1.3)
    assert Session.list(store) == []
    with pytest.raises(StoreError, match="does not exist"):
        Session.attach(s.id, store)
    with pytest.raises(StoreError):
        _ = s.params


def test_planted_pickle_in_an_artifact_is_refused(store, plant, tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    s = Session.create({"data": str(plant)}, store)
    s.run("load")
    store.write(s.id, {"art:load:order_data": pickle.dumps(Bomb())})
    with pytest.raises(StoreError, match="refusing"):
        s.artifact("order_data")
    with pytest.raises(StoreError, match="refusing"):
        s.run("preprocess")  # the stage's inputs are read through the same decoder
    assert not marker.exists()
    assert _stage(s.status(), "preprocess")["status"] == "failed"


def _verify(session: Session) -> list[dict]:
    from prodsched.stages.schedule import verify
    from prodsched.inputs.spec import TABLE_NAMES

    tables = {name: session.artifact(name) for name in TABLE_NAMES}
    return verify(session.artifact("schedule"), session.artifact("dag"), tables)


def test_all_six_stages_run_and_the_schedule_passes_the_verifier(store, plant):
    s = Session.create({"data": str(plant)}, store)
    summaries = s.run_all()
    assert list(summaries) == list(STAGES)
    st = s.status()
    assert st["overall"] == "done" and st["completed"] == 6 and st["current"] is None
    schedule = s.artifact("schedule")
    assert _verify(s) == []
    assert sorted(schedule["op_id"]) == sorted(s.artifact("dag").nodes)
    assert str(schedule["start_time"].dtype).startswith("datetime64")
    assert summaries["schedule"]["operations"] == len(schedule) and summaries["schedule"]["violations"] == 0
    assert s.artifact("kpis")["violations"] == 0 and s.summary("results") == summaries["results"]

    # a schedule parameter makes stages 5-6 stale; the re-run schedule is verified again
    assert s.set_params(window_days=1, rule="edd") == ["schedule", "results"]
    with pytest.raises(StageOrderError, match="stale"):
        s.artifact("kpis")
    s.run("schedule")
    assert _statuses(s) == ["done"] * 5 + ["stale"]
    assert s.summary("schedule")["rule"] == "edd" and _verify(s) == []
    s.run("results")
    assert s.status()["overall"] == "done"


def test_cancel_the_schedule_while_it_runs(store, plant):
    s = Session.create({"data": str(plant), "time_limit_s": 30.0}, store)
    s.run_all(upto="dag")
    seen = []

    def press_cancel(fraction, message):  # a user pressing cancel once progress shows
        seen.append(fraction)
        if len(seen) == 1:
            assert s.cancel("schedule") is True

    s.run("schedule", background=True, progress=press_cancel)
    entry = _stage(s.wait("schedule", timeout=60), "schedule")
    assert seen and entry["status"] == "failed" and entry["error"] == "cancelled"
    assert not s.can_run("results") and s.can_run("schedule")
    s.set_params(time_limit_s=None)
    s.run("schedule")
    assert _verify(s) == []


@pytest.mark.redis
def test_redis_restart_then_a_new_session_runs(redis_server, redis_url, plant):
    store = open_store(redis_url)
    old = Session.create({"data": str(plant)}, store)
    old.run("load")
    redis_server.restart()  # no persistence: everything in the server is gone
    with pytest.raises(StoreError, match=f"lost the data of session {old.id}"):  # it did not expire
        _ = old.params
    s = Session.create({"data": str(plant)}, store)
    assert s.run("load")["orders"] > 0 and _stage(s.status(), "load")["status"] == "done"
