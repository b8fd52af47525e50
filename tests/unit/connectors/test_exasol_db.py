"""``db:exasol`` against the pyexasol API shape.

No Exasol server can run here, so these tests replace the ``pyexasol`` module with a fake that
records calls and serves scripted results (the documented API: ``connect(**kwargs)`` with a
``fetch_mapper``, ``ExaConnection.execute(query, query_params)`` returning an ``ExaStatement``
with ``column_names()``, ``columns()``, ``fetchmany(n)``, ``rowcount()``, ``close()``, and
``pyexasol.ExaError``). Values pass through the connector's ``fetch_mapper`` as they would in
pyexasol, so the mapping of WebSocket values is tested too.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from aetherflow.connectors.exasol_db import ExasolDB, exasol_value
from aetherflow.errors import ConnectorError, MissingDependency
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Database

PASSWORD = "exa-Secret-77"
COLUMNS = {
    "ID": {"type": "DECIMAL", "precision": 18, "scale": 0},
    "AMOUNT": {"type": "DECIMAL", "precision": 12, "scale": 3},
    "RATE": {"type": "DOUBLE"},
    "OK": {"type": "BOOLEAN"},
    "DAY": {"type": "DATE"},
    "AT": {"type": "TIMESTAMP"},
    "NAME": {"type": "VARCHAR", "size": 20, "characterSet": "UTF8"},
    "SPAN": {"type": "INTERVAL DAY TO SECOND"},
}
RAW_ROW = (
    "42",
    "1234.567",
    0.25,
    True,
    "2024-02-29",
    "2024-02-29 13:45:30.123456789",
    "x",
    "+01 02:03:04.000",
)


class ExaError(Exception):
    pass


class FakeStatement:
    def __init__(self, module: Any, mapper: Any, columns: dict[str, Any], rows: list[Any]):
        self.module = module
        self.mapper = mapper
        self._columns = columns
        self._rows = rows
        self.closed = False

    def column_names(self) -> list[str]:
        return list(self._columns)

    def columns(self) -> dict[str, Any]:
        return dict(self._columns)

    def fetchmany(self, size: int = 10000) -> list[tuple[Any, ...]]:
        self.module.fetch_sizes.append(size)
        batch, self._rows = self._rows[:size], self._rows[size:]
        types_ = list(self._columns.values())
        return [tuple(self.mapper(v, t) for v, t in zip(row, types_, strict=True)) for row in batch]

    def rowcount(self) -> int:
        return self.module.rowcount

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self, module: Any, kwargs: dict[str, Any]) -> None:
        self.module = module
        self.kwargs = kwargs
        self.is_closed = False
        self.commits = 0

    def execute(self, query: str, query_params: Any = None) -> FakeStatement:
        self.module.executed.append((query, query_params))
        if self.module.fail:
            raise ExaError(self.module.fail)
        columns = self.module.columns if query.lstrip().upper().startswith("SELECT") else {}
        statement = FakeStatement(
            self.module, self.kwargs["fetch_mapper"], columns, list(self.module.rows)
        )
        self.module.statements.append(statement)
        return statement

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        self.is_closed = True


def make_fake_pyexasol() -> Any:
    module: Any = types.ModuleType("pyexasol")
    module.ExaError = ExaError
    module.connections, module.executed, module.statements, module.fetch_sizes = [], [], [], []
    module.columns, module.rows, module.rowcount = dict(COLUMNS), [RAW_ROW] * 5, 0
    module.fail = None
    module.connect_error = None

    def connect(**kwargs: Any) -> FakeConnection:
        if module.connect_error:
            raise ExaError(module.connect_error)
        conn = FakeConnection(module, kwargs)
        module.connections.append(conn)
        return conn

    module.connect = connect
    return module


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fake ``pyexasol`` module in ``sys.modules``."""
    module = make_fake_pyexasol()
    monkeypatch.setitem(sys.modules, "pyexasol", module)
    return module


@pytest.fixture
def make() -> Iterator[Any]:
    opened: list[ExasolDB] = []

    def build(options: dict[str, Any] | None = None, **config: Any) -> ExasolDB:
        base = {"dsn": "exa1:8563", "user": "sys", "password": PASSWORD}
        connector = ExasolDB(
            ConnectorInit("exa", "db", "exasol", {**base, **config}, options or {})
        )
        opened.append(connector)
        return connector

    yield build
    for connector in opened:
        connector.close()


