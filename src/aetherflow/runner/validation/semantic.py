"""Semantic checks of jobs and steps on the raw document.

They run on the loaded data even when the schema check failed, so one ``validate`` reports every
problem. Malformed pieces (a job that is not a mapping, an id that is not a string) are skipped
here; the schema check reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from aetherflow.errors import Issue, WhenSyntaxError
from aetherflow.runner.validation.report import Collector, Loc
from aetherflow.runtime.registry import Registry
from aetherflow.spec.issues import did_you_mean, issues_from_validation_error
from aetherflow.templating.tokens import has_template_syntax
from aetherflow.templating.when import parse_when


@dataclass(frozen=True)
class JobView:
    """A job as far as it could be read from the raw document."""

    index: int
    id: str | None
    data: Mapping[str, Any]

    @property
    def steps(self) -> list[tuple[int, Mapping[str, Any]]]:
        """``(index, step mapping)`` for each step that is a mapping."""
        raw = self.data.get("steps")
        if not isinstance(raw, list):
            return []
        return [(i, s) for i, s in enumerate(raw) if isinstance(s, Mapping)]


def job_views(data: Mapping[str, Any]) -> list[JobView]:
    """Every job of the document that is a mapping, with its id when it is a string."""
    jobs = data.get("jobs")
    if not isinstance(jobs, list):
        return []
    return [
        JobView(i, job.get("id") if isinstance(job.get("id"), str) else None, job)
        for i, job in enumerate(jobs)
        if isinstance(job, Mapping)
    ]


def _hint(guess: str | None) -> str | None:
    return f"did you mean {guess!r}?" if guess else None


def check_job_ids(jobs: list[JobView], out: Collector) -> None:
    """Duplicate job ids and duplicate step ids within a job."""
    seen: dict[str, int] = {}
    for job in jobs:
        if job.id is None:
            continue
        if job.id in seen:
            out.add(
                "semantic:duplicate_job_id",
                ("jobs", job.index, "id"),
                f"job id {job.id!r} is already used by jobs[{seen[job.id]}]; "
                "job ids must be unique",
            )
        else:
            seen[job.id] = job.index
        step_seen: dict[str, int] = {}
        for index, step in job.steps:
            step_id = step.get("id")
            if not isinstance(step_id, str):
                continue
            if step_id in step_seen:
                out.add(
                    "semantic:duplicate_step_id",
                    ("jobs", job.index, "steps", index, "id"),
                    f"step id {step_id!r} is already used by steps[{step_seen[step_id]}] of job "
                    f"{job.id!r}; step ids must be unique within a job",
                )
            else:
                step_seen[step_id] = index


def check_depends_on(jobs: list[JobView], out: Collector) -> None:
    """``depends_on`` must name jobs defined earlier in the list (which also rules out cycles)."""
    all_ids = [j.id for j in jobs if j.id is not None]
    for job in jobs:
        deps = job.data.get("depends_on")
        if not isinstance(deps, list):
            continue
        earlier = {j.id for j in jobs if j.index < job.index and j.id is not None}
        for k, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            loc: Loc = ("jobs", job.index, "depends_on", k)
            if dep in earlier:
                continue
            if dep in all_ids:
                out.add(
                    "semantic:depends_on_order",
                    loc,
                    f"job {job.id!r} depends on {dep!r}, which is defined later (or is itself); "
                    "a job may only depend on jobs defined before it",
                    hint=f"move job {dep!r} above job {job.id!r}",
                )
            else:
                out.add(
                    "semantic:depends_on_unknown_job",
                    loc,
                    f"job {job.id!r} depends on unknown job {dep!r}",
                    hint=_hint(did_you_mean(dep, all_ids)),
                )


def check_when(jobs: list[JobView], out: Collector) -> None:
    """``when`` must parse and may only reference jobs defined earlier."""
    all_ids = [j.id for j in jobs if j.id is not None]
    for job in jobs:
        when = job.data.get("when")
        if when is None or not isinstance(when, str | bool):
            continue
        loc: Loc = ("jobs", job.index, "when")
        try:
            expr = parse_when(when, job_ids=all_ids)
        except WhenSyntaxError as exc:
            out.add("semantic:invalid_when", loc, f"invalid when expression {when!r}: {exc}")
            continue
        position = {j.id: j.index for j in jobs if j.id is not None}
        for ref in expr.refs:
            if position.get(ref.job_id, -1) >= job.index:
                out.add(
                    "semantic:when_job_order",
                    loc,
                    f"when of job {job.id!r} references job {ref.job_id!r}, which does not run "
                    "before it; reference only jobs defined earlier",
                )


def check_step_type(
    registry: Registry, step: Mapping[str, Any], loc: Loc, out: Collector
) -> type[Any] | None:
    """Return the registered class of the step's type, or report ``semantic:unknown_step_type``."""
    step_type = step.get("type")
    if not isinstance(step_type, str) or not step_type:
        return None
    entry = registry.steps.get(step_type)
    if entry is not None:
        return entry.cls
    known = sorted(registry.steps)
    out.add(
        "semantic:unknown_step_type",
        (*loc, "type"),
        f"unknown step type {step_type!r}; registered step types: {', '.join(known) or '(none)'}",
        hint=_hint(did_you_mean(step_type, known))
        or "is the plugin that provides it on AETHERFLOW_PLUGIN_PATHS?",
    )
    return None


