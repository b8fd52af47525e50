"""Printing helpers: JSON on stdout, messages on stderr."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from aetherflow.runtime.redact import ACTIVE
from aetherflow.templating.text import json_default


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (known secrets redacted)."""
    print(ACTIVE.redact(json.dumps(data, indent=2, ensure_ascii=False, default=json_default)))


_error_format = {"value": "text"}


def set_error_format(fmt: str) -> None:
    """``json`` makes :func:`error` print one JSON object per line (JSON log mode)."""
    _error_format["value"] = fmt


def error(
    message: str,
    *,
    error_class: str | None = None,
    exit_code: int | None = None,
    issues: list[dict[str, Any]] | None = None,
) -> None:
    """Report a command failure on stderr.

    Text mode: ``aetherflow: error: <message>`` (then one ``- file:line:col ...`` line per
    issue). JSON mode: one ``cli_error`` event object, so every stderr line stays JSON.
    Known secrets (env keys matching the secret patterns, decoded values) are redacted.
    """
    message = ACTIVE.redact(message)
    issues = [{**i, "msg": ACTIVE.redact(str(i.get("msg", "")))} for i in issues or []] or issues
    if _error_format["value"] == "json":
        payload: dict[str, Any] = {
            "ts_ms": time.time_ns() // 1_000_000,
            "level": "ERROR",
            "event": "cli_error",
            "schema_version": 1,
            "message": message,
            "error_class": error_class,
            "exit_code": exit_code,
        }
        if issues is not None:
            payload["issues"] = issues
        print(json.dumps(payload, ensure_ascii=False, default=json_default), file=sys.stderr)
        return
    print(f"aetherflow: error: {message}", file=sys.stderr)
    for issue in issues or []:
        location = f" {issue['loc']}:" if issue.get("loc") else ""
        print(
            f"- {issue['where']}{location} {issue['code']} - {one_line(issue['msg'])}",
            file=sys.stderr,
        )


def one_line(text: str) -> str:
    """Join a multi-line message into one line (for line-oriented output)."""
    return " — ".join(part.strip() for part in text.splitlines() if part.strip())
