"""MySQL/MariaDB field types → logical column types (shared by ``db:mysql`` and
``db:sqlalchemy``).

PyMySQL's description carries ``(name, type_code, None, display_size, internal_size, scale,
null_ok)``; whether a string-like field is binary (``bytes``) or text (``str``) is only in the
field's character set (63 = binary), which PyMySQL keeps on the cursor's result. Without it such
columns are left untyped and inferred from values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aetherflow.runner.database import Column

BINARY_CHARSET = 63
UNSIGNED_FLAG = 32

_TYPES: dict[int, str] = {
    0: "decimal",  # DECIMAL
    1: "int",  # TINY
    2: "int",  # SHORT
    3: "int",  # LONG
    4: "float",  # FLOAT
    5: "float",  # DOUBLE
    7: "datetime",  # TIMESTAMP
    8: "int",  # LONGLONG
    9: "int",  # INT24
    10: "date",  # DATE
    11: "string",  # TIME (a duration in MySQL, delivered as HH:MM:SS text)
    12: "datetime",  # DATETIME
    13: "int",  # YEAR
    14: "date",  # NEWDATE
    16: "bytes",  # BIT
    245: "string",  # JSON
    246: "decimal",  # NEWDECIMAL
    247: "string",  # ENUM
    248: "string",  # SET
    255: "bytes",  # GEOMETRY
}
_STRINGISH = {15, 249, 250, 251, 252, 253, 254}  # VARCHAR, *BLOB, VAR_STRING, STRING
TIME_TYPE = 11


def decimal_precision(length: int, scale: int, unsigned: bool) -> int:
    """DECIMAL(M, D) precision M from the field's display length (sign and point included)."""
    return length - (1 if scale > 0 else 0) - (0 if unsigned else 1)


def mysql_column(description: Sequence[Any], field: Any = None) -> Column:
    """A :class:`Column` from a PyMySQL description entry and (optionally) its field packet."""
    name, type_code = str(description[0]), int(description[1])
    if type_code in _STRINGISH:
        if field is None:
            return Column(name)
        binary = getattr(field, "charsetnr", None) == BINARY_CHARSET
        return Column(name, "bytes" if binary else "string")
    kind = _TYPES.get(type_code)
    if kind == "decimal":
        scale = int(description[5] or 0)
        length = int(getattr(field, "length", None) or description[4] or 0)
        unsigned = bool(getattr(field, "flags", 0) & UNSIGNED_FLAG)
        precision = decimal_precision(length, scale, unsigned) if length else None
        return Column(name, kind, precision, scale)
    return Column(name, kind)


def mysql_columns(description: Sequence[Sequence[Any]], result: Any) -> list[Column]:
    """Columns for a whole description; ``result`` is PyMySQL's result object (its ``fields``
    hold the character sets), or None."""
    fields = list(getattr(result, "fields", None) or ())
    if len(fields) != len(description):
        fields = [None] * len(description)
    return [mysql_column(d, f) for d, f in zip(description, fields, strict=True)]


def abandon_unbuffered(cursor: Any) -> None:
    """Detach a PyMySQL unbuffered cursor whose connection is about to be dropped, so neither the
    cursor nor its result tries to drain the remaining rows when closed or collected (the MySQL
    protocol cannot stop a result; dropping the connection is the only cheap way out)."""
    result = getattr(cursor, "_result", None)
    if result is not None and hasattr(result, "unbuffered_active"):
        result.unbuffered_active = False
    if hasattr(cursor, "connection"):
        cursor.connection = None


def password_bytes(password: str | bytes | None) -> bytes:
    """A password as PyMySQL must send it: the UTF-8 bytes the server hashed at
    ``CREATE USER ... IDENTIFIED BY`` (PyMySQL encodes a ``str`` as latin-1, which fails or
    sends other bytes for any non-ASCII password)."""
    if isinstance(password, bytes):
        return password
    return (password or "").encode("utf-8")
