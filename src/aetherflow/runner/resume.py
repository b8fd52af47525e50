"""What an existing run id already did: recorded jobs/steps, drift, and the resume plan.

Rules (``30-execution.md``):

* A step recorded SUCCESS/SKIPPED is not executed again; its recorded output is restored.
* RUNNING rows left by a crash, FAILED steps and steps never recorded run (at-least-once).
* A completed step whose fingerprint differs from the current YAML has *drifted*: resume stops
  (``fail``), re-runs it and every later step of its job (``rerun``), or keeps it (``reuse``).
* A job recorded SUCCESS/SKIPPED whose current steps are all reused keeps its recorded status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from aetherflow.runner.fingerprint import step_fingerprint
from aetherflow.spec.flow import FlowSpec, JobSpec
from aetherflow.state.records import (
    DONE_STEP_STATUSES,
    JobRecord,
    JobStatus,
    RunRecord,
    StepRecord,
)
from aetherflow.state.store import StateStore


class OnDrift(enum.StrEnum):
    """What to do with completed steps whose definition changed."""

    FAIL = "fail"
    RERUN = "rerun"
    REUSE = "reuse"


@dataclass(frozen=True)
class Drift:
    """A completed step whose YAML changed since it succeeded."""

    job_id: str
    step_id: str
    recorded: str | None
    current: str


@dataclass
class Recorded:
    """The records of one run id (empty for a new run)."""

    run: RunRecord | None = None
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    steps: dict[tuple[str, str], StepRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, store: StateStore, flow_id: str, run_id: str) -> Recorded:
        """Read the run, its jobs and steps."""
        run = store.get_run(flow_id, run_id)
        if run is None:
            return cls()
        jobs = {j.job_id: j for j in store.get_jobs(flow_id, run_id)}
        steps = {(s.job_id, s.step_id): s for s in store.get_steps(flow_id, run_id)}
        return cls(run=run, jobs=jobs, steps=steps)

    def done(self, job_id: str, step_id: str) -> StepRecord | None:
        """The step's record when it completed (SUCCESS/SKIPPED), else None."""
        record = self.steps.get((job_id, step_id))
        return record if record is not None and record.status in DONE_STEP_STATUSES else None


def find_drift(flow: FlowSpec, recorded: Recorded) -> list[Drift]:
    """Completed steps whose current definition differs from the recorded fingerprint."""
    drifted = []
    for job in flow.jobs:
        for step in job.steps:
            record = recorded.done(job.id, step.id)
            if record is None:
                continue
            current = step_fingerprint(step)
            if record.fingerprint != current:
                drifted.append(Drift(job.id, step.id, record.fingerprint, current))
    return drifted


@dataclass(frozen=True)
class StepDecision:
    """Reuse the recorded result, or run the step, and why."""

    step_id: str
    reuse: StepRecord | None
    why: str


def step_decisions(
    job: JobSpec, recorded: Recorded, on_drift: OnDrift, drifted: set[tuple[str, str]]
) -> list[StepDecision]:
    """Decide, for each step of ``job``, whether its recorded result is reused."""
    decisions: list[StepDecision] = []
    rerun_rest = False
    for step in job.steps:
        record = recorded.done(job.id, step.id)
        is_drifted = (job.id, step.id) in drifted
        if record is not None and is_drifted and on_drift is OnDrift.RERUN:
            rerun_rest = True
        if rerun_rest:
            why = "drifted" if is_drifted else "after a drifted step"
            decisions.append(StepDecision(step.id, None, why))
        elif record is not None and is_drifted and on_drift is OnDrift.FAIL:
            why = "changed since it ran; the run stops unless --on-drift rerun or reuse is given"
            decisions.append(StepDecision(step.id, record, why))
        elif record is not None:
            why = f"recorded {record.status.value}" + (" (drifted, reused)" if is_drifted else "")
            decisions.append(StepDecision(step.id, record, why))
        else:
            previous = recorded.steps.get((job.id, step.id))
            why = f"recorded {previous.status.value} (not completed)" if previous else "not run yet"
            decisions.append(StepDecision(step.id, None, why))
    return decisions


def job_reusable(job: JobSpec, recorded: Recorded, decisions: list[StepDecision]) -> bool:
    """True when the job keeps its recorded SUCCESS/SKIPPED status without running."""
    record = recorded.jobs.get(job.id)
    if record is None or record.status not in (JobStatus.SUCCESS, JobStatus.SKIPPED):
        return False
    if record.status is JobStatus.SKIPPED and record.skip_trigger != "step":
        return False  # a `when`-skipped job is evaluated again
    return all(d.reuse is not None for d in decisions)
