"""``db:mysql``: MySQL and MariaDB through PyMySQL.

Config: ``url`` (``mysql://``, ``mysql+pymysql://``, ``mariadb://``; the password may be
percent-encoded; ``?charset=`` and ``?unix_socket=`` are honoured), or the keys ``host``
(``localhost``), ``port`` (3306), ``user``, ``password``, ``database`` (alias ``db``), plus
``charset`` (``utf8mb4``). Options: ``connect_timeout`` (10 s), ``connect_args`` (more
``pymysql.connect`` arguments), and the pool options of ``engine()``. Paramstyle ``%s`` /
``%(name)s``.

Streams read through an unbuffered ``SSCursor`` (rows come off the socket one batch at a time).
A stream left before its end closes the connection instead of draining the rest of the result;
the next call reconnects.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from aetherflow.connectors.dbapi import BatchStream, check_batch_size, to_text
from aetherflow.connectors.dsn import parse_url
from aetherflow.connectors.mysql_types import abandon_unbuffered, mysql_columns, password_bytes
from aetherflow.connectors.sqlalchemy_db import DriverConnector
from aetherflow.errors import ConfigError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Params

log = logging.getLogger(__name__)

DEFAULT_PORT = 3306


def mysql_params(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``pymysql.connect`` arguments from a ``url`` or the discrete config keys.

    Raises:
        ConfigError: The URL is not a MySQL/MariaDB URL.
    """
    url = config.get("url")
    query: dict[str, list[str]] = {}
    if url:
        try:
            parts = parse_url(str(url))
        except ValueError as exc:
            raise ConfigError(f"db:mysql resource {name!r}: {exc}") from exc
        if parts.scheme not in ("mysql", "mariadb"):
            raise ConfigError(
                f"db:mysql resource {name!r}: url must start with mysql:// or mariadb://"
            )
        query = parse_qs(parts.query)
        params: dict[str, Any] = {
            "host": parts.host or "localhost",
            "port": parts.port or DEFAULT_PORT,
            "user": parts.user,
            "password": parts.password or "",
            "database": parts.database or None,
        }
    else:
        params = {
            "host": str(config.get("host") or "localhost"),
            "port": int(config.get("port") or DEFAULT_PORT),
            "user": config.get("user"),
            "password": str(config.get("password") or ""),
            "database": config.get("database") or config.get("db"),
        }
    params["charset"] = str(config.get("charset") or query.get("charset", ["utf8mb4"])[0])
    if "unix_socket" in query:
        params["unix_socket"] = query["unix_socket"][0]
    return params


class MySQLDB(DriverConnector):
    """The ``db:mysql`` connector."""

    engine_url = "mysql+pymysql://"

    family = "mysql"
    requires = ("pymysql",)

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.params = mysql_params(self.config, self.name)
        self._add_secret(self.params["password"])
        connect_args = self.options.get("connect_args") or {}
        if not isinstance(connect_args, Mapping):
            raise ConfigError(
                f"db:mysql resource {self.name!r}: options.connect_args must be a map"
            )
        self.connect_args = dict(connect_args)
        self.connect_timeout = float(self.options.get("connect_timeout", 10))
        self._conn: Any = None

    def _where(self) -> str:
        return f"{self.params['host']}:{self.params['port']}"

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._require("pymysql").err.MySQLError,)

    def _raw_connect(self) -> Any:
        pymysql = self._require("pymysql")
        try:
            return pymysql.connect(
                **{**self.params, "password": password_bytes(self.params["password"])},
                autocommit=False,
                connect_timeout=self.connect_timeout,
                **self.connect_args,
            )
        except pymysql.err.MySQLError as exc:
            raise self._connect_error(exc) from exc

    def connection(self) -> Any:
        """The connector's PyMySQL connection (reconnects when the server dropped it)."""
        pymysql = self._require("pymysql")
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)
            except pymysql.err.MySQLError:
                self._discard()
            else:
                return self._conn
        self._conn = self._raw_connect()
        return self._conn

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run a query on an unbuffered cursor; rows are read one batch at a time."""
        check_batch_size(batch_size)
        conn = self.connection()
        cursor = conn.cursor(self._require("pymysql").cursors.SSCursor)
        finished = False
        try:
            with self._guard("query", sql):
                cursor.execute(sql, params)
            if cursor.description is None:
                stream = BatchStream([], lambda _size: [], batch_size)
                stream.exhausted = True
            else:
                columns = mysql_columns(cursor.description, getattr(cursor, "_result", None))
                converters = [to_text if c.type == "string" else None for c in columns]
                fetch = self._guarded(cursor.fetchmany, sql)
                stream = BatchStream(columns, fetch, batch_size, converters=converters)
            yield stream
            finished = stream.exhausted
        finally:
            if finished:
                cursor.close()
                with self._guard("commit", sql):
                    conn.commit()
            else:
                abandon_unbuffered(cursor)
                self._discard()

    def _discard(self) -> None:
        """Drop the connection without reading what the server still sends."""
        conn, self._conn = self._conn, None
        if conn is not None and conn.open:
            conn.close()

    def close(self) -> None:
        """Close the connection and the engine (idempotent; a later call reconnects)."""
        self._discard()
        self._dispose_engine()
