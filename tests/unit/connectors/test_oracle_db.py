"""``db:oracledb`` against the python-oracledb API shape.

No Oracle server can run here, so these tests replace the ``oracledb`` module with a fake that
records calls and serves scripted results (the documented API: ``connect``, ``create_pool``,
``init_oracle_client``, cursors with ``arraysize``/``prefetchrows``/``outputtypehandler``/
``var``, ``FetchInfo`` descriptions, ``DB_TYPE_*`` constants, ``oracledb.Error``).
"""

from __future__ import annotations

import decimal
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from aetherflow.connectors import oracle_db
from aetherflow.connectors.oracle_db import OracleDB, oracle_column
from aetherflow.errors import ConnectorError, MissingDependency
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Database

PASSWORD = "tiger-Secret-9"


@dataclass(frozen=True)
class DbType:
    name: str


@dataclass(frozen=True)
class FetchInfo:
    name: str
    type_code: DbType
    precision: int = 0
    scale: int = 0


class OracleError(Exception):
    pass


@dataclass
class Script:
    """What the fake database answers: description and rows of the next query."""

    description: list[FetchInfo] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0
    fail: str | None = None


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.arraysize = 100
        self.prefetchrows = 2
        self.outputtypehandler: Any = None
        self.description: list[FetchInfo] | None = None
        self.rowcount = 0
        self.closed = False
        self.vars: dict[str, Any] = {}
        self._rows: list[tuple[Any, ...]] = []

    def var(self, kind: Any, arraysize: int) -> tuple[str, Any, int]:
        return ("var", kind, arraysize)

    def execute(self, sql: str, params: Any) -> None:
        script = self.conn.module.script
        self.conn.module.executed.append((sql, params, self.arraysize, self.prefetchrows))
        if script.fail:
            raise OracleError(script.fail)
        self.description = script.description or None
        for info in script.description:
            if self.outputtypehandler is not None:
                self.vars[info.name] = self.outputtypehandler(self, info)
        self._rows = list(script.rows)
        self.rowcount = script.rowcount

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        self.conn.module.fetch_sizes.append(size)
        batch, self._rows = self._rows[:size], self._rows[size:]
        return batch

    def close(self) -> None:
        self.closed = True
        self.conn.module.cursors_closed += 1


class FakeConnection:
    def __init__(self, module: Any, kwargs: dict[str, Any]) -> None:
        self.module = module
        self.kwargs = kwargs
        self.commits = 0
        self.rollbacks = 0
        self.closed = False

    def cursor(self) -> FakeCursor:
        cursor = FakeCursor(self)
        self.module.cursors.append(cursor)
        return cursor

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        self.closed = True


class FakePool:
    def __init__(self, module: Any, kwargs: dict[str, Any]) -> None:
        self.module = module
        self.kwargs = kwargs
        self.conn = FakeConnection(module, kwargs)
        self.acquired = 0
        self.released = 0
        self.closed_with: dict[str, Any] | None = None

    def acquire(self) -> FakeConnection:
        self.acquired += 1
        return self.conn

    def release(self, conn: FakeConnection) -> None:
        assert conn is self.conn
        self.released += 1

    def close(self, **kwargs: Any) -> None:
        self.closed_with = kwargs


