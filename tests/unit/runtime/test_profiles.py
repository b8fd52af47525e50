"""Unit tests for ``aetherflow.runtime.profiles``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import SpecError
from aetherflow.runtime.profiles import (
    MergedResource,
    Profiles,
    deep_merge,
    load_profiles,
    load_profiles_text,
    merge_decode,
    merge_resource,
)
from aetherflow.spec.flow import DecodeSpec, ResourceSpec
from aetherflow.spec.profiles import ProfileSpec

PROFILES_YAML = """\
pg_prod:
  config:
    host: db.prod
    port: 5432
  options:
    pool: {size: 5}
  decode:
    config_paths: [password]
empty: {}
"""


def spec_error(env: dict[str, str]) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_profiles(env)
    return info.value


# --- load_profiles ----------------------------------------------------------------------------


def test_no_source_configured() -> None:
    profiles = load_profiles({})
    assert profiles == Profiles()
    assert profiles.configured is False


def test_blank_variables_count_as_unset() -> None:
    profiles = load_profiles({"AETHERFLOW_PROFILES_FILE": " ", "AETHERFLOW_PROFILES_JSON": ""})
    assert profiles.configured is False


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(PROFILES_YAML, encoding="utf-8")
    profiles = load_profiles({"AETHERFLOW_PROFILES_FILE": str(path)})
    assert profiles.configured is True
    assert profiles.source == str(path)
    assert profiles.source_map is not None
    assert sorted(profiles.profiles) == ["empty", "pg_prod"]
    assert profiles.profiles["pg_prod"].config == {"host": "db.prod", "port": 5432}
    assert profiles.profiles["pg_prod"].options == {"pool": {"size": 5}}
    assert profiles.profiles["pg_prod"].decode.config_paths == ["password"]
    assert profiles.profiles["empty"] == ProfileSpec()


def test_load_from_json() -> None:
    text = json.dumps({"p": {"config": {"host": "h"}}})
    profiles = load_profiles({"AETHERFLOW_PROFILES_JSON": text})
    assert profiles.source == "AETHERFLOW_PROFILES_JSON"
    assert profiles.source_map is None
    assert profiles.raw == {"p": {"config": {"host": "h"}}}
    assert profiles.profiles == {"p": ProfileSpec(config={"host": "h"})}


def test_empty_file_gives_no_profiles(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("", encoding="utf-8")
    profiles = load_profiles({"AETHERFLOW_PROFILES_FILE": str(path)})
    assert profiles.profiles == {}
    assert profiles.configured is True


def test_both_sources_conflict(tmp_path: Path) -> None:
    error = spec_error(
        {"AETHERFLOW_PROFILES_FILE": str(tmp_path / "p.yaml"), "AETHERFLOW_PROFILES_JSON": "{}"}
    )
    assert [issue.code for issue in error.issues] == ["semantic:profiles_source_conflict"]
    assert "AETHERFLOW_PROFILES_FILE and AETHERFLOW_PROFILES_JSON" in error.issues[0].msg


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    error = spec_error({"AETHERFLOW_PROFILES_FILE": str(missing)})
    assert [issue.code for issue in error.issues] == ["file:not_found"]
    assert error.issues[0].file == str(missing)


def test_invalid_json() -> None:
    error = spec_error({"AETHERFLOW_PROFILES_JSON": '{"p": x}'})
    assert [issue.code for issue in error.issues] == ["profiles:invalid_json"]
    issue = error.issues[0]
    assert issue.file == "AETHERFLOW_PROFILES_JSON"
    assert issue.msg.startswith("AETHERFLOW_PROFILES_JSON is not valid JSON: ")
    assert "(line 1, column 7)" in issue.msg


def test_unknown_key_in_profile_file_has_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("pg:\n  config:\n    host: a\n  bogus: 1\n", encoding="utf-8")
    error = spec_error({"AETHERFLOW_PROFILES_FILE": str(path)})
    assert len(error.issues) == 1
    issue = error.issues[0]
    assert (issue.code, issue.loc, issue.file, issue.line, issue.col) == (
        "schema:extra_forbidden",
        "pg.bogus",
        str(path),
        4,
        3,
    )
    assert str(error) == f"invalid profiles in {path}"


def test_unknown_key_in_profile_json_names_variable() -> None:
    error = spec_error({"AETHERFLOW_PROFILES_JSON": '{"pg": {"bogus": 1}}'})
    issue = error.issues[0]
    assert (issue.code, issue.loc, issue.file) == (
        "schema:extra_forbidden",
        "pg.bogus",
        "AETHERFLOW_PROFILES_JSON",
    )


def test_profiles_document_must_be_a_mapping() -> None:
    error = spec_error({"AETHERFLOW_PROFILES_JSON": "[1, 2]"})
    assert error.issues
    assert all(issue.file == "AETHERFLOW_PROFILES_JSON" for issue in error.issues)


def test_load_profiles_text() -> None:
    profiles = load_profiles_text(PROFILES_YAML, file="inline.yaml")
    assert profiles.source == "inline.yaml"
    assert profiles.profiles["pg_prod"].config["host"] == "db.prod"


# --- deep_merge -------------------------------------------------------------------------------


def test_deep_merge_nested_maps_merge() -> None:
    base = {"a": {"b": 1, "c": {"d": 1, "e": 1}}, "x": 1}
    over = {"a": {"c": {"e": 2, "f": 2}}, "y": 2}
    assert deep_merge(base, over) == {"a": {"b": 1, "c": {"d": 1, "e": 2, "f": 2}}, "x": 1, "y": 2}


def test_deep_merge_lists_replace() -> None:
    assert deep_merge({"l": [1, 2, 3]}, {"l": [4]}) == {"l": [4]}


def test_deep_merge_scalars_replace_maps_and_back() -> None:
    assert deep_merge({"a": {"b": 1}, "c": 1}, {"a": "flat", "c": {"d": 2}}) == {
        "a": "flat",
        "c": {"d": 2},
    }


def test_deep_merge_none_overrides() -> None:
    assert deep_merge({"a": 1}, {"a": None}) == {"a": None}


def test_deep_merge_does_not_mutate_inputs() -> None:
    base: dict[str, Any] = {"a": {"b": [1], "c": {"d": 1}}}
    over: dict[str, Any] = {"a": {"c": {"e": 2}, "b": [2]}}
    base_copy, over_copy = copy.deepcopy(base), copy.deepcopy(over)
    merged = deep_merge(base, over)
    merged["a"]["c"]["new"] = 3
    assert base == base_copy
    assert over == over_copy


# --- merge_decode / merge_resource ------------------------------------------------------------


def test_merge_decode_maps_deep_merge_and_paths_concatenate_deduplicated() -> None:
    base = DecodeSpec(
        config={"auth": {"password": True}},
        options={"a": True},
        config_paths=["password", "token"],
        options_paths=["x"],
    )
    over = DecodeSpec(
        config={"auth": {"key": True}},
        options={"b": True},
        config_paths=["api_key", "password"],
        options_paths=["x", "y"],
    )
    assert merge_decode(base, over) == DecodeSpec(
        config={"auth": {"password": True, "key": True}},
        options={"a": True, "b": True},
        config_paths=["password", "token", "api_key"],
        options_paths=["x", "y"],
    )


def test_merge_decode_of_empty_specs_is_empty() -> None:
    assert merge_decode(DecodeSpec(), DecodeSpec()) == DecodeSpec()


def test_merge_resource_over_profile() -> None:
    profile = ProfileSpec(
        config={"host": "db.prod", "port": 5432, "tls": {"mode": "require", "ca": "/ca"}},
        options={"pool": [1, 2]},
        decode=DecodeSpec(config_paths=["password"]),
    )
    resource = ResourceSpec(
        kind="db",
        driver="postgres",
        profile="pg_prod",
        config={"port": 6543, "tls": {"mode": "verify-full"}, "password": "{{env.PW}}"},
        options={"pool": [3]},
        decode=DecodeSpec(config_paths=["password", "extra"]),
    )
    assert merge_resource("warehouse", resource, profile) == MergedResource(
        name="warehouse",
        kind="db",
        driver="postgres",
        profile="pg_prod",
        config={
            "host": "db.prod",
            "port": 6543,
            "tls": {"mode": "verify-full", "ca": "/ca"},
            "password": "{{env.PW}}",
        },
        options={"pool": [3]},
        decode=DecodeSpec(config_paths=["password", "extra"]),
    )


def test_merge_resource_without_profile_is_the_resource() -> None:
    resource = ResourceSpec(kind="db", driver="duckdb", config={"path": "/d.db"})
    merged = merge_resource("local", resource, None)
    assert merged == MergedResource(
        name="local",
        kind="db",
        driver="duckdb",
        profile=None,
        config={"path": "/d.db"},
        options={},
        decode=DecodeSpec(),
    )


def test_merge_resource_does_not_mutate_profile() -> None:
    profile = ProfileSpec(config={"tls": {"mode": "require"}})
    resource = ResourceSpec(kind="db", driver="x", config={"tls": {"ca": "/ca"}})
    merge_resource("r", resource, profile)
    assert profile.config == {"tls": {"mode": "require"}}
