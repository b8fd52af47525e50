"""Lifecycle events and the bus that hands them to observers.

Every lifecycle change is one :class:`Event` with a stable name and fields (``docs/events.md``,
``schema_version`` 1). Observers (logging, metrics hook, tracing) receive every event; a failing
observer never breaks the run — the failure is reported as an ``observer_error`` event to the
remaining observers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

RUN_START = "run_start"
RUN_END = "run_end"
RUN_SUMMARY = "run_summary"
JOB_START = "job_start"
JOB_END = "job_end"
JOB_RESUMED = "job_resumed"
STEP_START = "step_start"
STEP_END = "step_end"
STEP_RESUMED = "step_resumed"
STEP_RETRY = "step_retry"
STEP_ERROR = "step_error"
WHEN_WARNING = "when_warning"
TEMPLATE_MISSING = "template_missing"
CLEANUP_ERROR = "cleanup_error"
OBSERVER_ERROR = "observer_error"
LEASE_LOST = "run_lease_lost"
LOCK_ACQUIRED = "lock_acquired"
LOCK_RELEASED = "lock_released"
LOCK_WAIT = "lock_wait"
LOCK_LOST = "lock_lost"
LOCK_FORCED_RELEASE = "lock_forced_release"


class Event(NamedTuple):
    """One structured lifecycle event (immutable; a named tuple, the cheapest immutable record
    Python builds: a run makes two per step).

    Attributes:
        name: Event name (``step_end``).
        level: ``logging`` level (INFO, WARNING, ERROR).
        ts_ms: UTC epoch milliseconds.
        fields: ``flow_id``, ``run_id``, optional ``job_id``/``step_id`` and event fields.
    """

    name: str
    level: int
    ts_ms: int
    fields: dict[str, Any]


class Observer(Protocol):
    """Receives every event of a run.

    An observer may also define ``enabled_for(flow_id, level) -> bool``: False promises that it
    would ignore every event of ``level`` (the logging observer below the log level), which lets
    the runner skip building events that no observer would look at. Observers without it
    receive everything.
    """

    def on_event(self, event: Event) -> None:
        """Handle one event (must not raise; the bus guards anyway)."""


Redactor = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


class EventBus:
    """Stamps events with the run's ids, redacts them and hands them to every observer."""

    def __init__(
        self,
        observers: Iterable[Observer],
        *,
        flow_id: str,
        run_id: str,
        redact: Redactor | None = None,
    ) -> None:
        self.observers = list(observers)
        self.flow_id = flow_id
        self.run_id = run_id
        self._redact = redact or _identity

    def wants(self, level: int) -> bool:
        """True when some observer would look at an event of ``level``.

        The hot path (``step_start``/``step_end``) asks first and skips building the event and
        its fields when no observer would see it; other events are always emitted.
        """
        for observer in self.observers:
            enabled = getattr(observer, "enabled_for", None)
            if enabled is None or enabled(self.flow_id, level):
                return True
        return False

    def emit(self, name: str, level: int = logging.INFO, /, **fields: Any) -> Event:
        """Build and deliver an event; returns it (tests and the summary use it)."""
        payload = {"flow_id": self.flow_id, "run_id": self.run_id, **fields}
        event = Event(name, level, time.time_ns() // 1_000_000, self._redact(payload))
        self._deliver(event)
        return event

    def _deliver(self, event: Event) -> None:
        for observer in self.observers:
            try:
                observer.on_event(event)
            except Exception as exc:  # noqa: BLE001 - an observer must never break the run
                if event.name == OBSERVER_ERROR:
                    log.warning("observer %r failed on observer_error: %s", observer, exc)
                    continue
                self._deliver(
                    Event(
                        name=OBSERVER_ERROR,
                        level=logging.WARNING,
                        ts_ms=event.ts_ms,
                        fields={
                            "flow_id": self.flow_id,
                            "run_id": self.run_id,
                            "observer": type(observer).__name__,
                            "failed_event": event.name,
                            "error_class": type(exc).__name__,
                            "message": self._redact(str(exc)),
                        },
                    )
                )


class RecordingObserver:
    """Keeps every event in memory (tests, summaries)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        """Store the event."""
        self.events.append(event)

    def names(self) -> list[str]:
        """Event names in order."""
        return [e.name for e in self.events]
