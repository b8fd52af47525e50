"""Dates, timestamps, Decimals and bytes in JSONL and Parquet on databases that type their
columns: Parquet keeps the types (int64 stays int64, ``NUMERIC(12,3)`` is ``decimal128(12, 3)``,
``timestamp[us]``, ``date32``, ``binary``), and JSONL values follow the encoding documented in
``aetherflow.steps.db_writers`` (Decimal: exact positional text with its scale; dates and
datetimes: ISO-8601 text; bytes: padded standard base64; booleans and numbers: JSON literals).

The table is the contract suite's typed table (``tests/contract/db_backends.py``) plus a row of
edge values.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.contract.db_backends import NULL_ROW, TYPED_COLUMNS, TYPED_ROW, Backend
from tests.integration.conftest import RunStep
from tests.integration.dbkit import db_params, outputs, read_jsonl, read_parquet

TYPED_BACKENDS = ("postgres", "duckdb", "mysql", "sqlalchemy-postgres", "sqlalchemy-mysql")
EDGE_ROW = (
    3,
    -0.25,
    Decimal("-1.500"),
    False,
    dt.date(1999, 12, 31),
    dt.datetime(2000, 1, 1),
    "",
    b"",
    None,
)
ROWS = (TYPED_ROW, NULL_ROW, EDGE_ROW)
ARROW_TYPES = {
    "int": "int64",
    "float": "double",
    "decimal": "decimal128(12, 3)",
    "bool": "bool",
    "date": "date32[day]",
    "datetime": "timestamp[us]",
    "string": "string",
    "bytes": "binary",
}


def create_typed(db: Any, backend: Backend, table: str) -> list[tuple[Any, ...]]:
    """The typed table with :data:`ROWS`; the rows as the database gives them back."""
    columns = ", ".join(f"{c} {backend.ddl[c]}" for c in TYPED_COLUMNS)
    db.execute(f"CREATE TABLE {table} ({columns})")
    insert = backend.insert_sql(table, TYPED_COLUMNS)
    for row in ROWS:
        db.execute(insert, backend.insert_params(TYPED_COLUMNS, row))
    return [tuple(None if v is None else backend.stored(v) for v in row) for row in ROWS]


def jsonl_value(value: Any) -> Any:
    """The documented JSONL encoding, written out independently of the code under test."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def extract(run_step: RunStep, table: str, fmt: str, engine: str = "auto") -> dict[str, Any]:
    """``db_extract`` of the typed table; its outputs."""
    return outputs(
        run_step(
            "db_extract",
            sql=f"SELECT {', '.join(TYPED_COLUMNS)} FROM {table} ORDER BY i",
            output=f"typed-{engine}.{fmt}",
            format=fmt,
            engine=engine,
            emit_dtypes=True,
        )
    )


def by_column(rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """Row tuples as ``{column: values}``."""
    return {name: [row[i] for row in rows] for i, name in enumerate(TYPED_COLUMNS)}


@pytest.mark.parametrize("backend", db_params(*TYPED_BACKENDS), indirect=True)
@pytest.mark.parametrize("engine", ["auto", "generic"])
def test_parquet_keeps_column_types_and_values(
    engine: str, backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    stored = create_typed(db, backend, table)
    out = extract(run_step, table, "parquet", engine)
    parquet = read_parquet(Path(out["output"]))
    expected_types = {c: ARROW_TYPES[backend.types[c] or "string"] for c in TYPED_COLUMNS}
    assert {f.name: str(f.type) for f in parquet.schema} == expected_types
    assert parquet.to_pydict() == by_column(stored)
    assert out["dtypes"] == {c: backend.types[c] for c in TYPED_COLUMNS}


@pytest.mark.parametrize("backend", db_params(*TYPED_BACKENDS), indirect=True)
def test_jsonl_values_follow_the_documented_encoding(
    backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    stored = create_typed(db, backend, table)
    out = extract(run_step, table, "jsonl")
    objects = read_jsonl(Path(out["output"]))
    assert objects == [
        {name: jsonl_value(value) for name, value in zip(TYPED_COLUMNS, row, strict=True)}
        for row in stored
    ]
    assert objects[0]["d"] == "1234.567"
    assert objects[2]["d"] == "-1.500"  # the scale is kept
    assert objects[0]["ts"] == "2024-02-29T13:45:30.123456"
    assert objects[0]["bin"] == "AAH/"


@pytest.mark.parametrize("backend", db_params("postgres"), indirect=True)
@pytest.mark.parametrize("engine", ["auto", "generic"])
def test_postgres_zoned_times_and_unconstrained_numeric(
    engine: str, backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    """``timestamptz`` is a UTC timestamp in Parquet and keeps its offset in JSONL; ``numeric``
    without a precision takes the largest scale of the values in the first batch (Arrow cannot
    type it, so the ADBC path steps aside)."""
    db.execute(f"CREATE TABLE {table} (id INTEGER, at TIMESTAMPTZ, t TIME, amount NUMERIC)")
    db.execute(
        f"INSERT INTO {table} VALUES (1, '2024-06-01 12:00:00+02', '23:59:59.5', 1.5), "
        "(2, NULL, NULL, 2.25), (3, '1999-12-31 23:00:00+00', '00:00:00', -7)"
    )
    sql = f"SELECT id, at, t, amount FROM {table} ORDER BY id"
    parquet_out = outputs(
        run_step("db_extract", sql=sql, output="z.parquet", format="parquet", engine=engine)
    )
    assert parquet_out["engine"] == "generic"
    parquet = read_parquet(Path(parquet_out["output"]))
    types = [str(t) for t in parquet.schema.types]
    assert types == ["int64", "timestamp[us, tz=UTC]", "time64[us]", "decimal128(38, 2)"]
    utc = dt.UTC
    assert parquet.column("at").to_pylist() == [
        dt.datetime(2024, 6, 1, 10, tzinfo=utc),
        None,
        dt.datetime(1999, 12, 31, 23, tzinfo=utc),
    ]
    assert parquet.column("amount").to_pylist() == [
        Decimal("1.50"),
        Decimal("2.25"),
        Decimal("-7.00"),
    ]
    jsonl_out = outputs(run_step("db_extract", sql=sql, output="z.jsonl", format="jsonl"))
    first = read_jsonl(Path(jsonl_out["output"]))[0]
    assert dt.datetime.fromisoformat(first["at"]) == dt.datetime(2024, 6, 1, 10, tzinfo=utc)
    assert first["t"] == "23:59:59.500000"
    assert first["amount"] == "1.5"
