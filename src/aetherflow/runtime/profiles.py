"""Profiles: loading (file or JSON, never both) and merging with resources.

Merge order (``10-yaml.md``): the profile is the base layer; the resource's own ``config`` and
``options`` deep-merge over it (maps merge recursively, lists and scalars replace). ``decode``
maps merge the same way; ``*_paths`` lists are concatenated and de-duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from aetherflow.errors import Issue, SpecError
from aetherflow.spec.flow import DecodeSpec, ResourceSpec
from aetherflow.spec.issues import issues_from_validation_error
from aetherflow.spec.profiles import ProfilesFileSpec, ProfileSpec
from aetherflow.spec.yamlload import SourceMap, load_yaml, load_yaml_file

PROFILES_FILE_VAR = "AETHERFLOW_PROFILES_FILE"
PROFILES_JSON_VAR = "AETHERFLOW_PROFILES_JSON"


@dataclass(frozen=True)
class Profiles:
    """Loaded profiles and where they came from.

    Attributes:
        profiles: Profile name → spec.
        source: ``""`` (none configured), the file path, or ``AETHERFLOW_PROFILES_JSON``.
        source_map: Positions inside the profiles file (None for JSON).
        raw: The profiles document as loaded (before validation).
        failed: True when the configured source could not be loaded (names are unknown).
    """

    profiles: dict[str, ProfileSpec] = field(default_factory=dict)
    source: str = ""
    source_map: SourceMap | None = None
    raw: Any = None
    failed: bool = False

    @property
    def configured(self) -> bool:
        """True when a profiles file or JSON was configured."""
        return bool(self.source)


def profile_vars(profiles_file: str | None, profiles_json: str | None) -> dict[str, str]:
    """The profile source variables as an env mapping (from Settings, which includes
    ``AETHERFLOW_SETTINGS_MODULE`` overrides)."""
    return {PROFILES_FILE_VAR: profiles_file or "", PROFILES_JSON_VAR: profiles_json or ""}


def load_profiles(env: Mapping[str, str]) -> Profiles:
    """Load the profiles configured in ``env``.

    Raises:
        SpecError: Both sources are set, the file is missing/invalid, or the content is invalid.
    """
    file_path = env.get(PROFILES_FILE_VAR, "").strip()
    json_text = env.get(PROFILES_JSON_VAR, "").strip()
    if file_path and json_text:
        raise SpecError(
            "profiles are configured twice",
            [
                Issue(
                    code="semantic:profiles_source_conflict",
                    loc="profiles",
                    msg=f"both {PROFILES_FILE_VAR} and {PROFILES_JSON_VAR} are set; "
                    "set only one of them",
                )
            ],
        )
    if json_text:
        return _validated(_load_json(json_text), PROFILES_JSON_VAR, None)
    if file_path:
        loaded = load_yaml_file(file_path)
        return _validated(loaded.data, file_path, loaded.source_map)
    return Profiles()


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            "invalid profiles JSON",
            [
                Issue(
                    code="profiles:invalid_json",
                    loc="profiles",
                    msg=f"{PROFILES_JSON_VAR} is not valid JSON: {exc.msg} "
                    f"(line {exc.lineno}, column {exc.colno})",
                    file=PROFILES_JSON_VAR,
                )
            ],
        ) from exc


def _validated(data: Any, source: str, source_map: SourceMap | None) -> Profiles:
    if data is None:
        data = {}
    try:
        spec = ProfilesFileSpec.model_validate(data)
    except ValidationError as exc:
        file = source if source_map is not None else PROFILES_JSON_VAR
        issues = issues_from_validation_error(
            exc, model=ProfilesFileSpec, source_map=source_map, file=file, data=data
        )
        raise SpecError(f"invalid profiles in {source}", issues) from exc
    return Profiles(profiles=dict(spec.root), source=source, source_map=source_map, raw=data)


def load_profiles_text(text: str, *, file: str = "") -> Profiles:
    """Load profiles from YAML text (used by tests and embedding)."""
    loaded = load_yaml(text, file=file)
    return _validated(loaded.data, file or "<text>", loaded.source_map)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` onto ``base``: maps merge recursively, lists and scalars replace."""
    merged: dict[str, Any] = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def merge_decode(base: DecodeSpec, over: DecodeSpec) -> DecodeSpec:
    """Merge decode specs: maps deep-merge, path lists concatenate without duplicates."""
    return DecodeSpec(
        config=deep_merge(base.config, over.config),
        options=deep_merge(base.options, over.options),
        config_paths=list(dict.fromkeys([*base.config_paths, *over.config_paths])),
        options_paths=list(dict.fromkeys([*base.options_paths, *over.options_paths])),
    )


@dataclass(frozen=True)
class MergedResource:
    """A resource after merging its profile (templates not yet rendered)."""

    name: str
    kind: str
    driver: str
    profile: str | None
    config: dict[str, Any]
    options: dict[str, Any]
    decode: DecodeSpec


def merge_resource(
    name: str, resource: ResourceSpec, profile: ProfileSpec | None
) -> MergedResource:
    """Merge a resource over its profile (or return it as is when it has none)."""
    base = profile or ProfileSpec()
    return MergedResource(
        name=name,
        kind=resource.kind,
        driver=resource.driver,
        profile=resource.profile,
        config=deep_merge(base.config, resource.config),
        options=deep_merge(base.options, resource.options),
        decode=merge_decode(base.decode, resource.decode),
    )
