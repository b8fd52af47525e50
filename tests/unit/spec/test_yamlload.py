"""Tests of the position-keeping, duplicate-rejecting YAML loader."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import pytest
import yaml

from aetherflow.errors import SpecError
from aetherflow.spec import yamlload
from aetherflow.spec.yamlload import LoadedYaml, Mark, format_loc, load_yaml, load_yaml_file

FLOW = """\
version: 1
flow:
  id: demo
jobs:
  - id: extract
    steps:
      - id: s1
        type: shell
        inputs:
          comand: echo hi
  - id: load
    depends_on: [extract]
    steps: []
"""


@pytest.fixture(params=["libyaml", "pure"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's CSafeLoader and with the pure-Python SafeLoader fallback."""
    if request.param == "pure":
        monkeypatch.setattr(yamlload, "_LOADER", yaml.SafeLoader)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def _duplicates(text: str) -> list[tuple[str, int, int, str]]:
    with pytest.raises(SpecError) as info:
        load_yaml(text, file="dup.yaml")
    return [(i.loc, i.line, i.col, i.msg) for i in info.value.issues]


def test_key_marks_of_nested_mapping_entries(loader: str) -> None:
    source_map = load_yaml(FLOW).source_map
    assert source_map.key_mark(("version",)) == Mark(1, 1)
    assert source_map.key_mark(("flow", "id")) == Mark(3, 3)
    assert source_map.key_mark(("jobs", 0, "steps", 0, "inputs", "comand")) == Mark(10, 11)
    assert source_map.key_mark(("jobs", 1, "depends_on")) == Mark(12, 5)


def test_value_marks_of_list_items_and_scalars(loader: str) -> None:
    source_map = load_yaml(FLOW).source_map
    assert source_map.value_mark(("jobs", 0)) == Mark(5, 5)
    assert source_map.value_mark(("jobs", 1)) == Mark(11, 5)
    assert source_map.value_mark(("jobs", 1, "depends_on", 0)) == Mark(12, 18)
    assert source_map.value_mark(("jobs", 0, "steps", 0, "inputs", "comand")) == Mark(10, 19)
    assert source_map.value_mark(()) == Mark(1, 1)
    assert source_map.key_mark(("jobs", 0)) is None


def test_position_prefers_key_then_value_then_parent() -> None:
    source_map = load_yaml(FLOW).source_map
    assert source_map.position(("jobs", 0, "steps", 0, "type")) == Mark(8, 9)
    assert source_map.position(("jobs", 1)) == Mark(11, 5)
    assert source_map.position(("jobs", 1, "description")) == Mark(11, 5)
    assert source_map.position(("flow", "missing", "deeper")) == Mark(2, 1)
    assert source_map.position(("nothing",)) == Mark(1, 1)


def test_position_is_zero_for_an_empty_document() -> None:
    assert load_yaml("").source_map.position(("a",)) == Mark(0, 0)


def test_locations_below_an_alias_resolve_to_the_anchor() -> None:
    text = "base: &b\n  retry:\n    max: 3\nuse: *b\n"
    source_map = load_yaml(text).source_map
    assert source_map.key_mark(("use", "retry", "max")) == Mark(3, 5)
    assert source_map.key_mark(("use",)) == Mark(4, 1)


def test_merged_keys_point_at_their_source_and_explicit_keys_win() -> None:
    text = "defaults: &d\n  a: 1\n  b: 2\njob:\n  <<: *d\n  b: 3\n"
    loaded = load_yaml(text)
    assert loaded.data["job"] == {"a": 1, "b": 3}
    assert loaded.source_map.key_mark(("job", "a")) == Mark(2, 3)
    assert loaded.source_map.key_mark(("job", "b")) == Mark(6, 3)


def test_every_duplicate_is_reported_with_its_line(loader: str) -> None:
    text = "a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\nb: 4\n"
    assert _duplicates(text) == [
        ("a", 3, 1, "duplicate key 'a' (first defined on line 1)"),
        ("c.x", 6, 3, "duplicate key 'x' (first defined on line 5)"),
        ("b", 7, 1, "duplicate key 'b' (first defined on line 2)"),
    ]


