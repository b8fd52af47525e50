"""``db:sqlalchemy``: any database with a SQLAlchemy 2 URL; and the engine API every SQL connector
keeps from the predecessor (``engine()``, ``connect()``).

Config: ``url``. Options: ``pool.size`` (5), ``pool.max_overflow`` (10), ``pool.recycle_seconds``
(1800), ``pool.pre_ping`` (true), their flat legacy aliases ``pool_size``, ``max_overflow``,
``pool_recycle``, ``pool_pre_ping``, and ``connect_args`` (passed to the DBAPI ``connect``).
Queries are wrapped in ``text()``, so parameters are ``:name`` with a mapping. Streaming uses
``stream_results`` (a server-side cursor where the dialect has one) and ``fetchmany`` (the
predecessor's ``fetchmany`` was broken here, gap G42).

URLs naming a driver that is not installed are rewritten to the one AetherFlow installs:
``postgres://``, ``postgresql://`` and ``postgresql+psycopg2://`` use psycopg 3 when psycopg2 is
absent; ``mysql://``/``mariadb://`` (mysqlclient) use PyMySQL when MySQLdb is absent.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from aetherflow.connectors.dbapi import BatchStream, DbConnector, check_batch_size, to_text
from aetherflow.connectors.dsn import mask_url, parse_url
from aetherflow.connectors.mysql_types import abandon_unbuffered, mysql_columns, password_bytes
from aetherflow.connectors.postgres_types import postgres_column
from aetherflow.errors import ConfigError, ConnectorError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Params

log = logging.getLogger(__name__)

POOL_DEFAULTS = {"size": 5, "max_overflow": 10, "recycle_seconds": 1800, "pre_ping": True}
_FLAT_ALIASES = {
    "size": "pool_size",
    "max_overflow": "max_overflow",
    "recycle_seconds": "pool_recycle",
    "pre_ping": "pool_pre_ping",
}


def pool_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``{size, max_overflow, recycle_seconds, pre_ping}`` from ``options.pool`` or the flat
    aliases (the nested form wins), with the predecessor's defaults."""
    nested = options.get("pool") or {}
    if not isinstance(nested, Mapping):
        raise ConfigError("options.pool must be a mapping (size, max_overflow, ...)")
    resolved = dict(POOL_DEFAULTS)
    for key, flat in _FLAT_ALIASES.items():
        if key in nested:
            resolved[key] = nested[key]
        elif flat in options:
            resolved[key] = options[flat]
    return resolved


def engine_kwargs(options: Mapping[str, Any], *, sized_pool: bool) -> dict[str, Any]:
    """``create_engine`` keyword arguments for the pool options (sizes only for a sized pool)."""
    pool = pool_options(options)
    kwargs: dict[str, Any] = {
        "pool_recycle": int(pool["recycle_seconds"]),
        "pool_pre_ping": bool(pool["pre_ping"]),
    }
    if sized_pool:
        kwargs["pool_size"] = int(pool["size"])
        kwargs["max_overflow"] = int(pool["max_overflow"])
    return kwargs


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def normalize_url(url: str) -> str:
    """``url`` with a driver that is not installed replaced by the one AetherFlow installs."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    backend, _, driver = head.lower().partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql" and driver in ("", "psycopg2") and not _installed("psycopg2"):
        driver = "psycopg" if _installed("psycopg") else driver
    if backend in ("mysql", "mariadb") and driver in ("", "mysqldb") and not _installed("MySQLdb"):
        driver = "pymysql" if _installed("pymysql") else driver
    return f"{backend}+{driver}{sep}{rest}" if driver else f"{backend}{sep}{rest}"


class EngineConnector(DbConnector):
    """A SQL connector with the predecessor's SQLAlchemy API: a cached ``engine()`` and a
    ``connect()`` transaction (subclasses say how the engine is made)."""

    _engine: Any = None

    def _create_engine(self, sqlalchemy: Any) -> Any:
        raise NotImplementedError

    def engine(self) -> Any:
        """The SQLAlchemy engine (created on first use, with the pool options)."""
        if self._engine is None:
            self._engine = self._create_engine(self._require("sqlalchemy"))
        return self._engine

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A SQLAlchemy connection in a transaction, committed at the end (``engine.begin()``)."""
        with self.engine().begin() as conn:
            yield conn

    def _dispose_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()


