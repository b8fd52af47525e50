"""Statuses and the records the state store keeps (persisted by value, defined once)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class RunStatus(enum.StrEnum):
    """Status of a run. ``ABANDONED`` is derived for display (RUNNING with an expired lease)."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"
    ABANDONED = "ABANDONED"


class JobStatus(enum.StrEnum):
    """Status of a job."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    SKIPPED = "SKIPPED"


class StepStatus(enum.StrEnum):
    """Status of a step."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


DONE_STEP_STATUSES = frozenset({StepStatus.SUCCESS, StepStatus.SKIPPED})


@dataclass(frozen=True)
class ErrorInfo:
    """A recorded error: class name, redacted message, failure class."""

    cls: str
    message: str
    failure_class: str = "error"

    def as_dict(self) -> dict[str, str]:
        """The JSON shape used in ``runs show --json``."""
        return {"class": self.cls, "message": self.message, "failure_class": self.failure_class}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        """Inverse of :meth:`as_dict`."""
        return cls(
            cls=str(data.get("class", "")),
            message=str(data.get("message", "")),
            failure_class=str(data.get("failure_class", "error")),
        )


@dataclass(frozen=True)
class PluginRecord:
    """A plugin file (or entry point) loaded by a run."""

    path: str
    sha256: str


@dataclass(frozen=True)
class RunRecord:
    """One run of one flow (``flow_id`` + ``run_id`` is the key)."""

    flow_id: str
    run_id: str
    status: RunStatus
    started_at: int
    ended_at: int | None = None
    flow_sha256: str | None = None
    bundle_fingerprint: str | None = None
    mode: str = "internal_fast"
    aetherflow_version: str = ""
    host: str = ""
    pid: int = 0
    plugins: tuple[PluginRecord, ...] = ()
    selected_job: str | None = None
    resumed: bool = False


@dataclass(frozen=True)
class JobRecord:
    """The latest state of one job of a run."""

    flow_id: str
    run_id: str
    job_id: str
    status: JobStatus
    started_at: int | None = None
    ended_at: int | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    skip_reason: str | None = None
    skip_trigger: str | None = None
    error: ErrorInfo | None = None


@dataclass(slots=True)
class StepRecord:
    """The latest attempt of one step of a run.

    Not frozen, unlike the other records: a run builds two per step, and a frozen dataclass
    sets each of its fourteen fields through ``object.__setattr__`` (about three times the cost
    of building it). Treat it as a value all the same: stores copy what they keep.
    """

    flow_id: str
    run_id: str
    job_id: str
    step_id: str
    step_type: str
    status: StepStatus
    attempt: int = 1
    started_at: int | None = None
    ended_at: int | None = None
    outputs: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    fingerprint: str | None = None
    lock_token: int | None = None
    promoted: dict[str, Any] | None = None
    """The values this step's ``outputs:`` promoted into the job outputs (restored on resume)."""


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt of a step (the audit history of retries)."""

    flow_id: str
    run_id: str
    job_id: str
    step_id: str
    attempt: int
    status: StepStatus
    started_at: int | None
    ended_at: int | None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease or lock."""

    run_id: str
    flow_id: str
    job_id: str | None = None
    step_id: str | None = None
    host: str = ""
    pid: int = 0
    instance: str = ""
    """A random id of the holding process (host + pid can repeat across container restarts)."""

    def describe(self) -> str:
        """``run R (flow F) pid P on host H``."""
        return f"run {self.run_id} (flow {self.flow_id}) pid {self.pid} on host {self.host}"


@dataclass(frozen=True)
class Lease:
    """A held lease (run lease or lock) with its fencing token."""

    key: str
    token: int
    holder: LeaseHolder
    acquired_at: int
    expires_at: int


@dataclass(frozen=True)
class AuditRecord:
    """An operator action recorded for audit (e.g. a forced lock release)."""

    at: int
    action: str
    key: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    """One line of ``runs list``."""

    run: RunRecord
    failed_job: str | None
