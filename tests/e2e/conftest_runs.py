"""Helpers for end-to-end tests that run flows in real processes and read their state.

:class:`Sandbox` gives a test its own state and work roots (``AETHERFLOW_STATE_ROOT`` /
``AETHERFLOW_WORK_ROOT`` under ``tmp_path``), starts ``python -m aetherflow`` with the test
plugins on ``AETHERFLOW_PLUGIN_PATHS`` (blocking, or in the background with output in files so
a test can poll it and ``SIGKILL`` it), and reads the SQLite state store directly — a test must
see what a crashed process left behind, without going through the code under test.

The module-level helpers write flow files, parse JSON event streams, and tell whether processes
(or whole process groups, via Linux ``/proc``) are still alive after a run ended them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
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


def write_flow(path: Path, text: str) -> Path:
    """Write a flow file from an indented triple-quoted string (dedented); return its path."""
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def parse_events(stream: str) -> list[dict[str, Any]]:
    """The JSON event lines of a ``AETHERFLOW_LOG_FORMAT=json`` stream (every line must be one).

    Raises:
        AssertionError: A non-empty line is not a JSON object.
    """
    events = []
    for number, line in enumerate(stream.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from exc
        assert isinstance(value, dict), f"line {number} is not a JSON object: {line!r}"
        events.append(value)
    return events


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux ``/proc``).

    A zombie has ended and only waits to be reaped by its parent (which may be a container's
    init that never reaps), so it counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid`` (Linux ``/proc``)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # After the command name: state, ppid, pgrp, ...
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def read_pids(path: Path) -> list[int]:
    """The whitespace-separated pids a step's command wrote to ``path`` (empty until then)."""
    if not path.exists():
        return []
    return [int(word) for word in path.read_text(encoding="utf-8").split()]


def wait_pids(path: Path, count: int, *, timeout: float = 30.0) -> list[int]:
    """Poll until ``path`` holds ``count`` pids (a step's command writes them) and return them."""

    def complete() -> list[int] | None:
        pids = read_pids(path)
        return pids if len(pids) == count else None

    return wait_for(complete, f"{count} pids in {path}", timeout=timeout)


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


class StepRow(NamedTuple):
    """One row of the ``steps`` table (``error`` decoded from its JSON column)."""

    status: str
    attempt: int
    error: dict[str, Any] | None
    lock_token: int | None

    @property
    def failure_class(self) -> str | None:
        """The recorded failure class (``error``, ``timeout``, ``interrupted``, ``lost_lock``)."""
        return None if self.error is None else self.error.get("failure_class")


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

    def wait(self, timeout: float = 90.0) -> int:
        """Wait for the process to end by itself and return its exit code.

        Raises:
            AssertionError: It was still running after ``timeout`` seconds (stderr attached).
        """
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"pid {self.pid} still running after {timeout} s; stderr:\n{self.stderr()}"
            ) from None

    def events(self) -> list[dict[str, Any]]:
        """Its JSON events so far (start it with ``AETHERFLOW_LOG_FORMAT=json``)."""
        return parse_events(self.stderr())

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
    groups: list[int] = field(default_factory=list)

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

    def watch_group(self, pgid: int) -> None:
        """Kill process group ``pgid`` at the end of the test if it is still there (a step's
        child process group outlives a ``SIGKILL``-ed runner)."""
        self.groups.append(pgid)

    def close(self) -> None:
        """Kill and reap every background process still running (a failed test's leftovers),
        and kill the watched process groups."""
        for background in self.started:
            background.sigkill()
        for pgid in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

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

    def steps(self, flow_id: str, run_id: str) -> dict[str, StepRow]:
        """``job/step`` → the recorded row of every step of a run (inner steps of ``with_lock``
        are ``job/outer/inner``)."""
        found = self.rows(
            "SELECT job_id, step_id, status, attempt, error, lock_token FROM steps "
            "WHERE flow_id = ? AND run_id = ?",
            [flow_id, run_id],
        )
        return {
            f"{job}/{step}": StepRow(status, attempt, json.loads(error) if error else None, token)
            for job, step, status, attempt, error, token in found
        }

    def attempts(
        self, flow_id: str, run_id: str, step: str
    ) -> list[tuple[int, str, dict[str, Any] | None]]:
        """``(attempt, status, error)`` of every recorded attempt of ``job/step``, in order."""
        job_id, step_id = step.split("/", 1)
        found = self.rows(
            "SELECT attempt, status, error FROM step_attempts "
            "WHERE flow_id = ? AND run_id = ? AND job_id = ? AND step_id = ? ORDER BY attempt",
            [flow_id, run_id, job_id, step_id],
        )
        return [(n, status, json.loads(error) if error else None) for n, status, error in found]

    def job_error(self, flow_id: str, run_id: str, job_id: str) -> dict[str, Any] | None:
        """The decoded ``error`` column of a job row."""
        found = self.rows(
            "SELECT error FROM jobs WHERE flow_id = ? AND run_id = ? AND job_id = ?",
            [flow_id, run_id, job_id],
        )
        return json.loads(found[0][0]) if found and found[0][0] else None

    def fencing_token(self, key: str) -> int | None:
        """The last fencing token issued for ``key`` (the counter survives lock deletion)."""
        found = self.rows("SELECT token FROM fencing WHERE key = ?", [key])
        return int(found[0][0]) if found else None

    def locks(self, *where: str) -> list[dict[str, Any]]:
        """``aetherflow locks list [WHERE] --json``, parsed (``WHERE``: a flow or ``--state``)."""
        result = self.run("locks", "list", *where, "--json")
        assert result.returncode == 0, result.stderr
        listed: list[dict[str, Any]] = json.loads(result.stdout)
        return listed

    def show(self, run_id: str, flow: Path) -> dict[str, Any]:
        """``aetherflow runs show RUN_ID FLOW --json``, parsed."""
        result = self.run("runs", "show", run_id, str(flow), "--json")
        assert result.returncode == 0, result.stderr
        shown: dict[str, Any] = json.loads(result.stdout)
        return shown

    def wait_lock(
        self, key: str, pid: int, *, min_token: int = 1, timeout: float = 30.0
    ) -> LeaseRow:
        """Poll until ``pid`` holds ``key`` with a token of at least ``min_token``."""

        def held() -> LeaseRow | None:
            lease = self.lease(key)
            if lease is None or lease.pid != pid or lease.token < min_token:
                return None
            return lease

        return wait_for(held, f"pid {pid} to hold {key} (token >= {min_token})", timeout=timeout)

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
    "StepRow",
    "group_members",
    "now_ms",
    "parse_events",
    "process_alive",
    "read_ledger",
    "read_pids",
    "run_lease_key",
    "wait_for",
    "wait_pids",
    "write_flow",
    "write_ledger_flow",
]
