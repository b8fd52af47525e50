"""OpenTelemetry tracing: one trace per run, spans for run → job → step (``AETHERFLOW_OTEL``).

:class:`TracingObserver` turns lifecycle events into spans, so tracing sees exactly what the log
and the metrics hook see. The run span continues a ``TRACEPARENT`` from the environment (a CI job
or scheduler that starts ``aetherflow`` links its trace); ``external.process`` children get the
``TRACEPARENT`` of their step's span (:meth:`TracingObserver.traceparent`).

The exporter follows the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp`` (default),
``console``, ``none``), ``OTEL_SERVICE_NAME`` (default ``aetherflow``), and the OTLP exporter's
own ``OTEL_EXPORTER_OTLP_*`` variables. A tracer provider configured by the embedding application
(``trace.set_tracer_provider``) is used as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aetherflow.runner import events as ev
from aetherflow.runner.events import Event
from aetherflow.runtime.deps import require

_BAD_STATUSES = ("FAILED", "BLOCKED", "INTERRUPTED")
FLUSH_TIMEOUT_MS = 5000
"""The longest a run's end waits for its spans to be exported."""


@dataclass
class _OpenSpan:
    span: Any
    context: Any


@dataclass
class TracingObserver:
    """Builds spans from events (one observer per run).

    Attributes:
        tracer: An OpenTelemetry ``Tracer``.
        parent: A W3C ``traceparent`` header value the run span continues, or None.
        on_end: Called after the run's last event (flushes the exporter).
    """

    tracer: Any
    parent: str | None = None
    on_end: Callable[[], None] | None = None
    _run: _OpenSpan | None = None
    _jobs: dict[str, _OpenSpan] = field(default_factory=dict)
    _steps: dict[str, list[tuple[str, _OpenSpan]]] = field(default_factory=dict)

    def on_event(self, event: Event) -> None:
        """Open or close the span the event belongs to."""
        handler = _HANDLERS.get(event.name)
        if handler is not None:
            handler(self, event.fields)

    def traceparent(self) -> str | None:
        """The ``traceparent`` of the innermost open span (a step's, while one runs)."""
        open_span = self._innermost()
        if open_span is None:
            return None
        propagate = require("opentelemetry.propagate", needed_for="AETHERFLOW_OTEL")
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=open_span.context)
        return carrier.get("traceparent")

    # -- spans ------------------------------------------------------------------------------
    def _start(self, name: str, parent_context: Any, attributes: Mapping[str, Any]) -> _OpenSpan:
        trace = require("opentelemetry.trace", needed_for="AETHERFLOW_OTEL")
        span = self.tracer.start_span(
            name, context=parent_context, attributes=_attributes(attributes)
        )
        return _OpenSpan(span, trace.set_span_in_context(span))

    def _innermost(self) -> _OpenSpan | None:
        for stack in reversed(self._steps.values()):
            if stack:
                return stack[-1][1]
        if self._jobs:
            return list(self._jobs.values())[-1]
        return self._run

    def _run_start(self, fields: Mapping[str, Any]) -> None:
        parent_context = None
        if self.parent:
            propagate = require("opentelemetry.propagate", needed_for="AETHERFLOW_OTEL")
            parent_context = propagate.extract({"traceparent": self.parent})
        keys = ("flow_id", "run_id", "mode", "resumed")
        self._run = self._start(
            f"run {fields.get('flow_id')}",
            parent_context,
            {f"aetherflow.{k}": fields.get(k) for k in keys},
        )

    def _run_end(self, fields: Mapping[str, Any]) -> None:
        for job_id in list(self._jobs):
            self._end_job(job_id, {"status": "INTERRUPTED"})
        if self._run is not None:
            _finish(self._run.span, fields.get("status"), None)
            self._run = None

    def _run_summary(self, _fields: Mapping[str, Any]) -> None:
        if self.on_end is not None:  # after the log's last line: flushing may wait for a collector
            self.on_end()

    def _job_start(self, fields: Mapping[str, Any]) -> None:
        job_id = str(fields.get("job_id"))
        parent = self._run.context if self._run is not None else None
        attrs = {
            "aetherflow.flow_id": fields.get("flow_id"),
            "aetherflow.run_id": fields.get("run_id"),
            "aetherflow.job_id": job_id,
        }
        self._jobs[job_id] = self._start(f"job {job_id}", parent, attrs)

    def _end_job(self, job_id: str, fields: Mapping[str, Any]) -> None:
        for _, open_step in reversed(self._steps.pop(job_id, [])):
            _finish(open_step.span, "INTERRUPTED", None)
        open_job = self._jobs.pop(job_id, None)
        if open_job is None:  # BLOCKED/SKIPPED jobs never started: a zero-length span
            open_job = self._start(
                f"job {job_id}",
                self._run.context if self._run is not None else None,
                {"aetherflow.job_id": job_id},
            )
        for key in ("skip_reason", "reason"):
            if fields.get(key):
                open_job.span.set_attribute(f"aetherflow.{key}", str(fields[key]))
        _finish(open_job.span, fields.get("status"), None)

    def _step_start(self, fields: Mapping[str, Any]) -> None:
        job_id, step_id = str(fields.get("job_id")), str(fields.get("step_id"))
        stack = self._steps.setdefault(job_id, [])
        if stack:
            parent = stack[-1][1].context  # the inner step of with_lock
        elif job_id in self._jobs:
            parent = self._jobs[job_id].context
        else:
            parent = self._run.context if self._run is not None else None
        attrs = {
            "aetherflow.flow_id": fields.get("flow_id"),
            "aetherflow.run_id": fields.get("run_id"),
            "aetherflow.job_id": job_id,
            "aetherflow.step_id": step_id,
            "aetherflow.step_type": fields.get("step_type"),
            "aetherflow.attempt": fields.get("attempt"),
        }
        stack.append((step_id, self._start(f"step {step_id}", parent, attrs)))

    def _step_error(self, fields: Mapping[str, Any]) -> None:
        open_step = self._find_step(fields)
        if open_step is not None:
            open_step.span.set_attribute("aetherflow.failure_class", fields.get("failure_class"))
            open_step.span.set_attribute("aetherflow.error_class", fields.get("error_class"))

    def _step_end(self, fields: Mapping[str, Any]) -> None:
        job_id, step_id = str(fields.get("job_id")), str(fields.get("step_id"))
        stack = self._steps.get(job_id, [])
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == step_id:
                _, open_step = stack.pop(index)
                _finish(open_step.span, fields.get("status"), fields.get("failure_class"))
                return

    def _find_step(self, fields: Mapping[str, Any]) -> _OpenSpan | None:
        step_id = str(fields.get("step_id"))
        for name, open_step in reversed(self._steps.get(str(fields.get("job_id")), [])):
            if name == step_id:
                return open_step
        return None


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, str | bool | int | float)}


