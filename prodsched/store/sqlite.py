"""SqliteStore: the zero-setup embedded store (one SQLite file, WAL mode, safe across processes).

Tables: ``sessions(namespace, session, created, expires_at)``, ``kv(session, key, value)`` with
``key = {namespace}:{session}:{field}``, ``locks(session, key, token, expires_at)`` and
``deleted(namespace, session, until)`` (sessions deleted within their time-to-live). Every write
runs in a ``BEGIN IMMEDIATE`` transaction, so a check (lock owner, expected bytes, session alive)
and the write it guards are atomic with respect to other processes. Expired sessions read as
absent immediately; their rows are deleted when the store is opened and at most every 30 s after,
and the space they took is returned to the file system (see :mod:`prodsched.store.sqlite_file`).
Every SQLite error - a damaged file included - is a StoreError naming the file and the key.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

from prodsched.errors import StoreError
from prodsched.store import sqlite_file
from prodsched.store.base import (
    DEFAULT_NAMESPACE,
    StoreBase,
    check_session_id,
    check_write,
    default_ttl,
    now,
)

DEFAULT_PATH = Path("~/.prodsched/sessions.db")


class SqliteStore(StoreBase):
    """Sessions in one SQLite file; one connection per thread and process."""

    def __init__(self, path: str | os.PathLike | None = None, *, ttl_s: float | None = None,
                 namespace: str = DEFAULT_NAMESPACE, busy_timeout_s: float = 15.0):
        raw = str(path) if path is not None else str(DEFAULT_PATH)
        raw = raw.removeprefix("sqlite://")
        self.path = Path(raw).expanduser().resolve()
        self.url = str(self.path)
        self.namespace = namespace
        self.ttl_s = float(ttl_s) if ttl_s is not None else default_ttl()
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: dict[int, tuple[threading.Thread, sqlite3.Connection]] = {}
        self._conns_lock = threading.Lock()
        self._pid = os.getpid()
        self._last_purge = 0.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for session store {self.path}: {exc}") from None
        if not sqlite_file.check_file(self.path):
            sqlite_file.create_file(self.path)
        sqlite_file.check_file(self.path)
        conn = self._conn()
        with self._errors("schema"):
            sqlite_file.check_schema(conn, self.path)
            conn.executescript(sqlite_file.SCHEMA)  # adds tables a store of an older prodsched lacks
        self._purge(force=True)

    # -- connections and transactions -------------------------------------------------------
    @contextmanager
    def _errors(self, what):
        """Turn any SQLite error into a StoreError naming this file and ``what`` (the key, or a
        callable giving the key being read when the error came)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self.damaged(what() if callable(what) else what, f"{type(exc).__name__}: {exc}") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            # mode=rw: never create the file here (a missing file is a new store only in __init__)
            conn = sqlite3.connect(self.path.as_uri() + "?mode=rw", uri=True, timeout=self.busy_timeout_s,
                                   isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch SQLite to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {sqlite_file.WAL_SIZE_LIMIT}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open session store {self.path}: {exc}") from None
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._conns_lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours to close
                self._conns, self._pid = {}, os.getpid()
            # close the connections of threads that have ended (e.g. finished stage workers)
            for ident, (thread, old) in list(self._conns.items()):
                if not thread.is_alive():
                    del self._conns[ident]
                    old.close()
            self._conns[id(conn)] = (threading.current_thread(), conn)
        return conn

    def _tx(self, fn, what, immediate: bool = True):
        """Run fn(conn) inside one transaction (IMMEDIATE = take the write lock up front)."""
        conn = self._conn()
        with self._errors(what):
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def _read(self, fn, what: str):
        """Run fn(conn) outside a transaction, with SQLite errors as StoreErrors."""
        with self._errors(what):
            return fn(self._conn())

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = [c for _, c in self._conns.values()], {}
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    # -- stored values ----------------------------------------------------------------------
    def _expiry(self, conn, sid: str) -> float | None:
        row = conn.execute("SELECT expires_at FROM sessions WHERE namespace=? AND session=?",
                           (self.namespace, sid)).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], (int, float)):
            raise self.damaged(f"session {self._skey(sid)}",
                               f"its expiry is {row[0]!r}, not a time prodsched wrote")
        return float(row[0])

    def _alive(self, conn, sid: str, t: float) -> bool:
        expiry = self._expiry(conn, sid)
        return expiry is not None and expiry > t

    def _blob(self, row, key: str) -> bytes | None:
        if row is None:
            return None
        if not isinstance(row[0], bytes):
            raise self.damaged(key, f"holds an SQLite {type(row[0]).__name__} value, not a blob prodsched wrote")
        return row[0]

    # -- expiry -----------------------------------------------------------------------------
    def _purge(self, force: bool = False) -> None:
        """Delete expired sessions (every namespace) and hand their space back to the file system."""
        t = now()
        if not force and t - self._last_purge < min(30.0, self.ttl_s):
            return
        self._last_purge = t
        self._tx(lambda conn: sqlite_file.purge_expired(conn, t), "purging expired sessions")
        self._read(lambda conn: sqlite_file.reclaim(conn, self.path), "reclaiming free space")

    def _delete_rows(self, conn, sid: str) -> None:
        conn.execute("DELETE FROM kv WHERE session=?", (self._skey(sid),))
        conn.execute("DELETE FROM locks WHERE session=?", (self._skey(sid),))
        conn.execute("DELETE FROM sessions WHERE namespace=? AND session=?", (self.namespace, sid))

    def _skey(self, sid: str) -> str:
        return f"{self.namespace}:{sid}"

    # -- sessions ---------------------------------------------------------------------------
    def create_session(self, session_id: str) -> None:
        sid = check_session_id(session_id)
        self._purge()
        t = now()

        def create(conn):
            if self._alive(conn, sid, t):
                raise StoreError(f"session {sid} already exists")
            self._delete_rows(conn, sid)
            conn.execute("DELETE FROM deleted WHERE namespace=? AND session=?", (self.namespace, sid))
            conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (self.namespace, sid, t, t + self.ttl_s))

        self._tx(create, f"session {self._skey(sid)}")
        self.seen_alive(sid, t + self.ttl_s)

    def exists(self, session_id: str) -> bool:
        sid = check_session_id(session_id)
        return self._read(lambda conn: self._alive(conn, sid, now()), f"session {self._skey(sid)}")

    def expires_at(self, session_id: str) -> float | None:
        sid = check_session_id(session_id)
        expiry = self._read(lambda conn: self._expiry(conn, sid), f"session {self._skey(sid)}")
        if expiry is None or expiry <= now():
            return None
        self.seen_alive(sid, expiry)
        return expiry

    def list_sessions(self) -> list[str]:
        self._purge(force=True)
        rows = self._read(lambda conn: conn.execute(
            "SELECT session FROM sessions WHERE namespace=? AND expires_at > ? ORDER BY created",
            (self.namespace, now())).fetchall(), f"sessions of namespace {self.namespace!r}")
        return [str(r[0]) for r in rows]

    def delete_session(self, session_id: str) -> bool:
        sid = check_session_id(session_id)

        def delete(conn):
            expiry = self._expiry(conn, sid)
            existed = expiry is not None and expiry > now()
            self._delete_rows(conn, sid)
            if existed:
                conn.execute("INSERT OR REPLACE INTO deleted VALUES (?, ?, ?)", (self.namespace, sid, expiry))
            return existed

        return self._tx(delete, f"session {self._skey(sid)}")

    def was_deleted(self, session_id: str) -> bool:
        sid = check_session_id(session_id)
        row = self._read(lambda conn: conn.execute(
            "SELECT until FROM deleted WHERE namespace=? AND session=?", (self.namespace, sid)).fetchone(),
            f"session {self._skey(sid)}")
        return row is not None and isinstance(row[0], (int, float)) and row[0] > now()

    # -- fields -----------------------------------------------------------------------------
    def fields(self, session_id: str, prefix: str = "") -> list[str]:
        sid = check_session_id(session_id)
        base = self.key(sid, "")

        def read(conn):
            if not self._alive(conn, sid, now()):
                return []
            return conn.execute("SELECT key FROM kv WHERE session=? AND substr(key, 1, ?) = ? ORDER BY key",
                                (self._skey(sid), len(base + prefix), base + prefix)).fetchall()

        return [str(r[0])[len(base):] for r in self._read(read, self.key(sid, prefix + "*"))]

    def get_raw(self, session_id: str, field: str) -> bytes | None:
        return self.get_many_raw(session_id, [field])[field]

    def get_many_raw(self, session_id: str, fields: Iterable[str]) -> dict[str, bytes | None]:
        sid = check_session_id(session_id)
        fields = list(fields)
        self._purge()
        current = [self.key(sid, fields[0]) if len(fields) == 1 else self.key(sid, "*")]

        def read(conn):
            alive = self._alive(conn, sid, now())
            out: dict[str, bytes | None] = {}
            for f in fields:
                current[0] = self.key(sid, f)
                row = conn.execute("SELECT value FROM kv WHERE session=? AND key=?",
                                   (self._skey(sid), current[0])).fetchone() if alive else None
                out[f] = self._blob(row, current[0])
            return out

        return self._tx(read, lambda: current[0], immediate=False)

    def write(self, session_id: str, items: Mapping[str, bytes], delete: Iterable[str] = (), *,
              if_lock: tuple[str, str] | None = None,
              if_unchanged: Mapping[str, bytes | None] | None = None, release_lock: bool = False) -> bool:
        sid = check_write(session_id, if_lock, release_lock)
        delete = list(delete)
        t = now()

        def write(conn):
            if not self._alive(conn, sid, t):
                return None
            if if_lock is not None and self._owner(conn, sid, if_lock[0], t) != if_lock[1]:
                return False
            for f, expected in (if_unchanged or {}).items():
                row = conn.execute("SELECT value FROM kv WHERE session=? AND key=?",
                                   (self._skey(sid), self.key(sid, f))).fetchone()
                if (row[0] if row else None) != expected:
                    return False
            for f in delete:
                conn.execute("DELETE FROM kv WHERE session=? AND key=?", (self._skey(sid), self.key(sid, f)))
            conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)",
                             [(self._skey(sid), self.key(sid, f), sqlite3.Binary(v)) for f, v in items.items()])
            if release_lock:
                conn.execute("DELETE FROM locks WHERE session=? AND key=? AND token=?",
                             (self._skey(sid), self.key(sid, f"lock:{if_lock[0]}"), if_lock[1]))
            conn.execute("UPDATE sessions SET expires_at=? WHERE namespace=? AND session=?",
                         (t + self.ttl_s, self.namespace, sid))
            return True

        what = self.key(sid, next(iter(items))) if len(items) == 1 and not delete else self.key(sid, "*")
        done = self._tx(write, what)
        if done is None:
            raise self.missing_session(sid)
        if done:
            self.seen_alive(sid, t + self.ttl_s)
        return done

    # -- locks ------------------------------------------------------------------------------
    def _owner(self, conn, sid: str, name: str, t: float) -> str | None:
        row = conn.execute("SELECT token, expires_at FROM locks WHERE session=? AND key=?",
                           (self._skey(sid), self.key(sid, f"lock:{name}"))).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], str) or not isinstance(row[1], (int, float)):
            raise self.damaged(self.key(sid, f"lock:{name}"), f"holds {row!r}, not a lock prodsched wrote")
        return row[0] if row[1] > t else None

    def acquire_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool:
        sid = check_session_id(session_id)

        def acquire(conn):
            t = now()
            owner = self._owner(conn, sid, name, t)
            if owner is not None and owner != token:
                return False
            conn.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?)",
                         (self._skey(sid), self.key(sid, f"lock:{name}"), token, t + lease_s))
            return True

        return self._tx(acquire, self.key(sid, f"lock:{name}"))

    def renew_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool:
        sid = check_session_id(session_id)

        def renew(conn):
            t = now()
            cur = conn.execute("UPDATE locks SET expires_at=? WHERE session=? AND key=? AND token=? "
                               "AND expires_at > ?", (t + lease_s, self._skey(sid),
                                                      self.key(sid, f"lock:{name}"), token, t))
            return cur.rowcount == 1

        return self._tx(renew, self.key(sid, f"lock:{name}"))

    def release_lock(self, session_id: str, name: str, token: str) -> bool:
        sid = check_session_id(session_id)

        def release(conn):
            cur = conn.execute("DELETE FROM locks WHERE session=? AND key=? AND token=?",
                               (self._skey(sid), self.key(sid, f"lock:{name}"), token))
            return cur.rowcount == 1

        return self._tx(release, self.key(sid, f"lock:{name}"))

    def lock_owner(self, session_id: str, name: str) -> str | None:
        sid = check_session_id(session_id)
        return self._read(lambda conn: self._owner(conn, sid, name, now()), self.key(sid, f"lock:{name}"))
