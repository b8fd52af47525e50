"""``validate``: every check of a flow file, all problems reported at once.

Order: load (YAML syntax, duplicate keys) → render ``flow:`` with env → schema (strict models) →
semantic checks on the raw document (ids, ``depends_on``, ``when``, step types and inputs,
templates per phase, resources, profiles, decode). A file that does not load stops there;
everything after loading runs even when an earlier check failed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from aetherflow.errors import SpecError
from aetherflow.runner.flowmeta import injected_env, render_flow_block, workspace_root_of
from aetherflow.runner.validation.report import Collector, ValidationReport
from aetherflow.runner.validation.resources import check_resources, resource_rules
from aetherflow.runner.validation.semantic import (
    JobView,
    check_depends_on,
    check_job_ids,
    check_step_inputs,
    check_step_type,
    check_when,
    job_views,
)
from aetherflow.runner.validation.templates import (
    Target,
    TemplateRules,
    braced_strings,
    check_strings,
    scan_templates,
)
from aetherflow.runtime.profiles import Profiles, load_profiles
from aetherflow.runtime.registry import REGISTRY, Registry
from aetherflow.spec.flow import DEFAULT_WORK_ROOT, FlowSpec
from aetherflow.spec.issues import issues_from_validation_error
from aetherflow.spec.yamlload import LoadedYaml, load_yaml, load_yaml_file
from aetherflow.templating.render import Phase


@dataclass(frozen=True)
class ValidationOptions:
    """What validation needs from the environment.

    Attributes:
        env: The env snapshot (the same one a run would use).
        registry: Registered step types and connectors (after plugins loaded).
        env_strict: ``AETHERFLOW_VALIDATE_ENV_STRICT``: missing env is an error.
        secrets_configured: A secrets hook is configured (decode is allowed).
        work_root: ``AETHERFLOW_WORK_ROOT`` (the default workspace root).
        profiles_env: Where the profiles source is named (default: ``env``).
    """

    env: Mapping[str, str]
    registry: Registry = field(default_factory=lambda: REGISTRY)
    env_strict: bool = False
    secrets_configured: bool = False
    work_root: str = DEFAULT_WORK_ROOT
    profiles_env: Mapping[str, str] | None = None


def validate_flow_file(
    path: str | os.PathLike[str], options: ValidationOptions
) -> ValidationReport:
    """Validate the flow file at ``path``; never raises for problems in the file."""
    try:
        loaded = load_yaml_file(path)
    except SpecError as exc:
        report = ValidationReport(flow_yaml=str(path))
        report.errors.extend(exc.issues)
        return report
    return validate_loaded(loaded, options, flow_yaml=str(path))


def validate_flow_text(
    text: str, options: ValidationOptions, *, file: str = ""
) -> ValidationReport:
    """Validate flow YAML given as text."""
    try:
        loaded = load_yaml(text, file=file)
    except SpecError as exc:
        report = ValidationReport(flow_yaml=file)
        report.errors.extend(exc.issues)
        return report
    return validate_loaded(loaded, options, flow_yaml=file)


def validate_loaded(
    loaded: LoadedYaml, options: ValidationOptions, *, flow_yaml: str
) -> ValidationReport:
    """Run every check on an already loaded document."""
    out = Collector(loaded.file, loaded.source_map)
    data = loaded.data
    if not isinstance(data, Mapping):
        out.add(
            "schema:document_type",
            (),
            "a flow file must be a mapping with the keys version, flow, resources and jobs",
        )
        return out.report(flow_yaml, data)
    root = workspace_root_of(data.get("flow"), options.env, options.work_root)
    options = replace(options, env={**options.env, **injected_env(options.env, root)})
    rules = TemplateRules(phase=Phase.FLOW_META, env=options.env, env_strict=options.env_strict)
    scan_templates(data.get("flow"), ("flow",), rules, Target(out))
    model = _check_schema(data, options.env, out)
    jobs = job_views(data)
    check_job_ids(jobs, out)
    check_depends_on(jobs, out)
    check_when(jobs, out)
    _check_steps(jobs, data, options, rules, out)
    profiles = _load_profiles(
        options.profiles_env if options.profiles_env is not None else options.env, out
    )
    check_resources(
        data,
        registry=options.registry,
        profiles=profiles,
        rules=resource_rules(rules),
        secrets_configured=options.secrets_configured,
        out=out,
    )
    report = out.report(flow_yaml, data)
    if report.ok:
        report.flow = model
    return report


def _check_schema(
    data: Mapping[str, Any], env: Mapping[str, str], out: Collector
) -> FlowSpec | None:
    rendered = dict(data)
    if "flow" in rendered:
        rendered["flow"] = render_flow_block(data["flow"], env, keep_unrenderable=True)
    try:
        return FlowSpec.model_validate(rendered)
    except ValidationError as exc:
        out.extend(
            issues_from_validation_error(
                exc, model=FlowSpec, source_map=out.source_map, file=out.file, data=rendered
            )
        )
        return None


def _load_profiles(env: Mapping[str, str], out: Collector) -> Profiles:
    try:
        return load_profiles(env)
    except SpecError as exc:
        out.extend(exc.issues)
        return Profiles(source="<invalid>", failed=True)


def _check_steps(
    jobs: list[JobView],
    data: Mapping[str, Any],
    options: ValidationOptions,
    base: TemplateRules,
    out: Collector,
) -> None:
    job_ids = tuple(j.id or "" for j in jobs)
    resources = data.get("resources")
    resource_names = set(resources) if isinstance(resources, Mapping) else set()
    for job_position, job in enumerate(jobs):
        steps = job.steps
        step_ids = tuple(_step_id(s) for _, s in steps)
        for position, (index, step) in enumerate(steps):
            loc = ("jobs", job.index, "steps", index)
            inputs_loc = (*loc, "inputs")
            inputs = step.get("inputs")
            in_inputs = braced_strings(inputs, inputs_loc)
            outputs = step.get("outputs")
            in_outputs = braced_strings(outputs, (*loc, "outputs")) if outputs else []
            if in_inputs or in_outputs:  # the rules are only needed when there are templates
                rules = TemplateRules(
                    phase=Phase.STEP,
                    env=options.env,
                    env_strict=options.env_strict,
                    step_ids=step_ids,
                    step_position=position,
                    job_ids=job_ids,
                    job_position=job_position,
                )
                check_strings(in_inputs, rules, Target(out))
                if in_outputs:
                    check_strings(in_outputs, replace(rules, outputs_phase=True), Target(out))
            cls = check_step_type(options.registry, step, loc, out)
            if cls is not None:
                check_step_inputs(cls, step.get("inputs", {}), inputs_loc, out)
                _check_static(cls, inputs, inputs_loc, out)
                _check_nested(options, cls, inputs, inputs_loc, out)
            _check_resource_ref(inputs, resource_names, loc, out)


def _check_static(cls: type[Any], inputs: Any, loc: tuple[str | int, ...], out: Collector) -> None:
    """A step's own validate-time checks (``static_issues``), with their own codes."""
    checker = getattr(cls, "static_issues", None)
    if checker is None or not isinstance(inputs, Mapping):
        return
    for code, sub_loc, msg in checker(inputs):
        out.add(code, (*loc, *sub_loc), msg)


