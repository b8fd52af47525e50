"""Conversion of values to text and to JSON-compatible data, shared by rendering and outputs.

One documented rule for values JSON has no type for (used by inline template rendering, step
output serialisation and event fields):

========================  =========================================
Python value              JSON / text form
========================  =========================================
``bool``                  ``true`` / ``false``
``None``                  ``null`` (inline text: empty string)
``datetime``              ISO-8601 (``2026-01-02T03:04:05.123456+00:00``)
``date`` / ``time``       ISO-8601 (``2026-01-02``, ``03:04:05``)
``Decimal``               its exact decimal string (``"12.50"``), never a float
``bytes``                 base64 text (standard alphabet, padded)
``pathlib.PurePath``      ``str(path)``
``set`` / ``frozenset``   sorted list
``Enum``                  its value
anything else             ``str(value)``
========================  =========================================
"""

from __future__ import annotations

import base64
import datetime as _dt
import enum
import json
from collections.abc import Callable
from decimal import Decimal
from json import encoder as _json_encoder
from pathlib import PurePath
from typing import Any


def json_default(value: Any) -> Any:
    """``json.dumps`` ``default=`` hook implementing the rule in the module docstring."""
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


_DOCUMENTED = (
    _dt.datetime,
    _dt.date,
    _dt.time,
    Decimal,
    bytes,
    bytearray,
    memoryview,
    PurePath,
    set,
    frozenset,
    enum.Enum,
)


def strict_json_default(value: Any) -> Any:
    """Like :func:`json_default`, but refuses types outside the documented rule.

    Step outputs use this: an arbitrary object silently turned into ``str(obj)`` would not
    round-trip and would hide a bug in the step.

    Raises:
        TypeError: The value has no documented JSON form.
    """
    if isinstance(value, _DOCUMENTED) or hasattr(value, "model_dump"):
        return json_default(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _no_default(value: Any) -> Any:
    # The message json.JSONEncoder.default raises.
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_C_ENCODER: Any = getattr(_json_encoder, "c_make_encoder", None)  # not in the type stubs
_ENCODE_STR: Any = _json_encoder.encode_basestring


_Encoder = Callable[[Any, int], Any]
_ENCODERS: dict[tuple[Callable[[Any], Any] | None, bool, bool, bool], _Encoder] = {}
"""C encoders by (default, sort_keys, allow_nan, compact): built once, shared by every call
and thread (an encoder without a circular-reference table keeps no state between calls)."""
_MAX_ENCODERS = 32
_SEPARATORS = {True: (",", ":"), False: (", ", ": ")}
"""(item, key) separators, compact or not."""


def json_text(
    value: Any,
    default: Callable[[Any], Any] | None = None,
    *,
    sort_keys: bool = False,
    allow_nan: bool = True,
    compact: bool = True,
) -> str:
    """``json.dumps(value, ensure_ascii=False, ...)`` with these options (``compact``: the
    separators ``,`` and ``:``; otherwise ``, `` and ``: ``): the same text and the same errors,
    cheaper.

    ``json.dumps`` with arguments builds a ``JSONEncoder`` per call, which costs more than
    encoding a step's outputs or an event's fields; this reuses one C encoder per set of
    options, without the table of containers being encoded that ``json.dumps`` keeps to detect
    a circular reference: a circular value recurses until Python's recursion limit, and that
    is reported as the error ``json.dumps`` gives. Falls back to ``json.dumps`` where the C
    accelerator is missing.

    Raises:
        TypeError: A value has no JSON form (and ``default`` does not give one).
        ValueError: NaN or Infinity with ``allow_nan=False``, or a circular reference (or a
            value nested deeper than the recursion limit).
    """
    if not value and type(value) is dict:
        return "{}"  # no outputs, nothing promoted: the most common value of all
    if _C_ENCODER is None:  # pragma: no cover - CPython always ships the accelerator
        return json.dumps(
            value,
            sort_keys=sort_keys,
            separators=_SEPARATORS[compact],
            ensure_ascii=False,
            allow_nan=allow_nan,
            default=default,
        )
    key = (default, sort_keys, allow_nan, compact)
    encode = _ENCODERS.get(key)
    if encode is None:
        encode = _new_encoder(default, sort_keys, allow_nan, compact)
        if len(_ENCODERS) < _MAX_ENCODERS:  # a default made per call must not grow the cache
            _ENCODERS[key] = encode
    try:
        return "".join(encode(value, 0))
    except RecursionError as exc:
        raise ValueError("Circular reference detected") from exc


def _new_encoder(
    default: Callable[[Any], Any] | None, sort_keys: bool, allow_nan: bool, compact: bool
) -> _Encoder:
    item_sep, key_sep = _SEPARATORS[compact]
    encoder: _Encoder = _C_ENCODER(
        None,  # no circular-reference table: see json_text
        default or _no_default,
        _ENCODE_STR,
        None,
        key_sep,
        item_sep,
        sort_keys,
        False,
        allow_nan,
    )
    return encoder


def sorted_json(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False, default=default)`` (see :func:`json_text`).

    Raises:
        TypeError: A value has no JSON form (and ``default`` does not give one).
        ValueError: NaN or Infinity, or a circular reference.
    """
    return json_text(value, default, sort_keys=True, allow_nan=False)


def compact_json(value: Any) -> str:
    """Serialise ``value`` as compact JSON (no spaces, non-ASCII kept; :func:`json_default`)."""
    return json_text(value, json_default)


def to_text(value: Any) -> str:
    """Convert a value to the text used when a token is embedded in a longer string.

    Booleans render ``true``/``false``, None renders empty, lists and dicts render as compact
    JSON (not Python repr), everything else follows :func:`json_default`.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict | list | tuple):
        return compact_json(value)
    converted = json_default(value)
    return converted if isinstance(converted, str) else compact_json(converted)
