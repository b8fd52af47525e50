"""Tracing: spans run → job → step from lifecycle events, TRACEPARENT in and out, exporters."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from aetherflow.errors import ConfigError
from aetherflow.runner.engine import RunRequest, RunResult, run_flow
from aetherflow.runner.tracing import TracingObserver
from aetherflow.runner.tracing_setup import parse_headers, sdk_provider
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{PARENT_TRACE}-b7ad6b7169203331-01"

FLOW = """
flow: {id: tr}
jobs:
  - id: a
    steps:
      - id: p
        type: external.process
        inputs:
          command: ["sh", "-c", "echo $TRACEPARENT"]
          log: {stdout: capture}
      - id: locked
        type: with_lock
        inputs:
          lock_key: k
          step: {id: inner, type: check_items, inputs: {items: [1]}}
  - id: b
    steps:
      - {id: bad, type: external.process, inputs: {command: ["sh", "-c", "exit 3"]}}
  - id: c
    depends_on: [b]
    steps: []
"""


def _run(tmp_path: Path, registry: Registry, parent: str | None) -> tuple[RunResult, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observer = TracingObserver(provider.get_tracer("test"), parent=parent)
    flow = tmp_path / "flow.yaml"
    flow.write_text(textwrap.dedent(FLOW))
    env = {
        "AETHERFLOW_STATE_ROOT": str(tmp_path / "state"),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
        "PATH": os.environ["PATH"],
    }
    result = run_flow(
        RunRequest(
            flow_path=str(flow),
            env=env,
            settings=Settings.from_env(env),
            registry=registry,
            observers=[observer],
            run_id="t1",
        )
    )
    return result, exporter.get_finished_spans()


def _by_name(spans: Any) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def test_spans_form_run_job_step_tree_under_the_given_parent(
    tmp_path: Path, registry: Registry
) -> None:
    result, spans = _run(tmp_path, registry, PARENT)
    assert result.exit_code == 1
    named = _by_name(spans)
    assert set(named) == {
        "run tr",
        "job a",
        "job b",
        "job c",
        "step p",
        "step locked",
        "step locked/inner",
        "step bad",
    }
    assert {format(s.context.trace_id, "032x") for s in spans} == {PARENT_TRACE}
    run = named["run tr"]
    assert run.parent is not None
    assert format(run.parent.span_id, "016x") == "b7ad6b7169203331"

    def parent_of(name: str) -> str:
        parent = named[name].parent
        assert parent is not None
        return next(s.name for s in spans if s.context.span_id == parent.span_id)

    assert parent_of("job a") == "run tr"
    assert parent_of("step p") == "job a"
    assert parent_of("step locked/inner") == "step locked"
    assert parent_of("job c") == "run tr"
    bad = named["step bad"]
    assert bad.attributes is not None
    assert bad.attributes["aetherflow.status"] == "FAILED"
    assert bad.attributes["aetherflow.failure_class"] == "error"
    assert bad.status.status_code is StatusCode.ERROR
    blocked = named["job c"].attributes
    assert blocked is not None
    assert blocked["aetherflow.status"] == "BLOCKED"
    assert run.attributes is not None
    assert run.attributes["aetherflow.run_id"] == "t1"
    assert run.status.status_code is StatusCode.ERROR


def test_a_child_process_gets_its_steps_traceparent(tmp_path: Path, registry: Registry) -> None:
    from aetherflow.state import open_state_store

    _, spans = _run(tmp_path, registry, None)
    step = _by_name(spans)["step p"]
    store = open_state_store(str(tmp_path / "state" / "aetherflow.sqlite"))
    try:
        record = next(s for s in store.get_steps("tr", "t1") if s.step_id == "p")
    finally:
        store.close()
    assert record.outputs is not None
    version, trace_id, span_id, _flags = record.outputs["stdout"].strip().split("-")
    assert (version, trace_id, span_id) == (
        "00",
        format(step.context.trace_id, "032x"),
        format(step.context.span_id, "016x"),
    )
    assert _by_name(spans)["run tr"].parent is None  # no TRACEPARENT: a new trace


def test_an_unknown_exporter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='jaeger' is not supported"):
        sdk_provider({"OTEL_TRACES_EXPORTER": "jaeger"})


def test_none_exporter_and_service_name() -> None:
    provider = sdk_provider({"OTEL_TRACES_EXPORTER": "none", "OTEL_SERVICE_NAME": "nightly"})
    assert provider.resource.attributes["service.name"] == "nightly"


def test_otlp_headers_are_parsed_and_bad_entries_rejected() -> None:
    assert parse_headers("api-key=a%20b, x=1") == {"api-key": "a b", "x": "1"}
    assert parse_headers("") == {}
    with pytest.raises(ConfigError, match="'broken' is not key=value"):
        parse_headers("broken")
