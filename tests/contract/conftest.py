"""Backends for the contract suites: every StateStore implementation, each on a FakeClock."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aetherflow.state import FakeClock, MemoryStateStore, SqliteStateStore, StateStore

StoreFactory = Callable[[FakeClock], StateStore]

STATE_BACKENDS = ["memory", "sqlite-file", "sqlite-memory"]


@pytest.fixture
def clock() -> FakeClock:
    """The fake time every store of the test reads."""
    return FakeClock(start_ms=1_700_000_000_000)


@pytest.fixture(params=STATE_BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds fresh stores of one backend (each on its own file); closes them afterwards."""
    backend: str = request.param
    opened: list[StateStore] = []
    numbers = itertools.count()

    def make(clock: FakeClock) -> StateStore:
        store: StateStore
        if backend == "memory":
            store = MemoryStateStore(clock)
        elif backend == "sqlite-file":
            store = SqliteStateStore(tmp_path / f"state-{next(numbers)}.db", clock=clock)
        else:
            store = SqliteStateStore(":memory:", clock=clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory, clock: FakeClock) -> StateStore:
    """One fresh store of the backend under test."""
    return make_store(clock)
