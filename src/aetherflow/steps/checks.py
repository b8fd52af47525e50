"""``check_items``: succeed when a list has at least ``min_count`` items, otherwise skip."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aetherflow.runner.step import STEP_SKIPPED, Step, StepResult
from aetherflow.spec.base import StrictModel


class CheckItemsInputs(StrictModel):
    """Inputs of ``check_items``."""

    items: list[Any] | str | None = Field(
        description="A list, or a comma-separated string (split and trimmed; empty parts dropped)."
    )
    min_count: int = Field(default=1, ge=0, description="Fewer items than this → SKIPPED.")


class CheckItems(Step):
    """Gate on data presence: ``{has_data, count}``; SKIPPED with a reason below ``min_count``.

    Combine with ``on_no_data`` to say what "no data" means for the job.
    """

    Inputs = CheckItemsInputs
    required_inputs = {"items"}  # noqa: RUF012 - the predecessor's class attribute contract

    def run(self) -> dict[str, Any] | StepResult:
        """Count the items and compare with ``min_count``."""
        params: CheckItemsInputs = self.params
        items = params.items
        if items is None:
            values: list[Any] = []
        elif isinstance(items, str):
            values = [part.strip() for part in items.split(",") if part.strip()]
        else:
            values = items
        count = len(values)
        if count < params.min_count:
            return StepResult(
                status=STEP_SKIPPED,
                output={"has_data": False, "count": count},
                reason=f"count({count}) < min_count({params.min_count})",
            )
        return {"has_data": True, "count": count}
