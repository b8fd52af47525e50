"""Tests of turning pydantic errors into positioned, human issues."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from aetherflow.errors import Issue
from aetherflow.spec.issues import (
    allowed_keys,
    did_you_mean,
    edit_distance,
    format_loc,
    issues_from_validation_error,
    sort_issues,
)
from aetherflow.spec.yamlload import load_yaml


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetrySpec(Strict):
    max_attempts: int = 1
    delay_seconds: float = 0.0


class StepSpec(Strict):
    id: str
    type: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    on_no_data: Literal["skip_job", "fail", "continue"] | None = None
    retry: RetrySpec | None = None
    tags: str | list[str] = Field(default_factory=list)


class JobSpec(Strict):
    id: str
    depends_on: list[str] = Field(default_factory=list)
    steps: list[StepSpec]


class ResourceSpec(Strict):
    kind: str
    driver: str
    api_token: int | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class Resources(RootModel[dict[str, ResourceSpec]]):
    pass


class FlowMeta(Strict):
    id: str
    schema_name: str = Field(default="public", alias="schema")


class FlowSpec(Strict):
    version: Literal[1] = 1
    flow: FlowMeta
    resources: Resources = Field(default_factory=lambda: Resources({}))
    jobs: list[JobSpec]


class ShellStep(Strict):
    type: Literal["shell"]
    command: str


class SqlStep(Strict):
    type: Literal["sql"]
    query: str


class NamedA(Strict):
    id: str
    a: int = 0


class NamedB(Strict):
    id: str
    b: int = 0


class Pipeline(Strict):
    steps: list[Annotated[ShellStep | SqlStep, Field(discriminator="type")]]
    either: NamedA | NamedB | None = None


def _issues(model: type[BaseModel], text: str) -> list[Issue]:
    loaded = load_yaml(text, file="flow.yaml")
    with pytest.raises(ValidationError) as info:
        model.model_validate(loaded.data)
    return issues_from_validation_error(
        info.value, model=model, source_map=loaded.source_map, data=loaded.data
    )


def _one(model: type[BaseModel], text: str) -> Issue:
    (issue,) = _issues(model, text)
    return issue


FLOW = """\
flow:
  id: demo
jobs:
  - id: extract
    steps:
      - id: s1
        type: shell
        retry:
          max_attemps: 3
"""


def test_extra_key_position_code_and_did_you_mean() -> None:
    issue = _one(FlowSpec, FLOW)
    assert issue == Issue(
        code="schema:extra_forbidden",
        loc="jobs[0].steps[0].retry.max_attemps",
        msg="unknown key 'max_attemps'",
        file="flow.yaml",
        line=9,
        col=11,
        hint="did you mean 'max_attempts'?",
    )


def test_extra_key_without_close_match_lists_allowed_keys() -> None:
    issue = _one(FlowSpec, "flow: {id: x, colour: red}\njobs: []\n")
    assert (issue.loc, issue.line, issue.col) == ("flow.colour", 1, 15)
    assert issue.hint == "allowed keys: id, schema"


def test_extra_key_in_dict_of_models() -> None:
    text = "flow: {id: x}\njobs: []\nresources:\n  wh:\n    kind: db\n    drivr: pg\n"
    issues = _issues(FlowSpec, text)
    assert [(i.code, i.loc, i.line, i.col, i.hint) for i in issues] == [
        ("schema:missing", "resources.wh.driver", 4, 3, "add 'driver' to resources.wh"),
        ("schema:extra_forbidden", "resources.wh.drivr", 6, 5, "did you mean 'driver'?"),
    ]


def test_missing_key_is_positioned_at_the_parent() -> None:
    text = """\
flow: {id: x}
jobs:
  - id: a
    steps:
      - id: s1
        type: t
      - type: t
