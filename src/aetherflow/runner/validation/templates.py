"""Static checks of every template in a document, per phase.

For each string: syntax (``template:syntax``), roots allowed in the phase
(``template:unknown_root``), env variables that are missing without a default
(``semantic:missing_env``, a warning unless ``AETHERFLOW_VALIDATE_ENV_STRICT``), references to
earlier steps and jobs only (``template:unknown_step``, ``template:unknown_job``), ``result``
only in ``outputs`` (``template:result_in_inputs``), and known sub-keys of ``job``/``jobs``/
``run_id``/``flow_id`` (``template:invalid_path``). Every problem is reported, not the first per
section (gap G16).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aetherflow.errors import ResolverSyntaxError
from aetherflow.runner.validation.report import Collector, Loc
from aetherflow.spec.issues import did_you_mean
from aetherflow.spec.yamlload import SourceMap
from aetherflow.templating.render import PHASE_ROOTS, Phase, is_missing, lookup
from aetherflow.templating.tokens import Token, parse_template

_JOBS_ATTRS = ("status", "outputs", "skip_reason")


@dataclass(frozen=True)
class TemplateRules:
    """What templates at one place may reference.

    Attributes:
        phase: The phase (decides allowed roots).
        env: The env snapshot used to find missing variables.
        env_strict: Report missing env as errors instead of warnings.
        step_ids: Ids of the steps of the job ("" for unreadable ones), in order.
        step_position: Index of the current step in ``step_ids``.
        job_ids: Ids of the flow's jobs, in order.
        job_position: Index of the current job in ``job_ids``.
        outputs_phase: True for ``outputs:`` (``result`` is available).

    The earlier/later id lists are only computed when a template references steps or jobs.
    """

    phase: Phase
    env: Mapping[str, str]
    env_strict: bool = False
    step_ids: Sequence[str] = ()
    step_position: int = 0
    job_ids: Sequence[str] = ()
    job_position: int = 0
    outputs_phase: bool = False

    @property
    def earlier_steps(self) -> list[str]:
        """Ids of steps before this one in the same job."""
        return [s for s in self.step_ids[: self.step_position] if s]

    @property
    def later_steps(self) -> list[str]:
        """Ids of this step and the steps after it in the same job."""
        return [s for s in self.step_ids[self.step_position :] if s]

    @property
    def earlier_jobs(self) -> list[str]:
        """Ids of jobs before this one."""
        return [j for j in self.job_ids[: self.job_position] if j]

    @property
    def later_jobs(self) -> list[str]:
        """Ids of this job and the jobs after it."""
        return [j for j in self.job_ids[self.job_position :] if j]


@dataclass(frozen=True)
class Target:
    """Where issues go: the collector plus, for another file, its name and source map."""

    collector: Collector
    file: str | None = None
    source_map: SourceMap | None = None
    position_strip: int = 0

    def add(self, code: str, loc: Loc, msg: str, **kw: Any) -> None:
        """Record an issue in the target file.

        ``position_strip`` leading segments of ``loc`` are dropped for the source-map lookup
        (the profiles file shows ``profiles.<name>...`` but its document starts at ``<name>``).
        """
        self.collector.add(
            code,
            loc,
            msg,
            file=self.file,
            source_map=self.source_map,
            position_loc=loc[self.position_strip :],
            **kw,
        )


def scan_templates(value: Any, loc: Loc, rules: TemplateRules, target: Target) -> None:
    """Check every template string inside ``value`` (keys are never templates)."""
    check_strings(braced_strings(value, loc), rules, target)


def braced_strings(value: Any, loc: Loc) -> list[tuple[Loc, str]]:
    """Every string inside ``value`` with a brace in it, and its location, in document order.

    Only these can hold a token or a forbidden pattern; keys are never templates. Equivalent to
    filtering :func:`~aetherflow.templating.tokens.iter_strings`, without a generator frame
    and a location tuple per string (validation walks every step's inputs).
    """
    found: list[tuple[Loc, str]] = []
    _collect_braced(value, loc, found)
    return found


def _collect_braced(value: Any, loc: Loc, found: list[tuple[Loc, str]]) -> None:
    if isinstance(value, str):
        if "{" in value or "}" in value:
            found.append((loc, value))
        return
    if isinstance(value, dict):
        entries: Any = value.items()
    elif isinstance(value, list | tuple):
        entries = enumerate(value)
    else:
        return
    for key, item in entries:
        if isinstance(item, str):
            if "{" in item or "}" in item:
                found.append(((*loc, key), item))
        elif isinstance(item, dict | list | tuple):
            _collect_braced(item, (*loc, key), found)


def check_strings(strings: list[tuple[Loc, str]], rules: TemplateRules, target: Target) -> None:
    """Check the templates of strings found by :func:`braced_strings`."""
    for string_loc, text in strings:
        try:
            template = parse_template(text)
        except ResolverSyntaxError as exc:
            target.add("template:syntax", string_loc, str(exc))
            continue
        for token in template.tokens:
            _check_token(token, string_loc, rules, target)


def _check_token(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    allowed = PHASE_ROOTS[rules.phase]
    if token.root not in allowed:
        hint = did_you_mean(token.root, allowed)
        target.add(
            "template:unknown_root",
            loc,
            f"unknown root {token.root!r} in {token.raw}; the {rules.phase.value} phase allows: "
            f"{', '.join(allowed)}",
            hint=f"did you mean {hint!r}?" if hint else None,
        )
        return
    checker = _ROOT_CHECKS.get(token.root)
    if checker is not None:
        checker(token, loc, rules, target)


def _check_env(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    if len(token.path) != 2:
        target.add(
            "template:invalid_path",
            loc,
            f"{token.raw}: env values are strings; use exactly env.NAME",
        )
        return
    if token.default is not None or not is_missing(lookup({"env": rules.env}, token.path)):
        return
    name = token.path[1]
    target.add(
        "semantic:missing_env",
        loc,
        f"env var {name} is not set (or empty) and {token.raw} has no default",
        hint=f"export {name}=..., add it to an env file, or write {{{{env.{name}:DEFAULT}}}}",
        severity="error" if rules.env_strict else "warning",
    )


def _unknown_ref(
    kind: str, ref: str, earlier: Sequence[str], later: Sequence[str]
) -> tuple[str, str | None]:
    if ref in later:
        return (
            f"{kind} {ref!r} does not run before this point; only earlier {kind}s can be "
            "referenced",
            f"move it before this {kind} or reference an earlier one",
        )
    guess = did_you_mean(ref, earlier)
    known = ", ".join(earlier) or "(none)"
    return (
        f"unknown {kind} {ref!r}; earlier {kind}s: {known}",
        f"did you mean {guess!r}?" if guess else None,
    )


def _check_steps(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    if len(token.path) < 2:
        target.add("template:invalid_path", loc, f"{token.raw}: use steps.<step_id>.<key>")
        return
    ref = token.path[1]
    earlier = rules.earlier_steps
    if ref not in earlier:
        msg, hint = _unknown_ref("step", ref, earlier, rules.later_steps)
        target.add("template:unknown_step", loc, f"{token.raw}: {msg}", hint=hint)


def _check_jobs(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    if len(token.path) < 3 or token.path[2] not in _JOBS_ATTRS:
        target.add(
            "template:invalid_path",
            loc,
            f"{token.raw}: use jobs.<job_id>.status, jobs.<job_id>.skip_reason or "
            "jobs.<job_id>.outputs.<key>",
        )
        return
    ref = token.path[1]
    earlier = rules.earlier_jobs
    if ref not in earlier:
        msg, hint = _unknown_ref("job", ref, earlier, rules.later_jobs)
        target.add("template:unknown_job", loc, f"{token.raw}: {msg}", hint=hint)


def _check_job(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    if len(token.path) < 2 or token.path[1] not in ("id", "outputs"):
        target.add("template:invalid_path", loc, f"{token.raw}: use job.id or job.outputs.<key>")


def _check_scalar_root(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    if len(token.path) != 1:
        target.add(
            "template:invalid_path", loc, f"{token.raw}: {token.root} is a string with no keys"
        )


def _check_result(token: Token, loc: Loc, rules: TemplateRules, target: Target) -> None:
    if not rules.outputs_phase:
        target.add(
            "template:result_in_inputs",
            loc,
            f"{token.raw}: result is the step's own output and exists only in outputs:",
            hint="reference an earlier step with steps.<step_id>.<key> instead",
        )


_ROOT_CHECKS = {
    "env": _check_env,
    "steps": _check_steps,
    "jobs": _check_jobs,
    "job": _check_job,
    "run_id": _check_scalar_root,
    "flow_id": _check_scalar_root,
    "result": _check_result,
}
