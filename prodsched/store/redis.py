"""RedisStore: sessions shared by several kernels, people and machines through a Redis server.

Key layout (namespace ``prodsched`` by default, ``?namespace=`` in the URL overrides it):

* ``{ns}:{session}:data``        hash: field -> tagged blob (meta, params, stage status, artifacts)
* ``{ns}:{session}:lock:{name}`` string: the lock owner's token, with a PX lease
* ``{ns}:sessions``              sorted set: session id scored by its expiry time (for listing)
* ``{ns}:{session}:deleted``     string: marks a session deleted within its time-to-live

A key of another type under the namespace (e.g. ``WRONGTYPE``) is a StoreError naming the key.

One hash per session means one ``PEXPIRE`` (refreshed on every write) expires everything of it at
once. Guarded writes (lock fence, compare-and-set) run as Lua scripts, so they are atomic on the
server. Connection errors are retried with a bounded exponential backoff, so a Redis restart
costs a pause, not a failure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prodsched.errors import StoreError
from prodsched.store.base import (
    DEFAULT_NAMESPACE,
    StoreBase,
    check_session_id,
    check_write,
    default_ttl,
    now,
)

try:
    import redis as _redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - redis is an optional extra
    _redis = None

_CREATED = "_created"

_WRITE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[4] then return 0 end
local i = 6
for j = 1, tonumber(ARGV[5]) do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '0' then
    if cur then return 0 end
  elseif cur ~= ARGV[i + 2] then return 0 end
  i = i + 3
end
local n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do redis.call('HDEL', KEYS[1], ARGV[i]); i = i + 1 end
n = tonumber(ARGV[i]); i = i + 1
for j = 1, n do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
if ARGV[i] == '1' then redis.call('DEL', KEYS[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
return 1
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _mask(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


class RedisStore(StoreBase):
    """Sessions in Redis. ``url`` is a redis:// or rediss:// URL (password, db, TLS options)."""

    def __init__(self, url: str, *, ttl_s: float | None = None, namespace: str | None = None,
                 retry_s: float = 20.0, health_check_interval: int = 15):
        if _redis is None:
            raise StoreError("a redis:// store needs the redis package: pip install 'prodsched[redis]'")
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        ns = query.pop("namespace", None)
        ttl_q = query.pop("ttl", None)
        self.namespace = namespace or ns or DEFAULT_NAMESPACE
        self.ttl_s = float(ttl_s if ttl_s is not None else ttl_q if ttl_q else default_ttl())
        self.retry_s = retry_s
        client_url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
        extra = {"namespace": self.namespace} if self.namespace != DEFAULT_NAMESPACE else {}
        if ttl_s is not None or ttl_q:
            extra["ttl"] = repr(self.ttl_s)
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode({**query, **extra}),
                               parts.fragment))
        kwargs = {"retry": Retry(NoBackoff(), 1), "socket_timeout": 10, "socket_connect_timeout": 5}
        if "health_check_interval" not in query:
            kwargs["health_check_interval"] = health_check_interval
        try:
            self._r = _redis.Redis.from_url(client_url, **kwargs)
        except ValueError as exc:
            raise StoreError(f"invalid Redis URL {_mask(url)}: {exc}") from None
        self._write_script = self._r.register_script(_WRITE)
        self._create_script = self._r.register_script(_CREATE)
        self._renew_script = self._r.register_script(_RENEW)
        self._release_script = self._r.register_script(_RELEASE)

    @property
    def display_url(self) -> str:
        return _mask(self.url)

    def close(self) -> None:
        self._r.close()

    def _call(self, fn, *args, **kwargs):
        """Run one Redis operation, retrying connection errors with a bounded backoff."""
        deadline = time.monotonic() + self.retry_s
        delay = 0.05
        while True:
            try:
                return fn(*args, **kwargs)
            except (_redis.ConnectionError, _redis.TimeoutError) as exc:
                if time.monotonic() + delay > deadline:
                    raise StoreError(f"Redis at {self.display_url} is unreachable: {exc}") from None
                time.sleep(delay * (0.75 + 0.5 * random.random()))
                delay = min(delay * 2, 1.0)
            except _redis.ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    keys = kwargs.get("keys") or [a for a in args[:1] if isinstance(a, str)]
                    raise self._wrong_type(exc, keys) from None
                raise StoreError(f"Redis at {self.display_url} refused the request: {exc}") from None

    def _expected_type(self, key: str) -> str:
        if key == self._index:
            return "zset"
        return "hash" if key.endswith(":data") else "string"

    def _wrong_type(self, exc: Exception, keys: list[str]) -> StoreError:
        """A StoreError naming the key that holds a type prodsched never writes there (Redis'
        WRONGTYPE reply does not say which key it was)."""
        found = []
        for key in keys:
            try:
                kind = self._r.type(key).decode()
            except _redis.RedisError:
                continue
            if kind not in ("none", self._expected_type(key)):
                found.append(f"key {key} (a Redis {kind}, where prodsched keeps a {self._expected_type(key)})")
        what = ", ".join(found) or ", ".join(f"key {k}" for k in keys) or f"namespace {self.namespace!r}"
        return self.damaged(what, f"holds data prodsched did not write ({exc})")

    # -- keys -------------------------------------------------------------------------------
    def _data(self, sid: str) -> str:
        return self.key(sid, "data")

    def _lock(self, sid: str, name: str) -> str:
        return self.key(sid, f"lock:{name}")

    def _deleted(self, sid: str) -> str:
        return self.key(sid, "deleted")

    @property
    def _index(self) -> str:
        return f"{self.namespace}:sessions"

    # -- sessions ---------------------------------------------------------------------------
    def create_session(self, session_id: str) -> None:
        sid = check_session_id(session_id)
        t = now()
        ok = self._call(self._create_script, keys=[self._data(sid), self._index, self._deleted(sid)],
                        args=[int(self.ttl_s * 1000), sid, repr(t), _CREATED, repr(t + self.ttl_s)])
        if not ok:
            raise StoreError(f"session {sid} already exists")
        self.seen_alive(sid, t + self.ttl_s)

    def exists(self, session_id: str) -> bool:
        return bool(self._call(self._r.exists, self._data(check_session_id(session_id))))

    def expires_at(self, session_id: str) -> float | None:
        sid = check_session_id(session_id)
        ms = self._call(self._r.pttl, self._data(sid))
        if ms is None or ms < 0:
            return None
        self.seen_alive(sid, now() + ms / 1000.0)
        return now() + ms / 1000.0

    def list_sessions(self) -> list[str]:
        """Live sessions by creation time; a session whose keys are not what prodsched wrote is
        listed too (after the others), so that reading it names the damage."""
        self._call(self._r.zremrangebyscore, self._index, "-inf", repr(now()))
        sids = [s.decode("utf-8", "replace") for s in self._call(self._r.zrange, self._index, 0, -1)]

        def created_all():
            pipe = self._r.pipeline(transaction=False)
            for sid in sids:
                pipe.hget(self._data(sid), _CREATED)
            return pipe.execute(raise_on_error=False)  # a key of the wrong type fails alone

        alive, damaged = [], []
        for sid, created in zip(sids, self._call(created_all)):
            if created is None:
                self._call(self._r.zrem, self._index, sid)
                continue
            try:
                alive.append((float(created), sid))
            except (TypeError, ValueError):  # an error reply, or a foreign value
                damaged.append(sid)
        return [sid for _, sid in sorted(alive)] + damaged

    def delete_session(self, session_id: str) -> bool:
        sid = check_session_id(session_id)
        locks = list(self._call(lambda: list(self._r.scan_iter(match=self._lock(sid, "*"), count=100))))
        ttl_ms = self._call(self._r.pttl, self._data(sid))
        removed = self._call(self._r.delete, self._data(sid), *locks)
        self._call(self._r.zrem, self._index, sid)
        if removed and ttl_ms and ttl_ms > 0:
            self._call(self._r.set, self._deleted(sid), b"1", px=ttl_ms)
        return bool(removed)

    def was_deleted(self, session_id: str) -> bool:
        return bool(self._call(self._r.exists, self._deleted(check_session_id(session_id))))

    # -- fields -----------------------------------------------------------------------------
    def fields(self, session_id: str, prefix: str = "") -> list[str]:
        sid = check_session_id(session_id)
        try:
            names = [f.decode() for f in self._call(self._r.hkeys, self._data(sid))]
        except UnicodeDecodeError as exc:
            raise self.damaged(self._data(sid), f"has a field name that is not UTF-8 ({exc})") from None
        return sorted(f for f in names if f != _CREATED and f.startswith(prefix))

    def get_raw(self, session_id: str, field: str) -> bytes | None:
        return self._call(self._r.hget, self._data(check_session_id(session_id)), field)

    def get_many_raw(self, session_id: str, fields: Iterable[str]) -> dict[str, bytes | None]:
        fields = list(fields)
        if not fields:
            return {}
        values = self._call(self._r.hmget, self._data(check_session_id(session_id)), fields)
        return dict(zip(fields, values))

    def write(self, session_id: str, items: Mapping[str, bytes], delete: Iterable[str] = (), *,
              if_lock: tuple[str, str] | None = None,
              if_unchanged: Mapping[str, bytes | None] | None = None, release_lock: bool = False) -> bool:
        sid = check_write(session_id, if_lock, release_lock)
        t = now()
        lock_name, token = if_lock if if_lock is not None else ("-", "")
        args: list = [int(self.ttl_s * 1000), sid, repr(t + self.ttl_s), token, len(if_unchanged or {})]
        for f, expected in (if_unchanged or {}).items():
            args += [f, "0" if expected is None else "1", b"" if expected is None else expected]
        delete = list(delete)
        args += [len(delete), *delete, len(items)]
        for f, value in items.items():
            args += [f, value]
        args.append("1" if release_lock else "0")
        result = self._call(self._write_script, keys=[self._data(sid), self._index, self._lock(sid, lock_name)],
                            args=args)
        if result == -1:
            raise self.missing_session(sid)
        if result == 1:
            self.seen_alive(sid, t + self.ttl_s)
        return bool(result)

    # -- locks ------------------------------------------------------------------------------
    def acquire_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool:
        key = self._lock(check_session_id(session_id), name)
        if self._call(self._r.set, key, token, nx=True, px=max(1, int(lease_s * 1000))):
            return True
        # a retried SET whose first reply was lost has already given us the lock
        return self._call(self._r.get, key) == token.encode()

    def renew_lock(self, session_id: str, name: str, token: str, lease_s: float) -> bool:
        key = self._lock(check_session_id(session_id), name)
        return bool(self._call(self._renew_script, keys=[key], args=[token, max(1, int(lease_s * 1000))]))

    def release_lock(self, session_id: str, name: str, token: str) -> bool:
        key = self._lock(check_session_id(session_id), name)
        return bool(self._call(self._release_script, keys=[key], args=[token]))

    def lock_owner(self, session_id: str, name: str) -> str | None:
        key = self._lock(check_session_id(session_id), name)
        value = self._call(self._r.get, key)
        try:
            return value.decode() if value is not None else None
        except UnicodeDecodeError:
            raise self.damaged(key, f"holds {value[:16]!r}, not a lock token prodsched wrote") from None
