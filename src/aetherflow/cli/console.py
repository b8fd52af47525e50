"""The command line's sink for run events: one line per event on the log stream.

The library hands events to :class:`~aetherflow.runner.observers.LoggingObserver`, which makes
a log record of each; the command line's handler then formats it. :class:`ConsoleObserver`
gives the same lines, in the same order on the same stream, without the record: it formats the
event itself and writes it under the handler's lock. A run logs two events per step, and the
record and its trip through ``logging`` cost about as much as formatting the line.

It takes that short cut only while nothing else could see the record: the flow's logger has no
filter and is not disabled, the only handler on the way up is the CLI's :class:`LineHandler`
(without filters, at a level that lets the event through) and no custom record factory is
installed. Otherwise — a plugin added a handler, say — events go through ``logging`` as the
library sends them.
"""

from __future__ import annotations

import logging

from aetherflow.cli.logs import JsonFormatter, LineHandler, TextFormatter
from aetherflow.runner.events import Event
from aetherflow.runner.observers import LoggingObserver


class ConsoleObserver:
    """Writes each event as one line through the CLI's log handler (see the module)."""

    def __init__(self) -> None:
        self._logging = LoggingObserver()

    def enabled_for(self, flow_id: str, level: int) -> bool:
        """False when events of ``level`` would not be logged (see ``Observer``)."""
        return self._logging.enabled_for(flow_id, level)

    def on_event(self, event: Event) -> None:
        """Write the event's line, or log it when something else may want its record."""
        logger = self._logging.logger(str(event.fields.get("flow_id", "")))
        if not logger.isEnabledFor(event.level):
            return
        route = _sole_line_handler(logger, event.level)
        if route is None:
            self._logging.on_event(event)
            return
        handler, formatter = route
        handler.emit_event(event, formatter.format_event(event), logger.name)


def _sole_line_handler(
    logger: logging.Logger, level: int
) -> tuple[LineHandler, TextFormatter | JsonFormatter] | None:
    """The CLI's handler and its formatter, when it alone would receive a record of
    ``logger`` at ``level``."""
    if logger.disabled or logger.filters:
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: LineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if found is not None or type(handler) is not LineHandler:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None or found.filters or found.level > level:
        return None
    formatter = found.formatter
    if type(formatter) is TextFormatter or type(formatter) is JsonFormatter:
        return found, formatter
    return None
