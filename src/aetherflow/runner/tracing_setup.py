"""An OpenTelemetry SDK tracer provider configured from the standard ``OTEL_*`` variables.

Only the variables of the given environment are used (env files included), not ``os.environ``:

* ``OTEL_TRACES_EXPORTER``: ``otlp`` (default; OTLP over HTTP/protobuf, needs
  ``opentelemetry-exporter-otlp-proto-http``), ``console`` (one JSON line per span on stdout) or
  ``none``.
* ``OTEL_SERVICE_NAME``: the ``service.name`` resource attribute (default ``aetherflow``).
* ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` is
  appended to the latter), ``OTEL_EXPORTER_OTLP_HEADERS`` (``k=v,k2=v2``),
  ``OTEL_EXPORTER_OTLP_TIMEOUT`` (milliseconds).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aetherflow.errors import ConfigError
from aetherflow.runtime.deps import require

EXPORTERS = ("otlp", "console", "none")


def sdk_provider(env: Mapping[str, str]) -> Any:
    """A ``TracerProvider`` with the exporter ``OTEL_TRACES_EXPORTER`` names.

    Raises:
        ConfigError: An unknown exporter name, or ``otlp`` without its package.
        MissingDependency: The SDK is not installed.
    """
    need = "AETHERFLOW_OTEL=true"
    sdk_trace = require("opentelemetry.sdk.trace", needed_for=need)
    resources = require("opentelemetry.sdk.resources", needed_for=need)
    export = require("opentelemetry.sdk.trace.export", needed_for=need)
    service = env.get("OTEL_SERVICE_NAME") or "aetherflow"
    provider = sdk_trace.TracerProvider(
        resource=resources.Resource.create({"service.name": service})
    )
    names = [n.strip() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")]
    for name in filter(None, names):
        if name not in EXPORTERS:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported; use one of {', '.join(EXPORTERS)}"
            )
        if name == "console":
            exporter = export.ConsoleSpanExporter(
                out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n"
            )
            provider.add_span_processor(export.SimpleSpanProcessor(exporter))
        elif name == "otlp":
            provider.add_span_processor(export.BatchSpanProcessor(_otlp_exporter(env)))
    return provider


def _otlp_exporter(env: Mapping[str, str]) -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as exc:
        raise ConfigError(
            "OTEL_TRACES_EXPORTER=otlp (the default) needs opentelemetry-exporter-otlp-proto-http"
            " — pip install 'aetherflow[otel]', or set OTEL_TRACES_EXPORTER=console or none"
        ) from exc
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint and env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    timeout = env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    return OTLPSpanExporter(
        endpoint=endpoint or "http://localhost:4318/v1/traces",
        headers=parse_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", "")),
        timeout=float(timeout) / 1000 if timeout else None,
    )


def parse_headers(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (values URL-decoded) as a dict; malformed entries are errors.

    Raises:
        ConfigError: An entry without ``=``.
    """
    headers: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_HEADERS entry {entry.split('=')[0]!r} is not key=value"
            )
        headers[key.strip()] = unquote(value.strip())
    return headers
