"""Lazy resource resolution: profile merge → env-only templates → secrets ``decode``.

A resource is resolved on first use (not eagerly for the whole flow, gap G59) and at most once per
run. Decode is applied to the leaves the merged ``decode`` spec marks; requesting decode without a
secrets hook is an error (fail fast), and every decoded value is reported to ``on_secret`` so the
redactor can hide it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from aetherflow.errors import ConfigError, ResolverSyntaxError
from aetherflow.runtime.profiles import MergedResource, Profiles, merge_resource
from aetherflow.spec.flow import ResourceSpec
from aetherflow.templating.render import Phase, Scope, find_path, render_value
from aetherflow.templating.tokens import has_template_syntax, parse_template


class SecretsHook(Protocol):
    """The user's secrets hook (``decode`` is required)."""

    def decode(self, value: str) -> str:
        """Turn a reference or ciphertext into the secret value."""


class ResolvedResource(dict[str, Any]):
    """A resource ready for its connector.

    A dict with the keys ``name``, ``kind``, ``driver``, ``profile``, ``config``, ``options``
    (plugins of the predecessor read ``ctx.resources[name]["config"]``), plus attribute access.
    """

    def __init__(
        self,
        name: str,
        kind: str,
        driver: str,
        profile: str | None,
        config: dict[str, Any],
        options: dict[str, Any],
    ) -> None:
        super().__init__(
            name=name, kind=kind, driver=driver, profile=profile, config=config, options=options
        )

    @property
    def name(self) -> str:
        """The resource name."""
        return str(self["name"])

    @property
    def kind(self) -> str:
        """Connector kind."""
        return str(self["kind"])

    @property
    def driver(self) -> str:
        """Connector driver."""
        return str(self["driver"])

    @property
    def profile(self) -> str | None:
        """Profile name, if any."""
        value = self["profile"]
        return None if value is None else str(value)

    @property
    def config(self) -> dict[str, Any]:
        """Rendered, decoded config."""
        value: dict[str, Any] = self["config"]
        return value

    @property
    def options(self) -> dict[str, Any]:
        """Rendered, decoded options."""
        value: dict[str, Any] = self["options"]
        return value


def _set_leaf(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    current = tree
    for key in path[:-1]:
        current = current[key]
    current[path[-1]] = value


class ResourceResolver(Mapping[str, ResolvedResource]):
    """Resolves the flow's resources on first access."""

    def __init__(
        self,
        specs: Mapping[str, ResourceSpec],
        *,
        profiles: Profiles,
        env: Mapping[str, str],
        secrets: SecretsHook | None = None,
        on_secret: Callable[[str], None] | None = None,
        on_resolved: Callable[[ResolvedResource], None] | None = None,
    ) -> None:
        self._specs = dict(specs)
        self._profiles = profiles
        self._env = env
        self._secrets = secrets
        self._on_secret = on_secret
        self._on_resolved = on_resolved
        self._resolved: dict[str, ResolvedResource] = {}

    def __getitem__(self, name: str) -> ResolvedResource:
        if name not in self._resolved:
            if name not in self._specs:
                known = ", ".join(sorted(self._specs)) or "(none declared)"
                raise KeyError(f"unknown resource {name!r}; declared resources: {known}")
            resolved = self._resolve(name, self._specs[name])
            if self._on_resolved is not None:
                self._on_resolved(resolved)
            self._resolved[name] = resolved
        return self._resolved[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def spec(self, name: str) -> ResourceSpec:
        """The raw spec of resource ``name`` (KeyError if unknown)."""
        return self._specs[name]

    def _resolve(self, name: str, spec: ResourceSpec) -> ResolvedResource:
        profile = None
        if spec.profile is not None:
            profile = self._profiles.profiles.get(spec.profile)
            if profile is None:
                raise ConfigError(
                    f"resource {name!r} uses profile {spec.profile!r}, which is not defined "
                    f"in {self._profiles.source or 'any profiles source'}"
                )
        merged = merge_resource(name, spec, profile)
        scope = Scope(Phase.RESOURCE, {"env": self._env})
        config = render_value(merged.config, scope, where=f"resources.{name}.config")
        options = render_value(merged.options, scope, where=f"resources.{name}.options")
        self._decode(merged, config, options)
        return ResolvedResource(name, spec.kind, spec.driver, spec.profile, config, options)

    def _decode(
        self, merged: MergedResource, config: dict[str, Any], options: dict[str, Any]
    ) -> None:
        requested = merged.decode.requested_paths()
        if not requested:
            return
        if self._secrets is None:
            raise ConfigError(
                f"resource {merged.name!r} requests decode but no secrets hook is configured; "
                "set AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH"
            )
        sections = {"config": (merged.config, config), "options": (merged.options, options)}
        for section, path in requested:
            raw_tree, rendered = sections[section]
            found_raw, raw = find_path(raw_tree, path)
            templated = found_raw and isinstance(raw, str) and has_template_syntax(raw)
            if templated and parse_template(raw).whole is None:
                raise ResolverSyntaxError(
                    f"decode target resources.{merged.name}.{section}.{'.'.join(path)} must be "
                    "a standalone template token like '{{TOKEN}}' (no prefix/suffix)"
                )
            found, value = find_path(rendered, path)
            if not found or not isinstance(value, str):
                continue
            if self._on_secret is not None:
                self._on_secret(value)  # the encoded form is as sensitive (and errors may echo it)
            decoded = self._secrets.decode(value)
            if self._on_secret is not None:
                self._on_secret(decoded)
            _set_leaf(rendered, path, decoded)
