"""One attempt of ``external.process``: prepare streams and the atomic dir, run, collect."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from aetherflow.errors import ProcessTimeout
from aetherflow.runtime.sandbox import Sandbox
from aetherflow.steps.process_io import StreamPlan, open_log_file
from aetherflow.steps.process_spec import ExternalProcessInputs

if TYPE_CHECKING:
    from aetherflow.runner.step import Step

STEP_TYPE = "external.process"


@dataclass
class AttemptOutcome:
    """How one attempt ended."""

    attempt: int
    exit_code: int | None
    timed_out: bool
    stdout: str | None
    stderr: str | None
    log_file: Path | None
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    def succeeded(self, exit_codes: list[int]) -> bool:
        """True when the exit code is one of the success codes."""
        return not self.timed_out and self.exit_code in exit_codes


def _prepare_atomic(box: Sandbox, params: ExternalProcessInputs) -> Path | None:
    idem = params.idempotency
    if idem.strategy != "atomic_dir":
        return None
    temp = box.resolve(str(idem.temp_output_dir), key="idempotency.temp_output_dir")
    if temp.exists():
        shutil.rmtree(temp)
    temp.mkdir(parents=True)
    return temp


def _live(mode: str, fd: int) -> str:
    """``inherit`` on an interactive terminal streams lines as events with a step prefix —
    unless INFO events are not shown (``-q``): then the child writes to the terminal itself,
    as with ``inherit`` anywhere else, rather than its output being hidden."""
    if mode != "inherit" or not os.isatty(fd):
        return mode
    return "live" if logging.getLogger("aetherflow.flow").isEnabledFor(logging.INFO) else mode


def _plans(
    step: Step, params: ExternalProcessInputs, log_file: IO[bytes] | None, attempt: int
) -> tuple[StreamPlan, StreamPlan]:
    services = step.ctx.services

    def reporter(event: str, level: int) -> Any:
        def on_line(line: str) -> None:
            services.emit(
                event,
                level,
                job_id=step.job_id,
                step_id=step.record_id,
                step_type=STEP_TYPE,
                attempt=attempt,
                message=line,
            )

        return on_line

    limit = params.log.capture_limit
    out = StreamPlan(
        _live(params.log.stdout, 1),
        limit=limit,
        log_file=log_file,
        on_line=reporter("external_process_stdout", logging.INFO),
    )
    err = StreamPlan(
        _live(params.log.stderr, 2),
        limit=limit,
        log_file=log_file,
        on_line=reporter("external_process_stderr", logging.WARNING),
    )
    return out, err


def run_one_attempt(
    step: Step,
    params: ExternalProcessInputs,
    box: Sandbox,
    command: list[str] | str,
    shell: bool,
    env: dict[str, str],
    attempt: int,
) -> AttemptOutcome:
    """Run the command once and collect its exit code and captured output."""
    ctx, services = step.ctx, step.ctx.services
    display = services.redact(command if isinstance(command, str) else shlex.join(command))
    attempt_env = {
        **env,
        "AETHERFLOW_FLOW_ID": ctx.flow_id,
        "AETHERFLOW_RUN_ID": ctx.run_id,
        "AETHERFLOW_JOB_ID": step.job_id,
        "AETHERFLOW_STEP_ID": step.record_id,
        "AETHERFLOW_ATTEMPT": str(attempt),
        **services.trace_env(),
    }
    temp = _prepare_atomic(box, params)
    if temp is not None:
        attempt_env["AETHERFLOW_OUTPUT_DIR"] = str(temp)
    cwd = box.resolve(params.cwd, key="cwd") if params.cwd else None
    log_path = (
        box.resolve(params.log.file_path, key="log.file_path") if params.log.file_path else None
    )
    uses_file = "file" in (params.log.stdout, params.log.stderr)
    log_file = open_log_file(log_path, attempt, display) if uses_file and log_path else None
    out, err = _plans(step, params, log_file, attempt)
    ids = {
        "job_id": step.job_id,
        "step_id": step.record_id,
        "step_type": STEP_TYPE,
        "attempt": attempt,
    }
    services.emit("external_process_start", **ids, command=display)

    def started(proc: subprocess.Popen[bytes]) -> None:
        out.start(proc.stdout)
        err.start(proc.stderr)

    exit_code: int | None = None
    timed_out = False
    try:
        result = services.run_process(
            command,
            shell=shell,
            env=attempt_env,
            cwd=str(cwd) if cwd else None,
            timeout_seconds=params.timeout_seconds,
            kill_grace_seconds=params.kill_grace_seconds,
            stdout=out.popen_target(),
            stderr=err.popen_target(),
            on_start=started,
        )
        exit_code = result.exit_code
    except ProcessTimeout:
        timed_out = True
        services.emit("external_process_timeout", logging.ERROR, **ids)
    finally:
        stdout, stderr = out.finish(), err.finish()
        if log_file is not None:
            log_file.close()
    for name, plan in (("stdout", out), ("stderr", err)):
        if plan.lines_dropped:
            services.emit(
                "external_process_lines_dropped",
                logging.WARNING,
                **ids,
                stream=name,
                lines=plan.lines_dropped,
                message=f"{plan.lines_dropped} more {name} line(s) not shown as events",
            )
    if not timed_out:
        level = logging.INFO if exit_code in params.success.exit_codes else logging.ERROR
        services.emit("external_process_exit", level, **ids, exit_code=exit_code)
    return AttemptOutcome(
        attempt,
        exit_code,
        timed_out,
        stdout,
        stderr,
        log_path if uses_file else None,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )
