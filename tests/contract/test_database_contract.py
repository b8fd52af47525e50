"""The ``Database`` contract, run against every built-in database connector.

One suite, every backend (see ``db_backends.py``): SQLite and DuckDB files, PostgreSQL and MariaDB
on loopback, SQLAlchemy over SQLite and over PostgreSQL. The optional capabilities (Arrow batches,
``COPY`` CSV, native export) are tested on the backends that offer them.
"""

from __future__ import annotations

import csv
import decimal
import gc
import io
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import ConnectorError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.connectors import instantiate
from aetherflow.runner.database import (
    ArrowSource,
    CsvCopyOptions,
    CsvCopySource,
    Database,
    NativeExportSource,
)
from aetherflow.runtime.registry import Registry
from tests.contract.db_backends import (
    BACKENDS,
    NULL_ROW,
    PG_URL,
    SECRET,
    TYPED_COLUMNS,
    TYPED_ROW,
    Backend,
    backend_params,
    require_service,
)

MakeDb = Callable[..., Any]
MiB = 1024 * 1024


def _with(capability: str) -> list[Any]:
    return [p for p in backend_params() if capability in BACKENDS[p.values[0]].capabilities]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend under test (skips or fails when its server is down, see db_backends)."""
    chosen = BACKENDS[request.param]
    require_service(chosen)
    return chosen


@pytest.fixture
def make_db(backend: Backend, registry: Registry, tmp_path: Path) -> Iterator[MakeDb]:
    """Creates connectors of the backend through the registry; closes them afterwards."""
    opened: list[Any] = []

    def make(
        config: dict[str, Any] | None = None,
        name: str = "wh",
        options: dict[str, Any] | None = None,
    ) -> Any:
        cls = registry.connector("db", backend.driver)
        init = ConnectorInit(
            name=name,
            kind="db",
            driver=backend.driver,
            config=config if config is not None else backend.make_config(tmp_path),
            options={**backend.options, **(options or {})},
        )
        connector = instantiate(cls, init)
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        connector.close()


@pytest.fixture
def db(make_db: MakeDb) -> Any:
    """One connector of the backend under test."""
    return make_db()


@pytest.fixture
def table(db: Any) -> Iterator[str]:
    """A unique table name, dropped after the test."""
    name = f"af_contract_{uuid.uuid4().hex[:12]}"
    yield name
    db.execute(f"DROP TABLE IF EXISTS {name}")


def _create_typed(db: Any, backend: Backend, table: str) -> None:
    columns = ", ".join(f"{c} {backend.ddl[c]}" for c in TYPED_COLUMNS)
    db.execute(f"CREATE TABLE {table} ({columns})")
    insert = backend.insert_sql(table, TYPED_COLUMNS)
    for row in (TYPED_ROW, NULL_ROW):
        assert db.execute(insert, backend.insert_params(TYPED_COLUMNS, row)) == 1


def _create_strings(db: Any, table: str, rows: list[tuple[int, str | None]]) -> None:
    db.execute(f"CREATE TABLE {table} (id INTEGER, s VARCHAR(40))")
    for row_id, text in rows:
        literal = "NULL" if text is None else "'" + text.replace("'", "''") + "'"
        db.execute(f"INSERT INTO {table} (id, s) VALUES ({row_id}, {literal})")


def _stream_all(db: Any, sql: str, params: Any = None, batch_size: int = 5000) -> list[Any]:
    with db.stream(sql, params, batch_size=batch_size) as rows:
        return [row for batch in rows.batches() for row in batch]


def test_connector_is_a_database_with_its_capabilities(db: Any, backend: Backend) -> None:
    assert isinstance(db, Database)
    assert isinstance(db, ArrowSource) == ("arrow" in backend.capabilities)
    assert isinstance(db, CsvCopySource) == ("copy" in backend.capabilities)
    assert isinstance(db, NativeExportSource) == ("native" in backend.capabilities)


def test_columns_have_names_and_logical_types(db: Any, backend: Backend, table: str) -> None:
    _create_typed(db, backend, table)
    with db.stream(f"SELECT * FROM {table} ORDER BY i") as rows:
        columns = rows.columns
    assert [c.name for c in columns] == list(TYPED_COLUMNS)
    assert {c.name: c.type for c in columns} == dict(backend.types)
    decimal_column = columns[TYPED_COLUMNS.index("d")]
    if backend.types["d"] == "decimal":
        assert (decimal_column.precision, decimal_column.scale) == (12, 3)


def test_values_round_trip_with_nulls(db: Any, backend: Backend, table: str) -> None:
    _create_typed(db, backend, table)
    rows = _stream_all(db, f"SELECT * FROM {table} ORDER BY i")
    expected = tuple(v if v is None else backend.stored(v) for v in TYPED_ROW)
    assert rows == [expected, NULL_ROW]
    assert all(type(row) is tuple for row in rows)
    decimal_value = rows[0][TYPED_COLUMNS.index("d")]
    if backend.types["d"] == "decimal":
        assert decimal_value == decimal.Decimal("1234.567")
        assert isinstance(decimal_value, decimal.Decimal)


def test_batches_respect_batch_size(db: Any, backend: Backend) -> None:
    with db.stream(backend.series(10), batch_size=3) as rows:
        sizes = [len(batch) for batch in rows.batches()]
    assert sizes == [3, 3, 3, 1]
    with db.stream(backend.series(10), batch_size=10) as rows:
        assert [len(batch) for batch in rows.batches()] == [10]


def test_batch_size_must_be_positive(db: Any, backend: Backend) -> None:
    with pytest.raises(ValueError, match="batch_size"), db.stream(backend.series(3), batch_size=0):
        pass


def _peak_bytes(db: Any, sql: str) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        with db.stream(sql, batch_size=1000) as rows:
            for batch in rows.batches():
                count += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def test_stream_memory_does_not_grow_with_rows(db: Any, backend: Backend) -> None:
    _peak_bytes(db, backend.series(2000))  # connection, imports and caches warmed up
    small_rows, small_peak = _peak_bytes(db, backend.series(20_000))
    big_rows, big_peak = _peak_bytes(db, backend.series(200_000))
    assert (small_rows, big_rows) == (20_000, 200_000)
    # 200k materialised rows take ~25 MiB of Python objects; one 1000-row batch ~150 KiB.
    assert big_peak < 8 * MiB, f"peak {big_peak / MiB:.1f} MiB for 200k rows"
    assert big_peak < 2 * small_peak + MiB, f"{small_peak=} {big_peak=}"


@pytest.mark.parametrize("backend", _with("server-cursor"), indirect=True)
def test_postgres_streams_through_a_server_side_cursor(make_db: MakeDb, backend: Backend) -> None:
    """libpq's result buffer is C memory tracemalloc cannot see: check the protocol instead."""
    import psycopg

    tag = f"af-contract-{uuid.uuid4().hex[:8]}"
    if backend.driver == "postgres":
        db = make_db(options={"application_name": tag})
    else:
        db = make_db(options={"connect_args": {"application_name": tag}})
    with db.stream(backend.series(100_000), batch_size=250) as rows:
        batches = rows.batches()
        assert len(next(batches)) == 250
        with psycopg.connect(PG_URL, autocommit=True) as observer:
            queries = observer.execute(
                "SELECT query FROM pg_stat_activity WHERE application_name = %s", (tag,)
            ).fetchall()
    assert len(queries) == 1
    assert queries[0][0].startswith("FETCH FORWARD ")


