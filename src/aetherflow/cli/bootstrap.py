"""From the process environment to a ready runtime: snapshot, settings, registry, plugins.

This is the one place that turns ``os.environ`` into explicit arguments for the library.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aetherflow.cli.logs import apply_settings
from aetherflow.cli.output import set_error_format
from aetherflow.connectors import register_builtin_connectors
from aetherflow.runtime.plugins import LoadedPlugin, load_entry_points, load_plugin_dirs
from aetherflow.runtime.redact import ACTIVE, Redactor
from aetherflow.runtime.registry import REGISTRY, Registry
from aetherflow.runtime.secrets import SecretsHook, load_secrets_hook
from aetherflow.runtime.settings import Settings
from aetherflow.runtime.snapshot import EnvSnapshot, build_snapshot
from aetherflow.runtime.trust import plugin_plan
from aetherflow.steps import register_builtin_steps

if TYPE_CHECKING:  # bundles load only for commands that use one (start-up time)
    from aetherflow.bundles.wiring import BundleRun

log = logging.getLogger("aetherflow.cli")

_WHY_PROTECTED = {
    "AETHERFLOW_MODE": "the mode is decided before env files",
    "AETHERFLOW_ENV_FILES_JSON": "env files are listed before they load",
    "AETHERFLOW_SETTINGS_MODULE": "a settings module could change the mode and plugin paths",
}


@dataclass
class Runtime:
    """The env snapshot, settings and registry a command works with."""

    env: EnvSnapshot
    settings: Settings
    registry: Registry = field(default_factory=lambda: REGISTRY)
    plugins: list[LoadedPlugin] = field(default_factory=list)
    secrets: SecretsHook | None = None
    redactor: Redactor = field(default_factory=Redactor)
    bundle: BundleRun | None = None


@dataclass(frozen=True)
class BundleOptions:
    """``--bundle-manifest``, ``--allow-stale-bundle`` and ``--work-root`` of a command."""

    manifest: str
    allow_stale: bool = False
    work_root: str | None = None


def process_environ() -> dict[str, str]:
    """A copy of ``os.environ`` (the only read of it in the package)."""
    return dict(os.environ)


def _ignored(key: str) -> None:
    _warn(
        "env_file_key_ignored",
        key=key,
        message=f"{key} cannot be set by an env file ({_WHY_PROTECTED.get(key, '')})",
    )


def _sync(env: EnvSnapshot, options: BundleOptions) -> BundleRun:
    """Sync the bundle once for this command (``bundle_stale`` warning when stale)."""
    from aetherflow.bundles.manifest import load_manifest  # noqa: PLC0415 - start-up time
    from aetherflow.bundles.sync import sync_bundle  # noqa: PLC0415
    from aetherflow.bundles.wiring import BundleRun  # noqa: PLC0415

    manifest = load_manifest(options.manifest)
    work_root = options.work_root or Settings.from_env(env).work_root

    def stale(message: str) -> None:
        _warn(
            "bundle_stale",
            bundle_id=manifest.bundle_id,
            error=message,
            message=f"bundle {manifest.bundle_id}: the source failed, using the last synced "
            f"copy: {message}",
        )

    result = sync_bundle(manifest, work_root, allow_stale=options.allow_stale, on_stale=stale)
    return BundleRun(manifest=manifest, sync=result)


def bootstrap(
    environ: Mapping[str, str] | None = None, *, bundle_options: BundleOptions | None = None
) -> Runtime:
    """Build the runtime: env snapshot with env files (and bundle), settings, built-ins, plugins.

    With ``bundle_options`` the bundle is synced once here; its env files and keys are layered
    into the snapshot, its ``mode`` wins, and its plugin sources apply (``50-...``).

    Raises:
        ConfigError: Invalid settings or env files.
        PluginError: A plugin failed to load in strict mode.
        SpecError: Invalid bundle manifest.
        BundleError: The bundle could not be synced.
    """
    env = build_snapshot(process_environ() if environ is None else environ, on_ignored=_ignored)
    bundle = None
    if bundle_options is not None:
        from aetherflow.bundles.wiring import with_bundle_env  # noqa: PLC0415 - start-up time

        bundle = _sync(env, bundle_options)
        env = EnvSnapshot(with_bundle_env(env, bundle, on_ignored=_ignored))
    settings = Settings.from_env(env)
    env = env.with_layer({"AETHERFLOW_MODE": settings.mode.value})
    # Env files and AETHERFLOW_SETTINGS_MODULE may set the log level/format too.
    set_error_format(apply_settings(settings.log_level, settings.log_format))
    # Error lines and logs of the command itself are redacted from here on, so a failing
    # hook cannot print an env secret either.
    redactor = Redactor()
    redactor.add_env(env, settings.secret_env_patterns)
    ACTIVE.set_process(redactor)
    secrets = load_secrets_hook(settings.secrets_module, settings.secrets_path)
    if secrets is not None:
        env = EnvSnapshot(secrets.expand_env(env))
        redactor.add_env(env, settings.secret_env_patterns)
    register_builtin_steps(REGISTRY)
    register_builtin_connectors(REGISTRY)
    plan = plugin_plan(
        enterprise=settings.enterprise,
        ambient_paths=settings.plugin_paths,
        manifest=bundle.manifest.spec if bundle else None,
        bundle_root=bundle.root if bundle else None,
    )
    for source in plan.ignored:
        _warn(
            "plugin_source_ignored",
            source=source,
            message=f"{source} is ignored in enterprise mode; plugins load only from the bundle "
            "manifest's paths.plugins",
        )
    plugins = load_plugin_dirs(plan.directories, strict=settings.plugin_strict)
    plugins += load_entry_points(strict=settings.plugin_strict, allowed=plan.entry_points)
    return Runtime(
        env=env,
        settings=settings,
        registry=REGISTRY,
        plugins=plugins,
        secrets=secrets,
        redactor=redactor,
        bundle=bundle,
    )


def _warn(event: str, **fields: str) -> None:
    """A warning event of the CLI's own (JSON logs keep every line JSON)."""
    log.warning(fields.get("message", event), extra={"event": event, "event_fields": fields})
