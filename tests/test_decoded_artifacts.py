"""Stored graphs are decoded once per process and handed out read-only (prodsched.session.decoded)."""

from __future__ import annotations

import copy

import networkx as nx
import pytest

from prodsched.frozen import ReadOnlyDict, is_read_only
from prodsched.session import Session, decoded
from prodsched.store import serialize


@pytest.fixture(autouse=True)
def empty_cache():
    decoded.clear()
    yield
    decoded.clear()


def _graph(label: str, n: int = 3) -> nx.DiGraph:
    g = nx.DiGraph(machines=["M1", "M2"], label=label, base_date="2026-01-05", slot_minutes=30)
    for i in range(n):
        g.add_node(f"{label}-{i}", job=label, seq=i, durations={"M1": i + 1}, po_nos=[f"PO{i}"])
    g.add_edges_from((f"{label}-{i}", f"{label}-{i + 1}") for i in range(n - 1))
    return g


def _store_graph(store, session_id: str, graph: nx.DiGraph, field: str = "art:dag:dag") -> None:
    store.put_many(session_id, {field: graph, "stage:dag:artifacts": ["dag"],
                                "stage:dag:status": {"status": "done"}})


def _session(store, graph: nx.DiGraph) -> Session:
    session = Session.create(None, store)
    _store_graph(store, session.id, graph)
    return session


def _same(a: nx.DiGraph, b: nx.DiGraph) -> bool:
    return (list(a.nodes(data=True)) == list(b.nodes(data=True)) and list(a.edges(data=True)) == list(b.edges(data=True))
            and a.graph == b.graph)


def test_a_graph_is_decoded_once_and_equals_the_stored_one(store):
    session = _session(store, _graph("A"))
    first = session.load_artifacts(["dag"])["dag"]
    assert _same(first, _graph("A")) and decoded.cached() == 1
    assert session.load_artifacts(["dag"])["dag"] is first
    assert session.artifact("dag") is first


def test_a_rewritten_artifact_gives_the_new_value(store):
    session = _session(store, _graph("A"))
    old = session.load_artifacts(["dag"])["dag"]
    _store_graph(store, session.id, _graph("B", 5))
    new = session.load_artifacts(["dag"])["dag"]
    assert new is not old and _same(new, _graph("B", 5)) and sorted(new)[0] == "B-0"


def test_a_decoded_graph_cannot_be_changed(store):
    graph = _session(store, _graph("A")).artifact("dag")
    assert is_read_only(graph) and not is_read_only(graph.copy()) and not is_read_only(_graph("A"))
    node = graph.nodes["A-0"]
    changes = [
        lambda: graph.add_node("X"), lambda: graph.add_edge("A-0", "A-2"), lambda: graph.remove_node("A-0"),
        lambda: node.update(seq=9), lambda: node.__setitem__("seq", 9), lambda: node.pop("seq"),
        lambda: node["durations"].__setitem__("M2", 1), lambda: node["po_nos"].append("PO9"),
        lambda: graph.graph.__setitem__("label", "Z"), lambda: graph.graph["machines"].sort(reverse=True),
        lambda: graph.edges["A-0", "A-1"].update(w=1),
    ]
    for change in changes:
        with pytest.raises((TypeError, nx.NetworkXError)):
            change()
    assert _same(graph, _graph("A"))
    mine = graph.copy()  # a copy is the caller's own to change
    mine.add_node("X")
    mine.nodes["A-0"]["seq"] = 9
    deep = copy.deepcopy(dict(graph.nodes["A-1"]))
    deep["durations"]["M2"] = 1
    assert graph.nodes["A-0"]["seq"] == 0 and "X" not in graph and graph.nodes["A-1"]["durations"] == {"M1": 2}


def test_a_decoded_graph_stores_again_as_the_same_bytes(store):
    graph = _session(store, _graph("A")).artifact("dag")
    assert serialize.encode(graph) == serialize.encode(_graph("A"))


def test_two_sessions_do_not_mix(store):
    a, b = _session(store, _graph("A")), _session(store, _graph("B", 4))
    ga, gb = a.artifact("dag"), b.artifact("dag")
    assert _same(ga, _graph("A")) and _same(gb, _graph("B", 4))
    twin = _session(store, _graph("A"))  # the same bytes in another session: its own entry
    assert twin.artifact("dag") is not ga and a.artifact("dag") is ga


