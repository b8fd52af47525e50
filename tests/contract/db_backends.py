"""The database backends the ``Database`` contract suite runs against.

Each :class:`Backend` says how to configure its connector, how its SQL spells the few things the
suite needs (column types, a generated series, parameter placeholders) and what the contract
promises for it (logical types, capabilities). Server backends (PostgreSQL on 127.0.0.1:5432,
MariaDB on 127.0.0.1:3306) skip when the server is unreachable — unless
``AETHERFLOW_TEST_REQUIRE_SERVICES=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
SECRET = "s3cret-Pw0rd"

# The typed table every backend creates: column → logical type it holds.
TYPED_COLUMNS = ("i", "f", "d", "b", "dt", "ts", "s", "bin", "n")
TYPED_ROW = (
    1,
    1.5,
    decimal.Decimal("1234.567"),
    True,
    dt.date(2024, 2, 29),
    dt.datetime(2024, 2, 29, 13, 45, 30, 123456),
    'héllo, "world"',
    b"\x00\x01\xff",
    None,
)
NULL_ROW = (2, None, None, None, None, None, None, None, None)


def _sqlite_value(value: Any) -> Any:
    """SQLite stores decimals as REAL, booleans as 0/1 and dates as ISO text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _mysql_value(value: Any) -> Any:
    """MySQL's BOOL is TINYINT(1)."""
    return int(value) if isinstance(value, bool) else value


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Backend:
    """One database the contract suite runs against."""

    id: str
    driver: str
    make_config: Callable[[Path], dict[str, Any]]
    ddl: Mapping[str, str]
    types: Mapping[str, str | None]
    series: Callable[[int], str]
    placeholder: str  # "qmark" | "pyformat" | "named"
    param_queries: Sequence[tuple[str, Any]]
    unreachable: Callable[[Path], dict[str, Any]]
    capabilities: frozenset[str] = frozenset()
    stored: Callable[[Any], Any] = _same  # how a bound value reads back
    adapt: Callable[[Any], Any] = _same  # how a value is bound (SQLite takes no Decimal/date)
    service: tuple[str, int] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def insert_sql(self, table: str, columns: Sequence[str]) -> str:
        """``INSERT`` with one placeholder per column in this backend's paramstyle."""
        marks = {
            "qmark": ["?"] * len(columns),
            "pyformat": ["%s"] * len(columns),
            "named": [f":{c}" for c in columns],
        }[self.placeholder]
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"

    def insert_params(self, columns: Sequence[str], row: Sequence[Any]) -> Any:
        """``row`` as parameters for :meth:`insert_sql` (adapted to what the database stores)."""
        values = [v if v is None else self.adapt(v) for v in row]
        if self.placeholder == "named":
            return dict(zip(columns, values, strict=True))
        return tuple(values)


def _sqlite_series(n: int) -> str:
    return (
        f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
        "SELECT i AS id, 'row-' || i AS label FROM s"
    )


def _pg_series(n: int) -> str:
    return f"SELECT g AS id, 'row-' || g AS label FROM generate_series(1, {n}) AS g"


SQLITE_DDL = {
    "i": "INTEGER",
    "f": "REAL",
    "d": "DECIMAL(12,3)",
    "b": "BOOLEAN",
    "dt": "DATE",
    "ts": "TIMESTAMP",
    "s": "VARCHAR(50)",
    "bin": "BLOB",
    "n": "INTEGER",
}
# SQLite reports no types: they come from the first batch's values (all-NULL ``n`` stays None).
SQLITE_TYPES = {
    "i": "int",
    "f": "float",
    "d": "float",
    "b": "int",
    "dt": "string",
    "ts": "string",
    "s": "string",
    "bin": "bytes",
    "n": None,
}
PG_DDL = {
    "i": "INTEGER",
    "f": "DOUBLE PRECISION",
    "d": "NUMERIC(12,3)",
    "b": "BOOLEAN",
    "dt": "DATE",
    "ts": "TIMESTAMP",
    "s": "VARCHAR(50)",
    "bin": "BYTEA",
    "n": "INTEGER",
}
FULL_TYPES = {
    "i": "int",
    "f": "float",
    "d": "decimal",
    "b": "bool",
    "dt": "date",
    "ts": "datetime",
    "s": "string",
    "bin": "bytes",
    "n": "int",
}
BETWEEN = "SELECT id FROM ({series}) AS q WHERE id BETWEEN {lo} AND {hi} AND label <> {label}"


