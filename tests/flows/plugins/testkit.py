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
