"""``doctor`` and ``explain``: what a flow needs from its environment, and where values come from.

Both read the flow, its profiles and the env snapshot without running anything. ``explain``
never shows a secret: decoded fields, secret-named fields and values that contain a registered
secret (env keys matching ``AETHERFLOW_SECRET_ENV_PATTERNS``) are shown as ``***``.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.errors import AetherflowError, SpecError
from aetherflow.runtime.profiles import Profiles, load_profiles, merge_resource
from aetherflow.runtime.redact import MASK, Redactor, is_secret_name
from aetherflow.runtime.registry import Registry
from aetherflow.spec.flow import FlowSpec, ResourceSpec
from aetherflow.templating.render import (
    Phase,
    Scope,
    find_path,
    is_missing,
    lookup,
    render_value,
)
from aetherflow.templating.tokens import iter_strings, parse_template


@dataclass(frozen=True)
class EnvNeed:
    """A config/options leaf that needs an env variable that is not set."""

    resource: str
    profile: str | None
    section: str
    field: str
    env: str

    def line(self) -> str:
        """The predecessor's text form, fixed to print real names."""
        return (
            f"resource={self.resource} profile={self.profile or '-'} "
            f"{self.section}.{self.field} needs env {self.env}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``code``/``loc``/``msg`` as the predecessor, plus the parts)."""
        return {
            "code": "semantic:missing_env",
            "loc": f"resources.{self.resource}.{self.section}.{self.field}",
            "msg": self.line(),
            "resource": self.resource,
            "profile": self.profile,
            "section": self.section,
            "field": self.field,
            "env": self.env,
        }


def _env_refs(value: Any) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    """``(path, env name, has default)`` of every ``{{env.X}}`` token inside ``value``."""
    for loc, text in iter_strings(value):
        if "{{" not in text:
            continue
        try:
            template = parse_template(text)
        except AetherflowError:
            continue  # validate reports syntax errors
        for token in template.tokens:
            if token.root == "env" and len(token.path) == 2:
                yield loc, token.path[1], token.default is not None


def missing_env(flow: FlowSpec, profiles: Profiles, env: Mapping[str, str]) -> list[EnvNeed]:
    """Every resource/profile value that needs an env variable which is missing or empty."""
    needs = []
    for name, resource in flow.resources.items():
        profile = profiles.profiles.get(resource.profile) if resource.profile else None
        merged = merge_resource(name, resource, profile)
        for section, tree in (("config", merged.config), ("options", merged.options)):
            for loc, var, has_default in _env_refs(tree):
                if has_default or not is_missing(lookup({"env": env}, ("env", var))):
                    continue
                dotted = ".".join(str(p) for p in loc)
                needs.append(EnvNeed(name, resource.profile, section, dotted, var))
    return needs


def _leaves(tree: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _leaves(value, (*prefix, str(key)))
    else:
        yield prefix, tree


def explain_resource(
    name: str,
    resource: ResourceSpec,
    profiles: Profiles,
    env: Mapping[str, str],
    redactor: Redactor,
) -> dict[str, Any]:
    """Kind/driver, profile, and for each value: shown value, source, env names, decoded."""
    profile = profiles.profiles.get(resource.profile) if resource.profile else None
    merged = merge_resource(name, resource, profile)
    decoded = set(merged.decode.requested_paths())
    scope = Scope(Phase.RESOURCE, {"env": env}, strict=False)
    sections: dict[str, Any] = {}
    for section, tree, own in (
        ("config", merged.config, resource.config),
        ("options", merged.options, resource.options),
    ):
        entries = {}
        for path, raw in _leaves(tree):
            rendered = render_value(raw, scope)
            secret = (section, path) in decoded or any(is_secret_name(p) for p in path)
            shown = MASK if secret else redactor.redact_value(rendered)
            entries[".".join(path)] = {
                "value": shown,
                "source": "flow" if find_path(own, path)[0] else f"profile:{resource.profile}",
                "env": sorted({var for _, var, _ in _env_refs(raw)}),
                "decoded": (section, path) in decoded,
            }
        sections[section] = entries
    return {
        "kind": resource.kind,
        "driver": resource.driver,
        "profile": resource.profile,
        "decode": sorted(f"{s}.{'.'.join(p)}" for s, p in decoded),
        **sections,
    }


@dataclass
class DoctorReport:
    """Environment checks of one flow."""

    flow_yaml: str
    missing_env: list[EnvNeed] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True without missing env and errors."""
        return not self.missing_env and not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The ``doctor --json`` shape."""
        return {
            "ok": self.ok,
            "flow_yaml": self.flow_yaml,
            "missing_env": [n.as_dict() for n in self.missing_env],
            "errors": self.errors,
            "warnings": self.warnings,
            "checks": self.checks,
        }


def check_state_location(path: Path, report: DoctorReport) -> None:
    """The state directory must be writable; under a temp dir it may be wiped (warning)."""
    directory = path.parent
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    writable = os.access(probe, os.W_OK)
    report.checks.append({"check": "state_location", "path": str(path), "writable": writable})
    if not writable:
        report.errors.append(f"state location {path} is not writable")
    temp = Path(tempfile.gettempdir()).resolve()
    resolved = Path(os.path.abspath(directory))
    if resolved == temp or temp in resolved.parents:
        report.warnings.append(
            f"state location {path} is under the temp directory {temp}: run history and resume "
            "data may be deleted by the OS; set flow.state.path or AETHERFLOW_STATE_ROOT"
        )


def check_connector_libraries(flow: FlowSpec, registry: Registry, report: DoctorReport) -> None:
    """Every resource's connector is registered and its optional libraries are importable."""
    for name, resource in flow.resources.items():
        entry = registry.connectors.get((resource.kind, resource.driver))
        if entry is None:
            report.errors.append(
                f"resource {name}: connector {resource.kind}:{resource.driver} is not registered"
            )
            continue
        for module in getattr(entry.cls, "requires", ()) or ():
            found = importlib.util.find_spec(module) is not None
            report.checks.append(
                {"check": "library", "resource": name, "module": module, "importable": found}
            )
            if not found:
                report.errors.append(f"resource {name} needs the Python module {module}")


def load_profiles_for(report: DoctorReport, env: Mapping[str, str]) -> Profiles:
    """Profiles, or an error in the report when they cannot be loaded."""
    try:
        return load_profiles(env)
    except SpecError as exc:
        report.errors.extend(f"{i.where()} {i.code}: {i.msg}" for i in exc.issues)
        return Profiles(source="<invalid>", failed=True)
