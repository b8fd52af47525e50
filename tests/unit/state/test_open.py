"""``open_state_store`` URL forms and ``describe_url``."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.errors import StateError
from aetherflow.state import (
    FakeClock,
    MemoryStateStore,
    SqliteStateStore,
    StateStore,
    describe_url,
    open_state_store,
)


def opened_path(store: StateStore) -> str:
    assert isinstance(store, SqliteStateStore)
    try:
        return store.path
    finally:
        store.close()


def test_absolute_sqlite_url(tmp_path: Path) -> None:
    db = tmp_path / "abs" / "state.db"
    assert opened_path(open_state_store(f"sqlite://{db}")) == str(db)
    assert db.is_file()


def test_relative_sqlite_url_and_plain_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert opened_path(open_state_store("sqlite:rel/state.db")) == "rel/state.db"
    assert opened_path(open_state_store("plain/state.db")) == "plain/state.db"
    assert opened_path(open_state_store("data:2024.db")) == "data:2024.db"
    assert opened_path(open_state_store(str(tmp_path / "p.db"))) == str(tmp_path / "p.db")
    assert (tmp_path / "rel" / "state.db").is_file()
    assert (tmp_path / "plain" / "state.db").is_file()


@pytest.mark.parametrize("url", ["sqlite::memory:", "sqlite:///:memory:", ":memory:"])
def test_in_process_sqlite(url: str) -> None:
    assert opened_path(open_state_store(url)) == ":memory:"


def test_memory_url_and_clock() -> None:
    clock = FakeClock(42)
    store = open_state_store("memory:", clock=clock)
    assert isinstance(store, MemoryStateStore)
    assert store.now_ms() == 42


def test_durability_is_passed_to_sqlite(tmp_path: Path) -> None:
    store = open_state_store(str(tmp_path / "s.db"), durability="full")
    try:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.mark.parametrize(
    "url", ["postgresql://etl:s3cret@db:5432/af", "postgres://etl:s3cret@db/af?sslmode=require"]
)
def test_postgres_is_not_available_yet(url: str) -> None:
    with pytest.raises(StateError, match="PostgreSQL state is not available yet") as caught:
        open_state_store(url)
    assert "s3cret" not in str(caught.value)
    assert "etl:***@db" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported state URL"),
        ("sqlite://host/state.db", "names a host"),
        ("sqlite:", "names no database file"),
        ("", "names no database file"),
        ("memory:extra", "spelled 'memory:'"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(StateError, match=message):
        open_state_store(url)


def test_unknown_durability_is_refused() -> None:
    with pytest.raises(StateError, match="durability 'fast'"):
        open_state_store("memory:", durability="fast")


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("sqlite:///var/lib/af/state.db", "SQLite database /var/lib/af/state.db"),
        ("state/af.db", "SQLite database state/af.db"),
        ("sqlite::memory:", "in-process SQLite database (not persisted)"),
        ("memory:", "in-memory state (not persisted)"),
        ("postgresql://etl:pw@db:5432/af", "PostgreSQL postgresql://etl:***@db:5432/af"),
        ("postgresql://db/af", "PostgreSQL postgresql://db/af"),
        ("sqlite://host/x.db", "state URL sqlite://host/x.db"),
    ],
)
def test_describe_url(url: str, text: str) -> None:
    assert describe_url(url) == text