def test_params_in_driver_paramstyle(db: Any, backend: Backend) -> None:
    for sql, params in backend.param_queries:
        assert _stream_all(db, sql, params) == [(3,), (5,)], sql
        assert db.fetchall(sql, params) == (["id"], [(3,), (5,)])


def test_execute_returns_rowcount_and_commits(
    db: Any, make_db: MakeDb, backend: Backend, table: str
) -> None:
    db.execute(f"CREATE TABLE {table} (id INTEGER, label VARCHAR(20))")
    insert = backend.insert_sql(table, ("id", "label"))
    for row_id in (1, 2, 3):
        assert db.execute(insert, backend.insert_params(("id", "label"), (row_id, "x"))) == 1
    assert db.execute(f"UPDATE {table} SET label = 'y' WHERE id >= 2") == 2
    other = make_db(name="other")  # its own connection sees only committed rows
    assert other.fetchall(f"SELECT id, label FROM {table} ORDER BY id") == (
        ["id", "label"],
        [(1, "x"), (2, "y"), (3, "y")],
    )
    other.close()
    assert db.execute(f"DELETE FROM {table}") == 3


def test_fetchall_and_read(db: Any, backend: Backend) -> None:
    expected = (["id", "label"], [(1, "row-1"), (2, "row-2"), (3, "row-3")])
    assert db.fetchall(backend.series(3)) == expected
    assert db.read(backend.series(3)) == expected


