"""``run_flow``: the lifecycle of one run (``30-execution.md``).

validate the file that will run → open the state store → plan only? → drift check → take the run
lease → record the run → job loop → record the final status → ``run_end`` + ``run_summary``
(always, also on failure or interruption) → release the lease → close connectors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aetherflow import __version__
from aetherflow.errors import ConfigError, SpecError, StateError, StepInterrupted
from aetherflow.runner import events as ev
from aetherflow.runner.connectors import ConnectorManager
from aetherflow.runner.context import RunContext, new_run_id
from aetherflow.runner.events import EventBus, Observer
from aetherflow.runner.flowmeta import injected_env
from aetherflow.runner.interrupts import Interrupts
from aetherflow.runner.jobloop import run_jobs
from aetherflow.runner.lease import RunLease, process_instance
from aetherflow.runner.loader import load_flow
from aetherflow.runner.locking import RunServices, held_lock
from aetherflow.runner.plan import PlanJob, build_plan
from aetherflow.runner.resources import ResourceResolver, SecretsHook
from aetherflow.runner.resume import Drift, OnDrift, Recorded, find_drift
from aetherflow.runner.runstate import LeaseLostError, RunState, elapsed_ms
from aetherflow.runner.validation import ValidationOptions
from aetherflow.runtime.plugins import LoadedPlugin
from aetherflow.runtime.profiles import load_profiles, profile_vars
from aetherflow.runtime.redact import ACTIVE, Redactor
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings
from aetherflow.runtime.snapshot import EnvSnapshot
from aetherflow.spec.base import LockScope, StateBackend
from aetherflow.spec.flow import STATE_FILE_NAME, FlowSpec
from aetherflow.state import open_state_store, state_exists
from aetherflow.state.clock import Clock
from aetherflow.state.records import JobStatus, LeaseHolder, PluginRecord, RunRecord, RunStatus
from aetherflow.state.store import StateStore

_RUN_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}\Z")
EXIT_SUCCESS, EXIT_FAILED, EXIT_INVALID, EXIT_BUSY = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class DriftError(SpecError):
    """Completed steps changed since they succeeded and ``--on-drift`` was not given."""

    def __init__(self, run_id: str, drifted: Sequence[Drift]) -> None:
        listed = ", ".join(f"{d.job_id}/{d.step_id}" for d in drifted)
        super().__init__(
            f"run {run_id}: {len(drifted)} completed step(s) changed since they ran: {listed}; "
            "re-run with --on-drift rerun (run them again, and the steps after them in their "
            "job) or --on-drift reuse (keep the recorded results)"
        )
        self.drifted = list(drifted)


@dataclass
class RunRequest:
    """Everything ``run_flow`` needs; the CLI builds it from the command line and environment."""

    flow_path: str
    env: Mapping[str, str]
    settings: Settings
    registry: Registry
    plugins: Sequence[LoadedPlugin] = ()
    run_id: str | None = None
    flow_job: str | None = None
    on_drift: OnDrift = OnDrift.FAIL
    plan_only: bool = False
    must_exist: bool = False
    observers: Sequence[Observer] = ()
    clock: Clock | None = None
    secrets: SecretsHook | None = None
    redactor: Redactor | None = None
    bundle_fingerprint: str | None = None
    """Where the run registers its secrets (the CLI passes its own, so that its final messages
    stay redacted after the run); a new one when None."""
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass
class RunResult:
    """How the run ended."""

    flow_id: str
    run_id: str
    status: RunStatus | None
    exit_code: int
    plan: list[PlanJob] | None = None
    summary: dict[str, Any] | None = None


def state_location(flow: FlowSpec, settings: Settings) -> str:
    """The state URL of a flow: its ``state.path`` or ``<state_root>/aetherflow.sqlite``."""
    state = flow.flow.state
    if state.backend is StateBackend.POSTGRES:
        return str(state.dsn)
    return state.path or str(Path(settings.state_root) / STATE_FILE_NAME)


def open_flow_store(flow: FlowSpec, settings: Settings, clock: Clock | None) -> StateStore:
    """Open the state store the flow's ``state:`` section names.

    Raises:
        ConfigError: The store cannot be opened.
    """
    location = state_location(flow, settings)
    try:
        return open_state_store(location, clock=clock, durability=flow.flow.state.durability.value)
    except StateError as exc:
        raise ConfigError(f"cannot open the state store of flow {flow.flow.id!r}: {exc}") from exc


def _check_request(req: RunRequest, flow: FlowSpec, run_id: str) -> None:
    if not _RUN_ID_RE.match(run_id):
        raise ConfigError(f"invalid run id {run_id!r}: use 1-128 characters of [A-Za-z0-9_.-]")
    if req.flow_job is not None and req.flow_job not in {j.id for j in flow.jobs}:
        known = ", ".join(j.id for j in flow.jobs)
        raise ConfigError(
            f"--flow-job {req.flow_job!r} is not a job of flow {flow.flow.id!r}; jobs: {known}"
        )


def run_flow(req: RunRequest) -> RunResult:
    """Validate and run (or resume, or plan) a flow.

    Raises:
        SpecError: The flow is invalid, or drifted steps without ``--on-drift`` (exit 2).
        ConfigError: Bad run id, unknown ``--flow-job``, unusable state store (exit 2).
        BusyError: Another live process runs this run id (exit 3).
    """
    options = ValidationOptions(
        env=req.env,
        registry=req.registry,
        env_strict=req.settings.validate_env_strict,
        secrets_configured=req.secrets is not None,
        work_root=req.settings.work_root,
        profiles_env=profile_vars(req.settings.profiles_file, req.settings.profiles_json),
    )
    loaded = load_flow(req.flow_path, options)
    flow = loaded.spec
    root = flow.flow.workspace.root or req.settings.work_root
    req = replace(req, env=EnvSnapshot({**req.env, **injected_env(req.env, root)}))
    run_id = req.run_id or new_run_id()
    _check_request(req, flow, run_id)
    location = state_location(flow, req.settings)
    if (req.plan_only or req.must_exist) and not state_exists(location):
        _require_existing(req, flow, run_id, None)
        plan = build_plan(flow, Recorded(), req.on_drift, req.flow_job)
        return RunResult(flow.flow.id, run_id, None, EXIT_SUCCESS, plan=plan)
    store = open_flow_store(flow, req.settings, req.clock)
    try:
        if req.must_exist:
            _require_existing(req, flow, run_id, store.get_run(flow.flow.id, run_id))
        if req.plan_only:
            recorded = Recorded.load(store, flow.flow.id, run_id)
            plan = build_plan(flow, recorded, req.on_drift, req.flow_job)
            return RunResult(flow.flow.id, run_id, None, EXIT_SUCCESS, plan=plan)
        return _run_with_lease(req, flow, loaded.sha256, run_id, store)
    finally:
        store.close()


def _require_existing(req: RunRequest, flow: FlowSpec, run_id: str, run: RunRecord | None) -> None:
    if req.must_exist and run is None:
        raise ConfigError(
            f"run {run_id} of flow {flow.flow.id!r} does not exist in its state store; "
            "use 'aetherflow run' to start a new run"
        )


def _run_with_lease(
    req: RunRequest, flow: FlowSpec, flow_sha: str, run_id: str, store: StateStore
) -> RunResult:
    holder = LeaseHolder(
        run_id=run_id,
        flow_id=flow.flow.id,
        host=req.host,
        pid=req.pid,
        instance=process_instance(),
    )
    interrupts = Interrupts()
    lease = RunLease(
        store,
        flow_id=flow.flow.id,
        run_id=run_id,
        holder=holder,
        ttl_seconds=req.settings.run_lease_seconds,
        on_lost=lambda: interrupts.request(
            LeaseLostError(f"run lease of {run_id} was lost; another process may be running it")
        ),
    )
    interrupts.install()
    try:
        lease.acquire()
        try:
            recorded = Recorded.load(store, flow.flow.id, run_id)
            drift = find_drift(flow, recorded)
            if drift and req.on_drift is OnDrift.FAIL:
                raise DriftError(run_id, drift)
            rs = _build_state(req, flow, run_id, store, recorded, lease, interrupts)
            rs.drifted = {(d.job_id, d.step_id) for d in drift}
            ACTIVE.push(rs.redactor)
            try:
                with _flow_scope_lock(rs) as release_scope:
                    return _execute(req, rs, flow_sha, release_scope)
            finally:
                ACTIVE.remove(rs.redactor)
        finally:
            with interrupts.critical():
                lease.release()
    finally:
        interrupts.uninstall()


@contextlib.contextmanager
def _flow_scope_lock(rs: RunState) -> Iterator[Callable[[], None]]:
    """``locks.scope: flow``: the whole run holds ``flow:<flow_id>`` (busy → exit 3).

    Yields a function that releases it early, so ``run_end``/``run_summary`` stay the last events.
    """
    locks = rs.flow.flow.locks
    if locks.scope is not LockScope.FLOW:
        yield lambda: None
        return
    with held_lock(
        rs,
        f"flow:{rs.flow_id}",
        ttl_seconds=locks.ttl_seconds,
        wait_seconds=locks.wait_seconds,
        stops_run=True,
    ) as lock:
        yield lock.release


def _build_state(
    req: RunRequest,
    flow: FlowSpec,
    run_id: str,
    store: StateStore,
    recorded: Recorded,
    lease: RunLease,
    interrupts: Interrupts,
) -> RunState:
    redactor = req.redactor if req.redactor is not None else Redactor()
    redactor.add_env(req.env, req.settings.secret_env_patterns)
    bus = EventBus(req.observers, flow_id=flow.flow.id, run_id=run_id, redact=redactor.redact_value)
    layout = flow.flow.workspace.resolved_layout()
    work_root = Path(flow.flow.workspace.root or req.settings.work_root)
    resolver = ResourceResolver(
        flow.resources,
        profiles=load_profiles(
            profile_vars(req.settings.profiles_file, req.settings.profiles_json)
        ),
        env=req.env,
        secrets=req.secrets,
        on_secret=redactor.add,
        on_resolved=lambda resolved: redactor.add_secret_fields(
            {"config": resolved.config, "options": resolved.options}
        ),
    )
    ctx = RunContext(
        settings=req.settings,
        flow_id=flow.flow.id,
        run_id=run_id,
        work_root=work_root,
        layout=layout,
        state=store,
        resources=resolver,
        env=req.env,
        log=logging.getLogger(f"aetherflow.flow.{flow.flow.id}"),
    )
    ctx.connectors = ConnectorManager(
        resolver,
        req.registry,
        default_cache=req.settings.connector_cache_default,
        cache_disabled=req.settings.connector_cache_disabled,
        ctx=ctx,
    )
    rs = RunState(
        flow=flow,
        run_id=run_id,
        store=store,
        bus=bus,
        settings=req.settings,
        env=req.env,
        registry=req.registry,
        ctx=ctx,
        recorded=recorded,
        on_drift=req.on_drift,
        lease=lease,
        interrupts=interrupts,
        redactor=redactor,
        redact=redactor.redact,
    )
    ctx.services = RunServices(rs)
    return rs


def _execute(
    req: RunRequest, rs: RunState, flow_sha: str, release_scope: Callable[[], None]
) -> RunResult:
    start = time.perf_counter()
    resumed = rs.recorded.run is not None
    rs.store.start_run(
        RunRecord(
            flow_id=rs.flow_id,
            run_id=rs.run_id,
            status=RunStatus.RUNNING,
            started_at=rs.now_ms(),
            flow_sha256=flow_sha,
            mode=req.settings.mode.value,
            aetherflow_version=__version__,
            host=req.host,
            pid=req.pid,
            plugins=tuple(PluginRecord(p.name, p.sha256) for p in req.plugins),
            selected_job=req.flow_job,
            resumed=resumed,
            bundle_fingerprint=req.bundle_fingerprint,
        )
    )
    rs.bus.emit(
        ev.RUN_START,
        yaml=req.flow_path,
        mode=req.settings.mode.value,
        aetherflow_version=__version__,
        resumed=resumed,
        selected_job=req.flow_job,
        bundle_fingerprint=req.bundle_fingerprint,
    )
    status, exit_code, can_write = RunStatus.FAILED, EXIT_FAILED, True
    try:
        run_jobs(rs, req.flow_job)
        status, exit_code = _final_status(rs)
    except LeaseLostError as exc:
        status, exit_code, can_write = RunStatus.INTERRUPTED, EXIT_SIGTERM, False
        rs.bus.emit(ev.LEASE_LOST, logging.ERROR, message=str(exc))
    except (KeyboardInterrupt, StepInterrupted):
        sigterm = rs.interrupts.signal_received == signal.SIGTERM
        status, exit_code = RunStatus.INTERRUPTED, EXIT_SIGTERM if sigterm else EXIT_SIGINT
    finally:
        with rs.interrupts.critical():
            if can_write and rs.lease is not None and rs.lease.still_held():
                rs.store.finish_run(rs.flow_id, rs.run_id, status, rs.now_ms())
            release_scope()
            summary = _emit_end(rs, status, elapsed_ms(start))
            if rs.ctx.connectors is not None:
                rs.ctx.connectors.close_all()
            rs.interrupts.discard_pending()
    return RunResult(rs.flow_id, rs.run_id, status, exit_code, summary=summary)


def _final_status(rs: RunState) -> tuple[RunStatus, int]:
    """The run's status over every job it has recorded (``--flow-job`` runs only some of them)
    and the exit code of this invocation (its own jobs)."""
    bad = (JobStatus.FAILED, JobStatus.BLOCKED)
    this_failed = any(o.status in bad for o in rs.outcomes.values())
    statuses = {job_id: record.status for job_id, record in rs.recorded.jobs.items()}
    statuses.update({job_id: outcome.status for job_id, outcome in rs.outcomes.items()})
    run_failed = any(status in bad for status in statuses.values())
    return (
        RunStatus.FAILED if run_failed else RunStatus.SUCCESS,
        EXIT_FAILED if this_failed else EXIT_SUCCESS,
    )


def _emit_end(rs: RunState, status: RunStatus, duration_ms: int) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for outcome in rs.outcomes.values():
        counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
    level = logging.INFO if status is RunStatus.SUCCESS else logging.ERROR
    rs.bus.emit(ev.RUN_END, level, status=status.value, duration_ms=duration_ms)
    summary = {
        "status": status.value,
        "duration_ms": duration_ms,
        "status_counts": counts,
        "jobs": [o.summary() for o in rs.outcomes.values()],
    }
    rs.bus.emit(ev.RUN_SUMMARY, level, **summary)
    return summary
