"""The AetherFlow error tree.

Every error AetherFlow raises derives from :class:`AetherflowError`. Classes that existed in the
predecessor keep its builtin base classes (``ValueError``, ``KeyError``, ``RuntimeError``) so that
``except`` clauses written against it keep working::

    AetherflowError
    ├── SpecError (ValueError) ............ a YAML file or spec is invalid (carries issues)
    ├── TemplateError
    │   ├── ResolverSyntaxError (ValueError)  unsupported templating syntax
    │   └── ResolverMissingKeyError (KeyError) a template path has no value and no default
    ├── WhenError (ValueError) ............ a ``when:`` expression failed to evaluate
    │   └── WhenSyntaxError ............... a ``when:`` expression does not parse
    ├── ConfigError (ValueError) .......... settings, env files, profiles, secrets hook
    ├── PluginError (RuntimeError) ........ a plugin failed to load or register
    ├── RegistryError (ValueError) ........ unknown or duplicate step/connector name
    ├── ConnectorError (RuntimeError) ..... a connector could not do its job
    ├── BundleError (RuntimeError) ........ a bundle could not be synced or is not usable
    ├── MissingDependency (RuntimeError) .. an optional library is not installed
    │   └── ParquetSupportMissing (ValueError) parquet needs pyarrow
    ├── ReportTooLargeError (ValueError) .. a report exceeds ``rows_threshold``
    ├── StateError (RuntimeError) ......... the state store could not be used
    │   └── BusyError ..................... a run lease or lock is held by someone else
    │       └── LockNotAcquired ........... ``with_lock``/scope lock wait ran out
    └── StepError (RuntimeError) .......... "the step failed" (not "the engine could not run it")
        ├── StepInputsError ............... rendered inputs do not match the step's model
        ├── StepTimeout ................... ``timeout_seconds`` exceeded
        ├── ExpectationFailed ............. a data step's ``expect:`` rules were violated
        ├── StepInterrupted ............... SIGTERM/SIGINT while the step ran
        └── LockLost ...................... the lock was lost while the inner step ran

``StepError`` carries the failure class recorded in state (``error``, ``timeout``,
``interrupted``, ``lost_lock``, ``no_data``, ``expectation``), an optional exit code and the
tail of the child's stderr. Everything else means the engine itself could not proceed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

TEMPLATE_SYNTAX_MESSAGE = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"
DECODE_TARGET_MESSAGE = (
    "Decode target must be a standalone template token like '{{TOKEN}}' (no prefix/suffix)."
)


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found while validating a file.

    Attributes:
        code: ``area:name`` code, e.g. ``schema:extra_forbidden`` or ``semantic:missing_env``.
        loc: Dotted location inside the document, e.g. ``jobs[1].steps[0].inputs.comand``.
        msg: What is wrong and how to fix it.
        file: The file the problem is in ("" when the document did not come from a file).
        line: 1-based line, 0 when unknown.
        col: 1-based column, 0 when unknown.
        hint: A did-you-mean or fix suggestion, or None.
        severity: ``error`` or ``warning``.
    """

    code: str
    loc: str
    msg: str
    file: str = ""
    line: int = 0
    col: int = 0
    hint: str | None = None
    severity: Severity = "error"

    def where(self) -> str:
        """Return ``file:line:col`` (parts that are unknown are left out)."""
        parts = [self.file or "<input>"]
        if self.line:
            parts.append(str(self.line))
            if self.col:
                parts.append(str(self.col))
        return ":".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON shape used by ``validate --json``."""
        return {
            "code": self.code,
            "loc": self.loc,
            "line": self.line,
            "col": self.col,
            "msg": self.msg,
            "hint": self.hint,
            "file": self.file,
        }


class AetherflowError(Exception):
    """Root of every error raised by AetherFlow."""


class SpecError(AetherflowError, ValueError):
    """A YAML document or spec object is invalid.

    Args:
        message: Human-readable summary.
        issues: Every problem found, each with file, line, column, location and code.
    """

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.issues: tuple[Issue, ...] = tuple(issues)


class TemplateError(AetherflowError):
    """Base of the two resolver errors."""


class ResolverSyntaxError(TemplateError, ValueError):
    """A string uses templating syntax other than ``{{VAR}}`` / ``{{VAR:DEFAULT}}``.

    The message always starts with :data:`TEMPLATE_SYNTAX_MESSAGE`, then a newline and a precise
    diagnostic (token, column, location).
    """

    def __init__(self, diagnostic: str) -> None:
        super().__init__(f"{TEMPLATE_SYNTAX_MESSAGE}\n{diagnostic}")
        self.diagnostic = diagnostic


class ResolverMissingKeyError(TemplateError, KeyError):
    """A template path resolves to nothing (or to ``""``) and has no default.

    ``args[0]`` is the dotted path (``env.DB_HOST``), as in the predecessor.
    """

    def __init__(self, path: str, *, where: str = "", roots: Sequence[str] = ()) -> None:
        super().__init__(path)
        self.path = path
        self.where = where
        self.roots = tuple(roots)

    def __str__(self) -> str:
        text = f"missing template value {self.path!r}"
        if self.where:
            text += f" at {self.where}"
        text += " and no default was given"
        if self.roots:
            text += f" (available roots: {', '.join(self.roots)})"
        return text + f"; set it or write {{{{{self.path}:DEFAULT}}}}"


class WhenError(AetherflowError, ValueError):
    """A ``when:`` expression could not be evaluated (for example ``"a" < 3``)."""


class WhenSyntaxError(WhenError):
    """A ``when:`` expression is not valid in the ``when`` language.

    Args:
        message: What is wrong.
        column: 1-based column in the expression where the problem starts.
    """

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (column {column})")
        self.column = column


class ConfigError(AetherflowError, ValueError):
    """Settings, env files, profiles or the secrets hook are misconfigured."""


class BundleError(AetherflowError, RuntimeError):
    """A bundle could not be synced (source unreachable, bad listing, missing entry flow)."""


class PluginError(AetherflowError, RuntimeError):
    """A plugin could not be loaded."""


class RegistryError(AetherflowError, ValueError):
    """A step type or connector is unknown, or registered twice without ``replace=True``."""


class ConnectorError(AetherflowError, RuntimeError):
    """A connector failed (unreachable server, bad credentials, protocol error)."""


class MissingDependency(AetherflowError, RuntimeError):
    """An optional library needed by a step or connector is not installed."""


class ReportTooLargeError(AetherflowError, ValueError):
    """A report region would exceed ``rows_threshold`` rows."""

    def __init__(
        self, target_name: str, source_path: str, row_count: int, rows_threshold: int
    ) -> None:
        super().__init__(
            f"report target {target_name!r} from {source_path} has {row_count} rows, more than "
            f"rows_threshold={rows_threshold}; use mode: data_sheet for large data"
        )
        self.target_name = target_name
        self.source_path = source_path
        self.row_count = row_count
        self.rows_threshold = rows_threshold


class ParquetSupportMissing(MissingDependency, ValueError):
    """Parquet was requested but pyarrow is not installed.

    A :class:`MissingDependency` (the message names the extra to install) that is also a
    ``ValueError``, as the predecessor's class was, so either ``except`` clause catches it.
    """


class StateError(AetherflowError, RuntimeError):
    """The state store could not be opened, migrated or written."""


class BusyError(StateError):
    """A run lease or lock is held by another live owner."""


class LockNotAcquired(BusyError):
    """A lock could not be acquired before ``wait_seconds`` ran out."""

    def __init__(self, key: str, holder: str, expires_at: str) -> None:
        super().__init__(f"lock {key!r} is held by {holder} until {expires_at}")
        self.key = key
        self.holder = holder
        self.expires_at = expires_at


class StepError(AetherflowError, RuntimeError):
    """A step failed (as opposed to the engine being unable to run it).

    Args:
        message: What failed.
        failure_class: One of ``error``, ``timeout``, ``interrupted``, ``lost_lock``,
            ``no_data``, ``expectation``.
        exit_code: Exit code of a child process, if any.
        stderr_tail: Last captured bytes of the child's stderr (already redacted), if any.
    """

    failure_class_default = "error"

    def __init__(
        self,
        message: str,
        *,
        failure_class: str | None = None,
        exit_code: int | None = None,
        stderr_tail: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.failure_class = failure_class or self.failure_class_default
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.details = details


class StepInputsError(StepError):
    """A step's rendered inputs do not match its ``Inputs`` model (never retried)."""


class StepTimeout(StepError):
    """A step exceeded its ``timeout_seconds``."""

    failure_class_default = "timeout"


class ProcessTimeout(StepTimeout):
    """A child process exceeded the ``timeout_seconds`` given for the process itself.

    Distinct from a step's own ``timeout_seconds`` (plain :class:`StepTimeout`), so a step that
    retries its process on a timeout does not swallow the step's deadline.
    """


class StepInterrupted(StepError):
    """A step was interrupted by SIGTERM or SIGINT."""

    failure_class_default = "interrupted"


class LockLost(StepError):
    """The lock protecting a step was lost while the step ran."""

    failure_class_default = "lost_lock"


class ExpectationFailed(StepError):
    """A data step's ``expect:`` rules were violated (row counts, columns, dtypes).

    The message lists every violated rule; ``details["violations"]`` holds them as a list.
    """

    failure_class_default = "expectation"