def test_constructing_needs_neither_the_driver_nor_a_server(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyexasol", None)
    connector = make()
    assert isinstance(connector, Database)
    with pytest.raises(MissingDependency, match=r"pyexasol — pip install 'aetherflow\[db\]'"):
        connector.fetchall("SELECT 1")


def test_connect_arguments(fake: Any, make: Any) -> None:
    connector = make(
        {"timeout": 15, "compression": True, "query_timeout": 60, "unrelated": 1}, schema="ETL"
    )
    connector.fetchall("SELECT 1")
    (conn,) = fake.connections
    assert conn.kwargs == {
        "dsn": "exa1:8563",
        "user": "sys",
        "password": PASSWORD,
        "schema": "ETL",
        "fetch_mapper": exasol_value,
        "connection_timeout": 15,
        "socket_timeout": 15,
        "compression": True,
        "query_timeout": 60,
    }


def test_stream_columns_values_and_batches(fake: Any, make: Any) -> None:
    connector = make()
    with connector.stream("SELECT * FROM t WHERE id > {lo}", {"lo": 1}, batch_size=2) as rows:
        batches = list(rows.batches())
        columns = rows.columns
    assert [len(b) for b in batches] == [2, 2, 1]
    assert columns == [
        Column("ID", "int"),
        Column("AMOUNT", "decimal", 12, 3),
        Column("RATE", "float"),
        Column("OK", "bool"),
        Column("DAY", "date"),
        Column("AT", "datetime"),
        Column("NAME", "string"),
        Column("SPAN", "string"),
    ]
    assert batches[0][0] == (
        42,
        decimal.Decimal("1234.567"),
        0.25,
        True,
        dt.date(2024, 2, 29),
        dt.datetime(2024, 2, 29, 13, 45, 30, 123456),
        "x",
        "+01 02:03:04.000",
    )
    assert fake.executed == [("SELECT * FROM t WHERE id > {lo}", {"lo": 1})]
    assert fake.statements[0].closed


def test_one_connection_is_reused_and_closed_once(fake: Any, make: Any) -> None:
    connector = make()
    connector.fetchall("SELECT 1")
    connector.read("SELECT 1")
    with connector.connect() as conn:
        assert conn is connector.connect_raw()
    assert len(fake.connections) == 1
    assert not fake.connections[0].is_closed
    connector.close()
    connector.close()
    assert fake.connections[0].is_closed
    connector.fetchall("SELECT 1")
    assert len(fake.connections) == 2


def test_legacy_fetchmany(fake: Any, make: Any) -> None:
    columns, rows, pytypes = make().fetchmany("SELECT * FROM t", None, fetch_size=3)
    assert columns[:3] == ["ID", "AMOUNT", "RATE"]
    assert pytypes["AMOUNT"] is decimal.Decimal
    assert pytypes["DAY"] is dt.date
    assert len(list(rows)) == 5


def test_execute_rowcount_and_commit_when_not_autocommit(fake: Any, make: Any) -> None:
    fake.rowcount = 4
    assert make().execute("DELETE FROM t WHERE id < {n!d}", {"n": 3}) == 4
    assert fake.connections[0].commits == 0
    assert make({"autocommit": False}).execute("DELETE FROM t") == 4
    assert fake.connections[1].kwargs["autocommit"] is False
    assert fake.connections[1].commits == 1


def test_positional_params_are_refused(fake: Any, make: Any) -> None:
    with pytest.raises(ConnectorError, match=r"pass a mapping"):
        make().execute("DELETE FROM t WHERE id = {0}", (1,))


def test_query_error_is_connector_error(fake: Any, make: Any) -> None:
    fake.fail = "object T not found [line 1, column 15] (Session: 1)"
    with pytest.raises(ConnectorError) as caught, make().stream("SELECT * FROM t"):
        pass
    assert str(caught.value).startswith("exasol resource 'exa': query failed: object T not found")


def test_unreachable_server_is_connector_error_without_password(fake: Any, make: Any) -> None:
    fake.connect_error = f"Could not connect to Exasol: [Errno 111] Connection refused {PASSWORD}"
    connector = make()
    with pytest.raises(ConnectorError) as caught:
        connector.check()
    assert str(caught.value) == (
        "cannot connect to exasol resource 'exa' at exa1:8563: connection refused"
    )
    assert PASSWORD not in repr(connector)


def test_value_mapping_keeps_nulls_and_unknown_types() -> None:
    assert exasol_value(None, {"type": "DECIMAL", "scale": 2}) is None
    assert exasol_value("7", {"type": "DECIMAL", "scale": 0}) == 7
    assert exasol_value("2024-01-02 03:04:05", {"type": "TIMESTAMP"}) == dt.datetime(
        2024, 1, 2, 3, 4, 5
    )
    assert exasol_value("abc", {"type": "HASHTYPE"}) == "abc"
