"""The data steps against a real SQLite database (stdlib ``sqlite3``), through a tiny local
``Database`` adapter defined here (the built-in ``db:sqlite3`` connector is tested on its own)."""

from __future__ import annotations

import csv
import importlib
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runner.connector import ConnectorBase, ConnectorInit
from aetherflow.runner.database import Column, Database, Params, Row
from aetherflow.runtime.registry import Registry
from tests.unit.steps.db_harness import DbRun, make_db_runner


# pyarrow is imported by fixtures, not at module import: tests/unit/runtime/test_deps.py makes
# it unimportable and expects ``pyarrow.parquet`` not to be loaded yet when it runs.
@pytest.fixture
def pa() -> Any:
    return importlib.import_module("pyarrow")


@pytest.fixture
def pq() -> Any:
    return importlib.import_module("pyarrow.parquet")


class _Result:
    def __init__(self, cursor: sqlite3.Cursor, batch_size: int) -> None:
        self._cursor = cursor
        self._size = batch_size

    @property
    def columns(self) -> list[Column]:
        return [Column(d[0]) for d in self._cursor.description or ()]

    def batches(self) -> Iterator[list[Row]]:
        while batch := self._cursor.fetchmany(self._size):
            yield batch


class SqliteAdapter(ConnectorBase):
    """``Database`` over ``sqlite3`` (config ``path``); column types left to the step."""

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.conn = sqlite3.connect(str(self.config["path"]))

    @contextmanager
    def stream(self, sql: str, params: Params = None, *, batch_size: int = 5000) -> Iterator[Any]:
        cursor = self.conn.execute(sql, params or ())
        try:
            yield _Result(cursor, batch_size)
        finally:
            cursor.close()

    def execute(self, sql: str, params: Params = None) -> int:
        with self.conn:
            return self.conn.execute(sql, params or ()).rowcount

    def fetchall(self, sql: str, params: Params = None) -> tuple[list[str], list[Row]]:
        cursor = self.conn.execute(sql, params or ())
        return [d[0] for d in cursor.description or ()], cursor.fetchall()

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE orders (id INTEGER, customer TEXT, amount REAL, note TEXT, paid INTEGER);
        """
    )
    rows: list[tuple[Any, ...]] = [
        (i, f"customer {i % 7}", i * 1.25, None, i % 2) for i in range(1, 1001)
    ]
    rows[3] = (4, 'Smith, "Jr."', 5.0, "line1\nline2\tcol", 0)
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def run(tmp_path: Path, registry: Registry, database: Path) -> DbRun:
    registry.add_connector("db", "sqlite_adapter", SqliteAdapter, origin="test", replace=True)
    go = make_db_runner(tmp_path, registry)
    resources = {
        "shop": {"kind": "db", "driver": "sqlite_adapter", "config": {"path": str(database)}}
    }

    def with_shop(step_type: str, inputs: dict[str, Any], **kw: Any) -> Any:
        return go(step_type, inputs, resources=resources, **kw)

    return with_shop


def test_the_adapter_is_a_database() -> None:
    assert issubclass(SqliteAdapter, ConnectorBase)
    adapter = SqliteAdapter(ConnectorInit("x", "db", "sqlite_adapter", {"path": ":memory:"}))
    try:
        assert isinstance(adapter, Database)
    finally:
        adapter.close()


def test_tsv_extract_reads_back_exactly(run: DbRun) -> None:
    ran = run(
        "db_extract_stream",
        {
            "resource": "shop",
            "sql": "SELECT id, customer, amount, note FROM orders ORDER BY id",
            "output": "orders.tsv",
            "fetch_size": 64,
        },
    )
    assert ran.step.outputs is not None, ran.step.error
    assert ran.step.outputs["row_count"] == 1000
    text = (ran.artifacts / "orders.tsv").read_text()
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t"))
    assert rows[0] == ["id", "customer", "amount", "note"]
    assert rows[4] == ["4", 'Smith, "Jr."', "5.0", "line1\nline2\tcol"]
    assert rows[1] == ["1", "customer 1", "1.25", ""]
    assert len(rows) == 1001


def test_params_and_emit_dtypes(run: DbRun) -> None:
    ran = run(
        "db_extract_stream",
        {
            "resource": "shop",
            "sql": "SELECT id, customer AS v FROM orders WHERE id <= ? ORDER BY id",
            "params": [3],
            "output": "o.csv",
            "format": "csv",
            "delimiter": "|",
            "linefeed": "\r\n",
            "emit_dtypes": True,
        },
    )
    assert ran.step.outputs is not None, ran.step.error
    assert ran.step.outputs["dtypes"] == {"id": "int", "v": "string"}
    assert (ran.artifacts / "o.csv").read_bytes() == (
        b"id|v\r\n1|customer 1\r\n2|customer 2\r\n3|customer 3\r\n"
    )


def test_parquet_keeps_integers_and_floats(run: DbRun, pa: Any, pq: Any) -> None:
    ran = run(
        "db_extract_stream",
        {
            "resource": "shop",
            "sql": "SELECT id, amount, note, paid FROM orders ORDER BY id",
            "output": "o.parquet",
            "format": "parquet",
            "fetch_size": 100,
        },
    )
    assert ran.step.outputs is not None, ran.step.error
    table = pq.read_table(ran.artifacts / "o.parquet")
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.int64()]
    assert table.num_rows == 1000
    assert table.column("note").to_pylist()[3] == "line1\nline2\tcol"
    assert table.column("amount").to_pylist()[:2] == [1.25, 2.5]


def test_db_extract_jsonl_and_fetch_small(run: DbRun) -> None:
    ran = run(
        "db_extract",
        {
            "resource": "shop",
            "sql": "SELECT id, note FROM orders WHERE id IN (1, 4) ORDER BY id",
            "output": "o.jsonl",
            "format": "jsonl",
        },
    )
    assert ran.step.outputs is not None, ran.step.error
    lines = (ran.artifacts / "o.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 1, "note": None},
        {"id": 4, "note": "line1\nline2\tcol"},
    ]
    small = run(
        "db_fetch_small",
        {"resource": "shop", "sql": "SELECT id, amount FROM orders WHERE id < 3 ORDER BY id"},
    )
    assert small.step.outputs is not None, small.step.error
    assert small.step.outputs["rows"] == [[1, 1.25], [2, 2.5]]
    assert small.step.outputs["dtypes"] == {"id": "int", "amount": "float"}


def test_expectations_and_skip_against_sqlite(run: DbRun) -> None:
    failed = run(
        "db_extract_stream",
        {
            "resource": "shop",
            "sql": "SELECT id FROM orders",
            "output": "o.tsv",
            "expect": {"max_rows": 10, "columns": ["id", "customer"]},
        },
    )
    assert failed.step.error is not None
    assert failed.step.error.message.startswith("db_extract_stream: 2 expectation(s) failed")
    skipped = run(
        "db_extract_stream",
        {
            "resource": "shop",
            "sql": "SELECT id FROM orders WHERE id < 0",
            "output": "o.tsv",
            "skip_if_empty": True,
        },
        on_no_data="continue",
    )
    assert skipped.step.status.value == "SKIPPED"


def test_sql_error_is_a_connector_error(run: DbRun) -> None:
    ran = run("db_fetch_small", {"resource": "shop", "sql": "SELECT nope FROM orders"})
    assert ran.step.error is not None
    assert ran.step.error.cls == "ConnectorError"
    assert ran.step.error.message == (
        "resource 'shop': the query failed: OperationalError: no such column: nope"
    )
