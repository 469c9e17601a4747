"""Session stores: ``open_store(url_or_path)`` picks the implementation by URL scheme.

* ``redis://…`` / ``rediss://…`` -> :class:`RedisStore` (password, db and TLS through the URL;
  ``?namespace=`` and ``?ttl=`` are prodsched's own query parameters)
* ``sqlite:///path`` or any other string/path -> :class:`SqliteStore`
* ``None`` -> env ``PRODSCHED_STORE`` (a path or a Redis URL), else env ``PRODSCHED_REDIS_URL``,
  else ``~/.prodsched/sessions.db``
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from prodsched.errors import StoreError
from prodsched.store.base import DEFAULT_NAMESPACE, SessionStore, StoreBase
from prodsched.store.sqlite import DEFAULT_PATH, SqliteStore

StoreFactory = Callable[..., SessionStore]


def _redis_factory(url: str, **kwargs: Any) -> SessionStore:
    from prodsched.store.redis import RedisStore

    return RedisStore(url, **kwargs)


_SCHEMES: dict[str, StoreFactory] = {
    "redis": _redis_factory,
    "rediss": _redis_factory,
    "sqlite": lambda url, **kw: SqliteStore(url, **kw),
}


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make ``open_store("<scheme>://…")`` call ``factory(url, **kwargs)``."""
    _SCHEMES[scheme.lower()] = factory


def store_schemes() -> list[str]:
    return sorted(_SCHEMES)


def default_location() -> str:
    """Where ``open_store(None)`` goes: the env override or the default SQLite file."""
    return (os.environ.get("PRODSCHED_STORE") or os.environ.get("PRODSCHED_REDIS_URL")
            or str(DEFAULT_PATH.expanduser()))


_OPEN: dict[tuple, SessionStore] = {}
_OPEN_LOCK = threading.Lock()


def open_store(url_or_path: str | os.PathLike | SessionStore | None = None, **kwargs: Any) -> SessionStore:
    """Open the store a URL or path names (see module doc); a store object is returned as is.

    Stores are shared per (location, options) within a process, so attaching many sessions does
    not open many connections (a closed store reconnects on its next use)."""
    if isinstance(url_or_path, StoreBase):
        return url_or_path
    target = str(url_or_path) if url_or_path is not None else default_location()
    if not target.strip():
        raise StoreError("empty store location")
    key = (target, tuple(sorted(kwargs.items())))
    with _OPEN_LOCK:
        store = _OPEN.get(key)
        if store is None or (isinstance(store, SqliteStore) and not store.path.exists()):
            store = _OPEN[key] = _open(target, **kwargs)
    return store


def _open(target: str, **kwargs: Any) -> SessionStore:
    scheme, sep, _ = target.partition("://")
    if sep and scheme.isidentifier() and len(scheme) > 1:
        factory = _SCHEMES.get(scheme.lower())
        if factory is None:
            raise StoreError(f"unknown store scheme {scheme!r} in {target!r}; known: {', '.join(store_schemes())}")
        return factory(target, **kwargs)
    return SqliteStore(target, **kwargs)


def __getattr__(name: str):
    if name == "RedisStore":
        from prodsched.store.redis import RedisStore

        return RedisStore
    raise AttributeError(name)


__all__ = [
    "DEFAULT_NAMESPACE",
    "RedisStore",
    "SessionStore",
    "SqliteStore",
    "default_location",
    "open_store",
    "register_store",
    "store_schemes",
]
