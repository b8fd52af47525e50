"""``external.process``: run dbt, spark-submit, shell scripts and vendor CLIs, ops-grade.

* ``command`` as a list is the argv; a string is split with ``shlex.split`` — unless
  ``shell: true``, where the string goes to ``/bin/sh -c`` as is.
* The child runs in its own process group; timeouts, signals and lost locks end the group.
* ``retry`` (process level: exit codes, timeouts) works with every log mode; file logs get an
  attempt header.
* Environment: ``inherit_env`` (default true in ``internal_fast``, false in ``enterprise`` where
  only PATH, HOME, LANG, LC_*, TZ, TMPDIR pass) + ``env`` + ``AETHERFLOW_FLOW_ID``/``RUN_ID``/
  ``JOB_ID``/``STEP_ID``/``ATTEMPT``/``OUTPUT_DIR`` and, inside ``with_lock``,
  ``AETHERFLOW_LOCK_KEY``/``AETHERFLOW_LOCK_TOKEN``.
* The command line in events and errors is redacted; a failure names the exit code and the tail
  of captured stderr.
* Success checks, ``marker`` (skip when done) and ``atomic_dir`` (publish a directory only after
  success) as the predecessor, every path through the sandbox.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aetherflow.errors import StepError, StepTimeout
from aetherflow.runner.step import STEP_SKIPPED, Step, StepResult
from aetherflow.runtime.sandbox import Sandbox
from aetherflow.steps.process_checks import check_success, marker_satisfied
from aetherflow.steps.process_run import AttemptOutcome, run_one_attempt
from aetherflow.steps.process_spec import (
    LOG_MODES,
    ExternalProcessInputs,
    StaticIssue,
    static_issues,
)

BASIC_ENV = ("PATH", "HOME", "LANG", "TZ", "TMPDIR")
STDERR_TAIL_CHARS = 4000


def build_command(params: ExternalProcessInputs) -> tuple[list[str] | str, bool]:
    """The argv (or the shell string) to run, and whether it runs through the shell."""
    command = params.command
    if command is None:
        raise StepError("external.process needs a command")
    if params.shell:
        text = command if isinstance(command, str) else shlex.join(command)
        if params.args:
            text = " ".join([text, *(shlex.quote(a) for a in params.args)])
        return text, True
    argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
    if not argv:
        raise StepError("external.process command is empty")
    return [*argv, *params.args], False


def build_env(
    base: Mapping[str, str], params: ExternalProcessInputs, *, enterprise: bool
) -> dict[str, str]:
    """The child's environment before the per-attempt ``AETHERFLOW_*`` keys."""
    inherit = params.inherit_env if params.inherit_env is not None else not enterprise
    if inherit:
        env = dict(base)
    else:
        env = {k: v for k, v in base.items() if k in BASIC_ENV or k.startswith("LC_")}
    for key, value in params.env.items():
        if value is None:
            env[key] = ""
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        else:
            env[key] = str(value)
    return env


