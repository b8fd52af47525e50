"""The ``Database`` connector family contract: what the data steps need from a driver.

Steps depend on this protocol, never on a driver (``steps`` and ``connectors`` are sibling
layers; both import this module). Every ``db:*`` connector implements :class:`Database`; fast
paths are optional capabilities, detected with ``isinstance`` against the small protocols below.

Query parameters use the driver's own paramstyle (``?``/``:name`` for SQLite and DuckDB,
``%s``/``%(name)s`` for PostgreSQL and MySQL, ``:name`` for SQLAlchemy URLs), as the predecessor.

Logical column types (``Column.type``) are one of :data:`LOGICAL_TYPES`; ``None`` means the driver
did not say and the consumer infers it from values (:func:`infer_type`). Every non-None value in a
column of logical type ``T`` is an instance of ``PYTHON_TYPES[T]`` (datetimes and times may carry a
``tzinfo``); database types without a logical counterpart (JSON, UUID, arrays, intervals, ...) are
reported as ``string`` and delivered as text.

Optional capabilities raise :class:`NotImplementedError` when a particular query, option set or
installation cannot use them; the caller then takes the generic :meth:`Database.stream` path.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any, Protocol, runtime_checkable

Params = Sequence[Any] | Mapping[str, Any] | None
Row = tuple[Any, ...]

LOGICAL_TYPES = ("int", "float", "decimal", "bool", "date", "datetime", "time", "string", "bytes")

PYTHON_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "decimal": decimal.Decimal,
    "bool": bool,
    "date": dt.date,
    "datetime": dt.datetime,
    "time": dt.time,
    "string": str,
    "bytes": bytes,
}
"""The Python type of each logical type's values."""


@dataclass(frozen=True)
class Column:
    """One result column.

    Attributes:
        name: Column name as the database reports it.
        type: Logical type (one of :data:`LOGICAL_TYPES`), or None when unknown.
        precision: Decimal precision when known.
        scale: Decimal scale when known.
    """

    name: str
    type: str | None = None
    precision: int | None = None
    scale: int | None = None


class RowStream(Protocol):
    """An open query result read in batches (bounded memory)."""

    @property
    def columns(self) -> list[Column]:
        """The result columns (known before the first batch is read)."""
        ...

    def batches(self) -> Iterator[list[Row]]:
        """Batches of at most the requested size (never empty); each row a tuple in column
        order. Call once: the rows are read from the database as the iterator advances."""
        ...


@runtime_checkable
class Database(Protocol):
    """What every ``db:*`` connector offers."""

    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> AbstractContextManager[RowStream]:
        """Run a query and read its rows in batches; the context closes cursor and transaction.

        Leaving the context early (not all batches read) is allowed and cheap. The connector
        stays usable afterwards.

        Raises:
            ConnectorError: The connection or the query failed (the driver's message, with
                passwords masked).
        """
        ...

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement and commit; the affected row count (-1 when unknown)."""
        ...

    def fetchall(self, sql: str, params: Params = None) -> tuple[list[str], list[Row]]:
        """The predecessor's ``fetchall``: column names and every row (small results only)."""
        ...

    def close(self) -> None:
        """Close connections and pools."""
        ...


@runtime_checkable
class ArrowSource(Protocol):
    """A database that can hand out Arrow record batches (pyarrow objects)."""

    def arrow_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 65536
    ) -> AbstractContextManager[tuple[Any, Iterator[Any]]]:
        """``(pyarrow.Schema, iterator of pyarrow.RecordBatch)`` with at most ``batch_size`` rows
        per batch (the iterator may be a :class:`StagedBatches`); raise
        :class:`NotImplementedError` when this query or driver cannot (the step falls back)."""
        ...


class StagedBatches:
    """Arrow batches in two stages, for consumers that read ahead on a second thread.

    ``raw`` yields what the driver read (its work releases the GIL, so a read-ahead thread can do
    it while the consumer writes); ``finish`` turns one raw batch into the batch to use (checks
    and conversions that run Python code, done on the consumer's thread so that the reading
    thread waits on the driver only). Iterating the object does both in turn.
    """

    def __init__(self, raw: Iterator[Any], finish: Callable[[Any], Any]) -> None:
        self.raw = raw
        self.finish = finish

    def __iter__(self) -> StagedBatches:
        return self

    def __next__(self) -> Any:
        return self.finish(next(self.raw))


def arrow_matches_stream(conn: Any) -> bool:
    """True when ``conn`` is an :class:`ArrowSource` whose batches hold exactly the values its
    ``stream`` returns, so that a consumer may write them in place of the rows.

    A connector promises this with the class attribute ``arrow_matches_stream = True``: each
    column's Arrow type holds its values without conversion (Python ints as integers, floats as
    float64, strings as strings; a column of nulls only may be of type null), and a batch that
    would have to convert a value raises :class:`NotImplementedError` instead (even after
    earlier batches were delivered; the consumer then starts over without Arrow).
    """
    return isinstance(conn, ArrowSource) and getattr(conn, "arrow_matches_stream", False) is True


@runtime_checkable
class CsvCopySource(Protocol):
    """A database that writes a query's CSV itself (PostgreSQL ``COPY ... TO STDOUT``)."""

    def copy_csv(self, sql: str, params: Params, out: IO[bytes], options: CsvCopyOptions) -> int:
        """Write the query's rows as CSV to ``out``; the row count.

        Values are rendered by the database's own text output (PostgreSQL: booleans ``t``/``f``,
        bytea ``\\x...``, timestamptz with the session's offset, empty strings quoted as ``""``
        to tell them from NULL), so callers compare that with their own rendering before using
        this path for byte-identical output. Raises :class:`NotImplementedError` for options the
        database cannot reproduce (e.g. ``line_terminator`` other than ``"\\n"``)."""
        ...


@runtime_checkable
class NativeExportSource(Protocol):
    """A database that writes files itself (DuckDB ``COPY (query) TO 'file'``)."""

    def export_native(self, sql: str, params: Params, path: str, fmt: str, options: Any) -> int:
        """Write the query's result to ``path`` in ``fmt`` (``csv``/``parquet``); the row count.

        ``options`` is a :class:`CsvCopyOptions` (or None) for ``csv``, and a mapping of writer
        options (e.g. ``{"compression": "zstd"}``) or None for ``parquet``. Raises
        :class:`NotImplementedError` for formats or options the database cannot write."""
        ...


@dataclass(frozen=True)
class CsvCopyOptions:
    """CSV dialect options a database-side writer must reproduce exactly.

    Attributes:
        delimiter: Field separator (one character).
        quotechar: Quote character (one character); quotes inside fields are doubled.
        header: Write the column names as the first line.
        null: Text written for NULL.
        encoding: Python codec name of the output.
        line_terminator: End of each line (default ``"\\n"``).
    """

    delimiter: str = ","
    quotechar: str = '"'
    header: bool = True
    null: str = ""
    encoding: str = "utf-8"
    line_terminator: str = "\n"


def infer_type(value: Any) -> str | None:
    """The logical type of a Python value (None for None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, decimal.Decimal):
        return "decimal"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    return "string"
