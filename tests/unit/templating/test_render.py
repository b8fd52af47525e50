"""Unit tests for template rendering (``render``) and value-to-text conversion (``text``)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import BaseModel

from aetherflow.errors import ResolverMissingKeyError, ResolverSyntaxError, TemplateError
from aetherflow.templating.render import (
    PHASE_ROOTS,
    TEMPLATED,
    Phase,
    Scope,
    copy_untemplated,
    is_missing,
    lookup,
    render_string,
    render_template,
    render_value,
)
from aetherflow.templating.text import compact_json, json_default, to_text
from aetherflow.templating.tokens import parse_template

PREFIX = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}\n"

ENV: dict[str, Any] = {
    "HOST": "db.local",
    "PORT": 5432,
    "FLAG": True,
    "OFF": False,
    "ZERO": 0,
    "NONE": None,
    "EMPTY": "",
    "RATIO": 0.25,
    "LIST": [1, "a", None],
    "DICT": {"k": 1, "n": {"x": [True]}},
    "EMPTY_DICT": {},
    "SECRET": "pa${ss}}",
    "NESTED": {"DEEP": {"VALUE": "deep"}},
}


def scope(phase: Phase = Phase.STEP, **roots: Any) -> Scope:
    return Scope(phase=phase, roots={"env": ENV, **roots})


def render(source: str, **roots: Any) -> Any:
    return render_string(source, scope(**roots))


def missing(source: str, where: str = "") -> ResolverMissingKeyError:
    with pytest.raises(ResolverMissingKeyError) as info:
        render_string(source, scope(), where=where)
    return info.value


def syntax(source: str, s: Scope | None = None, where: str = "") -> ResolverSyntaxError:
    with pytest.raises(ResolverSyntaxError) as info:
        render_string(source, s or scope(), where=where)
    return info.value


# --- whole-token typing -----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["PORT", "FLAG", "OFF", "ZERO", "RATIO", "LIST", "DICT"])
def test_whole_token_returns_the_value_object(key: str) -> None:
    assert render(f"{{{{env.{key}}}}}") is ENV[key]


def test_whole_token_none_stays_none() -> None:
    assert render("{{env.NONE}}") is None


def test_whole_token_keeps_arbitrary_objects() -> None:
    path = Path("/data/in.csv")
    assert render("{{steps.s.path}}", steps={"s": {"path": path}}) is path


def test_whole_token_int_keeps_type() -> None:
    value = render("{{env.PORT}}")
    assert type(value) is int
    assert value == 5432


def test_whole_token_default_is_a_string() -> None:
    assert render("{{env.UNSET:5}}") == "5"


def test_whole_token_default_true_is_a_string() -> None:
    assert render("{{env.UNSET:true}}") == "true"


def test_whole_token_with_spaces_inside_braces_is_still_whole() -> None:
    assert render("{{  env.PORT  }}") == 5432


def test_space_outside_braces_switches_to_text() -> None:
    assert render(" {{env.PORT}}") == " 5432"


# --- inline rendering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("flag={{env.FLAG}}", "flag=true"),
        ("flag={{env.OFF}}", "flag=false"),
        ("n=[{{env.NONE}}]", "n=[]"),
        ("port={{env.PORT}}", "port=5432"),
        ("zero={{env.ZERO}}", "zero=0"),
        ("r={{env.RATIO}}", "r=0.25"),
        ("l={{env.LIST}}", 'l=[1,"a",null]'),
        ("d={{env.DICT}}", 'd={"k":1,"n":{"x":[true]}}'),
        ("{{env.HOST}}:{{env.PORT}}", "db.local:5432"),
        ("{{env.FLAG}}{{env.OFF}}", "truefalse"),
        ("x{{env.NESTED.DEEP.VALUE}}", "xdeep"),
    ],
)
def test_inline_rendering(source: str, expected: str) -> None:
    assert render(source) == expected


def test_inline_float_uses_repr() -> None:
    assert render("v={{steps.s.f}}", steps={"s": {"f": 1e20}}) == "v=1e+20"


def test_inline_tuple_renders_as_json_list() -> None:
    assert render("t={{steps.s.t}}", steps={"s": {"t": (1, "b")}}) == 't=[1,"b"]'


def test_inline_non_ascii_is_kept() -> None:
    assert render("x{{steps.s.d}}", steps={"s": {"d": {"name": "café"}}}) == 'x{"name":"café"}'


# --- missing and empty ------------------------------------------------------------------------


def test_empty_string_uses_default_whole_token() -> None:
    assert render("{{env.EMPTY:fallback}}") == "fallback"


def test_empty_string_uses_default_inline() -> None:
    assert render("<{{env.EMPTY:fallback}}>") == "<fallback>"


def test_empty_string_without_default_is_missing() -> None:
    assert missing("{{env.EMPTY}}").args[0] == "env.EMPTY"


def test_missing_inline_without_default_raises() -> None:
    assert missing("a{{env.NOPE}}b").args[0] == "env.NOPE"


def test_missing_key_error_is_key_error_with_dotted_path() -> None:
    error = missing("{{env.NESTED.DEEP.NOPE}}")
    assert isinstance(error, KeyError)
    assert isinstance(error, TemplateError)
    assert error.args == ("env.NESTED.DEEP.NOPE",)
    assert error.path == "env.NESTED.DEEP.NOPE"


def test_missing_key_message_names_location_and_roots() -> None:
    error = missing("{{env.DB_HOST}}", where="jobs[0].steps[0].inputs.host")
    assert str(error) == (
        "missing template value 'env.DB_HOST' at jobs[0].steps[0].inputs.host and no default "
        "was given (available roots: env, steps, job, jobs, run_id, flow_id, result); "
        "set it or write {{env.DB_HOST:DEFAULT}}"
    )
    assert error.where == "jobs[0].steps[0].inputs.host"


@pytest.mark.parametrize("key", ["ZERO", "OFF", "NONE"])
def test_falsy_non_empty_values_are_present(key: str) -> None:
    assert render(f"{{{{env.{key}:default}}}}") is ENV[key]


def test_default_containing_colons() -> None:
    assert render("{{env.X:a:b}}") == "a:b"


def test_default_whitespace_stripped_in_whole_token() -> None:
    assert render("{{env.M: y }}") == "y"


def test_default_whitespace_stripped_with_space_before_colon() -> None:
    assert render("{{ env.M : y }}") == "y"


def test_default_whitespace_stripped_inline() -> None:
    assert render("x{{ env.M : y }}x") == "xyx"


def test_default_whitespace_same_in_both_forms() -> None:
    whole = render("{{ env.M:  two words  }}")
    inline = render("[{{ env.M:  two words  }}]")
    assert (whole, inline) == ("two words", "[two words]")


def test_empty_default_renders_empty() -> None:
    assert render("a{{env.UNSET:}}b") == "ab"


def test_lookup_does_not_descend_into_strings() -> None:
    assert missing("{{env.HOST.upper}}").args[0] == "env.HOST.upper"


def test_lookup_does_not_index_lists() -> None:
    assert render("{{env.LIST.x:none}}") == "none"


def test_lookup_walks_any_mapping() -> None:
    s = Scope(Phase.RESOURCE, {"env": MappingProxyType({"A": "x"})})
    assert render_string("{{env.A}}", s) == "x"


def test_lookup_returns_marker_for_missing_path() -> None:
    assert is_missing(lookup({"env": {}}, ("env", "A"))) is True
    assert lookup({"env": {"A": 1}}, ("env", "A")) == 1


@pytest.mark.parametrize(("value", "expected"), [("", True), (" ", False), (0, False)])
def test_is_missing(value: Any, expected: bool) -> None:
    assert is_missing(value) is expected


# --- values are never re-checked (gap G21) ----------------------------------------------------


def test_secret_with_forbidden_patterns_renders_inline() -> None:
    assert render("x{{env.SECRET}}y") == "xpa${ss}}y"


def test_secret_with_forbidden_patterns_renders_whole() -> None:
    assert render("{{env.SECRET}}") == "pa${ss}}"


@pytest.mark.parametrize("value", ["${A}", "{}", "{% if %}", "{# c #}", "}}", "{{env.HOST}}"])
def test_value_with_template_text_is_not_re_rendered(value: str) -> None:
    assert render("<{{steps.s.v}}>", steps={"s": {"v": value}}) == f"<{value}>"


def test_empty_dict_renders_inline_as_braces() -> None:
    assert render("x{{env.EMPTY_DICT}}") == "x{}"


# --- syntax errors through render_string ------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "${X}",
        "{% if %}",
        "%}",
        "{# c #}",
        "#}",
        "{}",
        "{{ x | lower }}",
        "{{ f(x) }}",
        "{{ a[0] }}",
        "{{a",
        "{{ }}",
        "}}",
        "a}}b",
        "{{env.A}} c}}",
        "{{{a}}}",
        "{{env.A-B}}",
    ],
)
def test_render_string_rejects_forbidden_forms(source: str) -> None:
    error = syntax(source, where="flow.description")
    assert str(error).startswith(PREFIX)
    assert "at column " in error.diagnostic
    assert error.diagnostic.endswith("(flow.description)")


def test_syntax_error_takes_precedence_over_missing_value() -> None:
    assert syntax("{{env.NOPE}} ${X}").diagnostic.startswith("'${...}'")


# --- roots per phase --------------------------------------------------------------------------


def test_phase_roots_table() -> None:
    assert dict(PHASE_ROOTS) == {
        Phase.RESOURCE: ("env",),
        Phase.FLOW_META: ("env",),
        Phase.STEP: ("env", "steps", "job", "jobs", "run_id", "flow_id", "result"),
    }


def test_scope_allowed_follows_phase() -> None:
    assert scope(Phase.RESOURCE).allowed == ("env",)


def test_unknown_root_in_resource_phase_lists_allowed_roots() -> None:
    error = syntax("{{steps.x}}", scope(Phase.RESOURCE), where="resources.db.config.host")
    assert str(error).startswith(PREFIX)
    assert error.diagnostic == (
        "unknown root 'steps' in token '{{steps.x}}' at column 1 of '{{steps.x}}' "
        "(resources.db.config.host); the resource phase allows: env"
    )


def test_unknown_root_in_flow_meta_phase() -> None:
    error = syntax("a {{run_id}}", scope(Phase.FLOW_META))
    assert error.diagnostic.endswith("the flow meta phase allows: env")
    assert "at column 3" in error.diagnostic


def test_unknown_root_in_step_phase_lists_all_roots() -> None:
    error = syntax("{{foo.bar}}")
    assert error.diagnostic.endswith(
        "the step phase allows: env, steps, job, jobs, run_id, flow_id, result"
    )


def test_unknown_root_is_an_error_even_with_default() -> None:
    assert "unknown root 'job'" in syntax("{{job.id:x}}", scope(Phase.RESOURCE)).diagnostic


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{run_id}}", "r-1"),
        ("{{flow_id}}", "f"),
        ("{{job.id}}", "j"),
        ("{{jobs.prev.status}}", "SUCCESS"),
        ("{{result.rows}}", 3),
        ("{{steps.a.n}}", 7),
    ],
)
def test_step_phase_roots_resolve(source: str, expected: Any) -> None:
    s = Scope(
        Phase.STEP,
        {
            "env": {},
            "run_id": "r-1",
            "flow_id": "f",
            "job": {"id": "j", "outputs": {}},
            "jobs": {"prev": {"status": "SUCCESS"}},
            "result": {"rows": 3},
            "steps": {"a": {"n": 7}},
        },
    )
    assert render_string(source, s) == expected


# --- non-strict scope -------------------------------------------------------------------------


def test_non_strict_missing_inline_renders_empty_and_reports() -> None:
    calls: list[tuple[str, str]] = []
    s = Scope(Phase.STEP, {"env": ENV}, strict=False, on_missing=lambda p, w: calls.append((p, w)))
    assert render_string("a{{env.NOPE}}b", s, where="inputs.x") == "ab"
    assert calls == [("env.NOPE", "inputs.x")]


def test_non_strict_missing_whole_token_renders_empty_string() -> None:
    calls: list[tuple[str, str]] = []
    s = Scope(Phase.STEP, {"env": ENV}, strict=False, on_missing=lambda p, w: calls.append((p, w)))
    assert render_string("{{env.EMPTY}}", s, where="w") == ""
    assert calls == [("env.EMPTY", "w")]


def test_non_strict_without_hook_renders_empty() -> None:
    s = Scope(Phase.STEP, {"env": ENV}, strict=False)
    assert render_string("[{{env.NOPE}}]", s) == "[]"


def test_non_strict_prefers_default_and_does_not_report() -> None:
    calls: list[tuple[str, str]] = []
    s = Scope(Phase.STEP, {"env": ENV}, strict=False, on_missing=lambda p, w: calls.append((p, w)))
    assert render_string("{{env.NOPE:d}}", s) == "d"
    assert calls == []


def test_non_strict_still_rejects_bad_syntax() -> None:
    s = Scope(Phase.STEP, {"env": ENV}, strict=False)
    assert str(syntax("${X}", s)).startswith(PREFIX)


def test_scope_is_strict_by_default() -> None:
    assert Scope(Phase.STEP, {}).strict is True


# --- plain strings, render_template, render_value ---------------------------------------------


def test_plain_string_returned_unchanged_identity() -> None:
    source = "".join(["plain ", "text with $ and % and #"])
    assert render_string(source, scope()) is source


def test_plain_string_with_unknown_root_like_text_is_not_parsed() -> None:
    assert render_string("steps.x and env.Y", scope(Phase.RESOURCE)) == "steps.x and env.Y"


def test_render_template_with_parsed_template() -> None:
    template = parse_template("{{env.HOST}}:{{env.PORT}}")
    assert render_template(template, scope()) == "db.local:5432"


def test_render_template_whole_keeps_type() -> None:
    assert render_template(parse_template("{{env.LIST}}"), scope()) is ENV["LIST"]


def test_render_value_never_renders_keys() -> None:
    rendered = render_value({"{{env.HOST}}": "{{env.HOST}}"}, scope())
    assert rendered == {"{{env.HOST}}": "db.local"}


def test_render_value_nested_containers() -> None:
    value = {
        "a": ["{{env.PORT}}", {"b": "x{{env.FLAG}}"}, ("{{env.HOST}}", 5)],
        "c": None,
        "d": 1.5,
    }
    assert render_value(value, scope()) == {
        "a": [5432, {"b": "xtrue"}, ("db.local", 5)],
        "c": None,
        "d": 1.5,
    }


def test_render_value_keeps_tuples_as_tuples() -> None:
    rendered = render_value(("{{env.HOST}}",), scope())
    assert type(rendered) is tuple
    assert rendered == ("db.local",)


def test_render_value_returns_new_structure_without_mutating_input() -> None:
    value = {"a": ["{{env.HOST}}"]}
    rendered = render_value(value, scope())
    assert value == {"a": ["{{env.HOST}}"]}
    assert rendered is not value


@pytest.mark.parametrize("value", [3, None, 2.5, True, b"raw"])
def test_render_value_passes_non_strings_through(value: Any) -> None:
    assert render_value(value, scope()) is value


def test_render_value_where_of_nested_missing_value() -> None:
    with pytest.raises(ResolverMissingKeyError) as info:
        render_value({"a": [1, {"b": "{{env.NOPE}}"}]}, scope(), where="inputs")
    assert info.value.where == "inputs.a[1].b"


def test_render_value_where_without_prefix() -> None:
    with pytest.raises(ResolverMissingKeyError) as info:
        render_value({"a": "{{env.NOPE}}"}, scope())
    assert info.value.where == "a"


def test_render_value_where_in_syntax_error() -> None:
    with pytest.raises(ResolverSyntaxError) as info:
        render_value({"q": ["ok", "${X}"]}, scope(), where="inputs")
    assert info.value.diagnostic.endswith("(inputs.q[1])")


# --- to_text / json_default / compact_json ----------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    ONE = 1


class Model(BaseModel):
    when: dt.date
    n: int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s", "s"),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (0.1, "0.1"),
        (2.0, "2.0"),
        (float("inf"), "inf"),
        ([1, None, True], "[1,null,true]"),
        ({"a": {"b": []}}, '{"a":{"b":[]}}'),
        ((1, 2), "[1,2]"),
        (
            dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
            "2026-01-02T03:04:05.123456+00:00",
        ),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.time(3, 4, 5), "03:04:05"),
        (Decimal("12.50"), "12.50"),
        (Decimal("1E+3"), "1E+3"),
        (b"\x00\xffhi", "AP9oaQ=="),
        (bytearray(b"ab"), "YWI="),
        (PurePosixPath("/a/b.csv"), "/a/b.csv"),
        ({"b", "a"}, '["a","b"]'),
        (frozenset({3, 1}), "[1,3]"),
        (Color.RED, "red"),
        (Color.ONE, "1"),
        (Model(when=dt.date(2026, 5, 1), n=2), '{"when":"2026-05-01","n":2}'),
        ([dt.date(2026, 1, 2), Decimal("0.10")], '["2026-01-02","0.10"]'),
    ],
)
def test_to_text(value: Any, expected: str) -> None:
    assert to_text(value) == expected


def test_to_text_falls_back_to_str() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing!"

    assert to_text(Thing()) == "thing!"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (Decimal("12.50"), "12.50"),
        (b"hello", "aGVsbG8="),
        (memoryview(b"hello"), "aGVsbG8="),
        (Path("rel/x.txt"), "rel/x.txt"),
        ({"z", "a", "m"}, ["a", "m", "z"]),
        (Color.RED, "red"),
        (Color.ONE, 1),
    ],
)
def test_json_default(value: Any, expected: Any) -> None:
    assert json_default(value) == expected


def test_decimal_inline_is_exact_not_float() -> None:
    assert render("amount={{steps.s.d}}", steps={"s": {"d": Decimal("0.10")}}) == "amount=0.10"


def test_compact_json_has_no_spaces_and_keeps_non_ascii() -> None:
    assert compact_json({"a": [1, "ü"], "d": Decimal("1.0")}) == '{"a":[1,"ü"],"d":"1.0"}'


UNTEMPLATED = [
    {"items": ["a", "b", ("c", {"d": 1.5})], "min_count": 1, "flag": None},
    ["x", [], {}, True],
    ("t", 2),
    "plain text",
    7,
]


@pytest.mark.parametrize("value", UNTEMPLATED)
def test_copy_untemplated_equals_rendering_without_templates(value: Any) -> None:
    copied = copy_untemplated(value)

    rendered = render_value(value, scope())
    assert copied == rendered
    assert type(copied) is type(rendered)


def test_copy_untemplated_builds_new_containers() -> None:
    value = {"a": [1, {"b": [2]}]}
    copied = copy_untemplated(value)

    copied["a"][1]["b"].append(3)
    assert value == {"a": [1, {"b": [2]}]}


@pytest.mark.parametrize(
    "value", ["{{ env.A }}", {"a": ["x", {"b": "pre {{ env.A }}"}]}, ("}",), [{"k": "{"}]]
)
def test_copy_untemplated_refuses_values_with_template_syntax(value: Any) -> None:
    assert copy_untemplated(value) is TEMPLATED