def make_fake_oracledb() -> Any:
    module: Any = types.ModuleType("oracledb")
    for name in (
        "NUMBER",
        "VARCHAR",
        "DATE",
        "TIMESTAMP",
        "CLOB",
        "NCLOB",
        "BLOB",
        "LONG",
        "LONG_NVARCHAR",
        "LONG_RAW",
        "BINARY_DOUBLE",
        "BOOLEAN",
    ):
        setattr(module, f"DB_TYPE_{name}", DbType(f"DB_TYPE_{name}"))
    module.Error = OracleError
    module.script = Script()
    module.executed, module.fetch_sizes, module.cursors = [], [], []
    module.cursors_closed = 0
    module.pools, module.connections, module.thick = [], [], []
    module.connect_error = None

    def connect(**kwargs: Any) -> FakeConnection:
        if module.connect_error:
            raise OracleError(module.connect_error)
        conn = FakeConnection(module, kwargs)
        module.connections.append(conn)
        return conn

    def create_pool(**kwargs: Any) -> FakePool:
        if module.connect_error:
            raise OracleError(module.connect_error)
        pool = FakePool(module, kwargs)
        module.pools.append(pool)
        return pool

    module.connect = connect
    module.create_pool = create_pool
    module.init_oracle_client = lambda lib_dir=None: module.thick.append(lib_dir)
    return module


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fake ``oracledb`` module in ``sys.modules`` (and a fresh thick-mode state)."""
    module = make_fake_oracledb()
    monkeypatch.setitem(sys.modules, "oracledb", module)
    monkeypatch.setattr(oracle_db, "_thick_lib_dir", [])
    return module


@pytest.fixture
def make() -> Iterator[Any]:
    opened: list[OracleDB] = []

    def build(options: dict[str, Any] | None = None, **config: Any) -> OracleDB:
        base = {"user": "scott", "password": PASSWORD, "dsn": "dbhost:1521/svc"}
        init = ConnectorInit("ora", "db", "oracledb", {**base, **config}, options or {})
        connector = OracleDB(init)
        opened.append(connector)
        return connector

    yield build
    for connector in opened:
        connector.close()


def typed_script(fake: Any) -> None:
    fake.script = Script(
        description=[
            FetchInfo("ID", fake.DB_TYPE_NUMBER, 10, 0),
            FetchInfo("AMOUNT", fake.DB_TYPE_NUMBER, 12, 3),
            FetchInfo("RATIO", fake.DB_TYPE_NUMBER, 0, -127),
            FetchInfo("NAME", fake.DB_TYPE_VARCHAR),
            FetchInfo("CREATED", fake.DB_TYPE_DATE),
            FetchInfo("NOTES", fake.DB_TYPE_CLOB),
            FetchInfo("PAYLOAD", fake.DB_TYPE_BLOB),
            FetchInfo("SCORE", fake.DB_TYPE_BINARY_DOUBLE),
        ],
        rows=[(i, decimal.Decimal("1.500"), None, f"n{i}", None, "", b"", 0.5) for i in range(7)],
    )


def test_constructing_needs_neither_the_driver_nor_a_server(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "oracledb", None)
    connector = make()
    assert isinstance(connector, Database)
    with pytest.raises(MissingDependency, match=r"oracledb — pip install 'aetherflow\[db\]'"):
        connector.fetchall("SELECT 1 FROM DUAL")


def test_pool_is_created_once_with_the_configured_size(fake: Any, make: Any) -> None:
    fake.script = Script([FetchInfo("X", fake.DB_TYPE_NUMBER, 1, 0)], [(1,)])
    connector = make({"pool": {"size": 7}, "pool_size": 2})
    assert connector.fetchall("SELECT 1 x FROM DUAL") == (["X"], [(1,)])
    assert connector.fetchall("SELECT 1 x FROM DUAL") == (["X"], [(1,)])
    (pool,) = fake.pools
    assert pool.kwargs == {
        "user": "scott",
        "password": PASSWORD,
        "dsn": "dbhost:1521/svc",
        "min": 1,
        "max": 7,
        "increment": 1,
    }
    assert (pool.acquired, pool.released) == (2, 2)
    connector.close()
    connector.close()
    assert pool.closed_with == {"force": True}


def test_flat_pool_aliases_and_disabled_pool(fake: Any, make: Any) -> None:
    fake.script = Script([FetchInfo("X", fake.DB_TYPE_NUMBER, 1, 0)], [(1,)])
    make({"pool_size": 3}).fetchall("SELECT 1 FROM DUAL")
    assert fake.pools[0].kwargs["max"] == 3
    single = make({"pool_enabled": False})
    single.fetchall("SELECT 1 FROM DUAL")
    single.fetchall("SELECT 1 FROM DUAL")
    assert len(fake.connections) == 1
    assert fake.connections[0].kwargs == {
        "user": "scott",
        "password": PASSWORD,
        "dsn": "dbhost:1521/svc",
    }
    single.close()
    assert fake.connections[0].closed


def test_stream_types_batches_and_output_handler(fake: Any, make: Any) -> None:
    typed_script(fake)
    connector = make()
    with connector.stream("SELECT * FROM t WHERE id < :n", {"n": 9}, batch_size=3) as rows:
        sizes = [len(batch) for batch in rows.batches()]
        columns = rows.columns
    assert sizes == [3, 3, 1]
    assert columns == [
        Column("ID", "int"),
        Column("AMOUNT", "decimal", 12, 3),
        Column("RATIO", "decimal"),
        Column("NAME", "string"),
        Column("CREATED", "datetime"),
        Column("NOTES", "string"),
        Column("PAYLOAD", "bytes"),
        Column("SCORE", "float"),
    ]
    assert fake.executed == [("SELECT * FROM t WHERE id < :n", {"n": 9}, 3, 3)]
    cursor = fake.cursors[0]
    assert cursor.vars["AMOUNT"] == ("var", decimal.Decimal, 3)
    assert cursor.vars["RATIO"] == ("var", decimal.Decimal, 3)
    assert cursor.vars["NOTES"] == ("var", fake.DB_TYPE_LONG, 3)
    assert cursor.vars["PAYLOAD"] == ("var", fake.DB_TYPE_LONG_RAW, 3)
    assert cursor.vars["ID"] is None
    assert cursor.closed
    assert fake.pools[0].released == 1


def test_fetchall_uses_arraysize_and_legacy_fetchmany(fake: Any, make: Any) -> None:
    typed_script(fake)
    connector = make({"arraysize": 4})
    names, rows = connector.read("SELECT * FROM t")
    assert names[0] == "ID"
    assert len(rows) == 7
    assert fake.fetch_sizes[:2] == [4, 4]
    columns, iterator, pytypes = connector.fetchmany("SELECT * FROM t", None, fetch_size=5)
    assert columns[:2] == ["ID", "AMOUNT"]
    assert pytypes["AMOUNT"] is decimal.Decimal
    assert pytypes["NAME"] is str
    assert [row[0] for row in iterator] == list(range(7))
    assert fake.executed[-1][1] == {}


def test_execute_commits_and_returns_rowcount(fake: Any, make: Any) -> None:
    fake.script = Script(rowcount=5)
    connector = make()
    assert connector.execute("UPDATE t SET x = :x", {"x": 1}) == 5
    conn = fake.pools[0].conn
    assert (conn.commits, conn.rollbacks) == (1, 0)


def test_query_error_is_connector_error_and_rolls_back(fake: Any, make: Any) -> None:
    fake.script = Script(fail=f"ORA-00942: table or view does not exist (pw {PASSWORD})")
    connector = make()
    with pytest.raises(ConnectorError) as caught:
        connector.execute("DELETE FROM missing")
    message = str(caught.value)
    assert message.startswith("oracle resource 'ora': statement failed: ORA-00942")
    assert PASSWORD not in message
    assert fake.pools[0].conn.rollbacks == 1
    with pytest.raises(ConnectorError, match="ORA-00942"), connector.stream("SELECT * FROM x"):
        pass


def test_unreachable_server_is_connector_error_without_password(fake: Any, make: Any) -> None:
    fake.connect_error = (
        "DPY-6005: cannot connect to database (CONNECTION_ID=x). [Errno 111] Connection refused"
    )
    connector = make()
    with pytest.raises(ConnectorError) as caught:
        connector.fetchall("SELECT 1 FROM DUAL")
    assert str(caught.value) == (
        "cannot connect to oracle resource 'ora' at dbhost:1521/svc: connection refused"
    )
    assert PASSWORD not in repr(connector)


def test_thick_mode_initialises_once_per_process(fake: Any, make: Any) -> None:
    fake.script = Script([FetchInfo("X", fake.DB_TYPE_NUMBER, 1, 0)], [(1,)])
    make({"oracle": {"lib_dir": "/opt/instantclient"}}).fetchall("SELECT 1 FROM DUAL")
    make({"lib_dir": "/opt/other"}).fetchall("SELECT 1 FROM DUAL")
    assert fake.thick == ["/opt/instantclient"]


def test_check_pings_dual_and_connect_releases(fake: Any, make: Any) -> None:
    fake.script = Script([FetchInfo("1", fake.DB_TYPE_NUMBER, 1, 0)], [(1,)])
    connector = make()
    connector.check()
    assert fake.executed[0][0] == "SELECT 1 FROM DUAL"
    with connector.connect() as conn:
        assert conn is fake.pools[0].conn
    assert fake.pools[0].released == fake.pools[0].acquired == 2


def test_column_mapping_from_plain_tuples() -> None:
    number = DbType("DB_TYPE_NUMBER")
    assert oracle_column(("N", number, None, None, 5, 0, True)) == Column("N", "int")
    assert oracle_column(("M", number, None, None, 9, 2, True)) == Column("M", "decimal", 9, 2)
    assert oracle_column(("F", number, None, None, 0, -127, True)) == Column("F", "decimal")
    assert oracle_column(("T", DbType("DB_TYPE_TIMESTAMP_TZ"))) == Column("T", "datetime")
    assert oracle_column(("B", DbType("DB_TYPE_BOOLEAN"))) == Column("B", "bool")
    assert oracle_column(("R", DbType("DB_TYPE_ROWID"))) == Column("R", "string")


def test_dsn_is_required(fake: Any) -> None:
    with pytest.raises(ValueError, match=r"needs config\.dsn"):
        OracleDB(ConnectorInit("ora", "db", "oracledb", {"user": "u"}, {}))
