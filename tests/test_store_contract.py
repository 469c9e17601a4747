"""The SessionStore contract, run against SqliteStore and a real redis-server alike."""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time
import uuid

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from prodsched.store import serialize
from prodsched.errors import StoreError
from prodsched.store import SqliteStore, open_store
from prodsched.store.lease import Lease


def _reopen(store, **kwargs):
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path, namespace=store.namespace, **kwargs)
    return open_store(store.url, namespace=store.namespace, **kwargs)


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "po_no": ["P1", "P2", "P3"],
        "rolls": [1, 20, 300],
        "length_m": [1.5, np.nan, 1e9],
        "late": [True, False, True],
        "due": pd.to_datetime(["2024-01-31 00:00", "2024-02-29 13:30", "2025-12-01 00:00"]),
        "start_time": pd.to_datetime(["2024-01-01 08:00", "2024-01-02 00:00", "2024-01-03 00:00"]).tz_localize("UTC"),
        "item_name": ["면 원단", "", "x;y"],
    })


def _graph() -> nx.DiGraph:
    g = nx.DiGraph(base_date="2024-01-01", slot_minutes=30, machines=["M1", "M2"])
    g.add_node("J0001-01", job="J0001", seq=1, durations={"M1": 3, "M2": 4}, po_nos=["P1", "P2"], due="2024-01-31")
    g.add_node("J0001-02", job="J0001", seq=2, durations={"M2": 1}, po_nos=["P1"], mixture="")
    g.add_edge("J0001-01", "J0001-02", lag=2)
    return g


def _session(store) -> str:
    sid = uuid.uuid4().hex
    store.create_session(sid)
    return sid


def test_round_trip_of_every_artifact_type(store):
    sid = _session(store)
    frame, graph = _frame(), _graph()
    summary = {"rows": np.int64(3), "ratio": np.float64(0.5), "when": pd.Timestamp("2024-01-02"),
               "nested": {"list": [1, "a", None]}, "nan": float("nan")}
    store.put_many(sid, {"frame": frame, "empty": frame.iloc[0:0], "graph": graph, "summary": summary})

    got = store.get(sid, "frame")
    pd.testing.assert_frame_equal(got, frame)
    assert str(got["due"].dtype).startswith("datetime64") and str(got["start_time"].dt.tz) == "UTC"
    pd.testing.assert_frame_equal(store.get(sid, "empty"), frame.iloc[0:0])

    g2 = store.get(sid, "graph")
    assert isinstance(g2, nx.DiGraph) and g2.is_directed()
    assert dict(g2.nodes(data=True)) == dict(graph.nodes(data=True))
    assert list(g2.edges(data=True)) == list(graph.edges(data=True))
    assert g2.graph == graph.graph

    assert store.get(sid, "summary") == {"rows": 3, "ratio": 0.5, "when": "2024-01-02T00:00:00",
                                         "nested": {"list": [1, "a", None]}, "nan": None}
    assert store.get(sid, "absent", "default") == "default"
    assert store.fields(sid) == ["empty", "frame", "graph", "summary"]
    assert store.fields(sid, "fr") == ["frame"]


def _uncompressed_arrow(df: pd.DataFrame) -> bytes:
    """A frame as earlier versions stored it: an Arrow IPC stream without compression."""
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=None)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return serialize.MAGIC + b"arrow\n" + sink.getvalue().to_pybytes()


def test_frames_and_graphs_are_stored_compressed_and_older_plain_blobs_still_read(store):
    import pyarrow as pa

    big = pd.DataFrame({"po_no": [f"P{i % 50:04d}" for i in range(20000)], "rolls": np.arange(20000) % 7})
    blob = serialize.encode(big)
    reader = pa.ipc.open_stream(pa.py_buffer(serialize.split(blob)[1]))
    assert reader.read_all().num_rows == 20000
    plain = _uncompressed_arrow(big)
    assert len(blob) < len(plain) / 5  # repetitive columns shrink a lot under zstd
    graph = _graph()
    nx_plain = serialize.MAGIC + b"nx\n" + serialize.to_json_bytes(nx.node_link_data(graph, edges="edges"))
    assert serialize.split(serialize.encode(graph))[0] == "nxz"
    sid = _session(store)
    store.write(sid, {"old_frame": plain, "old_graph": nx_plain})
    pd.testing.assert_frame_equal(store.get(sid, "old_frame"), big)
    assert dict(store.get(sid, "old_graph").nodes(data=True)) == dict(graph.nodes(data=True))


