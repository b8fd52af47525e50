"""``db:duckdb``: DuckDB, with Arrow record batches and native ``COPY`` as fast paths.

Config: ``path`` (default ``:memory:``), ``read_only`` (false). Options: ``extensions`` (a list;
each is ``INSTALL``-ed, then ``LOAD``-ed — a failed INSTALL is tolerated when LOAD works, e.g.
offline with the extension already present), ``pragmas`` (a mapping applied as
``PRAGMA key=value``). One connection per connector; every stream reads through its own cursor
(a child connection), so finishing or abandoning a stream never closes the connector's connection
(the predecessor's ``fetchmany`` did). Paramstyle ``?``, ``$1`` or ``$name``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from aetherflow.connectors.dbapi import (
    BatchStream,
    DbConnector,
    check_batch_size,
    query_body,
    to_text,
)
from aetherflow.errors import ConfigError, ConnectorError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, CsvCopyOptions, Params

log = logging.getLogger(__name__)

_INT_TYPES = {
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "hugeint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "uhugeint",
}
_SIMPLE_TYPES = {
    "double": "float",
    "float": "float",
    "boolean": "bool",
    "date": "date",
    "timestamp": "datetime",
    "timestamp with time zone": "datetime",
    "timestamp_s": "datetime",
    "timestamp_ms": "datetime",
    "timestamp_ns": "datetime",
    "time": "time",
    "time with time zone": "time",
    "blob": "bytes",
    "varchar": "string",
}


def duckdb_column(name: str, type_code: Any) -> Column:
    """A :class:`Column` from a DuckDB description entry (a ``DuckDBPyType`` or its text)."""
    type_id = str(getattr(type_code, "id", type_code)).lower()
    if type_id in _INT_TYPES:
        return Column(name, "int")
    if type_id == "decimal" or type_id.startswith("decimal("):
        children = dict(getattr(type_code, "children", ()) or ())
        return Column(name, "decimal", children.get("precision"), children.get("scale"))
    return Column(name, _SIMPLE_TYPES.get(type_id, "string"))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def csv_copy_options(options: CsvCopyOptions | None) -> str:
    """The ``COPY ... TO`` option list reproducing ``options``.

    Raises:
        NotImplementedError: A non-UTF-8 encoding (DuckDB writes UTF-8 only).
    """
    options = options or CsvCopyOptions()
    if options.encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
        raise NotImplementedError("DuckDB COPY writes UTF-8 only")
    if options.line_terminator not in ("\n", "\r\n"):
        raise NotImplementedError("DuckDB COPY ends lines with \\n or \\r\\n only")
    newline = "\\r\\n" if options.line_terminator == "\r\n" else "\\n"
    return (
        f"FORMAT csv, HEADER {'true' if options.header else 'false'}, "
        f"DELIMITER {_literal(options.delimiter)}, QUOTE {_literal(options.quotechar)}, "
        f"ESCAPE {_literal(options.quotechar)}, NULL {_literal(options.null)}, "
        f"NEW_LINE {_literal(newline)}"
    )


def parquet_copy_options(options: Mapping[str, Any] | None) -> str:
    """The ``COPY ... TO`` option list for Parquet (``compression``, ``row_group_size``)."""
    parts = ["FORMAT parquet"]
    for key, value in (options or {}).items():
        if key not in ("compression", "row_group_size", "row_groups_per_file"):
            raise NotImplementedError(f"parquet option {key!r} is not supported by DuckDB COPY")
        if key == "compression":
            parts.append(f"COMPRESSION {_literal(str(value))}")
        else:
            parts.append(f"{key.upper()} {int(value)}")
    return ", ".join(parts)


class DuckDB(DbConnector):
    """The ``db:duckdb`` connector."""

    family = "duckdb"
    requires = ("duckdb",)

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.path = str(self.config.get("path") or ":memory:")
        self.read_only = bool(self.config.get("read_only", False))
        extensions = self.options.get("extensions") or []
        if isinstance(extensions, str):
            extensions = [extensions]
        self.extensions = [str(e) for e in extensions]
        pragmas = self.options.get("pragmas") or {}
        if not isinstance(pragmas, Mapping):
            raise ConfigError(f"db:duckdb resource {self.name!r}: options.pragmas must be a map")
        self.pragmas = dict(pragmas)
        self._conn: Any = None

    def _where(self) -> str:
        return self.path

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._require("duckdb").Error,)

    def connection(self) -> Any:
        """The connector's DuckDB connection (opened, with extensions and pragmas, on first use)."""
        if self._conn is not None:
            return self._conn
        duckdb = self._require("duckdb")
        try:
            conn = duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.Error as exc:
            raise self._connect_error(exc) from exc
        try:
            self._setup(conn, duckdb)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _setup(self, conn: Any, duckdb: Any) -> None:
        for extension in self.extensions:
            try:
                conn.execute(f"INSTALL {extension}")
            except duckdb.Error as exc:
                log.info("duckdb INSTALL %s failed (trying LOAD): %s", extension, exc)
            with self._guard(f"loading extension {extension}"):
                conn.execute(f"LOAD {extension}")
        for key, value in self.pragmas.items():
            rendered = _literal(value) if isinstance(value, str) else str(value).lower()
            with self._guard(f"PRAGMA {key}"):
                conn.execute(f"PRAGMA {key}={rendered}")

    def connect(self) -> Any:
        """The connector's connection (the predecessor's ``connect``; do not close it)."""
        return self.connection()

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run a query on a fresh cursor; DuckDB streams the result as batches are fetched."""
        check_batch_size(batch_size)
        cursor = self.connection().cursor()
        try:
            with self._guard("query", sql):
                cursor.execute(sql, params)
            columns = [duckdb_column(d[0], d[1]) for d in cursor.description or ()]
            converters = [to_text if c.type == "string" else None for c in columns]
            yield BatchStream(
                columns, self._guarded(cursor.fetchmany, sql), batch_size, converters=converters
            )
        finally:
            cursor.close()

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement (autocommitted); the affected row count (-1 when DuckDB has none)."""
        cursor = self.connection().cursor()
        try:
            with self._guard("statement", sql):
                cursor.execute(sql, params)
                return int(cursor.rowcount)
        finally:
            cursor.close()

    @contextlib.contextmanager
    def arrow_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 65536
    ) -> Iterator[tuple[Any, Iterator[Any]]]:
        """``(schema, record batches)`` straight from DuckDB's Arrow export (needs pyarrow)."""
        check_batch_size(batch_size)
        self._require("pyarrow")
        cursor = self.connection().cursor()
        try:
            with self._guard("query", sql):
                relation = cursor.sql(sql, params=params)
                if relation is None:
                    raise NotImplementedError("the statement returns no rows")
                # DuckDB >= 1.4 names it to_arrow_reader; 1.x has fetch_record_batch.
                to_reader = getattr(relation, "to_arrow_reader", None)
                if to_reader is None:
                    to_reader = relation.fetch_record_batch
                reader = to_reader(batch_size)
            yield reader.schema, self._arrow_iter(reader, sql)
        finally:
            cursor.close()

    def _arrow_iter(self, reader: Any, sql: str) -> Iterator[Any]:
        while True:
            with self._guard("reading rows", sql):
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
            yield batch

    def export_native(self, sql: str, params: Params, path: str, fmt: str, options: Any) -> int:
        """``COPY (sql) TO 'path' (FORMAT csv|parquet, ...)``; the row count.

        Raises:
            NotImplementedError: Another format, or options DuckDB cannot reproduce.
            ConnectorError: The query or the write failed.
        """
        if fmt == "csv":
            if options is not None and not isinstance(options, CsvCopyOptions):
                raise NotImplementedError("csv export takes CsvCopyOptions")
            clause = csv_copy_options(options)
        elif fmt == "parquet":
            clause = parquet_copy_options(options)
        else:
            raise NotImplementedError(f"DuckDB COPY cannot write {fmt!r}")
        statement = f"COPY ({query_body(sql)}) TO {_literal(str(path))} ({clause})"
        cursor = self.connection().cursor()
        try:
            with self._guard("export", sql):
                cursor.execute(statement, params)
                row = cursor.fetchone()
        finally:
            cursor.close()
        if not row:
            raise ConnectorError(f"duckdb resource {self.name!r}: COPY returned no row count")
        return int(row[0])

    def close(self) -> None:
        """Close the connection (idempotent; a later call reopens it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
