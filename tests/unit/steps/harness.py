"""A harness that runs one ``external.process`` step through a real flow and run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aetherflow.runner.engine import RunRequest, RunResult, run_flow
from aetherflow.runner.events import RecordingObserver
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings
from aetherflow.state import StepRecord, open_state_store


@dataclass
class Ran:
    result: RunResult
    events: RecordingObserver
    step: StepRecord
    artifacts: Path

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e.fields for e in self.events.events if e.name == name]

    @property
    def all_text(self) -> str:
        return json.dumps([e.fields for e in self.events.events])


Run = Callable[..., Ran]


def run_one_step(
    tmp_path: Path,
    registry: Registry,
    run_id: str,
    step: dict[str, Any],
    *,
    flow_id: str,
    resources: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Ran:
    """Run flow ``flow_id`` with one job ``j`` holding ``step`` (state and work under
    ``tmp_path``) and return what happened to the step."""
    flow: dict[str, Any] = {
        "flow": {"id": flow_id, "workspace": {"cleanup_policy": "never"}},
        "jobs": [{"id": "j", "steps": [step]}],
    }
    if resources is not None:
        flow["resources"] = resources
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
        record = next(r for r in store.get_steps(flow_id, run_id) if r.step_id == step["id"])
    finally:
        store.close()
    return Ran(result, recorder, record, tmp_path / "work" / flow_id / "j" / run_id / "artifacts")


def make_runner(tmp_path: Path, registry: Registry) -> Run:
    """``go(inputs, env=None, **step_keys)`` runs one ``external.process`` step ``p``."""
    counter = {"n": 0}

    def go(inputs: dict[str, Any], env: dict[str, str] | None = None, **step: Any) -> Ran:
        counter["n"] += 1
        spec = {"id": "p", "type": "external.process", "inputs": inputs, **step}
        return run_one_step(tmp_path, registry, f"r{counter['n']}", spec, flow_id="ep", env=env)

    return go
