"""A harness that runs one step of any type through a real flow and run, with resources.

Like :mod:`tests.unit.steps.harness` (which is specific to ``external.process``), plus
``resources:`` and the fake ``db`` connectors of :mod:`tests.unit.steps.fake_db`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aetherflow.runtime.registry import Registry
from tests.unit.steps.fake_db import register_fakes
from tests.unit.steps.harness import Ran, run_one_step

DbRun = Callable[..., Ran]

DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {
    "db": {"kind": "db", "driver": "fake"},
}


def make_db_runner(tmp_path: Path, registry: Registry) -> DbRun:
    """``go(step_type, inputs, resources=None, env=None, **step_keys)`` runs one step ``s`` of
    job ``j`` in flow ``df`` and returns what happened."""
    register_fakes(registry)
    counter = {"n": 0}

    def go(
        step_type: str,
        inputs: dict[str, Any],
        resources: dict[str, dict[str, Any]] | None = None,
        env: dict[str, str] | None = None,
        **step: Any,
    ) -> Ran:
        counter["n"] += 1
        spec = {"id": "s", "type": step_type, "inputs": inputs, **step}
        return run_one_step(
            tmp_path,
            registry,
            f"r{counter['n']}",
            spec,
            flow_id="df",
            resources=resources if resources is not None else DEFAULT_RESOURCES,
            env=env,
        )

    return go
