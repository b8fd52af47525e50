"""Fixtures shared by every test suite."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aetherflow.connectors import register_builtin_connectors
from aetherflow.runtime.registry import REGISTRY, Registry
from aetherflow.steps import register_builtin_steps


@pytest.fixture
def registry() -> Iterator[Registry]:
    """The global registry with the built-ins registered, restored after the test."""
    saved = REGISTRY.snapshot()
    register_builtin_steps(REGISTRY)
    register_builtin_connectors(REGISTRY)
    try:
        yield REGISTRY
    finally:
        REGISTRY.restore(saved)


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the cyclic garbage collector as the test found it (enabled or not, nothing frozen)."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()
