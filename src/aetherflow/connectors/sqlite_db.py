"""``db:sqlite3``: SQLite through the standard library.

Config: ``path`` (a file or ``:memory:``) or ``url`` (``sqlite:///relative.db``,
``sqlite:////absolute.db``, ``sqlite:///:memory:``). One connection per connector, opened on first
use and closed by :meth:`SQLiteDB.close` (the predecessor leaked one per call and had no
``execute``). Paramstyle ``?`` (a sequence) or ``:name`` (a mapping). SQLite reports no column
types, so they are inferred from the first batch's values.

Arrow batches (``arrow_batches``, the fast path of the data steps) come from ADBC
(``adbc-driver-sqlite``, the ``arrow`` extra) on a second, read-only connection to the same file.
They hold exactly the values :meth:`SQLiteDB.stream` returns, so the steps may write them in place
of rows (``arrow_matches_stream``): a column's Arrow type is the storage class of its values
(INTEGER → int64, REAL → float64, TEXT → string, BLOB → binary), and a column that is NULL
throughout the first batch has type null. SQLite does not enforce column types, while ADBC types
a column from its first batch and converts some later values silently (an integer in a REAL
column would read as ``3.0``, a number in a TEXT column as text); so the query runs with one more
column, the ``typeof()`` of its columns, and a batch holding a value of another storage class (or
a value in a null column) raises :class:`NotImplementedError`, as does anything ADBC cannot read
— the caller then starts over on the generic path. ADBC refuses every other storage class in an
int64 column (it raises), so columns that hold integers only are left out of that marker: a probe
through the ``sqlite3`` module reads the first rows (within a small instruction budget) to find
them, and a column the probe saw as integers only that ADBC does not type int64 is refused. Not
available for ``:memory:`` databases (a second connection cannot see them) or with ``:name``
parameters.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from aetherflow.connectors.dbapi import BatchStream, DbConnector, check_batch_size
from aetherflow.errors import ConfigError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Params, StagedBatches

MEMORY = ":memory:"
STORAGE_CLASSES = ("integer", "real", "text", "blob", "null")
"""What SQLite's ``typeof()`` returns; none is a prefix of another."""
_BATCH_ROWS_OPTION = "adbc.sqlite.query.batch_rows"
_RENAMED = re.compile(r":[0-9]+\Z")  # SQLite's suffix for a repeated name in a subquery
_PARAM_TYPES = (int, float, str, bytes, type(None))
PROBE_ROWS = 1000
"""Rows the probe reads to find the integer-only columns (at most the batch size; they are
held in memory as Python objects, so a small number even for wide rows)."""
PROBE_BUDGET = 2_000_000
"""SQLite VM instructions after which the probe gives up (a few milliseconds)."""
_PROBE_TICK = 10_000


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


def storage_classes(signature: str) -> list[str]:
    """The storage classes in a concatenation of ``typeof()`` results (``"integertextnull"``).

    Raises:
        ValueError: ``signature`` holds something else.
    """
    found: list[str] = []
    index = 0
    while index < len(signature):
        name = next((c for c in STORAGE_CLASSES if signature.startswith(c, index)), None)
        if name is None:
            raise ValueError(f"not a typeof() result: {signature[index:]!r}")
        found.append(name)
        index += len(name)
    return found


def subquery(sql: str) -> str:
    """``sql`` as a parenthesized subquery: trailing semicolons dropped, the closing parenthesis
    on its own line so a trailing ``-- comment`` cannot swallow it. (A semicolon before such a
    comment stays, and SQLite refuses the subquery: the caller's fallback handles it.)"""
    body = sql.strip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    return f"(\n{body}\n)"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checked_query(sql: str, names: Sequence[str], marker: str) -> str:
    """``sql`` with one more column named ``marker``: the ``typeof()`` of the columns ``names``
    (some or all of its columns), joined; ``sql`` as it is when ``names`` is empty.

    ``LIMIT -1 OFFSET 0`` keeps SQLite from flattening the subquery into the outer query, which
    would compute every column expression twice (once more for ``typeof``).
    """
    if not names:
        return sql
    classes = " || ".join(f"typeof({_quoted(name)})" for name in names)
    return (
        f"SELECT *, {classes} AS {_quoted(marker)} FROM "
        f"(SELECT * FROM {subquery(sql)} LIMIT -1 OFFSET 0)"
    )


def _storage_of(pa: Any, arrow_type: Any) -> str | None:
    """The storage class whose values ADBC delivers as ``arrow_type`` (None: not one)."""
    types = pa.types
    if types.is_int64(arrow_type):
        return "integer"
    if types.is_float64(arrow_type):
        return "real"
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return "text"
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return "blob"
    return None


