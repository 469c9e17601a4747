"""SqliteStore: the zero-setup embedded store (one SQLite file, WAL mode, safe across processes).

Tables: ``sessions(namespace, session, created, expires_at)``, ``kv(session, key, value)`` with
``key = {namespace}:{session}:{field}``, and ``locks(session, key, token, expires_at)``. Every
write runs in a ``BEGIN IMMEDIATE`` transaction, so a check (lock owner, expected bytes, session
alive) and the write it guards are atomic with respect to other processes. Expired sessions read as
absent immediately and their rows are purged on later access.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from prodsched.errors import StoreError
from prodsched.store.base import (
    DEFAULT_NAMESPACE,
    StoreBase,
    check_session_id,
    default_ttl,
    now,
)

DEFAULT_PATH = Path("~/.prodsched/sessions.db")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    namespace TEXT NOT NULL, session TEXT NOT NULL, created REAL NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (namespace, session)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    session TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (session, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (
    session TEXT NOT NULL, key TEXT NOT NULL, token TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (session, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
"""


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
        conn = self._conn()
        try:
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable SQLite session store: {exc}") from None

    # -- connections and transactions -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch SQLite to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
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

    def _tx(self, fn, immediate: bool = True):
        """Run fn(conn) inside one transaction (IMMEDIATE = take the write lock up front)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.OperationalError as exc:
            raise StoreError(f"session store {self.path}: {exc}") from None

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = [c for _, c in self._conns.values()], {}
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    # -- expiry -----------------------------------------------------------------------------
    def _alive(self, conn, sid: str, t: float) -> bool:
        row = conn.execute("SELECT expires_at FROM sessions WHERE namespace=? AND session=?",
                           (self.namespace, sid)).fetchone()
        return row is not None and row[0] > t

    def _purge(self, force: bool = False) -> None:
        t = now()
        if not force and t - self._last_purge < min(30.0, self.ttl_s):
            return
        self._last_purge = t

        def purge(conn):
            dead = [r[0] for r in conn.execute(
                "SELECT session FROM sessions WHERE namespace=? AND expires_at <= ?", (self.namespace, t))]
            for sid in dead:
                self._delete_rows(conn, sid)

        self._tx(purge)

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
            conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (self.namespace, sid, t, t + self.ttl_s))

        self._tx(create)

    def exists(self, session_id: str) -> bool:
        return self._alive(self._conn(), check_session_id(session_id), now())

    def expires_at(self, session_id: str) -> float | None:
        row = self._conn().execute("SELECT expires_at FROM sessions WHERE namespace=? AND session=?",
                                   (self.namespace, session_id)).fetchone()
        return row[0] if row and row[0] > now() else None

    def list_sessions(self) -> list[str]:
        self._purge(force=True)
        rows = self._conn().execute(
            "SELECT session FROM sessions WHERE namespace=? AND expires_at > ? ORDER BY created",
            (self.namespace, now())).fetchall()
        return [r[0] for r in rows]

    def delete_session(self, session_id: str) -> bool:
        sid = check_session_id(session_id)

        def delete(conn):
            existed = self._alive(conn, sid, now())
            self._delete_rows(conn, sid)
            return existed

        return self._tx(delete)

    # -- fields -----------------------------------------------------------------------------
    def fields(self, session_id: str, prefix: str = "") -> list[str]:
        sid = check_session_id(session_id)
        base = self.key(sid, "")
        conn = self._conn()
        if not self._alive(conn, sid, now()):
            return []
        rows = conn.execute("SELECT key FROM kv WHERE session=? AND substr(key, 1, ?) = ? ORDER BY key",
                            (self._skey(sid), len(base + prefix), base + prefix)).fetchall()
        return [r[0][len(base):] for r in rows]

    def get_raw(self, session_id: str, field: str) -> bytes | None:
        return self.get_many_raw(session_id, [field])[field]

    def get_many_raw(self, session_id: str, fields: Iterable[str]) -> dict[str, bytes | None]:
        sid = check_session_id(session_id)
        fields = list(fields)
        self._purge()

        def read(conn):
            alive = self._alive(conn, sid, now())
            out: dict[str, bytes | None] = {}
            for f in fields:
                row = conn.execute("SELECT value FROM kv WHERE session=? AND key=?",
                                   (self._skey(sid), self.key(sid, f))).fetchone() if alive else None
                out[f] = bytes(row[0]) if row else None
            return out

        return self._tx(read, immediate=False)

    def write(self, session_id: str, items: Mapping[str, bytes], delete: Iterable[str] = (), *,
              if_lock: tuple[str, str] | None = None,
              if_unchanged: Mapping[str, bytes | None] | None = None, release_lock: bool = False) -> bool:
        sid = check_session_id(session_id)
        if release_lock and if_lock is None:
            raise ValueError("release_lock needs if_lock")
        delete = list(delete)

        def write(conn):
            t = now()
            if not self._alive(conn, sid, t):
                raise StoreError(f"session {sid} does not exist or has expired")
            if if_lock is not None and self._owner(conn, sid, if_lock[0], t) != if_lock[1]:
                return False
            for f, expected in (if_unchanged or {}).items():
                row = conn.execute("SELECT value FROM kv WHERE session=? AND key=?",
                                   (self._skey(sid), self.key(sid, f))).fetchone()
                if (bytes(row[0]) if row else None) != expected:
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

        return self._tx(write)

    # -- locks ------------------------------------------------------------------------------
    def _owner(self, conn, sid: str, name: str, t: float) -> str | None:
        row = conn.execute("SELECT token, expires_at FROM locks WHERE session=? AND key=?",
                           (self._skey(sid), self.key(sid, f"lock:{name}"))).fetchone()
        return row[0] if row and row[1] > t else None

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

        return self._tx(acquire)

    def renew_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool:
        sid = check_session_id(session_id)

        def renew(conn):
            t = now()
            cur = conn.execute("UPDATE locks SET expires_at=? WHERE session=? AND key=? AND token=? "
                               "AND expires_at > ?", (t + lease_s, self._skey(sid),
                                                      self.key(sid, f"lock:{name}"), token, t))
            return cur.rowcount == 1

        return self._tx(renew)

    def release_lock(self, session_id: str, name: str, token: str) -> bool:
        sid = check_session_id(session_id)

        def release(conn):
            cur = conn.execute("DELETE FROM locks WHERE session=? AND key=? AND token=?",
                               (self._skey(sid), self.key(sid, f"lock:{name}"), token))
            return cur.rowcount == 1

        return self._tx(release)

    def lock_owner(self, session_id: str, name: str) -> str | None:
        sid = check_session_id(session_id)
        return self._owner(self._conn(), sid, name, now())
