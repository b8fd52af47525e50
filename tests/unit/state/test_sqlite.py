"""SQLite backend specifics: pragmas, schema migrations, files, transactions, processes.

Some tests read ``store._conn`` (the store's one connection): pragmas such as ``synchronous``
are per connection, and the transaction count is observed with its trace callback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.errors import StateError
from aetherflow.state import (
    SCHEMA_VERSION,
    FakeClock,
    JobRecord,
    JobStatus,
    LeaseHolder,
    RunRecord,
    RunStatus,
    SqliteStateStore,
    StepRecord,
    StepStatus,
    sqlite_schema,
)
from aetherflow.state import sqlite as sqlite_backend
from aetherflow.state.serialize import Migration, named_queries

from .lease_worker import contend

T0 = 1_700_000_000_000
HOLDER = LeaseHolder("r1", "f", host="h", pid=1)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "af.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStateStore]:
    opened = SqliteStateStore(db, clock=FakeClock(T0))
    yield opened
    opened.close()


def pragma(store: SqliteStateStore, name: str) -> object:
    return store._conn.execute(f"PRAGMA {name}").fetchone()[0]


def schema_version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])


def a_step(status: StepStatus) -> StepRecord:
    return StepRecord("f", "r1", "j", "s", "echo", status, started_at=T0, outputs={"n": 1})


# -- connection settings ----------------------------------------------------------------------


def test_file_store_uses_wal_normal_sync_and_busy_timeout(store: SqliteStateStore) -> None:
    assert pragma(store, "journal_mode") == "wal"
    assert pragma(store, "synchronous") == 1  # NORMAL
    assert pragma(store, "busy_timeout") == 30000
    assert pragma(store, "auto_vacuum") == 2  # INCREMENTAL, for `state prune`


def test_durability_full_and_busy_timeout_are_applied(db: Path) -> None:
    store = SqliteStateStore(db, durability="full", busy_timeout_ms=1234)
    try:
        assert (pragma(store, "synchronous"), pragma(store, "busy_timeout")) == (2, 1234)
    finally:
        store.close()


def test_unknown_durability_is_refused(db: Path) -> None:
    with pytest.raises(StateError, match="durability 'fast'"):
        SqliteStateStore(db, durability="fast")  # type: ignore[arg-type]


def test_parent_directories_are_created(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "state.db"
    SqliteStateStore(db).close()
    assert db.is_file()


# -- schema and migrations --------------------------------------------------------------------


def test_fresh_database_is_created_at_the_current_version(
    store: SqliteStateStore, db: Path
) -> None:
    assert schema_version(db) == SCHEMA_VERSION
    tables = {row[0] for row in store._conn.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "jobs", "steps", "step_attempts", "leases", "fencing"} <= tables


def test_migrations_are_consecutive_up_to_schema_version() -> None:
    versions = [m.version for m in sqlite_schema.MIGRATIONS]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


NEXT = SCHEMA_VERSION + 1


def fake_next(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Pretend the code knows one more schema version, reached by ``script``."""
    migrations = (*sqlite_schema.MIGRATIONS, Migration(NEXT, lambda: script))
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", NEXT)
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", migrations)


@contextlib.contextmanager
def store_at_version(
    version: int, db: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SqliteStateStore]:
    """A store created by a code base that knew schema versions up to ``version`` (closed after)."""
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_schema, "SCHEMA_VERSION", version)
        patch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:version])
        old = SqliteStateStore(db, clock=FakeClock(T0))
        try:
            yield old
        finally:
            old.close()


