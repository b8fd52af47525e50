"""An in-memory :class:`~aetherflow.state.store.StateStore` for unit tests and ``memory:`` URLs.

It keeps the SQL backends' semantics exactly (the contract suite proves it): outputs go through
the same JSON round trip, rows keep their first-recorded position when replaced, and ties in
``started_at`` are broken by insertion order like SQLite's ``rowid``.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading

from aetherflow.errors import StateError
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
    attempt_of,
    audit_of_release,
    check_limit,
    check_ttl,
    copy_outputs,
)

_RunKey = tuple[str, str]


def _job_copy(job: JobRecord) -> JobRecord:
    outputs = copy_outputs(job.outputs, what=f"outputs of job {job.job_id}")
    return dataclasses.replace(job, outputs=outputs or {})


def _step_copy(step: StepRecord) -> StepRecord:
    name = f"{step.job_id}.{step.step_id}"
    outputs = copy_outputs(step.outputs, what=f"outputs of step {name}")
    promoted = copy_outputs(step.promoted, what=f"promoted outputs of step {name}")
    return dataclasses.replace(step, outputs=outputs, promoted=promoted)


class MemoryStateStore:
    """Dict-backed state; every method holds one lock, so threads may share the store.

    Args:
        clock: Time source for lease expiry and :meth:`now_ms` (default: the system clock).
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._runs: dict[_RunKey, tuple[RunRecord, int]] = {}
        self._jobs: dict[_RunKey, dict[str, JobRecord]] = {}
        self._steps: dict[_RunKey, dict[tuple[str, str], StepRecord]] = {}
        self._attempts: dict[_RunKey, dict[tuple[str, str, int], AttemptRecord]] = {}
        self._audit: list[AuditRecord] = []
        self._leases: dict[str, Lease] = {}
        self._fencing: dict[str, int] = {}

    def __repr__(self) -> str:
        return "MemoryStateStore()"

    # -- time ---------------------------------------------------------------------------------
    def now_ms(self) -> int:
        """See :meth:`StateStore.now_ms`."""
        return self._clock.now_ms()

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, run: RunRecord) -> None:
        """See :meth:`StateStore.start_run`."""
        key = (run.flow_id, run.run_id)
        with self._lock:
            previous = self._runs.get(key)
            if previous is None:
                self._runs[key] = (run, next(self._order))
                return
            old, order = previous
            resumed = dataclasses.replace(run, started_at=old.started_at, resumed=True)
            self._runs[key] = (resumed, order)

    def get_run(self, flow_id: str, run_id: str) -> RunRecord | None:
        """See :meth:`StateStore.get_run`."""
        with self._lock:
            entry = self._runs.get((flow_id, run_id))
        return None if entry is None else entry[0]

    def find_runs(self, run_id: str) -> list[RunRecord]:
        """See :meth:`StateStore.find_runs`."""
        with self._lock:
            return [run for run in self._newest_first() if run.run_id == run_id]

    def finish_run(self, flow_id: str, run_id: str, status: RunStatus, ended_at: int) -> None:
        """See :meth:`StateStore.finish_run`.

        Raises:
            StateError: The run was never started.
        """
        key = (flow_id, run_id)
        with self._lock:
            entry = self._runs.get(key)
            if entry is None:
                raise StateError(
                    f"cannot finish run {run_id} (flow {flow_id}): it was never started"
                )
            run, order = entry
            self._runs[key] = (dataclasses.replace(run, status=status, ended_at=ended_at), order)

    def list_runs(
        self, *, flow_id: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunSummary]:
        """See :meth:`StateStore.list_runs`.

        Raises:
            ValueError: ``limit`` is negative.
        """
        check_limit(limit)
        with self._lock:
            runs = [
                run
                for run in self._newest_first()
                if (flow_id is None or run.flow_id == flow_id)
                and (status is None or run.status.value == status)
            ][:limit]
            return [RunSummary(run, self._first_failed_job(run)) for run in runs]

    def _newest_first(self) -> list[RunRecord]:
        entries = sorted(self._runs.values(), key=lambda e: (e[0].started_at, e[1]), reverse=True)
        return [run for run, _ in entries]

    def _first_failed_job(self, run: RunRecord) -> str | None:
        jobs = self._jobs.get((run.flow_id, run.run_id), {})
        return next((j.job_id for j in jobs.values() if j.status is JobStatus.FAILED), None)

    # -- jobs ---------------------------------------------------------------------------------
    def record_job(self, job: JobRecord) -> None:
        """See :meth:`StateStore.record_job`.

        Raises:
            StateError: The outputs are not JSON-serialisable.
        """
        stored = _job_copy(job)
        with self._lock:
            self._jobs.setdefault((job.flow_id, job.run_id), {})[job.job_id] = stored

    def get_jobs(self, flow_id: str, run_id: str) -> list[JobRecord]:
        """See :meth:`StateStore.get_jobs`."""
        with self._lock:
            jobs = list(self._jobs.get((flow_id, run_id), {}).values())
        return [_job_copy(job) for job in jobs]

    # -- steps --------------------------------------------------------------------------------
    def step_started(self, step: StepRecord) -> None:
        """See :meth:`StateStore.step_started`.

        Raises:
            StateError: The outputs are not JSON-serialisable.
        """
        stored = _step_copy(step)
        with self._lock:
            self._put_step(stored)

    def step_finished(self, step: StepRecord) -> None:
        """See :meth:`StateStore.step_finished`.

        Raises:
            StateError: The outputs are not JSON-serialisable.
        """
        stored = _step_copy(step)
        with self._lock:
            self._put_finished(stored)

    def step_handover(self, finished: StepRecord, started: StepRecord) -> None:
        """See :meth:`StateStore.step_handover`.

        Raises:
            StateError: The outputs are not JSON-serialisable (nothing is recorded).
        """
        done, running = _step_copy(finished), _step_copy(started)
        with self._lock:
            self._put_finished(done)
            self._put_step(running)

    def _put_finished(self, step: StepRecord) -> None:
        self._put_step(step)
        attempts = self._attempts.setdefault((step.flow_id, step.run_id), {})
        attempts[(step.job_id, step.step_id, step.attempt)] = attempt_of(step)

    def _put_step(self, step: StepRecord) -> None:
        steps = self._steps.setdefault((step.flow_id, step.run_id), {})
        steps[(step.job_id, step.step_id)] = step

    def get_steps(self, flow_id: str, run_id: str) -> list[StepRecord]:
        """See :meth:`StateStore.get_steps`."""
        with self._lock:
            steps = list(self._steps.get((flow_id, run_id), {}).values())
        return [_step_copy(step) for step in steps]

    def get_attempts(self, flow_id: str, run_id: str) -> list[AttemptRecord]:
        """See :meth:`StateStore.get_attempts`."""
        with self._lock:
            return list(self._attempts.get((flow_id, run_id), {}).values())

    def delete_steps(self, flow_id: str, run_id: str, job_id: str, step_ids: list[str]) -> None:
        """See :meth:`StateStore.delete_steps` (the attempt history is kept)."""
        with self._lock:
            steps = self._steps.get((flow_id, run_id), {})
            for step_id in step_ids:
                steps.pop((job_id, step_id), None)

    # -- leases and locks ---------------------------------------------------------------------
    def acquire_lease(
        self, key: str, holder: LeaseHolder, ttl_ms: int, *, reentrant_run: bool = False
    ) -> Lease | None:
        """See :meth:`StateStore.acquire_lease`.

        Raises:
            ValueError: ``ttl_ms`` is not positive.
        """
        check_ttl(ttl_ms)
        with self._lock:
            now = self._clock.now_ms()
            current = self._leases.get(key)
            if current is not None and current.expires_at > now:
                same_run = (current.holder.run_id, current.holder.flow_id) == (
                    holder.run_id,
                    holder.flow_id,
                )
                previous_process = current.holder.instance != holder.instance
                if not (reentrant_run and same_run and previous_process):
                    return None
            token = self._fencing.get(key, 0) + 1
            self._fencing[key] = token
            lease = Lease(key, token, holder, acquired_at=now, expires_at=now + ttl_ms)
            self._leases[key] = lease
            return lease

    def renew_lease(self, key: str, token: int, ttl_ms: int) -> Lease | None:
        """See :meth:`StateStore.renew_lease`.

        Raises:
            ValueError: ``ttl_ms`` is not positive.
        """
        check_ttl(ttl_ms)
        with self._lock:
            current = self._leases.get(key)
            if current is None or current.token != token:
                return None
            renewed = dataclasses.replace(current, expires_at=self._clock.now_ms() + ttl_ms)
            self._leases[key] = renewed
            return renewed

    def release_lease(self, key: str, token: int) -> bool:
        """See :meth:`StateStore.release_lease`."""
        with self._lock:
            current = self._leases.get(key)
            if current is None or current.token != token:
                return False
            del self._leases[key]
            return True

    def get_lease(self, key: str) -> Lease | None:
        """See :meth:`StateStore.get_lease`."""
        with self._lock:
            return self._leases.get(key)

    def list_leases(self, prefix: str = "") -> list[Lease]:
        """See :meth:`StateStore.list_leases`."""
        with self._lock:
            return [self._leases[k] for k in sorted(self._leases) if k.startswith(prefix)]

    def force_release(self, key: str, *, reason: str = "", actor: str = "") -> Lease | None:
        """See :meth:`StateStore.force_release`."""
        with self._lock:
            removed = self._leases.pop(key, None)
            self._audit.append(audit_of_release(self._clock.now_ms(), key, removed, reason, actor))
            return removed

    def list_audit(self, limit: int = 100) -> list[AuditRecord]:
        """See :meth:`StateStore.list_audit`."""
        check_limit(limit)
        with self._lock:
            return list(reversed(self._audit))[:limit]

    def fencing_token(self, key: str) -> int:
        """See :meth:`StateStore.fencing_token`."""
        with self._lock:
            return self._fencing.get(key, 0)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Nothing to release; the data stays readable until the store is dropped."""
