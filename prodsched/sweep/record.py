"""A session whose stages ran in a sweep, written to a store in one step.

The fields are those of :mod:`prodsched.session.session` (meta, params, and per stage its status
"done", progress, summary, artifact names and artifact blobs), so any kernel, the panel or the
CLI can attach to the session and open its schedule like that of any other run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from prodsched.session.worker import iso
from prodsched.store import open_store, serialize


def stage_items(name: str, artifacts: Mapping[str, Any], summary: Mapping[str, Any], t0: float, t1: float,
                *, encoded: bool = False) -> dict[str, bytes]:
    """The encoded fields of one finished stage (``encoded``: the artifacts are blobs already)."""
    token = uuid.uuid4().hex
    items = {f"art:{name}:{a}": (v if encoded else serialize.encode(v)) for a, v in artifacts.items()}
    items[f"stage:{name}:artifacts"] = serialize.encode(sorted(artifacts))
    items[f"stage:{name}:summary"] = serialize.encode(dict(summary))
    items[f"stage:{name}:status"] = serialize.encode({"status": "done", "run_id": token, "started": iso(t0),
                                                      "ended": iso(t1), "t0": t0, "t1": t1, "error": None})
    items[f"stage:{name}:progress"] = serialize.encode({"run_id": token, "progress": 1.0, "message": "done"})
    return items


def write_session(store, params: Mapping[str, Any], items: Mapping[str, bytes]) -> str:
    """Create a session holding ``items`` (every stage's fields) and return its id."""
    store = open_store(store)
    sid = uuid.uuid4().hex
    store.create_session(sid)
    fields = {"meta": serialize.encode({"id": sid, "created": iso(time.time())}),
              "params": serialize.encode(dict(params)), **items}
    store.write(sid, fields)
    return sid
