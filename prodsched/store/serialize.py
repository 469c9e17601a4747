"""Safe serialisation of session values: DataFrames, JSON values and networkx graphs.

Every blob is ``MAGIC + kind + b"\\n" + payload``:

* ``arrow`` - a pandas DataFrame as an Arrow IPC stream (dtypes incl. datetimes round-trip), its
  buffers compressed with zstd (streams written uncompressed by earlier versions read as well);
* ``json``  - dicts, lists, strings, numbers, booleans, None (UTF-8 JSON);
* ``nxz``   - a networkx graph as node-link JSON (``edges="edges"``), zstd-compressed: the
  JSON's length as 8 bytes (little-endian) then the compressed bytes;
* ``nx``    - the same uncompressed (written by earlier versions; still read).

Decoding only ever parses Arrow or JSON. Anything else (an unknown kind, a truncated blob, a
pickle planted in a shared store) raises :class:`StoreError`; nothing stored is ever executed.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from prodsched.errors import StoreError

MAGIC = b"PSD1:"
KINDS = ("arrow", "json", "nx", "nxz")
CODEC = "zstd"  # Arrow's codec for frames and graphs
_MAX_INFLATED = 1 << 32  # a compressed graph claiming more than 4 GiB of JSON is not one prodsched wrote
_MAX_KIND = 16


def _json_default(value: Any) -> Any:
    """Convert the non-JSON scalars stages commonly return (numpy, pandas, dates, paths), and
    dict and list subclasses (such as a decoded graph's read-only attributes) to plain ones."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, pd.Series):
        return json.loads(value.to_json(orient="index", date_format="iso"))
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, PurePath):
        return str(value)
    if value is pd.NaT:
        return None
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _clean_floats(value: Any) -> Any:
    """NaN/inf are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    return value


# orjson writes the same JSON as json.dumps(sort_keys=True, separators=(",", ":")), about 5x faster;
# dates, dataclasses and str/int/dict/list subclasses go through _json_default as with the json module
def _orjson_options(orjson) -> int:
    return (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_SUBCLASS)


def to_json_bytes(value: Any) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys) of a JSON-able value (NaN and inf as null).

    Written by orjson; a value it declines (a non-text key, an integer over 64 bits) is written
    by the json module instead, with the same result."""
    import orjson

    try:
        return orjson.dumps(value, default=_json_default, option=_orjson_options(orjson))
    except TypeError:  # orjson.JSONEncodeError included
        pass
    options = {"default": _json_default, "sort_keys": True, "ensure_ascii": False, "allow_nan": False,
               "separators": (",", ":")}
    try:
        try:
            text = json.dumps(value, **options)
        except ValueError:  # NaN or inf somewhere: only then walk the value to replace them
            text = json.dumps(_clean_floats(value), **options)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store value as JSON: {exc}") from None
    return text.encode("utf-8")


def _encode_frame(df) -> bytes:
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(df, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise StoreError(
            f"cannot store DataFrame as Arrow (columns must hold scalars of one type): {exc}"
        ) from None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=CODEC)) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _decode_frame(payload: bytes):
    import pyarrow as pa

    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
        table.validate(full=True)  # damaged offsets must fail here, not inside to_pandas
        return table.to_pandas()
    except Exception as exc:  # noqa: BLE001 - Arrow raises OSError, ArrowInvalid, ... for damaged bytes
        raise StoreError(f"stored DataFrame is not a valid Arrow IPC stream "
                         f"({type(exc).__name__}: {exc})") from None


def node_link(graph) -> dict[str, Any]:
    """``nx.node_link_data(graph, edges="edges")``, built in one pass for a graph that is not a
    multigraph (about 10x faster at 20,000 operations; the same dict)."""
    import networkx as nx

    if graph.is_multigraph():
        return nx.node_link_data(graph, edges="edges")
    return {"directed": graph.is_directed(), "multigraph": False, "graph": graph.graph,
            "nodes": [{**attrs, "id": node} for node, attrs in graph.nodes(data=True)],
            "edges": [{**attrs, "source": u, "target": v} for u, v, attrs in graph.edges(data=True)]}


def from_node_link(data: Mapping[str, Any]):
    """``nx.node_link_graph(data, edges="edges")`` for a graph that is not a multigraph (the same
    graph, about 3x faster). The graph takes the dicts of ``data`` as its attribute dicts (their
    ``id``, ``source`` and ``target`` entries removed): pass data nobody else uses, such as JSON
    just parsed."""
    import networkx as nx

    if data.get("multigraph", False):
        return nx.node_link_graph(data, directed=bool(data.get("directed", True)), multigraph=True, edges="edges")
    graph = nx.DiGraph() if data.get("directed", True) else nx.Graph()
    graph.graph = data.get("graph", {})
    # nodes straight into networkx's own dicts (what add_nodes_from does, without copying each dict)
    attrs_of, succ = graph._node, graph._adj
    pred = graph._pred if graph.is_directed() else None
    for index, attrs in enumerate(data["nodes"]):
        node = _node_id(attrs.pop("id", index))
        if node is None:
            raise ValueError("None cannot be a node")
        if node in attrs_of:
            attrs_of[node].update(attrs)
            continue
        attrs_of[node] = attrs
        succ[node] = {}
        if pred is not None:
            pred[node] = {}
    graph.add_edges_from((_node_id(d.pop("source")), _node_id(d.pop("target")), d) for d in data["edges"])
    return graph


