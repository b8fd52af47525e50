"""The in-memory state of one executing run, shared by the job loop and the step executor."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aetherflow.errors import StepInterrupted
from aetherflow.runner import events as ev
from aetherflow.runner.context import RunContext
from aetherflow.runner.events import EventBus
from aetherflow.runner.interrupts import Interrupts
from aetherflow.runner.lease import RunLease
from aetherflow.runner.resume import OnDrift, Recorded
from aetherflow.runtime.redact import Redactor
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings
from aetherflow.spec.flow import FlowSpec
from aetherflow.state.records import ErrorInfo, JobStatus, StepRecord, StepStatus
from aetherflow.state.store import StateStore


@dataclass(slots=True)
class StepOutcome:
    """How one step ended in this run (or was restored)."""

    step_id: str
    step_type: str
    status: StepStatus
    attempt: int = 1
    duration_ms: int = 0
    outputs: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    resumed: bool = False

    def summary(self) -> dict[str, Any]:
        """The per-step entry of ``run_summary``."""
        return {
            "step_id": self.step_id,
            "step_type": self.step_type,
            "status": self.status.value,
            "attempt": self.attempt,
            "duration_ms": self.duration_ms,
        }


@dataclass
class JobOutcome:
    """How one job ended in this run (or was restored)."""

    job_id: str
    status: JobStatus
    duration_ms: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None
    reason: str | None = None
    steps: list[StepOutcome] = field(default_factory=list)
    resumed: bool = False

    def summary(self) -> dict[str, Any]:
        """The per-job entry of ``run_summary``."""
        return {
            "job_id": self.job_id,
            "status": self.status.value,
            "duration_ms": self.duration_ms,
            "skip_reason": self.skip_reason,
            "reason": self.reason,
            "steps": [s.summary() for s in self.steps],
        }


@dataclass(slots=True)
class HeldFinal:
    """A finished step's final row and ``step_end`` fields (None: not logged), not yet written."""

    record: StepRecord
    end_fields: dict[str, Any] | None


class LeaseLostError(StepInterrupted):
    """The run lease was lost: another process may own the run now; write nothing more."""


@dataclass
class RunState:
    """Everything the job loop and the step executor share during one run."""

    flow: FlowSpec
    run_id: str
    store: StateStore
    bus: EventBus
    settings: Settings
    env: Mapping[str, str]
    registry: Registry
    ctx: RunContext
    recorded: Recorded
    on_drift: OnDrift = OnDrift.FAIL
    drifted: set[tuple[str, str]] = field(default_factory=set)
    lease: RunLease | None = None
    redact: Callable[[str], str] = field(default=lambda text: text)
    jobs_ctx: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)
    stop_reason: str | None = None
    interrupts: Interrupts = field(default_factory=Interrupts)
    redactor: Redactor = field(default_factory=Redactor)
    fences: list[Callable[[], None]] = field(default_factory=list)
    step_stack: list[str] = field(default_factory=list)
    """Record ids of the steps running now (outer first): ``with_lock`` names its inner step."""
    held: HeldFinal | None = None
    """The final row of the step that just finished, while the job loop moves to the next step
    (see :meth:`hold_final`)."""

    @property
    def flow_id(self) -> str:
        """The flow id."""
        return self.flow.flow.id

    def now_ms(self) -> int:
        """The store's clock."""
        return self.store.now_ms()

    def writing(self) -> _Writing:
        """A state write: interruptions wait until it is done; refused once the lease is lost."""
        return _Writing(self)

    def guard_write(self) -> None:
        """Raise :class:`LeaseLostError` unless this process still holds the run lease."""
        if self.lease is not None and not self.lease.still_held():
            raise LeaseLostError(
                f"run lease of {self.run_id} was lost; another process may be running it"
            )

    def hold_final(self, record: StepRecord, end_fields: dict[str, Any] | None) -> None:
        """Keep a finished step's final row to write it with the next step's RUNNING row.

        The job loop goes straight from one step to the next, so both rows commit in one
        transaction (:meth:`start_step`): one commit per step instead of two, and the same
        guarantee, since the next step does nothing before its RUNNING row is written. Until
        then interruptions wait (a critical section) and ``step_end`` is not emitted: the log
        never reports a result the state does not have. Whatever does not start a step next
        writes the row first (:meth:`release_final`).
        """
        if self.held is not None:
            self.release_final()
        self.interrupts.enter_critical()
        self.held = HeldFinal(record, end_fields)

    def start_step(self, record: StepRecord) -> None:
        """Write 1 of a step (its RUNNING row), with the held final row of the step before it."""
        held = self.held
        if held is not None and self.interrupts.pending is not None:
            self.release_final()  # raises: the run stops before the next step starts
            held = None
        if held is None:
            with self.writing():
                self.store.step_started(record)
            return
        self.held = None
        try:
            with self.writing():
                self.store.step_handover(held.record, record)
        except BaseException:
            self.interrupts.exit_critical(raise_pending=False)
            raise
        self._ended(held)

    def release_final(self, *, raise_pending: bool = True) -> None:
        """Write the held final row on its own (nothing held: nothing to do).

        Args:
            raise_pending: Raise an interruption that arrived meanwhile (False while another
                exception is on its way out).
        """
        held = self.held
        if held is None:
            return
        self.held = None
        try:
            with self.writing():
                self.store.step_finished(held.record)
        except BaseException:
            self.interrupts.exit_critical(raise_pending=False)
            raise
        self._ended(held, raise_pending=raise_pending)

    def _ended(self, held: HeldFinal, *, raise_pending: bool = True) -> None:
        """The held row is written: ``step_end``, then interruptions may come through."""
        try:
            if held.end_fields is not None:
                self.bus.emit(ev.STEP_END, **held.end_fields)
        finally:
            self.interrupts.exit_critical(raise_pending=raise_pending)

    def check_stop(self) -> None:
        """Raise when the run must stop (lease lost) before starting more work."""
        if self.lease is not None and self.lease.lost.is_set():
            self.guard_write()


class _Writing:
    """The context manager of :meth:`RunState.writing` (two per step: no generator)."""

    __slots__ = ("_rs",)

    def __init__(self, rs: RunState) -> None:
        self._rs = rs

    def __enter__(self) -> None:
        interrupts = self._rs.interrupts
        interrupts.enter_critical()
        try:
            self._rs.guard_write()
        except BaseException:
            interrupts.exit_critical(raise_pending=False)
            raise

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._rs.interrupts.exit_critical(raise_pending=exc_type is None)


def elapsed_ms(start: float) -> int:
    """Milliseconds since ``time.perf_counter()`` value ``start``."""
    return int((time.perf_counter() - start) * 1000)
