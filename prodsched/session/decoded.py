"""Stored graphs decoded once per process: the stage-4 operation graph is read by stage 5, stage 6,
the panel and the sweeps, and turning its node-link JSON back into a graph is the slowest read of
a session (0.4-0.8 s at 20,000 operations on this machine).

A decoded graph is kept under the exact bytes it came from (store, session, field and a BLAKE2b
digest of the blob), so a rewritten artifact is a new key and an old value can never be returned
for it. The cache holds at most :data:`MAX_GRAPHS` graphs (least recently used first out) and
hands out one shared graph that nobody can change: ``nx.freeze`` refuses new or removed nodes and
edges, and every attribute dict and list in it (graph, nodes, edges, nested values) refuses
changes too. ``graph.copy()`` or ``nx.DiGraph(graph)`` gives a graph of one's own.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from prodsched.errors import StoreError
from prodsched.frozen import freeze_graph
from prodsched.store import serialize

MAX_GRAPHS = 4
GRAPH_KINDS = ("nx", "nxz")

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()


def decode_artifact(store, session_id: str, field: str, raw: bytes) -> Any:
    """The value of a blob read from ``field``: a graph from the cache (decoded and frozen on its
    first read), anything else decoded afresh (a caller may change its own DataFrame or dict)."""
    try:
        kind, _ = serialize.split(raw)
    except StoreError:
        kind = None  # store.decode names the store and key in its error
    if kind not in GRAPH_KINDS:
        return store.decode(session_id, field, raw)
    key = (store.url, store.namespace, session_id, field, len(raw),
           hashlib.blake2b(raw, digest_size=20).digest())
    with _LOCK:
        graph = _CACHE.get(key)
        if graph is not None:
            _CACHE.move_to_end(key)
            return graph
    graph = freeze_graph(store.decode(session_id, field, raw))
    with _LOCK:
        graph = _CACHE.setdefault(key, graph)  # another thread may have decoded it meanwhile
        _CACHE.move_to_end(key)
        while len(_CACHE) > MAX_GRAPHS:
            _CACHE.popitem(last=False)
    return graph


class StoredArtifacts(Mapping):
    """A stage's inputs as read from the store: every artifact's bytes are read at once (a
    missing one fails before the stage starts), each is decoded when the stage first asks for
    it, so a stage does not pay for, nor hold in memory, the artifacts it never reads."""

    def __init__(self, store, session_id: str, blobs: Mapping[str, tuple[str, bytes]]):
        self._store, self._session_id = store, session_id
        self._blobs = dict(blobs)  # name -> (field, bytes)
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            field, raw = self._blobs[name]
            self._values[name] = decode_artifact(self._store, self._session_id, field, raw)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._blobs

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)


def clear() -> None:
    """Forget every decoded graph (tests; memory in a long-running kernel)."""
    with _LOCK:
        _CACHE.clear()


def cached() -> int:
    """How many decoded graphs the cache holds."""
    with _LOCK:
        return len(_CACHE)
