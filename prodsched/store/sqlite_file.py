"""The SQLite session file itself: creating it, recognising it, and keeping it small.

A new store is built under a temporary name and linked into place, so no process ever sees a
half-made (0-byte) store file; a 0-byte file, a file that is not SQLite, or the SQLite database of
another application at the store path is therefore refused, never adopted. Stores are created with
``auto_vacuum = INCREMENTAL``: after expired sessions are deleted, the freed pages are handed back
to the file system. A store made by an older prodsched (no auto-vacuum) is rewritten once with
``VACUUM``. Either happens once at least :data:`RECLAIM_MIN_FREE_BYTES` are free.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from pathlib import Path

from prodsched.errors import StoreError

log = logging.getLogger(__name__)

APPLICATION_ID = 0x50534431  # "PSD1" in the SQLite header marks a prodsched session store
SQLITE_MAGIC = b"SQLite format 3\x00"
RECLAIM_MIN_FREE_BYTES = 1 << 20  # less free space than this stays in the file for reuse
WAL_SIZE_LIMIT = 4 << 20  # the WAL is cut back to this after a checkpoint

TABLES = ("sessions", "kv", "locks", "deleted")
# kv keeps its values in a table of its own rows, found through the index on (session, key): in a
# WITHOUT ROWID table the values sat in the key's own b-tree, and finding a status record read
# through the megabytes of every stored graph and table it was compared with on the way (stores
# made by earlier versions keep that layout, with the same statements)
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    namespace TEXT NOT NULL, session TEXT NOT NULL, created REAL NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (namespace, session)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    session TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (session, key));
CREATE TABLE IF NOT EXISTS locks (
    session TEXT NOT NULL, key TEXT NOT NULL, token TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (session, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deleted (
    namespace TEXT NOT NULL, session TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (namespace, session)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
"""


def check_file(path: Path) -> bool:
    """False when ``path`` does not exist yet; StoreError when it is not a session store file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot read session store {path}: {exc}") from None
    if not path.is_file():
        raise StoreError(f"session store {path} is not a file; give the path of a session store file")
    if st.st_size == 0:
        raise StoreError(f"session store {path} is an empty (0-byte) file, not a prodsched session store; "
                         "delete it to have a new store made there, or give another path")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read session store {path}: {exc}") from None
    if head != SQLITE_MAGIC:
        raise StoreError(f"session store {path} is not an SQLite database (it starts with {head[:8]!r}); "
                         "give the path of a prodsched session store, or of a file that does not exist yet")
    return True


def create_file(path: Path) -> None:
    """Build an empty store beside ``path`` and link it into place (a no-op if one appeared)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.new")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the first table
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
        finally:
            conn.close()  # the last connection's close checkpoints the WAL into the file
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another process created the store first: use theirs
        except OSError:  # a file system without hard links
            if path.exists():
                return
            os.replace(tmp, path)
        # the WAL and index of a store once deleted at this path must not be replayed onto this one
        for leftover in ("-wal", "-shm"):
            path.with_name(path.name + leftover).unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot create session store {path}: {exc}") from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """StoreError unless the open database is a prodsched store (or an empty database)."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    foreign = sorted(tables - set(TABLES))
    if app not in (0, APPLICATION_ID) or foreign:
        what = f"tables {', '.join(foreign)}" if foreign else f"application id {app:#x}"
        raise StoreError(f"session store {path} is the SQLite database of another application ({what}), "
                         "not a prodsched session store; give another path")


def purge_expired(conn: sqlite3.Connection, t: float) -> int:
    """Delete every session (of any namespace) that expired by ``t``; returns how many."""
    expired = "SELECT namespace || ':' || session FROM sessions WHERE expires_at <= ?"
    conn.execute(f"DELETE FROM kv WHERE session IN ({expired})", (t,))
    conn.execute(f"DELETE FROM locks WHERE session IN ({expired})", (t,))
    conn.execute("DELETE FROM deleted WHERE until <= ?", (t,))
    return conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (t,)).rowcount


def reclaim(conn: sqlite3.Connection, path: Path) -> None:
    """Hand free pages back to the file system (run outside a transaction)."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if free * conn.execute("PRAGMA page_size").fetchone()[0] < RECLAIM_MIN_FREE_BYTES:
        return
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # incremental
        conn.executescript("PRAGMA incremental_vacuum")  # executescript steps it to the end
    else:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # VACUUM below makes it take effect
        try:
            conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:  # busy: other processes are writing; next time
            log.warning("session store %s: VACUUM postponed (%s)", path, exc)
            return
        log.info("session store %s: rewritten with incremental auto-vacuum, %d free pages returned", path, free)
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
