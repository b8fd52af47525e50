"""Usage errors (exit 2)."""

from __future__ import annotations

import argparse
from typing import Any

SubParsers = argparse._SubParsersAction[Any]
"""The type of ``parser.add_subparsers()`` results that commands register into."""


class UsageError(Exception):
    """The command line is wrong; the message says how to call the command."""
