"""The stable public API for plugins and embedding (the predecessor's path and names).

Plugins import from here only. The first 29 names are exactly the predecessor's
``aetherflow.core.api.__all__`` in its order; later names are AetherFlow additions. The list is
frozen by a test: removing or renaming a name is a breaking change.
"""

from aetherflow.errors import (
    AetherflowError,
    ConnectorError,
    LockLost,
    LockNotAcquired,
    MissingDependency,
    ReportTooLargeError,
    ResolverMissingKeyError,
    ResolverSyntaxError,
    SpecError,
    StepError,
    StepInterrupted,
    StepTimeout,
)
from aetherflow.runner.connector import ConnectorBase, ConnectorInit
from aetherflow.runner.context import RunContext, new_run_id
from aetherflow.runner.step import STEP_SKIPPED, STEP_SUCCESS, Step, StepResult
from aetherflow.runtime.deps import require, require_attr
from aetherflow.runtime.registry import (
    get_connector,
    get_step,
    list_connectors,
    list_steps,
    register_connector,
    register_step,
)
from aetherflow.runtime.settings import Settings
from aetherflow.spec.base import CleanupPolicy, LockScope
from aetherflow.spec.flow import (
    FlowMetaSpec,
    FlowSpec,
    JobSpec,
    LocksSpec,
    ResourceSpec,
    StateSpec,
    StepSpec,
    WorkspaceSpec,
)
from aetherflow.spec.remote import RemoteFileMeta

__all__ = [  # noqa: RUF022 - the predecessor's order is part of the contract
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    "RunContext",
    "new_run_id",
    "Settings",
    "FlowSpec",
    "FlowMetaSpec",
    "JobSpec",
    "StepSpec",
    "ResourceSpec",
    "WorkspaceSpec",
    "StateSpec",
    "LocksSpec",
    "CleanupPolicy",
    "LockScope",
    "RemoteFileMeta",
    "ConnectorBase",
    "ConnectorInit",
    "ConnectorError",
    "register_step",
    "get_step",
    "list_steps",
    "register_connector",
    "get_connector",
    "list_connectors",
    "require",
    "require_attr",
    # AetherFlow additions
    "AetherflowError",
    "SpecError",
    "ResolverSyntaxError",
    "ResolverMissingKeyError",
    "StepError",
    "StepTimeout",
    "StepInterrupted",
    "LockLost",
    "LockNotAcquired",
    "MissingDependency",
    "ReportTooLargeError",
]
