"""Held leases with a heartbeat: the run lease and locks (``with_lock``, ``locks.scope``).

A :class:`HeldLease` takes a key in the state store (atomically, with a fencing token), keeps it
alive by renewing every TTL/3 in a daemon thread, and detects its loss: if a renewal finds the row
gone or holding another token (expired and taken over by someone else), ``lost`` is set and
``on_lost`` runs (the runner interrupts the step: ``lost_lock``, or stops the run for the run
lease). :meth:`HeldLease.still_held` is the fence checked before results are recorded.

The run lease ``run:<flow_id>:<run_id>`` (:class:`RunLease`) allows one live process per run id.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aetherflow.errors import BusyError, LockNotAcquired, StateError
from aetherflow.state.clock import Sleeper
from aetherflow.state.records import Lease, LeaseHolder
from aetherflow.state.store import StateStore

log = logging.getLogger(__name__)

MAX_POLL_SECONDS = 10.0


class _Instance:
    """A random id of this process, new after ``fork`` (host + pid can repeat)."""

    value = secrets.token_hex(8)

    @classmethod
    def renew(cls) -> None:
        cls.value = secrets.token_hex(8)


os.register_at_fork(after_in_child=_Instance.renew)


def process_instance() -> str:
    """The id lease holders of this process carry."""
    return _Instance.value


def run_lease_key(flow_id: str, run_id: str) -> str:
    """The lease key of a run."""
    return f"run:{flow_id}:{run_id}"


def iso_ms(epoch_ms: int) -> str:
    """``2026-01-01T02:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


class HeldLease:
    """Acquire (optionally waiting), heartbeat and release one lease key."""

    def __init__(
        self,
        store: StateStore,
        key: str,
        holder: LeaseHolder,
        ttl_seconds: float,
        *,
        on_lost: Callable[[], None] | None = None,
        reentrant_run: bool = False,
    ) -> None:
        self.store = store
        self.key = key
        self.holder = holder
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.on_lost = on_lost
        self.reentrant_run = reentrant_run
        self.lease: Lease | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._valid_until = 0.0  # monotonic deadline of the last successful renewal
        self._renew_lock = threading.Lock()

    @property
    def token(self) -> int | None:
        """The fencing token while held."""
        return self.lease.token if self.lease is not None else None

    def try_acquire(self) -> Lease | None:
        """One atomic attempt; on success the heartbeat starts."""
        requested = time.monotonic()
        lease = self.store.acquire_lease(
            self.key, self.holder, self.ttl_ms, reentrant_run=self.reentrant_run
        )
        if lease is not None:
            self._held(lease, requested)
        return lease

    def acquire_waiting(
        self,
        wait_seconds: float,
        poll_seconds: float,
        sleeper: Sleeper,
        on_wait: Callable[[Lease | None], object] | None = None,
    ) -> Lease:
        """Acquire, polling (with backoff up to 10 s) for up to ``wait_seconds``.

        Raises:
            LockNotAcquired: Still held by someone else when the wait ran out; the message
                names the holder and when its lease expires.
        """
        deadline = time.monotonic() + max(0.0, wait_seconds)
        delay = max(0.01, poll_seconds)
        waited = False
        while True:
            lease = self.try_acquire()
            if lease is not None:
                return lease
            current = self.store.get_lease(self.key)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.not_acquired(current)
            if on_wait is not None and not waited:
                on_wait(current)
            waited = True
            # Jitter spreads waiters out; the cap keeps a freed lock from sitting idle for long.
            sleeper.sleep(min(delay * random.uniform(0.8, 1.2), remaining))
            delay = min(delay * 1.5, MAX_POLL_SECONDS)

    def not_acquired(self, current: Lease | None) -> LockNotAcquired:
        """The error for a busy key (names the holder and its expiry)."""
        if current is None:
            return LockNotAcquired(self.key, "another owner", "unknown")
        return LockNotAcquired(self.key, current.holder.describe(), iso_ms(current.expires_at))

    def _held(self, lease: Lease, requested: float) -> None:
        self.lease = lease
        self.lost.clear()
        self._stop.clear()
        self._valid_until = requested + self.ttl_ms / 1000
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"aetherflow-lease-{self.key}", daemon=True
        )
        self._thread.start()

    def _heartbeat(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            if not self._renew():
                return

    def _renew(self) -> bool:
        with self._renew_lock:
            return self._renew_locked()

    def _renew_locked(self) -> bool:
        if self.lease is None or self.lost.is_set():
            return False
        # The store stamps the new expiry somewhere between request and reply: counting the
        # local validity from the request keeps the fast path of still_held() on the safe side.
        requested = time.monotonic()
        try:
            renewed = self.store.renew_lease(self.key, self.lease.token, self.ttl_ms)
        except StateError as exc:
            if time.monotonic() < self._valid_until:
                log.warning("renewing %s failed, retrying: %s", self.key, exc)
                return True
            renewed = None
        if renewed is None:
            self._mark_lost()
            return False
        self.lease = renewed
        self._valid_until = requested + self.ttl_ms / 1000
        return True

    def _mark_lost(self) -> None:
        if not self.lost.is_set():
            self.lost.set()
            if self.on_lost is not None:
                self.on_lost()

    def still_held(self) -> bool:
        """True while the lease is known to be held; renews synchronously when in doubt."""
        if self.lost.is_set() or self.lease is None:
            return False
        if time.monotonic() < self._valid_until - self.ttl_ms / 3000:
            return True
        return self._renew()

    def release(self) -> None:
        """Stop the heartbeat and delete the lease if it is still ours (token checked)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.lease is not None and not self.lost.is_set():
            self.store.release_lease(self.key, self.lease.token)
        self.lease = None


class RunLease(HeldLease):
    """The lease that makes one live process the executor of a run id."""

    def __init__(
        self,
        store: StateStore,
        *,
        flow_id: str,
        run_id: str,
        holder: LeaseHolder,
        ttl_seconds: float,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            store, run_lease_key(flow_id, run_id), holder, ttl_seconds, on_lost=on_lost
        )
        self.run_id = run_id

    def acquire(self) -> Lease:
        """Take the lease and start the heartbeat.

        Raises:
            BusyError: Another live process holds it (the message names pid, host and since).
        """
        lease = self.try_acquire()
        if lease is None:
            current = self.store.get_lease(self.key)
            if current is None:  # released between the two calls: try once more
                lease = self.try_acquire()
            if lease is None:
                raise BusyError(self._busy_message(current))
        return lease

    def _busy_message(self, current: Lease | None) -> str:
        if current is None:
            return f"run {self.run_id} is being executed by another process"
        holder = current.holder
        return (
            f"run {self.run_id} is being executed by pid {holder.pid} on host {holder.host} "
            f"since {iso_ms(current.acquired_at)} (lease expires {iso_ms(current.expires_at)}); "
            "wait for it to finish, or for the lease to expire if that process is gone"
        )
