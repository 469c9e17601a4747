"""Damaged and foreign data in the stores, stores that go away mid-run, and the SQLite file's size.

Everything read back that prodsched did not write must be a StoreError naming the store and the
key; one unreadable session must not hide the others from ``Session.list``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import uuid

import pandas as pd
import pytest

from prodsched.store import serialize
from prodsched.errors import CallbackError, StoreError
from prodsched.session import Session, format_sessions
from prodsched.store import SqliteStore, open_store
from prodsched.store.redis import RedisStore


def _session(store) -> str:
    sid = uuid.uuid4().hex
    store.create_session(sid)
    return sid


def _redis_client(store):
    import redis

    return redis.Redis.from_url(store.url.split("?")[0])


def _names_store_and_key(message: str, store, key: str) -> bool:
    return store.display_url in message and key in message


# -- blobs prodsched did not write ------------------------------------------------------------

def test_truncated_arrow_blob_is_a_store_error_naming_store_and_key(store):
    sid = _session(store)
    blob = serialize.encode(pd.DataFrame({"po_no": [f"P{i}" for i in range(500)], "rolls": range(500)}))
    store.write(sid, {"art:load:order_data": blob[: len(blob) // 2]})
    key = store.key(sid, "art:load:order_data")
    with pytest.raises(StoreError) as err:
        store.get(sid, "art:load:order_data")
    assert _names_store_and_key(str(err.value), store, key) and "Arrow" in str(err.value)
    with pytest.raises(StoreError) as err:
        store.get_many(sid, ["art:load:order_data"])
    assert _names_store_and_key(str(err.value), store, key)


BAD_STATUS = {
    "a JSON list": serialize.encode(["done", 1]),
    "an unknown status": serialize.encode({"status": "finished"}),
    "a start time that is text": serialize.encode({"status": "done", "t0": "yesterday", "t1": None}),
    "not a prodsched blob": b"\x80\x04K\x01.",
}


@pytest.mark.parametrize("what", sorted(BAD_STATUS))
def test_a_damaged_status_record_is_named_and_the_other_sessions_still_list(store, tmp_path, what):
    good = Session.create({"data": str(tmp_path)}, store)
    bad = Session.create({"data": str(tmp_path)}, store)
    store.write(bad.id, {"stage:load:status": BAD_STATUS[what]})
    key = store.key(bad.id, "stage:load:status")
    with pytest.raises(StoreError) as err:
        bad.status()
    assert _names_store_and_key(str(err.value), store, key)

    rows = {r["session_id"]: r for r in Session.list(store)}
    assert rows[good.id]["overall"] == "pending" and rows[good.id]["error"] is None
    assert rows[good.id]["data"] == str(tmp_path)
    assert rows[bad.id]["overall"] == "unreadable" and key in rows[bad.id]["error"]
    text = format_sessions(list(rows.values()))
    assert "unreadable sessions:" in text and f"{bad.id}: {rows[bad.id]['error']}" in text


def _plant_foreign_session(store, sid: str) -> None:
    """A session entry under the store's namespace that no prodsched wrote (an invalid id)."""
    if isinstance(store, SqliteStore):
        con = sqlite3.connect(store.path)
        with con:
            con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (store.namespace, sid, 0.0, time.time() + 600))
        con.close()
    else:
        r = _redis_client(store)
        r.hset(f"{store.namespace}:{sid}:data", "_created", "0")
        r.zadd(f"{store.namespace}:sessions", {sid: time.time() + 600})


def test_a_foreign_session_entry_is_listed_as_unreadable(store, tmp_path):
    good = Session.create({"data": str(tmp_path)}, store)
    _plant_foreign_session(store, "not a session")
    rows = {r["session_id"]: r for r in Session.list(store)}
    assert rows[good.id]["overall"] == "pending"
    assert rows["not a session"]["overall"] == "unreadable"
    assert "invalid session id" in rows["not a session"]["error"]


# -- SQLite: damaged, empty and foreign files ---------------------------------------------------

