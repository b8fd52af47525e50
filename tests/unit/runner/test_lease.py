"""The run lease: busy message, renewal, loss detection (with a fake clock, no real waiting)."""

from __future__ import annotations

import time

import pytest

from aetherflow.errors import BusyError
from aetherflow.runner.lease import RunLease, iso_ms, run_lease_key
from aetherflow.state import FakeClock, LeaseHolder, MemoryStateStore


def holder(pid: int) -> LeaseHolder:
    return LeaseHolder(run_id="r1", flow_id="f", host="hostA", pid=pid)


def make(store: MemoryStateStore, pid: int, ttl: float = 30.0) -> RunLease:
    return RunLease(store, flow_id="f", run_id="r1", holder=holder(pid), ttl_seconds=ttl)


def test_second_process_is_refused_with_the_holder_in_the_message() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock)
    first = make(store, 111)
    first.acquire()
    try:
        with pytest.raises(BusyError) as info:
            make(store, 222).acquire()
        message = str(info.value)
        assert message.startswith("run r1 is being executed by pid 111 on host hostA since ")
        assert iso_ms(clock.now_ms()) in message
    finally:
        first.release()
    assert store.get_lease(run_lease_key("f", "r1")) is None


def test_expired_lease_is_taken_over() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock)
    crashed = make(store, 111, ttl=2)
    lease = crashed.acquire()
    crashed._stop.set()  # simulate a dead process: its heartbeat never runs again
    clock.advance(2.0)
    successor = make(store, 222, ttl=2)
    taken = successor.acquire()
    try:
        assert taken.token == lease.token + 1
        assert taken.holder.pid == 222
    finally:
        successor.release()


def test_losing_the_lease_is_detected_and_reported() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock)
    lost_calls: list[str] = []
    frozen = RunLease(
        store,
        flow_id="f",
        run_id="r1",
        holder=holder(111),
        ttl_seconds=2,
        on_lost=lambda: lost_calls.append("lost"),
    )
    frozen.acquire()
    frozen._stop.set()  # heartbeat frozen (like SIGSTOP)
    clock.advance(3.0)
    other = make(store, 222, ttl=2)
    other.acquire()
    frozen._valid_until = time.monotonic() - 1  # its local deadline passed too
    assert frozen.still_held() is False
    assert frozen.lost.is_set()
    assert lost_calls == ["lost"]
    frozen.release()  # must not delete the new holder's lease
    current = store.get_lease(run_lease_key("f", "r1"))
    assert current is not None
    assert current.holder.pid == 222
    other.release()


def test_heartbeat_renews_before_expiry() -> None:
    store = MemoryStateStore()
    lease = RunLease(store, flow_id="f", run_id="r1", holder=holder(1), ttl_seconds=0.3)
    first = lease.acquire()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            current = store.get_lease(run_lease_key("f", "r1"))
            assert current is not None
            if current.expires_at > first.expires_at:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the heartbeat never renewed the lease")
        assert current.token == first.token
        assert lease.still_held() is True
    finally:
        lease.release()