class ExternalProcess(Step):
    """Run an external command; see the module docstring."""

    Inputs = ExternalProcessInputs
    required_inputs = {"command"}  # noqa: RUF012 - the predecessor's contract

    @classmethod
    def static_issues(cls, inputs: Mapping[str, Any]) -> list[StaticIssue]:
        """Validate-time checks with the predecessor's ``semantic:external_process_*`` codes."""
        return static_issues(inputs)

    def run(self) -> dict[str, Any] | StepResult:
        """Check the marker, run the attempts, finalise the atomic dir, check success."""
        params: ExternalProcessInputs = self.params
        for stream in ("stdout", "stderr"):
            mode = getattr(params.log, stream)
            if mode not in LOG_MODES:
                raise StepError(f"log.{stream} must be one of {', '.join(LOG_MODES)}, got {mode!r}")
        box = self.ctx.sandbox(self.job_id)
        idem = params.idempotency
        if idem.strategy == "marker":
            marker = marker_satisfied(box, params)
            if marker is not None:
                return StepResult(
                    status=STEP_SKIPPED,
                    output={"skipped": True, "marker": str(marker)},
                    reason="marker_present",
                )
        started = time.monotonic()
        outcome = self._attempts(params, box)
        if idem.strategy == "atomic_dir":
            self._publish_atomic(params, box)
        check_success(box, params)
        self.ctx.services.emit(
            "external_process_success",
            job_id=self.job_id,
            step_id=self.record_id,
            step_type="external.process",
            attempt=outcome.attempt,
            exit_code=outcome.exit_code,
        )
        return self._outputs(params, outcome, started)

    def _attempts(self, params: ExternalProcessInputs, box: Sandbox) -> AttemptOutcome:
        command, shell = build_command(params)
        env = build_env(self.ctx.env, params, enterprise=self.ctx.settings.enterprise)
        policy = params.retry
        for attempt in range(1, policy.max_attempts + 1):
            outcome = run_one_attempt(self, params, box, command, shell, env, attempt)
            if outcome.succeeded(params.success.exit_codes):
                return outcome
            last = attempt == policy.max_attempts
            retry = (outcome.timed_out and policy.retry_on_timeout) or (
                outcome.exit_code in policy.retry_on_exit_codes
            )
            if last or not retry:
                raise self._failure(outcome, command)
            time.sleep(policy.delay(attempt + 1))
        raise AssertionError("unreachable: max_attempts >= 1")

    def _failure(self, outcome: AttemptOutcome, command: list[str] | str) -> StepError:
        display = self.ctx.services.redact(
            command if isinstance(command, str) else shlex.join(command)
        )
        tail = self.ctx.services.redact((outcome.stderr or "")[-STDERR_TAIL_CHARS:])
        if outcome.timed_out:
            message = f"external.process timed out after {outcome.attempt} attempt(s): {display}"
            if tail:
                message += f"\n{tail}"
            return StepTimeout(message, stderr_tail=tail or None)
        message = f"external.process failed with exit code {outcome.exit_code}: {display}"
        if tail:
            message += f"\n{tail}"
        return StepError(message, exit_code=outcome.exit_code, stderr_tail=tail or None)

    def _publish_atomic(self, params: ExternalProcessInputs, box: Sandbox) -> None:
        idem = params.idempotency
        temp = box.resolve(str(idem.temp_output_dir), key="idempotency.temp_output_dir")
        final = box.resolve(str(idem.final_output_dir), key="idempotency.final_output_dir")
        final.parent.mkdir(parents=True, exist_ok=True)
        if idem.atomic_rename:
            swap_into_place(temp, final)
            return
        final.mkdir(parents=True, exist_ok=True)
        for entry in temp.iterdir():
            target = final / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            shutil.move(str(entry), target)
        shutil.rmtree(temp)

    def _outputs(
        self, params: ExternalProcessInputs, outcome: AttemptOutcome, started: float
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exit_code": outcome.exit_code,
            "attempts": outcome.attempt,
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
        streams = [s for s in ("stdout", "stderr") if getattr(outcome, s) is not None]
        # Captured text must fit the step output cap (AETHERFLOW_MAX_OUTPUT_BYTES): keep the tail.
        budget = max(1024, (self.ctx.settings.max_output_bytes - 16384) // max(1, len(streams)))
        for stream in streams:
            text, cut = fit_tail(getattr(outcome, stream), budget)
            out[stream] = text
            if cut or getattr(outcome, f"{stream}_truncated"):
                out[f"{stream}_truncated"] = True
        if outcome.log_file is not None:
            out["log_file"] = str(outcome.log_file)
        out.update(params.outputs)
        return out


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def fit_tail(text: str, budget: int) -> tuple[str, bool]:
    """The longest tail of ``text`` whose JSON encoding fits ``budget`` bytes; and whether cut."""
    size = _json_size(text)
    if size <= budget:
        return text, False
    keep = len(text)
    while size > budget and keep > 0:
        keep = min(keep - 1, int(keep * budget / size * 0.98))
        text = text[-keep:] if keep > 0 else ""
        size = _json_size(text)
    return text, True


def swap_into_place(temp: Path, final: Path) -> None:
    """Replace directory ``final`` by ``temp`` with renames only (no window without ``final``
    longer than two renames; the old content is removed after the new one is in place)."""
    if not final.exists():
        temp.replace(final)
        return
    backup = final.with_name(f".{final.name}.aetherflow-old")
    if backup.exists():
        shutil.rmtree(backup)
    final.replace(backup)
    try:
        temp.replace(final)
    except OSError:
        backup.replace(final)
        raise
    shutil.rmtree(backup)
