"""The worker side of a stage run: execute it, save its results under its lock, or record why not.

A run holds the (session, stage) lock with a heartbeat (:class:`~prodsched.store.lease.Lease`)
that also polls the store for a cancel request. Its last write - results and status "done", or
status "failed" - is fenced by the lock and ends it in the same atomic step, so a run that lost
its lease (its process stalled past the lease) can never overwrite newer state. A run that lost
its lease because the store was unreachable, or that could not write its outcome, records why in
its status once the store answers again (compare-and-set on its own status record).
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime

from prodsched.store import serialize
from prodsched.errors import Cancelled, StoreError
from prodsched.stages import STAGES, run_stage, stage_number
from prodsched.store.lease import Lease, ProgressWriter

PROGRESS_MIN_INTERVAL_S = 0.1  # at most 10 progress writes per second

# runs started by this process: (store url, namespace, session, stage) -> StageRun
LOCAL_RUNS: dict[tuple[str, str, str, str], StageRun] = {}
LOCAL_LOCK = threading.Lock()


def iso(t: float | None) -> str | None:
    """Epoch seconds -> ISO 8601 UTC with milliseconds."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def label(name: str) -> str:
    return f"stage {stage_number(name)} ({name})"


class StageRun:
    """One stage execution started by this process: lease, cancel event, thread, outcome."""

    def __init__(session, lease: Lease):
        session.lease = lease
        session.cancel = threading.Event()
        session.thread: threading.Thread | None = None
        session.error: BaseException | None = None
        session.summary: dict | None = None
        session.on_progress = None


def execute(session, name: str, run: StageRun) -> None:
    """Worker thread body: run the stage with its inputs from the store and record the outcome."""
    lease, token = run.lease, run.lease.token
    cancel_field = f"stage:{name}:cancel"

    def cancel_requested() -> bool:
        request = session.store.get(session.id, cancel_field, expect=dict)
        return bool(request) and request.get("run_id") == token

    def poll() -> None:
        progress.flush()
        if cancel_requested():
            run.cancel.set()

    def renewed(ls: Lease) -> None:
        session.store.put(session.id, f"stage:{name}:lease", {"run_id": token, "until": ls.until})

    progress = ProgressWriter(session.store, session.id, f"stage:{name}:progress", token, run.on_progress,
                              PROGRESS_MIN_INTERVAL_S)
    lease.start_heartbeat(poll=poll, on_renew=renewed, on_lost=run.cancel.set)
    saved = False
    unrecorded: StoreError | None = None  # the store refused the record of the outcome
    try:
        inputs = session.stored_artifacts(list(STAGES[:stage_number(name) - 1]))  # decoded as used
        result = run_stage(name, inputs, session.params, progress=progress, cancel=run.cancel)
        if not lease.lost.is_set() and (run.cancel.is_set() or cancel_requested()):
            raise Cancelled()
        progress.close()
        items, stale = _result_items(session, name, token, result, progress.message)
        lease.stop()  # no renewal after this: the final write ends the lock in the same step
        saved = not lease.lost.is_set() and session.store.write(
            session.id, items, stale, if_lock=(name, token), release_lock=True)
        if saved:
            run.summary = dict(result.summary)
            _release(result.artifacts)
    except BaseException as exc:  # noqa: BLE001 - recorded in the store, re-raised in the foreground
        progress.close()
        lease.stop()
        run.error = exc
        try:
            saved = not lease.lost.is_set() and _fail(session, name, token, exc)
        except StoreError as store_exc:
            saved, unrecorded = True, store_exc
    finally:
        lease.release()
        if not saved:
            run.error = lease.failure or StoreError(
                f"{label(name)} in session {session.id} lost its lock (lease expired at "
                f"{iso(lease.until)}); its results were discarded")
        if lease.failure is not None or unrecorded is not None:
            _record_failure(session, name, token, run.error)
        with LOCAL_LOCK:
            if LOCAL_RUNS.get(session.run_key(name)) is run:
                del LOCAL_RUNS[session.run_key(name)]
        try:
            session.stage_records()  # a lost lease is reported as failed right away
        except StoreError:
            pass


def _result_items(session, name: str, token: str, result, message: str) -> tuple[dict, list]:
    """The encoded final write of a successful run (artifacts, summary, status done)."""
    t1 = time.time()
    items = {}
    for art, value in result.artifacts.items():
        try:
            items[f"art:{name}:{art}"] = serialize.encode(value)
        except StoreError as exc:
            raise StoreError(f"{label(name)} artifact {art!r}: {exc}") from None
    old = set(session.store.get(session.id, f"stage:{name}:artifacts", expect=list) or [])
    status = session.store.get(session.id, f"stage:{name}:status", expect=dict) or {}
    items[f"stage:{name}:artifacts"] = serialize.encode(sorted(result.artifacts))
    items[f"stage:{name}:summary"] = serialize.encode(dict(result.summary))
    items[f"stage:{name}:status"] = serialize.encode(
        {**status, "status": "done", "ended": iso(t1), "t1": t1, "error": None})
    items[f"stage:{name}:progress"] = serialize.encode({"run_id": token, "progress": 1.0, "message": message})
    return items, [f"art:{name}:{a}" for a in old - set(result.artifacts)]


def _release(artifacts: dict) -> None:
    """Empty the graphs a stage returned once they are stored (later stages read them from the
    store): networkx caches views that point back at their graph, so an unused graph is a
    reference cycle that would hold its memory until the cyclic garbage collector runs."""
    graph = getattr(sys.modules.get("networkx"), "Graph", None)
    for value in artifacts.values():
        if graph is not None and isinstance(value, graph) and not getattr(value, "frozen", False):
            value.clear()


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, Cancelled):
        return "cancelled"
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return f"interrupted ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, StoreError) and type(exc).__module__ != "prodsched.errors":
        text = f"{type(exc).__name__}: {text}"
    return text


def _fail(session, name: str, token: str, exc: BaseException) -> bool:
    """Record a failed run (and end its lock); False when the lock was already lost.
    A StoreError means the store did not take the record."""
    t1 = time.time()
    status = session.store.get(session.id, f"stage:{name}:status", expect=dict) or {}
    return session.store.put_many(session.id, {f"stage:{name}:status": {
        **status, "status": "failed", "ended": iso(t1), "t1": t1, "error": _error_text(exc)}},
        if_lock=(name, token), release_lock=True)


def _record_failure(session, name: str, token: str, exc: BaseException) -> None:
    """Record why a run ended without its lock (e.g. the store was unreachable past its lease),
    unless the stage's status now belongs to another run. Readers that got there first marked it
    failed with the expired lease; this replaces their guess with the cause."""
    field = f"stage:{name}:status"
    try:
        raw = session.store.get_raw(session.id, field)
        rec = session.store.decode(session.id, field, raw, dict) if raw else {}
        if rec.get("run_id") != token or rec.get("status") not in ("running", "failed"):
            return
        t1 = time.time()
        failed = {**rec, "status": "failed", "ended": iso(t1), "t1": t1, "error": _error_text(exc)}
        session.store.write(session.id, {field: serialize.encode(failed)}, if_unchanged={field: raw})
    except StoreError:
        pass  # still unreachable (or the session is gone): readers report the expired lease
