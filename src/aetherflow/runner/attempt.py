"""Executing one attempt of a step: render inputs, instantiate, run, normalise, promote, record.

Writes on the happy path: RUNNING (before the step runs), then the final row (after output
promotion succeeded) — two state writes per step. A step of the job loop hands its final row to
the next step's RUNNING write, which commits both (``RunState.hold_final``). A failure anywhere
(rendering, inputs model, the step itself, output serialisation or promotion) records the step
FAILED with the error class, redacted message and failure class, and emits ``step_error``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aetherflow.errors import StepError, StepInputsError, StepInterrupted
from aetherflow.runner import events as ev
from aetherflow.runner.fingerprint import step_fingerprint
from aetherflow.runner.interrupts import timeout_error
from aetherflow.runner.outputs import normalize_outputs, summarize_outputs
from aetherflow.runner.runstate import LeaseLostError, RunState, StepOutcome, elapsed_ms
from aetherflow.runner.step import RESULT_STATUSES, STEP_SKIPPED, StepResult
from aetherflow.spec.base import OnNoData
from aetherflow.spec.flow import JobSpec, StepSpec
from aetherflow.spec.issues import format_loc
from aetherflow.state.records import ErrorInfo, StepRecord, StepStatus
from aetherflow.templating.render import TEMPLATED, Phase, Scope, copy_untemplated, render_value


class InterruptedStepError(KeyboardInterrupt):
    """SIGINT/SIGTERM while a step ran; carries the step's recorded outcome to the job loop."""

    def __init__(self, outcome: StepOutcome) -> None:
        super().__init__(f"step {outcome.step_id} interrupted")
        self.outcome = outcome


def _scope(
    rs: RunState,
    job: JobSpec,
    steps_ctx: dict[str, Any],
    job_outputs: dict[str, Any],
    result: dict[str, Any],
) -> Scope:
    def on_missing(path: str, where: str) -> None:
        rs.bus.emit(ev.TEMPLATE_MISSING, logging.WARNING, job_id=job.id, path=path, where=where)

    return Scope(
        Phase.STEP,
        {
            "env": rs.env,
            "steps": steps_ctx,
            "job": {"id": job.id, "outputs": job_outputs},
            "jobs": rs.jobs_ctx,
            "run_id": rs.run_id,
            "flow_id": rs.flow_id,
            "result": result,
        },
        strict=rs.settings.strict_templates,
        on_missing=on_missing,
    )


def _inputs_error(step: StepSpec, exc: ValidationError) -> StepInputsError:
    problems = "; ".join(
        f"{format_loc(tuple(e['loc'])) or '(inputs)'}: {e['msg']}" for e in exc.errors()
    )
    return StepInputsError(f"inputs of step {step.id!r} ({step.type}) are invalid: {problems}")


def _interpret(raw: Any, step: StepSpec) -> tuple[StepStatus, Any, str | None]:
    if raw is None:
        return StepStatus.SUCCESS, {}, None
    if isinstance(raw, StepResult):
        if raw.status not in RESULT_STATUSES:
            raise StepError(
                f"step {step.id!r} returned status {raw.status!r}; a StepResult status must be "
                "SUCCESS or SKIPPED (raise an exception to fail)"
            )
        status = StepStatus.SKIPPED if raw.status == STEP_SKIPPED else StepStatus.SUCCESS
        return status, raw.as_output(), raw.reason
    return StepStatus.SUCCESS, raw, None


def _execute(rs: RunState, call: StepCall) -> tuple[StepStatus, Any, str | None]:
    job, step = call.job, call.step
    inputs = step.inputs if call.prerendered else copy_untemplated(step.inputs)
    if inputs is TEMPLATED:
        scope = _scope(rs, job, call.steps_ctx, call.job_outputs, {})
        inputs = render_value(step.inputs, scope, where=f"jobs.{job.id}.steps.{step.id}.inputs")
    cls = rs.registry.step(step.type)
    try:
        instance = cls(step.id, inputs, rs.ctx, job.id)
    except ValidationError as exc:
        raise _inputs_error(step, exc) from exc
    instance.record_id = call.record_id
    try:
        instance.validate()
    except ValueError as exc:  # the predecessor's required_inputs check: an input problem
        raise StepInputsError(str(exc)) from exc
    return _interpret(instance.run(), step)


def error_info(exc: BaseException, rs: RunState) -> ErrorInfo:
    """The recorded form of an exception (message redacted)."""
    if isinstance(exc, InterruptedStepError) and exc.__cause__ is not None:
        exc = exc.__cause__  # record what interrupted the step, not the internal carrier
    failure = getattr(exc, "failure_class", None) or (
        "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
    )
    message = str(exc) or (
        "interrupted by SIGINT" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
    )
    return ErrorInfo(cls=type(exc).__name__, message=rs.redact(message), failure_class=failure)