def test_version_1_database_is_migrated_to_the_audit_table(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store_at_version(1, db, monkeypatch) as old:
        old.start_run(RunRecord("f", "r1", RunStatus.SUCCESS, T0))
    assert schema_version(db) == 1
    new = SqliteStateStore(db, clock=FakeClock(T0 + 5))
    try:
        assert schema_version(db) == SCHEMA_VERSION
        assert new.get_run("f", "r1") is not None
        assert new.force_release("k", reason="test") is None
        assert [a.key for a in new.list_audit()] == ["k"]
    finally:
        new.close()


def test_steps_recorded_before_version_4_keep_their_order(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store_at_version(3, db, monkeypatch) as old:
        # Version 3 numbered the steps of each run 1, 2, ... in first-recorded order.
        old._conn.executemany(
            "INSERT INTO steps (flow_id, run_id, job_id, step_id, seq, step_type, status, "
            "attempt) VALUES ('f', 'r1', 'j', ?, ?, 'echo', 'SUCCESS', 1)",
            [("b", 1), ("a", 2)],
        )

    new = SqliteStateStore(db, clock=FakeClock(T0))
    try:
        new.step_started(StepRecord("f", "r1", "j", "c", "echo", StepStatus.RUNNING))
        new.step_finished(StepRecord("f", "r1", "j", "b", "echo", StepStatus.FAILED))

        assert [s.step_id for s in new.get_steps("f", "r1")] == ["b", "a", "c"]
        indexes = {row[0] for row in new._conn.execute("PRAGMA index_list(steps)")}
        assert "steps_seq" not in indexes
    finally:
        new.close()


def test_version_4_attempt_history_is_migrated(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 4 kept every finished attempt in the history table, the latest one too."""
    with store_at_version(4, db, monkeypatch) as old:
        old._conn.executemany(
            "INSERT INTO steps (flow_id, run_id, job_id, step_id, seq, step_type, status, "
            "attempt) VALUES ('f', 'r1', 'j', ?, ?, 'echo', ?, ?)",
            [("a", 1, "SUCCESS", 2), ("b", 2, "RUNNING", 1), ("d", 3, "SUCCESS", 1)],
        )
        old._conn.executemany(
            "INSERT INTO step_attempts (flow_id, run_id, job_id, step_id, attempt, status, "
            "error) VALUES ('f', 'r1', 'j', ?, ?, ?, ?)",
            [
                ("a", 1, "FAILED", '{"class": "E", "message": "m", "failure_class": "error"}'),
                ("c", 1, "SUCCESS", None),  # its step row was deleted (a re-run job)
                ("a", 2, "SUCCESS", None),
                ("d", 1, "SUCCESS", None),
            ],
        )

    new = SqliteStateStore(db, clock=FakeClock(T0))
    try:
        assert schema_version(db) == SCHEMA_VERSION == 5
        attempts = [(a.step_id, a.attempt, a.status.value) for a in new.get_attempts("f", "r1")]
        assert attempts == [
            ("c", 1, "SUCCESS"),
            ("a", 1, "FAILED"),
            ("a", 2, "SUCCESS"),
            ("d", 1, "SUCCESS"),
        ]
        history = new._conn.execute(
            "SELECT step_id, attempt FROM step_attempt_history ORDER BY rowid"
        ).fetchall()
        assert [tuple(row) for row in history] == [("a", 1), ("c", 1)]
        assert new._conn.execute("SELECT count(*) FROM step_attempts").fetchone()[0] == 4
        # The crashed attempt of b is re-run and finishes; a's latest attempt is replaced.
        new.step_finished(StepRecord("f", "r1", "j", "b", "echo", StepStatus.SUCCESS))
        new.step_started(StepRecord("f", "r1", "j", "a", "echo", StepStatus.RUNNING, attempt=3))
        attempts = [(a.step_id, a.attempt) for a in new.get_attempts("f", "r1")]
        assert attempts == [("c", 1), ("a", 1), ("a", 2), ("b", 1), ("d", 1)]
    finally:
        new.close()


def test_older_database_is_migrated_keeping_its_data(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = SqliteStateStore(db, clock=FakeClock(T0))
    old.start_run(RunRecord("f", "r1", RunStatus.SUCCESS, T0))
    old.close()
    fake_next(
        monkeypatch, "ALTER TABLE runs ADD COLUMN note TEXT; -- next\nCREATE TABLE extra (x);"
    )

    new = SqliteStateStore(db, clock=FakeClock(T0 + 5))
    try:
        assert schema_version(db) == NEXT
        applied = new._conn.execute("SELECT version, applied_at FROM schema_version").fetchall()
        expected = [(v, T0) for v in range(1, SCHEMA_VERSION + 1)] + [(NEXT, T0 + 5)]
        assert [tuple(row) for row in applied] == expected
        assert new._conn.execute("SELECT note FROM runs").fetchall()[0][0] is None
        assert new.get_run("f", "r1") is not None
    finally:
        new.close()


def test_failed_migration_leaves_the_database_unchanged(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqliteStateStore(db).close()
    fake_next(monkeypatch, "CREATE TABLE extra (x); INSERT INTO missing_table VALUES (1);")

    with pytest.raises(StateError, match=f"migration to schema version {NEXT} failed"):
        SqliteStateStore(db)

    assert schema_version(db) == SCHEMA_VERSION
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall() == []


def test_newer_database_is_refused_with_both_versions(db: Path) -> None:
    SqliteStateStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version VALUES (7, 0)")

    with pytest.raises(StateError) as caught:
        SqliteStateStore(db)

    message = str(caught.value)
    assert "schema version 7" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert "written by a newer AetherFlow" in message
    assert str(db) in message


def test_foreign_database_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")

    with pytest.raises(StateError, match=r"not an AetherFlow state database.*invoices"):
        SqliteStateStore(db)


def test_a_file_that_is_not_sqlite_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database, just some text that is long enough" * 40)

    with pytest.raises(StateError, match=str(db)):
        SqliteStateStore(db)


def test_split_statements_respects_strings_and_comments() -> None:
    script = (
        "CREATE TABLE a (x TEXT DEFAULT ';'); -- one; two\nINSERT INTO a VALUES ('x;y');\n-- end"
    )
    assert sqlite_schema.split_statements(script) == [
        "CREATE TABLE a (x TEXT DEFAULT ';');",
        "-- one; two\nINSERT INTO a VALUES ('x;y');",
    ]


# -- files, connections and transactions ------------------------------------------------------


def test_state_persists_across_reopen(db: Path) -> None:
    first = SqliteStateStore(db, clock=FakeClock(T0))
    first.start_run(RunRecord("f", "r1", RunStatus.RUNNING, T0))
    first.record_job(JobRecord("f", "r1", "j", JobStatus.FAILED, outputs={"k": "ü"}))
    first.step_finished(a_step(StepStatus.SUCCESS))
    lease = first.acquire_lease("lock:x", HOLDER, 1000)
    assert lease is not None
    assert first.release_lease("lock:x", lease.token)
    first.close()

    second = SqliteStateStore(db, clock=FakeClock(T0))
    try:
        assert [s.failed_job for s in second.list_runs()] == ["j"]
        assert second.get_jobs("f", "r1")[0].outputs == {"k": "ü"}
        assert len(second.get_attempts("f", "r1")) == 1
        assert second.fencing_token("lock:x") == 1
    finally:
        second.close()


def test_two_connections_share_state_and_only_one_gets_the_lease(db: Path) -> None:
    clock = FakeClock(T0)
    one, two = SqliteStateStore(db, clock=clock), SqliteStateStore(db, clock=clock)
    try:
        one.start_run(RunRecord("f", "r1", RunStatus.RUNNING, T0))
        assert two.get_run("f", "r1") is not None

        held = one.acquire_lease("run:f:r1", HOLDER, 1000)
        assert held is not None
        assert two.acquire_lease("run:f:r1", LeaseHolder("r2", "f"), 1000) is None
        assert one.release_lease("run:f:r1", held.token)
        taken = two.acquire_lease("run:f:r1", LeaseHolder("r2", "f"), 1000)
        assert taken is not None
        assert taken.token == 2
    finally:
        one.close()
        two.close()


def wal_commits(db: Path) -> int:
    """Commit frames in the WAL file (valid while nothing checkpointed it)."""
    data = db.with_name(db.name + "-wal").read_bytes()
    page_size = int.from_bytes(data[8:12], "big")
    frames = range(32, len(data), 24 + page_size)
    # A frame header's second field is the database size after a commit, 0 in other frames.
    return sum(int.from_bytes(data[at + 4 : at + 8], "big") != 0 for at in frames)


def test_each_step_write_is_exactly_one_committed_transaction(
    store: SqliteStateStore, db: Path
) -> None:
    reader = sqlite3.connect(db)
    try:
        before = wal_commits(db)
        store.step_started(a_step(StepStatus.RUNNING))
        assert wal_commits(db) == before + 1
        assert reader.execute("SELECT status FROM steps").fetchall() == [("RUNNING",)]

        store.step_finished(a_step(StepStatus.SUCCESS))
        assert wal_commits(db) == before + 2
        assert reader.execute("SELECT status FROM steps").fetchall() == [("SUCCESS",)]
        assert reader.execute("SELECT status FROM step_attempts").fetchall() == [("SUCCESS",)]
        assert not store._conn.in_transaction
    finally:
        reader.close()


def test_a_finished_step_writes_no_history_row(store: SqliteStateStore) -> None:
    """The step row is the latest attempt's record; the history only holds replaced attempts."""
    store.step_started(a_step(StepStatus.RUNNING))
    store.step_finished(a_step(StepStatus.SUCCESS))
    history = store._conn.execute("SELECT count(*) FROM step_attempt_history").fetchone()[0]
    assert history == 0
    assert [(a.attempt, a.status) for a in store.get_attempts("f", "r1")] == [
        (1, StepStatus.SUCCESS)
    ]


def test_replacing_an_attempt_keeps_it_in_the_history_atomically(
    store: SqliteStateStore,
) -> None:
    store.step_started(a_step(StepStatus.RUNNING))
    store.step_finished(a_step(StepStatus.FAILED))
    store._conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON step_attempt_history "
        "BEGIN SELECT RAISE(ABORT, 'history refused'); END"
    )
    retry = dataclasses.replace(a_step(StepStatus.RUNNING), attempt=2)

    with pytest.raises(StateError, match="could not record step s: history refused"):
        store.step_started(retry)

    [step] = store.get_steps("f", "r1")
    assert (step.attempt, step.status) == (1, StepStatus.FAILED)  # the write did not happen
    assert [(a.attempt, a.status) for a in store.get_attempts("f", "r1")] == [
        (1, StepStatus.FAILED)
    ]
    assert not store._conn.in_transaction
    store._conn.execute("DROP TRIGGER temp.refuse")
    store.step_started(retry)
    store.step_finished(dataclasses.replace(retry, status=StepStatus.SUCCESS))
    assert [(a.attempt, a.status) for a in store.get_attempts("f", "r1")] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.SUCCESS),
    ]


