"""The PostgreSQL fast paths' pure parts: the ``COPY ... TO STDOUT`` statement and the Arrow
schema fix-up for ADBC results (``numeric`` arrives as opaque text and becomes ``decimal128``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aetherflow.connectors.dbapi import query_body
from aetherflow.connectors.postgres_types import copy_encoding, numeric_typmod
from aetherflow.runner.database import CsvCopyOptions
from aetherflow.runtime.deps import require

MAX_DECIMAL128_PRECISION = 38


def copy_statement(query: str, options: CsvCopyOptions, sql: Any) -> Any:
    """``COPY (query) TO STDOUT WITH (FORMAT csv, ...)`` as a psycopg ``Composed``.

    Args:
        query: The query with its parameters already bound (client side).
        options: The CSV dialect to reproduce.
        sql: The ``psycopg.sql`` module.

    Raises:
        NotImplementedError: Options PostgreSQL's CSV writer cannot reproduce (a line terminator
            other than ``\\n``, a multi-character delimiter or quote, an unmapped encoding).
    """
    if options.line_terminator != "\n":
        raise NotImplementedError("PostgreSQL COPY ends lines with \\n only")
    if len(options.delimiter) != 1 or len(options.quotechar) != 1:
        raise NotImplementedError("PostgreSQL COPY needs a one-character delimiter and quote")
    encoding = copy_encoding(options.encoding)
    if encoding is None:
        raise NotImplementedError(f"no PostgreSQL encoding for {options.encoding!r}")
    template = sql.SQL(
        "COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER {}, DELIMITER {}, QUOTE {}, ESCAPE {}, "
        "NULL {}, ENCODING {})"
    )
    return template.format(
        sql.SQL(query_body(query)),
        sql.SQL("true" if options.header else "false"),
        sql.Literal(options.delimiter),
        sql.Literal(options.quotechar),
        sql.Literal(options.quotechar),
        sql.Literal(options.null),
        sql.Literal(encoding),
    )


def _metadata(field: Any, key: bytes) -> str | None:
    value = (field.metadata or {}).get(key)
    return value.decode() if isinstance(value, bytes) else None


def arrow_plan(schema: Any, pa: Any) -> tuple[Any, list[Callable[[Any], Any] | None]]:
    """The schema to hand out and, per column, a conversion of ADBC's arrays.

    ``numeric(p, s)`` (opaque text in ADBC) becomes ``decimal128(p, s)``; other opaque types
    become their text storage.

    Raises:
        NotImplementedError: An unconstrained ``numeric`` column (no precision to give Arrow).
    """
    fields: list[Any] = []
    converters: list[Callable[[Any], Any] | None] = []
    for field in schema:
        storage = getattr(field.type, "storage_type", None)
        pg_type = _metadata(field, b"POSTGRESQL:type")
        if pg_type == "numeric":
            precision, scale = numeric_typmod(int(_metadata(field, b"POSTGRESQL:typmod") or -1))
            if precision is None or scale is None:
                raise NotImplementedError(
                    f"column {field.name!r} is numeric without precision; Arrow needs one"
                )
            target = (
                pa.decimal128(precision, scale)
                if precision <= MAX_DECIMAL128_PRECISION
                else pa.decimal256(precision, scale)
            )
            fields.append(pa.field(field.name, target, field.nullable))
            converters.append(_cast_storage(target, pa))
        elif storage is not None:
            fields.append(pa.field(field.name, storage, field.nullable))
            converters.append(_storage)
        else:
            fields.append(pa.field(field.name, field.type, field.nullable))
            converters.append(None)
    return pa.schema(fields), converters


def _storage(array: Any) -> Any:
    return array.storage


def _cast_storage(target: Any, pa: Any) -> Callable[[Any], Any]:
    compute = require("pyarrow.compute")

    def cast(array: Any) -> Any:
        return compute.cast(array.storage, target)

    return cast


def arrow_batches(
    reader: Any,
    schema: Any,
    converters: list[Callable[[Any], Any] | None],
    batch_size: int,
    pa: Any,
) -> Iterator[Any]:
    """ADBC's batches converted to ``schema`` and split to at most ``batch_size`` rows."""
    for raw in reader:
        arrays = [
            convert(raw.column(i)) if convert else raw.column(i)
            for i, convert in enumerate(converters)
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        for offset in range(0, batch.num_rows, batch_size):
            yield batch.slice(offset, batch_size)
