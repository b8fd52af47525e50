"""The job loop: gating (selection, failure policy, ``depends_on``, ``when``) and job execution.

Every job ends recorded, with a ``job_end`` event — including BLOCKED and SKIPPED ones, and
every job after a failure under ``on_failure: stop`` (predecessor gaps G6, G9, G61).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from aetherflow.errors import LockNotAcquired, WhenError
from aetherflow.runner import events as ev
from aetherflow.runner.attempt import InterruptedStepError, error_info, record_skipped
from aetherflow.runner.locking import held_lock
from aetherflow.runner.resume import StepDecision, job_reusable, step_decisions
from aetherflow.runner.runstate import (
    JobOutcome,
    LeaseLostError,
    RunState,
    StepOutcome,
    elapsed_ms,
)
from aetherflow.runner.stepexec import run_step
from aetherflow.runner.workspace import cleanup_job_dir, prepare_job_dir
from aetherflow.spec.base import FailurePolicy, LockScope, OnNoData
from aetherflow.spec.flow import JobSpec, StepSpec
from aetherflow.state.records import ErrorInfo, JobRecord, JobStatus, StepStatus
from aetherflow.templating.when import parse_when


def run_jobs(rs: RunState, selected: str | None) -> None:
    """Run (or restore, block, skip) every job in YAML order."""
    failed_job: str | None = None
    for job in rs.flow.jobs:
        if selected is not None and job.id != selected:
            _expose_recorded(rs, job)
            continue
        rs.check_stop()
        if rs.stop_reason is not None:
            _end_without_running(
                rs, job, JobStatus.BLOCKED, reason=f"run stopped: {rs.stop_reason}"
            )
            continue
        decisions = step_decisions(job, rs.recorded, rs.on_drift, rs.drifted)
        if job_reusable(job, rs.recorded, decisions):
            _restore_job(rs, job, decisions)
            continue
        if failed_job is not None and rs.flow.flow.on_failure is FailurePolicy.STOP:
            _end_without_running(
                rs, job, JobStatus.BLOCKED, reason=f"run stopped after job {failed_job} failed"
            )
            continue
        blocked = _dependency_problem(rs, job)
        if blocked is not None:
            _end_without_running(rs, job, JobStatus.BLOCKED, reason=blocked)
            continue
        gate = _evaluate_when(rs, job)
        if gate is not True:
            if isinstance(gate, ErrorInfo):
                _end_without_running(rs, job, JobStatus.FAILED, reason=gate.message, error=gate)
                failed_job = failed_job or job.id
            else:
                _end_without_running(rs, job, JobStatus.SKIPPED, skip_reason="condition=false")
            continue
        outcome = execute_job(rs, job, decisions)
        if outcome.status is JobStatus.FAILED:
            failed_job = failed_job or job.id


def _publish(rs: RunState, outcome: JobOutcome) -> None:
    rs.outcomes[outcome.job_id] = outcome
    rs.jobs_ctx[outcome.job_id] = {
        "status": outcome.status.value,
        "outputs": outcome.outputs,
        "skip_reason": outcome.skip_reason,
    }


def _expose_recorded(rs: RunState, job: JobSpec) -> None:
    """Make a job that is not selected visible to later jobs through its recorded state."""
    record = rs.recorded.jobs.get(job.id)
    if record is not None:
        rs.jobs_ctx[job.id] = {
            "status": record.status.value,
            "outputs": dict(record.outputs),
            "skip_reason": record.skip_reason,
        }


def _restore_job(rs: RunState, job: JobSpec, decisions: list[StepDecision]) -> None:
    record = rs.recorded.jobs[job.id]
    steps = []
    for decision in decisions:
        assert decision.reuse is not None
        steps.append(_resumed_step(rs, job, decision))
    rs.bus.emit(
        ev.JOB_RESUMED, job_id=job.id, status=record.status.value, skip_reason=record.skip_reason
    )
    _publish(
        rs,
        JobOutcome(
            job.id,
            record.status,
            0,
            dict(record.outputs),
            record.skip_reason,
            record.reason,
            steps,
            resumed=True,
        ),
    )


def _resumed_step(rs: RunState, job: JobSpec, decision: StepDecision) -> StepOutcome:
    record = decision.reuse
    assert record is not None
    rs.bus.emit(
        ev.STEP_RESUMED,
        job_id=job.id,
        step_id=record.step_id,
        step_type=record.step_type,
        status=record.status.value,
        attempt=record.attempt,
    )
    return StepOutcome(
        record.step_id,
        record.step_type,
        record.status,
        record.attempt,
        0,
        record.outputs,
        None,
        resumed=True,
    )


def _dependency_problem(rs: RunState, job: JobSpec) -> str | None:
    for dep in job.depends_on:
        status = rs.jobs_ctx.get(dep, {}).get("status")
        if status != JobStatus.SUCCESS.value:
            return f"dependency {dep} is {status or 'NOT_RUN (not executed in this run)'}"
    return None


def _evaluate_when(rs: RunState, job: JobSpec) -> bool | ErrorInfo:
    if job.when is None:
        return True
    try:
        expr = parse_when(job.when, job_ids=[j.id for j in rs.flow.jobs])
        result = expr.evaluate(rs.jobs_ctx)
    except WhenError as exc:
        return ErrorInfo(
            cls=type(exc).__name__,
            message=rs.redact(f"when of job {job.id!r} failed: {exc}"),
        )
    for warning in result.warnings:
        rs.bus.emit(ev.WHEN_WARNING, logging.WARNING, job_id=job.id, message=warning)
    return result.value


def _end_without_running(
    rs: RunState,
    job: JobSpec,
    status: JobStatus,
    *,
    reason: str | None = None,
    skip_reason: str | None = None,
    error: ErrorInfo | None = None,
) -> None:
    now = rs.now_ms()
    with rs.writing():
        rs.store.record_job(
            JobRecord(
                flow_id=rs.flow_id,
                run_id=rs.run_id,
                job_id=job.id,
                status=status,
                started_at=now,
                ended_at=now,
                reason=reason,
                skip_reason=skip_reason,
                error=error,
            )
        )
    level = logging.ERROR if status is JobStatus.FAILED else logging.WARNING
    if status is JobStatus.SKIPPED:
        level = logging.INFO
    rs.bus.emit(
        ev.JOB_END,
        level,
        job_id=job.id,
        status=status.value,
        duration_ms=0,
        reason=reason,
        skip_reason=skip_reason,
    )
    _publish(rs, JobOutcome(job.id, status, 0, {}, skip_reason, reason))


def execute_job(rs: RunState, job: JobSpec, decisions: list[StepDecision]) -> JobOutcome:
    """Run a job's steps (reusing recorded ones) and record how it ended."""
    start = time.perf_counter()
    started_at = rs.now_ms()
    with rs.writing():
        rs.store.record_job(
            JobRecord(rs.flow_id, rs.run_id, job.id, JobStatus.RUNNING, started_at=started_at)
        )
    rs.bus.emit(ev.JOB_START, job_id=job.id)
    job_dir = rs.ctx.job_dir(job.id)
    prepare_job_dir(job_dir, rs.ctx.layout)
    steps: list[StepOutcome] = []
    try:
        with _job_scope_lock(rs, job):
            outputs, skip, failure = _run_steps(rs, job, decisions, steps)
    except LockNotAcquired as exc:
        info = error_info(exc, rs)
        return _finish(rs, job, JobStatus.FAILED, start, started_at, {}, None, info, steps)
    except LeaseLostError:
        raise
    except BaseException as exc:
        if isinstance(exc, InterruptedStepError):
            steps.append(exc.outcome)
        _finish(rs, job, JobStatus.FAILED, start, started_at, {}, None, error_info(exc, rs), steps)
        raise
    status = JobStatus.FAILED if failure else JobStatus.SKIPPED if skip else JobStatus.SUCCESS
    outcome = _finish(rs, job, status, start, started_at, outputs, skip, failure, steps)
    cleanup_job_dir(
        job_dir,
        rs.ctx.layout,
        rs.flow.flow.workspace.cleanup_policy,
        status,
        lambda path, exc: rs.bus.emit(
            ev.CLEANUP_ERROR,
            logging.WARNING,
            job_id=job.id,
            path=str(path),
            error_class=type(exc).__name__,
            message=str(exc),
        ),
    )
    return outcome