def _queries(series: Callable[[int], str], marks: Sequence[tuple[str, str, str, Any]]) -> list:
    return [
        (BETWEEN.format(series=series(10), lo=lo, hi=hi, label=label), params)
        for lo, hi, label, params in marks
    ]


BACKENDS: dict[str, Backend] = {
    "sqlite3": Backend(
        id="sqlite3",
        driver="sqlite3",
        make_config=lambda tmp: {"path": str(tmp / "contract.sqlite")},
        ddl=SQLITE_DDL,
        types=SQLITE_TYPES,
        series=_sqlite_series,
        placeholder="qmark",
        param_queries=_queries(
            _sqlite_series,
            [
                ("?", "?", "?", (3, 5, "row-4")),
                (":lo", ":hi", ":label", {"lo": 3, "hi": 5, "label": "row-4"}),
            ],
        ),
        unreachable=lambda tmp: {"path": str(tmp / "no-such-dir" / "db.sqlite")},
        capabilities=frozenset({"arrow"}),
        stored=_sqlite_value,
        adapt=_sqlite_value,
    ),
    "duckdb": Backend(
        id="duckdb",
        driver="duckdb",
        make_config=lambda tmp: {"path": str(tmp / "contract.duckdb")},
        ddl={**PG_DDL, "f": "DOUBLE", "bin": "BLOB"},
        types=FULL_TYPES,
        series=lambda n: f"SELECT i AS id, 'row-' || i AS label FROM range(1, {n} + 1) AS t(i)",
        placeholder="qmark",
        param_queries=_queries(
            lambda n: f"SELECT i AS id, 'row-' || i AS label FROM range(1, {n} + 1) AS t(i)",
            [
                ("?", "?", "?", (3, 5, "row-4")),
                ("$lo", "$hi", "$label", {"lo": 3, "hi": 5, "label": "row-4"}),
            ],
        ),
        unreachable=lambda tmp: {"path": str(tmp / "no-such-dir" / "db.duckdb")},
        capabilities=frozenset({"arrow", "native"}),
    ),
    "postgres": Backend(
        id="postgres",
        driver="postgres",
        make_config=lambda tmp: {"url": PG_URL},
        ddl=PG_DDL,
        types=FULL_TYPES,
        series=_pg_series,
        placeholder="pyformat",
        param_queries=_queries(
            _pg_series,
            [
                ("%s", "%s", "%s", (3, 5, "row-4")),
                ("%(lo)s", "%(hi)s", "%(label)s", {"lo": 3, "hi": 5, "label": "row-4"}),
            ],
        ),
        unreachable=lambda tmp: {
            "url": f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:1/test"
        },
        capabilities=frozenset({"arrow", "copy", "engine", "server-cursor"}),
        service=("127.0.0.1", 5432),
    ),
    "mysql": Backend(
        id="mysql",
        driver="mysql",
        make_config=lambda tmp: {"url": MYSQL_URL},
        ddl={
            **PG_DDL,
            "f": "DOUBLE",
            "d": "DECIMAL(12,3)",
            "ts": "DATETIME(6)",
            "bin": "VARBINARY(16)",
        },
        types={**FULL_TYPES, "b": "int"},
        series=lambda n: f"SELECT seq AS id, CONCAT('row-', seq) AS label FROM seq_1_to_{n}",
        placeholder="pyformat",
        param_queries=_queries(
            lambda n: f"SELECT seq AS id, CONCAT('row-', seq) AS label FROM seq_1_to_{n}",
            [
                ("%s", "%s", "%s", (3, 5, "row-4")),
                ("%(lo)s", "%(hi)s", "%(label)s", {"lo": 3, "hi": 5, "label": "row-4"}),
            ],
        ),
        unreachable=lambda tmp: {"url": f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/test"},
        capabilities=frozenset({"engine"}),
        stored=_mysql_value,
        service=("127.0.0.1", 3306),
    ),
    "sqlalchemy-sqlite": Backend(
        id="sqlalchemy-sqlite",
        driver="sqlalchemy",
        make_config=lambda tmp: {"url": f"sqlite:///{tmp / 'contract-sa.sqlite'}"},
        ddl=SQLITE_DDL,
        types=SQLITE_TYPES,
        series=_sqlite_series,
        placeholder="named",
        param_queries=_queries(
            _sqlite_series, [(":lo", ":hi", ":label", {"lo": 3, "hi": 5, "label": "row-4"})]
        ),
        unreachable=lambda tmp: {"url": f"sqlite:///{tmp / 'no-such-dir' / 'db.sqlite'}"},
        capabilities=frozenset({"engine"}),
        stored=_sqlite_value,
        adapt=_sqlite_value,
        options={"pool": {"size": 2, "max_overflow": 1}},
    ),
    "sqlalchemy-mysql": Backend(
        id="sqlalchemy-mysql",
        driver="sqlalchemy",
        make_config=lambda tmp: {"url": MYSQL_URL},  # mysql:// runs on PyMySQL
        ddl={
            **PG_DDL,
            "f": "DOUBLE",
            "d": "DECIMAL(12,3)",
            "ts": "DATETIME(6)",
            "bin": "VARBINARY(16)",
        },
        types={**FULL_TYPES, "b": "int"},
        series=lambda n: f"SELECT seq AS id, CONCAT('row-', seq) AS label FROM seq_1_to_{n}",
        placeholder="named",
        param_queries=_queries(
            lambda n: f"SELECT seq AS id, CONCAT('row-', seq) AS label FROM seq_1_to_{n}",
            [(":lo", ":hi", ":label", {"lo": 3, "hi": 5, "label": "row-4"})],
        ),
        unreachable=lambda tmp: {"url": f"mysql://root:{SECRET}@127.0.0.1:1/test"},
        capabilities=frozenset({"engine"}),
        stored=_mysql_value,
        service=("127.0.0.1", 3306),
    ),
    "sqlalchemy-postgres": Backend(
        id="sqlalchemy-postgres",
        driver="sqlalchemy",
        # The predecessor's SQLAlchemy URL; without psycopg2 installed it runs on psycopg 3.
        make_config=lambda tmp: {"url": PG_URL.replace("postgresql:", "postgresql+psycopg2:")},
        ddl=PG_DDL,
        types=FULL_TYPES,
        series=_pg_series,
        placeholder="named",
        param_queries=_queries(
            _pg_series, [(":lo", ":hi", ":label", {"lo": 3, "hi": 5, "label": "row-4"})]
        ),
        unreachable=lambda tmp: {"url": f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"},
        capabilities=frozenset({"engine", "server-cursor"}),
        service=("127.0.0.1", 5432),
        options={"pool_size": 2, "pool_recycle": 600},
    ),
}

MARKS = {
    "postgres": "postgres",
    "sqlalchemy-postgres": "postgres",
    "mysql": "mysql",
    "sqlalchemy-mysql": "mysql",
}


def backend_params() -> list[Any]:
    """``pytest.param`` per backend, marked ``postgres``/``mysql`` where a server is needed."""
    params = []
    for backend_id in BACKENDS:
        marker = MARKS.get(backend_id)
        marks = [getattr(pytest.mark, marker)] if marker else []
        params.append(pytest.param(backend_id, marks=marks, id=backend_id))
    return params


@functools.cache
def _unreachable_reason(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"no server on {host}:{port} ({exc})"


def require_service(backend: Backend) -> None:
    """Skip (or, with ``AETHERFLOW_TEST_REQUIRE_SERVICES=1``, fail) when the server is down."""
    if backend.service is None:
        return
    reason = _unreachable_reason(*backend.service)
    if reason is None:
        return
    if os.environ.get("AETHERFLOW_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{backend.id}: {reason} and AETHERFLOW_TEST_REQUIRE_SERVICES=1")
    pytest.skip(f"{backend.id}: {reason}")
