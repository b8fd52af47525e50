"""Running a child process in its own process group, and ending the whole group.

Every child starts a new session (``start_new_session=True``), so the child and anything it
starts (``sh -c 'a & b'``) share one process group. A timeout, a signal to the run, or a lost
lock ends the **group**: SIGTERM, then ``kill_grace_seconds``, then SIGKILL — no orphaned
grandchildren (the predecessor only killed the direct child).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aetherflow.runner.interrupts import Interrupts, process_timeout_error

DEFAULT_KILL_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class ProcessResult:
    """How a child process ended."""

    exit_code: int
    pid: int
    duration_ms: int


def _living_members_from_proc(pgid: int) -> bool | None:
    """Whether a non-zombie process of the group exists, from ``/proc`` (None: cannot tell).

    Zombies are dead already; they linger until someone reaps them, which is slow or never when
    the runner is PID 1 in a container without an init (orphaned grandchildren are reparented).
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def group_alive(pgid: int) -> bool:
    """True while any living (non-zombie) process of the group exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    living = _living_members_from_proc(pgid)
    return True if living is None else living


def terminate_group(
    proc: subprocess.Popen[Any], grace_seconds: float, *, term_sent: bool = False
) -> None:
    """SIGTERM the child's process group, wait up to ``grace_seconds``, then SIGKILL it.

    ``term_sent``: the group got SIGTERM already (forwarded from a signal to the run); a second
    SIGTERM could cut short a child's own graceful shutdown, so only the wait and SIGKILL follow.
    """
    pgid = proc.pid
    if not term_sent:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        proc.poll()  # reap the direct child so a zombie does not count as alive
        if not group_alive(pgid):
            break
        time.sleep(0.02)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    end = time.monotonic() + 5
    while group_alive(pgid) and time.monotonic() < end:  # SIGKILL is delivered asynchronously
        time.sleep(0.01)


@contextlib.contextmanager
def _tracked(interrupts: Interrupts | None, pgid: int) -> Iterator[None]:
    if interrupts is not None:
        interrupts.track_group(pgid)
    try:
        yield
    finally:
        if interrupts is not None:
            interrupts.untrack_group(pgid)


def run_process(
    command: Sequence[str] | str,
    *,
    shell: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    timeout_seconds: float | None = None,
    kill_grace_seconds: float = DEFAULT_KILL_GRACE_SECONDS,
    interrupts: Interrupts | None = None,
    what: str = "process",
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> ProcessResult:
    """Run ``command`` in a new process group and wait for it.

    Args:
        command: argv list, or a string for ``shell=True`` (passed to ``/bin/sh -c`` as is).
        shell: Run through ``/bin/sh -c``.
        env: The child's complete environment (None inherits the parent's).
        cwd: Working directory.
        stdout: Where the child's stdout goes (``subprocess`` semantics).
        stderr: Where the child's stderr goes.
        timeout_seconds: End the group after this long (``ProcessTimeout``).
        kill_grace_seconds: Between SIGTERM and SIGKILL of the group.
        interrupts: The run's controller (signals reach the group; a timeout of the step or a
            lost lock interrupts the wait).
        what: Names the process in errors.
        on_start: Called with the ``Popen`` right after the start (to drain pipes).

    When the child exits while other members of its group still run (``sh -c 'a & b'``), those
    are ended too (SIGTERM, grace, SIGKILL): nothing the step started outlives it, and no
    leftover holds the capture pipes open.

    Returns:
        The exit code and pid.

    Raises:
        ProcessTimeout: ``timeout_seconds`` passed (the group was ended).
        BaseException: Whatever interrupted the wait (after the group was ended).
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        shell=shell,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    with _tracked(interrupts, proc.pid):
        try:
            if on_start is not None:
                on_start(proc)
            exit_code = _wait(proc, timeout_seconds, interrupts, what)
        except BaseException:
            guard = interrupts.critical() if interrupts is not None else contextlib.nullcontext()
            sent = interrupts is not None and interrupts.was_signalled(proc.pid)
            with guard:
                terminate_group(proc, kill_grace_seconds, term_sent=sent)
            raise
        if group_alive(proc.pid):
            guard = interrupts.critical() if interrupts is not None else contextlib.nullcontext()
            with guard:
                terminate_group(proc, kill_grace_seconds)
    duration = int((time.monotonic() - started) * 1000)
    return ProcessResult(exit_code=exit_code, pid=proc.pid, duration_ms=duration)


def _wait(
    proc: subprocess.Popen[Any],
    timeout_seconds: float | None,
    interrupts: Interrupts | None,
    what: str,
) -> int:
    if interrupts is not None and interrupts.active:
        with interrupts.deadline(
            timeout_seconds, lambda: process_timeout_error(what, timeout_seconds or 0)
        ):
            return proc.wait()
    try:
        return proc.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired as exc:
        raise process_timeout_error(what, timeout_seconds or 0) from exc
