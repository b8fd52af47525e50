"""State: the ``StateStore`` protocol, its records and statuses, and the backends.

Open a store with :func:`open_state_store` (``sqlite:///…``, a path, or ``memory:``).
"""

from aetherflow.state.clock import Clock, EventSleeper, FakeClock, Sleeper, SystemClock
from aetherflow.state.memory import MemoryStateStore
from aetherflow.state.open import describe_url, open_state_store, state_exists
from aetherflow.state.records import (
    DONE_STEP_STATUSES,
    AttemptRecord,
    ErrorInfo,
    JobRecord,
    JobStatus,
    Lease,
    LeaseHolder,
    PluginRecord,
    RunRecord,
    RunStatus,
    RunSummary,
    StepRecord,
    StepStatus,
)
from aetherflow.state.sqlite import SqliteStateStore
from aetherflow.state.store import SCHEMA_VERSION, StateStore

__all__ = [
    "DONE_STEP_STATUSES",
    "SCHEMA_VERSION",
    "AttemptRecord",
    "Clock",
    "ErrorInfo",
    "EventSleeper",
    "FakeClock",
    "JobRecord",
    "JobStatus",
    "Lease",
    "LeaseHolder",
    "MemoryStateStore",
    "PluginRecord",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "Sleeper",
    "SqliteStateStore",
    "StateStore",
    "StepRecord",
    "StepStatus",
    "SystemClock",
    "describe_url",
    "open_state_store",
    "state_exists",
]