@dataclass(slots=True)
class StepCall:
    """One step to execute, and where its data comes from.

    Attributes:
        job: The job the step belongs to.
        step: The step spec.
        steps_ctx: Outputs of earlier steps of the job (``steps.*``).
        job_outputs: The job's promoted outputs so far (``job.outputs``).
        record_id: The id the step is recorded under (``<outer>/<inner>`` for ``with_lock``).
        prerendered: The inputs are already rendered (the inner step of ``with_lock``).
        hand_over: A step of the job loop: its final row may wait for the next step's RUNNING
            row (:meth:`RunState.hold_final`). Not for the inner step of ``with_lock``, whose
            result is recorded while the lock is held.
    """

    job: JobSpec
    step: StepSpec
    steps_ctx: dict[str, Any]
    job_outputs: dict[str, Any]
    record_id: str
    prerendered: bool = False
    hand_over: bool = False


@dataclass(slots=True)
class AttemptResult:
    """How one attempt ended (``error`` is the exception of a FAILED attempt)."""

    outcome: StepOutcome
    promoted: dict[str, Any]
    reason: str | None
    error: BaseException | None = None


def run_attempt(rs: RunState, call: StepCall, attempt: int, *, final: bool) -> AttemptResult:
    """Run one attempt: RUNNING write, execute (with the step's timeout), final write.

    Args:
        rs: The run.
        call: What to run.
        attempt: The attempt number recorded.
        final: No retry follows a failure (decides ``step_error`` vs a retry).

    Raises:
        InterruptedStepError: SIGINT/SIGTERM arrived (after recording the attempt FAILED).
        LeaseLostError: The run lease was lost; nothing more is written.
    """
    job, step = call.job, call.step
    base = StepRecord(
        flow_id=rs.flow_id,
        run_id=rs.run_id,
        job_id=job.id,
        step_id=call.record_id,
        step_type=step.type,
        status=StepStatus.RUNNING,
        attempt=attempt,
        started_at=rs.now_ms(),
        fingerprint=step_fingerprint(step),
        lock_token=rs.ctx.lock_token,
    )
    rs.start_step(base)
    logged = rs.bus.wants(logging.INFO)  # step_start/step_end are skipped when unobserved
    if logged:
        rs.bus.emit(
            ev.STEP_START,
            job_id=job.id,
            step_id=call.record_id,
            step_type=step.type,
            attempt=attempt,
        )
    start = time.perf_counter()
    rs.step_stack.append(call.record_id)
    try:
        status, output, promoted, reason = _attempt_body(rs, call)
        for fence in rs.fences:
            fence()  # with_lock: record the result only while the lock is still ours
    except LeaseLostError:
        raise
    except (Exception, KeyboardInterrupt) as exc:  # user step code boundary: recorded
        outcome = _record_failure(rs, call, base, exc, start, final=final)
        if isinstance(exc, KeyboardInterrupt | StepInterrupted):
            raise InterruptedStepError(outcome) from exc
        return AttemptResult(outcome, {}, None, exc)
    finally:
        rs.step_stack.pop()
    duration = elapsed_ms(start)
    final_row = _final(
        base,
        status,
        rs.now_ms(),
        outputs=rs.redactor.redact_value(output),
        promoted=rs.redactor.redact_value(promoted),
    )
    end_fields = None
    if logged:
        end_fields = {
            "job_id": job.id,
            "step_id": call.record_id,
            "step_type": step.type,
            "attempt": attempt,
            "status": status.value,
            "duration_ms": duration,
            "outputs_summary": summarize_outputs(output),
            "skip_reason": reason if status is StepStatus.SKIPPED else None,
        }
    rs.hold_final(final_row, end_fields)  # written with the next step's RUNNING row
    if not call.hand_over:
        rs.release_final()  # the inner step of with_lock: recorded while the lock is held
    outcome = StepOutcome(call.record_id, step.type, status, attempt, duration, output)
    return AttemptResult(outcome, promoted, reason)


def record_interrupted(
    rs: RunState, call: StepCall, attempt: int, exc: BaseException
) -> StepOutcome:
    """Record the attempt that a signal cancelled before it started (during a retry delay)."""
    base = StepRecord(
        flow_id=rs.flow_id,
        run_id=rs.run_id,
        job_id=call.job.id,
        step_id=call.record_id,
        step_type=call.step.type,
        status=StepStatus.RUNNING,
        attempt=attempt,
        started_at=rs.now_ms(),
        fingerprint=step_fingerprint(call.step),
        lock_token=rs.ctx.lock_token,
    )
    with rs.writing():
        rs.store.step_started(base)
    return _record_failure(rs, call, base, exc, time.perf_counter(), final=True)


