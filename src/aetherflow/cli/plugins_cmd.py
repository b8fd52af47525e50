"""``aetherflow plugins list``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aetherflow.cli.bootstrap import Runtime, bootstrap
from aetherflow.cli.output import print_json
from aetherflow.cli.usage import SubParsers, UsageError
from aetherflow.runtime.trust import tree_files, tree_hash

EXAMPLES = """examples:
  aetherflow plugins list
  AETHERFLOW_PLUGIN_PATHS=./plugins aetherflow plugins list --json | jq '.steps[].name'"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the ``plugins`` command group."""
    parser = sub.add_parser(
        "plugins",
        parents=[common],
        help="inspect registered step types and connectors",
        description="Inspect the step types and connectors known after plugins load.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_subparsers(dest="plugins_command", metavar="COMMAND", required=True)
    listing = group.add_parser(
        "list",
        parents=[common],
        help="list step types and connectors with their origin",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--json", action="store_true", help="print JSON with input schemas")
    listing.set_defaults(handler=run_list)
    hashing = group.add_parser(
        "hash",
        parents=[common],
        help="print the tree hash of a plugin directory (for enterprise pinning)",
        description="Print the sha256 to pin a plugin directory with in a bundle manifest: "
        "paths: {plugins: [{path: DIR, sha256: HASH}]}. --files also lists every file's sha256.",
        epilog="examples:\n  aetherflow plugins hash plugins/\n"
        "  aetherflow plugins hash plugins/ --files > plugins.sha256",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hashing.add_argument("directory", metavar="DIR")
    hashing.add_argument("--files", action="store_true", help="also list each file's sha256")
    hashing.set_defaults(handler=run_hash)


def _input_schema(cls: type[Any]) -> dict[str, Any] | None:
    model = getattr(cls, "Inputs", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_json_schema(by_alias=True)
    return None


def describe(runtime: Runtime) -> dict[str, Any]:
    """The ``plugins list --json`` shape."""
    registry = runtime.registry
    steps = [
        {
            "name": entry.name,
            "origin": entry.origin,
            "class": f"{entry.cls.__module__}.{entry.cls.__qualname__}",
            "required_inputs": sorted(getattr(entry.cls, "required_inputs", set()) or set()),
            "input_schema": _input_schema(entry.cls),
        }
        for entry in sorted(registry.steps.values(), key=lambda e: e.name)
    ]
    connectors = [
        {
            "kind": entry.kind,
            "driver": entry.driver,
            "origin": entry.origin,
            "class": f"{entry.cls.__module__}.{entry.cls.__qualname__}",
        }
        for entry in sorted(registry.connectors.values(), key=lambda e: e.key)
    ]
    plugins = [{"source": p.source, "name": p.name, "sha256": p.sha256} for p in runtime.plugins]
    return {"steps": steps, "connectors": connectors, "plugins": plugins}


def run_list(args: argparse.Namespace) -> int:
    """Print the registered step types and connectors."""
    info = describe(bootstrap())
    if args.json:
        print_json(info)
        return 0
    print("STEP TYPE".ljust(28) + "ORIGIN")
    for step in info["steps"]:
        print(step["name"].ljust(28) + step["origin"])
    print()
    print("CONNECTOR".ljust(28) + "ORIGIN")
    if not info["connectors"]:
        print("(none registered)")
    for conn in info["connectors"]:
        print(f"{conn['kind']}:{conn['driver']}".ljust(28) + conn["origin"])
    return 0


def run_hash(args: argparse.Namespace) -> int:
    """Print the tree hash (and with ``--files`` every file's hash)."""
    directory = Path(args.directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    print(tree_hash(directory))
    if args.files:
        for relative, digest in tree_files(directory):
            print(f"{digest}  {relative}")
    return 0
