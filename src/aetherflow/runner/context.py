"""The run context handed to every step (the predecessor's ``RunContext``, same attributes)."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.errors import StateError
from aetherflow.runner.lease import process_instance
from aetherflow.runtime.sandbox import Sandbox
from aetherflow.runtime.settings import Settings
from aetherflow.spec.base import is_valid_id
from aetherflow.spec.flow import DEFAULT_LAYOUT
from aetherflow.state.records import LeaseHolder


def new_run_id() -> str:
    """Return a new run id: 12 random lowercase hex characters."""
    return secrets.token_hex(6)


def _safe_segment(kind: str, value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(f"{kind} {value!r} cannot be used in a path: use [A-Za-z0-9_.-] only")
    return value


@dataclass
class RunContext:
    """Everything a step can see about the run it belongs to.

    Attributes:
        settings: The run's settings.
        flow_id: The flow id.
        run_id: The run id.
        work_root: Root of the workspace (``flow.workspace.root`` after rendering).
        layout: Sub-directory names (``artifacts``, ``scratch``, ``manifests``).
        state: The state store (None when a step runs outside a run, e.g. in a unit test).
        resources: Resolved resource configs by name.
        env: The run's immutable env snapshot.
        connectors: The connector manager (set by the runner).
        log: The flow's logger.
        lock_token: Fencing token of the lock held by the enclosing ``with_lock``, if any.
        lock_key: Key of that lock, if any.
        services: Runner services for steps that run other steps (``with_lock``).
    """

    settings: Settings
    flow_id: str
    run_id: str
    work_root: Path
    layout: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LAYOUT))
    state: Any = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    connectors: Any = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("aetherflow.flow"))
    lock_token: int | None = None
    lock_key: str | None = None
    services: Any = None
    _held_locks: dict[str, int] = field(default_factory=dict, repr=False)

    def job_dir(self, job_id: str) -> Path:
        """``<work_root>/<flow_id>/<job_id>/<run_id>``, created if missing."""
        path = (
            self.work_root
            / _safe_segment("flow id", self.flow_id)
            / _safe_segment("job id", job_id)
            / _safe_segment("run id", self.run_id)
        )
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _sub_dir(self, job_id: str, name: str) -> Path:
        path = self.job_dir(job_id) / self.layout.get(name, DEFAULT_LAYOUT[name])
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifacts_dir(self, job_id: str) -> Path:
        """The job's artifacts directory (relative step paths resolve here)."""
        return self._sub_dir(job_id, "artifacts")

    def scratch_dir(self, job_id: str) -> Path:
        """The job's scratch directory."""
        return self._sub_dir(job_id, "scratch")

    def manifests_dir(self, job_id: str) -> Path:
        """The job's manifests directory (idempotency manifests)."""
        return self._sub_dir(job_id, "manifests")

    def sandbox(self, job_id: str) -> Sandbox:
        """The path sandbox of ``job_id`` under the run's mode (every built-in uses it)."""
        return Sandbox.for_job(
            self.artifacts_dir(job_id),
            self.work_root,
            enterprise=self.settings.enterprise,
            strict=self.settings.strict_sandbox,
        )

    def acquire_lock(self, key: str, ttl_seconds: int = 600) -> bool:
        """Try once to take lock ``key`` for this run; True when acquired.

        The predecessor's helper, kept for plugins. Locks held by the same run are re-entrant
        (a resumed run is never blocked by its own crashed holder). Prefer the ``with_lock``
        step, which waits, heartbeats and fences.

        Raises:
            StateError: The context has no state store.
        """
        if self.state is None:
            raise StateError("this RunContext has no state store; locks need one")
        holder = LeaseHolder(
            run_id=self.run_id,
            flow_id=self.flow_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            instance=process_instance(),
        )
        lease = self.state.acquire_lease(key, holder, ttl_seconds * 1000, reentrant_run=True)
        if lease is None:
            return False
        self._held_locks[key] = lease.token
        return True

    def release_lock(self, key: str) -> None:
        """Release lock ``key`` if this run holds it."""
        if self.state is None:
            raise StateError("this RunContext has no state store; locks need one")
        token = self._held_locks.pop(key, None)
        if token is not None:
            self.state.release_lease(key, token)
