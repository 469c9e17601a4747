"""The SessionStore protocol, shared by the SQLite and Redis stores.

A store keeps, per session, a flat map of *fields* to tagged blobs (see
:mod:`prodsched.store.serialize`) plus per-(session, name) *locks* with a lease. Every logical key is
namespaced as ``{namespace}:{session}:{field}`` (namespace ``prodsched`` by default). Sessions
expire ``ttl_s`` seconds after their last write. Writes to one session are atomic and can be
*fenced*: applied only while a given lock is held by a given token, and/or only when given fields
still hold the bytes the caller read (compare-and-set); a fenced write can release the lock in the
same atomic step (so a stage's final status and the end of its lock are seen together).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from prodsched.store import serialize
from prodsched.errors import StoreError

DEFAULT_NAMESPACE = "prodsched"
DEFAULT_TTL_S = 7 * 24 * 3600.0
MISSING = object()


def default_ttl() -> float:
    """Session time-to-live in seconds: env PRODSCHED_SESSION_TTL or 7 days."""
    raw = os.environ.get("PRODSCHED_SESSION_TTL")
    if not raw:
        return DEFAULT_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        raise StoreError(f"PRODSCHED_SESSION_TTL must be a number of seconds, got {raw!r}") from None
    if ttl <= 0:
        raise StoreError(f"PRODSCHED_SESSION_TTL must be positive, got {raw!r}")
    return ttl


def check_session_id(session_id: str) -> str:
    sid = str(session_id)
    if not sid or any(c in sid for c in ":*?[]{} \t\n") or len(sid) > 128:
        raise StoreError(f"invalid session id {session_id!r}")
    return sid


def check_write(session_id: str, if_lock: tuple[str, str] | None, release_lock: bool) -> str:
    """The checked session id of a write; ``release_lock`` needs the lock it releases."""
    if release_lock and if_lock is None:
        raise ValueError("release_lock needs if_lock")
    return check_session_id(session_id)


@runtime_checkable
class SessionStore(Protocol):
    """What a session store provides (values are raw tagged bytes at this level)."""

    url: str  # how another process reopens the same store (open_store(url))
    namespace: str
    ttl_s: float

    def key(self, session_id: str, field: str) -> str: ...
    def create_session(self, session_id: str) -> None: ...
    def exists(self, session_id: str) -> bool: ...
    def list_sessions(self) -> list[str]: ...
    def delete_session(self, session_id: str) -> bool: ...
    def expires_at(self, session_id: str) -> float | None: ...
    def fields(self, session_id: str, prefix: str = "") -> list[str]: ...
    def get_raw(self, session_id: str, field: str) -> bytes | None: ...
    def get_many_raw(self, session_id: str, fields: Iterable[str]) -> dict[str, bytes | None]: ...
    def write(
        self,
        session_id: str,
        items: Mapping[str, bytes],
        delete: Iterable[str] = (),
        *,
        if_lock: tuple[str, str] | None = None,
        if_unchanged: Mapping[str, bytes | None] | None = None,
        release_lock: bool = False,
    ) -> bool: ...
    def acquire_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool: ...
    def renew_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool: ...
    def release_lock(self, session_id: str, name: str, token: str) -> bool: ...
    def lock_owner(self, session_id: str, name: str) -> str | None: ...
    def close(self) -> None: ...


class StoreBase:
    """Typed helpers on top of the raw protocol (mixed into both stores)."""

    url: str
    namespace: str = DEFAULT_NAMESPACE
    ttl_s: float = DEFAULT_TTL_S

    def key(self, session_id: str, field: str) -> str:
        return f"{self.namespace}:{session_id}:{field}"

    def damaged(self, what: str, why: str) -> StoreError:
        """The error for data in this store that prodsched did not write (``what``: the key)."""
        if what.startswith(f"{self.namespace}:"):
            what = f"key {what}"
        return StoreError(f"session store {self.display_url}: {what}: {why}")

    def decode(self, session_id: str, field: str, raw: bytes, expect: type | None = None) -> Any:
        """Decode a blob read from ``field``; a StoreError naming this store and the key when it
        is not what prodsched wrote (or, with ``expect``, not a value of that type)."""
        try:
            value = serialize.decode(raw)
        except StoreError as exc:
            raise self.damaged(self.key(session_id, field), str(exc)) from None
        if expect is not None and not isinstance(value, expect):
            raise self.damaged(self.key(session_id, field),
                               f"holds a JSON {type(value).__name__}, expected a {expect.__name__}")
        return value

    def get(self, session_id: str, field: str, default: Any = None, *, expect: type | None = None) -> Any:
        """Decoded value of a field (``default`` when absent); see :meth:`decode` for ``expect``."""
        raw = self.get_raw(session_id, field)  # type: ignore[attr-defined]
        if raw is None:
            return default
        return self.decode(session_id, field, raw, expect)

    def get_many(self, session_id: str, fields: Iterable[str], *, expect: type | None = None) -> dict[str, Any]:
        raws = self.get_many_raw(session_id, list(fields))  # type: ignore[attr-defined]
        return {field: None if raw is None else self.decode(session_id, field, raw, expect)
                for field, raw in raws.items()}

    def put(self, session_id: str, field: str, value: Any) -> None:
        self.write(session_id, {field: serialize.encode(value)})  # type: ignore[attr-defined]

    def put_many(self, session_id: str, values: Mapping[str, Any], delete: Iterable[str] = (),
                 **fences: Any) -> bool:
        items = {field: serialize.encode(value) for field, value in values.items()}
        return self.write(session_id, items, delete, **fences)  # type: ignore[attr-defined]

    # -- telling a lost session from an expired one --------------------------------------------
    def seen_alive(self, session_id: str, expires_at: float) -> None:
        """Remember that this process saw the session alive until ``expires_at``."""
        seen = self.__dict__.setdefault("_seen_until", {})
        seen[session_id] = max(expires_at, seen.get(session_id, 0.0))

    def missing_session(self, session_id: str) -> StoreError:
        """The error for a session that is not in the store: expired (or deleted), or - when this
        process saw it alive with time left - lost by the store itself."""
        until = self.__dict__.get("_seen_until", {}).get(session_id)
        try:
            deleted = self.was_deleted(session_id)
        except StoreError as exc:
            return StoreError(f"session {session_id} is not in {self.display_url} ({exc})")
        if deleted:
            return StoreError(f"session {session_id} does not exist: it was deleted from {self.display_url}")
        if until is not None and until > now() + 1.0:
            left = until - now()
            return StoreError(
                f"session store {self.display_url} lost the data of session {session_id}: it was "
                f"written here with {left:.0f} s of its time-to-live left, so it did not expire (the "
                "store was emptied, e.g. a server flushed or restarted without persistence)")
        return StoreError(f"session {session_id} does not exist or has expired in {self.display_url}")

    def was_deleted(self, session_id: str) -> bool:
        """True when ``delete_session`` removed the session within its time-to-live."""
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r})"

    @property
    def display_url(self) -> str:
        return self.url


def now() -> float:
    return time.time()
