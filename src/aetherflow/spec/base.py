"""Shared building blocks of the spec models: the strict base model, enums and id types."""

from __future__ import annotations

import enum
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

_ID_RE = re.compile(r"[A-Za-z0-9_.-]+\Z")


class StrictModel(BaseModel):
    """Base of every YAML model: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


def _check_id(value: str) -> str:
    if not _ID_RE.match(value) or set(value) == {"."}:
        raise ValueError(
            f"invalid id {value!r}: use letters, digits, '_', '.' and '-' only "
            "(ids are used in paths and lock keys)"
        )
    return value


Identifier = Annotated[str, AfterValidator(_check_id)]
"""An id used in paths and keys: ``[A-Za-z0-9_.-]+`` and not ``.``/``..``."""


def is_valid_id(value: str) -> bool:
    """True when ``value`` is a valid flow/job/step/run id."""
    return bool(_ID_RE.match(value)) and set(value) != {"."}


class CleanupPolicy(enum.StrEnum):
    """When the job directory is removed after a job ends."""

    ON_SUCCESS = "on_success"
    ALWAYS = "always"
    NEVER = "never"


class LockScope(enum.StrEnum):
    """Automatic lock taken around the whole run (``flow``) or each job (``job``)."""

    NONE = "none"
    JOB = "job"
    FLOW = "flow"


class StateBackend(enum.StrEnum):
    """Where run state lives. ``file`` is the predecessor's name, accepted as ``sqlite``."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"
    FILE = "file"


class Durability(enum.StrEnum):
    """SQLite ``synchronous`` mode."""

    NORMAL = "normal"
    FULL = "full"


class FailurePolicy(enum.StrEnum):
    """What happens to later jobs after a job fails."""

    STOP = "stop"
    CONTINUE = "continue"


class OnNoData(enum.StrEnum):
    """What a SKIPPED step result means for its job."""

    SKIP_JOB = "skip_job"
    FAIL = "fail"
    CONTINUE = "continue"


class Mode(enum.StrEnum):
    """Deployment profile."""

    INTERNAL_FAST = "internal_fast"
    ENTERPRISE = "enterprise"