class StorageCheck:
    """Turns ADBC's batches (last column: the ``typeof()`` marker of the ``checked`` columns, if
    any) into batches that hold what ``stream()`` returns, or raises
    :class:`NotImplementedError` (see the module docstring).

    Columns outside ``checked`` are the ones the probe found holding integers only: ADBC refuses
    (raises) any other storage class in an int64 column, so they need no marker; one that ADBC
    did not type int64 after all is refused here.

    Args:
        pa: The ``pyarrow`` module.
        schema: ADBC's schema (with the marker column last when ``checked`` is not empty).
        first: The first batch (None: the result is empty); it fixes which columns are null.
        checked: Indexes of the columns in the marker, in its order.
    """

    def __init__(self, pa: Any, schema: Any, first: Any | None, checked: Sequence[int]) -> None:
        self.pa = pa
        self.checked = list(checked)
        self.marker = bool(self.checked)
        fields_in = list(schema)[:-1] if self.marker else list(schema)
        self.names: list[str] = [field.name for field in fields_in]
        self.expected: list[str | None] = []
        fields = []
        for index, field in enumerate(fields_in):
            if first is None or first.column(index).null_count == first.num_rows:
                self.expected.append(None)
                fields.append(pa.field(field.name, pa.null()))
                continue
            storage = _storage_of(pa, field.type)
            if storage is None:
                raise NotImplementedError(f"column {field.name!r} has ADBC type {field.type}")
            if index not in self.checked and storage != "integer":
                raise NotImplementedError(
                    f"column {field.name!r} held only integers in the probe, but ADBC reads "
                    f"{storage} values"
                )
            self.expected.append(storage)
            fields.append(pa.field(field.name, field.type))
        self.schema = pa.schema(fields)
        self._seen: set[str] = set()

    def convert(self, batch: Any, pc: Any) -> Any:
        """``batch`` without the marker column, its null columns typed null.

        Raises:
            NotImplementedError: A value of another storage class than its column's (or a value
                in a column that was NULL throughout the first batch), or text that is not UTF-8
                (``stream()`` raises on it).
        """
        if self.marker:
            for signature in pc.unique(batch.column(batch.num_columns - 1)).to_pylist():
                if signature not in self._seen:
                    self._check(signature)
                    self._seen.add(signature)
        arrays = []
        for index, storage in enumerate(self.expected):
            array = batch.column(index)
            if storage is None:
                if array.null_count != len(array):
                    raise _late_values(self.names[index], "values")
                array = self.pa.nulls(batch.num_rows)
            elif storage == "text":
                array.validate(full=True)
            arrays.append(array)
        return self.pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _check(self, signature: str) -> None:
        found = storage_classes(signature)
        for index, storage in zip(self.checked, found, strict=True):
            name, expected = self.names[index], self.expected[index]
            if storage in ("null", expected):
                continue
            if expected is None:
                raise _late_values(name, f"{storage} values")
            raise NotImplementedError(
                f"column {name!r} holds {expected} and {storage} values; one Arrow type cannot "
                "keep both as stream() returns them"
            )


def _late_values(name: str, what: str) -> NotImplementedError:
    return NotImplementedError(
        f"column {name!r} is NULL throughout the first batch but holds {what} later"
    )


def integer_columns(rows: Sequence[Sequence[Any]], width: int) -> set[int]:
    """Indexes of the columns holding at least one integer and nothing but integers and NULL."""
    found: set[int] = set()
    for index in range(width):
        kinds = {type(row[index]) for row in rows} - {type(None)}
        if kinds == {int}:
            found.add(index)
    return found


def _arrow_modules() -> tuple[Any, Any, Any]:
    """``(adbc_driver_sqlite.dbapi, pyarrow, pyarrow.compute)``.

    Raises:
        NotImplementedError: One is not installed (the generic path needs none of them).
    """
    try:
        return (
            importlib.import_module("adbc_driver_sqlite.dbapi"),
            importlib.import_module("pyarrow"),
            importlib.import_module("pyarrow.compute"),
        )
    except ImportError as exc:
        raise NotImplementedError(
            f"Arrow batches need adbc-driver-sqlite and pyarrow (pip install 'aetherflow[arrow]'): "
            f"{exc}"
        ) from exc


def _positional(params: Params) -> tuple[Any, ...] | None:
    """``params`` as ADBC binds them: positionally, plain values only.

    Raises:
        NotImplementedError: A mapping (``:name``), or a value ADBC might bind differently from
            the ``sqlite3`` module (a bool, a Decimal, ...).
    """
    if params is None:
        return None
    if isinstance(params, Mapping | str | bytes):
        raise NotImplementedError("ADBC binds parameters by position only")
    values = tuple(params)
    if any(type(value) not in _PARAM_TYPES for value in values):
        raise NotImplementedError("ADBC binds int, float, str, bytes and None parameters only")
    return values


