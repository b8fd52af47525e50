"""Logging configuration (owned by the CLI; the library never calls ``basicConfig``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aetherflow.templating.text import json_default

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts_ms``, ``level``, ``logger``, ``event``/``message``, fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        payload: dict[str, Any] = {
            "ts_ms": int(record.created * 1000),
            "level": record.levelname,
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event:
            payload["event"] = event
        else:
            payload["event"] = "log"
            payload["message"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _RESERVED and key != "event":
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=json_default)


class TextFormatter(logging.Formatter):
    """``2026-01-01T02:00:00.123Z LEVEL message`` (UTC)."""

    converter = time.gmtime  # type: ignore[assignment]  # typeshed's signature is narrower

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")


def configure_logging(level: str, fmt: str) -> None:
    """Send AetherFlow's logs to stderr in ``fmt`` (``text`` or ``json``) at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("aetherflow")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
