"""Running a flow in-process for the runner's tests: its result, events and recorded state."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.runner.engine import RunRequest, RunResult, run_flow
from aetherflow.runner.events import RecordingObserver
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings
from aetherflow.state import JobRecord, StateStore, StepRecord, open_state_store


@dataclass
class Ran:
    """One run: what ``run_flow`` returned, every event, and the state database."""

    result: RunResult
    events: RecordingObserver
    state: Path

    def _read(self, read: Callable[[StateStore], Any]) -> Any:
        store = open_state_store(str(self.state))
        try:
            return read(store)
        finally:
            store.close()

    def jobs(self) -> dict[str, JobRecord]:
        """The run's job rows by job id."""
        rows = self._read(lambda s: s.get_jobs(self.result.flow_id, self.result.run_id))
        return {j.job_id: j for j in rows}

    def steps(self) -> dict[tuple[str, str], StepRecord]:
        """The run's step rows by (job id, step id), in recorded order."""
        rows = self._read(lambda s: s.get_steps(self.result.flow_id, self.result.run_id))
        return {(r.job_id, r.step_id): r for r in rows}

    def steps_by_id(self) -> dict[str, StepRecord]:
        """The run's step rows by step id (flows whose step ids are unique)."""
        return {step_id: row for (_, step_id), row in self.steps().items()}

    def attempts(self, step_id: str) -> list[tuple[int, str]]:
        """(attempt, status) of every recorded attempt of ``step_id``."""
        rows = self._read(lambda s: s.get_attempts(self.result.flow_id, self.result.run_id))
        return [(a.attempt, a.status.value) for a in rows if a.step_id == step_id]

    def event(self, name: str, **match: Any) -> list[dict[str, Any]]:
        """The fields of the events called ``name`` whose fields include ``match``."""
        return [
            e.fields
            for e in self.events.events
            if e.name == name and all(e.fields.get(k) == v for k, v in match.items())
        ]


RunFlow = Callable[..., Ran]


def flow_runner(tmp_path: Path, registry: Registry) -> RunFlow:
    """``go(yaml_text, extra_observers=(), **request)`` writes the flow under ``tmp_path`` and
    runs it with state and workspace there, recording its events."""

    def go(text: str, *, extra_observers: tuple[Any, ...] = (), **kw: Any) -> Ran:
        flow = tmp_path / "flow.yaml"
        flow.write_text(textwrap.dedent(text).lstrip("\n"))
        env = {
            "AETHERFLOW_STATE_ROOT": str(tmp_path / "state"),
            "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
            "PATH": os.environ.get("PATH", ""),
        }
        recorder = RecordingObserver()
        request = RunRequest(
            flow_path=str(flow),
            env=env,
            settings=Settings.from_env(env),
            registry=registry,
            observers=[recorder, *extra_observers],
            **kw,
        )
        return Ran(run_flow(request), recorder, tmp_path / "state" / "aetherflow.sqlite")

    return go