def _is_templated(value: Any) -> bool:
    if isinstance(value, str):
        return has_template_syntax(value) and "{{" in value
    return False


def _has_child(container: Any, segment: Any) -> bool:
    if isinstance(container, Mapping):
        return segment in container
    return isinstance(container, list) and isinstance(segment, int) and segment < len(container)


def _value_at(data: Any, path: tuple[Any, ...]) -> tuple[bool, Any]:
    """Walk ``path``; report whether the value or one of its ancestors is a template."""
    current = data
    for segment in path:
        if not _has_child(current, segment):
            return False, None
        current = current[segment]
        if _is_templated(current):
            return True, current
    return False, current


def check_step_inputs(cls: type[Any], inputs: Any, loc: Loc, out: Collector) -> None:
    """Check the raw inputs against the step's ``Inputs`` model (or ``required_inputs``).

    Values that are templates are checked after rendering, at run time; everything else (unknown
    keys, missing required keys, literal values of the wrong type) is reported now.
    """
    if not isinstance(inputs, Mapping):
        return
    model = getattr(cls, "Inputs", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        try:
            model.model_validate(dict(inputs))
        except ValidationError as exc:
            for issue in issues_from_validation_error(
                exc,
                model=model,
                source_map=out.source_map,
                file=out.file,
                loc_prefix=loc,
                data=dict(inputs),
            ):
                sub = _relative_loc(issue.loc, loc)
                templated, _ = _value_at(inputs, sub)
                if templated and "missing" not in issue.code:
                    continue
                out.extend([_as_input_issue(issue)])
        return
    required: set[str] = set(getattr(cls, "required_inputs", None) or ())
    for key in sorted(k for k in required if k not in inputs):
        out.add(
            "step:invalid_inputs",
            loc,
            f"missing required input {key!r} for step type {cls.__name__}",
        )


def _relative_loc(dotted: str, prefix: Loc) -> tuple[Any, ...]:
    """Turn ``jobs[0].steps[1].inputs.a[2].b`` back into ``("a", 2, "b")`` below ``prefix``."""
    parts: list[Any] = []
    for chunk in dotted.replace("[", ".[").split("."):
        if not chunk:
            continue
        parts.append(int(chunk[1:-1]) if chunk.startswith("[") else chunk)
    return tuple(parts[len(prefix) :])


def _as_input_issue(issue: Issue) -> Issue:
    kind = issue.code.partition(":")[2]
    return replace(issue, code="step:invalid_inputs", msg=f"{issue.msg} [{kind}]")