def _next_batch(reader: Any) -> Any | None:
    """The next non-empty batch of ``reader`` (None at the end)."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return None
        if batch.num_rows:
            return batch


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

    arrow_matches_stream: ClassVar[bool] = True
    """The Arrow batches hold exactly the values :meth:`stream` returns."""

    @contextlib.contextmanager
    def arrow_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 65536
    ) -> Iterator[tuple[Any, Iterator[Any]]]:
        """``(schema, record batches)`` of at most ``batch_size`` rows, read through ADBC.

        Raises:
            NotImplementedError: ADBC or pyarrow is missing, the database is ``:memory:``, the
                parameters are named, the query cannot be wrapped or run by ADBC, or a value
                does not fit its column's type (also while the batches are read; see the module
                docstring).
        """
        check_batch_size(batch_size)
        dbapi, pa, pc = _arrow_modules()
        bound = _positional(params)
        names, integers = self._probe(sql, bound, min(batch_size, PROBE_ROWS))
        checked = [index for index in range(len(names)) if index not in integers]
        marker = "__aetherflow_typeof"
        while marker in names:
            marker += "_"
        errors = (dbapi.Error, OSError, pa.ArrowException, ValueError)
        try:
            conn = dbapi.connect(self._read_only_uri())
        except dbapi.Error as exc:
            raise NotImplementedError(f"ADBC cannot open {self.path}: {exc}") from exc
        try:
            cursor = conn.cursor()
            try:
                cursor.adbc_statement.set_options(**{_BATCH_ROWS_OPTION: str(batch_size)})
                try:
                    text = checked_query(sql, [names[index] for index in checked], marker)
                    cursor.execute(text, bound)
                    reader = cursor.fetch_record_batch()
                    first = _next_batch(reader)
                    check = StorageCheck(pa, reader.schema, first, checked)
                except errors as exc:
                    raise NotImplementedError(f"ADBC cannot run the query: {exc}") from exc
                if check.names != names:
                    raise NotImplementedError(f"ADBC names the columns {check.names}")
                yield check.schema, _checked_batches(check, pc, first, reader, errors)
            finally:
                cursor.close()
        finally:
            conn.close()

    def _read_only_uri(self) -> str:
        if self.path in (MEMORY, ""):
            raise NotImplementedError("a second connection cannot see an in-memory database")
        return "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"

    def _probe(
        self, sql: str, params: tuple[Any, ...] | None, rows: int
    ) -> tuple[list[str], set[int]]:
        """The query's column names, and the columns of its first ``rows`` rows that hold
        integers only (:func:`integer_columns`), read through the ``sqlite3`` module.

        The probe gives up after :data:`PROBE_BUDGET` SQLite instructions (a query that sorts or
        aggregates a large table would compute everything once more): then no column is
        assumed integer, and the names come from ``LIMIT 0`` around the query (no row computed).

        Raises:
            NotImplementedError: The statement cannot be a subquery, or names repeat (SQLite
                renames repeated names in a subquery, so the file would not say what ``stream()``
                says).
        """
        conn = self.connection()
        bound = params if params is not None else ()
        calls = 0

        def over_budget() -> int:
            nonlocal calls
            calls += 1
            return int(calls * _PROBE_TICK > PROBE_BUDGET)

        integers: set[int] = set()
        conn.set_progress_handler(over_budget, _PROBE_TICK)
        try:
            cursor = conn.execute(f"SELECT * FROM {subquery(sql)} LIMIT {int(rows)}", bound)
            try:
                names = [str(d[0]) for d in cursor.description or ()]
                integers = integer_columns(cursor.fetchall(), len(names))
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            if calls * _PROBE_TICK <= PROBE_BUDGET:
                raise NotImplementedError(f"the query cannot be wrapped: {exc}") from exc
            conn.set_progress_handler(None, 0)
            cursor = conn.execute(f"SELECT * FROM {subquery(sql)} LIMIT 0", bound)
            names = [str(d[0]) for d in cursor.description or ()]
            cursor.close()
            integers = set()
        finally:
            conn.set_progress_handler(None, 0)
        if any(_RENAMED.search(name) for name in names):
            raise NotImplementedError(f"repeated column names: {names}")
        return names, integers

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


def _checked_batches(
    check: StorageCheck,
    pc: Any,
    first: Any | None,
    reader: Any,
    errors: tuple[type[BaseException], ...],
) -> StagedBatches:
    """ADBC's batches (read ahead by the consumer, if it does) checked and converted by
    :meth:`StorageCheck.convert` on the consumer's thread."""

    def finish(batch: Any) -> Any:
        try:
            return check.convert(batch, pc)
        except errors as exc:
            raise NotImplementedError(f"ADBC batch not usable: {exc}") from exc

    return StagedBatches(_raw_batches(first, reader, errors), finish)


def _raw_batches(
    first: Any | None, reader: Any, errors: tuple[type[BaseException], ...]
) -> Iterator[Any]:
    batch = first
    while batch is not None:
        yield batch
        try:
            batch = _next_batch(reader)
        except errors as exc:
            raise NotImplementedError(f"ADBC stopped reading: {exc}") from exc
