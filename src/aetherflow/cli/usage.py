"""Usage errors (exit 2)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[Any]
else:  # argparse._SubParsersAction is not subscriptable at run time
    SubParsers = argparse._SubParsersAction


class UsageError(Exception):
    """The command line is wrong; the message says how to call the command."""
