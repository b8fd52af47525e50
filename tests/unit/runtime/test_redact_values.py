"""``Redactor.redact_value`` replaces every secret form in nested values, keys included."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aetherflow.runtime.redact import ACTIVE, MASK, Redactor, encoded_forms

SECRETS = ["hunter2-secret-value", "pw4u", "ünïcode-pass"]


def _reference(value: Any, secrets: list[str]) -> Any:
    """The plain definition: every form of every secret replaced in every string (longest form
    first), containers rebuilt."""
    forms = sorted({f for s in secrets for f in encoded_forms(s)}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(f) for f in forms)) if forms else None

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(MASK, item) if pattern else item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, tuple):
            return tuple(walk(v) for v in item)
        return item

    return walk(value)


_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda a, s, b: a + s + b,
        st.text(max_size=5),
        st.sampled_from(SECRETS),
        st.text(max_size=5),
    ),
)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_TEXT, inner, max_size=4)
    ),
    max_leaves=15,
)


@given(_VALUES, st.lists(st.sampled_from(SECRETS), unique=True))
def test_the_same_as_redacting_every_string(value: Any, secrets: list[str]) -> None:
    redactor = Redactor()
    for secret in secrets:
        redactor.add(secret)
    assert redactor.redact_value(value) == _reference(value, secrets)


def test_secrets_in_values_keys_lists_and_tuples() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret-value")
    value = {
        "dsn": "postgresql://u:hunter2-secret-value@db/x",
        "hunter2-secret-value": 1,
        "nested": [("a", "hunter2-secret-value"), {"k": "hunter2-secret-value"}],
        "short": "ok",
    }
    assert redactor.redact_value(value) == {
        "dsn": f"postgresql://u:{MASK}@db/x",
        MASK: 1,
        "nested": [("a", MASK), {"k": MASK}],
        "short": "ok",
    }


def test_a_value_without_secrets_comes_back_as_it_is() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret-value")
    fields = {"flow_id": "f", "count": 3, "summary": {"rows": 10, "path": "/tmp/a-long-file.csv"}}
    assert redactor.redact_value(fields) is fields
    assert redactor.redact_value(fields["summary"]) is fields["summary"]


def test_subclasses_come_back_as_plain_containers() -> None:
    redactor = Redactor()
    redactor.add("hunter2-secret-value")
    ordered = OrderedDict(a="x")
    result = redactor.redact_value(ordered)
    assert type(result) is dict
    assert result == {"a": "x"}


def test_a_secret_added_later_applies_to_shorter_strings() -> None:
    redactor = Redactor()
    redactor.add("a-very-long-secret-value")
    assert redactor.redact_value({"k": "pw4u!"}) == {"k": "pw4u!"}
    redactor.add("pw4u")
    assert redactor.redact_value({"k": "pw4u!"}) == {"k": f"{MASK}!"}
    assert redactor.redact("pw4u") == MASK


def test_active_redactors_apply_together_and_follow_changes() -> None:
    process, run = Redactor(), Redactor()
    process.add("env-secret-value")
    run.add("hook-secret-value")
    ACTIVE.set_process(process)
    ACTIVE.push(run)
    try:
        line = "a env-secret-value b hook-secret-value c later-secret"
        assert ACTIVE.redact(line) == f"a {MASK} b {MASK} c later-secret"
        run.add("later-secret")  # a resource's password, met during the run
        assert ACTIVE.redact(line) == f"a {MASK} b {MASK} c {MASK}"
    finally:
        ACTIVE.remove(run)
        ACTIVE.set_process(None)
    assert ACTIVE.redact(line) == line


def test_active_redactors_without_secrets_change_nothing() -> None:
    empty, other = Redactor(), Redactor()
    ACTIVE.set_process(empty)
    ACTIVE.push(other)
    try:
        assert ACTIVE.redact("nothing to hide here") == "nothing to hide here"
    finally:
        ACTIVE.remove(other)
        ACTIVE.set_process(None)