@pytest.mark.parametrize("cut", [4, 8, 12, -3])
def test_a_damaged_compressed_graph_is_a_store_error(store, cut):
    blob = serialize.encode(_graph())
    head = len(serialize.MAGIC) + len(b"nxz\n")
    damaged = blob[:cut] if cut < 0 else blob[:head + cut]
    if cut == 12:  # a length header that lies
        damaged = blob[:head] + (10**6).to_bytes(8, "little") + blob[head + 8:]
    sid = _session(store)
    store.write(sid, {"dag": damaged})
    with pytest.raises(StoreError, match="graph"):
        store.get(sid, "dag")


def test_unstorable_values_are_refused_clearly(store):
    sid = _session(store)
    with pytest.raises(StoreError, match="Arrow"):
        store.put(sid, "bad", pd.DataFrame({"mixed": [[1, 2], "a"]}))
    with pytest.raises(StoreError, match="JSON"):
        store.put(sid, "bad", {"f": object()})
    assert store.get(sid, "bad") is None


def test_sessions_list_delete_and_missing(store):
    a, b = _session(store), _session(store)
    assert store.list_sessions() == [a, b]
    with pytest.raises(StoreError, match="already exists"):
        store.create_session(a)
    assert store.delete_session(a) is True
    assert store.list_sessions() == [b]
    assert not store.exists(a) and store.get(a, "x") is None and store.fields(a) == []
    with pytest.raises(StoreError, match="does not exist"):
        store.put(a, "x", 1)
    with pytest.raises(StoreError, match="invalid session id"):
        store.create_session("a:b")


def test_ttl_expires_sessions_and_writes_refresh_it(store):
    short = _reopen(store, ttl_s=1.0)
    sid = _session(short)
    short.put(sid, "x", {"v": 1})
    time.sleep(0.6)
    short.put(sid, "x", {"v": 2})  # refreshes the expiry
    time.sleep(0.6)  # 1.2 s after creation, 0.6 s after the last write
    assert short.exists(sid) and short.get(sid, "x") == {"v": 2}
    assert short.expires_at(sid) > time.time()
    time.sleep(0.6)
    assert not short.exists(sid)
    assert short.get(sid, "x") is None and short.expires_at(sid) is None
    assert sid not in short.list_sessions()
    with pytest.raises(StoreError, match="expired"):
        short.put(sid, "x", 3)
    short.close()


def test_locks_are_owned_exclusive_and_expire(store):
    sid = _session(store)
    assert store.acquire_lock(sid, "schedule", "t1", 0.4)
    assert not store.acquire_lock(sid, "schedule", "t2", 0.4)
    assert store.acquire_lock(sid, "dag", "t2", 0.4)  # per (session, stage)
    assert store.lock_owner(sid, "schedule") == "t1"
    assert not store.renew_lock(sid, "schedule", "t2", 0.4)
    assert store.renew_lock(sid, "schedule", "t1", 0.4)
    assert not store.release_lock(sid, "schedule", "t2") and store.lock_owner(sid, "schedule") == "t1"
    time.sleep(0.55)
    assert store.lock_owner(sid, "schedule") is None
    assert not store.renew_lock(sid, "schedule", "t1", 0.4)  # an expired lease cannot be revived
    assert store.acquire_lock(sid, "schedule", "t3", 5)
    assert store.release_lock(sid, "schedule", "t3") and store.lock_owner(sid, "schedule") is None


