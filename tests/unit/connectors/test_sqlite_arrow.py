"""``db:sqlite3`` Arrow batches (ADBC): typed by storage class, faithful to ``stream()``, and
``NotImplementedError`` whenever they could not be (mixed storage classes, in-memory databases,
named parameters, repeated names) — on real SQLite files."""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.connectors import sqlite_db
from aetherflow.connectors.sqlite_db import SQLiteDB, integer_columns, storage_classes, subquery
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import ArrowSource, StagedBatches, arrow_matches_stream


@pytest.fixture
def pa() -> Any:
    pytest.importorskip("adbc_driver_sqlite")
    return importlib.import_module("pyarrow")


def connector(path: Path | str) -> SQLiteDB:
    return SQLiteDB(ConnectorInit("src", "db", "sqlite3", {"path": str(path)}))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteDB]:
    path = tmp_path / "a.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (i INTEGER, f REAL, s TEXT, b BLOB, n TEXT, v)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
        [(k, k / 4, f"s{k}", bytes([k]), None, k) for k in range(10)],
    )
    conn.commit()
    conn.close()
    connection = connector(path)
    yield connection
    connection.close()


def read(db: SQLiteDB, sql: str, params: Any = None, batch_size: int = 4) -> tuple[Any, list[Any]]:
    with db.arrow_batches(sql, params, batch_size=batch_size) as (schema, batches):
        return schema, list(batches)


def test_the_connector_offers_batches_that_match_its_rows(db: SQLiteDB) -> None:
    assert isinstance(db, ArrowSource)
    assert arrow_matches_stream(db)


def test_types_are_storage_classes_and_values_equal_stream(db: SQLiteDB, pa: Any) -> None:
    sql = "SELECT * FROM t ORDER BY i"
    schema, batches = read(db, sql)
    assert schema.names == ["i", "f", "s", "b", "n", "v"]
    assert schema.types == [
        pa.int64(),
        pa.float64(),
        pa.string(),
        pa.binary(),
        pa.null(),
        pa.int64(),
    ]
    assert [b.num_rows for b in batches] == [4, 4, 2]
    rows = [tuple(r.values()) for b in batches for r in b.to_pylist()]
    with db.stream(sql) as stream:
        assert rows == [row for batch in stream.batches() for row in batch]


def test_positional_parameters_and_an_empty_result(db: SQLiteDB, pa: Any) -> None:
    _, batches = read(db, "SELECT i, s FROM t WHERE i BETWEEN ? AND ? AND s <> ?", [2, 3, "s2"])
    assert [b.to_pylist() for b in batches] == [[{"i": 3, "s": "s3"}]]
    schema, batches = read(db, "SELECT i, s FROM t WHERE i < ?;", [0])
    assert (batches, schema.types) == ([], [pa.null(), pa.null()])


@pytest.mark.parametrize(
    ("sql", "params", "reason"),
    [
        ("SELECT i FROM t WHERE i < :top", {"top": 3}, "by position"),
        ("SELECT i FROM t WHERE i < ?", [True], "parameters only"),
        ("SELECT i, i FROM t", None, "repeated column names"),
        ("PRAGMA table_info(t)", None, "cannot be wrapped"),
        ("SELECT nope FROM t", None, "cannot be wrapped"),
    ],
)
def test_what_adbc_cannot_run_as_given_is_not_implemented(
    db: SQLiteDB, pa: Any, sql: str, params: Any, reason: str
) -> None:
    with pytest.raises(NotImplementedError, match=reason):
        read(db, sql, params)


def test_an_in_memory_database_is_not_implemented(pa: Any) -> None:
    with pytest.raises(NotImplementedError, match="in-memory"):
        read(connector(":memory:"), "SELECT 1")


def _mixed_table(tmp_path: Path, values: list[Any]) -> SQLiteDB:
    """A table ``p (k INTEGER, v)`` holding ``values`` in ``v``, in order of ``k``."""
    path = tmp_path / "p.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE p (k INTEGER, v)")
    conn.executemany("INSERT INTO p VALUES (?, ?)", list(enumerate(values)))
    conn.commit()
    conn.close()
    return connector(path)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.5] * 5 + [2], "holds real and integer values"),
        (["a"] * 5 + [2.5], "holds text and real values"),
        (["a", b"\x01"], "holds blob and text values"),  # ADBC typed the column binary
        ([None] * 5 + [7], "NULL throughout the first batch"),
        ([None] * 5 + ["x"], "ADBC stopped reading"),
        ([1] * 5 + ["x"], "ADBC stopped reading"),
    ],
)
def test_a_value_arrow_would_convert_raises_while_reading(
    tmp_path: Path, pa: Any, values: list[Any], message: str
) -> None:
    with pytest.raises(NotImplementedError, match=message):
        read(_mixed_table(tmp_path, values), "SELECT k, v FROM p ORDER BY k")


