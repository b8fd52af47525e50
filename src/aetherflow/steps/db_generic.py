"""The generic extract path (rows in batches through the step's own writers) and the dispatch
between it and the fast paths of :mod:`aetherflow.steps.db_engines`.

Memory is bounded by one batch (``fetch_size`` rows) whatever the row count: every batch is
written before the next is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aetherflow.runner.database import Row
from aetherflow.steps.db_engines import Extracted, ExtractPlan, check_declared, fast_paths
from aetherflow.steps.db_parquet import ParquetSink
from aetherflow.steps.db_source import OpenResult, Progress, open_rows
from aetherflow.steps.db_types import TypeTracker, refine
from aetherflow.steps.db_writers import CsvSink, JsonlSink, sha256_file

log = logging.getLogger(__name__)


def run_extract(conn: Any, plan: ExtractPlan, temp: Path, progress: Progress) -> Extracted:
    """Write the query result to ``temp`` with the first engine that serves it."""
    for name, path in fast_paths(conn, plan):
        try:
            result = path(conn, plan, temp, progress)
        except NotImplementedError as exc:
            log.debug("%s: fast path %s not available: %s", plan.step_type, name, exc)
            continue
        if result is not None:
            return result
    return extract_generic(conn, plan, temp, progress)


def extract_generic(conn: Any, plan: ExtractPlan, temp: Path, progress: Progress) -> Extracted:
    """Read batches from the connector and write them with the step's writers."""
    progress.engine = "generic"
    with open_rows(conn, plan.resource, plan.sql, plan.params, plan.fetch_size) as result:
        names = [c.name for c in result.columns]
        check_declared(plan, names)
        tracker = TypeTracker(result.columns, plan.declared)
        if plan.format == "parquet":
            count, sha = _write_parquet(plan, temp, result, tracker, progress)
        else:
            count, sha = _write_text(plan, temp, result, tracker, progress)
    return Extracted("generic", names, tracker.kinds(), count, sha)


def _write_text(
    plan: ExtractPlan, temp: Path, result: OpenResult, tracker: TypeTracker, progress: Progress
) -> tuple[int, str]:
    names = tracker.names
    sink: CsvSink | JsonlSink
    if plan.format == "jsonl":
        sink = JsonlSink(temp, plan.csv.encoding, names)
    else:
        sink = CsvSink(temp, plan.csv)
    count = 0
    try:
        if isinstance(sink, CsvSink):
            sink.header(names)
        for batch in result.batches:
            if plan.needs_types:
                tracker.observe(batch)
            sink.write(batch)
            count += len(batch)
            progress.update(count, lambda: sink.sink.bytes)
        return count, sink.finish()
    except BaseException:
        sink.abort()
        raise


def _parquet_sink(
    plan: ExtractPlan, temp: Path, tracker: TypeTracker, first: Sequence[Row]
) -> ParquetSink:
    tracker.observe(first)
    for index, dtype in enumerate(tracker.types):
        if dtype is not None:
            tracker.types[index] = refine(dtype, [row[index] for row in first])
    return ParquetSink(
        temp,
        tracker.names,
        tracker.types,
        lenient=[name in plan.declared for name in tracker.names],
        step_type=plan.step_type,
    )


def _write_parquet(
    plan: ExtractPlan, temp: Path, result: OpenResult, tracker: TypeTracker, progress: Progress
) -> tuple[int, str]:
    sink: ParquetSink | None = None
    count = 0
    try:
        batches: Iterator[list[Row]] = result.batches
        for batch in batches:
            if sink is None:
                sink = _parquet_sink(plan, temp, tracker, batch)
            sink.write(batch)
            count += len(batch)
            progress.update(count, lambda: temp.stat().st_size)
        if sink is None:
            sink = _parquet_sink(plan, temp, tracker, [])
        sink.finish()
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    return count, sha256_file(temp)
