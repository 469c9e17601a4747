"""The store's JSON and graph encodings give exactly what the json module and networkx give."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from prodsched.errors import StoreError
from prodsched.store import serialize


def stdlib_json(value) -> bytes:
    """The reference: the json module with the store's options."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    options = {"default": serialize._json_default, "sort_keys": True, "ensure_ascii": False,
               "separators": (",", ":")}
    return json.dumps(clean(value), **options).encode("utf-8")


@dataclasses.dataclass
class Point:
    x: int


VALUES = [
    {"b": 1, "a": [1.5, -0.0, 1e16, 0.1 + 0.2, 12220.026439615807], "c": {"z": None, "y": True, "x": "ü 한글 \n\""}},
    {"nan": float("nan"), "inf": [float("inf"), -float("inf")]},
    {"np": [np.int64(3), np.float64(2.5), np.bool_(True), np.arange(3)]},
    {"when": dt.datetime(2024, 3, 5, 14, 30, tzinfo=dt.timezone.utc), "day": dt.date(2024, 3, 5),
     "ts": pd.Timestamp("2024-03-05 14:30:00.123456789"), "nat": pd.NaT, "span": dt.timedelta(hours=1)},
    {"set": {"b", "a"}, "tuple": (1, 2)},
    {2: "int keys", 1: "written by the json module"},
    {"big": 2 ** 70},
    [],
    "text",
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_json_is_what_the_json_module_writes(value):
    ours = serialize.to_json_bytes(value)
    assert json.loads(ours) == json.loads(stdlib_json(value))
    assert list(json.loads(ours)) == list(json.loads(stdlib_json(value)))  # keys sorted the same way


def test_values_json_cannot_hold_are_refused():
    with pytest.raises(StoreError, match="cannot store value as JSON"):
        serialize.to_json_bytes({"point": Point(1)})
    with pytest.raises(StoreError, match="cannot store value as JSON"):
        serialize.to_json_bytes({"x": object()})


def _graphs():
    dag = nx.DiGraph(base_date="2024-03-05", slot_minutes=30, machines=["M2", "M1"])
    dag.add_node("J1-01", job="J1", seq=1, durations={"M2": 3, "M1": 4}, speeds={"M2": 10.5}, po_nos=["P1", "P2"])
    dag.add_node("J1-02", job="J1", seq=2, durations={"M1": 2}, due_slot=7)
    dag.add_node("lonely")
    dag.add_edge("J1-01", "J1-02", weight=1.5)
    undirected = nx.Graph(name="u")
    undirected.add_edge(1, 2, kind="a")
    undirected.add_edge(2, 3)
    tuples = nx.DiGraph()
    tuples.add_edge(("a", 1), ("b", 2), w=1)
    multi = nx.MultiDiGraph()
    multi.add_edge("a", "b", key=0, w=1)
    multi.add_edge("a", "b", key=1, w=2)
    return [dag, undirected, tuples, multi, nx.DiGraph()]


@pytest.mark.parametrize("graph", _graphs(), ids=["dag", "undirected", "tuple-ids", "multigraph", "empty"])
def test_graphs_round_trip_as_networkx_node_link_does(graph):
    data = serialize.node_link(graph)
    reference = nx.node_link_data(graph, edges="edges")
    assert serialize.to_json_bytes(data) == serialize.to_json_bytes(reference)
    back = serialize.decode(serialize.encode(graph))
    expected = nx.node_link_graph(json.loads(serialize.to_json_bytes(reference)), edges="edges")
    assert type(back) is type(expected) is type(graph)
    assert list(back.nodes(data=True)) == list(expected.nodes(data=True)) == list(graph.nodes(data=True))
    assert list(back.edges(data=True)) == list(expected.edges(data=True))
    assert back.graph == expected.graph
