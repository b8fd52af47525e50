"""Fixtures of the step tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.runtime.registry import Registry
from tests.unit.steps.harness import Run, make_runner


@pytest.fixture
def run(tmp_path: Path, registry: Registry) -> Run:
    """Run one ``external.process`` step with the given inputs in a fresh flow."""
    return make_runner(tmp_path, registry)