def _finish(span: Any, status: Any, failure_class: Any) -> None:
    trace = require("opentelemetry.trace", needed_for="AETHERFLOW_OTEL")
    if status is not None:
        span.set_attribute("aetherflow.status", str(status))
    if failure_class:
        span.set_attribute("aetherflow.failure_class", str(failure_class))
    if str(status) in _BAD_STATUSES:
        span.set_status(trace.Status(trace.StatusCode.ERROR, str(status)))
    span.end()


_HANDLERS: dict[str, Callable[[TracingObserver, Mapping[str, Any]], None]] = {
    ev.RUN_START: TracingObserver._run_start,
    ev.RUN_END: TracingObserver._run_end,
    ev.RUN_SUMMARY: TracingObserver._run_summary,
    ev.JOB_START: TracingObserver._job_start,
    ev.JOB_END: lambda self, f: self._end_job(str(f.get("job_id")), f),
    ev.STEP_START: TracingObserver._step_start,
    ev.STEP_ERROR: TracingObserver._step_error,
    ev.STEP_END: TracingObserver._step_end,
}


def tracing_observer(env: Mapping[str, str]) -> TracingObserver:
    """A tracing observer with the provider configured from the ``OTEL_*`` variables of ``env``.

    Raises:
        MissingDependency: The OpenTelemetry SDK is not installed.
        ConfigError: ``OTEL_TRACES_EXPORTER`` names an exporter that is not available.
    """
    trace = require("opentelemetry.trace", needed_for="AETHERFLOW_OTEL=true")
    provider = trace.get_tracer_provider()
    flush: Callable[[], None] | None = None
    if not hasattr(provider, "add_span_processor"):  # the API's no-op/proxy provider
        from aetherflow.runner.tracing_setup import sdk_provider  # noqa: PLC0415 - SDK is heavy

        provider = sdk_provider(env)
        flush = lambda: provider.force_flush(FLUSH_TIMEOUT_MS)  # noqa: E731
    tracer = provider.get_tracer("aetherflow")
    return TracingObserver(tracer, parent=env.get("TRACEPARENT") or None, on_end=flush)