"""
    issue = _one(FlowSpec, text)
    assert (issue.code, issue.loc) == ("schema:missing", "jobs[0].steps[1].id")
    assert (issue.line, issue.col) == (7, 9)
    assert issue.msg == "missing required key 'id'"
    assert issue.hint == "add 'id' to jobs[0].steps[1]"


def test_missing_top_level_key_is_positioned_at_the_document() -> None:
    issue = _one(FlowSpec, "\n\nflow: {id: x}\n")
    assert (issue.loc, issue.line, issue.col) == ("jobs", 3, 1)
    assert issue.hint == "add 'jobs' to the top level"


def test_literal_error_lists_expected_values() -> None:
    text = (
        "flow: {id: x}\njobs:\n  - id: a\n    steps:\n      - {id: s, type: t, on_no_data: maybe}\n"
    )
    issue = _one(FlowSpec, text)
    assert issue.code == "schema:literal_error"
    assert issue.loc == "jobs[0].steps[0].on_no_data"
    assert (issue.line, issue.col) == (5, 26)
    assert issue.msg == "invalid value 'maybe'; expected one of: skip_job, fail, continue"


def test_literal_error_with_non_string_choices() -> None:
    issue = _one(FlowSpec, "version: 2\nflow: {id: x}\njobs: []\n")
    assert (issue.loc, issue.line, issue.msg) == (
        "version",
        1,
        "invalid value 2; expected one of: 1",
    )


def test_union_member_tags_are_stripped_and_kept_per_type() -> None:
    text = "flow: {id: x}\njobs:\n  - id: a\n    steps:\n      - {id: s, type: t, tags: 5}\n"
    issues = _issues(FlowSpec, text)
    assert [(i.code, i.loc, i.line, i.col) for i in issues] == [
        ("schema:string_type", "jobs[0].steps[0].tags", 5, 26),
        ("schema:list_type", "jobs[0].steps[0].tags", 5, 26),
    ]


def test_discriminated_union_tag_is_stripped_and_selects_the_hint() -> None:
    missing, extra = _issues(Pipeline, "steps:\n  - type: shell\n    comand: ls\n")
    assert (missing.code, missing.loc, missing.line, missing.col) == (
        "schema:missing",
        "steps[0].command",
        2,
        5,
    )
    assert (extra.code, extra.loc, extra.line, extra.col) == (
        "schema:extra_forbidden",
        "steps[0].comand",
        3,
        5,
    )
    assert extra.hint == "did you mean 'command'?"


def test_invalid_discriminator_points_at_the_tag_key() -> None:
    issue = _one(Pipeline, "steps:\n  - type: bash\n    command: ls\n")
    assert issue.code == "schema:union_tag_invalid"
    assert (issue.loc, issue.line, issue.col) == ("steps[0].type", 2, 5)
    assert issue.msg == "invalid value 'bash'; expected one of: shell, sql"


def test_errors_collapsing_to_one_loc_and_type_are_reported_once() -> None:
    issue = _one(Pipeline, "steps: []\neither: {}\n")
    assert (issue.code, issue.loc, issue.line, issue.col) == ("schema:missing", "either.id", 2, 1)


def test_other_errors_show_the_offending_value() -> None:
    text = """\
flow: {id: x}
jobs:
  - id: a
    steps:
      - id: s
        type: t
        retry: {max_attempts: three}
