"""Unit tests for ``aetherflow.runtime.settings``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import ConfigError
from aetherflow.runtime.settings import (
    DEFAULT_SECRET_ENV_PATTERNS,
    ENV_VARS,
    Settings,
    load_settings,
    parse_bool,
)
from aetherflow.spec.base import Mode

# (variable, raw value, field, expected parsed value); every ENV_VARS entry appears here.
SETTING_CASES: list[tuple[str, str, str, Any]] = [
    ("AETHERFLOW_WORK_ROOT", " /srv/work ", "work_root", "/srv/work"),
    ("AETHERFLOW_STATE_ROOT", "/srv/state", "state_root", "/srv/state"),
    ("AETHERFLOW_PLUGIN_PATHS", " /a , /b ,, ", "plugin_paths", ["/a", "/b"]),
    ("AETHERFLOW_PLUGIN_STRICT", "false", "plugin_strict", False),
    ("AETHERFLOW_STRICT_TEMPLATES", "no", "strict_templates", False),
    ("AETHERFLOW_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("AETHERFLOW_LOG_FORMAT", "JSON", "log_format", "json"),
    ("AETHERFLOW_METRICS_MODULE", "my.metrics", "metrics_module", "my.metrics"),
    ("AETHERFLOW_CONNECTOR_CACHE_DEFAULT", "Process", "connector_cache_default", "process"),
    ("AETHERFLOW_CONNECTOR_CACHE_DISABLED", "on", "connector_cache_disabled", True),
    ("AETHERFLOW_SECRETS_MODULE", "my.secrets", "secrets_module", "my.secrets"),
    ("AETHERFLOW_SECRETS_PATH", "/etc/secrets.py", "secrets_path", "/etc/secrets.py"),
    ("AETHERFLOW_VALIDATE_ENV_STRICT", "1", "validate_env_strict", True),
    ("AETHERFLOW_MODE", "Enterprise", "mode", Mode.ENTERPRISE),
    ("AETHERFLOW_STRICT_SANDBOX", "off", "strict_sandbox", False),
    ("AETHERFLOW_PROFILES_FILE", "/etc/profiles.yaml", "profiles_file", "/etc/profiles.yaml"),
    ("AETHERFLOW_PROFILES_JSON", '{"p": {}}', "profiles_json", '{"p": {}}'),
    ("AETHERFLOW_ENV_FILES_JSON", '["a.env"]', "env_files_json", '["a.env"]'),
    ("AETHERFLOW_MAX_OUTPUT_BYTES", " 2048 ", "max_output_bytes", 2048),
    ("AETHERFLOW_RUN_LEASE_SECONDS", "12.5", "run_lease_seconds", 12.5),
    ("AETHERFLOW_SECRET_ENV_PATTERNS", "*PW*, *_PASS", "secret_env_patterns", ["*PW*", "*_PASS"]),
    ("AETHERFLOW_OTEL", "YES", "otel", True),
]


def test_case_table_covers_every_variable() -> None:
    table = {var: field for var, _, field, _ in SETTING_CASES}
    expected = {
        var: field for var, (field, _) in ENV_VARS.items() if var != "AETHERFLOW_SETTINGS_MODULE"
    }
    assert table == expected


@pytest.mark.parametrize(("var", "raw", "field", "expected"), SETTING_CASES)
def test_variable_changes_its_field(var: str, raw: str, field: str, expected: Any) -> None:
    default = getattr(Settings(), field)
    assert default != expected
    assert getattr(Settings.from_env({var: raw}), field) == expected


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.work_root == "/tmp/work"
    assert settings.state_root == "/tmp/state"
    assert settings.plugin_strict is True
    assert settings.strict_templates is True
    assert settings.mode is Mode.INTERNAL_FAST
    assert settings.max_output_bytes == 1024 * 1024
    assert settings.run_lease_seconds == 30.0
    assert settings.secret_env_patterns == list(DEFAULT_SECRET_ENV_PATTERNS)


def test_enterprise_property() -> None:
    assert Settings.from_env({"AETHERFLOW_MODE": "enterprise"}).enterprise is True
    assert Settings().enterprise is False


def test_blank_value_keeps_default() -> None:
    assert Settings.from_env({"AETHERFLOW_LOG_LEVEL": "  "}).log_level == "INFO"


def test_blank_plugin_paths_is_empty_list() -> None:
    assert Settings.from_env({"AETHERFLOW_PLUGIN_PATHS": ""}).plugin_paths == []


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"AETHERFLOW_UNKNOWN": "x", "PATH": "/bin"}) == Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.log_level = "DEBUG"  # type: ignore[misc]


def test_load_settings_reads_given_env_and_overrides() -> None:
    settings = load_settings({"log_level": "ERROR"}, env={"AETHERFLOW_LOG_LEVEL": "debug"})
    assert settings.log_level == "ERROR"


# --- booleans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "True", "yes", "YeS", "on", "ON", " true "])
def test_parse_bool_true(raw: str) -> None:
    assert parse_bool("AETHERFLOW_X", raw) is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "No", "off", "oFF"])
def test_parse_bool_false(raw: str) -> None:
    assert parse_bool("AETHERFLOW_X", raw) is False


@pytest.mark.parametrize("raw", ["2", "y", "n", "truthy", "enabled", "", "-1"])
def test_parse_bool_rejects_other_values(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_bool("AETHERFLOW_X", raw)
    assert str(info.value) == (
        f"AETHERFLOW_X={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off"
    )


@pytest.mark.parametrize(
    "var", [var for var, (_, parse) in ENV_VARS.items() if parse is parse_bool]
)
def test_invalid_boolean_variable_is_named(var: str) -> None:
    with pytest.raises(ConfigError, match=f"^{var}='maybe' is not a boolean"):
        Settings.from_env({var: "maybe"})


# --- invalid values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "raw", "message"),
    [
        (
            "AETHERFLOW_MAX_OUTPUT_BYTES",
            "1MB",
            "AETHERFLOW_MAX_OUTPUT_BYTES='1MB' is not an integer",
        ),
        (
            "AETHERFLOW_RUN_LEASE_SECONDS",
            "soon",
            "AETHERFLOW_RUN_LEASE_SECONDS='soon' is not a number",
        ),
    ],
)
def test_unparsable_number_names_variable(var: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({var: raw})
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("AETHERFLOW_LOG_FORMAT", "xml"),
        ("AETHERFLOW_CONNECTOR_CACHE_DEFAULT", "weird"),
        ("AETHERFLOW_MODE", "prod"),
        ("AETHERFLOW_MAX_OUTPUT_BYTES", "0"),
        ("AETHERFLOW_RUN_LEASE_SECONDS", "-1"),
    ],
)
def test_invalid_value_names_variable(var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({var: raw})
    assert str(info.value).startswith(f"invalid settings: {var}: ")


def test_invalid_override_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^invalid settings: AETHERFLOW_LOG_FORMAT: "):
        Settings.from_env({}, {"log_format": "yaml"})


def test_unknown_override_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^invalid settings: colour: "):
        Settings.from_env({}, {"colour": "red"})


# --- AETHERFLOW_SETTINGS_MODULE ---------------------------------------------------------------

WriteModule = Callable[[str], str]


@pytest.fixture
def settings_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """Write a uniquely named module on sys.path; return its name. Removed from sys.modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def write(body: str) -> str:
        name = f"af_settings_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