def test_sqlite_damaged_file_is_a_store_error_naming_file_and_key(tmp_path):
    path = tmp_path / "s.db"
    st = SqliteStore(path)
    a, b = _session(st), _session(st)
    st.put(a, "params", {"data": "x" * 20000})
    st.put(b, "params", {"data": "y"})
    st.close()
    con = sqlite3.connect(path)
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'kv'").fetchone()[0]
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    with open(path, "r+b") as f:  # overwrite the root page of the key-value table
        f.seek((root - 1) * page)
        f.write(b"\xff" * page)
    st = SqliteStore(path)
    with pytest.raises(StoreError) as err:
        st.get(b, "params")
    assert str(path) in str(err.value) and st.key(b, "params") in str(err.value)
    assert "malformed" in str(err.value)
    rows = Session.list(st)  # the sessions table is intact: every session is listed, as unreadable
    assert {r["session_id"] for r in rows} == {a, b} and {r["overall"] for r in rows} == {"unreadable"}
    assert all(str(path) in r["error"] for r in rows)
    st.close()


def test_sqlite_zero_byte_file_is_refused_by_name(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StoreError, match="empty") as err:
        open_store(path)
    assert str(path) in str(err.value)
    assert path.stat().st_size == 0  # left as it was


def test_sqlite_non_database_file_is_refused_by_name(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("order P1: 20 rolls\n" * 200)
    with pytest.raises(StoreError, match="not an SQLite database") as err:
        open_store(path)
    assert str(path) in str(err.value)
    assert path.read_text().startswith("order P1")


def test_sqlite_database_of_another_application_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.close()
    with pytest.raises(StoreError, match="another application.*customers") as err:
        open_store(path)
    assert str(path) in str(err.value)
    con = sqlite3.connect(path)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]
    con.close()


CREATE_AT_ONCE = """
import sys, time
from prodsched.store import SqliteStore
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
st = SqliteStore(sys.argv[1])
st.create_session(sys.argv[3])
print(st.list_sessions() is not None)
"""


def test_sqlite_store_is_created_where_no_file_exists(tmp_path, run_python):
    path = tmp_path / "new" / "sessions.db"
    start = f"{time.time() + 1.5:.3f}"
    outputs = {}

    def create(name):
        outputs[name] = run_python(CREATE_AT_ONCE, str(path), start, name, check=False)

    procs = [threading.Thread(target=create, args=(f"p{i}",)) for i in range(3)]
    for t in procs:  # three processes make the same new store at the same moment
        t.start()
    for t in procs:
        t.join()
    assert {n: (o.returncode, o.stdout.strip()) for n, o in outputs.items()} == {
        n: (0, "True") for n in ("p0", "p1", "p2")}, {n: o.stderr[-500:] for n, o in outputs.items()}
    st = SqliteStore(path)
    assert set(st.list_sessions()) == {"p0", "p1", "p2"}
    sid = _session(st)
    st.put(sid, "x", {"ok": True})
    assert SqliteStore(path).get(sid, "x") == {"ok": True}
    assert path.stat().st_size > 0
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith("sessions.db")) == []
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental: freed pages can go back
    con.close()
    st.close()


def test_sqlite_value_of_a_foreign_type_is_named(tmp_path):
    st = SqliteStore(tmp_path / "s.db")
    sid = _session(st)
    con = sqlite3.connect(st.path)
    with con:
        con.execute("INSERT INTO kv VALUES (?, ?, ?)", (f"{st.namespace}:{sid}", st.key(sid, "params"), "plain text"))
    con.close()
    with pytest.raises(StoreError, match="SQLite str value") as err:
        st.get(sid, "params")
    assert _names_store_and_key(str(err.value), st, st.key(sid, "params"))


# -- SQLite: expired sessions leave the file --------------------------------------------------

