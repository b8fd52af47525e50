"""Canonical step outputs: JSON-safe conversion, the size cap, summaries."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import PurePosixPath

import pytest

from aetherflow.errors import StepError
from aetherflow.runner.outputs import canonical_json, normalize_outputs, summarize_outputs


def test_plain_outputs_pass_unchanged() -> None:
    out = {"n": 3, "ok": True, "items": ["a", {"b": None}], "x": 1.5}
    assert normalize_outputs(out, max_bytes=1000, what="s") == out


def test_special_values_follow_the_documented_rule() -> None:
    out = normalize_outputs(
        {
            "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "day": dt.date(2026, 1, 2),
            "amount": Decimal("12.50"),
            "raw": b"\x00\x01",
            "path": PurePosixPath("/data/x.csv"),
            "pair": (1, 2),
        },
        max_bytes=10_000,
        what="s",
    )
    assert out == {
        "when": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "amount": "12.50",
        "raw": "AAE=",
        "path": "/data/x.csv",
        "pair": [1, 2],
    }


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_with_their_location(bad: float) -> None:
    with pytest.raises(StepError, match=r"NaN or Infinity at stats\.values\[1\]"):
        normalize_outputs({"stats": {"values": [1.0, bad]}}, max_bytes=1000, what="step 's'")


def test_size_cap_counts_the_serialised_bytes() -> None:
    text = "é" * 400  # 800 bytes in UTF-8
    assert normalize_outputs({"t": text}, max_bytes=900, what="s") == {"t": text}
    with pytest.raises(StepError, match="more than AETHERFLOW_MAX_OUTPUT_BYTES=700"):
        normalize_outputs({"t": text}, max_bytes=700, what="s")


def test_non_dict_outputs_are_an_error() -> None:
    with pytest.raises(StepError, match="returned list; a step must return a dict"):
        normalize_outputs([1], max_bytes=100, what="step 's'")


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'


def test_summary_cuts_scalars_and_counts_containers() -> None:
    summary = summarize_outputs({"s": "x" * 300, "l": [1, 2, 3], "d": {"a": 1}, "n": 5})
    assert summary == {"s": "x" * 200 + "…", "l": 3, "d": 1, "n": 5}


def test_unknown_objects_are_refused_not_stringified() -> None:
    class Thing:
        pass

    with pytest.raises(StepError, match="Thing is not JSON-serialisable"):
        normalize_outputs({"x": Thing()}, max_bytes=1000, what="step 's'")


def test_mixed_key_types_are_refused() -> None:
    with pytest.raises(StepError, match="not JSON-serialisable"):
        normalize_outputs({"x": {1: "a", "b": 2}}, max_bytes=1000, what="step 's'")


@pytest.mark.parametrize(
    "outputs",
    [
        {"k" * 40: {"n" * 40: {"m" * 40: 1}}, "s": "é\\\n" * 5},
        {"rows": [[1, "a"], [2, None], [3.5, True]], "meta": {"cols": ["id", "name"]}},
        {"empty": {}, "list": [], "deep": [[[[{"x": "y"}]]]]},
    ],
)
def test_outputs_just_over_the_cap_are_refused(outputs: dict[str, object]) -> None:
    size = len(canonical_json(outputs).encode("utf-8"))
    assert normalize_outputs(outputs, max_bytes=size, what="step s") == outputs
    with pytest.raises(StepError, match="more than AETHERFLOW_MAX_OUTPUT_BYTES"):
        normalize_outputs(outputs, max_bytes=size - 1, what="step s")
