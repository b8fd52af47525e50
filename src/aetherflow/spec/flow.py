"""Strict models of the flow YAML (``10-yaml.md``).

Every model forbids unknown keys. Free-form maps are step ``inputs``/``outputs``, resource
``config``/``options`` and ``workspace.layout``. String fields of ``flow:`` may hold ``{{env.X}}``
templates; the loader renders the ``flow:`` block with the env snapshot *before* these models
validate it, so a template in an integer or enum field is checked after rendering.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aetherflow.spec.base import (
    CleanupPolicy,
    Durability,
    FailurePolicy,
    Identifier,
    LockScope,
    OnNoData,
    StateBackend,
    StrictModel,
)

DEFAULT_LAYOUT: dict[str, str] = {
    "artifacts": "artifacts",
    "scratch": "scratch",
    "manifests": "manifests",
}
DEFAULT_WORK_ROOT = "/tmp/work"  # the documented predecessor default
DEFAULT_STATE_ROOT = "/tmp/state"  # the documented predecessor default
STATE_FILE_NAME = "aetherflow.sqlite"


class WorkspaceSpec(StrictModel):
    """``flow.workspace``: where job directories live and when they are removed."""

    root: str | None = Field(
        default=None,
        description="Root of job directories; default AETHERFLOW_WORK_ROOT, else /tmp/work.",
    )
    cleanup_policy: CleanupPolicy = CleanupPolicy.ON_SUCCESS
    layout: dict[str, str] = Field(
        default_factory=dict,
        description="Sub-directory names; a partial map merges over the defaults.",
    )

    @field_validator("layout")
    @classmethod
    def _layout_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, name in value.items():
            parts = name.replace("\\", "/").split("/")
            if not name or name.startswith("/") or ".." in parts:
                raise ValueError(f"layout.{key} must be a relative directory name, got {name!r}")
        return value

    def resolved_layout(self) -> dict[str, str]:
        """The layout with defaults filled in for keys that are not given."""
        return {**DEFAULT_LAYOUT, **self.layout}


class StateSpec(StrictModel):
    """``flow.state``: the state store."""

    backend: StateBackend = StateBackend.SQLITE
    path: str | None = Field(
        default=None,
        description="SQLite file; default <AETHERFLOW_STATE_ROOT or /tmp/state>/aetherflow.sqlite.",
    )
    dsn: str | None = Field(default=None, description="PostgreSQL connection string.")
    schema_name: str = Field(default="aetherflow", alias="schema", description="PostgreSQL schema.")
    durability: Durability = Durability.NORMAL

    @model_validator(mode="after")
    def _fields_match_backend(self) -> StateSpec:
        if self.backend is StateBackend.POSTGRES:
            if not self.dsn:
                raise ValueError("state.backend postgres needs state.dsn")
            if self.path:
                raise ValueError("state.path is for sqlite; postgres uses state.dsn")
        elif self.dsn:
            raise ValueError("state.dsn is for backend postgres; sqlite uses state.path")
        return self


class LocksSpec(StrictModel):
    """``flow.locks``: automatic lock scope."""

    scope: LockScope = LockScope.NONE
    ttl_seconds: float = Field(default=3600, gt=0)
    wait_seconds: float = Field(default=0, ge=0)


class FlowMetaSpec(StrictModel):
    """The ``flow:`` block."""

    id: Identifier
    description: str | None = None
    workspace: WorkspaceSpec = Field(default_factory=WorkspaceSpec)
    state: StateSpec = Field(default_factory=StateSpec)
    locks: LocksSpec = Field(default_factory=LocksSpec)
    on_failure: FailurePolicy = FailurePolicy.STOP


class DecodeSpec(StrictModel):
    """``decode:`` of a resource or profile: which rendered leaves go through the secrets hook."""

    config: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    config_paths: list[str] = Field(default_factory=list)
    options_paths: list[str] = Field(default_factory=list)

    @field_validator("config", "options")
    @classmethod
    def _leaves_are_flags(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_decode_leaves(value, "")
        return value

    def requested_paths(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every requested leaf as ``(section, path)``, de-duplicated, in a stable order."""
        seen: dict[tuple[str, tuple[str, ...]], None] = {}
        for section, tree, paths in (
            ("config", self.config, self.config_paths),
            ("options", self.options, self.options_paths),
        ):
            for path in _true_leaves(tree, ()):
                seen[(section, path)] = None
            for dotted in paths:
                seen[(section, tuple(dotted.split(".")))] = None
        return list(seen)


def _check_decode_leaves(tree: dict[str, Any], prefix: str) -> None:
    for key, leaf in tree.items():
        where = f"{prefix}.{key}" if prefix else key
        if isinstance(leaf, dict):
            _check_decode_leaves(leaf, where)
        elif leaf is not None and not isinstance(leaf, bool):
            raise ValueError(f"decode leaf {where!r} must be true, false or null, got {leaf!r}")


def _true_leaves(tree: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, leaf in tree.items():
        if isinstance(leaf, dict):
            found.extend(_true_leaves(leaf, (*prefix, key)))
        elif leaf is True:
            found.append((*prefix, key))
    return found


class ResourceSpec(StrictModel):
    """A named resource: a connector ``kind``/``driver`` with its config."""

    kind: str = Field(min_length=1)
    driver: str = Field(min_length=1)
    profile: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    decode: DecodeSpec = Field(default_factory=DecodeSpec)


class RetrySpec(StrictModel):
    """``retry:`` of a step. Nothing is retried unless ``max_attempts > 1``."""

    max_attempts: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0)
    backoff: float = Field(default=1.0, ge=1.0, description="Delay multiplier per attempt.")
    max_delay_seconds: float | None = Field(default=None, ge=0)
    retry_on: list[str] | None = Field(
        default=None, description="Error class names to retry; default any step error."
    )


class StepSpec(StrictModel):
    """One step of a job."""

    id: Identifier
    type: str = Field(min_length=1)
    description: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    on_no_data: OnNoData | None = None
    retry: RetrySpec | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)


class JobSpec(StrictModel):
    """One job: gated by ``depends_on`` and ``when``, runs its steps in order."""

    id: Identifier
    description: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    when: str | bool | None = None
    steps: list[StepSpec]

    @field_validator("when", mode="before")
    @classmethod
    def _when_type(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | bool):
            raise ValueError(
                f"when must be an expression string or true/false, got {type(value).__name__} "
                f'{value!r}; quote it, e.g. when: "jobs.a.outputs.n > 0"'
            )
        return value


class FlowSpec(StrictModel):
    """A whole flow YAML document."""

    version: Literal[1] = 1
    flow: FlowMetaSpec
    resources: dict[str, ResourceSpec] = Field(default_factory=dict)
    jobs: list[JobSpec]