def test_duplicates_inside_list_items_and_repeated_thrice() -> None:
    text = "jobs:\n  - id: a\n    steps:\n      - {id: s, id: t}\n  - id: b\n    id: c\n    id: d\n"
    assert _duplicates(text) == [
        ("jobs[0].steps[0].id", 4, 17, "duplicate key 'id' (first defined on line 4)"),
        ("jobs[1].id", 6, 5, "duplicate key 'id' (first defined on line 5)"),
        ("jobs[1].id", 7, 5, "duplicate key 'id' (first defined on line 5)"),
    ]


def test_duplicate_error_carries_code_file_and_hint() -> None:
    with pytest.raises(SpecError) as info:
        load_yaml("k: 1\nk: 2\n", file="f.yaml")
    (issue,) = info.value.issues
    assert issue.code == "yaml:duplicate_key"
    assert issue.file == "f.yaml"
    assert issue.hint == "remove one of the 'k' entries or rename it"
    assert str(info.value) == "f.yaml: 1 duplicate key"


def test_duplicate_in_an_anchored_mapping_is_reported_once() -> None:
    text = "x: &x {k: 1, k: 2}\ny: {<<: *x}\nz: *x\n"
    assert _duplicates(text) == [("x.k", 1, 14, "duplicate key 'k' (first defined on line 1)")]


def test_equal_keys_of_different_spelling_are_duplicates() -> None:
    assert _duplicates("1: a\n0x1: b\n") == [
        ("[1]", 2, 1, "duplicate key 1 (first defined on line 1)")
    ]


def test_merge_keys_are_not_duplicates() -> None:
    text = "base: &b {a: 1, b: 2}\nmore: &m {c: 3}\njob:\n  <<: [*b, *m]\n  a: 9\n  <<: {d: 4}\n"
    assert load_yaml(text).data["job"] == {"a": 9, "b": 2, "c": 3, "d": 4}


def test_earlier_merge_source_wins() -> None:
    text = "a: &a {k: 1}\nb: &b {k: 2}\nc: {<<: [*a, *b]}\n"
    assert load_yaml(text).data["c"] == {"k": 1}


def test_nested_merges_resolve() -> None:
    text = "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n"
    assert load_yaml(text).data["c"] == {"x": 1, "y": 2, "z": 3}


VARIED = """\
ints: [1, -2, 0x1F, 0o17, 017, 1_000, 190:20:30, +12]
floats: [1.5, -0.5e3, .inf, -.Inf, 6.8523015e+5, 1_000.5]
bools: [true, False, yes, No, on, OFF, y, n]
nulls: [~, null, Null, '', "null"]
strings: [abc, '1', "two", 1.2.3, 2001-1-5]
dates: [2002-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-15 2:59:43.10]
block: |
  line one
  line two
folded: >
  a
  b
anchor: &anchor
  name: x
  list: [1, 2]
alias: *anchor
merged:
  <<: *anchor
  name: y
nested: {a: {b: [{c: d}]}}
binary: !!binary aGVsbG8=
set: !!set {a, b}
omap: !!omap [x: 1, y: 2]
explicit: !!str 123
1: int key
2001-01-01: date key
"""


def test_matches_safe_load_on_a_varied_document(loader: str) -> None:
    assert load_yaml(VARIED).data == yaml.safe_load(VARIED)


def test_yaml_11_scalars_are_resolved_like_safe_load() -> None:
    data = load_yaml(VARIED).data
    assert data["ints"] == [1, -2, 31, "0o17", 15, 1000, 685230, 12]
    assert data["bools"] == [True, False, True, False, True, False, "y", "n"]
    assert data["nulls"] == [None, None, None, "", "null"]
    assert math.isinf(data["floats"][2])
    assert data["dates"][0] == datetime.date(2002, 12, 14)
    assert data["binary"] == b"hello"
    assert data[1] == "int key"
    assert data[datetime.date(2001, 1, 1)] == "date key"


def test_aliases_share_one_object_like_safe_load() -> None:
    data = load_yaml(VARIED).data
    assert data["alias"] is data["anchor"]


def test_recursive_alias_loads() -> None:
    data = load_yaml("r: &r [1, *r]\n").data
    assert data["r"][1] is data["r"]


