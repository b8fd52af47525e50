"""``aetherflow validate``."""

from __future__ import annotations

import argparse

from aetherflow.cli.bootstrap import bootstrap
from aetherflow.cli.flowarg import (
    add_bundle_arguments,
    add_flow_argument,
    bundle_options,
    flow_path,
    resolved_flow,
)
from aetherflow.cli.output import one_line, print_json
from aetherflow.cli.usage import SubParsers
from aetherflow.errors import Issue
from aetherflow.runner.validation import ValidationOptions, validate_flow_file
from aetherflow.runtime.profiles import profile_vars
from aetherflow.runtime.redact import ACTIVE

EXAMPLES = """examples:
  aetherflow validate flows/nightly.yaml
  aetherflow validate --flow-yaml flows/nightly.yaml --json | jq '.errors[].loc'
  AETHERFLOW_VALIDATE_ENV_STRICT=true aetherflow validate flows/nightly.yaml

exit status: 0 valid, 2 invalid (or a usage error)"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the ``validate`` command."""
    parser = sub.add_parser(
        "validate",
        parents=[common],
        help="check a flow: schema, semantics, templates, step inputs",
        description="Check a flow file without running anything. Every problem is reported "
        "with file:line:col, its location in the document, a code and a hint.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flow_argument(parser)
    add_bundle_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def format_issue(issue: Issue, marker: str) -> str:
    """``- file:line:col loc: code - msg (hint)``."""
    loc = f" {issue.loc}:" if issue.loc else ""
    hint = f" ({issue.hint})" if issue.hint else ""
    return f"{marker} {issue.where()}{loc} {issue.code} - {one_line(issue.msg)}{hint}"


def run(args: argparse.Namespace) -> int:
    """Validate the flow and print the report; exit 0 when valid, 2 otherwise."""
    if not (args.flow or args.flow_yaml or args.bundle_manifest):
        flow_path(args)  # the usage error for a missing flow, before any work
    runtime = bootstrap(bundle_options=bundle_options(args))
    path = resolved_flow(args, runtime)
    options = ValidationOptions(
        env=runtime.env,
        registry=runtime.registry,
        env_strict=runtime.settings.validate_env_strict,
        secrets_configured=runtime.secrets is not None,
        work_root=runtime.settings.work_root,
        profiles_env=profile_vars(runtime.settings.profiles_file, runtime.settings.profiles_json),
    )
    report = validate_flow_file(path, options)
    if args.json:
        print_json(report.as_dict())
    else:
        print(ACTIVE.redact(f"{'OK' if report.ok else 'INVALID'}: {path}"))
        for issue in report.errors:
            print(ACTIVE.redact(format_issue(issue, "-")))
        for issue in report.warnings:
            print(ACTIVE.redact(format_issue(issue, "!")))
    return 0 if report.ok else 2
