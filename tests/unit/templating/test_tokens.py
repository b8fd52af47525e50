"""Unit tests for the template tokenizer (``aetherflow.templating.tokens``)."""

from __future__ import annotations

import pytest

from aetherflow.errors import TEMPLATE_SYNTAX_MESSAGE, ResolverSyntaxError, TemplateError
from aetherflow.templating.tokens import (
    Template,
    Token,
    has_template_syntax,
    iter_strings,
    parse_template,
)

PREFIX = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}\n"


def syntax_error(source: str, where: str = "") -> ResolverSyntaxError:
    with pytest.raises(ResolverSyntaxError) as info:
        parse_template(source, where=where)
    return info.value


# --- well-formed tokens -----------------------------------------------------------------------


def test_single_token_is_whole() -> None:
    template = parse_template("{{env.DB_HOST}}")
    token = Token(path=("env", "DB_HOST"), default=None, column=1, raw="{{env.DB_HOST}}")
    assert template == Template(source="{{env.DB_HOST}}", parts=(token,), whole=token)


def test_token_properties() -> None:
    token = parse_template("{{steps.extract.rows}}").whole
    assert token is not None
    assert token.root == "steps"
    assert token.dotted == "steps.extract.rows"


def test_whitespace_around_path_is_ignored() -> None:
    token = parse_template("{{   env.A \t}}").whole
    assert token is not None
    assert token.path == ("env", "A")
    assert token.default is None
    assert token.raw == "{{   env.A \t}}"


def test_default_is_split_at_first_colon() -> None:
    token = parse_template("{{env.X:a:b}}").whole
    assert token is not None
    assert token.path == ("env", "X")
    assert token.default == "a:b"


def test_default_surrounding_whitespace_is_stripped() -> None:
    token = parse_template("{{ env.M : y z }}").whole
    assert token is not None
    assert token.path == ("env", "M")
    assert token.default == "y z"


def test_empty_default_is_empty_string_not_none() -> None:
    token = parse_template("{{env.M:}}").whole
    assert token is not None
    assert token.default == ""


def test_default_may_contain_url_characters() -> None:
    token = parse_template("{{env.URL:http://h:8080/p?q=1&r=#x}}").whole
    assert token is not None
    assert token.default == "http://h:8080/p?q=1&r=#x"


def test_inline_template_parts_and_columns() -> None:
    template = parse_template("a{{env.X}}bc{{ env.Y:d }}")
    assert template.whole is None
    assert template.parts == (
        "a",
        Token(("env", "X"), None, 2, "{{env.X}}"),
        "bc",
        Token(("env", "Y"), "d", 13, "{{ env.Y:d }}"),
    )
    assert [t.column for t in template.tokens] == [2, 13]


def test_adjacent_tokens_have_no_empty_text_between() -> None:
    template = parse_template("{{env.A}}{{env.B}}")
    assert template.whole is None
    assert [t.dotted for t in template.parts if isinstance(t, Token)] == ["env.A", "env.B"]
    assert len(template.parts) == 2


def test_token_with_surrounding_space_is_not_whole() -> None:
    template = parse_template(" {{env.A}}")
    assert template.whole is None
    assert template.parts[0] == " "


def test_tokens_property_lists_only_tokens() -> None:
    template = parse_template("x{{env.A}}y{{env.B}}z")
    assert [t.dotted for t in template.tokens] == ["env.A", "env.B"]


def test_plain_string_has_one_text_part_and_no_tokens() -> None:
    template = parse_template("plain text")
    assert template.parts == ("plain text",)
    assert template.tokens == ()
    assert template.whole is None


def test_empty_string_has_no_parts() -> None:
    assert parse_template("") == Template(source="", parts=(), whole=None)


def test_single_braces_are_plain_text() -> None:
    template = parse_template("a{b}c")
    assert template.parts == ("a{b}c",)
    assert template.tokens == ()


def test_parse_is_cached_per_source() -> None:
    assert parse_template("x{{env.CACHED}}") is parse_template("x{{env.CACHED}}")


def test_path_with_underscores_and_digits() -> None:
    token = parse_template("{{_a.b_1.C2}}").whole
    assert token is not None
    assert token.path == ("_a", "b_1", "C2")


# --- forbidden forms --------------------------------------------------------------------------

