"""The text log line of an event, and the log record that carries it."""

from __future__ import annotations

import enum
import io
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from aetherflow.cli import logs
from aetherflow.cli.logs import JsonFormatter, TextFormatter, format_value
from aetherflow.runner.events import Event
from aetherflow.runner.observers import EventRecord, LoggingObserver
from aetherflow.runtime.redact import ACTIVE, Redactor


class Color(enum.StrEnum):
    RED = "dark red"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a=b", '"a=b"'),
        ("naïve", "naïve"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        ({"count": 3, "has_data": True}, '{"count":3,"has_data":true}'),
        ([1, "x y"], '[1,"x y"]'),
        ({"amount": Decimal("1.50")}, '{"amount":"1.50"}'),
        (Color.RED, '"dark red"'),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text
    assert format_value(value) == text  # the second time from the cache, the same


def test_long_strings_are_formatted_but_not_cached() -> None:
    long = "x " * 300
    assert format_value(long) == f'"{long}"'
    assert long not in logs._TEXT_CACHE


def test_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_TEXT_CACHE", {})
    monkeypatch.setattr(logs, "_TEXT_CACHE_SIZE", 3)
    for index in range(10):
        assert format_value(f"id {index}") == f'"id {index}"'
    assert len(logs._TEXT_CACHE) <= 3


def _event(**fields: object) -> Event:
    return Event(
        name="step_end",
        level=logging.INFO,
        ts_ms=1_767_225_600_123,  # 2026-01-01T00:00:00.123Z
        fields={"flow_id": "f", "run_id": "r1", **fields},
    )


def test_event_line_in_text() -> None:
    record = EventRecord(
        "aetherflow.flow.f",
        _event(job_id="j", step_id="s one", skip_reason=None, outputs_summary={"count": 3}),
    )
    line = TextFormatter().format(record)
    assert line == (
        '2026-01-01T00:00:00.123Z INFO step_end flow_id=f run_id=r1 job_id=j step_id="s one" '
        'outputs_summary={"count":3}'
    )


def test_event_record_works_with_any_formatter() -> None:
    record = EventRecord("aetherflow.flow.f", _event(job_id="j"))
    pattern = (
        "%(asctime)s|%(name)s|%(levelname)s|%(levelno)d|%(module)s|%(filename)s|%(lineno)d|"
        "%(funcName)s|%(threadName)s|%(process)d|%(processName)s|%(message)s|%(event)s"
    )
    text = logging.Formatter(pattern).format(record)
    parts = text.split("|")
    assert parts[1:] == [
        "aetherflow.flow.f",
        "INFO",
        "20",
        "aetherflow",
        "aetherflow",
        "0",
        "None",
        "MainThread",
        str(record.process),
        "MainProcess",
        "step_end",
        "step_end",
    ]
    assert record.created == pytest.approx(1_767_225_600.123)
    assert record.msecs == 123.0
    assert record.getMessage() == "step_end"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The ``aetherflow.flow`` logger writing JSON lines to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("aetherflow.flow.f")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_logging_observer_hands_the_event_to_handlers(captured: io.StringIO) -> None:
    LoggingObserver().on_event(_event(job_id="j", status="SUCCESS"))
    line = captured.getvalue()
    assert '"event": "step_end"' in line
    assert '"status": "SUCCESS"' in line
    assert '"ts_ms": 1767225600123' in line


def test_text_lines_are_redacted_when_a_redactor_is_active() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret")
    record = EventRecord("aetherflow.flow.f", _event(message="token hunter2-secret"))
    ACTIVE.push(redactor)
    try:
        line = TextFormatter().format(record)
    finally:
        ACTIVE.remove(redactor)
    assert "hunter2" not in line
    assert 'message="token ***"' in line
    assert "hunter2-secret" in TextFormatter().format(record)  # no redactor active any more


def test_a_custom_record_factory_makes_event_records(
    captured: io.StringIO, record_factory: list[str]
) -> None:
    LoggingObserver().on_event(_event(job_id="j", status="SUCCESS"))
    assert record_factory == ["step_end"]
    assert '"status": "SUCCESS"' in captured.getvalue()


def test_event_record_has_the_attributes_of_a_made_record() -> None:
    logger = logging.getLogger("aetherflow.flow.f")
    made = logger.makeRecord(logger.name, logging.INFO, "aetherflow", 0, "step_end", (), None)
    record = EventRecord(logger.name, _event(job_id="j"))
    extra = set(vars(record)) - set(vars(made))
    assert set(vars(made)) <= set(vars(record))
    assert extra <= {"event", "event_fields", "event_ts_ms", "taskName"}  # taskName: 3.12's
    for name in ("args", "exc_info", "exc_text", "stack_info", "lineno", "levelname", "name"):
        assert getattr(record, name) == getattr(made, name), name


class _FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.lines_at_flush: list[int] = []

    def flush(self) -> None:
        self.lines_at_flush.append(self.getvalue().count("\n"))


def test_line_handler_flushes_each_line_as_it_is_written() -> None:
    stream = _FlushCounter()
    handler = logs.LineHandler(stream)
    handler.setFormatter(TextFormatter())
    for job in ("a", "b"):
        handler.handle(EventRecord("aetherflow.flow.f", _event(job_id=job)))
    assert stream.lines_at_flush == [1, 2]  # nothing waits in a buffer for the next line
    assert stream.getvalue().splitlines()[1].endswith("step_end flow_id=f run_id=r1 job_id=b")


def test_line_handler_reports_a_broken_stream_without_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reported: list[logging.LogRecord] = []
    stream = io.StringIO()
    stream.close()  # writing raises ValueError
    handler = logs.LineHandler(stream)
    monkeypatch.setattr(handler, "handleError", reported.append)
    handler.handle(EventRecord("aetherflow.flow.f", _event(job_id="j")))
    assert [r.getMessage() for r in reported] == ["step_end"]


def test_the_process_redactor_applies_until_it_is_replaced() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret")
    ACTIVE.set_process(redactor)
    try:
        assert ACTIVE.redact("a hunter2-secret b") == "a *** b"
    finally:
        ACTIVE.set_process(None)
    assert ACTIVE.redact("a hunter2-secret b") == "a hunter2-secret b"
