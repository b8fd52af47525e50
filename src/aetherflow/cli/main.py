"""The ``aetherflow`` command: argument parsing, logging setup and error → exit code mapping."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from aetherflow import __version__
from aetherflow.cli import (
    bundle_cmd,
    diagnose_cmd,
    locks_cmd,
    plugins_cmd,
    run_cmd,
    runs_cmd,
    schema_cmd,
    validate_cmd,
)
from aetherflow.cli.bootstrap import process_environ
from aetherflow.cli.logs import configure_logging
from aetherflow.cli.output import error, one_line, set_error_format
from aetherflow.cli.usage import UsageError
from aetherflow.errors import (
    AetherflowError,
    BusyError,
    ConfigError,
    PluginError,
    RegistryError,
    SpecError,
    StepInterrupted,
    TemplateError,
)

log = logging.getLogger("aetherflow.cli")

EXAMPLES = """examples:
  aetherflow validate flows/nightly.yaml
  aetherflow schema flow > flow.schema.json
  aetherflow plugins list

Run 'aetherflow COMMAND --help' for the options and examples of a command."""

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_BUSY = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors: one line plus the usage, exit 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"aetherflow: error: {message}\n")


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=argparse.SUPPRESS,
        help="log format on stderr (default: AETHERFLOW_LOG_FORMAT or text)",
    )
    group.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR (default: AETHERFLOW_LOG_LEVEL or INFO)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only warnings and errors on stderr",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    common = _common_options()
    parser = _Parser(
        prog="aetherflow",
        parents=[common],
        description="AetherFlow: a YAML-first workflow runner for ops-grade ETL.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aetherflow {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    run_cmd.register(sub, common)
    validate_cmd.register(sub, common)
    runs_cmd.register(sub, common)
    locks_cmd.register(sub, common)
    diagnose_cmd.register(sub, common)
    schema_cmd.register(sub, common)
    plugins_cmd.register(sub, common)
    bundle_cmd.register(sub, common)
    return parser


def _setup_logging(args: argparse.Namespace) -> str:
    env = process_environ()
    level = getattr(args, "log_level", None) or env.get("AETHERFLOW_LOG_LEVEL") or "INFO"
    if getattr(args, "quiet", False):
        level = "WARNING"
    fmt = getattr(args, "log_format", None) or env.get("AETHERFLOW_LOG_FORMAT", "text").lower()
    level = level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise UsageError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    configure_logging(
        level,
        "json" if fmt == "json" else "text",
        explicit_level=bool(getattr(args, "log_level", None) or getattr(args, "quiet", False)),
        explicit_format=bool(getattr(args, "log_format", None)),
    )
    set_error_format("json" if fmt == "json" else "text")
    return level


def _report_spec_error(exc: SpecError) -> None:
    issues = [{**issue.as_dict(), "where": issue.where()} for issue in exc.issues]
    error(one_line(str(exc)), error_class=type(exc).__name__, exit_code=EXIT_INVALID, issues=issues)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code (the predecessor's ``main(argv)`` contract)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = "INFO"
    try:
        level = _setup_logging(args)
        return int(args.handler(args))
    except UsageError as exc:
        error(str(exc), error_class="UsageError", exit_code=EXIT_INVALID)
        return EXIT_INVALID
    except SpecError as exc:
        _report_spec_error(exc)
        return EXIT_INVALID
    except (ConfigError, PluginError, RegistryError, TemplateError) as exc:
        error(one_line(str(exc)), error_class=type(exc).__name__, exit_code=EXIT_INVALID)
        return EXIT_INVALID
    except BusyError as exc:
        error(str(exc), error_class=type(exc).__name__, exit_code=EXIT_BUSY)
        return EXIT_BUSY
    except KeyboardInterrupt:
        return 130
    except StepInterrupted as exc:  # SIGTERM before the run started (e.g. waiting for a lock)
        error(one_line(str(exc)), error_class=type(exc).__name__, exit_code=143)
        return 143
    except AetherflowError as exc:
        error(one_line(str(exc)), error_class=type(exc).__name__, exit_code=EXIT_FAILED)
        return EXIT_FAILED
    except Exception as exc:
        if level == "DEBUG":
            log.exception("internal error")
        error(
            f"internal error: {type(exc).__name__}: {exc} "
            "(re-run with --log-level DEBUG for the traceback)",
            error_class=type(exc).__name__,
            exit_code=EXIT_FAILED,
        )
        return EXIT_FAILED


def entrypoint() -> None:
    """Console-script entry point.

    SIGPIPE gets its default action, so ``aetherflow ... | head`` ends quietly like other Unix
    tools instead of reporting a BrokenPipeError.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
