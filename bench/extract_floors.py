"""Where an extract's time goes: the pieces of both SQLite paths, timed alone in one process.

Each piece runs ``--runs`` times over the same ``--rows``-row table (``extractdata.py``); the
table gives the median CPU time (``time.process_time``, so other processes on the machine do not
count) and wall time. The pieces:

* the generic path's floor: ``sqlite3`` ``fetchmany`` batches (the Python objects), and
  ``csv.writer.writerows`` of those batches into a ``StringIO``;
* the arrow path: ADBC reading the plain query, the same query wrapped as a subquery, and
  ``SQLiteDB.arrow_batches`` (wrapped, with the ``typeof()`` storage-class column and its check);
  ``ArrowCsvRenderer`` on the batches; pyarrow's Parquet writer with one row group per
  ``fetch_size`` batch and with one row group for the whole table;
* the whole in-process extracts (``run_extract``), arrow and generic, CSV and Parquet.

Usage::

    python bench/extract_floors.py [--rows 1000000] [--runs 5] [--fetch-size 5000]
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from extractdata import make_sqlite, query


def timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median CPU seconds and median wall seconds of ``runs`` calls."""
    cpu, wall = [], []
    for _ in range(runs):
        started_cpu, started = time.process_time(), time.perf_counter()
        work()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return statistics.median(cpu), statistics.median(wall)


class _Progress:
    engine = "generic"

    def update(self, rows: int | None, written: Callable[[], int | None]) -> None:
        """Ignore progress."""


def pieces(db_path: Path, scratch: Path, fetch_size: int) -> list[tuple[str, Callable[[], object]]]:
    """The named pieces (see the module docstring)."""
    import sqlite3

    from aetherflow.connectors.sqlite_db import SQLiteDB, subquery
    from aetherflow.runner.connector import ConnectorInit
    from aetherflow.steps.db_arrow_csv import ArrowCsvRenderer
    from aetherflow.steps.db_engines import ExtractPlan
    from aetherflow.steps.db_generic import run_extract
    from aetherflow.steps.db_inputs import CsvOptions

    pa = importlib.import_module("pyarrow")
    pc = importlib.import_module("pyarrow.compute")
    pq = importlib.import_module("pyarrow.parquet")
    adbc = importlib.import_module("adbc_driver_sqlite.dbapi")
    sql = query("sqlite")
    options = CsvOptions("utf-8", ",", '"', None, True, "minimal", "\n", True)
    connector = SQLiteDB(ConnectorInit("src", "db", "sqlite3", {"path": str(db_path)}))
    rows = sqlite3.connect(db_path).execute(sql).fetchall()
    row_batches = [rows[i : i + fetch_size] for i in range(0, len(rows), fetch_size)]
    with connector.arrow_batches(sql, batch_size=fetch_size) as (schema, batches):
        arrow_batches = list(batches)
    table = pa.Table.from_batches(arrow_batches, schema=schema)

    def fetch() -> None:
        cursor = sqlite3.connect(db_path).execute(sql)
        while cursor.fetchmany(fetch_size):
            pass

    def write_rows() -> None:
        writer = csv.writer(io.StringIO(), lineterminator="\n")
        for batch in row_batches:
            writer.writerows(batch)

    def adbc_read(text: str) -> Callable[[], None]:
        def read() -> None:
            with adbc.connect(str(db_path)) as conn, conn.cursor() as cursor:
                cursor.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(fetch_size)}
                )
                cursor.execute(text)
                for _ in cursor.fetch_record_batch():
                    pass

        return read

    def checked_read() -> None:
        with connector.arrow_batches(sql, batch_size=fetch_size) as (_, batches):
            for _ in batches:
                pass

    def render() -> None:
        renderer = ArrowCsvRenderer(pa, pc, schema, options)
        for batch in arrow_batches:
            renderer.render(batch)

    def parquet(groups: Sequence[Any]) -> Callable[[], None]:
        def write() -> None:
            with pq.ParquetWriter(str(scratch / "floor.parquet"), schema) as writer:
                for group in groups:
                    writer.write_batch(group)

        return write

    def extract(fmt: str, engine: str) -> Callable[[], object]:
        plan = ExtractPlan(
            "db_extract_stream", "src", sql, None, fmt, fetch_size, options, {}, False, engine
        )
        return lambda: run_extract(connector, plan, scratch / f"out.{fmt}", _Progress())

    return [
        ("generic floor: sqlite3 fetchmany (Python rows)", fetch),
        ("generic floor: csv.writer.writerows (StringIO)", write_rows),
        ("ADBC read, plain query", adbc_read(sql)),
        (
            "ADBC read, query as a subquery (no flattening)",
            adbc_read(f"SELECT * FROM (SELECT * FROM {subquery(sql)} LIMIT -1 OFFSET 0)"),
        ),
        ("SQLiteDB.arrow_batches (subquery + typeof() column + check)", checked_read),
        ("ArrowCsvRenderer.render, all batches", render),
        (f"Parquet writer, {fetch_size:,}-row groups", parquet(arrow_batches)),
        ("Parquet writer, one row group", parquet(table.combine_chunks().to_batches())),
        ("extract in-process: CSV, engine auto (arrow)", extract("csv", "auto")),
        ("extract in-process: CSV, engine generic", extract("csv", "generic")),
        ("extract in-process: Parquet, engine auto (arrow)", extract("parquet", "auto")),
        ("extract in-process: Parquet, engine generic", extract("parquet", "generic")),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Time every piece and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fetch-size", type=int, default=5000)
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="af-bench-floors-", dir=args.tmp_dir) as tmp:
        scratch = Path(tmp)
        db_path = make_sqlite(scratch / "data.sqlite", args.rows)
        print(f"timing pieces on {args.rows:,} rows ...", file=sys.stderr)
        lines = [
            f"| Piece ({args.rows:,} rows, batches of {args.fetch_size:,}) | CPU, s | Wall, s |",
            "|---|---:|---:|",
        ]
        for name, work in pieces(db_path, scratch, args.fetch_size):
            cpu, wall = timed(work, args.runs)
            lines.append(f"| {name} | {cpu:.2f} | {wall:.2f} |")
            print(f"  {name}: {cpu:.2f}", file=sys.stderr)
    command = "python bench/extract_floors.py " + " ".join(sys.argv[1:])
    print(f"Median of {args.runs} runs; command: `{command.strip()}`")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
