"""Inputs of ``external.process`` and their static checks (the predecessor's keys and aliases).

Aliases accepted (the predecessor's documentation used them): ``log.max_capture_bytes`` /
``log.max_capture_kb``, ``success.required_files`` / ``require_files``,
``success.required_globs`` / ``require_glob``, ``success.forbidden_files`` / ``forbid_files``,
``retry.sleep_seconds`` / ``retry.backoff_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aetherflow.spec.base import StrictModel

LOG_MODES = ("inherit", "capture", "file", "discard")
Strings = str | list[str] | None


def _aliases(data: Any, pairs: Mapping[str, str]) -> Any:
    """Move alias keys to their canonical names (both given → the schema reports the alias)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for alias, canonical in pairs.items():
        if alias in data and canonical not in data:
            data[canonical] = data.pop(alias)
    return data


class LogSpec(StrictModel):
    """Where the child's stdout and stderr go."""

    stdout: str = "inherit"
    stderr: str = "inherit"
    max_capture_kb: int = Field(default=1024, ge=1)
    max_capture_bytes: int | None = Field(default=None, ge=1)
    file_path: str | None = None

    @property
    def capture_limit(self) -> int:
        """Bytes kept per captured stream (the last ones)."""
        return self.max_capture_bytes or self.max_capture_kb * 1024


class SuccessSpec(StrictModel):
    """What success means besides the exit code."""

    exit_codes: list[int] = Field(default_factory=lambda: [0])
    require_files: Strings = None
    require_glob: Strings = None
    forbid_files: Strings = None
    marker_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _aliases(
            data,
            {
                "required_files": "require_files",
                "required_globs": "require_glob",
                "forbidden_files": "forbid_files",
            },
        )


class IdempotencySpec(StrictModel):
    """Skip when done before (``marker``) or publish a directory atomically (``atomic_dir``)."""

    strategy: Literal["none", "marker", "atomic_dir"] = "none"
    marker_path: str | None = None
    temp_output_dir: str | None = None
    final_output_dir: str | None = None
    atomic_rename: bool = True


class ProcessRetrySpec(StrictModel):
    """The process-level retry of the predecessor (on exit codes and timeouts)."""

    max_attempts: int = Field(default=1, ge=1)
    backoff_seconds: float = Field(default=0.0, ge=0)
    backoff_multiplier: float = Field(default=1.0, ge=1.0)
    max_backoff_seconds: float = Field(default=0.0, ge=0, description="0 = no cap.")
    retry_on_exit_codes: list[int] = Field(default_factory=list)
    retry_on_timeout: bool = False

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        return _aliases(data, {"sleep_seconds": "backoff_seconds"})

    def delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2, 3, ...)."""
        delay = self.backoff_seconds * self.backoff_multiplier ** max(0, attempt - 2)
        return min(delay, self.max_backoff_seconds) if self.max_backoff_seconds else delay


class ExternalProcessInputs(StrictModel):
    """Inputs of ``external.process``."""

    command: list[str] | str | None = Field(
        default=None, description="argv list, or a string (split with shlex unless shell: true)."
    )
    args: list[str] = Field(default_factory=list)
    shell: bool = False
    cwd: str | None = None
    env: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    inherit_env: bool | None = Field(
        default=None, description="Default: true in internal_fast, false in enterprise."
    )
    timeout_seconds: float | None = Field(default=None, gt=0)
    kill_grace_seconds: float = Field(default=15.0, ge=0)
    log: LogSpec = Field(default_factory=LogSpec)
    success: SuccessSpec = Field(default_factory=SuccessSpec)
    idempotency: IdempotencySpec = Field(default_factory=IdempotencySpec)
    retry: ProcessRetrySpec = Field(default_factory=ProcessRetrySpec)
    outputs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("command", "args", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        """YAML reads ``[sleep, 5]`` with a number; an argv entry is its text."""
        if isinstance(value, list):
            return [_arg_text(item) for item in value]
        return value


def _arg_text(item: Any) -> Any:
    if isinstance(item, int | float) and not isinstance(item, bool):
        return str(item)
    return item


StaticIssue = tuple[str, tuple[str, ...], str]


def static_issues(inputs: Mapping[str, Any]) -> list[StaticIssue]:
    """The predecessor's validate-time checks, with their codes.

    Returns:
        ``(code, location below inputs, message)`` for each problem.
    """
    issues: list[StaticIssue] = []
    command = inputs.get("command")
    if command is None:
        issues.append(
            (
                "semantic:external_process_missing_command",
                ("command",),
                "external.process needs a command (a list of arguments or a string)"
                + (": the key is 'command', not 'cmd'" if "cmd" in inputs else ""),
            )
        )
    elif not isinstance(command, str | list):
        issues.append(
            (
                "semantic:external_process_command_type",
                ("command",),
                f"command must be a list of strings or a string, got {type(command).__name__}",
            )
        )
    log = inputs.get("log")
    if isinstance(log, Mapping):
        for stream in ("stdout", "stderr"):
            mode = log.get(stream, "inherit")
            if isinstance(mode, str) and "{{" not in mode and mode not in LOG_MODES:
                issues.append(
                    (
                        "semantic:external_process_log_mode",
                        ("log", stream),
                        f"log.{stream} must be one of {', '.join(LOG_MODES)}, got {mode!r}",
                    )
                )
        if "file" in (log.get("stdout"), log.get("stderr")) and not log.get("file_path"):
            issues.append(
                (
                    "semantic:external_process_log_file",
                    ("log", "file_path"),
                    "log mode 'file' needs log.file_path",
                )
            )
    idem = inputs.get("idempotency")
    atomic = isinstance(idem, Mapping) and idem.get("strategy") == "atomic_dir"
    if atomic and not (idem.get("temp_output_dir") and idem.get("final_output_dir")):  # type: ignore[union-attr]
        issues.append(
            (
                "semantic:external_process_atomic_dir",
                ("idempotency",),
                "strategy atomic_dir needs both temp_output_dir and final_output_dir",
            )
        )
    marker = isinstance(idem, Mapping) and idem.get("strategy") == "marker"
    if marker and not idem.get("marker_path"):  # type: ignore[union-attr]
        issues.append(
            (
                "semantic:external_process_marker",
                ("idempotency", "marker_path"),
                "strategy marker needs idempotency.marker_path (the file that means done)",
            )
        )
    return issues
