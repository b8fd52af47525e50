"""The flow argument: positional ``FLOW`` or the predecessor's ``--flow-yaml FLOW``."""

from __future__ import annotations

import argparse

from aetherflow.cli.usage import UsageError


def add_flow_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``FLOW`` (positional, optional) and ``--flow-yaml FLOW``."""
    parser.add_argument("flow", nargs="?", metavar="FLOW", help="the flow YAML file")
    parser.add_argument(
        "--flow-yaml",
        dest="flow_yaml",
        metavar="FLOW",
        help="the flow YAML file (alternative form)",
    )


def flow_path(args: argparse.Namespace) -> str:
    """The flow path given either way.

    Raises:
        UsageError: Neither form, or two different paths, were given.
    """
    positional, flag = args.flow, args.flow_yaml
    if positional and flag and positional != flag:
        raise UsageError(f"two different flows given: {positional!r} and --flow-yaml {flag!r}")
    path = positional or flag
    if not path:
        raise UsageError("a flow file is required: aetherflow <command> FLOW (or --flow-yaml FLOW)")
    return str(path)
