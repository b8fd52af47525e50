"""``--plan``: what a run or resume would do, per job and step, without writing anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aetherflow.runner.resume import (
    OnDrift,
    Recorded,
    StepDecision,
    find_drift,
    job_reusable,
    step_decisions,
)
from aetherflow.spec.flow import FlowSpec
from aetherflow.state.records import JobStatus


@dataclass
class PlanStep:
    """One step's planned action."""

    step_id: str
    action: str
    why: str


@dataclass
class PlanJob:
    """One job's planned action and its steps."""

    job_id: str
    action: str
    why: str
    steps: list[PlanStep] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape of ``run --plan --json``."""
        return {
            "job_id": self.job_id,
            "action": self.action,
            "why": self.why,
            "steps": [{"step_id": s.step_id, "action": s.action, "why": s.why} for s in self.steps],
        }


def _recorded_dependency_problem(
    flow: FlowSpec, recorded: Recorded, deps: list[str], selected: str | None
) -> str | None:
    if selected is None:
        return None
    for dep in deps:
        record = recorded.jobs.get(dep)
        status = record.status.value if record else None
        if status != JobStatus.SUCCESS.value:
            return f"dependency {dep} is {status or 'NOT_RUN'} in this run id"
    return None


def _action(
    job_id: str, decision: StepDecision, drifted: set[tuple[str, str]], on_drift: OnDrift
) -> str:
    if on_drift is OnDrift.FAIL and (job_id, decision.step_id) in drifted:
        return "drifted"
    return "reuse" if decision.reuse is not None else "run"


def build_plan(
    flow: FlowSpec, recorded: Recorded, on_drift: OnDrift, selected: str | None
) -> list[PlanJob]:
    """Plan every selected job: ``reuse``, ``run`` or ``blocked``, with reasons."""
    drifted = {(d.job_id, d.step_id) for d in find_drift(flow, recorded)}
    plan: list[PlanJob] = []
    for job in flow.jobs:
        if selected is not None and job.id != selected:
            continue
        decisions = step_decisions(job, recorded, on_drift, drifted)
        steps = [
            PlanStep(d.step_id, _action(job.id, d, drifted, on_drift), d.why) for d in decisions
        ]
        if any(step.action == "drifted" for step in steps):
            why = "drifted steps: the run stops unless --on-drift rerun or reuse is given"
            plan.append(PlanJob(job.id, "drifted", why, steps))
            continue
        if job_reusable(job, recorded, decisions):
            status = recorded.jobs[job.id].status.value
            plan.append(PlanJob(job.id, "reuse", f"recorded {status}", steps))
            continue
        blocked = _recorded_dependency_problem(flow, recorded, job.depends_on, selected)
        if blocked is not None:
            plan.append(PlanJob(job.id, "blocked", blocked, steps))
            continue
        gate = " if its gates pass" if job.depends_on or job.when is not None else ""
        plan.append(PlanJob(job.id, "run", "runs" + gate, steps))
    return plan