@contextlib.contextmanager
def _job_scope_lock(rs: RunState, job: JobSpec) -> Iterator[None]:
    """``locks.scope: job``: hold ``job:<flow_id>:<job_id>`` while the job's steps run."""
    locks = rs.flow.flow.locks
    if locks.scope is not LockScope.JOB:
        yield
        return
    with held_lock(
        rs,
        f"job:{rs.flow_id}:{job.id}",
        ttl_seconds=locks.ttl_seconds,
        wait_seconds=locks.wait_seconds,
        job_id=job.id,
    ):
        yield


def _run_steps(
    rs: RunState, job: JobSpec, decisions: list[StepDecision], outcomes: list[StepOutcome]
) -> tuple[dict[str, Any], str | None, ErrorInfo | None]:
    """Run or restore each step, appending to ``outcomes``; return outputs, skip, failure.

    The final row of the last step that ran is written before this returns or raises (a step's
    final row waits for the next step's RUNNING row: ``RunState.hold_final``).
    """
    try:
        found = _steps_in_order(rs, job, decisions, outcomes)
    except BaseException:
        rs.release_final(raise_pending=False)
        raise
    rs.release_final()
    return found


def _steps_in_order(
    rs: RunState, job: JobSpec, decisions: list[StepDecision], outcomes: list[StepOutcome]
) -> tuple[dict[str, Any], str | None, ErrorInfo | None]:
    steps_ctx: dict[str, Any] = {}
    job_outputs: dict[str, Any] = {}
    skip: str | None = None
    for step, decision in zip(job.steps, decisions, strict=True):
        if skip is not None:
            rs.release_final()
            outcomes.append(record_skipped(rs, job, step, skip))
            continue
        if decision.reuse is not None:
            rs.release_final()
            outcome = _resumed_step(rs, job, decision)
            job_outputs.update(decision.reuse.promoted or {})
            reason = (decision.reuse.outputs or {}).get("reason")
        else:
            rs.check_stop()
            outcome, promoted, reason = run_step(rs, job, step, steps_ctx, job_outputs)
            job_outputs.update(promoted)
        outcomes.append(outcome)
        if outcome.status is StepStatus.FAILED:
            return job_outputs, None, outcome.error
        steps_ctx[step.id] = outcome.outputs or {}
        if outcome.status is StepStatus.SKIPPED and _skips_job(step):
            skip = str(reason or "step requested skip_job")
    return job_outputs, skip, None


