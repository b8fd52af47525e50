"""Fixtures of the command line's unit tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def record_factory(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A custom log record factory is installed; the messages of the records it made."""
    made: list[str] = []
    default = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = default(*args, **kwargs)  # type: ignore[arg-type]
        made.append(record.getMessage())
        return record

    monkeypatch.setattr(logging, "_logRecordFactory", factory)
    return made
