"""Job directories: created with their layout, removed by policy, whatever they hold."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from aetherflow.runner.workspace import cleanup_job_dir, prepare_job_dir
from aetherflow.spec.base import CleanupPolicy
from aetherflow.state.records import JobStatus

LAYOUT = {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}


def _errors() -> tuple[list[tuple[Path, OSError]], Callable[[Path, OSError], None]]:
    found: list[tuple[Path, OSError]] = []
    return found, lambda path, exc: found.append((path, exc))


def _cleanup(job_dir: Path, layout: dict[str, str] = LAYOUT) -> bool:
    errors, on_error = _errors()
    removed = cleanup_job_dir(
        job_dir, layout, CleanupPolicy.ON_SUCCESS, JobStatus.SUCCESS, on_error
    )
    assert errors == []
    return removed


def test_prepare_creates_the_directory_and_its_layout(tmp_path: Path) -> None:
    job_dir = tmp_path / "work" / "flow" / "job" / "run"
    prepare_job_dir(job_dir, {**LAYOUT, "artifacts": "out/artifacts"})
    prepare_job_dir(job_dir, LAYOUT)  # a resumed run finds them: no error
    assert sorted(p.name for p in job_dir.iterdir()) == ["artifacts", "manifests", "out", "scratch"]
    assert (job_dir / "out" / "artifacts").is_dir()


def test_an_untouched_job_directory_is_removed(tmp_path: Path) -> None:
    job_dir = tmp_path / "run"
    prepare_job_dir(job_dir, LAYOUT)
    assert _cleanup(job_dir)
    assert not job_dir.exists()
    assert tmp_path.exists()


@pytest.mark.parametrize(
    "fill",
    ["file in artifacts", "file at the top", "directory in scratch", "nested layout"],
)
def test_a_job_directory_with_content_is_removed_entirely(tmp_path: Path, fill: str) -> None:
    job_dir = tmp_path / "run"
    layout = {**LAYOUT, "manifests": "meta/manifests"} if fill == "nested layout" else LAYOUT
    prepare_job_dir(job_dir, layout)
    if fill == "file in artifacts":
        (job_dir / "artifacts" / "report.csv").write_text("a\n")
    elif fill == "file at the top":
        (job_dir / "notes.txt").write_text("x")
    elif fill == "directory in scratch":
        (job_dir / "scratch" / "tmp" / "deep").mkdir(parents=True)
    assert _cleanup(job_dir, layout)
    assert not job_dir.exists()


def test_a_symlinked_layout_directory_is_unlinked_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    job_dir = tmp_path / "run"
    prepare_job_dir(job_dir, {k: v for k, v in LAYOUT.items() if k != "artifacts"})
    os.symlink(outside, job_dir / "artifacts")
    assert _cleanup(job_dir)
    assert not job_dir.exists()
    assert (outside / "keep.txt").read_text() == "keep"


def test_policy_never_and_a_missing_directory_remove_nothing(tmp_path: Path) -> None:
    job_dir = tmp_path / "run"
    prepare_job_dir(job_dir, LAYOUT)
    errors, on_error = _errors()
    kept = cleanup_job_dir(job_dir, LAYOUT, CleanupPolicy.NEVER, JobStatus.SUCCESS, on_error)
    assert not kept
    assert errors == []
    assert job_dir.is_dir()
    assert not _cleanup(tmp_path / "missing")


def test_a_removal_error_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job_dir = tmp_path / "run"
    prepare_job_dir(job_dir, LAYOUT)
    (job_dir / "artifacts" / "locked.txt").write_text("x")

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("aetherflow.runner.workspace.shutil.rmtree", refuse)
    errors, on_error = _errors()
    removed = cleanup_job_dir(job_dir, LAYOUT, CleanupPolicy.ALWAYS, JobStatus.FAILED, on_error)
    assert not removed
    assert [(path, type(exc).__name__) for path, exc in errors] == [(job_dir, "PermissionError")]
    assert (job_dir / "artifacts" / "locked.txt").exists()