def test_integer_only_columns_are_left_out_of_the_storage_check(db: SQLiteDB) -> None:
    """The probe found i and v integer only: the typeof() marker covers f, s, b and n."""
    with db.arrow_batches("SELECT * FROM t ORDER BY i", batch_size=4) as (_, batches):
        assert isinstance(batches, StagedBatches)
        raw = next(batches.raw)
    assert raw.num_columns == 7
    assert set(raw.column(6).to_pylist()) == {"realtextblobnull"}


def test_a_query_with_integer_columns_only_runs_unwrapped(db: SQLiteDB, pa: Any) -> None:
    with db.arrow_batches("SELECT i, v FROM t ORDER BY i", batch_size=4) as (schema, batches):
        raw = next(batches.raw)
        rest = list(batches)
    assert raw.num_columns == 2  # no marker column
    assert schema.types == [pa.int64(), pa.int64()]
    assert sum(b.num_rows for b in rest) == 6


def test_a_column_integer_in_the_probe_but_not_in_the_first_batch_is_refused(
    tmp_path: Path, pa: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_db, "PROBE_ROWS", 2)  # the probe sees 1, 2; ADBC's batch 1, 2, 2.5
    db = _mixed_table(tmp_path, [1, 2, 2.5, 3])
    with pytest.raises(NotImplementedError, match="held only integers in the probe"):
        read(db, "SELECT k, v FROM p ORDER BY k", batch_size=4)


def test_a_probe_over_its_budget_checks_every_column(
    tmp_path: Path, pa: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_db, "PROBE_BUDGET", 0)  # gives up at the first tick
    monkeypatch.setattr(sqlite_db, "_PROBE_TICK", 1)
    db = _mixed_table(tmp_path, [1, 2, 3, 4])
    with db.arrow_batches("SELECT k, v FROM p ORDER BY k", batch_size=2) as (schema, batches):
        raw = next(batches.raw)
        assert set(raw.column(2).to_pylist()) == {"integerinteger"}  # both columns checked
        assert [b.to_pylist() for b in [batches.finish(raw), *batches]] == [
            [{"k": 0, "v": 1}, {"k": 1, "v": 2}],
            [{"k": 2, "v": 3}, {"k": 3, "v": 4}],
        ]
    assert schema.names == ["k", "v"]
    with pytest.raises(NotImplementedError, match="cannot be wrapped"):
        read(db, "SELECT nope FROM p")  # an error of the query, not of the budget


def test_integer_columns() -> None:
    rows = [(1, 1.5, None, "a", 2), (None, 2, None, 3, True)]
    assert integer_columns(rows, 5) == {0}  # a bool is not an integer SQLite returns
    assert integer_columns([], 3) == set()


def test_leaving_early_closes_cleanly(db: SQLiteDB) -> None:
    with db.arrow_batches("SELECT * FROM t", batch_size=2) as (_, batches):
        assert next(iter(batches)).num_rows == 2
    assert db.fetchall("SELECT count(*) FROM t") == (["count(*)"], [(10,)])


def test_batches_are_checked_on_the_consumers_side(db: SQLiteDB, pa: Any) -> None:
    """Reading (ADBC, on a read-ahead thread) hands out the raw batches with the typeof()
    column; the check and conversion run in ``finish``, on the consumer's thread."""
    with db.arrow_batches("SELECT i, s, n FROM t", batch_size=4) as (schema, batches):
        assert isinstance(batches, StagedBatches)
        raw = next(batches.raw)
        assert raw.num_columns == 4  # i, s, n and the storage classes
        finished = batches.finish(raw)
    assert finished.schema == schema
    assert finished.num_columns == 3
    assert finished.column(0).to_pylist() == [0, 1, 2, 3]
    assert finished.column(2).type == pa.null()


def test_storage_classes_and_subquery() -> None:
    assert storage_classes("integerrealtextblobnull") == ["integer", "real", "text", "blob", "null"]
    with pytest.raises(ValueError, match="not a typeof"):
        storage_classes("integerbogus")
    assert subquery(" SELECT 1 ;; \n") == "(\nSELECT 1\n)"
