"""Running a step with its explicit retry policy (no step is retried without ``retry:``).

Every attempt is recorded (attempt number, error, timings; the attempt history keeps them all).
Between attempts the runner emits ``step_retry`` and sleeps ``delay_seconds × backoff^(n-1)``
(capped by ``max_delay_seconds``); the sleep is interrupted by signals. Validation and template
errors, interruptions and a lost lock are never retried; ``retry_on`` narrows retries to the
named error classes (an exception matches its class name or any base class name).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aetherflow.errors import (
    LockLost,
    SpecError,
    StepInputsError,
    StepInterrupted,
    TemplateError,
)
from aetherflow.runner import events as ev
from aetherflow.runner.attempt import (
    AttemptResult,
    InterruptedStepError,
    StepCall,
    record_interrupted,
    record_skipped,
    run_attempt,
)
from aetherflow.runner.runstate import RunState, StepOutcome
from aetherflow.spec.flow import JobSpec, RetrySpec, StepSpec

__all__ = ["InterruptedStepError", "StepCall", "record_skipped", "run_inner_step", "run_step"]

_NEVER_RETRIED = (StepInputsError, TemplateError, SpecError, StepInterrupted, LockLost)
_NO_RETRY = RetrySpec()  # the policy of a step without retry: (only read, never changed)


def retryable(exc: BaseException | None, policy: RetrySpec) -> bool:
    """True when ``exc`` may be retried under ``policy``."""
    if exc is None or isinstance(exc, _NEVER_RETRIED) or not isinstance(exc, Exception):
        return False
    if policy.retry_on is None:
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return any(name in names for name in policy.retry_on)


def _delay(policy: RetrySpec, retry_number: int) -> float:
    delay = policy.delay_seconds * policy.backoff ** (retry_number - 1)
    if policy.max_delay_seconds is not None:
        delay = min(delay, policy.max_delay_seconds)
    return delay


def _first_attempt(rs: RunState, job: JobSpec, record_id: str) -> int:
    previous = rs.recorded.steps.get((job.id, record_id))
    return previous.attempt + 1 if previous is not None else 1


def run_call(rs: RunState, call: StepCall) -> AttemptResult:
    """Run ``call`` with its retry policy; the result of the last attempt."""
    policy = call.step.retry or _NO_RETRY
    attempt = _first_attempt(rs, call.job, call.record_id)
    for number in range(1, policy.max_attempts + 1):
        last = number == policy.max_attempts
        result = run_attempt(rs, call, attempt, final=last)
        if result.error is None or last or not retryable(result.error, policy):
            if result.error is not None and not last:
                _emit_final_error(rs, call, result)
            return result
        delay = _delay(policy, number)
        rs.bus.emit(
            ev.STEP_RETRY,
            logging.WARNING,
            job_id=call.job.id,
            step_id=call.record_id,
            step_type=call.step.type,
            attempt=attempt,
            delay_s=delay,
            error_class=type(result.error).__name__,
        )
        attempt += 1
        _sleep(rs, delay, call, attempt)
    raise AssertionError("unreachable: max_attempts >= 1")


def _emit_final_error(rs: RunState, call: StepCall, result: AttemptResult) -> None:
    """``step_error`` for a failure that is not retried although attempts were left."""
    info = result.outcome.error
    if info is None:
        return
    rs.bus.emit(
        ev.STEP_ERROR,
        logging.ERROR,
        job_id=call.job.id,
        step_id=call.record_id,
        step_type=call.step.type,
        attempt=result.outcome.attempt,
        error_class=info.cls,
        message=info.message,
        failure_class=info.failure_class,
    )


def _sleep(rs: RunState, seconds: float, call: StepCall, next_attempt: int) -> None:
    """Sleep between attempts; a signal during the sleep records the next attempt FAILED
    ``interrupted`` (with ``step_error``) and ends the step."""
    try:
        if seconds > 0:
            time.sleep(seconds)
        rs.interrupts.raise_pending()
    except (KeyboardInterrupt, StepInterrupted) as exc:
        outcome = record_interrupted(rs, call, next_attempt, exc)
        raise InterruptedStepError(outcome) from exc


def run_step(
    rs: RunState,
    job: JobSpec,
    step: StepSpec,
    steps_ctx: dict[str, Any],
    job_outputs: dict[str, Any],
) -> tuple[StepOutcome, dict[str, Any], str | None]:
    """Run a step of ``job`` (with retries); its outcome, promoted outputs and skip reason."""
    call = StepCall(job, step, steps_ctx, job_outputs, step.id, hand_over=True)
    result = run_call(rs, call)
    return result.outcome, result.promoted, result.reason


def run_inner_step(rs: RunState, job_id: str, outer_id: str, inner: StepSpec) -> AttemptResult:
    """Run the inner step of ``with_lock`` (inputs already rendered), recorded as
    ``<outer>/<inner>`` with its own events, attempts and retries."""
    job = next(j for j in rs.flow.jobs if j.id == job_id)
    call = StepCall(job, inner, {}, {}, f"{outer_id}/{inner.id}", prerendered=True)
    return run_call(rs, call)
