"""Property tests for the ``when`` language.

(a) Any text either parses or raises ``WhenSyntaxError``; evaluating a parsed expression either
    returns a ``WhenResult`` or raises ``WhenError``.
(b) Random well-formed expression trees, rendered with the fewest parentheses the precedence
    rules allow, evaluate to what a small reference interpreter over the tree computes.
(c) Rendering a literal and parsing it back gives the same value and type.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aetherflow.errors import WhenError, WhenSyntaxError
from aetherflow.templating.when import WhenResult, parse_when
from aetherflow.templating.when_lexer import TokenKind, tokenize

# --- shared strategies ----------------------------------------------------------------------

JOB_IDS = ("a", "b-1", "c", "c.d")
KEYS = ("n", "s", "flag", "lst", "missing")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-8, 8).map(lambda i: i / 4),
    st.sampled_from(["", "a", "b", "ab", "true"]),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=3)
    ),
    max_leaves=6,
)
job_results = st.fixed_dictionaries(
    {
        "status": st.sampled_from([None, "SUCCESS", "FAILED", "SKIPPED"]),
        "skip_reason": st.sampled_from([None, "condition=false"]),
        "outputs": st.dictionaries(st.sampled_from(KEYS[:-1]), json_values, max_size=4),
    }
)
jobs_data = st.dictionaries(st.sampled_from(JOB_IDS), job_results, max_size=len(JOB_IDS))

FRAGMENTS = [
    *("jobs", ".", "a", "c.d", "b-1", "outputs", "status", "skip_reason", "n", "__x__", "0"),
    *("==", "!=", "<", "<=", ">", ">=", "=", "!", "in", "not", "and", "or", "AND", "is"),
    *("(", ")", "[", "]", "'", '"', "\\", "-", "+", "1", "1.5", "-2", " ", "\n", ",", "{{"),
    *("true", "FALSE", "null", "None", "'x'", '"y z"'),
]
grammar_soup = st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join)


# --- (a) never crashes ------------------------------------------------------------------------


@given(source=st.text() | grammar_soup, use_ids=st.booleans(), data=st.data())
def test_parse_and_evaluate_raise_only_when_errors(
    source: str, use_ids: bool, data: st.DataObject
) -> None:
    failure: WhenSyntaxError | None = None
    try:
        expr = parse_when(source, job_ids=JOB_IDS if use_ids else None)
    except WhenSyntaxError as error:
        failure = error
    if failure is not None:
        assert 1 <= failure.column <= len(source) + 1
        return
    jobs = {ref.job_id: data.draw(job_results) for ref in expr.refs}
    try:
        result = expr.evaluate(jobs)
    except WhenSyntaxError:
        pytest.fail("evaluate() raised WhenSyntaxError; syntax is only checked by parse_when")
    except WhenError:
        return
    assert isinstance(result, WhenResult)
    assert isinstance(result.value, bool)


# --- (b) generated trees against a reference interpreter ------------------------------------

# Trees are tuples: ("lit", value, text), ("ref", job, attr, key), ("paren", t), ("not", t),
# ("and", l, r), ("or", l, r), ("cmp", operands, operators, tight).

BOOL_TEXTS = {"true": True, "TRUE": True, "True": True, "false": False, "fAlSe": False}


def render_string(value: str, quote: str) -> str:
    escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{quote}{escaped}{quote}"


def render_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


literals = st.one_of(
    st.sampled_from(sorted(BOOL_TEXTS)).map(lambda t: ("lit", BOOL_TEXTS[t], t)),
    st.sampled_from(["null", "None", "NULL"]).map(lambda t: ("lit", None, t)),
    st.integers(-2, 2).map(lambda i: ("lit", i, str(i))),
    st.integers(-12, 12).map(lambda i: ("lit", i / 4, render_number(i / 4))),
    st.tuples(st.text("ab'\"\\ ", max_size=4), st.sampled_from("'\"")).map(
        lambda p: ("lit", p[0], render_string(p[0], p[1]))
    ),
)
refs = st.one_of(
    st.tuples(st.just("ref"), st.sampled_from(JOB_IDS), st.just("outputs"), st.sampled_from(KEYS)),
    st.tuples(
        st.just("ref"), st.sampled_from(JOB_IDS), st.sampled_from(["status", "skip_reason"])
    ).map(lambda t: (*t, "")),
)
COMPARE_OPS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]


ORDER_OPS = ["<", "<=", ">", ">=", "==", "!="]
numbers = st.integers(-3, 3).map(lambda i: ("lit", i, str(i)))


def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Chains mix arbitrary operands with all operators, or (so that chains of three or more
    # are often error-free and their pairing semantics is exercised) numbers with ordering.
    chains = st.tuples(st.integers(2, 4), st.booleans()).flatmap(
        lambda p: st.tuples(
            st.just("cmp"),
            st.lists(numbers if p[1] else children, min_size=p[0], max_size=p[0]),
            st.lists(
                st.sampled_from(ORDER_OPS if p[1] else COMPARE_OPS),
                min_size=p[0] - 1,
                max_size=p[0] - 1,
            ),
            st.booleans(),
        )
    )
    return st.one_of(
        st.tuples(st.just("paren"), children),
        st.tuples(st.just("not"), children),
        st.tuples(st.just("and"), children, children),
        st.tuples(st.just("or"), children, children),
        chains,
    )


trees = st.recursive(literals | refs, extend, max_leaves=10)


def render(tree: Any) -> tuple[str, int]:
    """Render with minimal parentheses; returns (text, precedence), atoms being 5."""

    def wrap(child: Any, minimum: int) -> str:
        text, precedence = render(child)
        return text if precedence >= minimum else f"({text})"

    kind = tree[0]
    if kind == "lit":
        return tree[2], 5
    if kind == "ref":
        _, job, attr, key = tree
        return f"jobs.{job}.{attr}" + (f".{key}" if key else ""), 5
    if kind == "paren":
        return f"({render(tree[1])[0]})", 5
    if kind == "not":
        return "not " + wrap(tree[1], 3), 3
    if kind == "and":
        return f"{wrap(tree[1], 2)} and {wrap(tree[2], 3)}", 2
    if kind == "or":
        return f"{wrap(tree[1], 1)} or {wrap(tree[2], 2)}", 1
    _, operands, ops, tight = tree
    text = wrap(operands[0], 5)
    for op, operand in zip(ops, operands[1:], strict=True):
        sep = op if tight and op not in ("in", "not in") else f" {op} "
        text += sep + wrap(operand, 5)
    return text, 4


class InvalidComparisonError(Exception):
    """The reference interpreter found an invalid comparison."""


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "num"
    return type(value).__name__


def same(left: Any, right: Any) -> bool:
    if kind_of(left) != kind_of(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compare(op: str, left: Any, right: Any) -> bool:
    if op in ("==", "!="):
        return same(left, right) == (op == "==")
    if op in ORDERING:
        if kind_of(left) != kind_of(right) or kind_of(left) not in ("num", "str"):
            raise InvalidComparisonError
        return ORDERING[op](left, right)
    if isinstance(right, list):
        found = any(same(left, item) for item in right)
    elif isinstance(right, str) and isinstance(left, str):
        found = left in right
    else:
        raise InvalidComparisonError
    return found == (op == "in")


def reference_eval(tree: Any, jobs: Mapping[str, Any]) -> Any:
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "ref":
        _, job, attr, key = tree
        result = jobs.get(job, {})
        return result.get("outputs", {}).get(key) if attr == "outputs" else result.get(attr)
    if kind == "paren":
        return reference_eval(tree[1], jobs)
    if kind == "not":
        return not reference_eval(tree[1], jobs)
    if kind in ("and", "or"):
        left = bool(reference_eval(tree[1], jobs))
        if left == (kind == "or"):
            return left
        return bool(reference_eval(tree[2], jobs))
    _, operands, ops, _ = tree
    values = [reference_eval(operands[0], jobs)]
    for op, operand in zip(ops, operands[1:], strict=True):
        values.append(reference_eval(operand, jobs))
        if not compare(op, values[-2], values[-1]):
            return False
    return True


def ref_texts(tree: Any) -> list[str]:
    if tree[0] == "ref":
        return [render(tree)[0]]
    if tree[0] == "lit":
        return []
    children = tree[1] if tree[0] == "cmp" else tree[1:]
    return [text for child in children for text in ref_texts(child)]


def depth(tree: Any) -> int:
    if tree[0] in ("lit", "ref"):
        return 0
    children = tree[1] if tree[0] == "cmp" else tree[1:]
    return 1 + max(depth(child) for child in children)


@given(tree=trees, jobs=jobs_data)
def test_generated_trees_match_reference_interpreter(tree: Any, jobs: dict[str, Any]) -> None:
    assume(depth(tree) < 25)
    source, _ = render(tree)
    expr = parse_when(source, job_ids=JOB_IDS)
    assert [ref.text for ref in expr.refs] == ref_texts(tree)
    try:
        expected = bool(reference_eval(tree, jobs))
    except InvalidComparisonError:
        with pytest.raises(WhenError):
            expr.evaluate(jobs)
        return
    assert expr.evaluate(jobs).value is expected


@given(left=literals, right=literals | refs, op=st.sampled_from(COMPARE_OPS), jobs=jobs_data)
def test_single_comparison_matches_reference_rules(
    left: Any, right: Any, op: str, jobs: dict[str, Any]
) -> None:
    tree = ("cmp", [left, right], [op], False)
    expr = parse_when(render(tree)[0], job_ids=JOB_IDS)
    try:
        expected = reference_eval(tree, jobs)
    except InvalidComparisonError:
        with pytest.raises(WhenError):
            expr.evaluate(jobs)
        return
    assert expr.evaluate(jobs).value is expected


TABLE_VALUES = ["null", "true", "false", "0", "1", "-1", "0.0", "1.0", "''", "'1'", "'true'", "'a'"]


def test_every_literal_pair_and_operator_follows_reference_rules() -> None:
    """Exhaustive over representative literals: equality never coerces, ordering needs a type."""
    for left in TABLE_VALUES:
        for right in TABLE_VALUES:
            for op in COMPARE_OPS:
                expr = parse_when(f"{left} {op} {right}")
                tree = ("cmp", [expr_literal(left), expr_literal(right)], [op], False)
                try:
                    expected = reference_eval(tree, {})
                except InvalidComparisonError:
                    with pytest.raises(WhenError):
                        expr.evaluate({})
                    continue
                assert expr.evaluate({}).value is expected, expr.source


def expr_literal(text: str) -> tuple[str, Any, str]:
    values: dict[str, Any] = {"null": None, "true": True, "false": False}
    if text in values:
        return ("lit", values[text], text)
    if text.startswith("'"):
        return ("lit", text[1:-1], text)
    return ("lit", float(text) if "." in text else int(text), text)


# --- (c) literal round trip -----------------------------------------------------------------


@st.composite
def rendered_literals(draw: st.DrawFn) -> tuple[Any, str]:
    value = draw(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    if value is None:
        return value, draw(st.sampled_from(["null", "NULL", "None", "nOnE"]))
    if isinstance(value, bool):
        text = str(value).lower()
        return value, "".join(c.upper() if draw(st.booleans()) else c for c in text)
    if isinstance(value, int | float):
        return value, render_number(value)
    return value, render_string(value, draw(st.sampled_from("'\"")))


@given(literal=rendered_literals())
def test_literal_round_trips(literal: tuple[Any, str]) -> None:
    value, text = literal
    tokens = tokenize(text)
    assert [token.kind for token in tokens[1:]] == [TokenKind.END]
    parsed = tokens[0].value
    assert type(parsed) is type(value)
    assert repr(parsed) == repr(value)
    expr = parse_when(f"jobs.j.outputs.v == {text}")
    assert expr.evaluate({"j": {"outputs": {"v": value}}}).value is True