def test_legacy_fetchmany_streams_with_python_types(db: Any, backend: Backend) -> None:
    columns, rows, pytypes = db.fetchmany(backend.series(7), None, fetch_size=3, sample_size=2)
    assert columns == ["id", "label"]
    assert pytypes == {"id": int, "label": str}
    assert list(rows) == [(i, f"row-{i}") for i in range(1, 8)]
    assert db.fetchall(backend.series(1)) == (["id", "label"], [(1, "row-1")])


def test_legacy_fetchmany_iterator_dropped_unread(db: Any, backend: Backend) -> None:
    _, rows, _ = db.fetchmany(backend.series(50_000), fetch_size=100)
    del rows
    gc.collect()
    assert db.fetchall(backend.series(2)) == (["id", "label"], [(1, "row-1"), (2, "row-2")])


def test_usable_after_finished_stream(db: Any, backend: Backend) -> None:
    assert len(_stream_all(db, backend.series(5))) == 5
    assert len(_stream_all(db, backend.series(4))) == 4
    assert db.fetchall(backend.series(1)) == (["id", "label"], [(1, "row-1")])


def test_usable_after_abandoned_stream(db: Any, backend: Backend, table: str) -> None:
    with db.stream(backend.series(100_000), batch_size=10) as rows:
        first = next(iter(rows.batches()))
    assert first[0] == (1, "row-1")
    db.execute(f"CREATE TABLE {table} (id INTEGER)")
    assert db.execute(f"INSERT INTO {table} (id) VALUES (7)") == 1
    assert db.fetchall(f"SELECT id FROM {table}") == (["id"], [(7,)])


def test_close_is_idempotent_and_reconnects(db: Any, backend: Backend) -> None:
    assert db.fetchall(backend.series(1))[1] == [(1, "row-1")]
    db.close()
    db.close()
    assert db.fetchall(backend.series(2))[1] == [(1, "row-1"), (2, "row-2")]


def test_bad_sql_raises_connector_error_with_driver_text(db: Any, backend: Backend) -> None:
    missing = f"no_such_table_{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConnectorError) as caught, db.stream(f"SELECT * FROM {missing}"):
        pass
    message = str(caught.value)
    assert missing in message
    assert message.startswith(f"{db.family} resource 'wh': query failed: ")
    with pytest.raises(ConnectorError, match=missing):
        db.execute(f"DELETE FROM {missing}")
    assert db.fetchall(backend.series(1))[1] == [(1, "row-1")]


def test_unreachable_database_raises_connector_error_without_password(
    make_db: MakeDb, backend: Backend, tmp_path: Path
) -> None:
    db = make_db(backend.unreachable(tmp_path))
    assert SECRET not in repr(db)
    with pytest.raises(ConnectorError) as caught:
        db.fetchall(backend.series(1))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to {db.family} resource 'wh' at ")
    assert SECRET not in message
    if backend.service is not None:
        assert "at 127.0.0.1:1: connection refused" in message
    else:
        assert "no-such-dir" in message


# -- optional capabilities ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", _with("engine"), indirect=True)
def test_legacy_engine_and_connect(db: Any, backend: Backend, table: str) -> None:
    """The predecessor's SQLAlchemy API: ``engine()`` (cached) and ``connect()`` (a committed
    transaction)."""
    import sqlalchemy

    assert db.engine() is db.engine()
    with db.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE TABLE {table} (id INTEGER)"))
        conn.execute(sqlalchemy.text(f"INSERT INTO {table} (id) VALUES (1), (2)"))
    assert db.fetchall(f"SELECT id FROM {table} ORDER BY id") == (["id"], [(1,), (2,)])


