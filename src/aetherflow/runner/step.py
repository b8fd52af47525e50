"""The step contract (the predecessor's plugin API, kept source-compatible).

A step is a class with ``__init__(step_id, inputs, ctx, job_id)`` and ``run()`` returning a
``dict`` (SUCCESS with that output), a :class:`StepResult`, or ``None`` (SUCCESS, empty output).
``StepResult.status`` may only be ``SUCCESS`` or ``SKIPPED`` (custom statuses were persisted
verbatim by the predecessor; gap G10).

A step may declare ``Inputs``, a strict pydantic model of its inputs. ``aetherflow validate``
checks the YAML against it before anything runs; the runner checks the rendered inputs again and
exposes the parsed model as :attr:`Step.params`. Steps without ``Inputs`` are checked for
``required_inputs`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from aetherflow.runner.context import RunContext

STEP_SUCCESS = "SUCCESS"
STEP_SKIPPED = "SKIPPED"
RESULT_STATUSES = frozenset({STEP_SUCCESS, STEP_SKIPPED})


@dataclass
class StepResult:
    """What a step returns when it wants to say more than "success with this output".

    Attributes:
        status: ``SUCCESS`` or ``SKIPPED``.
        output: The step's output mapping.
        reason: Why the step skipped (copied into the output as ``reason``).
    """

    status: str = STEP_SUCCESS
    output: dict[str, Any] | None = None
    reason: str | None = None

    def as_output(self) -> dict[str, Any]:
        """Return a copy of the output with ``reason`` added when it is set and not present."""
        out = dict(self.output or {})
        if self.reason is not None and "reason" not in out:
            out["reason"] = self.reason
        return out


class Step:
    """Base class of every step type.

    Attributes:
        id: The step id from the YAML.
        inputs: The rendered inputs.
        ctx: The run context.
        job_id: The id of the job the step belongs to.
        record_id: The id the step is recorded and reported under (``<outer>/<inner>`` for the
            step inside ``with_lock``; else ``id``).
        params: The validated ``Inputs`` model instance, when the class declares ``Inputs``.
    """

    required_inputs: ClassVar[set[str]] = set()
    Inputs: ClassVar[type[BaseModel] | None] = None

    def __init__(self, step_id: str, inputs: Mapping[str, Any], ctx: RunContext, job_id: str):
        self.id = step_id
        self.inputs: dict[str, Any] = dict(inputs)
        self.ctx = ctx
        self.job_id = job_id
        self.record_id = step_id
        self.params: Any = None
        if self.Inputs is not None:
            self.params = self.Inputs.model_validate(self.inputs)

    def validate(self) -> None:
        """Raise ``ValueError("Step <id> missing inputs: [...]")`` if a required input is absent."""
        missing = [key for key in self.required_inputs if key not in self.inputs]
        if missing:
            raise ValueError(f"Step {self.id} missing inputs: {sorted(missing)}")

    def run(self) -> dict[str, Any] | StepResult | None:
        """Do the work. Subclasses must override this."""
        raise NotImplementedError(f"step class {type(self).__name__} does not implement run()")
