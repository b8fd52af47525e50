"""The CLI's event sink writes what logging would write, and steps aside when others listen."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from aetherflow.cli import logs
from aetherflow.cli.console import ConsoleObserver
from aetherflow.runner.events import Event
from aetherflow.runner.observers import LoggingObserver

_FLOW_LOGGER = "aetherflow.flow.f"


def _events() -> list[Event]:
    fields = {"flow_id": "f", "run_id": "r1", "job_id": "j", "step_id": "s one"}
    return [
        Event("step_start", logging.INFO, 1_767_225_600_123, {**fields, "attempt": 1}),
        Event(
            "step_end",
            logging.INFO,
            1_767_225_601_000,
            {**fields, "status": "SUCCESS", "outputs_summary": {"n": 3}, "skip_reason": None},
        ),
        Event("step_error", logging.ERROR, 1_767_225_601_500, {**fields, "message": 'a "b"'}),
        Event("lock_wait", logging.DEBUG, 1_767_225_602_000, {**fields, "key": "k"}),
    ]


def _configure(stream: io.StringIO, level: str, fmt: str) -> None:
    """The CLI's logging at ``level`` in ``fmt``, writing to ``stream`` instead of stderr."""
    logs.configure_logging(level, fmt)
    handler = logging.getLogger("aetherflow").handlers[0]
    assert isinstance(handler, logs.LineHandler)
    handler.setStream(stream)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The CLI's logging set up at INFO in text, writing to a buffer."""
    root = logging.getLogger("aetherflow")
    saved = root.handlers[:], root.level, root.propagate
    buffer = io.StringIO()
    _configure(buffer, "INFO", "text")
    yield buffer
    root.handlers[:], root.propagate = saved[0], saved[2]
    root.setLevel(saved[1])


def _lines(observer: object, stream: io.StringIO) -> list[str]:
    stream.seek(0)
    stream.truncate()
    for event in _events():
        observer.on_event(event)  # type: ignore[attr-defined]
    return stream.getvalue().splitlines()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_same_lines_as_the_logging_observer(stream: io.StringIO, fmt: str) -> None:
    _configure(stream, "INFO", fmt)
    direct = _lines(ConsoleObserver(), stream)
    logged = _lines(LoggingObserver(), stream)
    assert direct == logged
    assert len(direct) == 3  # the DEBUG event is below the level
    if fmt == "json":
        assert [json.loads(line)["event"] for line in direct] == [
            "step_start",
            "step_end",
            "step_error",
        ]
    else:
        assert direct[1] == (
            '2026-01-01T00:00:01.000Z INFO step_end flow_id=f run_id=r1 job_id=j step_id="s one" '
            'status=SUCCESS outputs_summary={"n":3}'
        )


def test_a_handler_added_to_the_flow_logger_gets_the_records(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = io.StringIO()
    monkeypatch.setattr(logging.getLogger(_FLOW_LOGGER), "handlers", [logging.StreamHandler(extra)])
    lines = _lines(ConsoleObserver(), stream)
    assert extra.getvalue().splitlines() == ["step_start", "step_end", "step_error"]
    assert len(lines) == 3  # and the CLI's lines are still written once each


def test_a_filter_on_the_flow_logger_is_applied(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def only_errors(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    monkeypatch.setattr(logging.getLogger(_FLOW_LOGGER), "filters", [only_errors])
    lines = _lines(ConsoleObserver(), stream)
    assert [line.split()[2] for line in lines] == ["step_error"]


def test_a_custom_record_factory_makes_the_records(
    stream: io.StringIO, record_factory: list[str]
) -> None:
    lines = _lines(ConsoleObserver(), stream)
    assert record_factory == ["step_start", "step_end", "step_error"]
    assert len(lines) == 3


def test_enabled_for_follows_the_level(stream: io.StringIO) -> None:
    observer = ConsoleObserver()
    assert observer.enabled_for("f", logging.INFO)
    assert not observer.enabled_for("f", logging.DEBUG)
    _configure(stream, "WARNING", "text")
    assert not observer.enabled_for("f", logging.INFO)
    assert _lines(observer, stream) == [_lines(LoggingObserver(), stream)[0]]


def test_a_broken_stream_is_reported_with_the_event_record(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = logging.getLogger("aetherflow").handlers[0]
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", reported.append)
    stream.close()
    ConsoleObserver().on_event(_events()[0])
    assert [(r.name, getattr(r, "event", None)) for r in reported] == [(_FLOW_LOGGER, "step_start")]