FORBIDDEN = [
    ("${X}", 1, "'${...}'"),
    ("a ${X} b", 3, "'${...}'"),
    ("{% if x %}y{% endif %}", 1, "Jinja statements"),
    ("a %} b", 3, "'%}'"),
    ("{# comment #}", 1, "Jinja comments"),
    ("note #} end", 6, "'#}'"),
    ("x{}y", 2, "'{}'"),
    ("{{ x | lower }}", 1, "filters"),
    ("{{ f(x) }}", 1, "function calls"),
    ("{{ a[0] }}", 1, "indexing"),
    ("ab{{a", 3, "unterminated"),
    ("{{ }}", 1, "empty token"),
    ("{{}}", 1, "empty token"),
    ("}}", 1, "stray '}}'"),
    ("a}}b", 2, "stray '}}'"),
    ("{{env.A}} c}}", 12, "stray '}}'"),
    ("{{env.A}}}", 9, "stray '}}'"),
    ("{{{a}}}", 1, "'{' or '}' inside a token"),
    ("{{env.DB-HOST}}", 1, "invalid path"),
    ("{{env.}}", 1, "invalid path"),
    ("{{.env}}", 1, "invalid path"),
    ("{{1abc}}", 1, "invalid path"),
    ("{{env A}}", 1, "invalid path"),
    ("{{:x}}", 1, "empty path"),
    ("{{env.X:a{b}}", 1, "'{' or '}' inside a token"),
    ("ok {{env.A}} then ${B}", 19, "'${...}'"),
]


@pytest.mark.parametrize(("source", "column", "what"), FORBIDDEN)
def test_forbidden_form_message_starts_with_contract_prefix(
    source: str, column: int, what: str
) -> None:
    error = syntax_error(source)
    assert str(error).startswith(PREFIX)


@pytest.mark.parametrize(("source", "column", "what"), FORBIDDEN)
def test_forbidden_form_diagnostic_names_problem_and_column(
    source: str, column: int, what: str
) -> None:
    error = syntax_error(source)
    assert what in error.diagnostic
    assert f"at column {column} of {source!r}" in error.diagnostic


def test_syntax_error_message_is_prefix_newline_diagnostic() -> None:
    error = syntax_error("${X}")
    assert str(error) == f"{TEMPLATE_SYNTAX_MESSAGE}\n{error.diagnostic}"
    assert error.diagnostic == (
        "'${...}' (shell/JS style interpolation) is not supported at column 1 of '${X}'"
    )


def test_syntax_error_is_value_error_and_template_error() -> None:
    error = syntax_error("{}")
    assert isinstance(error, ValueError)
    assert isinstance(error, TemplateError)


def test_where_appears_in_message() -> None:
    error = syntax_error("{{ x | lower }}", where="jobs[0].steps[1].inputs.sql")
    assert str(error).endswith("(jobs[0].steps[1].inputs.sql)")


def test_where_absent_leaves_no_parentheses() -> None:
    error = syntax_error("{}")
    assert error.diagnostic.endswith("of '{}'")


def test_long_source_is_truncated_in_message() -> None:
    source = "x" * 200 + "${A}"
    error = syntax_error(source)
    assert f"at column 201 of {source[:117] + '...'!r}" in error.diagnostic


def test_hyphen_in_path_names_the_token() -> None:
    error = syntax_error("pre {{env.MY-VAR}}")
    assert "in token '{{env.MY-VAR}}'" in error.diagnostic
    assert "at column 5" in error.diagnostic


def test_first_problem_is_reported() -> None:
    error = syntax_error("{% a %} ${b}")
    assert "Jinja statements" in error.diagnostic
    assert "at column 1 " in error.diagnostic


# --- helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [("plain", False), ("", False), ("a{b", True), ("a}b", True), ("{{x}}", True)],
)
def test_has_template_syntax(source: str, expected: bool) -> None:
    assert has_template_syntax(source) is expected


def test_iter_strings_yields_values_with_locations_never_keys() -> None:
    value = {"{{k}}": "v1", "n": [1, "v2", ("v3",)], "d": {"e": "v4"}, "i": 3}
    assert list(iter_strings(value)) == [
        (("{{k}}",), "v1"),
        (("n", 1), "v2"),
        (("n", 2, 0), "v3"),
        (("d", "e"), "v4"),
    ]


def test_iter_strings_of_plain_string_uses_given_location() -> None:
    assert list(iter_strings("s", ("root",))) == [(("root",), "s")]


def test_iter_strings_of_scalar_yields_nothing() -> None:
    assert list(iter_strings(42)) == []
