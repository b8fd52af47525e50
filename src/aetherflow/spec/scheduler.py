"""Scheduler YAML model (``90-bundles-and-scheduler.md``, reference §1.4)."""

from __future__ import annotations

import zoneinfo
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aetherflow.spec.base import Identifier, StrictModel

DEFAULT_TIMEZONE = "Europe/Berlin"


def check_timezone(value: str) -> str:
    """Raise ValueError unless ``value`` is an IANA time zone name."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like UTC)") from exc
    return value


def check_cron(value: str) -> str:
    """Raise ValueError unless ``value`` is a valid 5-field cron expression."""
    from croniter import croniter  # noqa: PLC0415 - only needed when a scheduler file loads

    fields = value.split()
    if len(fields) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"invalid cron expression {value!r}: use 5 fields "
            "'minute hour day-of-month month day-of-week', e.g. '*/5 * * * *'"
        )
    return value


class SchedulerItemSpec(StrictModel):
    """One scheduled item: run a flow (or a bundle's entry flow) on a cron schedule."""

    id: Identifier
    cron: str
    flow_yaml: str | None = None
    flow: str | None = Field(default=None, description="Alias of flow_yaml (predecessor).")
    bundle_manifest: str | None = None
    flow_job: str | None = None
    allow_stale_bundle: bool = False
    timezone: str | None = Field(default=None, description="Overrides the file's timezone.")
    misfire: Literal["skip", "latest", "all"] = "latest"
    misfire_grace_time: int = Field(default=300, ge=0)
    max_catchup: int | None = Field(default=None, ge=1)
    overlap: Literal["skip", "queue", "allow"] = "skip"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="before")
    @classmethod
    def _flow_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("flow_yaml") and data.get("flow"):
            data = {**data, "flow_yaml": data["flow"]}
        return data

    @model_validator(mode="after")
    def _exactly_one_target(self) -> SchedulerItemSpec:
        if bool(self.flow_yaml) == bool(self.bundle_manifest):
            raise ValueError(
                "a scheduler item must set exactly one of 'flow_yaml' or 'bundle_manifest'"
            )
        return self


class SchedulerFileSpec(StrictModel):
    """A whole scheduler YAML document."""

    version: Literal[1] = 1
    timezone: str = DEFAULT_TIMEZONE
    items: list[SchedulerItemSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[SchedulerItemSpec]) -> list[SchedulerItemSpec]:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in seen:
                raise ValueError(
                    f"duplicate item id {item.id!r} at items[{index}] "
                    f"(first at items[{seen[item.id]}])"
                )
            seen[item.id] = index
        return items
