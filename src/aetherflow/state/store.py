"""The ``StateStore`` protocol: one contract, several backends (memory, SQLite, PostgreSQL).

Semantics every backend implements identically (the contract suite in ``tests/contract`` runs
against each one):

* Records are keyed by ``flow_id`` + ``run_id`` (+ ``job_id`` + ``step_id``). Times are UTC epoch
  milliseconds.
* ``step_started`` and ``step_finished`` are the only two writes of a step on the happy path;
  ``step_finished`` also appends the attempt to the history.
* Leases (run leases and locks share one table) are acquired atomically: free or expired →
  acquired with a new fencing token (the per-key counter + 1; counters never decrease and
  survive deletion of the lease); held by a live owner → ``None``. With ``reentrant_run`` a lease
  whose holder has the same ``run_id`` and ``flow_id`` but another ``instance`` (a previous
  process of the run) is taken over as if it had expired (the caller proved that process is gone
  by holding the run lease); the same instance asking again is refused. Renew and release only
  act when the token matches.
"""

from __future__ import annotations

from typing import Protocol

from aetherflow.state.records import (
    AttemptRecord,
    AuditRecord,
    JobRecord,
    Lease,
    LeaseHolder,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
)

SCHEMA_VERSION = 5


class StateStore(Protocol):
    """Where runs, jobs, steps, attempts, leases and fencing counters live."""

    # -- time ---------------------------------------------------------------------------------
    def now_ms(self) -> int:
        """The store's clock (PostgreSQL: the database clock)."""

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, run: RunRecord) -> None:
        """Insert the run, or (resume) set it RUNNING again with the new host/pid/started_at,
        keeping the first ``started_at`` and setting ``resumed``."""

    def get_run(self, flow_id: str, run_id: str) -> RunRecord | None:
        """The run, or None."""

    def find_runs(self, run_id: str) -> list[RunRecord]:
        """Every run with this id (across flows), newest first."""

    def finish_run(self, flow_id: str, run_id: str, status: RunStatus, ended_at: int) -> None:
        """Record the run's final status."""

    def list_runs(
        self, *, flow_id: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunSummary]:
        """Recent runs, newest first, with the first FAILED job (if any)."""

    # -- jobs ---------------------------------------------------------------------------------
    def record_job(self, job: JobRecord) -> None:
        """Insert or replace the job's row."""

    def get_jobs(self, flow_id: str, run_id: str) -> list[JobRecord]:
        """Every job row of the run, in the order they were first recorded."""

    # -- steps --------------------------------------------------------------------------------
    def step_started(self, step: StepRecord) -> None:
        """Write 1 of a step: insert or replace its row as RUNNING."""

    def step_finished(self, step: StepRecord) -> None:
        """Write 2 of a step: its final row and the attempt history entry, in one transaction."""

    def step_handover(self, finished: StepRecord, started: StepRecord) -> None:
        """Write 2 of a step and write 1 of the step after it in one transaction: both rows
        are recorded or neither (the runner's happy path: one commit per step)."""

    def get_steps(self, flow_id: str, run_id: str) -> list[StepRecord]:
        """Every step row of the run, in the order they were first recorded."""

    def get_attempts(self, flow_id: str, run_id: str) -> list[AttemptRecord]:
        """Every recorded attempt of the run, in order."""

    def delete_steps(self, flow_id: str, run_id: str, job_id: str, step_ids: list[str]) -> None:
        """Forget the given step rows (used when drifted steps are re-run)."""

    # -- leases and locks ---------------------------------------------------------------------
    def acquire_lease(
        self, key: str, holder: LeaseHolder, ttl_ms: int, *, reentrant_run: bool = False
    ) -> Lease | None:
        """Take ``key`` if free or expired (or held by the same run with ``reentrant_run``)."""

    def renew_lease(self, key: str, token: int, ttl_ms: int) -> Lease | None:
        """Extend the lease if it is still held with ``token``; None when it was lost."""

    def release_lease(self, key: str, token: int) -> bool:
        """Delete the lease if it is held with ``token``; True when deleted."""

    def get_lease(self, key: str) -> Lease | None:
        """The current lease row (expired or not), or None."""

    def list_leases(self, prefix: str = "") -> list[Lease]:
        """Every lease row whose key starts with ``prefix``, sorted by key."""

    def force_release(self, key: str, *, reason: str = "", actor: str = "") -> Lease | None:
        """Delete the lease whatever its owner (fencing counter kept); the deleted row.

        A ``lock_forced_release`` audit record (key, reason, actor, the deleted holder and token)
        is written in the same transaction.
        """

    def list_audit(self, limit: int = 100) -> list[AuditRecord]:
        """Recorded operator actions, newest first."""

    def fencing_token(self, key: str) -> int:
        """The last token issued for ``key`` (0 if never acquired)."""

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the connection."""
