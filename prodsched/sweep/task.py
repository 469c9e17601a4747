"""What runs where: stages 1-4 once per data set (client), stages 5-6 per scenario (a Dask worker).

Stages 1-4's artifacts travel to the workers once per data set as the store's own encoding
(Arrow / JSON blobs, :mod:`prodsched.store.serialize`) inside a :class:`Prepared`; a worker decodes
them once and keeps them for the data set's other scenarios. A scenario returns its table row and,
unless its worker wrote the session to a shared store itself, the encoded fields of its stages 5-6
for the client to store.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from prodsched.params import Params
from prodsched.stages import STAGES, run_stage
from prodsched.store import serialize
from prodsched.sweep.record import stage_items, write_session

SHARED = STAGES[:4]


@dataclass
class Prepared:
    """Stages 1-4 of one data set, encoded: ``items`` are the session fields of those stages."""

    token: str  # identifies data + parameters of stages 1-4 (the workers' cache key)
    dataset: str
    data: str
    items: dict[str, bytes] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # stage -> its artifact names
    seconds: float = 0.0
    warnings: int = 0


def prepare(dataset: str, data: str, params: Params) -> Prepared:
    """Run stages 1-4 on ``data`` (an InputError for bad input) and encode their artifacts."""
    artifacts: dict[str, Any] = {}
    prepared = Prepared("", dataset, data)
    params = params.updated(data=data, out=None)
    digest = hashlib.sha256(serialize.to_json_bytes(params.to_dict()))
    started = time.perf_counter()
    for name in SHARED:
        t0 = time.time()
        result = run_stage(name, artifacts, params)
        artifacts.update(result.artifacts)
        prepared.items.update(stage_items(name, result.artifacts, result.summary, t0, time.time()))
        prepared.names[name] = sorted(result.artifacts)
    prepared.seconds = time.perf_counter() - started
    for key in sorted(prepared.items):
        digest.update(key.encode())
        digest.update(prepared.items[key])
    prepared.token = digest.hexdigest()
    validation = artifacts.get("validation")
    if validation is not None and len(validation) and "severity" in validation:
        prepared.warnings = int((validation["severity"] == "warning").sum())
    return prepared


_CACHE: OrderedDict[str, dict[str, Any]] = OrderedDict()  # token -> decoded artifacts (per process)
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


def artifacts_of(prepared: Prepared) -> dict[str, Any]:
    """The decoded stages 1-4 artifacts (decoded once per worker process and data set)."""
    with _CACHE_LOCK:
        if prepared.token in _CACHE:
            _CACHE.move_to_end(prepared.token)
            return _CACHE[prepared.token]
    decoded = {a: serialize.decode(prepared.items[f"art:{n}:{a}"]) for n, names in prepared.names.items() for a in names}
    with _CACHE_LOCK:
        _CACHE[prepared.token] = decoded
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return decoded


def schedule_hash(schedule) -> str:
    """sha256 of the schedule as ``schedule.csv`` of a run holds it (same bytes, same hash)."""
    from prodsched.results.exports import schedule_for_csv

    return hashlib.sha256(schedule_for_csv(schedule).to_csv(index=False).encode("utf-8")).hexdigest()


def run_scenario(prepared: Prepared, index: int, params: dict[str, Any], store: str | None) -> dict[str, Any]:
    """Stages 5-6 of one scenario. Returns {"row": …, "items": fields or None, "session_id": …}.

    ``store``: a shared store's URL to write the scenario's session to from here; None to return
    the encoded fields to the client instead. A failure of the scenario is a row with status
    "failed" and its error, never an exception (so Dask retries only a worker that died)."""
    started = time.perf_counter()
    row: dict[str, Any] = {"scenario": index, "worker_pid": os.getpid()}
    try:
        p = Params.from_dict({**params, "out": None})
        inputs = dict(artifacts_of(prepared))
        items: dict[str, bytes] = {}
        for name in STAGES[4:]:
            t0 = time.time()
            result = run_stage(name, inputs, p)
            inputs.update(result.artifacts)
            items.update(stage_items(name, result.artifacts, result.summary, t0, time.time()))
            if name == "schedule":
                schedule_summary = result.summary
        kpis, violations = inputs["kpis"], inputs["violations"]
        row.update(kpis=dict(kpis), objectives=dict(schedule_summary.get("objectives") or {}),
                   schedule_sha256=schedule_hash(inputs["schedule"]),
                   violations=int(len(violations)) + int(schedule_summary.get("violations", 0)),
                   status="done", error=None)
        row["verified"] = row["violations"] == 0
        session_id = None
        if store is not None:
            session_id = write_session(store, p.to_dict(), {**prepared.items, **items})
            items = None
        row["wall_s"] = time.perf_counter() - started
        return {"row": row, "items": items, "session_id": session_id}
    except Exception as exc:  # noqa: BLE001 - the scenario's row says what went wrong
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", verified=False,
                   wall_s=time.perf_counter() - started, trace=traceback.format_exc(limit=5))
        return {"row": row, "items": None, "session_id": None}