def _node_id(value: Any) -> Any:
    """A node id read from JSON: lists (tuples when written) become tuples again, at any depth."""
    return tuple(_node_id(v) for v in value) if isinstance(value, list) else value


def _encode_graph(graph) -> bytes:
    import pyarrow as pa

    text = to_json_bytes(node_link(graph))
    return len(text).to_bytes(8, "little") + pa.Codec(CODEC).compress(text, asbytes=True)


def _inflate(payload: bytes) -> bytes:
    import pyarrow as pa

    size = int.from_bytes(payload[:8], "little")
    if len(payload) < 9 or size > _MAX_INFLATED:
        raise StoreError("stored graph is not a compressed node-link blob (bad length header)")
    try:
        text = pa.Codec(CODEC).decompress(payload[8:], decompressed_size=size, asbytes=True)
    except Exception as exc:  # noqa: BLE001 - Arrow raises OSError, ArrowInvalid, ... for damaged bytes
        raise StoreError(f"stored graph does not decompress ({type(exc).__name__}: {exc})") from None
    if len(text) != size:
        raise StoreError("stored graph decompresses to another length than it records")
    return text


def _decode_graph(payload: bytes):
    import networkx as nx

    data = _decode_json(payload)
    if not isinstance(data, dict) or "nodes" not in data or "edges" not in data:
        raise StoreError("stored graph is not node-link JSON with 'nodes' and 'edges'")
    try:
        return from_node_link(data)
    except (KeyError, TypeError, ValueError, AttributeError, nx.NetworkXError) as exc:
        raise StoreError(f"stored graph is not valid node-link JSON: {exc}") from None


def _decode_json(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise StoreError(f"stored JSON value does not parse: {exc}") from None


def kind_of(value: Any) -> str:
    """The kind tag a value is stored under."""
    # a value can only be a DataFrame or a graph once pandas / networkx has defined the class:
    # storing a dict must not import them (a stage start stores dicts inside its lock's lease,
    # and another thread may be half-way through importing pandas)
    frame = getattr(sys.modules.get("pandas"), "DataFrame", None)
    graph = getattr(sys.modules.get("networkx"), "Graph", None)
    if frame is not None and isinstance(value, frame):
        return "arrow"
    if graph is not None and isinstance(value, graph):
        return "nxz"
    return "json"


def encode(value: Any) -> bytes:
    """Value -> tagged bytes. Raises StoreError for values that cannot be stored safely."""
    kind = kind_of(value)
    if kind == "arrow":
        payload = _encode_frame(value)
    elif kind == "nxz":
        payload = _encode_graph(value)
    else:
        payload = to_json_bytes(value)
    return MAGIC + kind.encode("ascii") + b"\n" + payload


def split(blob: bytes) -> tuple[str, bytes]:
    """Tagged bytes -> (kind, payload); StoreError when the blob is not one of ours."""
    if isinstance(blob, memoryview):
        blob = blob.tobytes()
    if not isinstance(blob, (bytes, bytearray)):
        raise StoreError(f"stored value has type {type(blob).__name__}, expected bytes")
    blob = bytes(blob)
    if not blob.startswith(MAGIC):
        head = blob[:8]
        raise StoreError(
            f"stored value is not a prodsched blob (starts with {head!r}); refusing to decode it "
            "(only Arrow and JSON are read, never pickle)"
        )
    end = blob.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_KIND + 1)
    if end < 0:
        raise StoreError("stored value has a malformed kind tag; refusing to decode it")
    kind = blob[len(MAGIC):end].decode("ascii", "replace")
    if kind not in KINDS:
        raise StoreError(
            f"stored value has unknown kind {kind!r} (known: {', '.join(KINDS)}); refusing to decode it"
        )
    return kind, blob[end + 1:]


def decode(blob: bytes) -> Any:
    """Tagged bytes -> value. Only Arrow IPC and JSON are ever parsed."""
    kind, payload = split(blob)
    if kind == "arrow":
        return _decode_frame(payload)
    if kind == "nx":
        return _decode_graph(payload)
    if kind == "nxz":
        return _decode_graph(_inflate(payload))
    return _decode_json(payload)
