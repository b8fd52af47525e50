"""``aetherflow schema flow|profiles|manifest|scheduler``."""

from __future__ import annotations

import argparse

from aetherflow.cli.bootstrap import bootstrap
from aetherflow.cli.output import print_json
from aetherflow.cli.usage import SubParsers
from aetherflow.spec import DOCUMENT_KINDS

EXAMPLES = """examples:
  aetherflow schema flow > aetherflow-flow.schema.json
  # then, in a flow file, for yaml-language-server:
  # yaml-language-server: $schema=./aetherflow-flow.schema.json"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the ``schema`` command."""
    parser = sub.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of a YAML document type",
        description="Print a JSON Schema (draft 2020-12) generated from the same models "
        "validate uses. The flow schema includes the input schema of every registered step "
        "type (built-ins and loaded plugins).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=DOCUMENT_KINDS, help="which document")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the schema."""
    # Imported here: the schema models of every document type are not needed by other commands.
    from aetherflow.runner.jsonschema import document_schema  # noqa: PLC0415

    runtime = bootstrap()
    print_json(document_schema(args.kind, runtime.registry))
    return 0
