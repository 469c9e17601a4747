"""Sessions shared by several processes: visibility, refusal of a second run, cancel, dead workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prodsched.session import Session

REPO = Path(__file__).resolve().parents[1]

# A worker process: attach to the session and run one stage in the foreground.
WORKER = """
import sys
from prodsched.session import Session
s = Session.attach(sys.argv[2], sys.argv[1], lease_s=float(sys.argv[4]))
if len(sys.argv) > 5:
    import time
    time.sleep(max(0.0, float(sys.argv[5]) - time.time()))
try:
    s.run(sys.argv[3])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", flush=True)
    sys.exit(3)
print("done", flush=True)
"""


def _worker(store, session, stage, lease_s=30.0, start_at=None) -> subprocess.Popen:
    args = [sys.executable, "-c", WORKER, store.url, session.id, stage, str(lease_s)]
    if start_at is not None:
        args.append(f"{start_at:.3f}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _stage(session: Session, name: str) -> dict:
    return next(s for s in session.status()["stages"] if s["name"] == name)


def _wait_status(session: Session, name: str, wanted: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        entry = _stage(session, name)
        if entry["status"] == wanted or time.monotonic() > deadline:
            return entry
        time.sleep(0.05)


def test_another_process_sees_and_continues_the_session(store, plant, run_python):
    s = Session.create({"data": str(plant)}, store)
    s.run("load")
    code = """
import sys
from prodsched.session import Session
s = Session.attach(sys.argv[2], sys.argv[1])
print(s.artifact("order_data")["po_no"].tolist())
s.run("preprocess")
s.set_params(min_yield=0.85)
"""
    out = run_python(code, store.url, s.id).stdout
    assert out.strip() == str(s.artifact("order_data")["po_no"].tolist())
    assert _stage(s, "preprocess")["status"] == "done" and s.params.min_yield == 0.85
    assert len(s.artifact("jobs")) == s.summary("preprocess")["jobs"]


def test_two_processes_start_the_same_stage_and_exactly_one_runs(store, plant, payload_fifo):
    s = Session.create({"data": str(payload_fifo)}, store)
    start_at = time.time() + 0.7
    procs = [_worker(store, s, "load", start_at=start_at) for _ in range(2)]
    payload_fifo.wait_for_reader()  # the winner is stuck in stage 1 reading its input
    loser = None
    while loser is None:
        loser = next((p for p in procs if p.poll() is not None), None)
        time.sleep(0.05)
    out, err = loser.communicate()
    assert loser.returncode == 3, err
    assert out.strip() == f"StageRunningError: stage 1 (load) is already running in session {s.id}"
    payload_fifo.feed(plant)
    winner = next(p for p in procs if p is not loser)
    out, err = winner.communicate(timeout=60)
    assert winner.returncode == 0 and out.strip() == "done", err
    assert _stage(s, "load")["status"] == "done" and s.summary("load")["orders"] > 0


def test_cancel_from_another_process(store, plant, payload_fifo):
    s = Session.create({"data": str(payload_fifo)}, store)
    worker = _worker(store, s, "load")
    payload_fifo.wait_for_reader()
    assert _stage(s, "load")["status"] == "running"
    assert s.cancel("load") is True  # only the store connects this process with the worker
    payload_fifo.feed(plant)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 3 and out.startswith("Cancelled: "), err
    entry = _stage(s, "load")
    assert entry["status"] == "failed" and entry["error"] == "cancelled"


def test_killed_worker_is_reported_failed_once_its_lease_expires(store, plant, payload_fifo):
    s = Session.create({"data": str(payload_fifo)}, store)
    worker = _worker(store, s, "load", lease_s=1.0)
    payload_fifo.wait_for_reader()
    assert _stage(s, "load")["status"] == "running"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    entry = _wait_status(s, "load", "failed", timeout=10)
    assert entry["status"] == "failed"
    assert entry["error"].startswith("worker stopped responding: lease expired at ")
    assert s.can_run("load")
    s.set_params(data=str(plant))
    assert s.run("load")["orders"] > 0


def test_status_reads_in_another_process_do_not_disturb_a_live_run(store, plant, payload_fifo, run_python):
    s = Session.create({"data": str(payload_fifo)}, store)
    worker = _worker(store, s, "load", lease_s=1.0)
    payload_fifo.wait_for_reader()
    code = """
import sys, time
from prodsched.session import Session
s = Session.attach(sys.argv[2], sys.argv[1])
states = set()
for _ in range(12):
    states.add(s.status()["stages"][0]["status"])
    time.sleep(0.1)
print(sorted(states))
"""
    assert run_python(code, store.url, s.id).stdout.strip() == "['running']"
    feeder = payload_fifo.feed(plant)
    out, err = worker.communicate(timeout=60)
    feeder.join()
    assert worker.returncode == 0, out + err
    assert _stage(s, "load")["status"] == "done"
