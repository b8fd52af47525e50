"""Logging configuration (owned by the CLI; the library never calls ``basicConfig``)."""

from __future__ import annotations

import logging
import re
import sys
import time
from json.encoder import encode_basestring
from typing import Any

from aetherflow.runner.events import Event
from aetherflow.runner.observers import EventRecord
from aetherflow.runtime.redact import ACTIVE
from aetherflow.templating.text import json_default, json_text

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


_EVENT_ATTRS = {"event", "event_fields", "event_ts_ms"}
_PROCESS_OUTPUT = {"external_process_stdout", "external_process_stderr"}
EVENT_SCHEMA_VERSION = 1
FOREIGN_LOGGERS = ("opentelemetry",)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts_ms``, ``level``, ``event``, fields (and ``exception``).

    Lifecycle events carry ``schema_version``; other log records are ``event: "log"`` with a
    ``message`` and the ``logger`` name, so every line is JSON (gap G62).
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        event = getattr(record, "event", None)
        ts_ms = getattr(record, "event_ts_ms", None) or int(record.created * 1000)
        if event:
            fields = getattr(record, "event_fields", None) or {}
            payload = _event_payload(event, record.levelname, ts_ms, fields)
        else:
            payload = {"ts_ms": ts_ms, "level": record.levelname, "event": "log"}
            payload["logger"] = record.name
            payload["message"] = record.getMessage()
            for key, value in vars(record).items():
                if key not in _RESERVED and key not in _EVENT_ATTRS:
                    payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return ACTIVE.redact(json_text(payload, json_default, compact=False))

    def format_event(self, event: Event) -> str:
        """The line of ``event`` (what :meth:`format` gives for its log record)."""
        level = logging.getLevelName(event.level)
        payload = _event_payload(event.name, level, event.ts_ms, event.fields)
        return ACTIVE.redact(json_text(payload, json_default, compact=False))


