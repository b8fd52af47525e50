"""Where the data steps get rows: a ``Database`` connector, or a predecessor-style one.

* A :class:`~aetherflow.runner.database.Database` streams batches (``stream``).
* A connector written for the predecessor (a plugin) that is not a ``Database`` but has
  ``fetchmany(sql, params, fetch_size=, sample_size=)`` returning ``(columns, row iterator,
  types)`` is read through that iterator in batches; one with only ``fetchall(sql, params)``
  returning ``(columns, rows)`` works too, but holds the whole result in memory (its own API).

Errors of foreign code (drivers, plugins) are wrapped in :class:`ConnectorError` naming the
resource. Also here: the ``step_progress`` reporter, and :func:`prefetched`, which reads the next
batches on a second thread while the step writes.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

from aetherflow.errors import AetherflowError, ConfigError, ConnectorError
from aetherflow.runner.database import Column, Database, Params, Row, StagedBatches
from aetherflow.steps.db_types import DTYPE_SYNONYMS

log = logging.getLogger(__name__)

PROGRESS_EVENT = "step_progress"
_PY_KINDS: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    Decimal: "decimal",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    str: "string",
    bytes: "bytes",
}


@dataclass
class OpenResult:
    """An open query result: its columns and an iterator of row batches."""

    columns: list[Column]
    batches: Iterator[list[Row]]


def database_for(ctx: Any, resource: str) -> Any:
    """The connector of resource ``resource`` (kind ``db``).

    Raises:
        ConfigError: Unknown resource, or not of kind ``db``.
    """
    try:
        return ctx.connectors.get("db", resource)
    except KeyError as exc:
        detail = exc.args[0] if exc.args else str(exc)
        raise ConfigError(f"input resource: {detail}") from exc


def foreign_error(resource: str, exc: Exception) -> ConnectorError:
    """A driver's or plugin's exception as a :class:`ConnectorError` naming the resource."""
    return ConnectorError(f"resource {resource!r}: the query failed: {type(exc).__name__}: {exc}")


def _guarded(resource: str, batches: Iterator[list[Row]]) -> Iterator[list[Row]]:
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except AetherflowError:
            raise
        except Exception as exc:
            raise foreign_error(resource, exc) from exc
        if batch:
            yield batch


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(tuple(row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _legacy_kind(types: Any, index: int, name: str) -> str | None:
    if isinstance(types, dict):
        value = types.get(name)
    elif isinstance(types, list | tuple) and index < len(types):
        value = types[index]
    else:
        value = None
    if isinstance(value, type):
        return _PY_KINDS.get(value)
    if isinstance(value, str):
        return DTYPE_SYNONYMS.get(value.lower())
    return None


@contextmanager
def open_rows(
    conn: Any, resource: str, sql: str, params: Params, batch_size: int
) -> Iterator[OpenResult]:
    """Run ``sql`` on ``conn`` and yield its columns and batches of at most ``batch_size`` rows.

    Raises:
        ConnectorError: The connector is not a database, or the driver failed.
    """
    with ExitStack() as stack:
        try:
            result = _open(conn, resource, sql, params, batch_size, stack)
        except AetherflowError:
            raise
        except Exception as exc:
            raise foreign_error(resource, exc) from exc
        yield result


def _open(
    conn: Any, resource: str, sql: str, params: Params, batch_size: int, stack: ExitStack
) -> OpenResult:
    if isinstance(conn, Database):
        stream = stack.enter_context(conn.stream(sql, params, batch_size=batch_size))
        return OpenResult(list(stream.columns), _guarded(resource, iter(stream.batches())))
    fetchmany = getattr(conn, "fetchmany", None)
    if callable(fetchmany):
        names, rows, types = fetchmany(sql, params, fetch_size=batch_size, sample_size=200)
        close = getattr(rows, "close", None)
        if callable(close):
            stack.callback(close)
        columns = [Column(str(n), _legacy_kind(types, i, str(n))) for i, n in enumerate(names)]
        return OpenResult(columns, _guarded(resource, _chunks(rows, batch_size)))
    fetchall = getattr(conn, "fetchall", None)
    if callable(fetchall):
        names, rows = fetchall(sql, params)
        columns = [Column(str(n)) for n in names]
        return OpenResult(columns, _guarded(resource, _chunks(rows, batch_size)))
    raise ConnectorError(
        f"resource {resource!r}: connector {type(conn).__name__} is not a database connector "
        "(it has neither stream() nor the predecessor's fetchmany()/fetchall())"
    )


T = TypeVar("T")
PREFETCH_DEPTH = 2
_DONE = object()


class _Failed:
    """An exception of the reading thread, handed to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


@contextmanager
def prefetched(items: Iterator[T], depth: int = PREFETCH_DEPTH) -> Iterator[Iterator[T]]:
    """``items``, advanced by a second thread up to ``depth`` items ahead of the consumer.

    Drivers that release the GIL while they read (SQLite and ADBC do) then read the next batches
    while the step renders and writes this one. Memory grows by at most ``depth`` items. An
    exception of ``items`` is raised in the consumer when it reaches that point. Leaving the
    block stops the thread and waits for it (at most one pending read), so the source may be
    closed right after.
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - a thread boundary: the consumer raises it
            offer(_Failed(exc))
            return
        offer(_DONE)

    def consume() -> Iterator[T]:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield cast(T, item)

    reader = threading.Thread(target=read, name="aetherflow-prefetch", daemon=True)
    reader.start()
    try:
        yield consume()
    finally:
        stop.set()
        reader.join()


# Tests replace this to move time without sleeping.
CLOCK: Callable[[], float] = time.monotonic


class Progress:
    """Emits ``step_progress`` at most every ``every`` seconds while rows are written."""

    def __init__(self, step: Any, step_type: str, every: float) -> None:
        self.step = step
        self.step_type = step_type
        self.every = every
        self.engine = "generic"
        self.started = CLOCK()
        self._next = self.started + every

    def update(self, rows: int | None, written: Callable[[], int | None]) -> None:
        """Report ``rows`` rows so far; ``written()`` gives the bytes written (called only when
        an event is due)."""
        now = CLOCK()
        if now < self._next:
            return
        self._next = now + self.every
        services = getattr(self.step.ctx, "services", None)
        if services is None:
            return
        elapsed = now - self.started
        rate = round(rows / elapsed, 1) if rows is not None and elapsed > 0 else None
        services.emit(
            PROGRESS_EVENT,
            job_id=self.step.job_id,
            step_id=self.step.record_id,
            step_type=self.step_type,
            engine=self.engine,
            rows=rows,
            rows_per_s=rate,
            bytes=written(),
            elapsed_ms=int(elapsed * 1000),
        )


@contextmanager
def read_ahead(batches: Iterator[Any], depth: int = PREFETCH_DEPTH) -> Iterator[Iterator[Any]]:
    """:func:`prefetched` for a driver's batches: of :class:`StagedBatches`, only the driver's
    reading runs on the second thread, and each batch is finished on this one."""
    if not isinstance(batches, StagedBatches):
        with prefetched(batches, depth) as ahead:
            yield ahead
        return
    finish = batches.finish
    with prefetched(batches.raw, depth) as ahead:
        yield (finish(batch) for batch in ahead)