def test_non_string_key_is_recorded_as_is() -> None:
    loaded = load_yaml("1: one\nfalse: no\n2.5: x\n")
    assert loaded.data == {1: "one", False: False, 2.5: "x"}
    assert loaded.source_map.key_mark((1,)) == Mark(1, 1)
    assert loaded.source_map.key_mark((False,)) == Mark(2, 1)
    assert loaded.source_map.key_mark((2.5,)) == Mark(3, 1)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_document_is_none(text: str) -> None:
    loaded = load_yaml(text, file="e.yaml")
    assert loaded == LoadedYaml(data=None, source_map=loaded.source_map, file="e.yaml")


def test_syntax_error_has_position_and_problem(loader: str) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml("a: 1\nb:\n  c: 2\n d: 3\n", file="bad.yaml")
    (issue,) = info.value.issues
    assert (issue.code, issue.file, issue.line, issue.col) == ("yaml:syntax", "bad.yaml", 4, 2)
    assert issue.msg.startswith("while parsing a block mapping: ")
    assert str(info.value).startswith("bad.yaml:4:2: invalid YAML: ")


def test_flow_sequence_error_position(loader: str) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml("a: [1, 2\nb: 3\n")
    (issue,) = info.value.issues
    assert (issue.code, issue.line, issue.col) == ("yaml:syntax", 2, 2)


def test_second_document_is_an_error() -> None:
    with pytest.raises(SpecError) as info:
        load_yaml("a: 1\n---\nb: 2\n")
    (issue,) = info.value.issues
    assert (issue.line, issue.col) == (2, 1)
    assert "expected a single document" in issue.msg


def test_control_character_is_reported_at_its_position() -> None:
    with pytest.raises(SpecError) as info:
        load_yaml("a: 1\nb: x\x07\n")
    (issue,) = info.value.issues
    assert (issue.code, issue.line, issue.col) == ("yaml:syntax", 2, 5)
    assert issue.msg == "unacceptable character #x0007: control characters are not allowed"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("k: !custom 1\n", "could not determine a constructor for the tag '!custom'"),
        ("? [1]\n: 2\n", "found unhashable key"),
        ("a: {<<: 1}\n", "expected a mapping or list of mappings for merging, but found scalar"),
        ("a: {<<: [1]}\n", "expected a mapping for merging, but found scalar"),
        ("a: &a {<<: *a}\n", "found a recursive merge"),
        ("a: 2001-13-45\n", "invalid timestamp '2001-13-45': month must be in 1..12"),
        ("a: !!int abc\n", "invalid int 'abc': invalid literal for int() with base 10: 'abc'"),
    ],
)
def test_construction_errors_are_yaml_syntax_issues(text: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml(text)
    (issue,) = info.value.issues
    assert issue.code == "yaml:syntax"
    assert issue.msg.endswith(problem)
    assert issue.line == 1


def test_load_yaml_file_reads_utf8(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_bytes("\ufeffname: café\n".encode())
    loaded = load_yaml_file(path)
    assert loaded.data == {"name": "café"}
    assert loaded.file == str(path)
    assert loaded.source_map.file == str(path)
    assert loaded.source_map.key_mark(("name",)) == Mark(1, 1)


def test_load_yaml_file_issues_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_yaml_file(str(path))
    assert [(i.file, i.line) for i in info.value.issues] == [(str(path), 2)]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_yaml_file(path)
    (issue,) = info.value.issues
    assert (issue.code, issue.file) == ("file:not_found", str(path))
    assert str(path) in issue.msg


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml_file(tmp_path)
    (issue,) = info.value.issues
    assert (issue.code, issue.file) == ("file:unreadable", str(tmp_path))
    assert str(tmp_path) in issue.msg


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: 1\nname: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_yaml_file(path)
    (issue,) = info.value.issues
    assert (issue.code, issue.line, issue.col) == ("file:encoding", 2, 10)
    assert "0xe9" in issue.msg


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("jobs", 1, "steps", 0, "inputs", "comand"), "jobs[1].steps[0].inputs.comand"),
        (("resources", "wh", "config", "dsn"), "resources.wh.config.dsn"),
        ((), ""),
        ((0, "x"), "[0].x"),
        (("m", True), "m.True"),
    ],
)
def test_format_loc(loc: tuple[str | int, ...], text: str) -> None:
    assert format_loc(loc) == text
