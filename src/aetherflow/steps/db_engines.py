"""How an extract is written: the generic row path, or a driver fast path (``engine: auto``).

Fast paths, tried in this order when the connector offers them:

* CSV/TSV: ``copy`` (:class:`CsvCopySource`, PostgreSQL ``COPY ... TO STDOUT``), then ``native``
  (:class:`NativeExportSource` with ``csv``, DuckDB ``COPY ... TO``). The database writes plain
  CSV, which :class:`CsvRelay` parses and writes again with the step's own writer and options,
  so quoting, NULL versus ``""``, line ends and encoding are the generic path's byte for byte.
  They apply only when every column is ``int``, ``decimal``, ``date`` or ``string`` (found by
  :func:`describe`), the kinds whose database text equals the generic rendering. Then ``arrow``
  (:class:`ArrowSource` batches that hold exactly the rows, e.g. SQLite's): the batches are
  rendered column by column by :class:`~aetherflow.steps.db_arrow_csv.ArrowCsvRenderer`, whose
  rules are checked against the step's writer before each file.
* Parquet: ``arrow`` (:class:`ArrowSource`; batches are cast to the generic path's Arrow types),
  then ``native`` (``parquet``; kept only when the file's types already are the generic path's).
  They apply only without ``dtypes``.

A connector that cannot serve a query raises ``NotImplementedError``; the next path is tried,
and the generic path always works.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.errors import AetherflowError, StepError
from aetherflow.runner.database import (
    ArrowSource,
    Column,
    CsvCopyOptions,
    CsvCopySource,
    NativeExportSource,
    Params,
    arrow_matches_stream,
)
from aetherflow.steps.db_arrow_csv import (
    ArrowCsvRenderer,
    agrees_with_csv_module,
    arrow_compute_modules,
)
from aetherflow.steps.db_inputs import CsvOptions
from aetherflow.steps.db_parquet import canonical_arrow_type, kind_of_arrow, pyarrow_modules
from aetherflow.steps.db_source import Progress, foreign_error, open_rows, read_ahead
from aetherflow.steps.db_types import DType
from aetherflow.steps.db_writers import CsvSink, FileDigest, Number, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractPlan:
    """What to extract and how (from the step inputs)."""

    step_type: str
    resource: str
    sql: str
    params: Params
    format: str
    fetch_size: int
    csv: CsvOptions
    declared: dict[str, DType]
    needs_types: bool
    engine: str
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass
class Extracted:
    """What an engine wrote."""

    engine: str
    columns: list[str]
    kinds: list[str | None]
    row_count: int
    sha256: str


FastPath = Callable[[Any, ExtractPlan, Path, Progress], "Extracted | None"]


def fast_paths(conn: Any, plan: ExtractPlan) -> list[tuple[str, FastPath]]:
    """The fast paths that apply to ``plan`` on ``conn``, in the order they are tried."""
    if plan.engine != "auto":
        return []
    paths: list[tuple[str, FastPath]] = []
    if plan.format in ("csv", "tsv"):
        if isinstance(conn, CsvCopySource):
            paths.append(("copy", copy_path))
        if isinstance(conn, NativeExportSource):
            paths.append(("native", native_csv_path))
        if arrow_matches_stream(conn):
            paths.append(("arrow", arrow_csv_path))
    if plan.format == "parquet" and not plan.declared:
        if isinstance(conn, ArrowSource):
            paths.append(("arrow", arrow_path))
        if isinstance(conn, NativeExportSource):
            paths.append(("native", native_parquet_path))
    return paths


COPY_SAFE_KINDS = frozenset({"int", "decimal", "date", "string"})
"""Column kinds whose database CSV text is the text the generic path writes for the values
``stream()`` delivers (PostgreSQL/DuckDB: booleans, floats, timestamps, times and bytes differ)."""

_RELAY_DIALECT = CsvCopyOptions(delimiter=",", quotechar='"', header=False, null="")


def describe(conn: Any, plan: ExtractPlan) -> list[Column]:
    """The result columns, from a ``stream`` left right after it opened (the connector contract
    says leaving early is cheap; the database still plans the query and may compute its first
    row). Asked once per extract."""
    if "columns" not in plan.memo:
        with open_rows(conn, plan.resource, plan.sql, plan.params, 1) as result:
            plan.memo["columns"] = list(result.columns)
    columns: list[Column] = plan.memo["columns"]
    return columns


def _relay_applies(conn: Any, plan: ExtractPlan) -> list[Column] | None:
    """The columns (with the ``dtypes`` input applied) when every one is copy-safe."""
    columns = []
    for column in describe(conn, plan):
        declared = plan.declared.get(column.name)
        kind = declared.kind if declared else column.type
        if kind not in COPY_SAFE_KINDS:
            log.debug("column %s (%s) is not copy-safe: no CSV fast path", column.name, kind)
            return None
        columns.append(Column(column.name, kind))
    return columns


def _last_boundary(chunk: bytes, inside: bool) -> tuple[int, bool]:
    """Index after the last ``\n`` outside quotes in ``chunk`` (-1: none), and whether the
    chunk ends inside a quoted field (``inside``: it starts inside one)."""
    position, last = 0, -1
    for index, part in enumerate(chunk.split(b'"')):
        if index:
            inside = not inside
            position += 1
        if not inside:
            newline = part.rfind(b"\n")
            if newline >= 0:
                last = position + newline + 1
        position += len(part)
    return last, inside


class CsvRelay:
    """The file object a database writes its CSV to (``,``/``"``, NULL as empty, UTF-8, no
    header): complete records are parsed and written again by the step's :class:`CsvSink`, so
    quoting, NULL versus ``""``, line ends and encoding are exactly the generic path's."""

    def __init__(
        self, sink: CsvSink, kinds: Sequence[str | None], nonnumeric: bool, progress: Progress
    ) -> None:
        self.sink = sink
        self.progress = progress
        self.numeric = [k in ("int", "decimal") for k in kinds] if nonnumeric else []
        self.records = 0
        self._pending = b""
        self._inside = False

    def writable(self) -> bool:
        """Always writable."""
        return True

    def flush(self) -> None:
        """Incomplete records wait for the rest of their bytes."""

    def write(self, data: Any) -> int:
        """Take ``data`` from the database."""
        chunk = bytes(data)
        end, self._inside = _last_boundary(chunk, self._inside)
        if end < 0:
            self._pending += chunk
        else:
            self._emit(self._pending + chunk[:end])
            self._pending = chunk[end:]
        return len(chunk)

    def _emit(self, data: bytes) -> None:
        text = data.decode("utf-8")
        rows: list[list[Any]] = list(csv.reader(io.StringIO(text, newline="")))
        if self.numeric:
            rows = [
                [Number(v) if v and n else v for v, n in zip(row, self.numeric, strict=True)]
                for row in rows
            ]
        self.sink.write_fields(rows)
        self.records += len(rows)
        self.progress.update(self.records, lambda: self.sink.sink.bytes)

    def close(self) -> int:
        """Write the last record (one without a final newline); the number of records."""
        if self._pending:
            self._emit(self._pending)
            self._pending = b""
        return self.records