def test_settings_module_applies_settings_dict(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = {"log_level": "WARNING", "plugin_paths": ["/p"]}\n')
    settings = Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})
    assert settings.settings_module == name
    assert settings.log_level == "WARNING"
    assert settings.plugin_paths == ["/p"]


def test_settings_module_wins_over_env_variables(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = {"log_level": "WARNING"}\n')
    settings = Settings.from_env(
        {"AETHERFLOW_SETTINGS_MODULE": name, "AETHERFLOW_LOG_LEVEL": "debug"}
    )
    assert settings.log_level == "WARNING"


def test_overrides_win_over_settings_module(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = {"log_level": "WARNING"}\n')
    settings = Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name}, {"log_level": "ERROR"})
    assert settings.log_level == "ERROR"


def test_overrides_win_over_env_variables() -> None:
    settings = Settings.from_env({"AETHERFLOW_PLUGIN_STRICT": "true"}, {"plugin_strict": False})
    assert settings.plugin_strict is False


def test_settings_module_must_define_a_dict(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = ["log_level"]\n')
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})
    assert str(info.value) == (
        f"AETHERFLOW_SETTINGS_MODULE={name!r} must define SETTINGS as a dict, got list"
    )


def test_settings_module_without_settings(settings_module: WriteModule) -> None:
    name = settings_module("OTHER = 1\n")
    with pytest.raises(ConfigError, match="must define SETTINGS as a dict, got NoneType"):
        Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})


def test_settings_module_rejects_unknown_keys(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = {"log_level": "INFO", "colour": 1, "bogus": 2}\n')
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})
    assert str(info.value) == (
        f"AETHERFLOW_SETTINGS_MODULE={name!r} sets unknown settings: ['bogus', 'colour']"
    )


def test_settings_module_that_cannot_be_imported() -> None:
    name = f"af_missing_{uuid.uuid4().hex}"
    with pytest.raises(
        ConfigError, match=f"^AETHERFLOW_SETTINGS_MODULE='{name}' cannot be imported"
    ):
        Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})


def test_settings_module_invalid_value_is_config_error(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = {"mode": "prod"}\n')
    with pytest.raises(ConfigError, match=r"^invalid settings: AETHERFLOW_MODE: "):
        Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})


def test_settings_module_cannot_leave_enterprise(settings_module: WriteModule) -> None:
    name = settings_module('SETTINGS = {"mode": "internal_fast", "plugin_paths": ["/p"]}\n')
    env = {"AETHERFLOW_SETTINGS_MODULE": name, "AETHERFLOW_MODE": "enterprise"}
    with pytest.raises(ConfigError, match="a settings module cannot leave enterprise mode"):
        Settings.from_env(env)
    stricter = settings_module('SETTINGS = {"mode": "enterprise"}\n')
    assert Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": stricter}).enterprise is True


@pytest.mark.parametrize("key", ["env_files_json", "settings_module"])
def test_settings_module_cannot_set_what_was_already_used(
    key: str, settings_module: WriteModule
) -> None:
    name = settings_module(f'SETTINGS = {{"{key}": "x"}}\n')
    with pytest.raises(ConfigError, match=rf"sets \['{key}'\], which a settings module cannot"):
        Settings.from_env({"AETHERFLOW_SETTINGS_MODULE": name})


@pytest.mark.parametrize("source", ["env", "module"])
def test_log_level_must_be_a_level(source: str, settings_module: WriteModule) -> None:
    env = (
        {"AETHERFLOW_LOG_LEVEL": "loud"}
        if source == "env"
        else {"AETHERFLOW_SETTINGS_MODULE": settings_module('SETTINGS = {"log_level": "loud"}\n')}
    )
    with pytest.raises(ConfigError, match=r"^invalid settings: AETHERFLOW_LOG_LEVEL: "):
        Settings.from_env(env)
    assert Settings.from_env({"AETHERFLOW_LOG_LEVEL": " warning "}).log_level == "WARNING"
