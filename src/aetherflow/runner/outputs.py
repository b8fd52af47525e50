"""Canonical step outputs: JSON-safe, deterministic bytes, size-capped.

Fresh outputs go through the same JSON round trip as outputs restored from state, so a template
sees identical values whether the producing step ran in this process or in an earlier one
(dates, Decimals, bytes and paths follow :mod:`aetherflow.templating.text`'s documented rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from aetherflow.errors import StepError
from aetherflow.templating.text import sorted_json, strict_json_default


def canonical_json(value: Any) -> str:
    """Serialise with sorted keys, no spaces, UTF-8 text, no NaN/Infinity.

    Raises:
        ValueError: NaN or Infinity, or a value with a circular reference.
    """
    return sorted_json(value, strict_json_default)


def _find_non_finite(value: Any, path: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(root)"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_non_finite(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_non_finite(item, f"{path}[{index}]")
            if found:
                return found
    return None


_SCALARS = (str, int, bool, type(None))


def _plain_size(value: Any, budget: int) -> int:
    """Upper bound of the JSON size of ``value`` if it is plain JSON data, else -1.

    Plain means: str keys, and str/int/bool/None/finite float/list/dict values only — what
    JSON round-trips unchanged. Stops early (returns -1) once ``budget`` is exceeded.
    """
    if isinstance(value, str):
        return 6 * len(value) + 2  # worst case: every character escaped as \uXXXX
    if isinstance(value, _SCALARS):
        return 24
    if isinstance(value, float):
        return 32 if math.isfinite(value) else -1
    if isinstance(value, dict):
        return _dict_size(value, budget)
    if not isinstance(value, list):
        return -1
    return _items_size(value, budget, 2)


def _dict_size(value: dict[Any, Any], budget: int) -> int:
    """:func:`_plain_size` of a dict: its keys count like strings (and ``:``)."""
    keys = 0
    for key in value:
        if not isinstance(key, str):
            return -1
        keys += 6 * len(key) + 3
    return _items_size(value.values(), budget, 2 + keys)


def _items_size(items: Iterable[Any], budget: int, total: int) -> int:
    """``total`` plus the sizes of ``items`` with their separators; -1 past ``budget``."""
    for item in items:
        size = _item_size(item, budget - total)
        if size < 0:
            return -1
        total += size
        if total > budget:
            return -1
    return total


def _item_size(item: Any, budget: int) -> int:
    """:func:`_plain_size` of a container's item with its separator; strings and the
    fixed-size scalars without recursing (most outputs are flat)."""
    if isinstance(item, str):
        return 6 * len(item) + 3
    if isinstance(item, _SCALARS):
        return 25
    size = _plain_size(item, budget)
    return -1 if size < 0 else size + 1


def normalize_outputs(outputs: Any, *, max_bytes: int, what: str) -> dict[str, Any]:
    """Return ``outputs`` as canonical JSON data, enforcing the size cap.

    Args:
        outputs: The mapping a step returned (or its promoted outputs).
        max_bytes: ``AETHERFLOW_MAX_OUTPUT_BYTES``.
        what: Names the producer in messages (``step 'pull' of job 'extract'``).

    Raises:
        StepError: Not a mapping, not JSON-serialisable, NaN/Infinity, or too large.
    """
    if not isinstance(outputs, dict):
        raise StepError(
            f"{what} returned {type(outputs).__name__}; a step must return a dict, a StepResult "
            "or None"
        )
    if 0 <= _plain_size(outputs, max_bytes) <= max_bytes:
        # Already plain JSON data well within the cap: the round trip would return an equal
        # copy, so skip it (the hot path of every step).
        return outputs
    try:
        text = canonical_json(outputs)
    except (TypeError, ValueError) as exc:
        where = _find_non_finite(outputs, "")
        detail = f"NaN or Infinity at {where}" if where else str(exc)
        raise StepError(
            f"{what} outputs are not JSON-serialisable: {detail}; return dicts, lists, strings, "
            "numbers, booleans, None (dates, Decimals, bytes and paths are converted)"
        ) from exc
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise StepError(
            f"{what} outputs are {size} bytes, more than AETHERFLOW_MAX_OUTPUT_BYTES="
            f"{max_bytes}; write large data to an artifact file and output its path instead"
        )
    result: dict[str, Any] = json.loads(text)
    return result


_CONTAINERS = (dict, list)


def summarize_outputs(outputs: dict[str, Any] | None, *, limit: int = 200) -> dict[str, Any]:
    """The ``outputs_summary`` of ``step_end``: scalars cut to ``limit`` chars, containers as
    their length."""
    summary: dict[str, Any] = {}
    for key, value in (outputs or {}).items():
        if isinstance(value, _CONTAINERS):
            summary[key] = len(value)
        elif isinstance(value, str) and len(value) > limit:
            summary[key] = value[:limit] + "…"
        else:
            summary[key] = value
    return summary
