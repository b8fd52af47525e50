"""What the SQL backends share: record <-> column codecs, the SQL files shipped in the package,
the migration step type, and the argument checks every backend (memory included) applies.

Every SQL backend stores the same columns under the same names, so a row read as a mapping
(``sqlite3.Row``, a psycopg ``dict_row``) turns into a record here, and a record turns into the
named parameters of an ``INSERT`` (a step row, written on every step, into a tuple of values in
:data:`STEP_COLUMNS` order). JSON columns hold compact, key-sorted text so equal values are
equal bytes. SQL lives in ``sql/<backend>/``: numbered migration scripts and ``queries.sql``,
whose blocks each start with ``-- name: <name>`` and hold one statement.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from aetherflow.errors import StateError
from aetherflow.state.records import (
    AttemptRecord,
    AuditRecord,
    ErrorInfo,
    JobRecord,
    JobStatus,
    Lease,
    LeaseHolder,
    PluginRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
)
from aetherflow.templating.text import sorted_json


class Row(Protocol):
    """A result row readable by column name (``sqlite3.Row``, a psycopg ``dict_row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


Params = dict[str, Any]
_NAME_MARKER = "\n-- name:"


def sql_text(backend: str, name: str) -> str:
    """The text of ``sql/<backend>/<name>`` shipped inside the package."""
    folder = resources.files("aetherflow.state").joinpath("sql").joinpath(backend)
    return folder.joinpath(name).read_text(encoding="utf-8")


@functools.cache
def named_queries(backend: str) -> dict[str, str]:
    """The named queries of ``sql/<backend>/queries.sql`` (parsed once, on first use)."""
    queries: dict[str, str] = {}
    for block in ("\n" + sql_text(backend, "queries.sql")).split(_NAME_MARKER)[1:]:
        name, _, sql = block.partition("\n")
        queries[name.strip()] = sql.strip()
    return queries


@dataclass(frozen=True)
class Migration:
    """One schema upgrade, from ``version - 1`` to ``version``.

    Attributes:
        version: The schema version the database has after this step.
        load: Returns the SQL script of the step.
    """

    version: int
    load: Callable[[], str]


def check_ttl(ttl_ms: int) -> None:
    """Refuse a lease TTL that would create an already-expired lease.

    Raises:
        ValueError: ``ttl_ms`` is not positive.
    """
    if ttl_ms <= 0:
        raise ValueError(f"lease ttl_ms must be positive, got {ttl_ms}")


def check_limit(limit: int) -> None:
    """Refuse a negative ``list_runs`` limit (SQL would read it as "no limit").

    Raises:
        ValueError: ``limit`` is negative.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")


def dump_json(value: Any, *, what: str) -> str:
    """Encode a JSON-safe value as compact, key-sorted JSON text.

    ``NaN`` and infinities are refused so the text is standard JSON on every backend.

    Args:
        value: Dicts, lists, strings, numbers, booleans and None only.
        what: What is being stored, for the error message (``outputs of step s1``).

    Returns:
        The JSON text.

    Raises:
        StateError: The value is not JSON-serialisable.
    """
    try:
        return sorted_json(value)
    except (TypeError, ValueError) as exc:
        raise _refused(what, exc) from exc


def _refused(what: str, exc: Exception) -> StateError:
    return StateError(
        f"cannot store {what}: {exc}; outputs must be JSON-safe (dicts, lists, strings, "
        "finite numbers, booleans, null)"
    )


def load_json(text: str | None) -> Any:
    """Decode JSON text written by :func:`dump_json` (None stays None)."""
    return None if text is None else json.loads(text)


def copy_outputs(outputs: dict[str, Any] | None, *, what: str) -> dict[str, Any] | None:
    """A deep copy of ``outputs`` as it would come back from a database (JSON round trip).

    Raises:
        StateError: The outputs are not JSON-serialisable.
    """
    if outputs is None:
        return None
    copied: dict[str, Any] = json.loads(dump_json(outputs, what=what))
    return copied


def _dump_error(error: ErrorInfo | None) -> str | None:
    return None if error is None else dump_json(error.as_dict(), what="error")


def _load_error(text: str | None) -> ErrorInfo | None:
    return None if text is None else ErrorInfo.from_dict(json.loads(text))


def run_params(run: RunRecord) -> Params:
    """The named parameters of a ``runs`` row."""
    plugins = [{"path": p.path, "sha256": p.sha256} for p in run.plugins]
    return {
        "flow_id": run.flow_id,
        "run_id": run.run_id,
        "status": run.status.value,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "flow_sha256": run.flow_sha256,
        "bundle_fingerprint": run.bundle_fingerprint,
        "mode": run.mode,
        "aetherflow_version": run.aetherflow_version,
        "host": run.host,
        "pid": run.pid,
        "plugins": dump_json(plugins, what=f"plugins of run {run.run_id}"),
        "selected_job": run.selected_job,
        "resumed": int(run.resumed),
    }


def run_from_row(row: Row) -> RunRecord:
    """The run stored in a ``runs`` row."""
    plugins = tuple(PluginRecord(p["path"], p["sha256"]) for p in json.loads(row["plugins"]))
    return RunRecord(
        flow_id=row["flow_id"],
        run_id=row["run_id"],
        status=RunStatus(row["status"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        flow_sha256=row["flow_sha256"],
        bundle_fingerprint=row["bundle_fingerprint"],
        mode=row["mode"],
        aetherflow_version=row["aetherflow_version"],
        host=row["host"],
        pid=row["pid"],
        plugins=plugins,
        selected_job=row["selected_job"],
        resumed=bool(row["resumed"]),
    )


def job_params(job: JobRecord) -> Params:
    """The named parameters of a ``jobs`` row (``seq`` is assigned by the backend)."""
    return {
        "flow_id": job.flow_id,
        "run_id": job.run_id,
        "job_id": job.job_id,
        "status": job.status.value,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "outputs": dump_json(job.outputs, what=f"outputs of job {job.job_id}"),
        "reason": job.reason,
        "skip_reason": job.skip_reason,
        "skip_trigger": job.skip_trigger,
        "error": _dump_error(job.error),
    }


def job_from_row(row: Row) -> JobRecord:
    """The job stored in a ``jobs`` row."""
    return JobRecord(
        flow_id=row["flow_id"],
        run_id=row["run_id"],
        job_id=row["job_id"],
        status=JobStatus(row["status"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outputs=load_json(row["outputs"]),
        reason=row["reason"],
        skip_reason=row["skip_reason"],
        skip_trigger=row["skip_trigger"],
        error=_load_error(row["error"]),
    )


STEP_COLUMNS = (
    "flow_id",
    "run_id",
    "job_id",
    "step_id",
    "step_type",
    "status",
    "attempt",
    "started_at",
    "ended_at",
    "outputs",
    "promoted",
    "error",
    "fingerprint",
    "lock_token",
)
"""The columns of a ``steps`` row that a record sets (``seq`` is assigned by the backend)."""


def step_values(step: StepRecord) -> tuple[Any, ...]:
    """The values of a ``steps`` row, in :data:`STEP_COLUMNS` order."""
    outputs = promoted = None
    which = "outputs"
    try:  # the error message is only built when it is needed
        if step.outputs is not None:
            outputs = sorted_json(step.outputs)
        which = "promoted outputs"
        if step.promoted is not None:
            promoted = sorted_json(step.promoted)
    except (TypeError, ValueError) as exc:
        raise _refused(f"{which} of step {step.job_id}.{step.step_id}", exc) from exc
    return (
        step.flow_id,
        step.run_id,
        step.job_id,
        step.step_id,
        step.step_type,
        step.status,  # a StrEnum: SQLite binds it as its text
        step.attempt,
        step.started_at,
        step.ended_at,
        outputs,
        promoted,
        _dump_error(step.error),
        step.fingerprint,
        step.lock_token,
    )


def step_from_row(row: Row) -> StepRecord:
    """The step stored in a ``steps`` row."""
    return StepRecord(
        flow_id=row["flow_id"],
        run_id=row["run_id"],
        job_id=row["job_id"],
        step_id=row["step_id"],
        step_type=row["step_type"],
        status=StepStatus(row["status"]),
        attempt=row["attempt"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outputs=load_json(row["outputs"]),
        promoted=load_json(row["promoted"]),
        error=_load_error(row["error"]),
        fingerprint=row["fingerprint"],
        lock_token=row["lock_token"],
    )


def attempt_of(step: StepRecord) -> AttemptRecord:
    """The history entry that ``step_finished`` appends for a finished step."""
    return AttemptRecord(
        flow_id=step.flow_id,
        run_id=step.run_id,
        job_id=step.job_id,
        step_id=step.step_id,
        attempt=step.attempt,
        status=step.status,
        started_at=step.started_at,
        ended_at=step.ended_at,
        error=step.error,
    )


def attempt_from_row(row: Row) -> AttemptRecord:
    """The attempt stored in a ``step_attempts`` row."""
    return AttemptRecord(
        flow_id=row["flow_id"],
        run_id=row["run_id"],
        job_id=row["job_id"],
        step_id=row["step_id"],
        attempt=row["attempt"],
        status=StepStatus(row["status"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error=_load_error(row["error"]),
    )


def holder_params(holder: LeaseHolder) -> Params:
    """The named parameters of a lease holder (the owner columns of ``leases``)."""
    return {
        "run_id": holder.run_id,
        "flow_id": holder.flow_id,
        "job_id": holder.job_id,
        "step_id": holder.step_id,
        "host": holder.host,
        "pid": holder.pid,
        "instance": holder.instance,
    }


def lease_from_row(row: Row) -> Lease:
    """The lease stored in a ``leases`` row."""
    holder = LeaseHolder(
        run_id=row["run_id"],
        flow_id=row["flow_id"],
        job_id=row["job_id"],
        step_id=row["step_id"],
        host=row["host"],
        pid=row["pid"],
        instance=row["instance"],
    )
    return Lease(
        key=row["key"],
        token=row["token"],
        holder=holder,
        acquired_at=row["acquired_at"],
        expires_at=row["expires_at"],
    )


def audit_of_release(
    at: int, key: str, removed: Lease | None, reason: str, actor: str
) -> AuditRecord:
    """The audit record of a forced lock release."""
    detail: dict[str, Any] = {"reason": reason, "actor": actor, "token": None, "holder": None}
    if removed is not None:
        detail["token"] = removed.token
        detail["holder"] = {
            "run_id": removed.holder.run_id,
            "flow_id": removed.holder.flow_id,
            "job_id": removed.holder.job_id,
            "step_id": removed.holder.step_id,
            "host": removed.holder.host,
            "pid": removed.holder.pid,
        }
    return AuditRecord(at=at, action="lock_forced_release", key=key, detail=detail)


def audit_params(record: AuditRecord) -> Params:
    """The named parameters of an ``audit`` row."""
    return {
        "at": record.at,
        "action": record.action,
        "key": record.key,
        "detail": dump_json(record.detail, what="audit detail"),
    }


def audit_from_row(row: Row) -> AuditRecord:
    """The audit record stored in an ``audit`` row."""
    return AuditRecord(
        at=row["at"], action=row["action"], key=row["key"], detail=load_json(row["detail"]) or {}
    )
