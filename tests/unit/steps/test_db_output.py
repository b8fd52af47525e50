"""Atomic output files: temp files of killed writers are removed by the next writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aetherflow.errors import StepError
from aetherflow.steps.db_output import AtomicFile, remove_orphaned_temps


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_temp_is_removed_unless_published(tmp_path: Path) -> None:
    final = tmp_path / "out.csv"
    with AtomicFile(final) as out:
        out.temp.write_text("partial")
    assert list(tmp_path.iterdir()) == []
    with AtomicFile(final) as out:
        out.temp.write_text("done")
        out.publish()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_killed_writers_temp_is_removed_by_the_next_writer(tmp_path: Path) -> None:
    final = tmp_path / "out.csv"
    with AtomicFile(final) as mine:
        host = mine.temp.name.split("-")[-1].split(".")[0]
        orphan = tmp_path / f".out.csv.af-{dead_pid()}-{host}.0badcafe.tmp"
        live = tmp_path / f".out.csv.af-{os.getpid()}-{host}.feedbeef.tmp"
        elsewhere = tmp_path / f".out.csv.af-{dead_pid()}-00000000.0badcafe.tmp"
        other_file = tmp_path / f".other.csv.af-{dead_pid()}-{host}.0badcafe.tmp"
        for path in (orphan, live, elsewhere, other_file):
            path.write_text("x")
    assert remove_orphaned_temps(final) == [orphan]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, elsewhere, other_file)
    )


def test_a_directory_is_not_an_output(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="is a directory; name a file"):
        AtomicFile(tmp_path)
