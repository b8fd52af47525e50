"""Registration of the built-in database connectors, missing drivers, and the type mappers."""

from __future__ import annotations

import datetime as dt
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from aetherflow.connectors import register_builtin_connectors
from aetherflow.connectors.dbapi import BatchStream, time_text, to_text
from aetherflow.connectors.duckdb_db import csv_copy_options, duckdb_column
from aetherflow.connectors.mysql_types import mysql_column, mysql_columns
from aetherflow.connectors.postgres_db import PostgresDB
from aetherflow.connectors.postgres_types import numeric_typmod, postgres_column
from aetherflow.errors import MissingDependency
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, CsvCopyOptions
from aetherflow.runtime.registry import Registry

DB_DRIVERS = ["duckdb", "exasol", "mysql", "oracledb", "postgres", "sqlalchemy", "sqlite3"]


def test_builtin_database_connectors_are_registered_as_builtin() -> None:
    registry = Registry()
    register_builtin_connectors(registry)
    register_builtin_connectors(registry)  # idempotent
    entries = {key: entry for key, entry in registry.connectors.items() if key[0] == "db"}
    assert sorted(driver for _, driver in entries) == DB_DRIVERS
    assert {entry.origin for entry in entries.values()} == {"builtin"}
    requires = {driver: entry.cls.requires for (_, driver), entry in entries.items()}
    assert requires == {
        "duckdb": ("duckdb",),
        "exasol": ("pyexasol",),
        "mysql": ("pymysql",),
        "oracledb": ("oracledb",),
        "postgres": ("psycopg",),
        "sqlalchemy": ("sqlalchemy",),
        "sqlite3": (),
    }


@pytest.mark.parametrize(
    ("driver", "module", "config", "extra"),
    [
        ("postgres", "psycopg", {"url": "postgresql://h/db"}, "postgres"),
        ("mysql", "pymysql", {"url": "mysql://h/db"}, "mysql"),
        ("duckdb", "duckdb", {}, "duckdb"),
        ("sqlalchemy", "sqlalchemy", {"url": "sqlite://"}, "db"),
    ],
)
def test_missing_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, driver: str, module: str, config: dict[str, Any], extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    registry = Registry()
    register_builtin_connectors(registry)
    connector = registry.connector("db", driver)(ConnectorInit("res", "db", driver, config, {}))
    with pytest.raises(MissingDependency) as caught:
        connector.fetchall("SELECT 1")
    assert str(caught.value) == (
        f"connector db:{driver} ('res') needs {module} — pip install 'aetherflow[{extra}]'"
    )


def test_postgres_arrow_without_adbc_is_not_implemented(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both names: another test may have imported the real driver already.
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql", None)
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)
    connector = PostgresDB(ConnectorInit("wh", "db", "postgres", {"url": "postgresql://h/db"}, {}))
    with (
        pytest.raises(NotImplementedError, match=r"aetherflow\[arrow\]"),
        connector.arrow_batches("SELECT 1"),
    ):
        pass


def test_postgres_column_types() -> None:
    def desc(oid: int, precision: int | None = None, scale: int | None = None) -> Any:
        return SimpleNamespace(name="c", type_code=oid, precision=precision, scale=scale)

    assert postgres_column(desc(1700, 12, 3)) == Column("c", "decimal", 12, 3)
    assert postgres_column(desc(20)) == Column("c", "int")
    assert postgres_column(desc(1184)) == Column("c", "datetime")
    assert postgres_column(desc(114)) == Column("c", "string")  # json arrives as text
    assert postgres_column(("t", 25)) == Column("t", "string")
    assert numeric_typmod(655366) == (10, 2)
    assert numeric_typmod(-1) == (None, None)


def test_mysql_column_types() -> None:
    field = SimpleNamespace(charsetnr=63, length=12, flags=0)
    assert mysql_column(("d", 246, None, 12, 12, 2, True), field) == Column("d", "decimal", 10, 2)
    unsigned = SimpleNamespace(charsetnr=63, length=11, flags=32)
    assert mysql_column(("u", 246, None, 11, 11, 2, True), unsigned) == Column(
        "u", "decimal", 10, 2
    )
    text = SimpleNamespace(charsetnr=45, length=40, flags=0)
    assert mysql_column(("s", 253, None, 40, 40, 0, True), text) == Column("s", "string")
    assert mysql_column(("b", 252, None, 10, 10, 0, True), field) == Column("b", "bytes")
    assert mysql_column(("x", 253, None, 10, 10, 0, True)) == Column("x")  # charset unknown
    assert mysql_column(("t", 11, None, 10, 10, 0, True)) == Column("t", "string")
    assert mysql_columns([("a", 3), ("b", 8)], None) == [Column("a", "int"), Column("b", "int")]


def test_duckdb_column_types_from_text() -> None:
    assert duckdb_column("a", "BIGINT") == Column("a", "int")
    assert duckdb_column("b", "TIMESTAMP WITH TIME ZONE") == Column("b", "datetime")
    assert duckdb_column("c", "INTEGER[]") == Column("c", "string")


def test_duckdb_csv_options() -> None:
    options = CsvCopyOptions(delimiter="\t", quotechar="'", header=False, null="NULL")
    assert csv_copy_options(options) == (
        "FORMAT csv, HEADER false, DELIMITER '\t', QUOTE '''', ESCAPE '''', NULL 'NULL', "
        "NEW_LINE '\\n'"
    )
    with pytest.raises(NotImplementedError, match="UTF-8"):
        csv_copy_options(CsvCopyOptions(encoding="latin-1"))


def test_to_text_and_time_text() -> None:
    assert to_text({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert to_text(b"abc") == "abc"
    assert to_text(dt.timedelta(hours=25, seconds=1)) == "25:00:01"
    assert time_text(-dt.timedelta(minutes=1, microseconds=5)) == "-00:01:00.000005"


def test_batch_stream_infers_unknown_types_from_first_batch() -> None:
    rows = [(None, "a"), (2, "b"), (3, "c")]

    def fetch(size: int) -> list[tuple[Any, ...]]:
        batch = rows[:size]
        del rows[:size]
        return batch

    stream = BatchStream([Column("n"), Column("s", "string")], fetch, 2)
    assert stream.columns == [Column("n", "int"), Column("s", "string")]
    assert list(stream.batches()) == [[(None, "a"), (2, "b")], [(3, "c")]]
    assert stream.exhausted
    assert stream.rows_read == 3
