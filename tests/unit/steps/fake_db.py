"""An in-memory ``Database`` for the data step tests, with fake fast-path capabilities.

A query's text is the name of a :class:`Dataset` registered in :data:`DATASETS` (tests register
them; the ``fake_db`` fixture clears them). Drivers (kind ``db``):

* ``fake``: ``Database`` only (``stream``);
* ``fake_copy``: plus ``copy_csv`` (writes PostgreSQL-like CSV: NULL empty, ``""`` quoted, in
  small chunks that split records);
* ``fake_arrow``: plus ``arrow_batches`` (Arrow types from the dataset, e.g. int32);
* ``fake_native``: plus ``export_native`` (csv like ``copy_csv``, parquet through pyarrow with
  the dataset's Arrow types);
* ``fake_all``: every capability;
* ``legacy_fetchmany`` / ``legacy_fetchall``: the predecessor's API only (not a ``Database``).

Resource config ``decline: true`` makes every capability raise ``NotImplementedError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from aetherflow.runner.connector import ConnectorBase
from aetherflow.runner.database import Column, CsvCopyOptions, Params, Row
from aetherflow.runtime.registry import Registry


@dataclass
class Dataset:
    """A query result: columns and rows (or a factory of a row iterator, for big results)."""

    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    factory: Callable[[], Iterable[Row]] | None = None
    arrow_types: list[Any] | None = None

    def iter_rows(self) -> Iterator[Row]:
        return iter(self.factory() if self.factory is not None else self.rows)


DATASETS: dict[str, Dataset] = {}
CALLS: list[tuple[str, str, Any, int | None]] = []
"""``(method, sql, params, batch_size)`` of every call, in order."""


def cols(*spec: str | tuple[str, str | None]) -> list[Column]:
    """Columns from names (type unknown) or ``(name, type)`` pairs."""
    return [Column(s) if isinstance(s, str) else Column(s[0], s[1]) for s in spec]


class _Stream:
    def __init__(self, data: Dataset, batch_size: int) -> None:
        self._data = data
        self._size = batch_size
        self.closed = False

    @property
    def columns(self) -> list[Column]:
        return list(self._data.columns)

    def batches(self) -> Iterator[list[Row]]:
        batch: list[Row] = []
        for row in self._data.iter_rows():
            batch.append(tuple(row))
            if len(batch) == self._size:
                yield batch
                batch = []
        if batch:
            yield batch


class FakeDatabase(ConnectorBase):
    """``Database`` over :data:`DATASETS`."""

    def _data(self, sql: str) -> Dataset:
        if sql not in DATASETS:
            raise RuntimeError(f"no such table: {sql}")
        return DATASETS[sql]

    @contextmanager
    def stream(self, sql: str, params: Params = None, *, batch_size: int = 5000) -> Iterator[Any]:
        CALLS.append(("stream", sql, params, batch_size))
        yield _Stream(self._data(sql), batch_size)

    def execute(self, sql: str, params: Params = None) -> int:
        CALLS.append(("execute", sql, params, None))
        return 0

    def fetchall(self, sql: str, params: Params = None) -> tuple[list[str], list[Row]]:
        data = self._data(sql)
        return [c.name for c in data.columns], list(data.iter_rows())

    def close(self) -> None:
        pass

    def _declines(self, what: str) -> None:
        if self.config.get("decline"):
            raise NotImplementedError(f"{what} declined by the test")


def pg_text(value: Any) -> str | None:
    """PostgreSQL's text output of a value (None for NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)


def pg_csv(data: Dataset, options: CsvCopyOptions) -> bytes:
    """What ``COPY (query) TO STDOUT (FORMAT csv, NULL '')`` writes (its own implementation)."""
    d, q = options.delimiter, options.quotechar

    def field_text(value: Any) -> str:
        text = pg_text(value)
        if text is None:
            return options.null
        if text == "" or any(ch in text for ch in (d, q, "\n", "\r")) or text == "\\.":
            return q + text.replace(q, q + q) + q
        return text

    lines = []
    if options.header:
        lines.append(d.join(field_text(c.name) for c in data.columns))
    lines.extend(d.join(field_text(v) for v in row) for row in data.iter_rows())
    return "".join(line + "\n" for line in lines).encode(options.encoding)


