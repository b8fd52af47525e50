"""Job workspace directories and cleanup policies."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from aetherflow.spec.base import CleanupPolicy
from aetherflow.state.records import JobStatus

_REMOVE_ON = {
    CleanupPolicy.ON_SUCCESS: frozenset({JobStatus.SUCCESS, JobStatus.SKIPPED}),
    CleanupPolicy.ALWAYS: frozenset({JobStatus.SUCCESS, JobStatus.SKIPPED, JobStatus.FAILED}),
    CleanupPolicy.NEVER: frozenset(),
}


def prepare_job_dir(job_dir: Path, layout: Mapping[str, str]) -> None:
    """Create the job directory and its ``artifacts``/``scratch``/``manifests`` sub-directories."""
    os.makedirs(job_dir, exist_ok=True)
    for name in layout.values():
        (job_dir / name).mkdir(parents=True, exist_ok=True)


def cleanup_job_dir(
    job_dir: Path,
    layout: Mapping[str, str],
    policy: CleanupPolicy,
    status: JobStatus,
    on_error: Callable[[Path, OSError], object],
) -> bool:
    """Remove ``job_dir`` when the policy says so for ``status``; True when removed.

    Cleanup never touches state. An error is handed to ``on_error`` (an event), not swallowed,
    and does not change the job status.
    """
    if status not in _REMOVE_ON[policy] or not job_dir.exists():
        return False
    if _remove_empty_layout(job_dir, layout):
        return True
    try:
        shutil.rmtree(job_dir)
    except OSError as exc:
        on_error(job_dir, exc)
        return False
    return True


def _remove_empty_layout(job_dir: Path, layout: Mapping[str, str]) -> bool:
    """Remove ``job_dir`` if it holds only its empty layout directories (what most jobs leave):
    one ``rmdir`` each instead of a walk of the tree. False when anything is left (a file, a
    nested or symlinked directory); :func:`shutil.rmtree` removes the rest."""
    try:
        for name in layout.values():
            os.rmdir(job_dir / name)
        os.rmdir(job_dir)
    except OSError:
        return False
    return True