def _check_nested(
    options: ValidationOptions,
    cls: type[Any],
    inputs: Any,
    loc: tuple[str | int, ...],
    out: Collector,
) -> None:
    """Steps that run other steps (``with_lock``): check the inner step's type and inputs."""
    nested = getattr(cls, "nested_steps", None)
    if nested is None or not isinstance(inputs, Mapping):
        return
    for sub_loc, inner in nested(inputs):
        if not isinstance(inner, Mapping):
            continue  # the outer step's Inputs model reports a missing or malformed inner step
        inner_loc = (*loc, *sub_loc)
        inner_cls = check_step_type(options.registry, inner, inner_loc, out)
        if inner_cls is not None:
            check_step_inputs(inner_cls, inner.get("inputs", {}), (*inner_loc, "inputs"), out)
            _check_static(inner_cls, inner.get("inputs"), (*inner_loc, "inputs"), out)
            _check_nested(options, inner_cls, inner.get("inputs"), (*inner_loc, "inputs"), out)


def _step_id(step: Mapping[str, Any]) -> str:
    value = step.get("id")
    return value if isinstance(value, str) else ""


def _check_resource_ref(
    inputs: Any, resource_names: set[str], loc: tuple[str | int, ...], out: Collector
) -> None:
    if not isinstance(inputs, Mapping):
        return
    name = inputs.get("resource")
    if isinstance(name, str) and "{" not in name and name not in resource_names:
        known = ", ".join(sorted(resource_names)) or "(none declared)"
        out.add(
            "semantic:unknown_resource",
            (*loc, "inputs", "resource"),
            f"step uses resource {name!r}, which is not declared under resources: ({known})",
        )
