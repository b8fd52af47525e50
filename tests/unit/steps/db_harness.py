"""A harness that runs one step of any type through a real flow and run, with resources.

Like :mod:`tests.unit.steps.harness` (which is specific to ``external.process``), plus
``resources:`` and the fake ``db`` connectors of :mod:`tests.unit.steps.fake_db`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from aetherflow.runner.engine import RunRequest, run_flow
from aetherflow.runner.events import RecordingObserver
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings
from aetherflow.state import open_state_store
from tests.unit.steps.fake_db import register_fakes
from tests.unit.steps.harness import Ran

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
        run_id = f"r{counter['n']}"
        flow = {
            "flow": {"id": "df", "workspace": {"cleanup_policy": "never"}},
            "resources": resources if resources is not None else DEFAULT_RESOURCES,
            "jobs": [
                {"id": "j", "steps": [{"id": "s", "type": step_type, "inputs": inputs, **step}]}
            ],
        }
        path = tmp_path / "flow.yaml"
        path.write_text(yaml.safe_dump(flow))
        full_env = {
            "AETHERFLOW_STATE_ROOT": str(tmp_path / "state"),
            "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            **(env or {}),
        }
        recorder = RecordingObserver()
        result = run_flow(
            RunRequest(
                flow_path=str(path),
                env=full_env,
                settings=Settings.from_env(full_env),
                registry=registry,
                observers=[recorder],
                run_id=run_id,
            )
        )
        store = open_state_store(str(tmp_path / "state" / "aetherflow.sqlite"))
        try:
            record = next(s for s in store.get_steps("df", run_id) if s.step_id == "s")
        finally:
            store.close()
        artifacts = tmp_path / "work" / "df" / "j" / run_id / "artifacts"
        return Ran(result, recorder, record, artifacts)

    return go
