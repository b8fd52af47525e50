"""``json_text`` gives exactly what ``json.dumps`` gives with the same options."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aetherflow.templating.text import compact_json, json_default, json_text, sorted_json

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _dumps(value: Any, *, sort_keys: bool, allow_nan: bool, compact: bool) -> str:
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(
        value, sort_keys=sort_keys, allow_nan=allow_nan, separators=separators, ensure_ascii=False
    )


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


@given(_VALUES, st.booleans(), st.booleans())
def test_same_text_as_json_dumps(value: Any, sort_keys: bool, compact: bool) -> None:
    expected = _dumps(value, sort_keys=sort_keys, allow_nan=True, compact=compact)
    assert json_text(value, sort_keys=sort_keys, compact=compact) == expected


@given(_VALUES)
def test_without_nan_the_same_text_or_the_same_error(value: Any) -> None:
    if _has_nan(value):
        with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
            json_text(value, allow_nan=False)
    else:
        assert json_text(value, allow_nan=False) == _dumps(
            value, sort_keys=False, allow_nan=False, compact=True
        )


def test_a_value_without_json_form_raises_the_message_of_json_dumps() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        json_text({"a": object()})


def test_default_converts_other_types() -> None:
    assert json_text({"s": {3, 1}}, json_default) == '{"s":[1,3]}'


def test_a_circular_reference_is_an_error_each_time() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for _ in range(2):  # a fresh reference table per call: the second call fails the same way
        with pytest.raises(ValueError, match="Circular reference detected"):
            json_text(loop)


def test_the_named_forms() -> None:
    assert sorted_json({"b": 1, "a": "ü"}) == '{"a":"ü","b":1}'
    assert compact_json({"b": 1, "a": [1, 2]}) == '{"b":1,"a":[1,2]}'
    assert json_text({"b": 1}, compact=False) == '{"b": 1}'


def test_encoders_are_shared_but_not_for_a_default_made_per_call() -> None:
    from aetherflow.templating import text

    for _ in range(3):
        assert json_text({"a": [1, 2]}, json_default) == '{"a":[1,2]}'
    assert (json_default, False, True, True) in text._ENCODERS
    for number in range(2 * text._MAX_ENCODERS):
        assert json_text({"n": {1}}, lambda value, n=number: n) == f'{{"n":{number}}}'
    assert len(text._ENCODERS) <= text._MAX_ENCODERS


def test_a_value_nested_past_the_recursion_limit_is_an_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="Circular reference detected"):
        json_text(deep)