def test_the_cache_keeps_a_few_graphs_only(store):
    sessions = [_session(store, _graph(f"G{i}")) for i in range(decoded.MAX_GRAPHS + 3)]
    for s in sessions:
        s.artifact("dag")
    assert decoded.cached() == decoded.MAX_GRAPHS
    assert _same(sessions[0].artifact("dag"), _graph("G0"))  # decoded again after it was dropped


def test_a_damaged_graph_is_still_reported_with_its_key(store):
    session = _session(store, _graph("A"))
    store.write(session.id, {"art:dag:dag": b"PSD1:nxz\nnot zstd"})
    with pytest.raises(Exception, match=r"art:dag:dag.*does not decompress|art:dag:dag.*bad length"):
        session.artifact("dag")


def test_an_instance_from_a_decoded_graph_equals_one_from_the_graph_stage_4_made(store):
    import numpy as np

    from prodsched.stages.schedule import build_instance

    graph = _graph("A")
    graph.nodes["A-1"]["durations"] = {"M1": np.int64(3), "M2": 2.0}  # converted to int slots either way
    stored = _session(store, graph).artifact("dag")
    ops = build_instance(stored, {}).operations
    assert ops == build_instance(graph, {}).operations
    assert [op.durations for op in ops] == [{"M1": 1}, {"M1": 3, "M2": 2}, {"M1": 3}]
    assert all(type(d) is int for op in ops for d in op.durations.values())


def _exactly(a, b) -> bool:
    """Equal, dicts and lists alike (read-only or not), with every dict's keys in the same order."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_exactly(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_exactly(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))


def test_freezing_keeps_every_value_and_order(store):
    g = nx.DiGraph(z=1, a=[1, 2.5], nested={"y": [1, {"b": None, "a": 1.5}]})
    g.add_node("b", seq=2, durations={"M2": 3, "M1": 4}, speeds={"M2": 1.5}, po_nos=["P1", "P2"], flag=True)
    g.add_node(7, z=-0.0)
    g.add_edges_from([("a", 7), ("b", 7)], w=1.5)
    plain = serialize.decode(serialize.encode(g))
    frozen = _session(store, g).artifact("dag")
    assert _exactly(frozen.graph, plain.graph) and list(frozen.nodes) == list(plain.nodes)
    assert all(_exactly(frozen.nodes[n], plain.nodes[n]) for n in plain)
    assert list(frozen.edges(data=True)) == list(plain.edges(data=True))
    assert all(list(frozen.pred[n]) == list(plain.pred[n]) for n in plain)
    assert all(isinstance(v, ReadOnlyDict) for v in (frozen.nodes["b"]["speeds"], frozen.edges["a", 7]))


def test_a_stage_decodes_only_the_inputs_it_reads(store):
    import pandas as pd

    session = _session(store, _graph("A"))
    store.write(session.id, {"art:dag:table": serialize.encode(pd.DataFrame({"a": [1, 2]})),
                             "art:dag:broken": b"PSD1:arrow\nnot arrow",
                             "stage:dag:artifacts": serialize.encode(["dag", "table", "broken"])})
    inputs = session.stored_artifacts(["dag"])
    assert sorted(inputs) == ["broken", "dag", "table"] and "broken" in inputs and "nope" not in inputs
    assert inputs["table"]["a"].tolist() == [1, 2] and inputs.get("nope") is None
    assert decoded.cached() == 0  # the graph was not asked for
    with pytest.raises(Exception, match=r"art:dag:broken.*not a valid Arrow"):
        inputs["broken"]
    store.write(session.id, {"stage:dag:artifacts": serialize.encode(["dag", "gone"])})
    with pytest.raises(Exception, match="artifact art:dag:gone is missing"):
        session.stored_artifacts(["dag"])  # a missing artifact fails before the stage starts


def test_a_stage_graph_is_emptied_once_stored_and_read_back_whole(store, plant, monkeypatch):
    import prodsched.stages.dag as dag_stage
    from prodsched.stages import StageResult

    made = []

    def run(inputs, params, progress=None, cancel=None):
        made.append(_graph("A", 4))
        return StageResult(artifacts={"dag": made[-1]}, summary={"nodes": 4})

    session = Session.create({"data": str(plant)}, store)
    session.run_all(upto="yield")
    monkeypatch.setattr(dag_stage, "run", run)
    assert session.run("dag") == {"nodes": 4}
    assert made[0].number_of_nodes() == 0  # its memory is not kept waiting for the cycle collector
    assert _same(session.artifact("dag"), _graph("A", 4))