@pytest.mark.parametrize("backend", _with("arrow"), indirect=True)
def test_arrow_batches_equal_row_stream(db: Any, backend: Backend, table: str) -> None:
    _create_typed(db, backend, table)
    sql = f"SELECT * FROM {table} ORDER BY i"
    with db.arrow_batches(sql) as (schema, batches):
        arrow_rows = [tuple(row.values()) for batch in batches for row in batch.to_pylist()]
    assert schema.names == list(TYPED_COLUMNS)
    if backend.types["d"] == "decimal":  # SQLite stores it as REAL
        assert str(schema.field("d").type) == "decimal128(12, 3)"
    assert arrow_rows == _stream_all(db, sql)


@pytest.mark.parametrize("backend", _with("arrow"), indirect=True)
def test_arrow_batches_respect_batch_size_and_params(db: Any, backend: Backend) -> None:
    sql, params = backend.param_queries[0]
    with db.arrow_batches(sql, params) as (_, batches):
        assert [b.to_pylist() for b in batches] == [[{"id": 3}, {"id": 5}]]
    with db.arrow_batches(backend.series(10), batch_size=4) as (_, batches):
        assert [b.num_rows for b in batches] == [4, 4, 2]


@pytest.mark.parametrize("backend", _with("copy"), indirect=True)
def test_copy_csv_writes_the_query_as_csv(db: Any, table: str) -> None:
    rows = [(1, "a;b"), (2, 'say "hi"'), (3, None), (4, "line\nbreak"), (5, "it's")]
    _create_strings(db, table, rows)
    out = io.BytesIO()
    sql = f"SELECT id, s FROM {table} WHERE id >= %s AND s IS DISTINCT FROM %s ORDER BY id"
    count = db.copy_csv(sql, (2, "it's"), out, CsvCopyOptions(delimiter=";"))
    assert count == 3
    assert out.getvalue() == b'id;s\n2;"say ""hi"""\n3;\n4;"line\nbreak"\n'
    parsed = list(csv.reader(io.StringIO(out.getvalue().decode()), delimiter=";"))
    assert parsed == [["id", "s"], ["2", 'say "hi"'], ["3", ""], ["4", "line\nbreak"]]


@pytest.mark.parametrize("backend", _with("copy"), indirect=True)
def test_copy_csv_refuses_what_the_database_cannot_write(db: Any, backend: Backend) -> None:
    out = io.BytesIO()
    with pytest.raises(NotImplementedError, match="line"):
        db.copy_csv(backend.series(2), None, out, CsvCopyOptions(line_terminator="\r\n"))
    with pytest.raises(NotImplementedError, match="encoding"):
        db.copy_csv(backend.series(2), None, out, CsvCopyOptions(encoding="utf-16"))
    assert out.getvalue() == b""


@pytest.mark.parametrize("backend", _with("native"), indirect=True)
def test_export_native_csv_and_parquet(db: Any, backend: Backend, tmp_path: Path) -> None:
    sql, params = backend.param_queries[0]
    target = tmp_path / "out.csv"
    options = CsvCopyOptions(delimiter="|", line_terminator="\r\n")
    assert db.export_native(sql, params, str(target), "csv", options) == 2
    assert target.read_bytes() == b"id\r\n3\r\n5\r\n"
    target = tmp_path / "out.parquet"
    assert db.export_native(backend.series(5), None, str(target), "parquet", None) == 5
    assert target.read_bytes()[:4] == b"PAR1"
    # Read back by the database itself (importing pyarrow.parquet here would leak into
    # tests that make pyarrow unimportable).
    assert db.fetchall(f"SELECT * FROM read_parquet('{target}') ORDER BY id") == (
        ["id", "label"],
        [(i, f"row-{i}") for i in range(1, 6)],
    )
    with pytest.raises(NotImplementedError):
        db.export_native(backend.series(5), None, str(tmp_path / "x.json"), "json", None)