class DriverConnector(EngineConnector):
    """An :class:`EngineConnector` that also talks to the driver directly on one connection
    (``db:postgres``, ``db:mysql``): ``execute`` in a transaction, rollback that never hides the
    statement's own error."""

    engine_url: ClassVar[str] = ""
    """SQLAlchemy URL of the dialect; the engine's connections come from :meth:`_raw_connect`."""

    def connection(self) -> Any:
        """The open driver connection (connecting on first use)."""
        raise NotImplementedError

    def _raw_connect(self) -> Any:
        """A new driver connection."""
        raise NotImplementedError

    def _create_engine(self, sqlalchemy: Any) -> Any:
        return sqlalchemy.create_engine(
            self.engine_url,
            creator=self._raw_connect,
            **engine_kwargs(self.options, sized_pool=True),
        )

    def _discard(self) -> None:
        """Drop the connection without reading what the server still sends."""
        raise NotImplementedError

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement and commit; the affected row count (-1 when not applicable)."""
        conn = self.connection()
        with self._guard("statement", sql):
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql, params)
                    count = int(cursor.rowcount)
                conn.commit()
            except BaseException:
                self._rollback(conn)
                raise
        return count

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except self._driver_errors() as exc:  # the statement's own error is what matters
            log.warning(
                "%s resource %r: rollback failed: %s", self.family, self.name, self.mask(str(exc))
            )
            self._discard()


class SQLAlchemyDB(EngineConnector):
    """The ``db:sqlalchemy`` connector."""

    family = "sqlalchemy"
    requires = ("sqlalchemy",)

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        url = self.config.get("url")
        if not url:
            raise ConfigError(f"db:sqlalchemy resource {self.name!r} needs config.url")
        self.url = normalize_url(str(url))
        connect_args = self.options.get("connect_args") or {}
        if not isinstance(connect_args, Mapping):
            raise ConfigError(
                f"db:sqlalchemy resource {self.name!r}: options.connect_args must be a map"
            )
        self.connect_args = dict(connect_args)

    def _where(self) -> str:
        try:
            parts = parse_url(self.url)
        except ValueError:
            return mask_url(self.url)
        if parts.host:
            return f"{parts.host}:{parts.port}" if parts.port else parts.host
        return mask_url(self.url)

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._require("sqlalchemy.exc").SQLAlchemyError,)

    def _create_engine(self, sqlalchemy: Any) -> Any:
        url = sqlalchemy.engine.make_url(self.url)
        memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        kwargs = engine_kwargs(self.options, sized_pool=not memory)
        connect_args = dict(self.connect_args)
        pymysql = (
            url.get_backend_name() in ("mysql", "mariadb") and url.get_driver_name() == "pymysql"
        )
        if pymysql and url.password is not None and "password" not in connect_args:
            connect_args["password"] = password_bytes(str(url.password))
        try:
            return sqlalchemy.create_engine(url, connect_args=connect_args, **kwargs)
        except sqlalchemy.exc.ArgumentError as exc:
            raise ConfigError(
                f"db:sqlalchemy resource {self.name!r}: invalid url {mask_url(self.url)}: {exc}"
            ) from exc

    def _connection(self) -> Any:
        sqlalchemy = self._require("sqlalchemy")
        engine = self.engine()
        try:
            return engine.connect()
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise self._connect_error(exc) from exc

    def _columns(self, result: Any) -> tuple[list[Column], list[Callable[[Any], Any] | None]]:
        cursor = result.cursor
        description = (cursor.description if cursor is not None else None) or ()
        dialect = self.engine().dialect.name
        if dialect == "postgresql":
            columns = [postgres_column(d) for d in description]
        elif dialect in ("mysql", "mariadb"):
            columns = mysql_columns(description, getattr(cursor, "_result", None))
        else:
            columns = [Column(str(d[0])) for d in description]
        converters: list[Callable[[Any], Any] | None] = [
            to_text if c.type == "string" else None for c in columns
        ]
        return columns, converters

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run ``text(sql)`` with ``stream_results``; rows are fetched one batch at a time."""
        check_batch_size(batch_size)
        sqlalchemy = self._require("sqlalchemy")
        conn = self._connection()
        result: Any = None
        done = False
        try:
            with self._guard("query", sql):
                result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                    sqlalchemy.text(sql), self._params(params)
                )
            if not result.returns_rows:
                stream = BatchStream([], lambda _size: [], batch_size)
                stream.exhausted = True
            else:
                columns, converters = self._columns(result)
                fetch = self._guarded(result.fetchmany, sql)
                stream = BatchStream(columns, fetch, batch_size, converters=converters)
            yield stream
            done = True
            if not stream.exhausted and self._unbuffered():
                self._abandon(conn, result)
            else:
                result.close()
                with self._guard("commit", sql):
                    conn.commit()
        finally:
            if not done and result is not None:
                self._drop_failed(conn, result)
            conn.close()

    def _unbuffered(self) -> bool:
        return str(self.engine().dialect.name) in ("mysql", "mariadb")

    def _abandon(self, conn: Any, result: Any) -> None:
        """Closing an unbuffered MySQL result reads all of it: drop the connection instead."""
        abandon_unbuffered(result.cursor)
        conn.invalidate()

    def _drop_failed(self, conn: Any, result: Any) -> None:
        """Release the result of a stream that ended with an error, without reading the rest
        (MySQL) and without leaving a server-side cursor open (PostgreSQL)."""
        if self._unbuffered():
            self._abandon(conn, result)
            return
        try:
            result.close()
        except self._driver_errors() as exc:  # the stream's own error is what matters
            log.warning("sqlalchemy resource %r: closing the result failed: %s", self.name, exc)
            conn.invalidate()

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement in a transaction and commit; the affected row count."""
        sqlalchemy = self._require("sqlalchemy")
        with self._connection() as conn, self._guard("statement", sql):
            result = conn.execute(sqlalchemy.text(sql), self._params(params))
            count = int(result.rowcount)
            conn.commit()
        return count

    def _params(self, params: Params) -> Any:
        if params is None or isinstance(params, Mapping):
            return params
        if isinstance(params, list | tuple) and all(isinstance(p, Mapping) for p in params):
            return list(params)
        raise ConnectorError(
            f"sqlalchemy resource {self.name!r}: parameters are named (:name) — pass a mapping "
            f"(or a list of mappings), got {type(params).__name__}"
        )

    def close(self) -> None:
        """Dispose of the engine and its pool (idempotent; a later call recreates it)."""
        self._dispose_engine()
