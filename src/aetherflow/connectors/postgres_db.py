"""``db:postgres``: PostgreSQL through psycopg 3, with ``COPY`` and ADBC Arrow fast paths.

Config: ``url`` (``postgresql://`` or ``postgres://``; the predecessor's SQLAlchemy form
``postgresql+psycopg2://`` is accepted, the ``+driver`` is ignored), or ``dsn`` (a libpq
``key=value`` string), or the keys ``host``, ``port``, ``user``, ``password``, ``dbname`` (alias
``database``). Options: ``connect_timeout`` (10 s), ``application_name`` (``aetherflow``),
``connect_args`` (more ``psycopg.connect`` arguments), and the pool options of ``engine()``.
Paramstyle ``%s`` / ``%(name)s``.

Queries (``SELECT``/``WITH``/``VALUES``/``TABLE``) stream through a server-side cursor that
fetches ``batch_size`` rows per round trip; other statements (``INSERT ... RETURNING``, ``SHOW``)
run on a client cursor. ``COPY`` and the Arrow path bind parameters on the client
(``ClientCursor.mogrify``), because neither accepts server-side parameters.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import IO, Any

from aetherflow.connectors.dbapi import BatchStream, check_batch_size, query_body
from aetherflow.connectors.dsn import mask_dsn, parse_url, strip_driver
from aetherflow.connectors.postgres_fast import arrow_batches, arrow_plan, copy_statement
from aetherflow.connectors.postgres_types import postgres_column, text_loaders
from aetherflow.connectors.sqlalchemy_db import DriverConnector
from aetherflow.errors import ConfigError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import CsvCopyOptions, Params

log = logging.getLogger(__name__)

DEFAULT_PORT = 5432
_QUERY_START = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/|\()\s*)*(\w+)", re.DOTALL)
_QUERY_WORDS = {"select", "with", "values", "table"}
_KEYS = ("host", "port", "user", "password", "dbname")


def is_query(sql: str) -> bool:
    """True when ``sql`` can run in a server-side cursor (it starts with a query keyword)."""
    match = _QUERY_START.match(sql)
    return match is not None and match.group(1).lower() in _QUERY_WORDS


def _dsn_quote(value: Any) -> str:
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def postgres_conninfo(config: Mapping[str, Any], name: str) -> str:
    """A libpq connection string (URL or ``key=value``) from the config.

    Raises:
        ConfigError: Nothing to connect to, or a URL that is not PostgreSQL's.
    """
    url = config.get("url")
    if url:
        scheme = str(url).partition("://")[0].partition("+")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                f"db:postgres resource {name!r}: url must start with postgresql:// "
                f"(or postgresql+<driver>://), got scheme {scheme!r}"
            )
        return strip_driver(str(url))
    if config.get("dsn"):
        return str(config["dsn"])
    values = dict(config)
    if "dbname" not in values and "database" in values:
        values["dbname"] = values["database"]
    parts = [f"{key}={_dsn_quote(values[key])}" for key in _KEYS if values.get(key) is not None]
    if not parts:
        raise ConfigError(
            f"db:postgres resource {name!r} needs config.url, config.dsn or config.host"
        )
    return " ".join(parts)


def _dsn_value(dsn: str, key: str) -> str | None:
    match = re.search(rf"\b{key}\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
    if match is None:
        return None
    value = match.group(1)
    return value[1:-1] if value.startswith("'") else value


class PostgresDB(DriverConnector):
    """The ``db:postgres`` connector."""

    engine_url = "postgresql+psycopg://"

    family = "postgres"
    requires = ("psycopg",)

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.conninfo = postgres_conninfo(self.config, self.name)
        connect_args = self.options.get("connect_args") or {}
        if not isinstance(connect_args, Mapping):
            raise ConfigError(
                f"db:postgres resource {self.name!r}: options.connect_args must be a map"
            )
        self.connect_kwargs: dict[str, Any] = {
            "connect_timeout": int(self.options.get("connect_timeout", 10)),
            "application_name": str(self.options.get("application_name", "aetherflow")),
            **connect_args,
        }
        self._add_secret(self.connect_kwargs.get("password"))
        self._conn: Any = None

    def _where(self) -> str:
        host: str | None
        port: int | str | None
        if "://" in self.conninfo:
            try:
                parts = parse_url(self.conninfo)
            except ValueError:
                return mask_dsn(self.conninfo)
            host, port = parts.host, parts.port
        else:
            host, port = _dsn_value(self.conninfo, "host"), _dsn_value(self.conninfo, "port")
        return f"{host or 'localhost'}:{port or DEFAULT_PORT}"

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._require("psycopg").Error,)

    def _raw_connect(self, *, autocommit: bool = False) -> Any:
        psycopg = self._require("psycopg")
        try:
            return psycopg.connect(self.conninfo, autocommit=autocommit, **self.connect_kwargs)
        except psycopg.Error as exc:
            raise self._connect_error(exc) from exc

    def connection(self) -> Any:
        """The connector's psycopg connection (reopened when closed or broken).

        Types without a logical counterpart load as text on this connection (see
        :func:`~aetherflow.connectors.postgres_types.text_loaders`).
        """
        if self._conn is not None and not (self._conn.closed or self._conn.broken):
            return self._conn
        self._discard()
        conn = self._raw_connect()
        text_loaders(conn.adapters, self._require("psycopg"))
        self._conn = conn
        return conn

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run a query; a server-side cursor fetches ``batch_size`` rows per round trip."""
        check_batch_size(batch_size)
        conn = self.connection()
        if is_query(sql):
            cursor = conn.cursor(name=f"aetherflow_{uuid.uuid4().hex[:16]}")
            cursor.itersize = batch_size
        else:
            cursor = conn.cursor()
        ok = False
        try:
            with self._guard("query", sql):
                cursor.execute(sql, params)
            if cursor.description is None:
                yield BatchStream([], lambda _size: [], batch_size)
            else:
                columns = [postgres_column(d) for d in cursor.description]
                yield BatchStream(columns, self._guarded(cursor.fetchmany, sql), batch_size)
            ok = True
        finally:
            self._finish(conn, cursor, ok, sql)

    def _finish(self, conn: Any, cursor: Any, ok: bool, sql: str) -> None:
        if ok:
            with self._guard("closing the cursor", sql):
                cursor.close()
                conn.commit()
            return
        self._rollback(conn)
        # After the rollback psycopg knows the server cursor is gone, and on a connection the
        # server ended (closed by now) it closes the cursor locally: no round trip either way.
        # Closing it always keeps psycopg from warning about an open cursor when collected.
        cursor.close()

    def bind(self, sql: str, params: Params) -> str:
        """``sql`` with ``params`` bound on the client (safely quoted by psycopg)."""
        if params is None:
            return sql
        psycopg = self._require("psycopg")
        with self._guard("binding parameters", sql):
            return str(psycopg.ClientCursor(self.connection()).mogrify(sql, params))

    def copy_csv(self, sql: str, params: Params, out: IO[bytes], options: CsvCopyOptions) -> int:
        """``COPY (query) TO STDOUT WITH (FORMAT csv, ...)`` streamed into ``out``; the row count.

        Raises:
            NotImplementedError: Options PostgreSQL cannot reproduce (see
                :func:`~aetherflow.connectors.postgres_fast.copy_statement`).
            ConnectorError: The query failed.
        """
        psycopg = self._require("psycopg")
        statement = copy_statement(self.bind(sql, params), options, psycopg.sql)
        conn = self.connection()
        try:
            with self._guard("COPY", sql), conn.cursor() as cursor:
                with cursor.copy(statement) as copy:
                    for data in copy:
                        out.write(bytes(data))
                count = int(cursor.rowcount)
                conn.commit()
        except BaseException:
            self._rollback(conn)
            raise
        return count

    @contextlib.contextmanager
    def arrow_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 65536
    ) -> Iterator[tuple[Any, Iterator[Any]]]:
        """``(schema, record batches)`` through ADBC's PostgreSQL driver.

        Raises:
            NotImplementedError: ``adbc-driver-postgresql`` is not installed, or a column has no
                Arrow type (unconstrained ``numeric``); the caller falls back to :meth:`stream`.
            ConnectorError: Connection or query failed.
        """
        check_batch_size(batch_size)
        try:
            dbapi = importlib.import_module("adbc_driver_postgresql.dbapi")
        except ImportError as exc:
            raise NotImplementedError(
                "Arrow batches need adbc-driver-postgresql — pip install 'aetherflow[arrow]'"
            ) from exc
        pa = self._require("pyarrow")
        query = query_body(self.bind(sql, params))  # ADBC wraps it in COPY (...) TO STDOUT
        errors = (dbapi.Error,)
        # Rows arrive through an Arrow stream, which reports libpq failures as OSError.
        read_errors = (dbapi.Error, OSError, pa.ArrowException)
        try:
            conn = dbapi.connect(self._libpq_uri())
        except dbapi.Error as exc:
            raise self._connect_error(exc) from exc
        try:
            cursor = conn.cursor()
            try:
                with self._guard("query", sql, errors):
                    cursor.execute(query)
                    reader = cursor.fetch_record_batch()
                schema, converters = arrow_plan(reader.schema, pa)
                batches = arrow_batches(reader, schema, converters, batch_size, pa)
                yield schema, self._guarded_iter(batches, sql, read_errors)
            finally:
                cursor.close()
        finally:
            conn.close()

    def _guarded_iter(
        self, batches: Iterator[Any], sql: str, errors: tuple[type[BaseException], ...]
    ) -> Iterator[Any]:
        while True:
            with self._guard("reading rows", sql, errors):
                batch = next(batches, None)
            if batch is None:
                return
            yield batch

    def _libpq_uri(self) -> str:
        psycopg = self._require("psycopg")
        libpq = {
            k: v
            for k, v in self.connect_kwargs.items()
            if isinstance(v, str | int)
            and not isinstance(v, bool)
            and k not in ("prepare_threshold", "autocommit")
        }
        return str(psycopg.conninfo.make_conninfo(self.conninfo, **libpq))

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.close()

    def close(self) -> None:
        """Close the connection and the engine (idempotent; a later call reconnects)."""
        self._discard()
        self._dispose_engine()