def _skips_job(step: StepSpec) -> bool:
    return step.on_no_data is OnNoData.SKIP_JOB


def _finish(
    rs: RunState,
    job: JobSpec,
    status: JobStatus,
    start: float,
    started_at: int,
    outputs: dict[str, Any],
    skip: str | None,
    error: ErrorInfo | None,
    steps: list[StepOutcome],
) -> JobOutcome:
    duration = elapsed_ms(start)
    reason = error.message if error else None
    with rs.writing():
        rs.store.record_job(
            JobRecord(
                flow_id=rs.flow_id,
                run_id=rs.run_id,
                job_id=job.id,
                status=status,
                started_at=started_at,
                ended_at=rs.now_ms(),
                outputs=rs.redactor.redact_value(outputs),
                reason=reason,
                skip_reason=skip,
                skip_trigger="step" if skip else None,
                error=error,
            )
        )
    level = logging.ERROR if status is JobStatus.FAILED else logging.INFO
    rs.bus.emit(
        ev.JOB_END,
        level,
        job_id=job.id,
        status=status.value,
        duration_ms=duration,
        skip_reason=skip,
        reason=reason,
    )
    outcome = JobOutcome(job.id, status, duration, outputs, skip, reason, steps)
    _publish(rs, outcome)
    return outcome