def test_fenced_and_compare_and_set_writes(store):
    sid = _session(store)
    store.put(sid, "status", {"s": "running"})
    store.acquire_lock(sid, "load", "owner", 5)
    blob = serialize.encode({"s": "done"})
    assert not store.write(sid, {"status": blob}, if_lock=("load", "intruder"))
    assert store.get(sid, "status") == {"s": "running"}
    assert store.write(sid, {"status": blob, "extra": blob}, if_lock=("load", "owner"))
    assert store.get(sid, "status") == {"s": "done"}

    current = store.get_raw(sid, "status")
    assert not store.write(sid, {"status": serialize.encode(1)}, if_unchanged={"status": b"other"})
    assert store.write(sid, {"status": serialize.encode(2)}, ["extra"], if_unchanged={"status": current})
    assert store.get(sid, "status") == 2 and store.get(sid, "extra") is None
    assert store.write(sid, {"new": blob}, if_unchanged={"new": None})
    assert not store.write(sid, {"new": blob}, if_unchanged={"new": None})

    # the final write of a run can end its lock in the same atomic step
    assert not store.write(sid, {"status": blob}, if_lock=("load", "intruder"), release_lock=True)
    assert store.lock_owner(sid, "load") == "owner"
    assert store.write(sid, {"status": serialize.encode(3)}, if_lock=("load", "owner"), release_lock=True)
    assert store.get(sid, "status") == 3 and store.lock_owner(sid, "load") is None


def test_lease_heartbeat_keeps_the_lock_and_polls(store):
    sid = _session(store)
    lease = Lease(store, sid, "schedule", lease_s=0.4)
    assert lease.acquire()
    polls = []
    lease.start_heartbeat(poll=lambda: polls.append(1))
    time.sleep(1.0)  # well past the lease: only the heartbeat keeps it
    assert lease.held() and not lease.lost.is_set() and len(polls) >= 3
    assert not Lease(store, sid, "schedule", lease_s=0.4).acquire()
    lease.release()
    assert store.lock_owner(sid, "schedule") is None


def _pickle_bomb(marker):
    class Bomb:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Bomb())


@pytest.mark.parametrize("wrap", ["raw", "unknown-kind", "as-arrow", "as-json", "as-graph"])
def test_planted_pickle_is_refused_and_never_run(store, tmp_path, wrap):
    marker = tmp_path / "pwned"
    payload = _pickle_bomb(marker)
    pickle.loads(payload)  # the payload is live: loading it creates the marker file
    assert marker.exists()
    marker.unlink()
    blob = {"raw": payload, "unknown-kind": serialize.MAGIC + b"pickle\n" + payload,
            "as-arrow": serialize.MAGIC + b"arrow\n" + payload, "as-json": serialize.MAGIC + b"json\n" + payload,
            "as-graph": serialize.MAGIC + b"nx\n" + payload}[wrap]
    sid = _session(store)
    store.write(sid, {"params": blob})
    with pytest.raises(StoreError, match="refusing|not a valid Arrow|does not parse|unknown kind"):
        store.get(sid, "params")
    with pytest.raises(StoreError):
        store.get_many(sid, ["params"])
    from prodsched.session import Session

    with pytest.raises(StoreError):
        _ = Session.attach(sid, store).params
    assert [r["overall"] for r in Session.list(store) if r["session_id"] == sid] == ["unreadable"]
    assert not marker.exists()


def test_cross_process_visibility(store, run_python):
    sid = _session(store)
    store.put(sid, "from_parent", {"rows": 2})
    code = """
import sys, pandas as pd
from prodsched.store import open_store
st = open_store(sys.argv[1])
print(st.get(sys.argv[2], "from_parent")["rows"])
st.put(sys.argv[2], "from_child", pd.DataFrame({"d": pd.to_datetime(["2024-03-01 06:30"]), "n": [7]}))
"""
    proc = run_python(code, store.url, sid)
    assert proc.stdout.strip() == "2"
    got = store.get(sid, "from_child")
    assert got["n"].tolist() == [7] and got["d"].iloc[0] == pd.Timestamp("2024-03-01 06:30")


