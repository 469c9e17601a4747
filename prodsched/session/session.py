"""Session: parameters, the six-stage state machine, artifacts and progress, kept in a store.

Everything lives in the store (see :mod:`prodsched.store`), so any kernel, the panel and the CLI
attached to the same session id see the same state. Fields of a session:

* ``meta`` {id, created}; ``params`` (Params as a dict)
* ``stage:{name}:status``    {status, run_id, started, ended, t0, t1, error}
* ``stage:{name}:progress``  {run_id, progress, message} (written at most 10 times a second)
* ``stage:{name}:lease``     {run_id, until} (refreshed by the worker's heartbeat)
* ``stage:{name}:cancel``    {run_id, at} (a cancel request the worker polls)
* ``stage:{name}:summary``, ``stage:{name}:artifacts`` (names), ``art:{name}:{artifact}`` (blobs)

A stage runs in a worker thread holding the (session, stage) lock; the final write of its results
is fenced by that lock, so a run whose lease was lost can never overwrite newer state.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from prodsched.store import serialize
from prodsched.errors import ParameterError, StageOrderError, StageRunningError, StoreError
from prodsched.params import Params
from prodsched.session.decoded import StoredArtifacts, decode_artifact
from prodsched.session.status import format_sessions, format_status, overall_status
from prodsched.session.worker import (
    LOCAL_LOCK,
    LOCAL_RUNS,
    StageRun,
    execute,
    iso,
    label,
)
from prodsched.stages import STAGES, stage_name, stage_number
from prodsched.stages.checks import check_params
from prodsched.store import open_store
from prodsched.store.lease import Lease

PARAM_STAGE = {
    "data": "load",
    "slot_minutes": "preprocess", "base_date": "preprocess", "width_combinations": "preprocess",
    "min_yield": "yield", "yield_policy": "yield",
    "window_days": "schedule", "rule": "schedule", "seed": "schedule", "time_limit_s": "schedule",
    "objective": "schedule", "improve_iterations": "schedule", "objective_options": "schedule",
    "solver": "schedule",
    "extra": "schedule",
    "now": "schedule", "replan_from": "schedule", "pins": "schedule",  # re-planning (stage 5 reads them)
    "out": "results", "outputs": "results",
}
STATUSES = ("pending", "running", "done", "failed", "stale")

class Session:
    """A scheduling session; create with :meth:`create` or :meth:`attach`."""

    def __init__(self, session_id: str, store, lease_s: float | None = None):
        self.id = session_id
        self.store = store
        self.lease_s = lease_s

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(cls, params: Params | dict | None = None, store=None, *, lease_s: float | None = None) -> Session:
        params = check_params(Params() if params is None else params)  # before anything is stored
        store = open_store(store)
        sid = uuid.uuid4().hex
        store.create_session(sid)
        store.put_many(sid, {"meta": {"id": sid, "created": iso(time.time())}, "params": params.to_dict()})
        return cls(sid, store, lease_s)

    @classmethod
    def attach(cls, session_id: str, store=None, *, lease_s: float | None = None) -> Session:
        """Attach to an existing session by id (a unique prefix of at least 4 characters works)."""
        store = open_store(store)
        sid = str(session_id).strip()
        if not store.exists(sid):
            matches = [s for s in store.list_sessions() if s.startswith(sid)] if len(sid) >= 4 else []
            if len(matches) != 1:
                why = "is ambiguous" if matches else "does not exist (or has expired)"
                raise StoreError(f"session {session_id!r} {why} in store {store.display_url}")
            sid = matches[0]
        return cls(sid, store, lease_s)

    @classmethod
    def list(cls, store=None) -> list[dict]:
        """One row per live session: id, created, expires, overall, completed, total, current, data
        (a session whose stored state cannot be read is listed with overall "unreadable")."""
        store = open_store(store)
        rows = []
        for sid in store.list_sessions():
            try:
                st = cls(sid, store).status()
            except StoreError as exc:
                try:
                    if not store.exists(sid):
                        continue  # expired or deleted while listing
                except StoreError:
                    pass  # e.g. an id prodsched would never give: listed with the reason
                rows.append({"session_id": sid, "created": None, "expires": None, "overall": "unreadable",
                             "completed": 0, "total": len(STAGES), "current": None, "data": None,
                             "error": str(exc)})
                continue
            rows.append({"session_id": sid, "created": st["created"], "expires": st["expires"],
                         "overall": st["overall"], "completed": st["completed"], "total": st["total"],
                         "current": st["current"], "data": st["params"].get("data"), "error": None})
        return rows

    def delete(self) -> bool:
        return self.store.delete_session(self.id)

    def __repr__(self) -> str:
        return f"Session({self.id!r}, store={self.store.display_url!r})"

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> Params:
        values = self.store.get(self.id, "params", expect=dict)
        if values is None:
            raise self.store.missing_session(self.id)
        return Params.from_dict(values)

    def set_params(self, **changes: Any) -> list[str]:
        """Change parameters; the stages depending on them (and all later ones) become stale."""
        current = self.params
        try:
            new = current.updated(**changes)
        except ValueError as exc:
            raise ParameterError(", ".join(sorted(set(changes) - set(current.to_dict()))), None,
                                 str(exc)) from None
        check_params(new, data_exists="data" in changes)
        old_d, new_d = current.to_dict(), new.to_dict()
        changed = [k for k in new_d if serialize.to_json_bytes(new_d[k]) != serialize.to_json_bytes(old_d[k])]
        if not changed:
            return []
        first = min(stage_number(PARAM_STAGE[k]) for k in changed)
        for name in STAGES[first - 1:]:
            if self.store.lock_owner(self.id, name) is not None:
                raise StageRunningError(f"cannot change {', '.join(changed)} while {label(name)} is running "
                                        f"in session {self.id}; wait for it or cancel it")
        values = {"params": new_d}
        values.update(self._stale_updates(first))
        self.store.put_many(self.id, values)
        return [n for n in STAGES[first - 1:] if f"stage:{n}:status" in values]

    def _stale_updates(self, first_number: int) -> dict[str, dict]:
        """Status records that mark stage ``first_number`` and every later stage stale."""
        names = STAGES[first_number - 1:]
        records = self.store.get_many(self.id, [f"stage:{n}:status" for n in names], expect=dict)
        updates = {}
        for n in names:
            rec = records[f"stage:{n}:status"]
            if rec and rec.get("status") in ("done", "failed", "stale"):
                updates[f"stage:{n}:status"] = {**rec, "status": "stale", "error": None}
        return updates

    # -- status -------------------------------------------------------------------------------
    def stage_records(self) -> dict[str, dict]:
        """Per-stage status records; a run whose lease expired is marked failed on the way."""
        fields = [f"stage:{n}:{part}" for n in STAGES for part in ("status", "progress", "lease")]
        raw = self.store.get_many_raw(self.id, fields)
        out = {}
        decode = self._decode
        for n in STAGES:
            status_raw = raw[f"stage:{n}:status"]
            rec = decode(f"stage:{n}:status", status_raw) if status_raw else {"status": "pending"}
            if rec.get("status") == "running" and self.store.lock_owner(self.id, n) != rec.get("run_id"):
                rec = self._reap(n, status_raw, rec, raw[f"stage:{n}:lease"])
            prog_raw = raw[f"stage:{n}:progress"]
            prog = decode(f"stage:{n}:progress", prog_raw) if prog_raw else {}
            rec["_progress"] = prog if prog.get("run_id") == rec.get("run_id") else {}
            out[n] = rec
        return out

    def _decode(self, field: str, raw: bytes) -> dict:
        """A status, progress or lease record; StoreError naming store and key if it is not one."""
        rec = self.store.decode(self.id, field, raw, dict)
        kind = field.rsplit(":", 1)[-1]
        numbers = {"status": ("t0", "t1"), "progress": ("progress",), "lease": ("until",)}[kind]
        if (kind == "status" and rec.get("status") not in STATUSES) or any(
                not isinstance(rec.get(k, 0.0), (int, float, type(None))) for k in numbers):
            raise self.store.damaged(self.store.key(self.id, field), f"is not a {kind} record prodsched wrote")
        return rec

    def _reap(self, name: str, status_raw: bytes, rec: dict, lease_raw: bytes | None) -> dict:
        """Mark a running stage whose worker lost its lock as failed (compare-and-set)."""
        lease = self._decode(f"stage:{name}:lease", lease_raw) if lease_raw else {}
        until = lease.get("until") if lease.get("run_id") == rec.get("run_id") else None
        until = until or rec.get("t0")
        failed = {**rec, "status": "failed", "ended": iso(until), "t1": until,
                  "error": f"worker stopped responding: lease expired at {iso(until)}"}
        if self.store.write(self.id, {f"stage:{name}:status": serialize.encode(failed)},
                            if_unchanged={f"stage:{name}:status": status_raw}):
            return failed
        fresh = self.store.get_raw(self.id, f"stage:{name}:status")
        return self._decode(f"stage:{name}:status", fresh) if fresh else {"status": "pending"}

    def status(self) -> dict:
        records = self.stage_records()
        meta = self.store.get(self.id, "meta", expect=dict)
        params = self.store.get(self.id, "params", expect=dict) or {}
        if meta is None:
            if not self.store.exists(self.id):
                raise self.store.missing_session(self.id)
            raise self.store.damaged(self.store.key(self.id, "meta"), "missing: not a session prodsched made")
        now = time.time()
        stages = []
        for i, n in enumerate(STAGES):
            rec, prog = records[n], records[n]["_progress"]
            t0, t1 = rec.get("t0"), rec.get("t1")
            elapsed = None if t0 is None else round((t1 if t1 is not None and rec["status"] != "running" else now) - t0, 3)
            stages.append({
                "name": n, "number": i + 1, "status": rec["status"],
                "started": rec.get("started"), "ended": rec.get("ended") if rec["status"] != "running" else None,
                "elapsed_s": elapsed,
                "progress": float(prog.get("progress", 1.0 if rec["status"] == "done" else 0.0)),
                "message": prog.get("message", ""),
                "error": rec.get("error") if rec["status"] == "failed" else None,
                "can_run": self._can_run(i, records),
            })
        completed = sum(s["status"] == "done" for s in stages)
        running = [s["name"] for s in stages if s["status"] == "running"]
        return {"session_id": self.id, "store": self.store.display_url, "created": meta.get("created"),
                "expires": iso(self.store.expires_at(self.id)), "params": params, "stages": stages,
                "completed": completed, "total": len(STAGES), "overall": overall_status(stages),
                "current": running[0] if running else None}

    @staticmethod
    def _can_run(index: int, records: dict[str, dict]) -> bool:
        if any(records[n]["status"] == "running" for n in STAGES[index:]):
            return False
        return all(records[n]["status"] == "done" for n in STAGES[:index])

    def can_run(self, stage: str | int) -> bool:
        return self._can_run(stage_number(stage) - 1, self.stage_records())

    def _require_done(self, name: str, what: str) -> None:
        rec = self.stage_records()[name]
        if rec["status"] != "done":
            hint = "re-run it" if rec["status"] in ("stale", "failed") else "run it first"
            raise StageOrderError(f"{what} of {label(name)} is not available: the stage is {rec['status']}; {hint}")

    def summary(self, stage: str | int) -> dict:
        name = stage_name(stage)
        self._require_done(name, "the summary")
        return self.store.get(self.id, f"stage:{name}:summary", expect=dict) or {}

    def artifacts(self, stage: str | int) -> dict:
        name = stage_name(stage)
        self._require_done(name, "the artifacts")
        return self.load_artifacts([name])

    def artifact(self, name: str) -> Any:
        index = self.store.get_many(self.id, [f"stage:{n}:artifacts" for n in STAGES], expect=list)
        for n in STAGES:
            if name in (index[f"stage:{n}:artifacts"] or []):
                self._require_done(n, f"artifact {name!r}")
                field = f"art:{n}:{name}"
                raw = self.store.get_raw(self.id, field)
                return None if raw is None else decode_artifact(self.store, self.id, field, raw)
        known = sorted(a for names in index.values() for a in (names or []))
        raise KeyError(f"no artifact named {name!r} in session {self.id}; available: {', '.join(known) or 'none'}")

    def load_artifacts(self, names: list[str]) -> dict:
        """Every artifact of the stages ``names`` (a missing one is a StoreError); graphs come
        from the per-process cache of decoded graphs, read-only (see :mod:`.decoded`)."""
        return dict(self.stored_artifacts(names))

    def stored_artifacts(self, names: list[str]) -> StoredArtifacts:
        """The artifacts of the stages ``names``, read now (a missing one is a StoreError) and
        each decoded when it is first looked up (a stage's inputs)."""
        blobs: dict[str, tuple[str, bytes]] = {}
        index = self.store.get_many(self.id, [f"stage:{n}:artifacts" for n in names], expect=list)
        for n in names:
            fields = [f"art:{n}:{a}" for a in index[f"stage:{n}:artifacts"] or []]
            for field, raw in self.store.get_many_raw(self.id, fields).items():
                if raw is None:
                    raise StoreError(f"session {self.id}: artifact {field} is missing from the store")
                blobs[field.split(":", 2)[2]] = (field, raw)
        return StoredArtifacts(self.store, self.id, blobs)

    # -- running ------------------------------------------------------------------------------
    def run_key(self, name: str) -> tuple[str, str, str, str]:
        """The key of a stage run of this session among this process's runs."""
        return (self.store.url, self.store.namespace, self.id, name)

    def run(self, stage: str | int, background: bool = False, progress=None, **param_changes: Any):
        """Run one stage in a worker thread (it reports progress to the store).

        Foreground: block and return the stage's summary; a failure is recorded and re-raised.
        Background: return the stage's status entry at once (see :meth:`wait`, :meth:`cancel`).
        ``progress(fraction, message)`` is an optional local callback (e.g. a progress bar);
        ``param_changes`` are applied first with :meth:`set_params`."""
        name = stage_name(stage)
        if param_changes:
            self.set_params(**param_changes)
        run = self._start(name)
        run.on_progress = progress
        run.thread = threading.Thread(target=execute, args=(self, name, run), daemon=True,
                                      name=f"prodsched-{name}-{self.id[:8]}")
        with LOCAL_LOCK:
            LOCAL_RUNS[self.run_key(name)] = run
        run.thread.start()
        if background:
            return next(s for s in self.status()["stages"] if s["name"] == name)
        try:
            while run.thread.is_alive():
                run.thread.join(0.2)
        except KeyboardInterrupt:
            self.cancel(name)
            run.thread.join()
            raise
        if run.error is not None:
            raise run.error
        return run.summary

    def run_all(self, upto: str | int = "results", start: str | int | None = None, progress=None) -> dict[str, dict]:
        """Run stages in order up to ``upto`` (from ``start``, default the first not done)."""
        last = stage_number(upto)
        records = self.stage_records()
        if start is None:
            first = next((i + 1 for i, n in enumerate(STAGES[:last]) if records[n]["status"] != "done"), last + 1)
        else:
            first = stage_number(start)
        return {STAGES[i - 1]: self.run(i, progress=progress) for i in range(first, last + 1)}

    def _start(self, name: str) -> StageRun:
        lease = Lease(self.store, self.id, name, self.lease_s)
        if not lease.acquire():
            raise StageRunningError(f"{label(name)} is already running in session {self.id}")
        try:
            number = stage_number(name)
            records = self.stage_records()
            for n in STAGES[:number - 1]:
                if records[n]["status"] != "done":
                    raise StageOrderError(f"{label(name)} needs {label(n)} to be done first "
                                          f"(it is {records[n]['status']}) in session {self.id}")
            for n in STAGES[number:]:
                if self.store.lock_owner(self.id, n) is not None:
                    raise StageRunningError(f"{label(n)} is running in session {self.id}; wait for it or "
                                            f"cancel it before re-running {label(name)}")
            t0 = time.time()
            values = self._stale_updates(number + 1) if number < len(STAGES) else {}
            values.update({
                f"stage:{name}:status": {"status": "running", "run_id": lease.token, "started": iso(t0),
                                         "ended": None, "t0": t0, "t1": None, "error": None},
                f"stage:{name}:progress": {"run_id": lease.token, "progress": 0.0, "message": "starting"},
                f"stage:{name}:lease": {"run_id": lease.token, "until": lease.until},
            })
            if not self.store.put_many(self.id, values, delete=[f"stage:{name}:cancel"],
                                       if_lock=(name, lease.token)):
                raise StoreError(f"lost the lock of {label(name)} while starting it in session {self.id}")
        except BaseException:
            lease.release()
            raise
        return StageRun(lease)

    def wait(self, stage: str | int | None = None, timeout: float | None = None) -> dict:
        """Block until the stage (default: every stage) is no longer running; return the status.
        Raises TimeoutError if it is still running after ``timeout`` seconds."""
        names = [stage_name(stage)] if stage is not None else list(STAGES)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with LOCAL_LOCK:
                local = [r.thread for k, r in LOCAL_RUNS.items()
                         if k[:3] == self.run_key("")[:3] and k[3] in names and r.thread is not None]
            st = self.status()
            if not any(s["status"] == "running" for s in st["stages"] if s["name"] in names):
                for thread in local:  # let a worker of this process finish its bookkeeping
                    thread.join(5)
                return st
            if deadline is not None and time.monotonic() >= deadline:
                running = [s["name"] for s in st["stages"] if s["status"] == "running"]
                raise TimeoutError(f"still running after {timeout} s: {', '.join(running)} (session {self.id})")
            if local:
                local[0].join(0.1)
            else:
                time.sleep(0.1)

    def cancel(self, stage: str | int | None = "schedule") -> bool:
        """Ask a running stage (None: every running stage) to stop; True if one was running.
        Works across processes: the request is stored and the worker polls it."""
        names = [stage_name(stage)] if stage is not None else list(STAGES)
        records = self.stage_records()
        hit = False
        for n in names:
            rec = records[n]
            if rec["status"] != "running":
                continue
            self.store.put(self.id, f"stage:{n}:cancel", {"run_id": rec["run_id"], "at": iso(time.time())})
            with LOCAL_LOCK:
                local = LOCAL_RUNS.get(self.run_key(n))
            if local is not None and local.lease.token == rec["run_id"]:
                local.cancel.set()
            hit = True
        return hit


__all__ = ["PARAM_STAGE", "Session", "format_sessions", "format_status", "overall_status"]
