"""Unit tests for env files (``runtime.envfiles``) and the env snapshot (``runtime.snapshot``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aetherflow.errors import ConfigError
from aetherflow.runtime.envfiles import (
    env_files_from_env,
    load_env_file,
    load_env_files,
    parse_env_files_json,
    read_dir,
    read_dotenv,
    read_json,
)
from aetherflow.runtime.snapshot import EnvSnapshot, build_snapshot
from aetherflow.spec.envfile import EnvFileSpec

# --- dotenv -----------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_dotenv_pairs_comments_blank_lines_and_export(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".env",
        "# a comment\n"
        "\n"
        "A=1\n"
        "   \n"
        "  # indented comment=with equals\n"
        "export B=two\n"
        "export   C = three \n",
    )
    assert read_dotenv(path) == {"A": "1", "B": "two", "C": "three"}


def test_dotenv_strips_one_pair_of_quotes(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".env",
        'D="double"\nS=\'single\'\nN="\'nested\'"\nM="mismatch\'\nQ="\nE=""\n',
    )
    assert read_dotenv(path) == {
        "D": "double",
        "S": "single",
        "N": "'nested'",
        "M": "\"mismatch'",
        "Q": '"',
        "E": "",
    }


def test_dotenv_keeps_equals_signs_in_values(tmp_path: Path) -> None:
    path = write(tmp_path / ".env", "URL=postgres://u:p@h/db?sslmode=require&x=1\n")
    assert read_dotenv(path) == {"URL": "postgres://u:p@h/db?sslmode=require&x=1"}


def test_dotenv_ignores_lines_without_equals_and_empty_keys(tmp_path: Path) -> None:
    path = write(tmp_path / ".env", "JUSTAKEY\nexport ALSO\n=novalue\nOK=1\n")
    assert read_dotenv(path) == {"OK": "1"}


def test_dotenv_later_line_wins(tmp_path: Path) -> None:
    path = write(tmp_path / ".env", "A=1\nA=2\n")
    assert read_dotenv(path) == {"A": "2"}


def test_dotenv_key_named_export(tmp_path: Path) -> None:
    path = write(tmp_path / ".env", "export=1\n")
    assert read_dotenv(path) == {"export": "1"}


# --- json -------------------------------------------------------------------------------------


def test_json_values_are_strings(tmp_path: Path) -> None:
    data = {
        "S": "text",
        "I": 5,
        "F": 1.5,
        "T": True,
        "FALSE": False,
        "NULL": None,
        "OBJ": {"a": [1, "é"]},
        "LIST": [1, 2],
    }
    path = write(tmp_path / "env.json", json.dumps(data))
    assert read_json(path) == {
        "S": "text",
        "I": "5",
        "F": "1.5",
        "T": "true",
        "FALSE": "false",
        "OBJ": '{"a":[1,"é"]}',
        "LIST": "[1,2]",
    }


@pytest.mark.parametrize(("text", "kind"), [("[1, 2]", "list"), ('"s"', "str"), ("3", "int")])
def test_json_non_object_is_config_error(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path / "env.json", text)
    with pytest.raises(ConfigError) as info:
        read_json(path)
    assert str(info.value) == f"env file {path} must contain a JSON object, got {kind}"


def test_json_invalid_is_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "env.json", "{not json")
    with pytest.raises(ConfigError, match=f"^env file {path} is not valid JSON: "):
        read_json(path)


# --- dir --------------------------------------------------------------------------------------


def test_dir_reads_one_file_per_key(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    directory.mkdir()
    write(directory / "DB_PASSWORD", "s3cret\n")
    write(directory / "MULTI", "line1\nline2\n\n")
    write(directory / "NO_NEWLINE", "v")
    (directory / "sub").mkdir()
    write(directory / "sub" / "INNER", "ignored")
    assert read_dir(directory) == {
        "DB_PASSWORD": "s3cret",
        "MULTI": "line1\nline2\n",
        "NO_NEWLINE": "v",
    }


def test_dir_that_is_a_file_is_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "file", "x")
    with pytest.raises(ConfigError, match="is not a directory"):
        read_dir(path)


# --- load_env_file(s) -------------------------------------------------------------------------


def test_prefix_is_prepended(tmp_path: Path) -> None:
    write(tmp_path / "a.env", "HOST=h\nPORT=1\n")
    spec = EnvFileSpec(type="dotenv", path=str(tmp_path / "a.env"), prefix="APP_")
    assert load_env_file(spec) == {"APP_HOST": "h", "APP_PORT": "1"}


def test_optional_missing_file_is_empty(tmp_path: Path) -> None:
    spec = EnvFileSpec(path=str(tmp_path / "missing.env"), optional=True)
    assert load_env_file(spec) == {}


def test_missing_file_is_config_error_naming_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(ConfigError) as info:
        load_env_file(EnvFileSpec(type="json", path=str(missing)))
    assert str(info.value) == (
        f"env file {missing} (json) does not exist; create it or mark it optional: true"
    )


def test_relative_path_resolves_against_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "rel.env", "A=base\n")
    assert load_env_file(EnvFileSpec(path="rel.env"), base_dir=tmp_path) == {"A": "base"}


def test_relative_path_missing_names_joined_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^env file {tmp_path / 'nope.env'} "):
        load_env_file(EnvFileSpec(path="nope.env"), base_dir=tmp_path)


def test_absolute_path_ignores_base_dir(tmp_path: Path) -> None:
    path = write(tmp_path / "abs.env", "A=abs\n")
    other = tmp_path / "other"
    other.mkdir()
    assert load_env_file(EnvFileSpec(path=str(path)), base_dir=other) == {"A": "abs"}


def test_dir_type_through_load_env_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "K", "v\n")
    spec = EnvFileSpec(type="directory", path="d", prefix="X_")
    assert load_env_file(spec, base_dir=tmp_path) == {"X_K": "v"}


def test_undecodable_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(ConfigError, match=f"^env file {path} cannot be read: "):
        load_env_file(EnvFileSpec(path=str(path)))


def test_later_files_override_earlier_ones(tmp_path: Path) -> None:
    write(tmp_path / "a.env", "A=1\nB=1\n")
    write(tmp_path / "b.json", json.dumps({"B": 2, "C": 2}))
    specs = [EnvFileSpec(path="a.env"), EnvFileSpec(type="json", path="b.json")]
    assert load_env_files(specs, base_dir=tmp_path) == {"A": "1", "B": "2", "C": "2"}


def test_load_env_files_with_no_specs_is_empty() -> None:
    assert load_env_files([]) == {}


# --- AETHERFLOW_ENV_FILES_JSON ----------------------------------------------------------------


def test_parse_env_files_json() -> None:
    specs = parse_env_files_json(
        '[{"type": "json", "path": "a.json", "optional": true, "prefix": "P_"}, "b.env"]'
    )
    assert specs == [
        EnvFileSpec(type="json", path="a.json", optional=True, prefix="P_"),
        EnvFileSpec(type="dotenv", path="b.env"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"path": "a.env"}',
        '[{"type": "yaml", "path": "a"}]',
        '[{"path": ""}]',
        '[{"path": "a.env", "colour": "red"}]',
    ],
)
def test_parse_env_files_json_errors_name_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^AETHERFLOW_ENV_FILES_JSON is invalid: "):
        parse_env_files_json(text)


def test_parse_env_files_json_error_names_location() -> None:
    with pytest.raises(ConfigError) as info:
        parse_env_files_json('["ok.env", {"path": "a.env", "optional": "maybe"}]')
    assert "[1.optional]" in str(info.value)


def test_env_files_from_env_unset_or_blank_is_empty() -> None:
    assert env_files_from_env({}) == []
    assert env_files_from_env({"AETHERFLOW_ENV_FILES_JSON": "  "}) == []


def test_env_files_from_env_parses_variable() -> None:
    env = {"AETHERFLOW_ENV_FILES_JSON": '["x.env"]'}
    assert env_files_from_env(env) == [EnvFileSpec(path="x.env")]


# --- snapshot ---------------------------------------------------------------------------------


def test_snapshot_is_read_only() -> None:
    snapshot = EnvSnapshot({"A": "1"})
    with pytest.raises(TypeError):
        snapshot["A"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        del snapshot["A"]  # type: ignore[attr-defined]
    assert dict(snapshot) == {"A": "1"}


def test_snapshot_has_no_mutating_methods() -> None:
    snapshot = EnvSnapshot({"A": "1"})
    assert not hasattr(snapshot, "update")
    assert not hasattr(snapshot, "pop")


def test_snapshot_copies_its_input() -> None:
    source = {"A": "1"}
    snapshot = EnvSnapshot(source)
    source["A"] = "changed"
    assert snapshot["A"] == "1"


def test_snapshot_converts_to_strings() -> None:
    snapshot = EnvSnapshot({"N": 1})  # type: ignore[dict-item]
    assert snapshot["N"] == "1"


def test_snapshot_mapping_protocol_and_repr() -> None:
    snapshot = EnvSnapshot({"A": "1", "B": "2"})
    assert len(snapshot) == 2
    assert list(snapshot) == ["A", "B"]
    assert snapshot.get("C") is None
    assert repr(snapshot) == "EnvSnapshot(2 keys)"


def test_with_layer_returns_new_snapshot() -> None:
    base = EnvSnapshot({"A": "1", "B": "1"})
    layered = base.with_layer({"B": "2", "C": "3"})
    assert layered is not base
    assert isinstance(layered, EnvSnapshot)
    assert dict(layered) == {"A": "1", "B": "2", "C": "3"}
    assert dict(base) == {"A": "1", "B": "1"}


def test_build_snapshot_precedence(tmp_path: Path) -> None:
    write(tmp_path / "a.env", "FROM_FILE=file\nSHARED=file\nBOTH=file\n")
    write(tmp_path / "b.json", json.dumps({"SHARED": "file2"}))
    process_env = {
        "AETHERFLOW_ENV_FILES_JSON": json.dumps(["a.env", {"type": "json", "path": "b.json"}]),
        "FROM_PROCESS": "process",
        "SHARED": "process",
        "BOTH": "process",
    }
    snapshot = build_snapshot(process_env, injected={"BOTH": "injected"}, base_dir=tmp_path)
    assert {k: snapshot[k] for k in ("FROM_PROCESS", "FROM_FILE", "SHARED", "BOTH")} == {
        "FROM_PROCESS": "process",
        "FROM_FILE": "file",
        "SHARED": "file2",
        "BOTH": "injected",
    }


def test_build_snapshot_does_not_mutate_process_env(tmp_path: Path) -> None:
    write(tmp_path / "a.env", "NEW=1\nX=file\n")
    process_env = {"AETHERFLOW_ENV_FILES_JSON": '["a.env"]', "X": "process"}
    before = dict(process_env)
    build_snapshot(process_env, injected={"INJ": "1"}, base_dir=tmp_path)
    assert process_env == before


def test_build_snapshot_without_files_or_injected() -> None:
    snapshot = build_snapshot({"A": "1"})
    assert dict(snapshot) == {"A": "1"}
    assert isinstance(snapshot, EnvSnapshot)


def test_build_snapshot_missing_env_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_snapshot({"AETHERFLOW_ENV_FILES_JSON": '["gone.env"]'}, base_dir=tmp_path)


def test_build_snapshot_invalid_env_files_json_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^AETHERFLOW_ENV_FILES_JSON is invalid: "):
        build_snapshot({"AETHERFLOW_ENV_FILES_JSON": "[{"})


def test_env_files_cannot_set_the_mode_or_the_settings_module(tmp_path: Path) -> None:
    write(
        tmp_path / "a.env",
        "AETHERFLOW_MODE=internal_fast\nAETHERFLOW_SETTINGS_MODULE=evil\n"
        "AETHERFLOW_ENV_FILES_JSON=[]\nOTHER=1\n",
    )
    ignored: list[str] = []
    snapshot = build_snapshot(
        {"AETHERFLOW_ENV_FILES_JSON": '["a.env"]', "AETHERFLOW_MODE": "enterprise"},
        base_dir=tmp_path,
        on_ignored=ignored.append,
    )
    assert snapshot["AETHERFLOW_MODE"] == "enterprise"
    assert "AETHERFLOW_SETTINGS_MODULE" not in snapshot
    assert snapshot["OTHER"] == "1"
    assert sorted(ignored) == [
        "AETHERFLOW_ENV_FILES_JSON",
        "AETHERFLOW_MODE",
        "AETHERFLOW_SETTINGS_MODULE",
    ]
