"""Checks of ``resources:``: connectors, profiles, resource templates and decode targets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from aetherflow.errors import DECODE_TARGET_MESSAGE, ResolverSyntaxError
from aetherflow.runner.validation.report import Collector, Loc
from aetherflow.runner.validation.templates import Target, TemplateRules, scan_templates
from aetherflow.runtime.profiles import Profiles, merge_decode
from aetherflow.runtime.registry import Registry
from aetherflow.spec.flow import DecodeSpec
from aetherflow.spec.issues import did_you_mean
from aetherflow.templating.render import Phase, find_path
from aetherflow.templating.tokens import has_template_syntax, parse_template


def check_resources(
    data: Mapping[str, Any],
    *,
    registry: Registry,
    profiles: Profiles,
    rules: TemplateRules,
    secrets_configured: bool,
    out: Collector,
) -> None:
    """Check every resource of the flow (and the profiles they use)."""
    resources = data.get("resources")
    if not isinstance(resources, Mapping):
        return
    scanned_profiles: set[str] = set()
    for name, resource in resources.items():
        if not isinstance(resource, Mapping):
            continue
        loc: Loc = ("resources", name)
        _check_connector(registry, resource, loc, out)
        profile_name = resource.get("profile")
        profile_decode = DecodeSpec()
        profile_config: Mapping[str, Any] = {}
        if isinstance(profile_name, str):
            profile = profiles.profiles.get(profile_name)
            if profile is None:
                _unknown_profile(profile_name, profiles, loc, out)
            else:
                profile_decode = profile.decode
                profile_config = {"config": profile.config, "options": profile.options}
                if profile_name not in scanned_profiles:
                    scanned_profiles.add(profile_name)
                    _scan_profile(profile_name, profile_config, profiles, rules, out)
        for section in ("config", "options"):
            scan_templates(resource.get(section), (*loc, section), rules, Target(out))
        _check_decode(resource, profile_decode, profile_config, loc, secrets_configured, out)


def _check_connector(
    registry: Registry, resource: Mapping[str, Any], loc: Loc, out: Collector
) -> None:
    kind, driver = resource.get("kind"), resource.get("driver")
    if not isinstance(kind, str) or not isinstance(driver, str) or not kind or not driver:
        return
    if (kind, driver) in registry.connectors:
        return
    known = sorted(entry.key for entry in registry.connectors.values())
    guess = did_you_mean(f"{kind}:{driver}", known)
    out.add(
        "semantic:unknown_connector",
        (*loc, "driver"),
        f"unknown connector {kind}:{driver}; registered connectors: {', '.join(known) or '(none)'}",
        hint=f"did you mean {guess!r}?" if guess else "is the plugin that provides it loaded?",
    )


def _unknown_profile(name: str, profiles: Profiles, loc: Loc, out: Collector) -> None:
    if profiles.failed:
        return  # the profiles source itself is reported; names cannot be checked
    if not profiles.configured:
        out.add(
            "semantic:unknown_profile",
            (*loc, "profile"),
            f"profile {name!r} is not defined: no profiles are configured",
            hint="set AETHERFLOW_PROFILES_FILE (YAML) or AETHERFLOW_PROFILES_JSON",
        )
        return
    guess = did_you_mean(name, profiles.profiles)
    known = ", ".join(sorted(profiles.profiles)) or "(none)"
    out.add(
        "semantic:unknown_profile",
        (*loc, "profile"),
        f"profile {name!r} is not defined in {profiles.source}; defined profiles: {known}",
        hint=f"did you mean {guess!r}?" if guess else None,
    )


def _scan_profile(
    name: str,
    sections: Mapping[str, Any],
    profiles: Profiles,
    rules: TemplateRules,
    out: Collector,
) -> None:
    target = Target(out, file=profiles.source, source_map=profiles.source_map, position_strip=1)
    for section, value in sections.items():
        scan_templates(value, ("profiles", name, section), rules, target)


def _check_decode(
    resource: Mapping[str, Any],
    profile_decode: DecodeSpec,
    profile_sections: Mapping[str, Any],
    loc: Loc,
    secrets_configured: bool,
    out: Collector,
) -> None:
    raw_decode = resource.get("decode")
    try:
        own = DecodeSpec.model_validate(raw_decode or {})
    except ValidationError:
        return  # the schema check reports a malformed decode block
    requested = merge_decode(profile_decode, own).requested_paths()
    if not requested:
        return
    if not secrets_configured:
        out.add(
            "semantic:decode_without_hook",
            (*loc, "decode"),
            "decode is requested but no secrets hook is configured",
            hint="set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH to a module with "
            "decode(value)",
        )
    for section, path in requested:
        found, value = find_path(resource.get(section), path)
        if not found:
            found, value = find_path(profile_sections.get(section), path)
        if not (found and isinstance(value, str) and has_template_syntax(value)):
            continue
        if not _is_standalone_token(value):
            out.add(
                "semantic:decode_target_not_standalone",
                (*loc, section, *path),
                DECODE_TARGET_MESSAGE,
            )


def _is_standalone_token(value: str) -> bool:
    try:
        return parse_template(value).whole is not None
    except ResolverSyntaxError:
        return True  # the template scan reports the syntax error itself


def resource_rules(base: TemplateRules) -> TemplateRules:
    """Template rules of the resource phase (``env`` only)."""
    return TemplateRules(phase=Phase.RESOURCE, env=base.env, env_strict=base.env_strict)
