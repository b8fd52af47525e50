"""``with_lock``: run one step while holding a lock (waiting, heartbeat, fencing token)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from aetherflow.errors import ConfigError
from aetherflow.runner.step import Step, StepResult
from aetherflow.spec.base import Identifier, StrictModel
from aetherflow.spec.flow import RetrySpec


class InnerStep(StrictModel):
    """The step run under the lock."""

    id: Identifier | None = Field(default=None, description="Default: <outer id>_inner.")
    type: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    retry: RetrySpec | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)


class WithLockInputs(StrictModel):
    """Inputs of ``with_lock``."""

    lock_key: str = Field(min_length=1, description="The lock; e.g. 'publish:{{flow_id}}'.")
    step: InnerStep
    ttl_seconds: float = Field(default=600, gt=0, description="Renewed every TTL/3 while held.")
    wait_seconds: float = Field(default=0, ge=0, description="0 = fail at once when busy.")
    poll_seconds: float = Field(default=1, gt=0, description="First poll delay; backs off to 10s.")


class WithLock(Step):
    """Hold ``lock_key`` while ``step`` runs; recorded as ``<id>/<inner id>``.

    The inner step sees the fencing token as ``ctx.lock_token`` (and processes as
    ``AETHERFLOW_LOCK_TOKEN``); if the lock is lost the inner step is cancelled (``lost_lock``).
    """

    Inputs = WithLockInputs
    required_inputs = {"lock_key", "step"}  # noqa: RUF012 - the predecessor's contract

    @classmethod
    def nested_steps(cls, inputs: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
        """The inner step, for validation (``validate`` checks its type and inputs)."""
        return [(("step",), inputs.get("step"))]

    def run(self) -> StepResult:
        """Acquire the lock, run the inner step, release."""
        params: WithLockInputs = self.params
        services = self.ctx.services
        if services is None:
            raise ConfigError("with_lock needs the runner's services (run it inside a flow)")
        inner = params.step.model_dump(exclude_none=True)
        result: StepResult = services.with_lock(
            job_id=self.job_id,
            step_id=self.id,
            lock_key=params.lock_key,
            inner=inner,
            ttl_seconds=params.ttl_seconds,
            wait_seconds=params.wait_seconds,
            poll_seconds=params.poll_seconds,
        )
        return result
