"""A lock with a lease, kept alive by a heartbeat thread that also polls for cancel requests.

The holder of ``Lease(store, session, name)`` owns the (session, name) lock while its heartbeat
renews it every ``lease_s / 3`` seconds. If the holder's process dies, nobody renews the lease and
it expires: readers then see the lock free while the stage status still says "running", and
report the run as failed. Every ``poll_s`` seconds the heartbeat also calls ``poll()`` (the
session uses it to look for a cancel request in the store, so cancel works across processes).
When the lease is lost, ``failure`` says why if the holder can tell: the store could not be
reached for longer than the lease, or the session's data is gone from the store.

:class:`ProgressWriter` is the ``progress(fraction, message)`` callback a stage gets: it stores
at most 10 updates a second and the heartbeat flushes an update held back by that limit. A local
callback that raises stops the stage with a :class:`~prodsched.errors.CallbackError`.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

from prodsched.errors import CallbackError, StoreError

DEFAULT_LEASE_S = 30.0


def default_lease() -> float:
    """Lease length in seconds: env PRODSCHED_LEASE_S or 30."""
    raw = os.environ.get("PRODSCHED_LEASE_S")
    try:
        lease = float(raw) if raw else DEFAULT_LEASE_S
    except ValueError:
        raise StoreError(f"PRODSCHED_LEASE_S must be a number of seconds, got {raw!r}") from None
    if lease <= 0:
        raise StoreError(f"PRODSCHED_LEASE_S must be positive, got {raw!r}")
    return lease


class Lease:
    """An owned, expiring lock on (session, name); ``token`` identifies the owner."""

    def __init__(self, store, session_id: str, name: str, lease_s: float | None = None,
                 token: str | None = None):
        self.store = store
        self.session_id = session_id
        self.name = name
        self.lease_s = float(lease_s) if lease_s else default_lease()
        self.token = token or uuid.uuid4().hex
        self.until = 0.0  # wall-clock time the lease runs out unless renewed
        self.lost = threading.Event()  # set when a renewal found the lock gone or taken
        self.failure: Exception | None = None  # why the lease was lost, when that is known
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        started = time.time()
        if self.store.acquire_lock(self.session_id, self.name, self.token, self.lease_s):
            self.until = started + self.lease_s
            return True
        return False

    def renew(self) -> bool:
        started = time.time()
        if self.store.renew_lock(self.session_id, self.name, self.token, self.lease_s):
            self.until = started + self.lease_s
            return True
        return False

    def release(self) -> None:
        self.stop()
        try:
            self.store.release_lock(self.session_id, self.name, self.token)
        except StoreError:
            pass  # the lease runs out on its own

    def held(self) -> bool:
        return self.store.lock_owner(self.session_id, self.name) == self.token

    def start_heartbeat(self, poll: Callable[[], None] | None = None,
                        on_renew: Callable[[Lease], None] | None = None,
                        on_lost: Callable[[], None] | None = None, poll_s: float | None = None) -> None:
        """Renew the lease in a daemon thread; call ``poll()`` every ``poll_s`` seconds and
        ``on_lost()`` once if the lease is lost."""
        poll_s = poll_s or min(0.25, self.lease_s / 4)
        renew_every = self.lease_s / 3

        def lose(failure: Exception | None = None) -> None:
            self.failure = failure
            self.lost.set()
            if on_lost is not None:
                on_lost()

        def gone() -> StoreError | None:
            """Why the renewal failed, when it is because the session is no longer in the store."""
            try:
                if self.store.exists(self.session_id):
                    return None
            except StoreError:
                return None
            return self.store.missing_session(self.session_id)

        def beat() -> None:
            while True:
                # renew once a third of the lease has passed, counted from the last renewal
                due = self.until - self.lease_s + renew_every - time.time()
                if self._stop.wait(max(0.0, min(poll_s, due))):
                    return
                try:
                    if poll is not None:
                        poll()
                    if time.time() >= self.until - self.lease_s + renew_every:
                        if not self.renew():
                            return lose(gone())
                        if on_renew is not None:
                            on_renew(self)
                except StoreError as exc:
                    # store unreachable for now: keep trying until the lease runs out
                    if time.time() > self.until:
                        return lose(StoreError(
                            f"the session store {self.store.display_url} could not be reached for longer "
                            f"than the {self.lease_s:g} s lease of {self.name} in session {self.session_id} "
                            f"(last error: {exc})"))
                except Exception as exc:  # noqa: BLE001 - a broken poll/on_renew ends the run, loudly
                    return lose(RuntimeError(f"the lease heartbeat of {self.name} in session "
                                             f"{self.session_id} failed: {type(exc).__name__}: {exc}"))

        self._thread = threading.Thread(target=beat, name=f"prodsched-lease-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class ProgressWriter:
    """progress(fraction, message) of a stage run: stored at most once per ``min_interval_s`` (an
    update held back is flushed later by the heartbeat) and passed unthrottled to ``local``."""

    def __init__(self, store, session_id: str, field: str, token: str, local=None, min_interval_s: float = 0.1):
        self.store, self.session_id, self.field, self.token, self.local = store, session_id, field, token, local
        self.min_interval_s = min_interval_s
        self.last = 0.0
        self.latest: dict | None = None
        self.pending = False
        self.closed = False
        self._lock = threading.Lock()

    def __call__(self, fraction: float, message: str = "") -> None:
        value = {"run_id": self.token, "progress": min(1.0, max(0.0, float(fraction))), "message": str(message)}
        with self._lock:
            self.latest, self.pending = value, not self.closed
        if self.local is not None:
            try:
                self.local(value["progress"], value["message"])
            except Exception as exc:
                raise CallbackError(f"the progress callback {self.local!r} raised "
                                    f"{type(exc).__name__}: {exc}") from exc
        self.flush()

    def flush(self) -> None:
        """Store the latest update if one is pending and the last write is old enough."""
        with self._lock:
            t = time.monotonic()
            if not self.pending or t - self.last < self.min_interval_s:
                return
            value, self.pending, self.last = self.latest, False, t
        try:
            self.store.put(self.session_id, self.field, value)
        except StoreError:
            pass  # progress is best effort; the heartbeat notices a store that stays away

    def close(self) -> None:
        """No more store writes: the final state is written with the stage's results."""
        with self._lock:
            self.closed, self.pending = True, False

    @property
    def message(self) -> str:
        return (self.latest or {}).get("message") or "done"
