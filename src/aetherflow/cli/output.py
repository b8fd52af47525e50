"""Printing helpers: JSON on stdout, messages on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from aetherflow.templating.text import json_default


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=json_default))


def error(message: str) -> None:
    """Print ``aetherflow: error: <message>`` on stderr."""
    print(f"aetherflow: error: {message}", file=sys.stderr)


def one_line(text: str) -> str:
    """Join a multi-line message into one line (for line-oriented output)."""
    return " — ".join(part.strip() for part in text.splitlines() if part.strip())
