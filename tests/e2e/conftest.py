"""Helpers to run the ``aetherflow`` CLI in a subprocess with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest_runs import Sandbox

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "tests" / "flows"
EXAMPLES = REPO / "examples"

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without AETHERFLOW_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")}
    env.update(extra or {})
    return env


@pytest.fixture
def cli(tmp_path: Path) -> RunCli:
    """``cli(*args, env={...}, cwd=...)`` runs ``python -m aetherflow`` and captures output."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aetherflow", *args],
            capture_output=True,
            text=True,
            env=clean_env(env),
            cwd=cwd or tmp_path,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A :class:`~tests.e2e.conftest_runs.Sandbox` under ``tmp_path``; kills its leftovers."""
    from .conftest_runs import Sandbox

    box = Sandbox(tmp_path)
    try:
        yield box
    finally:
        box.close()
