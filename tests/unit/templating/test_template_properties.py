"""Property tests for the ``{{PATH}}`` / ``{{PATH:DEFAULT}}`` template language.

(a) Any text either renders or raises one of the two resolver errors.
(b) Text without braces renders unchanged.
(c) A whole-token ``{{path}}`` returns the exact value object stored at ``path``.
(d) Inline rendering is the concatenation of the literal pieces and ``to_text(value)``.
(e) A forbidden pair outside a token is a ``ResolverSyntaxError`` with the contract prefix.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aetherflow.errors import ResolverMissingKeyError, ResolverSyntaxError
from aetherflow.templating.render import PHASE_ROOTS, Phase, Scope, render_string
from aetherflow.templating.text import to_text

PREFIX = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}\n"
FORBIDDEN_PAIRS = ("${", "{%", "%}", "{#", "#}", "{}")
STEP_ROOTS = PHASE_ROOTS[Phase.STEP]

SCOPE = Scope(
    Phase.STEP,
    {
        "env": {"A": "x", "B": "", "N": 3, "L": [1, 2], "D": {"k": None}},
        "steps": {"s": {"out": True, "text": "${not re-checked}"}},
        "run_id": "r",
    },
)

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
brace_free_text = st.text(
    alphabet=st.characters(exclude_characters="{}", exclude_categories=["Cs"]), max_size=20
)
# Text that may precede a token: ``$`` right before ``{{`` would form the forbidden ``${``.
piece_before_token = brace_free_text.filter(lambda t: not t.endswith("$"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(min_size=1, max_size=10),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(identifiers, children, max_size=3)
    ),
    max_leaves=8,
)
# Text biased towards template-like characters so the parser's branches are exercised.
template_like = st.text(
    alphabet=st.sampled_from(list("{}$%#:|()[]. \nenvABsteps_0-")), max_size=30
) | st.text(max_size=30)


def nested(path: list[str], value: Any) -> Any:
    tree: Any = value
    for segment in reversed(path):
        tree = {segment: tree}
    return tree


@settings(max_examples=400, deadline=None)
@given(template_like)
def test_any_text_renders_or_raises_a_resolver_error(text: str) -> None:
    with contextlib.suppress(ResolverSyntaxError, ResolverMissingKeyError):
        render_string(text, SCOPE, where="prop")


@settings(max_examples=300, deadline=None)
@given(template_like)
def test_syntax_errors_always_carry_the_prefix(text: str) -> None:
    with contextlib.suppress(ResolverMissingKeyError):
        try:
            render_string(text, SCOPE)
        except ResolverSyntaxError as exc:
            assert str(exc).startswith(PREFIX)


@settings(max_examples=300, deadline=None)
@given(brace_free_text)
def test_brace_free_text_renders_unchanged(text: str) -> None:
    assert render_string(text, SCOPE) is text


@settings(max_examples=300, deadline=None)
@given(
    root=st.sampled_from(STEP_ROOTS),
    rest=st.lists(identifiers, max_size=4),
    value=values,
    pad_left=st.sampled_from(["", " ", "  \t"]),
    pad_right=st.sampled_from(["", " ", "\n"]),
)
def test_whole_token_returns_the_exact_value_object(
    root: str, rest: list[str], value: Any, pad_left: str, pad_right: str
) -> None:
    assume(value != "")
    path = [root, *rest]
    scope = Scope(Phase.STEP, nested(path, value))
    source = "{{" + pad_left + ".".join(path) + pad_right + "}}"
    assert render_string(source, scope) is value


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(piece_before_token, min_size=2, max_size=5),
    data=st.data(),
)
def test_inline_rendering_concatenates_pieces_and_text_of_values(
    pieces: list[str], data: st.DataObject
) -> None:
    token_count = len(pieces) - 1
    assume(token_count > 1 or any(pieces))
    token_values = data.draw(st.lists(scalars, min_size=token_count, max_size=token_count))
    keys = [f"V{i}" for i in range(token_count)]
    scope = Scope(Phase.STEP, {"env": dict(zip(keys, token_values, strict=True))})
    source = pieces[0] + "".join(
        f"{{{{env.{key}}}}}{piece}" for key, piece in zip(keys, pieces[1:], strict=True)
    )
    expected = pieces[0] + "".join(
        to_text(value) + piece for value, piece in zip(token_values, pieces[1:], strict=True)
    )
    assert render_string(source, scope) == expected


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(st.one_of(brace_free_text, st.just("{{env.A}}")), max_size=4),
    pair=st.sampled_from(FORBIDDEN_PAIRS),
    after=st.lists(st.one_of(brace_free_text, st.just("{{env.A}}")), max_size=4),
)
def test_forbidden_pair_outside_a_token_raises(
    before: list[str], pair: str, after: list[str]
) -> None:
    source = "".join(before) + pair + "".join(after)
    try:
        render_string(source, SCOPE)
    except ResolverSyntaxError as exc:
        assert str(exc).startswith(PREFIX)
    else:
        raise AssertionError(f"{source!r} rendered without a syntax error")


@settings(max_examples=200, deadline=None)
@given(
    before=brace_free_text.filter(lambda t: not t.endswith(("$", "%", "#"))),
    pair=st.sampled_from(FORBIDDEN_PAIRS),
    after=brace_free_text,
)
def test_forbidden_pair_column_is_its_position(before: str, pair: str, after: str) -> None:
    source = before + pair + after
    try:
        render_string(source, SCOPE)
    except ResolverSyntaxError as exc:
        assert f"at column {len(before) + 1} of " in exc.diagnostic
    else:
        raise AssertionError(f"{source!r} rendered without a syntax error")


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=15), left=piece_before_token)
def test_rendered_values_are_never_rechecked(value: str, left: str) -> None:
    scope = Scope(Phase.STEP, {"env": {"V": value}})
    assert render_string(left + "{{env.V}}", scope) == left + value
