"""Helpers for end-to-end tests that run flows in real processes and read their state.

:class:`Sandbox` gives a test its own state and work roots (``AETHERFLOW_STATE_ROOT`` /
``AETHERFLOW_WORK_ROOT`` under ``tmp_path``), starts ``python -m aetherflow`` with the test
plugins on ``AETHERFLOW_PLUGIN_PATHS`` (blocking, or in the background with output in files so
a test can poll it and ``SIGKILL`` it), and reads the SQLite state store directly — a test must
see what a crashed process left behind, without going through the code under test.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from .conftest import FLOWS, REPO, clean_env

PLUGINS = REPO / "tests" / "flows" / "plugins"
BUSY_EXIT = 3
T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, *, timeout: float = 30.0, interval: float = 0.02
) -> T:
    """Poll ``probe`` until it returns a truthy value and return that value.

    Raises:
        AssertionError: ``timeout`` seconds passed first (the message says what was awaited).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def now_ms() -> int:
    """Wall-clock epoch milliseconds, the clock the SQLite store stamps leases with."""
    return time.time_ns() // 1_000_000


def run_lease_key(flow_id: str, run_id: str) -> str:
    """The key of a run's lease (``40-state-and-locks.md``), spelled out independently."""
    return f"run:{flow_id}:{run_id}"


def write_ledger_flow(
    path: Path,
    *,
    flow_id: str,
    ledger: Path,
    jobs: Mapping[str, int],
    sleep_seconds: float = 0.0,
) -> list[str]:
    """Write a flow of ``ledger`` steps; return the ledger entries, ``job/step``, in order.

    Args:
        path: Where to write the YAML.
        flow_id: ``flow.id``.
        ledger: The file every step appends its entry to.
        jobs: Job id → number of steps (named ``s01``, ``s02``, ...).
        sleep_seconds: How long each step sleeps after writing its entry.
    """
    lines = ["version: 1", "flow:", f"  id: {flow_id}", "jobs:"]
    entries: list[str] = []
    for job_id, count in jobs.items():
        lines += [f"  - id: {job_id}", "    steps:"]
        for number in range(1, count + 1):
            step_id = f"s{number:02d}"
            entries.append(f"{job_id}/{step_id}")
            lines += [
                f"      - id: {step_id}",
                "        type: ledger",
                "        inputs:",
                f'          ledger: "{ledger}"',
                f"          entry: {job_id}/{step_id}",
                f"          sleep_seconds: {sleep_seconds}",
            ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return entries


def read_ledger(ledger: Path) -> list[str]:
    """The entries of a ledger file (empty when nothing has been written yet)."""
    if not ledger.exists():
        return []
    return ledger.read_text(encoding="utf-8").splitlines()


class LeaseRow(NamedTuple):
    """One row of the ``leases`` table."""

    token: int
    pid: int
    host: str
    acquired_at: int
    expires_at: int


@dataclass
class Background:
    """An ``aetherflow`` process started in the background, its output going to files."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    started: float

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def stderr(self) -> str:
        """Everything written to stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def sigkill(self) -> None:
        """``SIGKILL`` the process (if still running) and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@dataclass
class Sandbox:
    """Per-test state and work roots plus ways to run the CLI and read the state store."""

    root: Path
    started: list[Background] = field(default_factory=list)

    @property
    def state_root(self) -> Path:
        """``AETHERFLOW_STATE_ROOT`` of every command run here."""
        return self.root / "state"

    @property
    def work_root(self) -> Path:
        """``AETHERFLOW_WORK_ROOT`` of every command run here."""
        return self.root / "work"

    @property
    def db(self) -> Path:
        """The default state store of flows without ``state.path``."""
        return self.state_root / "aetherflow.sqlite"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment with this sandbox's roots, the test plugins, and ``extra``."""
        return clean_env(
            {
                "AETHERFLOW_PLUGIN_PATHS": str(PLUGINS),
                "AETHERFLOW_STATE_ROOT": str(self.state_root),
                "AETHERFLOW_WORK_ROOT": str(self.work_root),
                **(extra or {}),
            }
        )

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m aetherflow ARGS`` to completion and capture its output."""
        return subprocess.run(
            [sys.executable, "-m", "aetherflow", *args],
            capture_output=True,
            text=True,
            env=self.env(env),
            cwd=self.root,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, name: str, env: Mapping[str, str] | None = None) -> Background:
        """Start ``python -m aetherflow ARGS`` in the background; output goes to ``name.*``."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        stdout_path, stderr_path = logs / f"{name}.out", logs / f"{name}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aetherflow", *args],
                stdout=out,
                stderr=err,
                env=self.env(env),
                cwd=self.root,
            )
        started = Background(proc, stdout_path, stderr_path, time.monotonic())
        self.started.append(started)
        return started

    def close(self) -> None:
        """Kill and reap every background process still running (a failed test's leftovers)."""
        for background in self.started:
            background.sigkill()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Query the state store; no rows when it (or its schema) does not exist yet."""
        if not self.db.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as conn:
            try:
                return conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise

    def lease(self, key: str) -> LeaseRow | None:
        """The lease row with ``key``, if any."""
        found = self.rows(
            "SELECT token, pid, host, acquired_at, expires_at FROM leases WHERE key = ?", [key]
        )
        return LeaseRow(*found[0]) if found else None

    def step_statuses(self, flow_id: str, run_id: str) -> dict[str, str]:
        """``job/step`` → recorded status of every step row of a run."""
        found = self.rows(
            "SELECT job_id, step_id, status FROM steps WHERE flow_id = ? AND run_id = ?",
            [flow_id, run_id],
        )
        return {f"{job}/{step}": status for job, step, status in found}

    def job_statuses(self, flow_id: str, run_id: str) -> dict[str, str]:
        """``job_id`` → recorded status of every job row of a run."""
        found = self.rows(
            "SELECT job_id, status FROM jobs WHERE flow_id = ? AND run_id = ?", [flow_id, run_id]
        )
        return dict(found)

    def run_status(self, flow_id: str, run_id: str) -> str | None:
        """The status stored in the ``runs`` row (not the derived ``ABANDONED``)."""
        found = self.rows(
            "SELECT status FROM runs WHERE flow_id = ? AND run_id = ?", [flow_id, run_id]
        )
        return found[0][0] if found else None

    def wait_lease_expired(self, key: str, *, timeout: float = 30.0) -> None:
        """Poll until the lease ``key`` is gone or past its ``expires_at``."""

        def expired() -> bool:
            lease = self.lease(key)
            return lease is None or lease.expires_at <= now_ms()

        wait_for(expired, f"lease {key} to expire", timeout=timeout)

    def wait_lease_renewed(self, key: str, pid: int, *, timeout: float = 30.0) -> LeaseRow:
        """Poll until ``pid`` holds ``key`` and has just renewed it; return the renewed row.

        Killing the holder right after a renewal leaves (almost) a whole TTL on the lease.
        """

        def held_by_pid(after: int = -1) -> LeaseRow | None:
            lease = self.lease(key)
            if lease is None or lease.pid != pid or lease.expires_at <= after:
                return None
            return lease

        first = wait_for(held_by_pid, f"pid {pid} to hold lease {key}", timeout=timeout)
        return wait_for(
            lambda: held_by_pid(first.expires_at),
            f"pid {pid} to renew lease {key}",
            timeout=timeout,
        )


__all__ = [
    "BUSY_EXIT",
    "FLOWS",
    "PLUGINS",
    "Background",
    "LeaseRow",
    "Sandbox",
    "now_ms",
    "read_ledger",
    "run_lease_key",
    "wait_for",
    "write_ledger_flow",
]
