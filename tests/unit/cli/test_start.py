"""The console-script entry point pauses the cyclic collector only while the CLI is imported."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from aetherflow.cli import main, start


def test_the_cli_runs_with_the_collector_on_and_the_imports_frozen(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bool, int]] = []
    monkeypatch.setattr(
        main, "entrypoint", lambda: seen.append((gc.isenabled(), gc.get_freeze_count()))
    )
    gc.enable()
    gc.unfreeze()
    start.entrypoint()
    enabled, frozen = seen[0]
    assert enabled is True
    assert frozen > 1000  # at least the imported modules' objects


def test_a_disabled_collector_stays_disabled(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(main, "entrypoint", lambda: seen.append(gc.isenabled()))
    gc.disable()
    start.entrypoint()
    assert seen == [False]


def test_python_dash_m_uses_the_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aetherflow", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("aetherflow ")
