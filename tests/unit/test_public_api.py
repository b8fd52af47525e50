"""The public plugin API: the predecessor's 29 names, in order, plus our additions."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from aetherflow.core import api

PREDECESSOR_NAMES = [
    "Step", "StepResult", "STEP_SUCCESS", "STEP_SKIPPED", "RunContext", "new_run_id",
    "Settings", "FlowSpec", "FlowMetaSpec", "JobSpec", "StepSpec", "ResourceSpec",
    "WorkspaceSpec", "StateSpec", "LocksSpec", "CleanupPolicy", "LockScope", "RemoteFileMeta",
    "ConnectorBase", "ConnectorInit", "ConnectorError", "register_step", "get_step",
    "list_steps", "register_connector", "get_connector", "list_connectors", "require",
    "require_attr",
]  # fmt: skip

ADDITIONS = [
    "AetherflowError", "SpecError", "ResolverSyntaxError", "ResolverMissingKeyError",
    "StepError", "StepTimeout", "StepInterrupted", "LockLost", "LockNotAcquired",
    "MissingDependency", "ReportTooLargeError",
]  # fmt: skip


def test_all_is_frozen() -> None:
    assert api.__all__ == PREDECESSOR_NAMES + ADDITIONS


def test_every_name_is_a_real_object() -> None:
    for name in api.__all__:
        value = getattr(api, name)
        assert value is not None, name
        assert callable(value) or isinstance(value, str), name


def test_status_constants() -> None:
    assert api.STEP_SUCCESS == "SUCCESS"
    assert api.STEP_SKIPPED == "SKIPPED"


def test_predecessor_base_classes_are_kept() -> None:
    from aetherflow.errors import (
        ConnectorError,
        ParquetSupportMissing,
        ReportTooLargeError,
        ResolverMissingKeyError,
        ResolverSyntaxError,
        SpecError,
    )

    assert issubclass(SpecError, ValueError)
    assert issubclass(ResolverSyntaxError, ValueError)
    assert issubclass(ResolverMissingKeyError, KeyError)
    assert issubclass(ConnectorError, RuntimeError)
    assert issubclass(ReportTooLargeError, ValueError)
    assert issubclass(ParquetSupportMissing, ValueError)


def test_new_run_id_is_12_lowercase_hex() -> None:
    ids = {api.new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 12 and int(i, 16) >= 0 and i == i.lower() for i in ids)


def test_step_result_as_output_adds_reason() -> None:
    result = api.StepResult(status="SKIPPED", output={"count": 0}, reason="no rows")
    assert result.as_output() == {"count": 0, "reason": "no rows"}
    kept = api.StepResult(output={"reason": "mine"}, reason="other")
    assert kept.as_output() == {"reason": "mine"}


def test_step_validate_reports_missing_inputs(tmp_path: Path) -> None:
    class Needs(api.Step):
        required_inputs = {"b", "a"}  # noqa: RUF012

        def run(self) -> dict[str, int]:
            return {}

    ctx = api.RunContext(settings=api.Settings(), flow_id="f", run_id="r", work_root=tmp_path)
    step = Needs("s1", {"c": 1}, ctx, "j")
    with pytest.raises(ValueError, match=re.escape("Step s1 missing inputs: ['a', 'b']")):
        step.validate()


def test_run_context_directories(tmp_path: Path) -> None:
    root = tmp_path
    ctx = api.RunContext(settings=api.Settings(), flow_id="f", run_id="r1", work_root=root)
    assert ctx.artifacts_dir("j") == root / "f" / "j" / "r1" / "artifacts"
    assert ctx.scratch_dir("j").is_dir()
    assert ctx.manifests_dir("j").name == "manifests"


def test_run_context_rejects_unsafe_ids(tmp_path: Path) -> None:
    ctx = api.RunContext(settings=api.Settings(), flow_id="f", run_id="../x", work_root=tmp_path)
    with pytest.raises(ValueError, match=re.escape("run id '../x' cannot be used in a path")):
        ctx.job_dir("j")


def test_top_level_namespaces_of_the_predecessor_do_not_exist() -> None:
    for name in ("aetherflow.api", "aetherflow.builtins"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        raise AssertionError(f"{name} should not exist")
