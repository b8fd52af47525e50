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


def make_runner(tmp_path: Path, registry: Registry) -> Run:
    counter = {"n": 0}

    def go(inputs: dict[str, Any], env: dict[str, str] | None = None, **step: Any) -> Ran:
        counter["n"] += 1
        run_id = f"r{counter['n']}"
        flow = {
            "flow": {"id": "ep", "workspace": {"cleanup_policy": "never"}},
            "jobs": [
                {
                    "id": "j",
                    "steps": [{"id": "p", "type": "external.process", "inputs": inputs, **step}],
                }
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
            record = next(s for s in store.get_steps("ep", run_id) if s.step_id == "p")
        finally:
            store.close()
        return Ran(result, recorder, record, tmp_path / "work" / "ep" / "j" / run_id / "artifacts")

    return go