def test_exactly_one_of_two_processes_gets_the_lock(store, run_python):
    sid = _session(store)
    code = """
import sys, time
from prodsched.store import open_store
st = open_store(sys.argv[1])
st.list_sessions()  # connect before the start line
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
print(st.acquire_lock(sys.argv[2], "schedule", sys.argv[4], 30))
"""
    start = f"{time.time() + 1.0:.3f}"
    results = {}

    def go(token):
        results[token] = run_python(code, store.url, sid, start, token).stdout.strip()

    threads = [threading.Thread(target=go, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["False", "True"]
    winner = next(t for t, r in results.items() if r == "True")
    assert store.lock_owner(sid, "schedule") == winner


def test_open_store_dispatches_on_scheme(tmp_path, monkeypatch):
    path = tmp_path / "x" / "s.db"
    assert isinstance(open_store(path), SqliteStore) and path.exists()
    assert open_store(f"sqlite://{path}").path == path
    monkeypatch.setenv("PRODSCHED_STORE", str(tmp_path / "env.db"))
    assert open_store().path == tmp_path / "env.db"
    with pytest.raises(StoreError, match="unknown store scheme"):
        open_store("mongodb://localhost/x")
    st = open_store(path)
    assert open_store(st) is st


def test_redis_url_options_and_masked_password(redis_server):
    from prodsched.store.redis import RedisStore

    st = open_store(f"redis://:s3cret@127.0.0.1:{redis_server.port}/2?namespace=plant-a&ttl=60")
    assert isinstance(st, RedisStore) and st.namespace == "plant-a" and st.ttl_s == 60
    assert "s3cret" not in repr(st) and "s3cret" in st.url
    again = open_store(st.url)
    assert again.namespace == "plant-a" and again.ttl_s == 60


def test_sqlite_uses_wal_and_purges_expired_rows(tmp_path):
    st = SqliteStore(tmp_path / "s.db", ttl_s=0.3)
    sid = _session(st)
    st.put(sid, "x", {"big": "y" * 1000})
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    time.sleep(0.5)
    assert st.list_sessions() == []
    assert con.execute("SELECT count(*) FROM kv").fetchone()[0] == 0
    con.close()


def test_redis_reconnects_after_a_restart(redis_server, redis_url):
    st = open_store(redis_url)
    sid = _session(st)
    redis_server.restart()  # no persistence: the old session is gone, the client must reconnect
    assert not st.exists(sid)
    sid2 = _session(st)
    st.put(sid2, "x", {"ok": True})
    assert st.get(sid2, "x") == {"ok": True}

    redis_server.stop()  # down while a call is made: retried until the server is back
    restarter = threading.Timer(1.0, redis_server.start)
    restarter.start()
    try:
        sid3 = _session(st)
    finally:
        restarter.join()
    assert st.exists(sid3) and st.list_sessions() == [sid3]


def test_progress_writes_are_throttled_and_the_last_one_is_kept(store):
    from prodsched.store.lease import ProgressWriter

    sid = _session(store)
    writes = []
    original = store.put

    def counting_put(session_id, field, value):
        writes.append(value)
        original(session_id, field, value)

    store.put = counting_put
    local = []
    progress = ProgressWriter(store, sid, "stage:schedule:progress", "run1", local=lambda f, m: local.append(f))
    started = time.monotonic()
    for i in range(1, 301):
        progress(i / 300, f"step {i}")
        time.sleep(0.001)
    elapsed = time.monotonic() - started
    assert len(local) == 300  # the local callback sees every update
    assert 1 <= len(writes) <= elapsed * 10 + 1  # the store sees at most 10 a second
    time.sleep(0.11)
    progress.flush()  # the heartbeat's flush stores the update held back
    assert store.get(sid, "stage:schedule:progress") == {"run_id": "run1", "progress": 1.0, "message": "step 300"}
    progress.close()
    progress(0.5, "late")
    time.sleep(0.11)
    progress.flush()
    assert store.get(sid, "stage:schedule:progress")["message"] == "step 300"


def test_open_store_shares_one_store_per_location(tmp_path):
    a = open_store(tmp_path / "s.db")
    assert open_store(str(tmp_path / "s.db")) is a and open_store(tmp_path / "s.db", ttl_s=5) is not a
    a.close()  # a closed store reconnects on its next use
    sid = _session(a)
    assert open_store(tmp_path / "s.db").exists(sid)
    (tmp_path / "s.db").unlink()
    assert open_store(tmp_path / "s.db") is not a and not open_store(tmp_path / "s.db").exists(sid)