class FakeCopyDatabase(FakeDatabase):
    """Plus ``copy_csv``, delivered in 7-byte chunks."""

    def copy_csv(self, sql: str, params: Params, out: IO[bytes], options: CsvCopyOptions) -> int:
        CALLS.append(("copy_csv", sql, params, None))
        self._declines("copy_csv")
        data = self._data(sql)
        payload = pg_csv(data, options)
        for start in range(0, len(payload), 7):
            out.write(payload[start : start + 7])
        return sum(1 for _ in data.iter_rows())


def _arrow_table(data: Dataset) -> Any:
    import pyarrow as pa

    rows = list(data.iter_rows())
    arrays = []
    for index, _column in enumerate(data.columns):
        values = [row[index] for row in rows]
        kind = data.arrow_types[index] if data.arrow_types else None
        arrays.append(pa.array(values, type=kind))
    return pa.table(arrays, names=[c.name for c in data.columns])


class FakeArrowDatabase(FakeDatabase):
    """Plus ``arrow_batches``."""

    @contextmanager
    def arrow_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 65536
    ) -> Iterator[tuple[Any, Iterator[Any]]]:
        CALLS.append(("arrow_batches", sql, params, batch_size))
        self._declines("arrow_batches")
        table = _arrow_table(self._data(sql))
        yield table.schema, iter(table.to_batches(max_chunksize=batch_size))


class FakeNativeDatabase(FakeDatabase):
    """Plus ``export_native``."""

    def export_native(self, sql: str, params: Params, path: str, fmt: str, options: Any) -> int:
        CALLS.append(("export_native", sql, params, None))
        self._declines("export_native")
        data = self._data(sql)
        if fmt == "csv":
            with open(path, "wb") as handle:
                handle.write(pg_csv(data, options))
        else:
            import pyarrow.parquet as pq

            pq.write_table(_arrow_table(data), path)
        return sum(1 for _ in data.iter_rows())


class FakeAllDatabase(FakeCopyDatabase, FakeArrowDatabase, FakeNativeDatabase):
    """Every capability."""


class LegacyFetchmany:
    """The predecessor's connector shape: ``fetchmany`` returning ``(cols, rows, pytypes)``."""

    def __init__(self, config: dict[str, Any], options: dict[str, Any]) -> None:
        self.config = config

    def fetchmany(
        self, sql: str, params: Any = None, fetch_size: int = 5000, sample_size: int = 200
    ) -> tuple[list[str], Iterator[Any], dict[str, type[Any]]]:
        CALLS.append(("fetchmany", sql, params, fetch_size))
        data = DATASETS[sql]
        names = [c.name for c in data.columns]
        pytypes: dict[str, type[Any]] = {c.name: int for c in data.columns if c.type == "int"}
        return names, (list(row) for row in data.iter_rows()), pytypes

    def fetchall(self, sql: str, params: Any = None) -> tuple[list[str], list[Any]]:
        raise AssertionError("fetchmany is preferred")


class LegacyFetchall:
    """A predecessor connector with ``fetchall`` only."""

    def __init__(self, config: dict[str, Any], options: dict[str, Any]) -> None:
        self.config = config

    def fetchall(self, sql: str, params: Any = None) -> tuple[list[str], list[Any]]:
        CALLS.append(("fetchall", sql, params, None))
        data = DATASETS[sql]
        return [c.name for c in data.columns], [list(row) for row in data.iter_rows()]


class NotADatabase:
    """A ``db`` connector with none of the methods."""

    def __init__(self, config: dict[str, Any], options: dict[str, Any]) -> None:
        self.config = config


DRIVERS: dict[str, type[Any]] = {
    "fake": FakeDatabase,
    "fake_copy": FakeCopyDatabase,
    "fake_arrow": FakeArrowDatabase,
    "fake_native": FakeNativeDatabase,
    "fake_all": FakeAllDatabase,
    "legacy_fetchmany": LegacyFetchmany,
    "legacy_fetchall": LegacyFetchall,
    "nothing": NotADatabase,
}


def register_fakes(registry: Registry) -> None:
    """Register every fake driver under kind ``db`` (replacing earlier registrations)."""
    for driver, cls in DRIVERS.items():
        registry.add_connector("db", driver, cls, origin="test", replace=True)
