"""Child-process body for the cross-process lease test (importable under ``spawn``)."""

from __future__ import annotations

import os
import time
from typing import Any

from aetherflow.state import LeaseHolder, SqliteStateStore


def contend(path: str, key: str, acquisitions: int, ttl_ms: int, barrier: Any, out: Any) -> None:
    """Acquire and release ``key`` ``acquisitions`` times, retrying while another process holds it.

    Puts ``(records, refusals)`` on ``out``: ``records`` are ``(token, monotonic_ns)`` taken right
    after each acquisition (while the lease is held, so no other acquisition can interleave).
    """
    store = SqliteStateStore(path)
    holder = LeaseHolder(run_id=f"run-{os.getpid()}", flow_id="f", host="local", pid=os.getpid())
    records: list[tuple[int, int]] = []
    refusals = 0
    try:
        barrier.wait()
        while len(records) < acquisitions:
            lease = store.acquire_lease(key, holder, ttl_ms)
            if lease is None:
                refusals += 1
                time.sleep(0.0002)
                continue
            records.append((lease.token, time.monotonic_ns()))
            time.sleep(0.001)  # hold it briefly, so other processes find it taken
            if not store.release_lease(key, lease.token):
                raise AssertionError(f"lost lease {key} token {lease.token} before release")
    finally:
        store.close()
    out.put((records, refusals))
