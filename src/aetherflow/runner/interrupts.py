"""Turning signals, timeouts and cancellation into exceptions in the main thread, safely.

A run executes in the main thread. Four things must stop it from the outside:

* SIGTERM / SIGINT from the operator (``StepInterrupted`` / ``KeyboardInterrupt``);
* a step's ``timeout_seconds`` (``StepTimeout``, via ``SIGALRM`` and ``setitimer``);
* a heartbeat thread that lost the run lease or a lock (it calls :meth:`Interrupts.request`,
  which wakes the main thread with ``SIGUSR1``).

The handler raises the pending exception in the main thread — except inside a
:meth:`Interrupts.critical` section (state writes), where it is deferred to the end of the
section so a record is never half written. Child process groups registered with
:meth:`Interrupts.track_group` get SIGTERM forwarded at once; the code that started them
escalates to SIGKILL after its grace period.

A second SIGINT while the first is being handled exits at once (status 130).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from aetherflow.errors import ProcessTimeout, StepInterrupted, StepTimeout

log = logging.getLogger(__name__)

_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGUSR1)


@dataclass(order=True)
class _Deadline:
    at: float
    seq: int
    make: Callable[[], BaseException] = field(compare=False)
    fired: BaseException | None = field(default=None, compare=False)


class Interrupts:
    """Per-run interruption controller (install in the main thread, uninstall when done)."""

    def __init__(self) -> None:
        self._pending: BaseException | None = None
        self._critical = 0
        self._deadlines: list[_Deadline] = []
        self._seq = 0
        self._groups: set[int] = set()
        self._signalled: set[int] = set()
        self._previous: dict[int, Any] = {}
        self._installed = False
        self._sigint_seen = False
        self.signal_received: int | None = None
        self._lock = threading.Lock()
        self._critical_section = _Critical(self)

    # -- installation ----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """True when the handlers are installed (main thread only)."""
        return self._installed

    def install(self) -> bool:
        """Install the handlers; False (and no timeouts for Python steps) off the main thread."""
        if threading.current_thread() is not threading.main_thread():
            log.warning("not in the main thread: signals and Python step timeouts are not handled")
            return False
        for signum in _HANDLED:
            self._previous[signum] = signal.signal(signum, self._handle)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Restore the previous handlers and cancel any timer."""
        if not self._installed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        self._installed = False

    # -- requests from other threads ------------------------------------------------------
    def request(self, exc: BaseException) -> None:
        """Ask the main thread to stop with ``exc`` (from any thread); the first request wins."""
        with self._lock:
            if self._pending is None:
                self._pending = exc
        if self._installed:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    # -- child process groups ---------------------------------------------------------------
    def track_group(self, pgid: int) -> None:
        """Forward SIGTERM to this process group if the run is interrupted."""
        self._groups.add(pgid)

    def untrack_group(self, pgid: int) -> None:
        """The group is gone; stop tracking it."""
        self._groups.discard(pgid)
        self._signalled.discard(pgid)

    def was_signalled(self, pgid: int) -> bool:
        """True when the group already got SIGTERM from a signal to the run."""
        return pgid in self._signalled

    def _terminate_groups(self) -> None:
        for pgid in list(self._groups):
            if pgid in self._signalled:
                continue
            self._signalled.add(pgid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)

    # -- the handler ------------------------------------------------------------------------
    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            if self._sigint_seen:
                os._exit(130)  # a second Ctrl-C: the operator wants out now
            self._sigint_seen = True
            self._set(KeyboardInterrupt("interrupted by SIGINT"), signum)
        elif signum == signal.SIGTERM:
            self._set(StepInterrupted("interrupted by SIGTERM"), signum)
        elif signum == signal.SIGALRM:
            self._fire_deadlines()
        if self._pending is not None and isinstance(
            self._pending, KeyboardInterrupt | StepInterrupted
        ):
            self._terminate_groups()
        self.raise_pending()

    def _set(self, exc: BaseException, signum: int) -> None:
        with self._lock:
            self.signal_received = signum
            # A signal outranks a timeout or a lost lock: the operator asked to stop.
            if self._pending is None or not isinstance(
                self._pending, KeyboardInterrupt | StepInterrupted
            ):
                self._pending = exc

    def raise_pending(self) -> None:
        """Raise the pending exception now, unless inside a critical section."""
        if self._critical or self._pending is None:
            return
        with self._lock:
            exc, self._pending = self._pending, None
        if exc is not None:
            raise exc

    def discard_pending(self) -> None:
        """Forget a pending interruption (the run is already ending)."""
        with self._lock:
            self._pending = None

    @property
    def pending(self) -> BaseException | None:
        """The exception that will be raised at the next safe point."""
        return self._pending

    # -- critical sections ------------------------------------------------------------------
    def critical(self) -> _Critical:
        """Defer interruptions until the block ends (state writes).

        A pending interruption is raised when the outermost section ends normally; a section
        left by an exception lets that exception through.
        """
        return self._critical_section

    def enter_critical(self) -> None:
        """Start a critical section (what ``with critical()`` does first)."""
        self._critical += 1

    def exit_critical(self, *, raise_pending: bool = True) -> None:
        """End a critical section; the outermost one raises a pending interruption."""
        self._critical -= 1
        if raise_pending and not self._critical:
            self.raise_pending()

    # -- deadlines (timeouts) ---------------------------------------------------------------
    def deadline(
        self, seconds: float | None, make: Callable[[], BaseException]
    ) -> contextlib.AbstractContextManager[None]:
        """Raise ``make()`` in the main thread if the block runs longer than ``seconds``."""
        if seconds is None or not self._installed:
            return _NO_DEADLINE  # most steps have no timeout: no generator per step
        return self._deadline(seconds, make)

    @contextlib.contextmanager
    def _deadline(self, seconds: float, make: Callable[[], BaseException]) -> Iterator[None]:
        self._seq += 1
        entry = _Deadline(time.monotonic() + seconds, self._seq, make)
        self._deadlines.append(entry)
        self._arm()
        try:
            yield
        finally:
            if entry in self._deadlines:
                self._deadlines.remove(entry)
            with self._lock:
                if entry.fired is not None and self._pending is entry.fired:
                    self._pending = None  # the block ended before the timeout could be raised
            self._arm()

    def _arm(self) -> None:
        if not self._deadlines:
            signal.setitimer(signal.ITIMER_REAL, 0)
            return
        nearest = min(self._deadlines)
        signal.setitimer(signal.ITIMER_REAL, max(0.001, nearest.at - time.monotonic()))

    def _fire_deadlines(self) -> None:
        now = time.monotonic()
        due = sorted(d for d in self._deadlines if d.at <= now + 0.0005)
        for entry in due:
            self._deadlines.remove(entry)
        if due:
            with self._lock:
                if self._pending is None:
                    due[0].fired = self._pending = due[0].make()
        self._arm()


class _Critical:
    """``with interrupts.critical():`` — a plain object, cheaper than a generator per write."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Interrupts) -> None:
        self._owner = owner

    def __enter__(self) -> None:
        self._owner.enter_critical()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._owner.exit_critical(raise_pending=exc_type is None)


_NO_DEADLINE = contextlib.nullcontext()


def timeout_error(what: str, seconds: float) -> StepTimeout:
    """The exception of an exceeded ``timeout_seconds``."""
    return StepTimeout(f"{what} exceeded timeout_seconds={seconds:g}")


def process_timeout_error(what: str, seconds: float) -> ProcessTimeout:
    """The exception of a child process that exceeded its own ``timeout_seconds``."""
    return ProcessTimeout(f"{what} exceeded timeout_seconds={seconds:g}")