def test_step_writes_wait_for_another_writer(db: Path) -> None:
    store = SqliteStateStore(db, busy_timeout_ms=5000)
    blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.2, blocker.execute, ["COMMIT"])
        release.start()
        store.step_started(a_step(StepStatus.RUNNING))  # waits for the commit, then writes
        release.join()
        assert [s.status for s in store.get_steps("f", "r1")] == [StepStatus.RUNNING]
    finally:
        blocker.close()
        store.close()


def test_database_errors_become_state_errors(db: Path) -> None:
    store = SqliteStateStore(db, busy_timeout_ms=50)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StateError, match=r"could not acquire lease 'k'.*locked"):
            store.acquire_lease("k", HOLDER, 1000)
        blocker.execute("ROLLBACK")
        assert store.acquire_lease("k", HOLDER, 1000) is not None
    finally:
        blocker.close()
        store.close()
    with pytest.raises(StateError, match="closed"):
        store.get_run("f", "r1")


def test_heartbeat_thread_and_writer_share_the_connection(store: SqliteStateStore) -> None:
    lease = store.acquire_lease("run:f:r1", HOLDER, 1000)
    assert lease is not None
    failures: list[Exception] = []

    def heartbeat() -> None:
        try:
            for _ in range(200):
                assert store.renew_lease("run:f:r1", lease.token, 1000) is not None
        except (AssertionError, StateError) as exc:  # reported to the main thread below
            failures.append(exc)

    thread = threading.Thread(target=heartbeat)
    thread.start()
    for index in range(200):
        store.step_started(StepRecord("f", "r1", "j", f"s{index}", "echo", StepStatus.RUNNING))
    thread.join()

    assert failures == []
    assert len(store.get_steps("f", "r1")) == 200


# -- query plans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow_id", "status"), [(None, None), ("f", None), (None, "FAILED"), ("f", "FAILED")]
)
def test_list_runs_uses_indexes(
    store: SqliteStateStore, flow_id: str | None, status: str | None
) -> None:
    sql, params = sqlite_backend.list_runs_query(flow_id, status, 20)
    plan = [row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    assert any("USING INDEX" in step and " r " in f" {step} " for step in plan), plan
    assert any("SEARCH j USING" in step and "INDEX" in step for step in plan), plan
    assert not [step for step in plan if step.startswith("SCAN") and "INDEX" not in step], plan
    assert not [step for step in plan if "steps" in step or "TEMP B-TREE" in step], plan


@pytest.mark.parametrize("query", ["get_jobs", "get_steps", "get_attempts", "find_runs"])
def test_run_reads_search_an_index(store: SqliteStateStore, query: str) -> None:
    sql = named_queries("sqlite")[query]
    params = {"flow_id": "f", "run_id": "r1"}
    plan = [row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    assert any(step.startswith("SEARCH") for step in plan), plan
    # Every table is read through an index; only a subquery's own rows may be scanned.
    assert not [s for s in plan if s.startswith("SCAN") and not s.startswith("SCAN (sub")], plan


# -- processes --------------------------------------------------------------------------------


@pytest.mark.slow
def test_lease_tokens_are_unique_and_ordered_across_processes(db: Path) -> None:
    """Four spawned processes contend for one key, 50 acquisitions each, with a real clock."""
    SqliteStateStore(db).close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    workers = [
        ctx.Process(target=contend, args=(str(db), "lock:shared", 50, 2000, barrier, out))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    records = sorted((at, token) for worker_records, _ in results for token, at in worker_records)
    tokens = [token for _, token in records]
    assert tokens == list(range(1, 201))
    assert sum(refusals for _, refusals in results) > 0  # the processes really contended


def test_a_step_write_refuses_to_join_an_open_transaction(store: SqliteStateStore) -> None:
    store._conn.execute("BEGIN")
    try:
        with pytest.raises(StateError, match="a transaction is open"):
            store.step_started(a_step(StepStatus.RUNNING))
    finally:
        store._conn.execute("ROLLBACK")
