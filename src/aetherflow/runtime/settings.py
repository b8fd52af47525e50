"""Settings: every ``AETHERFLOW_*`` variable, parsed from an env mapping (never ``os.environ``).

Each field names its variable in ``ENV_VARS``; :meth:`Settings.from_env` reads them from the
snapshot it is given, then applies ``AETHERFLOW_SETTINGS_MODULE`` (a module exposing
``SETTINGS: dict``), then explicit overrides. Invalid values raise :class:`ConfigError` naming
the variable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aetherflow.errors import ConfigError
from aetherflow.spec.base import Mode
from aetherflow.spec.flow import DEFAULT_STATE_ROOT, DEFAULT_WORK_ROOT

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
DEFAULT_SECRET_ENV_PATTERNS = ("*PASSWORD*", "*SECRET*", "*TOKEN*", "*_KEY", "*CREDENTIAL*")


def parse_bool(name: str, value: str) -> bool:
    """Parse a boolean setting.

    Args:
        name: The variable name (used in the error).
        value: ``1/0``, ``true/false``, ``yes/no``, ``on/off`` in any case.

    Raises:
        ConfigError: Any other value.
    """
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(
        f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off"
    )


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class Settings(BaseModel):
    """Process and run settings. Field docs name the variable each one comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    work_root: str = DEFAULT_WORK_ROOT
    state_root: str = DEFAULT_STATE_ROOT
    plugin_paths: list[str] = Field(default_factory=list)
    plugin_strict: bool = True
    strict_templates: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_module: str | None = None
    connector_cache_default: Literal["run", "process", "none"] = "run"
    connector_cache_disabled: bool = False
    secrets_module: str | None = None
    secrets_path: str | None = None
    settings_module: str | None = None
    validate_env_strict: bool = False
    mode: Mode = Mode.INTERNAL_FAST
    strict_sandbox: bool = True
    profiles_file: str | None = None
    profiles_json: str | None = None
    env_files_json: str | None = None
    max_output_bytes: int = Field(default=1024 * 1024, ge=1)
    run_lease_seconds: float = Field(default=30.0, gt=0)
    secret_env_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SECRET_ENV_PATTERNS)
    )
    otel: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def enterprise(self) -> bool:
        """True in the ``enterprise`` mode."""
        return self.mode is Mode.ENTERPRISE

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Build settings from an env mapping.

        Args:
            env: The env snapshot (``AETHERFLOW_*`` variables are read from it).
            overrides: Field values applied last.

        Raises:
            ConfigError: A variable has an invalid value, or the settings module is unusable.
        """
        values: dict[str, Any] = {}
        for var, (field_name, parse) in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and field_name != "plugin_paths"):
                continue
            values[field_name] = parse(var, raw)
        module_name = values.get("settings_module")
        if module_name:
            from_module = _settings_module_values(module_name)
            if values.get("mode") == "enterprise" and from_module.get("mode", "enterprise") != (
                "enterprise"
            ):
                raise ConfigError(
                    f"AETHERFLOW_SETTINGS_MODULE={module_name!r} sets mode "
                    f"{from_module['mode']!r}, but AETHERFLOW_MODE=enterprise: a settings module "
                    "cannot leave enterprise mode"
                )
            values.update(from_module)
        values.update(overrides or {})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    by_field = {field: var for var, (field, _) in ENV_VARS.items()}
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        problems.append(f"{by_field.get(field, field)}: {err['msg']}")
    return "invalid settings: " + "; ".join(problems)


def _settings_module_values(module_name: str) -> dict[str, Any]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"AETHERFLOW_SETTINGS_MODULE={module_name!r} cannot be imported: {exc}"
        ) from exc
    values = getattr(module, "SETTINGS", None)
    if not isinstance(values, dict):
        raise ConfigError(
            f"AETHERFLOW_SETTINGS_MODULE={module_name!r} must define SETTINGS as a dict, "
            f"got {type(values).__name__}"
        )
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(
            f"AETHERFLOW_SETTINGS_MODULE={module_name!r} sets unknown settings: {unknown}"
        )
    too_late = sorted(set(values) & set(TOO_LATE_FOR_MODULE))
    if too_late:
        reasons = "; ".join(f"{key}: {TOO_LATE_FOR_MODULE[key]}" for key in too_late)
        raise ConfigError(
            f"AETHERFLOW_SETTINGS_MODULE={module_name!r} sets {too_late}, which a settings "
            f"module cannot change ({reasons}); set the environment variable instead"
        )
    return dict(values)


TOO_LATE_FOR_MODULE = {
    "env_files_json": "env files are loaded before the settings module is read",
    "settings_module": "the module is already chosen",
}
"""Settings a module cannot set: they were used before the module was read."""


def _text(_name: str, value: str) -> str:
    return value.strip()


def _lower(_name: str, value: str) -> str:
    return value.strip().lower()


def _int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not an integer") from exc


def _float(name: str, value: str) -> float:
    try:
        return float(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a number") from exc


def _list(_name: str, value: str) -> list[str]:
    return _csv(value)


Parser = Callable[[str, str], Any]

ENV_VARS: dict[str, tuple[str, Parser]] = {
    "AETHERFLOW_WORK_ROOT": ("work_root", _text),
    "AETHERFLOW_STATE_ROOT": ("state_root", _text),
    "AETHERFLOW_PLUGIN_PATHS": ("plugin_paths", _list),
    "AETHERFLOW_PLUGIN_STRICT": ("plugin_strict", parse_bool),
    "AETHERFLOW_STRICT_TEMPLATES": ("strict_templates", parse_bool),
    "AETHERFLOW_LOG_LEVEL": ("log_level", lambda _n, v: v.strip().upper()),
    "AETHERFLOW_LOG_FORMAT": ("log_format", _lower),
    "AETHERFLOW_METRICS_MODULE": ("metrics_module", _text),
    "AETHERFLOW_CONNECTOR_CACHE_DEFAULT": ("connector_cache_default", _lower),
    "AETHERFLOW_CONNECTOR_CACHE_DISABLED": ("connector_cache_disabled", parse_bool),
    "AETHERFLOW_SECRETS_MODULE": ("secrets_module", _text),
    "AETHERFLOW_SECRETS_PATH": ("secrets_path", _text),
    "AETHERFLOW_SETTINGS_MODULE": ("settings_module", _text),
    "AETHERFLOW_VALIDATE_ENV_STRICT": ("validate_env_strict", parse_bool),
    "AETHERFLOW_MODE": ("mode", _lower),
    "AETHERFLOW_STRICT_SANDBOX": ("strict_sandbox", parse_bool),
    "AETHERFLOW_PROFILES_FILE": ("profiles_file", _text),
    "AETHERFLOW_PROFILES_JSON": ("profiles_json", _text),
    "AETHERFLOW_ENV_FILES_JSON": ("env_files_json", _text),
    "AETHERFLOW_MAX_OUTPUT_BYTES": ("max_output_bytes", _int),
    "AETHERFLOW_RUN_LEASE_SECONDS": ("run_lease_seconds", _float),
    "AETHERFLOW_SECRET_ENV_PATTERNS": ("secret_env_patterns", _list),
    "AETHERFLOW_OTEL": ("otel", parse_bool),
}
"""Variable name → (Settings field, parser)."""


def load_settings(
    overrides: Mapping[str, Any] | None = None, *, env: Mapping[str, str]
) -> Settings:
    """Build settings from ``env`` (the predecessor's function name; env is now required)."""
    return Settings.from_env(env, overrides)