"""
    issue = _one(FlowSpec, text)
    assert issue.code == "schema:int_parsing"
    assert (issue.loc, issue.line, issue.col) == ("jobs[0].steps[0].retry.max_attempts", 7, 17)
    assert issue.msg == (
        "Input should be a valid integer, unable to parse string as an integer (got 'three')"
    )


def test_long_values_are_truncated_to_60_characters() -> None:
    text = f"flow: {{id: x}}\njobs:\n  - id: a\n    depends_on: {'x' * 100}\n    steps: []\n"
    issue = _one(FlowSpec, text)
    assert (issue.code, issue.loc) == ("schema:list_type", "jobs[0].depends_on")
    shown = issue.msg.split("(got ", 1)[1].removesuffix(")")
    assert shown == "'" + "x" * 56 + "..."
    assert len(shown) == 60


def test_values_of_secret_keys_are_not_shown() -> None:
    text = "flow: {id: x}\njobs: []\nresources:\n  r: {kind: a, driver: b, api_token: hunter2}\n"
    issue = _one(FlowSpec, text)
    assert (issue.code, issue.loc) == ("schema:int_parsing", "resources.r.api_token")
    assert issue.msg == "Input should be a valid integer, unable to parse string as an integer"


def test_loc_prefix_locates_a_sub_document_in_the_file() -> None:
    loaded = load_yaml("flow: {id: x}\njobs:\n  - id: a\n    depend_on: [b]\n    steps: []\n")
    job = loaded.data["jobs"][0]
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(job)
    (issue,) = issues_from_validation_error(
        info.value,
        model=JobSpec,
        source_map=loaded.source_map,
        file="f.yaml",
        loc_prefix=("jobs", 0),
        data=job,
    )
    assert (issue.loc, issue.file, issue.line, issue.col) == ("jobs[0].depend_on", "f.yaml", 4, 5)
    assert issue.hint == "did you mean 'depends_on'?"


def test_without_data_tag_like_segments_are_dropped_and_position_unknown() -> None:
    with pytest.raises(ValidationError) as info:
        StepSpec.model_validate({"id": "s", "type": "t", "tags": 5})
    issues = issues_from_validation_error(info.value, model=StepSpec)
    assert [(i.code, i.loc, i.file, i.line, i.col) for i in issues] == [
        ("schema:string_type", "tags", "", 0, 0),
        ("schema:list_type", "tags", "", 0, 0),
    ]


def test_file_defaults_to_the_source_map_file() -> None:
    issue = _one(FlowSpec, "flow: {id: x}\n")
    assert issue.file == "flow.yaml"


def test_sort_issues_orders_by_file_line_col_loc_code() -> None:
    issues = [
        Issue("b:x", "z", "m", file="b.yaml", line=1, col=1),
        Issue("a:y", "a", "m", file="a.yaml", line=2, col=1, severity="warning"),
        Issue("a:x", "a", "m", file="a.yaml", line=2, col=1),
        Issue("a:x", "a", "m", file="a.yaml", line=1, col=9),
        Issue("a:x", "", "m", file="a.yaml", line=2, col=1),
    ]
    ordered = sort_issues(issues)
    assert [(i.file, i.line, i.col, i.loc, i.code) for i in ordered] == [
        ("a.yaml", 1, 9, "a", "a:x"),
        ("a.yaml", 2, 1, "", "a:x"),
        ("a.yaml", 2, 1, "a", "a:x"),
        ("a.yaml", 2, 1, "a", "a:y"),
        ("b.yaml", 1, 1, "z", "b:x"),
    ]


def test_format_loc_is_reexported() -> None:
    assert (
        format_loc(("jobs", 1, "steps", 0, "inputs", "comand")) == "jobs[1].steps[0].inputs.comand"
    )


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "ab", 2),
        ("same", "same", 0),
        ("kitten", "sitting", 3),
        ("comand", "command", 1),
        ("ca", "ac", 1),
        ("workspace", "wrokspace", 1),
        ("abcd", "badc", 2),
        ("ca", "abc", 3),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


STEP_KEYS = ["id", "type", "inputs", "outputs", "depends_on", "on_no_data", "workspace", "command"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("depend_on", "depends_on"),
        ("input", "inputs"),
        ("on_no_date", "on_no_data"),
        ("workspce", "workspace"),
        ("comand", "command"),
        ("Inputs", "inputs"),
        ("schedule", None),
        ("timeout_seconds", None),
        ("ab", None),
    ],
)
def test_did_you_mean(word: str, expected: str | None) -> None:
    assert did_you_mean(word, STEP_KEYS) == expected


def test_did_you_mean_never_returns_the_word_and_breaks_ties_alphabetically() -> None:
    assert did_you_mean("cat", ["cat"]) is None
    assert did_you_mean("cat", ["hat", "bat", "cat"]) == "bat"
    assert did_you_mean("comand", ["Command"]) == "Command"
    assert did_you_mean("abcdef", ["abcxyz"], max_distance=3) == "abcxyz"
    assert did_you_mean("abcdef", ["abcxyz"]) is None


@pytest.mark.parametrize(
    ("loc", "keys"),
    [
        ((), {"version", "flow", "resources", "jobs"}),
        (("flow",), {"id", "schema"}),
        (("jobs", 3), {"id", "depends_on", "steps"}),
        (("jobs", 0, "steps", 2), {"id", "type", "inputs", "on_no_data", "retry", "tags"}),
        (("jobs", 0, "steps", 0, "retry"), {"max_attempts", "delay_seconds"}),
        (("resources", "wh"), {"kind", "driver", "api_token", "config"}),
    ],
)
def test_allowed_keys(loc: tuple[str | int, ...], keys: set[str]) -> None:
    assert allowed_keys(FlowSpec, loc) == frozenset(keys)


@pytest.mark.parametrize(
    "loc",
    [
        ("resources",),
        ("resources", "wh", "config"),
        ("jobs", 0, "steps", 0, "inputs"),
        ("jobs", "x"),
        ("flow", 0),
        ("nope",),
        ("flow", "id"),
    ],
)
def test_allowed_keys_is_none_when_it_cannot_tell(loc: tuple[str | int, ...]) -> None:
    assert allowed_keys(FlowSpec, loc) is None


def test_allowed_keys_of_root_model_and_union_tags() -> None:
    assert allowed_keys(Resources, ("wh",)) == frozenset({"kind", "driver", "api_token", "config"})
    assert allowed_keys(Pipeline, ("steps", 0, "sql")) == frozenset({"type", "query"})
    assert allowed_keys(Pipeline, ("either", "NamedB")) == frozenset({"id", "b"})
    assert allowed_keys(Pipeline, ("steps", 0)) is None