def _attempt_body(
    rs: RunState, call: StepCall
) -> tuple[StepStatus, dict[str, Any], dict[str, Any], str | None]:
    job, step = call.job, call.step
    what = f"step {call.record_id!r} of job {job.id!r}"
    with rs.interrupts.deadline(
        step.timeout_seconds, lambda: timeout_error(what, step.timeout_seconds or 0)
    ):
        status, raw_output, reason = _execute(rs, call)
    if status is StepStatus.SKIPPED and step.on_no_data is OnNoData.FAIL:
        raise StepError(
            f"{what} returned no data ({reason or 'no reason given'}) and its on_no_data is fail",
            failure_class="no_data",
        )
    output = normalize_outputs(raw_output, max_bytes=rs.settings.max_output_bytes, what=what)
    promoted = _promote(rs, call, output, what)
    return status, output, promoted, reason


def _promote(rs: RunState, call: StepCall, output: dict[str, Any], what: str) -> dict[str, Any]:
    """Render the step's ``outputs:`` with ``result`` (nothing to do without ``outputs:``)."""
    step = call.step
    if not step.outputs:
        return {}
    result_scope = _scope(rs, call.job, call.steps_ctx, call.job_outputs, output)
    promoted = render_value(
        step.outputs, result_scope, where=f"jobs.{call.job.id}.steps.{step.id}.outputs"
    )
    return normalize_outputs(promoted, max_bytes=rs.settings.max_output_bytes, what=what)


def _final(
    base: StepRecord,
    status: StepStatus,
    ended: int,
    *,
    outputs: dict[str, Any] | None = None,
    promoted: dict[str, Any] | None = None,
    error: ErrorInfo | None = None,
) -> StepRecord:
    # A direct constructor call: dataclasses.replace costs more than the write on the hot path.
    return StepRecord(
        base.flow_id,
        base.run_id,
        base.job_id,
        base.step_id,
        base.step_type,
        status,
        base.attempt,
        base.started_at,
        ended,
        outputs,
        error,
        base.fingerprint,
        base.lock_token,
        promoted,
    )


def _record_failure(
    rs: RunState,
    call: StepCall,
    base: StepRecord,
    exc: BaseException,
    start: float,
    *,
    final: bool,
) -> StepOutcome:
    info = error_info(exc, rs)
    duration = elapsed_ms(start)
    ids = {"job_id": call.job.id, "step_id": call.record_id, "step_type": call.step.type}
    if rs.ctx.log.isEnabledFor(logging.DEBUG):
        rs.ctx.log.debug("step %s of job %s failed", call.record_id, call.job.id, exc_info=exc)
    with rs.writing():
        rs.store.step_finished(_final(base, StepStatus.FAILED, rs.now_ms(), error=info))
    if final or isinstance(exc, KeyboardInterrupt | StepInterrupted):
        rs.bus.emit(
            ev.STEP_ERROR,
            logging.ERROR,
            **ids,
            attempt=base.attempt,
            error_class=info.cls,
            message=info.message,
            failure_class=info.failure_class,
        )
    rs.bus.emit(
        ev.STEP_END,
        logging.ERROR,
        **ids,
        attempt=base.attempt,
        status=StepStatus.FAILED.value,
        duration_ms=duration,
        outputs_summary={},
    )
    return StepOutcome(
        call.record_id, call.step.type, StepStatus.FAILED, base.attempt, duration, None, info
    )


def record_skipped(rs: RunState, job: JobSpec, step: StepSpec, reason: str) -> StepOutcome:
    """Record a step SKIPPED without running it (job short-circuited by ``on_no_data``)."""
    now = rs.now_ms()
    with rs.writing():
        rs.store.step_finished(
            StepRecord(
                flow_id=rs.flow_id,
                run_id=rs.run_id,
                job_id=job.id,
                step_id=step.id,
                step_type=step.type,
                status=StepStatus.SKIPPED,
                attempt=0,
                started_at=now,
                ended_at=now,
                outputs={"skipped": True, "reason": reason},
                promoted={},
                fingerprint=step_fingerprint(step),
            )
        )
    rs.bus.emit(
        ev.STEP_END,
        job_id=job.id,
        step_id=step.id,
        step_type=step.type,
        attempt=0,
        status=StepStatus.SKIPPED.value,
        duration_ms=0,
        skip_reason=reason,
        outputs_summary={},
    )
    return StepOutcome(
        step.id, step.type, StepStatus.SKIPPED, 0, 0, {"skipped": True, "reason": reason}
    )