def _event_payload(event: str, level: str, ts_ms: int, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON object of an event: ``ts_ms``, ``level``, ``event``, ``schema_version``, fields."""
    payload: dict[str, Any] = {
        "ts_ms": ts_ms,
        "level": level,
        "event": event,
        "schema_version": EVENT_SCHEMA_VERSION,
    }
    payload.update(fields)
    return payload


_NEEDS_QUOTES = re.compile(r"[\s\"'=]")
_TEXT_CACHE: dict[str, str] = {}
_TEXT_CACHE_SIZE = 4096
"""Formatted text of short strings: ids, step types and statuses repeat on every event line."""
_TEXT_CACHE_KEY_CHARS = 200


def _format_text(text: str) -> str:
    if not text or _NEEDS_QUOTES.search(text):
        return encode_basestring(text)
    return text


def format_value(value: Any) -> str:
    """A ``key=value`` value: JSON for containers, quoted when it has spaces, quotes or ``=``."""
    kind = type(value)
    if kind is str:
        cached = _TEXT_CACHE.get(value)
        if cached is None:
            cached = _format_text(value)
            if len(value) <= _TEXT_CACHE_KEY_CHARS:
                if len(_TEXT_CACHE) >= _TEXT_CACHE_SIZE:
                    _TEXT_CACHE.clear()
                _TEXT_CACHE[value] = cached
        return cached
    if kind is int or kind is float:
        return str(value)
    if kind is dict or kind is list:
        # Compact JSON is left unquoted: braces delimit it and quoting would escape every quote.
        return json_text(value, json_default)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return json_text(value, json_default)
    return _format_text(value if isinstance(value, str) else str(value))


def progress_text(fields: dict[str, Any]) -> str:
    """``1,250,000 rows · 412,300 rows/s · 48.2 MB · 3.0 s`` from a ``step_progress`` event."""
    parts = [f"{fields.get('rows') or 0:,} rows"]
    rate = fields.get("rows_per_s")
    if rate is not None:
        parts.append(f"{round(rate):,} rows/s")
    written = fields.get("bytes")
    if written is not None:
        parts.append(f"{written / 1_000_000:.1f} MB")
    parts.append(f"{(fields.get('elapsed_ms') or 0) / 1000:.1f} s")
    return " · ".join(parts)


_MILLIS = [f".{millis:03d}Z" for millis in range(1000)]
"""The end of a timestamp for each millisecond (formatting the number costs more)."""


class TextFormatter(logging.Formatter):
    """``2026-01-01T02:00:00.123Z LEVEL event key=value ...`` (UTC).

    Event records are rendered directly (one line per event is the hot path of a run); the
    timestamp's date-time part is cached per second.
    """

    converter = time.gmtime  # type: ignore[assignment]  # typeshed's signature is narrower

    def __init__(self, *, interactive: bool = False) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        self.interactive = interactive
        self._second = -1
        self._second_text = ""

    def _timestamp(self, epoch_ms: int) -> str:
        second, millis = divmod(epoch_ms, 1000)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._second_text + _MILLIS[millis]

    def format(self, record: logging.LogRecord) -> str:
        """Render events as ``<ts> LEVEL event key=value ...``; other records as their message."""
        event = getattr(record, "event", None)
        fields = getattr(record, "event_fields", None) or {}
        if not event or record.exc_info:
            if event:
                record.msg, record.args = event_text(event, fields), ()
            return ACTIVE.redact(super().format(record))
        epoch_ms = getattr(record, "event_ts_ms", None) or int(record.created * 1000)
        return self.event_line(event, record.levelname, epoch_ms, fields)

    def format_event(self, event: Event) -> str:
        """The line of ``event`` (what :meth:`format` gives for its log record)."""
        level = logging.getLevelName(event.level)
        return self.event_line(event.name, level, event.ts_ms, event.fields)

    def event_line(self, event: str, level: str, epoch_ms: int, fields: dict[str, Any]) -> str:
        """One event as a text line (on a terminal, process output and progress are compact)."""
        if self.interactive and event in _PROCESS_OUTPUT:
            prefix = f"[{fields.get('job_id')}/{fields.get('step_id')}]"
            clock = self._timestamp(epoch_ms)[11:19]
            return ACTIVE.redact(f"{clock} {prefix} {fields.get('message', '')}")
        if self.interactive and event == "step_progress":
            clock = self._timestamp(epoch_ms)[11:19]
            return (
                f"{clock} [{fields.get('job_id')}/{fields.get('step_id')}] {progress_text(fields)}"
            )
        return ACTIVE.redact(f"{self._timestamp(epoch_ms)} {level} {event_text(event, fields)}")


def event_text(event: str, fields: dict[str, Any]) -> str:
    """``event key=value ...`` (fields that are None are left out)."""
    parts = [event]
    cache = _TEXT_CACHE
    for key, value in fields.items():
        # Inline the common cases of format_value: a cached string, an int.
        kind = type(value)
        if kind is str:
            text = cache.get(value) or format_value(value)
        elif kind is int:
            text = str(value)
        elif value is None:
            continue
        else:
            text = format_value(value)
        parts.append(f"{key}={text}")
    return " ".join(parts)


_explicit = {"level": False, "format": False}


def configure_logging(
    level: str, fmt: str, *, explicit_level: bool = False, explicit_format: bool = False
) -> None:
    """Send AetherFlow's logs to stderr in ``fmt`` (``text`` or ``json``) at ``level``.

    ``explicit_*`` marks values given on the command line: :func:`apply_settings` (the settings
    of the env snapshot, env files included) does not override them.
    """
    _explicit["level"] = explicit_level
    _explicit["format"] = explicit_format
    _install(level, fmt)


def apply_settings(level: str, fmt: str) -> str:
    """Re-apply level/format from the run's settings where the command line did not set them;
    the effective format."""
    root = logging.getLogger("aetherflow")
    current_level = logging.getLevelName(root.level)
    handler = root.handlers[0] if root.handlers else None
    current_format = "json" if handler and isinstance(handler.formatter, JsonFormatter) else "text"
    new_level = current_level if _explicit["level"] else level.upper()
    new_format = current_format if _explicit["format"] else fmt
    if (new_level, new_format) != (current_level, current_format):
        _install(new_level, new_format)
    return new_format


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in stubs
    """A stream handler that writes each record as one line and flushes it at once.

    What :class:`logging.StreamHandler` does, without taking its lock a second time to flush
    (``handle`` holds it while ``emit`` runs): a run logs two lines per step.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record and a newline, then flush (a crash loses no line)."""
        try:
            stream = self.stream
            stream.write(f"{self.format(record)}\n")
            stream.flush()
        except RecursionError:  # as logging does: a recursion is not a logging error
            raise
        except Exception:  # noqa: BLE001 - logging's contract: report, never raise
            self.handleError(record)

    def emit_event(self, event: Event, line: str, logger_name: str) -> None:
        """Write ``line``, the formatted ``event``, as :meth:`handle` would write its record."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            try:
                stream = self.stream
                stream.write(f"{line}\n")
                stream.flush()
            except RecursionError:
                raise
            except Exception:  # noqa: BLE001 - logging's contract: report, never raise
                self.handleError(EventRecord(logger_name, event))


def _install(level: str, fmt: str) -> None:
    handler = LineHandler(sys.stderr)
    interactive = sys.stderr.isatty()
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else TextFormatter(interactive=interactive)
    )
    root = logging.getLogger("aetherflow")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # Libraries that log on their own (the OpenTelemetry exporter) go through the same
    # formatter, so JSON mode stays one JSON object per line.
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers[:] = [handler]
        foreign.setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))
        foreign.propagate = False
