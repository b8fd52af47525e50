"""Success checks and the idempotency marker of ``external.process`` (all paths sandboxed)."""

from __future__ import annotations

import glob
from pathlib import Path

from aetherflow.errors import StepError
from aetherflow.runtime.sandbox import Sandbox
from aetherflow.steps.process_spec import ExternalProcessInputs


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def problems(box: Sandbox, params: ExternalProcessInputs) -> list[str]:
    """Every failed success check, as ``missing_required_file:<path>`` etc."""
    success = params.success
    found: list[str] = []
    required = _as_list(success.require_files)
    if success.marker_file:
        required.append(success.marker_file)
    for value in required:
        path = box.resolve(value, key="success.require_files")
        if not path.exists():
            found.append(f"missing_required_file:{path}")
    for value in _as_list(success.require_glob):
        pattern = box.resolve(value, key="success.require_glob")
        if not glob.glob(str(pattern)):
            found.append(f"missing_required_glob:{pattern}")
    for value in _as_list(success.forbid_files):
        path = box.resolve(value, key="success.forbid_files")
        if path.exists():
            found.append(f"forbidden_file_present:{path}")
    return found


def check_success(box: Sandbox, params: ExternalProcessInputs) -> None:
    """Raise when a success check fails.

    Raises:
        StepError: ``external.process outputs invalid: <reasons>``.
    """
    found = problems(box, params)
    if found:
        raise StepError("external.process outputs invalid: " + "; ".join(found))


def marker_satisfied(box: Sandbox, params: ExternalProcessInputs) -> Path | None:
    """The marker path when it exists and the success checks pass (skip the run), else None."""
    value = params.idempotency.marker_path or params.success.marker_file
    if not value:
        raise StepError(
            "idempotency.strategy marker needs idempotency.marker_path or success.marker_file"
        )
    marker = box.resolve(value, key="idempotency.marker_path")
    if marker.exists() and not problems(box, params):
        return marker
    return None