def _fill(st, sessions: int = 4, mb: float = 1.5) -> list[str]:
    sids = []
    for _ in range(sessions):
        sid = _session(st)
        st.put(sid, "blob", {"text": os.urandom(int(mb * 2**20) // 2).hex()})
        sids.append(sid)
    return sids


def _on_disk(path) -> int:
    """Bytes of the store file and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _rows(path) -> dict[str, int]:
    con = sqlite3.connect(path)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("sessions", "kv", "locks")}
    con.close()
    return counts


def test_sqlite_expired_sessions_of_every_namespace_leave_the_file(tmp_path):
    path = tmp_path / "s.db"
    short = SqliteStore(path, ttl_s=0.5)
    other = SqliteStore(path, ttl_s=0.5, namespace="plant-b")  # a namespace nobody opens again
    keep = SqliteStore(path, ttl_s=600, namespace="plant-c")
    _fill(short)
    _fill(other)
    kept = keep.create_session("kept")
    keep.put("kept", "x", {"v": 1})
    other.close()
    full = _on_disk(path)
    assert full > 10 * 2**20
    time.sleep(0.7)
    assert short.list_sessions() == []  # a long-lived store purges as it goes
    assert _rows(path) == {"sessions": 1, "kv": 1, "locks": 0}
    assert path.stat().st_size < 2**20, f"{full} -> {path.stat().st_size} bytes"
    assert kept is None and keep.get("kept", "x") == {"v": 1}
    short.close()
    keep.close()
    assert _on_disk(path) < 2**20


def test_sqlite_store_of_an_older_version_is_purged_and_shrunk_on_open(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path, isolation_level=None)  # the schema older versions made: no auto-vacuum
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript("""
        CREATE TABLE sessions (namespace TEXT NOT NULL, session TEXT NOT NULL, created REAL NOT NULL,
            expires_at REAL NOT NULL, PRIMARY KEY (namespace, session)) WITHOUT ROWID;
        CREATE TABLE kv (session TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
            PRIMARY KEY (session, key)) WITHOUT ROWID;
        CREATE TABLE locks (session TEXT NOT NULL, key TEXT NOT NULL, token TEXT NOT NULL,
            expires_at REAL NOT NULL, PRIMARY KEY (session, key)) WITHOUT ROWID;
        CREATE INDEX sessions_expiry ON sessions (expires_at);
    """)
    t = time.time()
    for i in range(6):
        ns = "prodsched" if i % 2 else "tests"
        con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (ns, f"s{i}", t - 900, t - 100 if i else t + 600))
        con.execute("INSERT INTO kv VALUES (?, ?, ?)", (f"{ns}:s{i}", f"{ns}:s{i}:blob",
                                                         serialize.encode({"b": os.urandom(2**20).hex()})))
    con.close()
    full = _on_disk(path)
    assert full > 5 * 2**20
    st = SqliteStore(path, namespace="tests")
    assert _rows(path) == {"sessions": 1, "kv": 1, "locks": 0}
    assert path.stat().st_size < 4 * 2**20, f"{full} -> {path.stat().st_size} bytes"
    assert st.list_sessions() == ["s0"] and st.get("s0", "blob")["b"]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental from now on
    con.close()
    st.close()


# -- Redis: keys of the wrong type -------------------------------------------------------------

@pytest.mark.redis
def test_redis_key_of_the_wrong_type_is_named(redis_url):
    st = open_store(redis_url)
    sid = _session(st)
    r = _redis_client(st)
    data = f"{st.namespace}:{sid}:data"
    r.delete(data)
    r.rpush(data, "foreign")
    with pytest.raises(StoreError) as err:
        st.get(sid, "params")
    assert _names_store_and_key(str(err.value), st, data) and "list" in str(err.value)
    with pytest.raises(StoreError, match=data):
        st.put(sid, "params", {"a": 1})
    lock = f"{st.namespace}:{sid}:lock:schedule"
    r.hset(lock, "owner", "someone")
    with pytest.raises(StoreError, match=lock):
        st.lock_owner(sid, "schedule")


@pytest.mark.redis
def test_redis_sessions_list_with_foreign_keys(redis_url, tmp_path):
    st = open_store(redis_url)
    a = Session.create({"data": str(tmp_path)}, st)
    wrong = Session.create({"data": str(tmp_path)}, st)
    garbled = Session.create({"data": str(tmp_path)}, st)
    c = Session.create({"data": str(tmp_path)}, st)
    r = _redis_client(st)
    r.delete(f"{st.namespace}:{wrong.id}:data")
    r.set(f"{st.namespace}:{wrong.id}:data", "not a hash")
    r.hset(f"{st.namespace}:{garbled.id}:data", "_created", "yesterday")
    rows = {row["session_id"]: row for row in Session.list(st)}
    assert [rows[s.id]["overall"] for s in (a, c)] == ["pending", "pending"]
    assert list(rows)[:2] == [a.id, c.id] and set(list(rows)[2:]) == {wrong.id, garbled.id}  # damaged last
    assert rows[wrong.id]["overall"] == "unreadable"
    assert f"{st.namespace}:{wrong.id}:data" in rows[wrong.id]["error"] and "string" in rows[wrong.id]["error"]
    assert garbled.id in rows  # its `_created` is foreign, its records are readable
    assert rows[garbled.id]["overall"] == "pending"


# -- progress callbacks ------------------------------------------------------------------------

def test_a_progress_callback_that_raises_fails_the_run(store, plant):
    s = Session.create({"data": str(plant)}, store)
    seen = []

    def broken(fraction, message):
        seen.append(fraction)
        raise ZeroDivisionError("the progress bar was closed")

    with pytest.raises(CallbackError, match="progress callback .* raised ZeroDivisionError: the progress bar") as err:
        s.run("load", progress=broken)
    assert isinstance(err.value.__cause__, ZeroDivisionError) and seen == [0.0]
    load = s.status()["stages"][0]
    assert load["status"] == "failed" and "ZeroDivisionError: the progress bar was closed" in load["error"]
    assert s.run("load")["orders"] > 0  # without the callback the stage runs


# -- stores that lose their data, or go away, while a stage runs ----------------------------------

def _empty_the_store(store) -> None:
    if isinstance(store, SqliteStore):
        con = sqlite3.connect(store.path)
        with con:
            for table in ("sessions", "kv", "locks"):
                con.execute(f"DELETE FROM {table}")
        con.close()
    else:
        _redis_client(store).flushdb()  # as FLUSHALL or a restart without persistence would


def _run_in_thread(session: Session, stage: str) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def go():
        try:
            outcome["summary"] = session.run(stage)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("lease_s", [30.0, 0.6], ids=["final-write", "heartbeat"])
def test_store_that_lost_its_data_mid_run_is_named_as_such(store, plant, payload_fifo, lease_s):
    s = Session.create({"data": str(payload_fifo)}, store, lease_s=lease_s)
    thread, outcome = _run_in_thread(s, "load")
    payload_fifo.wait_for_reader()
    _empty_the_store(store)
    if lease_s < 1:
        time.sleep(3 * lease_s)  # the heartbeat finds the lock gone
    payload_fifo.feed(plant)
    thread.join(60)
    message = str(outcome["error"])
    assert isinstance(outcome["error"], StoreError), message
    assert f"{store.display_url} lost the data of session {s.id}" in message and "expired" not in message
    with pytest.raises(StoreError, match="lost the data of session"):
        s.status()


def test_session_deleted_mid_run_is_named_as_deleted_not_lost(store, plant, payload_fifo):
    s = Session.create({"data": str(payload_fifo)}, store)
    thread, outcome = _run_in_thread(s, "load")
    payload_fifo.wait_for_reader()
    other = open_store(store.url, namespace=store.namespace, ttl_s=store.ttl_s + 1)  # another store object
    assert other is not store and Session.attach(s.id, other).delete()
    payload_fifo.feed(plant)
    thread.join(60)
    assert "was deleted from" in str(outcome["error"]) and "lost the data" not in str(outcome["error"])


class _Outage:
    """Makes the store unreachable for writes (SQLite: another connection holds the write lock;
    Redis: the server process is stopped) until ``end()``."""

    def __init__(self, store, redis_server=None):
        self.store, self.redis_server = store, redis_server

    def begin(self) -> None:
        if isinstance(self.store, SqliteStore):
            self.con = sqlite3.connect(self.store.path, isolation_level=None)
            self.con.execute("BEGIN IMMEDIATE")
        else:
            self.redis_server.proc.send_signal(signal.SIGSTOP)

    def end(self) -> None:
        if isinstance(self.store, SqliteStore):
            self.con.execute("ROLLBACK")
            self.con.close()
        else:
            self.redis_server.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def impatient_store(request, tmp_path):
    """A store that gives up on an unreachable server after a fraction of a second."""
    if request.param == "sqlite":
        st = SqliteStore(tmp_path / "s.db", busy_timeout_s=0.1)
        yield st, _Outage(st)
    else:
        server = request.getfixturevalue("redis_server")
        st = RedisStore(f"{server.url}?namespace=test-{uuid.uuid4().hex[:12]}&socket_timeout=0.2",
                        retry_s=0.3)
        yield st, _Outage(st, server)
    st.close()


@pytest.mark.parametrize("impatient_store", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)],
                         indirect=True)
def test_store_outage_longer_than_the_lease_is_reported_as_an_outage(impatient_store, plant, payload_fifo):
    store, outage = impatient_store
    s = Session.create({"data": str(payload_fifo)}, store, lease_s=0.6)
    thread, outcome = _run_in_thread(s, "load")
    payload_fifo.wait_for_reader()
    outage.begin()
    try:
        time.sleep(2.0)  # well past the lease
    finally:
        outage.end()
    payload_fifo.feed(plant)
    thread.join(60)
    message = str(outcome["error"])
    assert f"session store {store.display_url} could not be reached for longer than the 0.6 s lease" in message
    load = s.status()["stages"][0]
    assert load["status"] == "failed" and "could not be reached" in load["error"]
    assert "worker stopped responding" not in load["error"] and store.display_url in load["error"]
