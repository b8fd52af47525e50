"""``db:oracledb``: Oracle Database through python-oracledb (thin mode, or thick with a lib dir).

Config: ``user``, ``password``, ``dsn`` (``host:port/service`` or a TNS alias). Options:
``oracle.lib_dir`` or ``lib_dir`` (thick mode: ``init_oracle_client``, once per process),
``pool.enabled`` / ``pool_enabled`` (true: a session pool, one session acquired per call),
``pool.size`` / ``pool_size`` (4), ``arraysize`` (5000, rows per round trip for ``fetchall``;
streams use their ``batch_size``). Paramstyle ``:name`` (a mapping) or ``:1`` (a sequence).

``NUMBER`` with a scale (or without precision) is fetched as ``Decimal`` and CLOB/BLOB as
``str``/``bytes`` through an output type handler, so values match the reported logical types.

No Oracle server runs where AetherFlow is tested: this connector is tested against the driver's
API shape only (tests/unit/connectors/test_oracle_db.py, with a fake ``oracledb`` module).
"""

from __future__ import annotations

import contextlib
import decimal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from aetherflow.connectors.dbapi import BatchStream, DbConnector, check_batch_size
from aetherflow.errors import ConfigError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Params

_thick_lock = threading.Lock()
_thick_lib_dir: list[str] = []  # the lib dir thick mode was initialised with (process-wide)

_TYPE_NAMES = {
    "DB_TYPE_BINARY_DOUBLE": "float",
    "DB_TYPE_BINARY_FLOAT": "float",
    "DB_TYPE_BINARY_INTEGER": "int",
    "DB_TYPE_BOOLEAN": "bool",
    "DB_TYPE_DATE": "datetime",  # Oracle DATE has a time of day
    "DB_TYPE_TIMESTAMP": "datetime",
    "DB_TYPE_TIMESTAMP_TZ": "datetime",
    "DB_TYPE_TIMESTAMP_LTZ": "datetime",
    "DB_TYPE_RAW": "bytes",
    "DB_TYPE_LONG_RAW": "bytes",
    "DB_TYPE_BLOB": "bytes",
}


def _option(options: Mapping[str, Any], nested: str, flat: str, default: Any) -> Any:
    section, _, key = nested.partition(".")
    inner = options.get(section)
    if isinstance(inner, Mapping) and key in inner:
        return inner[key]
    return options.get(flat, default)


def oracle_column(description: Any) -> Column:
    """A :class:`Column` from an oracledb description entry (``FetchInfo`` or 7-tuple)."""
    name = str(getattr(description, "name", None) or description[0])
    type_code = getattr(description, "type_code", None) or description[1]
    type_name = str(getattr(type_code, "name", type_code))
    if type_name == "DB_TYPE_NUMBER":
        precision = getattr(description, "precision", None)
        scale = getattr(description, "scale", None)
        if precision is None and isinstance(description, tuple) and len(description) > 5:
            precision, scale = description[4], description[5]
        if precision and scale == 0:
            return Column(name, "int")
        if precision and scale is not None and scale > 0:
            return Column(name, "decimal", int(precision), int(scale))
        return Column(name, "decimal")
    return Column(name, _TYPE_NAMES.get(type_name, "string"))


def output_type_handler(oracledb: Any) -> Any:
    """An ``outputtypehandler`` fetching decimals as ``Decimal`` and LOBs as values."""
    lob_types = {
        oracledb.DB_TYPE_CLOB: oracledb.DB_TYPE_LONG,
        oracledb.DB_TYPE_NCLOB: oracledb.DB_TYPE_LONG_NVARCHAR,
        oracledb.DB_TYPE_BLOB: oracledb.DB_TYPE_LONG_RAW,
    }

    def handler(cursor: Any, metadata: Any) -> Any:
        type_code = metadata.type_code
        if type_code in lob_types:
            return cursor.var(lob_types[type_code], arraysize=cursor.arraysize)
        if type_code is oracledb.DB_TYPE_NUMBER and oracle_column(metadata).type == "decimal":
            return cursor.var(decimal.Decimal, arraysize=cursor.arraysize)
        return None

    return handler


