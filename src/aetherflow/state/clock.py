"""Injectable time: a clock that reads epoch milliseconds and a sleeper.

Leases, locks, retries and the scheduler take these instead of calling ``time`` directly, so
tests of TTLs and backoff use :class:`FakeClock` and never sleep for real.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Reads wall-clock time as UTC epoch milliseconds."""

    def now_ms(self) -> int:
        """Current time in epoch milliseconds."""


class Sleeper(Protocol):
    """Waits; ``sleep`` returns early (True) when interrupted."""

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; return True if woken early by :meth:`interrupt`."""

    def interrupt(self) -> None:
        """Wake every current and future sleep until :meth:`reset`."""


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        """``time.time()`` in milliseconds."""
        return time.time_ns() // 1_000_000


class EventSleeper:
    """A sleeper that a signal handler or another thread can interrupt."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when interrupted."""
        return self._event.wait(max(0.0, seconds))

    def interrupt(self) -> None:
        """Wake sleepers now."""
        self._event.set()

    def reset(self) -> None:
        """Allow sleeping again."""
        self._event.clear()


class FakeClock:
    """A manual clock for tests; ``sleep`` advances it instead of waiting."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        """The fake current time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, *, ms: int = 0) -> None:
        """Move time forward."""
        with self._lock:
            self._now += int(seconds * 1000) + ms

    def sleep(self, seconds: float) -> bool:
        """Record the sleep and advance time by it; never interrupted."""
        self.sleeps.append(seconds)
        self.advance(seconds)
        return False

    def interrupt(self) -> None:
        """No-op: fake sleeps return at once anyway."""
