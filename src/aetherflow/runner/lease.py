"""The run lease: one live process per run id, kept alive by a heartbeat thread.

The lease ``run:<flow_id>:<run_id>`` has a short TTL (``AETHERFLOW_RUN_LEASE_SECONDS``) and is
renewed every TTL/3. A process that cannot renew before expiry has possibly been replaced by
another one, so it stops: :attr:`RunLease.lost` is set, ``on_lost`` is called, and
:meth:`RunLease.still_held` answers False so the engine writes nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aetherflow.errors import BusyError, StateError
from aetherflow.state.records import Lease, LeaseHolder
from aetherflow.state.store import StateStore

log = logging.getLogger(__name__)


def run_lease_key(flow_id: str, run_id: str) -> str:
    """The lease key of a run."""
    return f"run:{flow_id}:{run_id}"


def iso_ms(epoch_ms: int) -> str:
    """``2026-01-01T02:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


class RunLease:
    """Acquire, heartbeat and release one run lease."""

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
        self.store = store
        self.key = run_lease_key(flow_id, run_id)
        self.run_id = run_id
        self.holder = holder
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.on_lost = on_lost
        self.lease: Lease | None = None
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._valid_until = 0.0  # monotonic deadline of the last successful renewal
        self._renew_lock = threading.Lock()

    def acquire(self) -> Lease:
        """Take the lease and start the heartbeat.

        Raises:
            BusyError: Another live process holds it (the message names pid, host and since).
        """
        lease = self.store.acquire_lease(self.key, self.holder, self.ttl_ms)
        if lease is None:
            current = self.store.get_lease(self.key)
            if current is None:  # released between the two calls: try once more
                lease = self.store.acquire_lease(self.key, self.holder, self.ttl_ms)
            if lease is None:
                raise BusyError(self._busy_message(current))
        self.lease = lease
        self._valid_until = time.monotonic() + self.ttl_ms / 1000
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"aetherflow-lease-{self.run_id}", daemon=True
        )
        self._thread.start()
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
        try:
            renewed = self.store.renew_lease(self.key, self.lease.token, self.ttl_ms)
        except StateError as exc:
            if time.monotonic() < self._valid_until:
                log.warning("run lease renewal failed, retrying: %s", exc)
                return True
            renewed = None
        if renewed is None:
            self._mark_lost()
            return False
        self.lease = renewed
        self._valid_until = time.monotonic() + self.ttl_ms / 1000
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
        """Stop the heartbeat and release the lease if still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.lease is not None and not self.lost.is_set():
            self.store.release_lease(self.key, self.lease.token)
        self.lease = None
