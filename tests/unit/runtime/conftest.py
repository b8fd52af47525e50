"""Isolation fixtures for tests that touch process-wide runtime state."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.runtime import plugins
from aetherflow.runtime.registry import REGISTRY, Registry


@pytest.fixture
def global_registry() -> Iterator[Registry]:
    """The global REGISTRY, emptied for the test and restored afterwards."""
    saved = REGISTRY.snapshot()
    REGISTRY.restore(({}, {}))
    try:
        yield REGISTRY
    finally:
        REGISTRY.restore(saved)


@pytest.fixture
def plugin_sandbox(global_registry: Registry, tmp_path: Path) -> Iterator[Registry]:
    """Restore sys.path, sys.modules and the plugin caches around a plugin-loading test.

    Only modules imported from the test's ``tmp_path`` are dropped from ``sys.modules``; library
    modules first imported during the test stay, so no module is ever imported twice.
    """
    saved_path = list(sys.path)
    saved_modules = dict(sys.modules)
    saved_files = dict(plugins._loaded_files)
    saved_entry_points = dict(plugins._loaded_entry_points)
    plugins._loaded_files.clear()
    plugins._loaded_entry_points.clear()
    try:
        yield global_registry
    finally:
        sys.path[:] = saved_path
        roots = (str(tmp_path), str(tmp_path.resolve()))
        for name in set(sys.modules) - set(saved_modules):
            if str(getattr(sys.modules[name], "__file__", None) or "").startswith(roots):
                del sys.modules[name]
        sys.modules.update(saved_modules)
        plugins._loaded_files.clear()
        plugins._loaded_files.update(saved_files)
        plugins._loaded_entry_points.clear()
        plugins._loaded_entry_points.update(saved_entry_points)
