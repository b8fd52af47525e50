"""PostgreSQL type OIDs → logical column types (shared by ``db:postgres`` and ``db:sqlalchemy``).

Types without a logical counterpart (json, uuid, arrays, intervals, ranges, network types, ...)
are ``string``; :func:`text_loaders` makes psycopg return them as PostgreSQL's own text output,
so their values are ``str`` as the contract requires.
"""

from __future__ import annotations

import codecs
from typing import Any

from aetherflow.runner.database import Column

OID_TYPES: dict[int, str] = {
    16: "bool",
    17: "bytes",
    18: "string",  # "char"
    19: "string",  # name
    20: "int",  # int8
    21: "int",  # int2
    23: "int",  # int4
    25: "string",  # text
    26: "int",  # oid
    700: "float",  # float4
    701: "float",  # float8
    1042: "string",  # bpchar
    1043: "string",  # varchar
    1082: "date",
    1083: "time",
    1114: "datetime",  # timestamp
    1184: "datetime",  # timestamptz
    1266: "time",  # timetz
    1700: "decimal",  # numeric
}
"""OIDs psycopg loads into the Python type of their logical type; every other OID is text."""

NUMERIC_OID = 1700


def numeric_typmod(typmod: int) -> tuple[int | None, int | None]:
    """``(precision, scale)`` of a ``numeric`` type modifier (None, None when unconstrained)."""
    if typmod < 4:
        return None, None
    value = typmod - 4
    return (value >> 16) & 0xFFFF, value & 0xFFFF


def postgres_column(description: Any) -> Column:
    """A :class:`Column` from a psycopg description entry (``name``, ``type_code``,
    ``precision``, ``scale`` attributes, as psycopg 3 and psycopg2 both offer)."""
    name = str(getattr(description, "name", None) or description[0])
    type_code = getattr(description, "type_code", None)
    if type_code is None:
        type_code = description[1]
    kind = OID_TYPES.get(int(type_code), "string") if type_code is not None else None
    if kind == "decimal":
        precision = getattr(description, "precision", None)
        scale = getattr(description, "scale", None)
        return Column(name, kind, precision, scale)
    return Column(name, kind)


def text_loaders(adapters: Any, psycopg: Any) -> None:
    """Register psycopg's text loader for every built-in type outside :data:`OID_TYPES`
    (and every array type) on ``adapters`` (a connection's or cursor's adapters map)."""
    text_loader = psycopg.types.string.TextLoader
    for info in psycopg.postgres.types:
        if info.oid not in OID_TYPES:
            adapters.register_loader(info.oid, text_loader)
        array_oid = getattr(info, "array_oid", 0)
        if array_oid:
            adapters.register_loader(array_oid, text_loader)


def copy_encoding(encoding: str) -> str | None:
    """PostgreSQL's name for a Python codec name, or None when not mapped."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return None
    return {
        "utf-8": "UTF8",
        "iso8859-1": "LATIN1",
        "iso8859-15": "LATIN9",
        "cp1252": "WIN1252",
        "cp1250": "WIN1250",
        "cp1251": "WIN1251",
    }.get(name)
