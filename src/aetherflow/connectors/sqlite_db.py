"""``db:sqlite3``: SQLite through the standard library.

Config: ``path`` (a file or ``:memory:``) or ``url`` (``sqlite:///relative.db``,
``sqlite:////absolute.db``, ``sqlite:///:memory:``). One connection per connector, opened on first
use and closed by :meth:`SQLiteDB.close` (the predecessor leaked one per call and had no
``execute``). Paramstyle ``?`` (a sequence) or ``:name`` (a mapping). SQLite reports no column
types, so they are inferred from the first batch's values.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from aetherflow.connectors.dbapi import BatchStream, DbConnector, check_batch_size
from aetherflow.errors import ConfigError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Params

MEMORY = ":memory:"


def sqlite_path(config: dict[str, Any], name: str) -> str:
    """The database path from ``path`` or a ``sqlite:///`` ``url``.

    Raises:
        ConfigError: Neither is given, or the URL is not a sqlite URL.
    """
    path = config.get("path")
    if path:
        return str(path)
    url = config.get("url")
    if not url:
        raise ConfigError(f"db:sqlite3 resource {name!r} needs config.path or config.url")
    url = str(url)
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.partition("+")[0].lower() != "sqlite":
        raise ConfigError(
            f"db:sqlite3 resource {name!r}: url must look like sqlite:///path.db, got {url!r}"
        )
    # sqlite:///rel.db → "/rel.db" after "://": one slash separates the empty host.
    database = rest[1:] if rest.startswith("/") else rest
    return database.partition("?")[0] or MEMORY


class SQLiteDB(DbConnector):
    """The ``db:sqlite3`` connector."""

    family = "sqlite3"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.path = sqlite_path(self.config, self.name)
        self._conn: sqlite3.Connection | None = None

    def _where(self) -> str:
        return self.path

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def connect(self) -> sqlite3.Connection:
        """A new connection the caller owns (the predecessor's ``connect``)."""
        try:
            return sqlite3.connect(self.path, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._connect_error(exc) from exc

    def connection(self) -> sqlite3.Connection:
        """The connector's own connection (opened on first use)."""
        if self._conn is None:
            self._conn = self.connect()
        return self._conn

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run a query; rows are stepped through SQLite's cursor one batch at a time."""
        check_batch_size(batch_size)
        conn = self.connection()
        with self._guard("query", sql):
            cursor = conn.execute(sql, params if params is not None else ())
        try:
            columns = [Column(d[0]) for d in cursor.description or ()]
            yield BatchStream(columns, self._guarded(cursor.fetchmany, sql), batch_size)
        finally:
            cursor.close()

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement and commit; the affected row count (-1 for DDL)."""
        conn = self.connection()
        with self._guard("statement", sql):
            try:
                cursor = conn.execute(sql, params if params is not None else ())
                count = cursor.rowcount
                cursor.close()
                conn.commit()
            except sqlite3.Error:
                conn.rollback()
                raise
        return int(count)

    def close(self) -> None:
        """Close the connection (idempotent; a later call reopens it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
