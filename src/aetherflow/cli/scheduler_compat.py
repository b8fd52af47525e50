"""``aetherflow-scheduler``: the predecessor's scheduler command name.

``aetherflow-scheduler validate FILE`` checks a scheduler YAML. Running schedules
(``aetherflow-scheduler run FILE``) arrives with the scheduler; until then ``run`` exits 2 and
says so instead of pretending to work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aetherflow.cli.output import error, one_line
from aetherflow.errors import SpecError
from aetherflow.spec.issues import issues_from_validation_error
from aetherflow.spec.scheduler import SchedulerFileSpec
from aetherflow.spec.yamlload import load_yaml_file


def validate_scheduler_file(path: str) -> int:
    """Validate a scheduler YAML; print ``OK:``/``INVALID:`` and the issues."""
    from pydantic import ValidationError  # noqa: PLC0415 - keep startup lean

    try:
        loaded = load_yaml_file(path)
        SchedulerFileSpec.model_validate(loaded.data or {})
    except SpecError as exc:
        issues = list(exc.issues)
    except ValidationError as exc:
        issues = issues_from_validation_error(
            exc,
            model=SchedulerFileSpec,
            source_map=loaded.source_map,
            file=path,
            data=loaded.data,
        )
    else:
        print(f"OK: {path}")
        return 0
    print(f"INVALID: {path}")
    for issue in issues:
        print(f"- {issue.where()} {issue.loc}: {issue.code} - {one_line(issue.msg)}")
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``aetherflow-scheduler`` arguments and dispatch."""
    parser = argparse.ArgumentParser(prog="aetherflow-scheduler")
    parser.add_argument("command", choices=("run", "validate"))
    parser.add_argument("file", metavar="FILE", help="scheduler YAML")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return validate_scheduler_file(args.file)
    error("'run' is not available yet in this version; see docs/compatibility.md")
    return 2


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