class OracleDB(DbConnector):
    """The ``db:oracledb`` connector."""

    family = "oracle"
    requires = ("oracledb",)
    ping_sql = "SELECT 1 FROM DUAL"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.dsn = str(self.config.get("dsn") or "")
        if not self.dsn:
            raise ConfigError(f"db:oracledb resource {self.name!r} needs config.dsn")
        self.user = self.config.get("user")
        self.lib_dir = _option(self.options, "oracle.lib_dir", "lib_dir", None)
        self.pool_enabled = bool(_option(self.options, "pool.enabled", "pool_enabled", True))
        self.pool_size = int(_option(self.options, "pool.size", "pool_size", 4))
        self.arraysize = int(self.options.get("arraysize", 5000))
        self._pool: Any = None
        self._conn: Any = None

    def _where(self) -> str:
        return self.mask(self.dsn)

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._require("oracledb").Error,)

    def _driver(self) -> Any:
        oracledb = self._require("oracledb")
        if self.lib_dir:
            with _thick_lock:
                if not _thick_lib_dir:
                    with self._guard(f"thick mode with lib_dir {self.lib_dir}"):
                        oracledb.init_oracle_client(lib_dir=str(self.lib_dir))
                    _thick_lib_dir.append(str(self.lib_dir))
        return oracledb

    def _credentials(self) -> dict[str, Any]:
        return {"user": self.user, "password": self.config.get("password"), "dsn": self.dsn}

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection for the block: acquired from the pool and released after, or the
        connector's single connection (the predecessor's ``connect``)."""
        oracledb = self._driver()
        try:
            if self.pool_enabled:
                if self._pool is None:
                    self._pool = oracledb.create_pool(
                        **self._credentials(), min=1, max=self.pool_size, increment=1
                    )
                conn = self._pool.acquire()
            else:
                if self._conn is None:
                    self._conn = oracledb.connect(**self._credentials())
                conn = self._conn
        except oracledb.Error as exc:
            raise self._connect_error(exc) from exc
        try:
            yield conn
        finally:
            if self.pool_enabled:
                self._pool.release(conn)

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run a query; the cursor fetches ``batch_size`` rows per round trip."""
        check_batch_size(batch_size)
        oracledb = self._driver()
        with self.connect() as conn:
            cursor = conn.cursor()
            try:
                cursor.arraysize = batch_size
                cursor.prefetchrows = batch_size
                cursor.outputtypehandler = output_type_handler(oracledb)
                with self._guard("query", sql):
                    cursor.execute(sql, params if params is not None else {})
                if cursor.description is None:
                    yield BatchStream([], lambda _size: [], batch_size)
                else:
                    columns = [oracle_column(d) for d in cursor.description]
                    fetch = self._guarded(cursor.fetchmany, sql)
                    yield BatchStream(columns, fetch, batch_size)
            finally:
                cursor.close()

    def fetchall(self, sql: str, params: Params = None) -> tuple[list[str], list[Any]]:
        """Column names and every row, ``arraysize`` rows per round trip."""
        with self.stream(sql, params, batch_size=self.arraysize) as rows:
            data = [row for batch in rows.batches() for row in batch]
            return [column.name for column in rows.columns], data

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement and commit; the affected row count."""
        with self.connect() as conn, self._guard("statement", sql):
            cursor = conn.cursor()
            try:
                cursor.execute(sql, params if params is not None else {})
                count = int(cursor.rowcount)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cursor.close()
        return count

    def close(self) -> None:
        """Close the pool or connection (idempotent; a later call reconnects)."""
        pool, self._pool = self._pool, None
        conn, self._conn = self._conn, None
        if pool is not None:
            pool.close(force=True)
        if conn is not None:
            conn.close()
