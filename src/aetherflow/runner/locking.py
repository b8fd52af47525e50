"""Locks for steps and scopes: acquire with waiting, heartbeat, fencing, loss → cancellation.

* ``with_lock`` (through :class:`RunServices`): take ``lock_key``, run the inner step as
  ``<outer>/<inner>`` with the fencing token in ``ctx.lock_token`` (and
  ``AETHERFLOW_LOCK_KEY``/``AETHERFLOW_LOCK_TOKEN`` for processes), record its result only while
  the lock is still held with the same token, release in ``finally``.
* ``flow.locks.scope``: ``flow`` holds ``flow:<flow_id>`` for the whole run, ``job`` holds
  ``job:<flow_id>:<job_id>`` while each job runs.

If a heartbeat finds the lock lost (expired and taken over), the step that runs under it is
interrupted with :class:`~aetherflow.errors.LockLost` (failure class ``lost_lock``); a running
process group is terminated by the process runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from aetherflow.errors import LockLost, StepError
from aetherflow.runner import events as ev
from aetherflow.runner.attempt import AttemptResult
from aetherflow.runner.lease import HeldLease, iso_ms, process_instance
from aetherflow.runner.process import DEFAULT_KILL_GRACE_SECONDS, ProcessResult, run_process
from aetherflow.runner.runstate import RunState
from aetherflow.runner.step import STEP_SKIPPED, StepResult
from aetherflow.runner.stepexec import run_inner_step
from aetherflow.spec.flow import StepSpec
from aetherflow.state.records import Lease, LeaseHolder, StepStatus


class TimeSleeper:
    """Real sleeping; a signal handler raising in the main thread interrupts it."""

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; never reports an early wake-up (signals raise instead)."""
        time.sleep(seconds)
        return False

    def interrupt(self) -> None:
        """Nothing to do: signals interrupt ``time.sleep`` by raising."""


def _holder_fields(lease: Lease | None) -> dict[str, Any]:
    if lease is None:
        return {"holder": None, "expires_at": None}
    return {"holder": lease.holder.describe(), "expires_at": iso_ms(lease.expires_at)}


class ScopedLock:
    """One lock taken for a block of the run, with its events; releasable early (once)."""

    def __init__(
        self,
        rs: RunState,
        key: str,
        *,
        ttl_seconds: float,
        job_id: str | None = None,
        step_id: str | None = None,
        stops_run: bool = False,
    ) -> None:
        self.rs = rs
        self.ids = {"job_id": job_id, "step_id": step_id, "key": key}
        self.stops_run = stops_run
        holder = LeaseHolder(
            run_id=rs.run_id,
            flow_id=rs.flow_id,
            job_id=job_id,
            step_id=step_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            instance=process_instance(),
        )
        self.held = HeldLease(
            rs.store, key, holder, ttl_seconds, on_lost=self._lost, reentrant_run=True
        )
        self._released = False

    def _lost(self) -> None:
        key = self.held.key
        self.rs.bus.emit(ev.LOCK_LOST, logging.ERROR, **self.ids, token=self.held.token)
        if self.stops_run:
            self.rs.stop_reason = f"lock {key} was lost"
        self.rs.interrupts.request(
            LockLost(
                f"lock {key!r} was lost (it expired and was taken over, or was force-released)"
            )
        )

    def acquire(self, wait_seconds: float, poll_seconds: float = 1.0) -> Lease:
        """Take the lock, waiting up to ``wait_seconds``.

        Raises:
            LockNotAcquired: Still busy after waiting.
        """
        lease = self.held.acquire_waiting(
            wait_seconds,
            poll_seconds,
            TimeSleeper(),
            on_wait=lambda current: self.rs.bus.emit(
                ev.LOCK_WAIT, **self.ids, wait_seconds=wait_seconds, **_holder_fields(current)
            ),
        )
        self.rs.bus.emit(ev.LOCK_ACQUIRED, **self.ids, token=lease.token, **_holder_fields(lease))
        return lease

    def release(self) -> None:
        """Release (once) and emit ``lock_released`` unless the lock was lost."""
        if self._released:
            return
        self._released = True
        with self.rs.interrupts.critical():
            was_lost = self.held.lost.is_set()
            token = self.held.token
            self.held.release()
        if not was_lost:
            self.rs.bus.emit(ev.LOCK_RELEASED, **self.ids, token=token)


@contextlib.contextmanager
def held_lock(
    rs: RunState,
    key: str,
    *,
    ttl_seconds: float,
    wait_seconds: float,
    poll_seconds: float = 1.0,
    job_id: str | None = None,
    step_id: str | None = None,
    stops_run: bool = False,
) -> Iterator[ScopedLock]:
    """Hold ``key`` for the block (waiting up to ``wait_seconds``).

    Args:
        stops_run: Losing the lock stops the whole run (``locks.scope: flow``).

    Raises:
        LockNotAcquired: Still busy after waiting.
    """
    lock = ScopedLock(
        rs, key, ttl_seconds=ttl_seconds, job_id=job_id, step_id=step_id, stops_run=stops_run
    )
    lock.acquire(wait_seconds, poll_seconds)
    try:
        yield lock
    finally:
        lock.release()


