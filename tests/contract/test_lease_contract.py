"""The StateStore lease contract (run leases and locks), identical on every backend.

Time is a FakeClock, so TTL boundaries are tested to the millisecond without sleeping.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow.state import FakeClock, Lease, LeaseHolder, StateStore

from .conftest import StoreFactory

T0 = 1_700_000_000_000
TTL = 1000
RUN_A = LeaseHolder("rA", "f", job_id="j1", host="h1", pid=11, instance="proc-1")
RUN_B = LeaseHolder("rB", "f", host="h2", pid=22)


def acquire(store: StateStore, holder: LeaseHolder = RUN_A, **kw: Any) -> Lease | None:
    return store.acquire_lease(kw.pop("key", "lock:x"), holder, kw.pop("ttl_ms", TTL), **kw)


def test_acquire_free_key(store: StateStore) -> None:
    lease = acquire(store)

    assert lease == Lease("lock:x", 1, RUN_A, acquired_at=T0, expires_at=T0 + TTL)
    assert store.get_lease("lock:x") == lease
    assert store.fencing_token("lock:x") == 1
    assert store.fencing_token("lock:other") == 0
    assert store.get_lease("lock:other") is None


def test_live_lease_is_refused_until_the_exact_expiry(store: StateStore, clock: FakeClock) -> None:
    assert acquire(store) is not None

    clock.advance(ms=TTL - 1)
    assert acquire(store, RUN_B) is None
    assert acquire(store, RUN_A) is None  # not re-entrant without reentrant_run

    clock.advance(ms=1)
    taken = acquire(store, RUN_B)

    assert taken == Lease("lock:x", 2, RUN_B, acquired_at=T0 + TTL, expires_at=T0 + 2 * TTL)
    assert store.get_lease("lock:x") == taken


def test_renew_extends_expiry_and_keeps_token(store: StateStore, clock: FakeClock) -> None:
    lease = acquire(store)
    assert lease is not None
    clock.advance(ms=600)

    renewed = store.renew_lease("lock:x", lease.token, 5000)

    assert renewed == Lease("lock:x", 1, RUN_A, acquired_at=T0, expires_at=T0 + 600 + 5000)
    clock.advance(ms=TTL)
    assert acquire(store, RUN_B) is None


def test_renew_after_expiry_succeeds_while_nobody_took_it(
    store: StateStore, clock: FakeClock
) -> None:
    lease = acquire(store)
    assert lease is not None
    clock.advance(ms=TTL + 50)

    renewed = store.renew_lease("lock:x", lease.token, TTL)

    assert renewed is not None
    assert (renewed.token, renewed.expires_at) == (1, T0 + 2 * TTL + 50)


def test_renew_with_a_stale_token_reports_the_lease_lost(
    store: StateStore, clock: FakeClock
) -> None:
    old = acquire(store)
    assert old is not None
    clock.advance(ms=TTL)
    new = acquire(store, RUN_B)
    assert new is not None

    assert store.renew_lease("lock:x", old.token, TTL) is None
    assert store.get_lease("lock:x") == new
    assert store.release_lease("lock:x", new.token)
    assert store.renew_lease("lock:x", new.token, TTL) is None


def test_release_needs_the_current_token(store: StateStore, clock: FakeClock) -> None:
    old = acquire(store)
    assert old is not None
    clock.advance(ms=TTL)
    new = acquire(store, RUN_B)
    assert new is not None

    assert store.release_lease("lock:x", old.token) is False
    assert store.get_lease("lock:x") == new
    assert store.release_lease("lock:x", new.token) is True
    assert store.get_lease("lock:x") is None
    assert store.release_lease("lock:x", new.token) is False


def test_release_keeps_the_fencing_counter(store: StateStore) -> None:
    first = acquire(store)
    assert first is not None
    assert store.release_lease("lock:x", first.token)

    second = acquire(store, RUN_B)

    assert second is not None
    assert second.token == 2


def test_reentrant_run_takes_over_its_own_lease_only(store: StateStore) -> None:
    assert acquire(store, RUN_A) is not None
    same_run_other_job = LeaseHolder("rA", "f", job_id="j2", host="h9", pid=99, instance="proc-2")
    same_run_id_other_flow = LeaseHolder("rA", "g", host="h1", pid=11, instance="proc-2")

    assert acquire(store, RUN_B, reentrant_run=True) is None
    assert acquire(store, same_run_id_other_flow, reentrant_run=True) is None
    taken = acquire(store, same_run_other_job, reentrant_run=True)

    assert taken is not None
    assert (taken.token, taken.holder) == (2, same_run_other_job)
    assert store.get_lease("lock:x") == taken


def test_reentrancy_never_applies_to_the_same_process(store: StateStore) -> None:
    """A nested lock on the same key in the same process must not steal the outer lock."""
    outer = acquire(store, RUN_A)
    assert outer is not None
    same_process = LeaseHolder(
        "rA", "f", job_id="j1", step_id="inner", host="h1", pid=11, instance="proc-1"
    )
    assert acquire(store, same_process, reentrant_run=True) is None
    assert store.get_lease("lock:x") == outer


def test_force_release_keeps_the_counter(store: StateStore, clock: FakeClock) -> None:
    for _ in range(3):
        clock.advance(ms=TTL)
        assert acquire(store) is not None
    held = store.get_lease("lock:x")

    assert store.force_release("lock:x") == held
    assert store.get_lease("lock:x") is None
    assert store.force_release("lock:x") is None
    assert store.fencing_token("lock:x") == 3
    lease = acquire(store, RUN_B)
    assert lease is not None
    assert lease.token == 4


def test_counters_are_per_key(store: StateStore) -> None:
    assert acquire(store, key="a") is not None
    assert acquire(store, key="b") is not None
    next_process = LeaseHolder("rA", "f", host="h1", pid=12, instance="proc-2")
    a2 = acquire(store, next_process, key="a", reentrant_run=True)
    assert a2 is not None
    assert (a2.token, store.fencing_token("b")) == (2, 1)


def test_list_leases_filters_by_prefix_sorted_by_key(store: StateStore, clock: FakeClock) -> None:
    for key in ["run:f:r2", "lock:z", "run:f:r1", "runner", "lock:a"]:
        assert acquire(store, key=key) is not None
    clock.advance(ms=TTL * 5)  # expired rows are still listed

    assert [lease.key for lease in store.list_leases("run:")] == ["run:f:r1", "run:f:r2"]
    assert [lease.key for lease in store.list_leases("lock:")] == ["lock:a", "lock:z"]
    assert [lease.key for lease in store.list_leases()] == [
        "lock:a",
        "lock:z",
        "run:f:r1",
        "run:f:r2",
        "runner",
    ]
    assert store.list_leases("nothing") == []


@pytest.mark.parametrize("ttl_ms", [0, -5])
def test_non_positive_ttl_is_refused(store: StateStore, ttl_ms: int) -> None:
    with pytest.raises(ValueError, match="ttl_ms"):
        acquire(store, ttl_ms=ttl_ms)
    lease = acquire(store)
    assert lease is not None
    with pytest.raises(ValueError, match="ttl_ms"):
        store.renew_lease("lock:x", lease.token, ttl_ms)


HOLDERS = [RUN_A, RUN_B, LeaseHolder("rA", "f", job_id="j2")]
Op = tuple[str, Any]
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.tuples(st.sampled_from(HOLDERS), st.booleans())),
        # release/renew with the current token, or one off (stale or never issued)
        st.tuples(st.sampled_from(["release", "renew"]), st.integers(-1, 1)),
        st.tuples(st.just("force"), st.none()),
        st.tuples(st.just("advance"), st.sampled_from([1, TTL - 1, TTL, 3 * TTL])),
    ),
    max_size=40,
)


def apply(store: StateStore, clock: FakeClock, op: Op) -> int | None:
    """Run one operation on key ``k``; the token it issued, if any."""
    name, arg = op
    if name == "acquire":
        holder, reentrant = arg
        lease = store.acquire_lease("k", holder, TTL, reentrant_run=reentrant)
        return None if lease is None else lease.token
    if name in ("release", "renew"):
        current = store.get_lease("k")
        token = (current.token if current else store.fencing_token("k")) + arg
        if name == "release":
            store.release_lease("k", token)
        else:
            renewed = store.renew_lease("k", token, TTL)
            assert renewed is None or renewed.token == token
    elif name == "force":
        store.force_release("k")
    else:
        clock.advance(ms=arg)
    return None


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_fencing_tokens_never_decrease(make_store: StoreFactory, ops: list[Op]) -> None:
    """Random operation sequences, each on a fresh store (so the fixture is safe to share)."""
    clock = FakeClock(start_ms=T0)
    store = make_store(clock)
    issued: list[int] = []
    for op in ops:
        before = store.fencing_token("k")
        token = apply(store, clock, op)
        if token is not None:
            assert token == before + 1
            issued.append(token)
        assert store.fencing_token("k") == (before if token is None else token)
    assert issued == list(range(1, len(issued) + 1))


def test_forced_release_is_audited(store: StateStore) -> None:
    holder = LeaseHolder("r9", "f", job_id="j", step_id="s", host="h", pid=7)
    lease = store.acquire_lease("audited", holder, 60_000)
    assert lease is not None
    removed = store.force_release("audited", reason="stuck after crash", actor="ops")
    assert removed == lease
    store.force_release("absent", reason="nothing there")
    first, second = store.list_audit()[1], store.list_audit()[0]
    assert (first.action, first.key) == ("lock_forced_release", "audited")
    assert first.detail == {
        "reason": "stuck after crash",
        "actor": "ops",
        "token": lease.token,
        "holder": {
            "run_id": "r9",
            "flow_id": "f",
            "job_id": "j",
            "step_id": "s",
            "host": "h",
            "pid": 7,
        },
    }
    assert (second.key, second.detail["holder"], second.detail["token"]) == ("absent", None, None)
    assert len(store.list_audit(limit=1)) == 1
