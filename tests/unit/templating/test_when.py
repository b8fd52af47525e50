"""Unit tests for the ``when`` language (parser, references, evaluation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from aetherflow.errors import WhenError, WhenSyntaxError
from aetherflow.templating.when import JobRef, WhenResult, parse_when

JOBS: dict[str, dict[str, Any]] = {
    "probe": {
        "status": "SUCCESS",
        "skip_reason": None,
        "outputs": {
            "rows": 3,
            "ratio": 0.25,
            "delta": -2,
            "has_data": True,
            "empty": False,
            "name": "daily load",
            "tags": ["red", "green", 1, True],
            "nested": {"inner": {"count": 0}},
            "phrase": "is true",
        },
    },
    "skipped": {"status": "SKIPPED", "skip_reason": "condition=false", "outputs": {}},
    "a.b": {"status": "FAILED", "skip_reason": None, "outputs": {"code": 7}},
    "load-2": {"status": "SUCCESS", "skip_reason": None, "outputs": {"ok": True}},
}


def run(source: str | bool, jobs: Mapping[str, Mapping[str, Any]] = JOBS) -> bool:
    result = parse_when(source).evaluate(jobs)
    assert result.warnings == ()
    return result.value


def syntax_error(source: str, **kwargs: Any) -> WhenSyntaxError:
    with pytest.raises(WhenSyntaxError) as info:
        parse_when(source, **kwargs)
    return info.value


# --- literals -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["true", "TRUE", "tRuE", "True", "  true  "])
def test_true_literal_in_any_case(source: str) -> None:
    assert run(source) is True


@pytest.mark.parametrize("source", ["false", "FALSE", "False", "null", "NULL", "None", "none"])
def test_false_and_null_literals_are_false(source: str) -> None:
    assert run(source) is False


@pytest.mark.parametrize(("source", "expected"), [(True, True), (False, False)])
def test_python_bool_source_means_that_literal(source: bool, expected: bool) -> None:
    expr = parse_when(source)
    assert expr.source == ("true" if expected else "false")
    assert expr.evaluate({}).value is expected


def test_null_equals_null() -> None:
    assert run("null == None") is True


@pytest.mark.parametrize(
    ("source", "expected"),
    [("0", False), ("7", True), ("0.0", False), ("-1", True), ("''", False), ("'x'", True)],
)
def test_bare_literal_truthiness(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_string_literal_containing_true_is_not_mangled() -> None:
    assert run("jobs.probe.outputs.phrase == 'is true'") is True
    assert run("jobs.probe.outputs.phrase == 'is True'") is False


def test_double_quoted_string() -> None:
    assert run('jobs.probe.outputs.name == "daily load"') is True


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'keep\n'", "keep\\n"),
        (r"'tab\t'", "tab\\t"),
    ],
)
def test_string_escapes(source: str, value: str) -> None:
    assert (
        parse_when(f"jobs.j.outputs.v == {source}").evaluate({"j": {"outputs": {"v": value}}}).value
    )


def test_eq_true_without_spaces() -> None:
    assert run("jobs.probe.outputs.has_data==true") is True
    assert run("jobs.probe.outputs.empty!=true") is True


# --- comparisons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("jobs.probe.outputs.rows > 0", True),
        ("jobs.probe.outputs.rows >= 3", True),
        ("jobs.probe.outputs.rows < 3", False),
        ("jobs.probe.outputs.rows <= 2", False),
        ("jobs.probe.outputs.rows == 3.0", True),
        ("jobs.probe.outputs.rows != 3", False),
        ("jobs.probe.outputs.delta == -2", True),
        ("jobs.probe.outputs.delta<-1", True),
        ("jobs.probe.outputs.delta > -2.5", True),
        ("jobs.probe.outputs.ratio == 0.25", True),
        ("jobs.probe.outputs.ratio < 0.3", True),
        ("-1 < 0", True),
        ("'abc' < 'abd'", True),
        ("jobs.probe.status == 'SUCCESS'", True),
    ],
)
def test_comparisons(source: str, expected: bool) -> None:
    assert run(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true == 1", False),
        ("false == 0", False),
        ("true != 1", True),
        ("1 == '1'", False),
        ("null == 0", False),
        ("null == false", False),
        ("true == true", True),
    ],
)
def test_equality_does_not_coerce_types(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_lists_and_dicts_compare_structurally() -> None:
    jobs = {"j": {"outputs": {"a": [1, {"k": True}], "b": [1.0, {"k": True}], "c": [True, {}]}}}
    assert parse_when("jobs.j.outputs.a == jobs.j.outputs.b").evaluate(jobs).value is True
    assert parse_when("jobs.j.outputs.a == jobs.j.outputs.c").evaluate(jobs).value is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("0 < jobs.probe.outputs.rows < 5", True),
        ("0 < jobs.probe.outputs.rows < 3", False),
        ("5 > jobs.probe.outputs.rows > 4", False),
        ("1 == 1 == 1", True),
        ("1 < 2 > 0", True),
    ],
)
def test_chained_comparison(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_chained_comparison_short_circuits() -> None:
    # Python semantics: once 3 < 1 is false, 1 < 'a' is never evaluated.
    assert run("3 < 1 < 'a'") is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'red' in jobs.probe.outputs.tags", True),
        ("'blue' in jobs.probe.outputs.tags", False),
        ("'blue' not in jobs.probe.outputs.tags", True),
        ("1 in jobs.probe.outputs.tags", True),
        ("true in jobs.probe.outputs.tags", True),
        ("false in jobs.probe.outputs.tags", False),
        ("'load' in jobs.probe.outputs.name", True),
        ("'LOAD' in jobs.probe.outputs.name", False),
        ("'x' not in jobs.probe.outputs.name", True),
    ],
)
def test_membership(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_in_uses_strict_equality() -> None:
    jobs = {"j": {"outputs": {"flags": [1, 0]}}}
    assert parse_when("true in jobs.j.outputs.flags").evaluate(jobs).value is False


# --- boolean operators and precedence -------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("not false and false", False),  # not binds tighter than and
        ("not (false and false)", True),
        ("not 1 == 2", True),  # comparison binds tighter than not
        ("not not true", True),
        ("false or not false", True),
        ("((true))", True),
        ("(1 < 2) == true", True),
        ("jobs.probe.outputs.rows > 0 and jobs.probe.status == 'SUCCESS'", True),
    ],
)
def test_precedence_and_parentheses(source: str, expected: bool) -> None:
    assert run(source) is expected


def test_and_or_short_circuit_skips_errors() -> None:
    assert run("false and 'a' < 1") is False
    assert run("true or 'a' < 1") is True


def test_bool_operators_return_booleans() -> None:
    # (3 or 0) is true, not 3, so comparing it with 3 is false.
    assert run("(jobs.probe.outputs.rows or 0) == true") is True


def test_result_value_is_a_bool() -> None:
    result = parse_when("jobs.probe.outputs.name").evaluate(JOBS)
    assert result == WhenResult(True, ())


# --- references and missing data ------------------------------------------------------------


def test_missing_output_key_is_null_with_warning() -> None:
    result = parse_when("jobs.probe.outputs.missing == true").evaluate(JOBS)
    assert result.value is False
    assert result.warnings == ("jobs.probe.outputs.missing is not set; treated as null",)


def test_missing_nested_key_and_walk_into_scalar_warn() -> None:
    source = "jobs.probe.outputs.nested.inner.nope == null or jobs.probe.outputs.rows.x"
    result = parse_when(source).evaluate(JOBS)
    assert result.value is True
    assert result.warnings == ("jobs.probe.outputs.nested.inner.nope is not set; treated as null",)


def test_walk_into_non_mapping_warns() -> None:
    result = parse_when("jobs.probe.outputs.rows.x").evaluate(JOBS)
    assert result == WhenResult(False, ("jobs.probe.outputs.rows.x is not set; treated as null",))


def test_nested_key_value() -> None:
    assert run("jobs.probe.outputs.nested.inner.count == 0") is True


def test_duplicate_warnings_are_reported_once() -> None:
    result = parse_when("jobs.p.outputs.x == 1 or jobs.p.outputs.x == 2").evaluate({})
    assert result.warnings == ("jobs.p.outputs.x is not set; treated as null",)


def test_missing_job_has_null_status_and_no_outputs() -> None:
    assert run("jobs.ghost.status == null") is True
    assert run("jobs.ghost.skip_reason == null") is True
    result = parse_when("jobs.ghost.outputs.x").evaluate(JOBS)
    assert result == WhenResult(False, ("jobs.ghost.outputs.x is not set; treated as null",))


def test_skip_reason_reference() -> None:
    assert run("jobs.skipped.skip_reason == 'condition=false'") is True
    assert run("jobs.skipped.status != 'SUCCESS'") is True


def test_dotted_job_id_resolves_longest_known_id() -> None:
    expr = parse_when("jobs.a.b.outputs.code == 7", job_ids={"a", "a.b"})
    assert expr.refs[0].job_id == "a.b"
    assert expr.evaluate(JOBS).value is True


def test_dotted_job_id_falls_back_to_shorter_id_with_valid_tail() -> None:
    expr = parse_when("jobs.a.outputs.x", job_ids={"a", "a.outputs"})
    assert expr.refs[0] == JobRef("a", "outputs", ("x",), 1, "jobs.a.outputs.x")


def test_without_job_ids_job_is_single_segment() -> None:
    expr = parse_when("jobs.a.outputs.b.c")
    assert expr.refs[0] == JobRef("a", "outputs", ("b", "c"), 1, "jobs.a.outputs.b.c")


def test_dashed_and_digit_job_ids() -> None:
    assert run("jobs.load-2.outputs.ok") is True
    expr = parse_when("jobs.2nd.status == null", job_ids={"2nd"})
    assert expr.refs[0].job_id == "2nd"


def test_dashed_output_key() -> None:
    jobs = {"j": {"outputs": {"row-count": 2}}}
    assert parse_when("jobs.j.outputs.row-count == 2").evaluate(jobs).value is True


def test_unknown_job_with_did_you_mean() -> None:
    error = syntax_error("jobs.lod.status == 'SUCCESS'", job_ids={"load", "extract"})
    assert "unknown job 'lod'" in str(error)
    assert "did you mean 'load'?" in str(error)
    assert error.column == 6


def test_unknown_dotted_job_suggests_dotted_id() -> None:
    error = syntax_error("jobs.a.c.outputs.x", job_ids={"a", "a.b"})
    assert "unknown job 'a.c'; did you mean 'a.b'?" in str(error)


def test_unknown_job_without_close_match_lists_known_jobs() -> None:
    error = syntax_error("jobs.zzz.status", job_ids={"load", "extract"})
    assert "unknown job 'zzz'; known jobs: extract, load" in str(error)


def test_unknown_job_when_no_jobs_are_known() -> None:
    error = syntax_error("jobs.x.status", job_ids=[])
    assert "unknown job 'x'; no job can be referenced here" in str(error)


def test_refs_list_in_source_order() -> None:
    source = "jobs.b.status == 'SUCCESS' and (jobs.a.outputs.x.y > 1 or not jobs.b.skip_reason)"
    assert parse_when(source).refs == (
        JobRef("b", "status", (), 1, "jobs.b.status"),
        JobRef("a", "outputs", ("x", "y"), 33, "jobs.a.outputs.x.y"),
        JobRef("b", "skip_reason", (), 63, "jobs.b.skip_reason"),
    )


def test_literal_only_expression_has_no_refs() -> None:
    assert parse_when("1 < 2").refs == ()


def test_parse_is_cached() -> None:
    assert parse_when("jobs.x.status", job_ids=["x"]) is parse_when("jobs.x.status", job_ids={"x"})


# --- evaluation errors ----------------------------------------------------------------------


def test_incompatible_ordering_raises_when_error() -> None:
    expr = parse_when("jobs.probe.outputs.name < 3")
    with pytest.raises(WhenError) as info:
        expr.evaluate(JOBS)
    assert not isinstance(info.value, WhenSyntaxError)
    message = str(info.value)
    assert message.startswith(
        "cannot compare str and int with '<' in when expression \"jobs.probe.outputs.name < 3\":"
    )


@pytest.mark.parametrize(
    ("source", "types"),
    [
        ("jobs.probe.outputs.missing > 0", "null and int with '>'"),
        ("null <= null", "null and null with '<='"),
        ("true < false", "bool and bool with '<'"),
        ("1 >= '1'", "int and str with '>='"),
        ("jobs.probe.outputs.tags < jobs.probe.outputs.tags", "list and list with '<'"),
    ],
)
def test_ordering_of_non_comparable_types_raises(source: str, types: str) -> None:
    with pytest.raises(WhenError, match=f"cannot compare {types}"):
        parse_when(source).evaluate(JOBS)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("1 in jobs.probe.outputs.name", "a substring test needs a string on the left"),
        ("'a' in jobs.probe.outputs.rows", "'in' needs a list or a string on the right"),
        ("'a' not in jobs.probe.outputs.nested", "'not in' needs a list or a string"),
        ("'a' in jobs.probe.outputs.missing", "'in' needs a list or a string on the right"),
    ],
)
def test_membership_type_errors(source: str, reason: str) -> None:
    with pytest.raises(WhenError, match=reason):
        parse_when(source).evaluate(JOBS)


# --- syntax errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("", "empty when expression", 1),
        ("   ", "empty when expression", 1),
        ("jobs.probe.status ==", "expected an operand after '=='", 21),
        ("true and", "expected an operand", 9),
        ("not", "expected an operand", 4),
        ("== 1", "expected an operand (a value, a reference or '('), found '=='", 1),
        (
            "1 == and",
            "expected an operand after '==' (a value, a reference or '('), found 'and'",
            6,
        ),
        ("'abc", "unterminated string: expected a closing '", 1),
        ('x == "abc', 'unterminated string: expected a closing "', 6),
        (r"'abc\'", "unterminated string", 1),
        ("true)", "unexpected ')': no matching '('", 5),
        ("()", "unexpected ')': expected an operand", 2),
        ("(true", "expected ')' to close the '(' at column 1, found end of expression", 6),
        ("(true true)", "expected ')' to close the '(' at column 1, found 'true'", 7),
        ("1 + 2", "unexpected character '+': arithmetic is not supported", 3),
        ("jobs.p.outputs.n * 2", "unexpected character '*': arithmetic is not supported", 18),
        ("jobs.p.outputs.n -1", "unexpected character '-': arithmetic is not supported", 18),
        ("- 1", "unexpected character '-': arithmetic is not supported", 1),
        ("1 == --1", "unexpected character '-'", 6),
        ("len(jobs.p.outputs.x)", "function calls are not supported", 1),
        ("jobs.p.outputs.f()", "function calls are not supported", 1),
        ("1 (2)", "unexpected '(': expected an operator", 3),
        ("jobs.p.outputs.x[0]", "unexpected character '[': indexing is not supported", 17),
        ("1 in [1, 2]", "unexpected character '[': list literals are not supported", 6),
        ("true true", "expected an operator", 6),
        ("x = 1", "unexpected character '=': use '==' to compare", 3),
        ("!true", "unexpected character '!': use 'not'", 1),
        ("true && false", "unexpected character '&': use 'and'", 6),
        ("true || false", "unexpected character '|': use 'or'", 6),
        ("{{ jobs.a.status }}", "unexpected character '{'", 1),
        ("true AND false", "unexpected 'AND': keywords are lowercase ('and')", 6),
        ("NOT true", "unknown name 'NOT' (keywords are lowercase: 'not')", 1),
        ("jobs.a.status is null", "'is' is not supported: use '==' or '!='", 15),
        ("1 not 2", "expected an operator", 3),
        ("1.", "invalid number '1.'", 1),
        ("1.5.3", "invalid number '1.5.3'", 1),
        ("1e5", "invalid number '1e5'", 1),
        ("x == 12abc", "invalid number '12abc'", 6),
        (".5", "unexpected character '.': write decimals with a leading digit", 1),
        ("jobs.a.", "expected a name after '.'", 8),
        ("jobs..a", "expected a name after '.'", 6),
        ("$x", "unexpected character '$'", 1),
    ],
)
def test_syntax_errors(source: str, message: str, column: int) -> None:
    error = syntax_error(source)
    assert message in str(error)
    assert error.column == column
    assert str(error).endswith(f"(column {column})")


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("jobs", "'jobs' alone is not a value", 1),
        ("jobs.x", "'jobs.x' is not a value", 1),
        ("jobs.x.foo", "'foo' is not a job attribute", 8),
        ("jobs.x.outputs", "'jobs.x.outputs' needs an output key", 15),
        ("jobs.x.status.y", "'status' has no fields ('y')", 15),
        ("jobs.x.skip_reason.y", "'skip_reason' has no fields ('y')", 20),
        ("jobs.x.outputs.0", "output key '0' must start with a letter or '_'", 16),
        ("env.HOME == 'x'", "unknown name 'env.HOME'", 1),
        ("result", "unknown name 'result'", 1),
        ("jobs.__class__.status", "'__class__' is not allowed in a reference", 6),
        ("jobs.x.outputs.__dict__", "'__dict__' is not allowed in a reference", 16),
    ],
)
def test_reference_shape_errors_name_allowed_forms(source: str, message: str, column: int) -> None:
    error = syntax_error(f"1 == 1 and {source}")
    assert message in str(error)
    assert "jobs.<job_id>" in str(error)
    assert error.column == column + len("1 == 1 and ")


def test_deep_nesting_is_a_syntax_error() -> None:
    error = syntax_error("(" * 60 + "true" + ")" * 60)
    assert "nested too deeply" in str(error)
    assert error.column == 51


def test_moderate_nesting_parses() -> None:
    assert run("(" * 40 + "not " * 9 + "false" + ")" * 40) is True


def test_huge_integer_literal_is_a_syntax_error() -> None:
    error = syntax_error("1" * 5000)
    assert "too long" in str(error)
    assert error.column == 1


def test_multiline_expression_columns_count_from_start() -> None:
    error = syntax_error("true and\n  1 +")
    assert error.column == 14