class RunServices:
    """What the runner offers steps that orchestrate other steps (``with_lock``)."""

    def __init__(self, rs: RunState) -> None:
        self.rs = rs

    def with_lock(
        self,
        *,
        job_id: str,
        step_id: str,
        lock_key: str,
        inner: Mapping[str, Any],
        ttl_seconds: float,
        wait_seconds: float,
        poll_seconds: float,
    ) -> StepResult:
        """Run ``inner`` (already rendered) while holding ``lock_key``; the inner step's result.

        Raises:
            LockNotAcquired: The lock stayed busy for ``wait_seconds``.
            LockLost: The lock was lost while the inner step ran.
            StepError: The inner step failed (its error class and message).
        """
        rs = self.rs
        spec = StepSpec.model_validate(
            {
                "id": inner.get("id") or f"{step_id}_inner",
                **{k: v for k, v in inner.items() if k != "id"},
            }
        )
        with held_lock(
            rs,
            lock_key,
            ttl_seconds=ttl_seconds,
            wait_seconds=wait_seconds,
            poll_seconds=poll_seconds,
            job_id=job_id,
            step_id=step_id,
        ) as lock:
            outer = rs.step_stack[-1] if rs.step_stack else step_id
            result = self._run_fenced(lock.held, job_id, outer, spec)
        return _as_step_result(result, lock_key)

    def run_process(
        self,
        command: Sequence[str] | str,
        *,
        shell: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout_seconds: float | None = None,
        kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
        stdout: Any = None,
        stderr: Any = None,
        on_start: Callable[[Any], None] | None = None,
    ) -> ProcessResult:
        """Run a child process in its own group, tied to the run: signals, a step timeout or a
        lost lock end the whole group. Inside ``with_lock`` the env gets
        ``AETHERFLOW_LOCK_KEY``/``AETHERFLOW_LOCK_TOKEN``."""
        return run_process(
            command,
            shell=shell,
            env=_run_process_env(self.rs, env),
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            timeout_seconds=timeout_seconds,
            kill_grace_seconds=kill_grace_seconds,
            interrupts=self.rs.interrupts,
            what=f"process {self.redact(command if isinstance(command, str) else command[0])!r}",
            on_start=on_start,
        )

    def redact(self, text: str) -> str:
        """``text`` with the run's registered secrets replaced by ``***``."""
        return self.rs.redactor.redact(text)

    def trace_env(self) -> dict[str, str]:
        """``{"TRACEPARENT": ...}`` of the running step's span when tracing is on, else ``{}``
        (for child processes that continue the trace)."""
        for observer in self.rs.bus.observers:
            traceparent = getattr(observer, "traceparent", None)
            value = traceparent() if callable(traceparent) else None
            if value:
                return {"TRACEPARENT": value}
        return {}

    def emit(self, name: str, level: int = logging.INFO, /, **fields: Any) -> None:
        """Emit a step-level event (``external_process_*``) through the run's event bus."""
        self.rs.bus.emit(name, level, **fields)

    @property
    def interrupts(self) -> Any:
        """The run's interruption controller."""
        return self.rs.interrupts

    def _run_fenced(
        self, held: HeldLease, job_id: str, step_id: str, spec: StepSpec
    ) -> AttemptResult:
        rs, ctx = self.rs, self.rs.ctx
        saved = (ctx.lock_key, ctx.lock_token)
        ctx.lock_key, ctx.lock_token = held.key, held.token

        def fence() -> None:
            if not held.still_held():
                raise LockLost(f"lock {held.key!r} was lost before the result could be recorded")

        rs.fences.append(fence)
        try:
            return run_inner_step(rs, job_id, step_id, spec)
        finally:
            rs.fences.remove(fence)
            ctx.lock_key, ctx.lock_token = saved


def _run_process_env(rs: RunState, env: Mapping[str, str] | None) -> dict[str, str]:
    """``env`` (default: the run's env snapshot, never ``os.environ``) plus the lock keys."""
    if env is None:
        env = rs.env
    extra: dict[str, str] = {}
    ctx = rs.ctx
    if ctx.lock_key is not None and ctx.lock_token is not None:
        extra = {"AETHERFLOW_LOCK_KEY": ctx.lock_key, "AETHERFLOW_LOCK_TOKEN": str(ctx.lock_token)}
    return {**env, **extra}


def _as_step_result(result: AttemptResult, lock_key: str) -> StepResult:
    outcome = result.outcome
    if outcome.status is StepStatus.FAILED:
        info = outcome.error
        failure = info.failure_class if info else "error"
        detail = f"{info.cls}: {info.message}" if info else "error"
        message = f"inner step {outcome.step_id} failed: {detail}"
        if failure == "lost_lock":
            raise LockLost(f"lock {lock_key!r} was lost while {outcome.step_id} ran")
        raise StepError(message, failure_class=failure)
    status = STEP_SKIPPED if outcome.status is StepStatus.SKIPPED else "SUCCESS"
    return StepResult(status=status, output=dict(outcome.outputs or {}), reason=result.reason)
