"""Where ``runs``/``locks`` commands find the state store: a flow file, ``--state URL`` or the
default location."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from aetherflow.cli.bootstrap import Runtime
from aetherflow.cli.usage import UsageError
from aetherflow.errors import ConfigError, SpecError, StateError
from aetherflow.runner.engine import state_location
from aetherflow.runner.flowmeta import render_flow_block
from aetherflow.spec.flow import STATE_FILE_NAME, FlowMetaSpec, FlowSpec
from aetherflow.spec.yamlload import load_yaml_file
from aetherflow.state import StateStore, describe_url, open_state_store, state_exists


def add_state_arguments(parser: argparse.ArgumentParser) -> None:
    """``[FLOW | --state URL]`` (and ``--flow-yaml``)."""
    parser.add_argument("flow", nargs="?", metavar="FLOW", help="a flow file (its state: section)")
    parser.add_argument("--flow-yaml", dest="flow_yaml", metavar="FLOW", help=argparse.SUPPRESS)
    parser.add_argument(
        "--state",
        metavar="URL",
        help="sqlite:///abs/path.db, sqlite:relative/path.db or a file path "
        "(default: <AETHERFLOW_STATE_ROOT>/aetherflow.sqlite)",
    )


def flow_meta(path: str, runtime: Runtime) -> FlowMetaSpec:
    """Read just the ``flow:`` block of a flow file (rendered with the env snapshot).

    Raises:
        SpecError: The file or its ``flow:`` block is invalid.
    """
    loaded = load_yaml_file(path)
    data = loaded.data if isinstance(loaded.data, dict) else {}
    block = render_flow_block(data.get("flow"), runtime.env, keep_unrenderable=False)
    try:
        return FlowMetaSpec.model_validate(block)
    except ValidationError as exc:
        raise SpecError(
            f"the flow: block of {path} is invalid: {exc.error_count()} error(s)"
        ) from exc


def state_url(args: argparse.Namespace, runtime: Runtime) -> tuple[str, str | None]:
    """The state URL and, when a flow file was given, its flow id."""
    flow_file = getattr(args, "flow", None) or getattr(args, "flow_yaml", None)
    if flow_file and args.state:
        raise UsageError("give either a FLOW file or --state URL, not both")
    if args.state:
        return str(args.state), None
    if flow_file:
        meta = flow_meta(str(flow_file), runtime)
        spec = FlowSpec.model_construct(flow=meta, jobs=[], resources={})
        return state_location(spec, runtime.settings), meta.id
    return str(Path(runtime.settings.state_root) / STATE_FILE_NAME), None


def open_store(url: str, *, must_exist: bool = True) -> StateStore:
    """Open a state store for reading.

    Raises:
        ConfigError: The store does not exist (for a file) or cannot be opened.
    """
    try:
        if must_exist and not state_exists(url):
            raise ConfigError(f"no state store at {describe_url(url)} (nothing has run there yet)")
        return open_state_store(url)
    except StateError as exc:
        raise ConfigError(f"cannot open state store {url}: {exc}") from exc
