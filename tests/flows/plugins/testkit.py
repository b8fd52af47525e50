"""Plugin steps used by the end-to-end tests (loaded with AETHERFLOW_PLUGIN_PATHS).

* ``ledger``: append ``entry`` to the ``ledger`` file (one line, flushed and fsynced), optionally
  sleep, fail when ``fail_if_exists`` exists, and output ``value`` plus the line number.
* ``echo``: output its ``value`` input (any JSON value) as ``value``.
* ``skip``: return SKIPPED with ``reason``.
* ``boom``: raise RuntimeError(message).
"""

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from aetherflow.core.api import STEP_SKIPPED, Step, StepResult, register_step


class LedgerInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ledger: str
    entry: str
    sleep_seconds: float = 0.0
    fail_if_exists: str | None = None
    value: Any = None


@register_step("ledger")
class Ledger(Step):
    Inputs = LedgerInputs

    def run(self) -> dict[str, Any]:
        params: LedgerInputs = self.params
        if params.fail_if_exists and Path(params.fail_if_exists).exists():
            raise RuntimeError(f"marker {params.fail_if_exists} exists")
        with open(params.ledger, "a", encoding="utf-8") as handle:
            handle.write(params.entry + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if params.sleep_seconds:
            time.sleep(params.sleep_seconds)
        lines = Path(params.ledger).read_text(encoding="utf-8").count("\n")
        return {"value": params.value, "line": lines}


class EchoInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = None


@register_step("echo")
class Echo(Step):
    Inputs = EchoInputs

    def run(self) -> dict[str, Any]:
        return {"value": self.params.value}


class SkipInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = "nothing to do"


@register_step("skip")
class Skip(Step):
    Inputs = SkipInputs

    def run(self) -> StepResult:
        return StepResult(
            status=STEP_SKIPPED, output={"has_data": False}, reason=self.params.reason
        )


class BoomInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = "boom"


@register_step("boom")
class Boom(Step):
    Inputs = BoomInputs

    def run(self) -> dict[str, Any]:
        raise RuntimeError(self.params.message)


class CriticalInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    counter: str
    log: str
    hold_seconds: float = 0.0


@register_step("critical")
class Critical(Step):
    """A deliberately non-atomic read-increment-write of a counter file, logging
    ``pid token enter_ns exit_ns`` so tests can check mutual exclusion under a lock."""

    Inputs = CriticalInputs

    def run(self) -> dict[str, Any]:
        params: CriticalInputs = self.params
        enter = time.time_ns()
        counter = Path(params.counter)
        value = int(counter.read_text()) if counter.exists() else 0
        if params.hold_seconds:
            time.sleep(params.hold_seconds)
        counter.write_text(str(value + 1))
        leave = time.time_ns()
        with open(params.log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {self.ctx.lock_token} {enter} {leave}\n")
            handle.flush()
            os.fsync(handle.fileno())
        return {"value": value + 1, "token": self.ctx.lock_token}


class ShellInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str
    timeout_seconds: float | None = None
    kill_grace_seconds: float = 2.0


@register_step("shell")
class Shell(Step):
    """Run ``command`` with /bin/sh through the runner's process service (own process group;
    timeouts, signals and lost locks end the whole group). Fails on a non-zero exit code."""

    Inputs = ShellInputs

    def run(self) -> dict[str, Any]:
        params: ShellInputs = self.params
        result = self.ctx.services.run_process(
            params.command,
            shell=True,
            env=dict(self.ctx.env),
            timeout_seconds=params.timeout_seconds,
            kill_grace_seconds=params.kill_grace_seconds,
        )
        if result.exit_code != 0:
            raise RuntimeError(f"command exited with {result.exit_code}")
        return {"exit_code": result.exit_code}
