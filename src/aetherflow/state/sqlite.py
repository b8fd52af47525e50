"""The SQLite :class:`~aetherflow.state.store.StateStore` (the embedded default).

One connection for the store's lifetime, shared by the run's threads (the heartbeat renews leases
through it) under one lock. WAL journal, ``busy_timeout``, and every write is one short
``BEGIN IMMEDIATE`` transaction, so a write never has to upgrade a read lock (which SQLite
refuses without waiting) and lease acquisition is atomic across processes.

The two writes of every step are single statements run outside ``BEGIN``/``COMMIT`` instead:
SQLite runs such a statement as its own transaction, committed when ``execute`` returns, and
takes the write lock before the statement reads anything (waiting up to ``busy_timeout``): what
``BEGIN IMMEDIATE`` gives, in one call instead of three or four. The final write covers the
step row and the attempt row through a view's trigger (``0004_step_writes.sql``).

SQL lives in ``sql/sqlite/``: numbered migration scripts (applied by
:mod:`aetherflow.state.sqlite_schema`) and ``queries.sql`` (named queries).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args

from aetherflow.errors import StateError
from aetherflow.state import sqlite_schema
from aetherflow.state.clock import Clock, SystemClock
from aetherflow.state.records import (
    AttemptRecord,
    AuditRecord,
    JobRecord,
    JobStatus,
    Lease,
    LeaseHolder,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
)
from aetherflow.state.serialize import (
    STEP_COLUMNS,
    Params,
    attempt_from_row,
    audit_from_row,
    audit_of_release,
    audit_params,
    check_limit,
    check_ttl,
    holder_params,
    job_from_row,
    job_params,
    lease_from_row,
    named_queries,
    run_from_row,
    run_params,
    step_from_row,
    step_values,
)
from aetherflow.state.sqlite_bind import NullInlined, multi_row

Durability = Literal["normal", "full"]
MEMORY_PATH = ":memory:"
_SYNCHRONOUS: dict[str, str] = {"normal": "NORMAL", "full": "FULL"}
PAGE_SIZE = 1024
"""Page size of new state databases (SQLite's default is 4096; see ``_configure``)."""


def _q(name: str) -> str:
    return named_queries("sqlite")[name]


_PUT_STEP = NullInlined(_q("put_step"), STEP_COLUMNS)
_PUT_TWO_STEPS = NullInlined(multi_row(_q("put_step"), 2), STEP_COLUMNS * 2)


def _run_key(flow_id: str, run_id: str) -> Params:
    return {"flow_id": flow_id, "run_id": run_id}


class SqliteStateStore:
    """State in one SQLite file (or ``:memory:``).

    Args:
        path: Database file (its parent directory is created) or ``":memory:"``.
        clock: Time source for lease expiry and :meth:`now_ms` (default: the system clock).
        durability: ``normal`` (``synchronous=NORMAL``: survives a process crash; a power loss
            can only lose the last commits) or ``full`` (``synchronous=FULL``).
        busy_timeout_ms: How long a write waits for another process's write lock.

    Raises:
        StateError: The database cannot be opened, is not an AetherFlow state database, was
            written by a newer AetherFlow, or could not be migrated. Every method also raises
            it (with the path and the operation) when SQLite fails, e.g. a write lock held by
            another process for longer than ``busy_timeout_ms``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        durability: Durability = "normal",
        busy_timeout_ms: int = 30000,
    ) -> None:
        if durability not in get_args(Durability):
            raise StateError(f"unknown state durability {durability!r}; use 'normal' or 'full'")
        self._path = MEMORY_PATH if str(path) == MEMORY_PATH else str(Path(path))
        self._clock: Clock = clock or SystemClock()
        self._durability: Durability = durability
        self._lock = threading.Lock()
        self._conn = self._connect()
        try:
            self._configure(busy_timeout_ms)
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    @property
    def path(self) -> str:
        """The database file (or ``:memory:``)."""
        return self._path

    def _connect(self) -> sqlite3.Connection:
        with self._errors("open it"):
            if self._path != MEMORY_PATH:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def _configure(self, busy_timeout_ms: int) -> None:
        with self._errors("configure it"):
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # page_size and auto_vacuum only take effect before the first table exists; on an
            # existing database they are no-ops. Every commit appends each page it changed to
            # the WAL (a step's two commits change about six), so small pages keep the WAL
            # bytes per step, and the checkpoint work they cause, low. State prune reclaims
            # space with incremental vacuum.
            self._conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self._conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[self._durability]}")

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"state database {self._path}: could not {what}: {exc}") from exc

    @contextlib.contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(what):
            yield self._conn

    def _one(self, what: str, query: str, params: Params) -> sqlite3.Row | None:
        with self._read(what) as conn:
            row: sqlite3.Row | None = conn.execute(_q(query), params).fetchone()
            return row

    def _all(self, what: str, query: str, params: Params) -> list[sqlite3.Row]:
        with self._read(what) as conn:
            return conn.execute(_q(query), params).fetchall()

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT`` under the connection lock."""
        with self._lock, self._errors(what):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._read("read its schema version") as conn:
            version = sqlite_schema.read_version(conn, self._path)
        if sqlite_schema.is_current(version):
            return
        sqlite_schema.refuse_newer(version, self._path)
        with self._transaction("migrate its schema") as conn:
            sqlite_schema.upgrade(conn, self._path, self._clock.now_ms)

    def now_ms(self) -> int:
        """See :meth:`StateStore.now_ms` (here: the injected clock)."""
        return self._clock.now_ms()

    def start_run(self, run: RunRecord) -> None:
        """See :meth:`StateStore.start_run`."""
        with self._transaction(f"start run {run.run_id}") as conn:
            conn.execute(_q("start_run"), run_params(run))

    def get_run(self, flow_id: str, run_id: str) -> RunRecord | None:
        """See :meth:`StateStore.get_run`."""
        row = self._one(f"read run {run_id}", "get_run", {"flow_id": flow_id, "run_id": run_id})
        return None if row is None else run_from_row(row)

    def find_runs(self, run_id: str) -> list[RunRecord]:
        """See :meth:`StateStore.find_runs`."""
        rows = self._all(f"find run {run_id}", "find_runs", {"run_id": run_id})
        return [run_from_row(row) for row in rows]

    def finish_run(self, flow_id: str, run_id: str, status: RunStatus, ended_at: int) -> None:
        """See :meth:`StateStore.finish_run`.

        Raises:
            StateError: The run was never started.
        """
        params = {"flow_id": flow_id, "run_id": run_id, "status": status.value}
        missing = f"cannot finish run {run_id} (flow {flow_id}): it was never started"
        with self._transaction(f"finish run {run_id}") as conn:
            if conn.execute(_q("finish_run"), {**params, "ended_at": ended_at}).rowcount == 0:
                raise StateError(missing)

    def list_runs(
        self, *, flow_id: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunSummary]:
        """See :meth:`StateStore.list_runs`.

        Raises:
            ValueError: ``limit`` is negative.
        """
        check_limit(limit)
        with self._read("list runs") as conn:
            rows = conn.execute(*list_runs_query(flow_id, status, limit)).fetchall()
        return [RunSummary(run_from_row(row), row["failed_job"]) for row in rows]

    def record_job(self, job: JobRecord) -> None:
        """See :meth:`StateStore.record_job`. (outputs must be JSON-safe)."""
        params = job_params(job)
        with self._transaction(f"record job {job.job_id}") as conn:
            conn.execute(_q("record_job"), params)

    def get_jobs(self, flow_id: str, run_id: str) -> list[JobRecord]:
        """See :meth:`StateStore.get_jobs`."""
        rows = self._all(f"read jobs of run {run_id}", "get_jobs", _run_key(flow_id, run_id))
        return [job_from_row(row) for row in rows]

    def step_started(self, step: StepRecord) -> None:
        """See :meth:`StateStore.step_started`: one statement, committed on return."""
        self._write_steps(step.step_id, _PUT_STEP, step_values(step))

    def step_finished(self, step: StepRecord) -> None:
        """See :meth:`StateStore.step_finished`: one statement, committed on return. The step
        row is the attempt's record; the attempt it replaces, if any, was moved to the history
        when this attempt started (``0005_attempt_history.sql``)."""
        self._write_steps(step.step_id, _PUT_STEP, step_values(step))

    def step_handover(self, finished: StepRecord, started: StepRecord) -> None:
        """See :meth:`StateStore.step_handover`: one statement writes both rows (a statement
        is atomic), committed on return.

        ``seq`` (informational, ``0004_step_writes.sql``) is computed once for the statement:
        right for ``started`` when ``finished`` already has its row, as a finishing step does;
        order is kept by rowid either way.
        """
        values = step_values(finished) + step_values(started)
        self._write_steps(f"{finished.step_id} and {started.step_id}", _PUT_TWO_STEPS, values)

    def _write_steps(self, what: str, statement: NullInlined, values: tuple[Any, ...]) -> None:
        # The hot path of every step: one autocommit statement, no context-manager layers.
        sql, bound = statement.bind(values)
        with self._lock:
            try:
                if self._conn.in_transaction:  # the write would not commit on its own
                    raise sqlite3.OperationalError("a transaction is open on the connection")
                self._conn.execute(sql, bound)
            except (sqlite3.Error, OSError) as exc:
                raise StateError(
                    f"state database {self._path}: could not record step {what}: {exc}"
                ) from exc

    def get_steps(self, flow_id: str, run_id: str) -> list[StepRecord]:
        """See :meth:`StateStore.get_steps`."""
        rows = self._all(f"read steps of run {run_id}", "get_steps", _run_key(flow_id, run_id))
        return [step_from_row(row) for row in rows]

    def get_attempts(self, flow_id: str, run_id: str) -> list[AttemptRecord]:
        """See :meth:`StateStore.get_attempts`."""
        key = _run_key(flow_id, run_id)
        rows = self._all(f"read attempts of run {run_id}", "get_attempts", key)
        return [attempt_from_row(row) for row in rows]

    def delete_steps(self, flow_id: str, run_id: str, job_id: str, step_ids: list[str]) -> None:
        """See :meth:`StateStore.delete_steps` (the attempt history is kept)."""
        job = {**_run_key(flow_id, run_id), "job_id": job_id}
        with self._transaction(f"delete steps of job {job_id}") as conn:
            conn.executemany(_q("delete_step"), [{**job, "step_id": s} for s in step_ids])

    def acquire_lease(
        self, key: str, holder: LeaseHolder, ttl_ms: int, *, reentrant_run: bool = False
    ) -> Lease | None:
        """See :meth:`StateStore.acquire_lease` (atomic across processes).

        Raises:
            ValueError: ``ttl_ms`` is not positive.
        """
        check_ttl(ttl_ms)
        with self._transaction(f"acquire lease {key!r}") as conn:
            now = self._clock.now_ms()
            params = {"key": key, "now": now, "reentrant_run": reentrant_run}
            if conn.execute(_q("lease_is_held"), {**params, **holder_params(holder)}).fetchone():
                return None
            conn.execute(_q("bump_fencing"), {"key": key})
            token = int(conn.execute(_q("fencing_token"), {"key": key}).fetchone()[0])
            lease = Lease(key, token, holder, acquired_at=now, expires_at=now + ttl_ms)
            times = {"token": token, "acquired_at": now, "expires_at": lease.expires_at}
            conn.execute(_q("put_lease"), {**params, **times, **holder_params(holder)})
            return lease

    def renew_lease(self, key: str, token: int, ttl_ms: int) -> Lease | None:
        """See :meth:`StateStore.renew_lease`.

        Raises:
            ValueError: ``ttl_ms`` is not positive.
        """
        check_ttl(ttl_ms)
        with self._transaction(f"renew lease {key!r}") as conn:
            expires_at = self._clock.now_ms() + ttl_ms
            params = {"key": key, "token": token, "expires_at": expires_at}
            if conn.execute(_q("renew_lease"), params).rowcount == 0:
                return None
            return lease_from_row(conn.execute(_q("get_lease"), {"key": key}).fetchone())

    def release_lease(self, key: str, token: int) -> bool:
        """See :meth:`StateStore.release_lease`."""
        with self._transaction(f"release lease {key!r}") as conn:
            return conn.execute(_q("release_lease"), {"key": key, "token": token}).rowcount > 0

    def get_lease(self, key: str) -> Lease | None:
        """See :meth:`StateStore.get_lease`."""
        row = self._one(f"read lease {key!r}", "get_lease", {"key": key})
        return None if row is None else lease_from_row(row)

    def list_leases(self, prefix: str = "") -> list[Lease]:
        """See :meth:`StateStore.list_leases`."""
        params = {"prefix": prefix, "prefix_length": len(prefix)}
        return [lease_from_row(row) for row in self._all("list leases", "list_leases", params)]

    def force_release(self, key: str, *, reason: str = "", actor: str = "") -> Lease | None:
        """See :meth:`StateStore.force_release` (deletion and audit row in one transaction)."""
        with self._transaction(f"force-release lease {key!r}") as conn:
            row = conn.execute(_q("get_lease"), {"key": key}).fetchone()
            removed = None if row is None else lease_from_row(row)
            conn.execute(_q("force_release"), {"key": key})
            record = audit_of_release(self._clock.now_ms(), key, removed, reason, actor)
            conn.execute(_q("record_audit"), audit_params(record))
        return removed

    def list_audit(self, limit: int = 100) -> list[AuditRecord]:
        """See :meth:`StateStore.list_audit`."""
        check_limit(limit)
        return [
            audit_from_row(r)
            for r in self._all("read the audit trail", "list_audit", {"limit": limit})
        ]

    def fencing_token(self, key: str) -> int:
        """See :meth:`StateStore.fencing_token`."""
        row = self._one(f"read the fencing token of {key!r}", "fencing_token", {"key": key})
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        """Close the connection (idempotent); the store is unusable afterwards."""
        with self._lock:
            self._conn.close()


def list_runs_query(flow_id: str | None, status: str | None, limit: int) -> tuple[str, Params]:
    """The ``list_runs`` statement and its parameters (also used to check its query plan).

    Each filter adds a fixed condition rather than ``(:x IS NULL OR col = :x)``, which would
    keep SQLite from using the ``(flow_id, started_at)`` / ``(status, started_at)`` indexes.
    """
    conditions = []
    params: Params = {"failed": JobStatus.FAILED.value, "limit": limit}
    if flow_id is not None:
        conditions.append("r.flow_id = :flow_id")
        params["flow_id"] = flow_id
    if status is not None:
        conditions.append("r.status = :status")
        params["status"] = str(status)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return _q("list_runs").replace("/*where*/", where), params
