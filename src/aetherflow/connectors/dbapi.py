"""Shared machinery of the ``db:*`` connectors: batched row streams, errors, the legacy API.

Every built-in database connector derives from :class:`DbConnector`, which implements the
predecessor's methods (``fetchall``, ``read``, ``fetchmany``) and ``check`` once, on top of the
driver-specific :meth:`DbConnector.stream`. Drivers turn their cursors into a
:class:`BatchStream`, which reads ``fetchmany(batch_size)`` batches on demand (memory bounded by
one batch), fills column types the driver did not report from the first batch, and turns values of
``string`` columns the driver returns as other objects (JSON, UUID, lists) into text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from aetherflow.connectors.dsn import (
    Masker,
    config_secrets,
    connect_reason,
    driver_message,
    register_with_run,
)
from aetherflow.errors import ConnectorError
from aetherflow.runner.connector import ConnectorBase, ConnectorInit
from aetherflow.runner.database import PYTHON_TYPES, Column, Params, Row, RowStream, infer_type
from aetherflow.runtime.deps import require

Fetch = Callable[[int], Sequence[Sequence[Any]]]
Converter = Callable[[Any], Any]
SQL_EXCERPT_CHARS = 200
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` when it is a positive int.

    Raises:
        ValueError: Zero, negative or not an int.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def to_text(value: Any) -> str:
    """Text for a value of a ``string`` column: JSON for dicts and lists, ``HH:MM:SS`` for
    durations, UTF-8 for bytes, ``str`` otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dt.timedelta):
        return time_text(value)
    return str(value)


def infer_columns(columns: Sequence[Column], rows: Sequence[Row]) -> list[Column]:
    """``columns`` with each unknown type taken from its first non-None value in ``rows``."""
    resolved = list(columns)
    for index, column in enumerate(resolved):
        if column.type is not None:
            continue
        for row in rows:
            kind = infer_type(row[index])
            if kind is not None:
                resolved[index] = Column(column.name, kind)
                break
    return resolved


def _after_quoted(sql: str, start: int) -> int:
    """Index after the quoted string or identifier opening at ``start`` (doubled quotes
    inside it included)."""
    quote, index = sql[start], start + 1
    while True:
        close = sql.find(quote, index)
        if close < 0:
            return len(sql)
        if not sql.startswith(quote, close + 1):
            return close + 1
        index = close + 2


def _skip(sql: str, index: int) -> tuple[int, bool]:
    """Where the comment, quoted text or dollar-quoted body at ``index`` ends, and whether it
    is part of the statement (comments are not); ``(index, False)`` when none starts there."""
    if sql.startswith("--", index):
        newline = sql.find("\n", index)
        return (len(sql) if newline < 0 else newline + 1), False
    if sql.startswith("/*", index):
        close = sql.find("*/", index + 2)
        return (len(sql) if close < 0 else close + 2), False
    if sql[index] in "'\"":
        return _after_quoted(sql, index), True
    tag = _DOLLAR_TAG.match(sql, index) if sql[index] == "$" else None
    if tag is not None:
        close = sql.find(tag.group(), tag.end())
        return (len(sql) if close < 0 else close + len(tag.group())), True
    return index, False


def query_body(sql: str) -> str:
    """``sql`` without trailing semicolons, comments and whitespace, ready to be wrapped as a
    subquery (``COPY (query) TO ...``): a trailing ``-- comment`` would swallow the closing
    parenthesis, and a ``;`` is a syntax error there. Quoted strings and identifiers and
    dollar-quoted bodies are skipped over, so a ``--`` or ``;`` inside them is kept."""
    end = index = 0
    while index < len(sql):
        after, significant = _skip(sql, index)
        if after > index:
            index = after
            end = after if significant else end
            continue
        if not sql[index].isspace() and sql[index] != ";":
            end = index + 1
        index += 1
    return sql[:end]