def _relay_run(
    plan: ExtractPlan,
    temp: Path,
    columns: list[Column],
    progress: Progress,
    write: Callable[[CsvRelay], object],
) -> tuple[int, str]:
    names = [c.name for c in columns]
    kinds = [c.type for c in columns]
    sink = CsvSink(temp, plan.csv)
    try:
        sink.header(names)
        relay = CsvRelay(sink, kinds, plan.csv.quoting == "nonnumeric", progress)
        write(relay)
        count = relay.close()
        return count, sink.finish()
    except BaseException:
        sink.abort()
        raise


def _foreign_call(plan: ExtractPlan, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (NotImplementedError, AetherflowError):
        raise
    except Exception as exc:
        raise foreign_error(plan.resource, exc) from exc


def copy_path(conn: Any, plan: ExtractPlan, temp: Path, progress: Progress) -> Extracted | None:
    """CSV/TSV from the database's CSV stream (:class:`CsvCopySource`), re-written."""
    columns = _relay_applies(conn, plan)
    if columns is None:
        return None
    progress.engine = "copy"

    def write(relay: CsvRelay) -> object:
        return _foreign_call(
            plan, lambda: conn.copy_csv(plan.sql, plan.params, relay, _RELAY_DIALECT)
        )

    count, sha = _relay_run(plan, temp, columns, progress, write)
    return Extracted("copy", [c.name for c in columns], [c.type for c in columns], count, sha)


def native_csv_path(
    conn: Any, plan: ExtractPlan, temp: Path, progress: Progress
) -> Extracted | None:
    """CSV/TSV from a file the database writes (:class:`NativeExportSource`), re-written."""
    columns = _relay_applies(conn, plan)
    if columns is None:
        return None
    progress.engine = "native"
    side = temp.with_name(temp.name + ".native")

    def write(relay: CsvRelay) -> object:
        _export(conn, plan, side, "csv", _RELAY_DIALECT)
        with side.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                relay.write(chunk)
        return None

    try:
        count, sha = _relay_run(plan, temp, columns, progress, write)
    finally:
        side.unlink(missing_ok=True)
    return Extracted("native", [c.name for c in columns], [c.type for c in columns], count, sha)


def _export(conn: Any, plan: ExtractPlan, path: Path, fmt: str, options: Any) -> int:
    result = _foreign_call(
        plan, lambda: conn.export_native(plan.sql, plan.params, str(path), fmt, options)
    )
    return int(result)


def _canonical_schema(pa: Any, schema: Any) -> Any:
    fields = []
    for source in schema:
        target = canonical_arrow_type(pa, source.type)
        if target is None:
            log.debug("column %s has Arrow type %s: no fast path", source.name, source.type)
            return None
        fields.append(pa.field(source.name, target))  # nullable, as the generic path writes
    if len({f.name for f in fields}) != len(fields):
        return None  # the generic path reports the duplicate names
    return pa.schema(fields)


def arrow_path(conn: Any, plan: ExtractPlan, temp: Path, progress: Progress) -> Extracted | None:
    """Parquet from the driver's Arrow batches (:class:`ArrowSource`), read ahead on a second
    thread while the previous batch is written."""
    pa, pq = pyarrow_modules(plan.step_type)
    progress.engine = "arrow"
    try:
        context = conn.arrow_batches(plan.sql, plan.params, batch_size=plan.fetch_size)
        with context as (schema, batches):
            target = _canonical_schema(pa, schema)
            if target is None:
                return None
            count = 0
            with FileDigest(temp) as digest:
                writing = pq.ParquetWriter(str(temp), target)
                with writing as writer, read_ahead(batches) as ahead:
                    for batch in ahead:
                        parts = batch.to_batches() if isinstance(batch, pa.Table) else [batch]
                        for part in parts:
                            if part.num_rows:
                                writer.write_batch(part.cast(target))
                                count += part.num_rows
                        digest.update()  # hashed while the next batch is read
                        progress.update(count, lambda: temp.stat().st_size)
                sha = digest.finish()
    except (NotImplementedError, AetherflowError):
        raise
    except Exception as exc:
        raise foreign_error(plan.resource, exc) from exc
    kinds: list[str | None] = [kind_of_arrow(pa, f.type) for f in target]
    return Extracted("arrow", list(target.names), kinds, count, sha)


def check_declared(plan: ExtractPlan, names: Sequence[str]) -> None:
    """Raise :class:`StepError` when ``dtypes`` names a column the query does not return."""
    unknown = sorted(set(plan.declared) - set(names))
    if unknown:
        raise StepError(
            f"dtypes names column(s) {', '.join(unknown)} that the query does not return "
            f"(it returns {', '.join(names)})"
        )


def arrow_csv_path(
    conn: Any, plan: ExtractPlan, temp: Path, progress: Progress
) -> Extracted | None:
    """CSV/TSV rendered from Arrow batches that hold exactly the rows (see the module
    docstring), read ahead on a second thread while the previous batch is written."""
    pa, pc = arrow_compute_modules()
    progress.engine = "arrow"
    try:
        with conn.arrow_batches(plan.sql, plan.params, batch_size=plan.fetch_size) as (
            schema,
            batches,
        ):
            renderer = ArrowCsvRenderer(pa, pc, schema, plan.csv)
            if not agrees_with_csv_module(pa, pc, plan.csv, tuple(renderer.kinds)):
                log.debug("the arrow CSV writer disagrees with the csv module: not used")
                return None
            names = list(schema.names)
            check_declared(plan, names)
            count, sha = _write_rendered(plan, temp, names, renderer, batches, progress)
    except (NotImplementedError, AetherflowError):
        raise
    except Exception as exc:
        raise foreign_error(plan.resource, exc) from exc
    kinds = [
        declared.kind if (declared := plan.declared.get(name)) else kind
        for name, kind in zip(names, renderer.logical_kinds(), strict=True)
    ]
    return Extracted("arrow", names, kinds, count, sha)


def _write_rendered(
    plan: ExtractPlan,
    temp: Path,
    names: list[str],
    renderer: ArrowCsvRenderer,
    batches: Any,
    progress: Progress,
) -> tuple[int, str]:
    sink = CsvSink(temp, plan.csv)
    try:
        sink.header(names)
        count = 0
        with read_ahead(batches) as ahead:
            for batch in ahead:
                sink.write_encoded(renderer.render(batch))
                count += batch.num_rows
                progress.update(count, lambda: sink.sink.bytes)
        return count, sink.finish()
    except BaseException:
        sink.abort()
        raise


def native_parquet_path(
    conn: Any, plan: ExtractPlan, temp: Path, progress: Progress
) -> Extracted | None:
    """Parquet written by the database; kept only when its schema is the generic path's."""
    pa, pq = pyarrow_modules(plan.step_type)
    progress.engine = "native"
    options = {"row_group_size": plan.fetch_size, "compression": "snappy"}
    count = _export(conn, plan, temp, "parquet", options)
    schema = pq.read_schema(str(temp))
    target = _canonical_schema(pa, schema)
    if target is None or [f.type for f in target] != [f.type for f in schema]:
        log.debug("native parquet schema %s differs from the generic one: not used", schema)
        return None
    kinds: list[str | None] = [kind_of_arrow(pa, f.type) for f in schema]
    return Extracted("native", list(schema.names), kinds, count, sha256_file(temp))