class BatchStream:
    """A :class:`~aetherflow.runner.database.RowStream` over a driver's ``fetchmany``.

    Args:
        columns: Columns as the driver described them (unknown types as None).
        fetch: ``fetch(n)`` returns at most ``n`` rows, an empty sequence at the end.
        batch_size: Rows per batch.
        converters: Per column, a function applied to non-None values (or None).
        sample_rows: Rows of the first batch used to infer unknown types (all when None);
            settable until :attr:`columns` is first read.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        fetch: Fetch,
        batch_size: int,
        *,
        converters: Sequence[Converter | None] | None = None,
        sample_rows: int | None = None,
    ) -> None:
        self._columns = list(columns)
        self._fetch = fetch
        self._batch_size = check_batch_size(batch_size)
        self._convert = [(i, f) for i, f in enumerate(converters or ()) if f is not None]
        self.sample_rows = sample_rows
        self._pending: list[Row] | None = None
        self._resolved = all(column.type is not None for column in self._columns)
        self.exhausted = False
        self.rows_read = 0

    @property
    def columns(self) -> list[Column]:
        """The result columns; unknown types are inferred from the first batch (read now)."""
        if not self._resolved:
            if self._pending is None:
                self._pending = self._next()
            sample: list[Row] = self._pending or []
            if self.sample_rows is not None:
                sample = sample[: self.sample_rows]
            self._columns = infer_columns(self._columns, sample)
            self._resolved = True
        return list(self._columns)

    def batches(self) -> Iterator[list[Row]]:
        """Batches of at most ``batch_size`` rows, read from the driver as the loop advances."""
        if self._pending is not None:
            first, self._pending = self._pending, None
            yield first
        while (batch := self._next()) is not None:
            yield batch

    def _next(self) -> list[Row] | None:
        if self.exhausted:
            return None
        fetched = self._fetch(self._batch_size)
        if not fetched:
            self.exhausted = True
            return None
        if self._convert:
            batch = [self._converted(row) for row in fetched]
        else:
            batch = [row if type(row) is tuple else tuple(row) for row in fetched]
        self.rows_read += len(batch)
        return batch

    def _converted(self, row: Sequence[Any]) -> Row:
        values = list(row)
        for index, convert in self._convert:
            if values[index] is not None:
                values[index] = convert(values[index])
        return tuple(values)


class DbConnector(ConnectorBase):
    """Base of the built-in ``db:*`` connectors.

    Subclasses implement :meth:`stream`, :meth:`execute`, :meth:`close`, :meth:`_driver_errors`
    and :meth:`_where`; everything else (legacy methods, error messages, masking) is here.
    """

    family: ClassVar[str] = "database"
    """Name used in messages (``postgres``, ``mysql``, ...)."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Importable modules the connector needs (``aetherflow doctor`` checks them)."""
    ping_sql: ClassVar[str] = "SELECT 1"

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self._masker = Masker(config_secrets(self.config))
        register_with_run(self.ctx, self._masker.secrets)

    # -- driver hooks --------------------------------------------------------------------------

    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> AbstractContextManager[RowStream]:
        """Run a query and read its rows in batches (see :class:`Database`)."""
        raise NotImplementedError

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement and commit; the affected row count (-1 when unknown)."""
        raise NotImplementedError

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception base classes (imported lazily)."""
        raise NotImplementedError

    def _where(self) -> str:
        """Where the database is (``host:port``, a path), for messages; no password."""
        raise NotImplementedError

    # -- helpers for subclasses ----------------------------------------------------------------

    def _require(self, spec: str) -> Any:
        return require(spec, needed_for=f"connector {self.kind}:{self.driver} ({self.name!r})")

    def mask(self, text: str) -> str:
        """``text`` with this connector's passwords replaced by ``***``."""
        return self._masker.mask(text)

    def _add_secret(self, secret: str | None) -> None:
        if secret:
            self._masker.add(secret)
            register_with_run(self.ctx, [secret])

    def _connect_error(self, exc: BaseException) -> ConnectorError:
        reason = self.mask(connect_reason(driver_message(exc)))
        return ConnectorError(
            f"cannot connect to {self.family} resource {self.name!r} at {self._where()}: {reason}"
        )

    def _query_error(self, action: str, exc: BaseException, sql: str | None) -> ConnectorError:
        text = self.mask(driver_message(exc))
        message = f"{self.family} resource {self.name!r}: {action} failed: {text}"
        if sql:
            excerpt = " ".join(sql.split())
            if len(excerpt) > SQL_EXCERPT_CHARS:
                excerpt = excerpt[:SQL_EXCERPT_CHARS] + " ..."
            message += f"\nSQL: {self.mask(excerpt)}"
        return ConnectorError(message)

    @contextlib.contextmanager
    def _guard(
        self,
        action: str,
        sql: str | None = None,
        errors: tuple[type[BaseException], ...] | None = None,
    ) -> Iterator[None]:
        """Turn the driver's errors (or ``errors``) inside the block into
        :class:`ConnectorError`."""
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, errors or self._driver_errors()):
                raise self._query_error(action, exc, sql) from exc
            raise

    def _guarded(self, fetch: Fetch, sql: str) -> Fetch:
        """``fetch`` with driver errors (raised while reading rows) wrapped."""

        def guarded(size: int) -> Sequence[Sequence[Any]]:
            with self._guard("reading rows", sql):
                return fetch(size)

        return guarded

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.kind}:{self.driver} resource={self.name!r} "
            f"at {self.mask(self._where())}>"
        )

    # -- the predecessor's API -----------------------------------------------------------------

    def fetchall(self, sql: str, params: Params = None) -> tuple[list[str], list[Row]]:
        """Column names and every row (the predecessor's ``fetchall``; small results only).

        Raises:
            ConnectorError: The query failed.
        """
        with self.stream(sql, params) as rows:
            data = [row for batch in rows.batches() for row in batch]
            return [column.name for column in rows.columns], data

    def read(self, sql: str, params: Params = None) -> tuple[list[str], list[Row]]:
        """Alias of :meth:`fetchall` (the predecessor's name)."""
        return self.fetchall(sql, params)

    def fetchmany(
        self, sql: str, params: Params = None, fetch_size: int = 5000, sample_size: int = 200
    ) -> tuple[list[str], Iterator[Row], dict[str, type | None]]:
        """The predecessor's streaming read: ``(columns, row iterator, python types)``.

        The query runs now; rows are read ``fetch_size`` at a time while the iterator advances.
        ``python types`` maps each column to the Python type of its values (``int``, ``str``,
        ``decimal.Decimal``, ...), taken from the driver's description or, when it has none,
        from the first ``sample_size`` rows (None for a column that is NULL there). The cursor
        closes when the iterator is exhausted, closed or garbage-collected.
        """
        stack = contextlib.ExitStack()
        with stack:
            stream = stack.enter_context(self.stream(sql, params, batch_size=fetch_size))
            if isinstance(stream, BatchStream):
                stream.sample_rows = max(1, sample_size)
            columns = stream.columns
            owned = stack.pop_all()
        iterator = _legacy_rows(owned, stream)
        # An iterator dropped before its first row never runs its ``with``; close it then.
        weakref.finalize(iterator, owned.close)
        pytypes = {c.name: PYTHON_TYPES.get(c.type) if c.type else None for c in columns}
        return [c.name for c in columns], iterator, pytypes

    def check(self) -> None:
        """Run a trivial query (``aetherflow doctor --connect``).

        Raises:
            ConnectorError: The database is unreachable or refused the query.
        """
        self.fetchall(self.ping_sql)


def _legacy_rows(stack: contextlib.ExitStack, stream: RowStream) -> Iterator[Row]:
    with stack:
        for batch in stream.batches():
            yield from batch


def time_text(value: dt.timedelta) -> str:
    """A duration as ``[-]HH:MM:SS[.ffffff]`` (MySQL's TIME text)."""
    sign = "-" if value < dt.timedelta(0) else ""
    micros = abs(value) // dt.timedelta(microseconds=1)
    seconds, micro = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{text}.{micro:06d}" if micro else text
