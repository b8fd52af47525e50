"""The Arrow limit of an extract: ADBC reads the whole result as an Arrow table, pyarrow writes it.

Run as its own process by ``extract.py`` (so its time includes the interpreter and the imports,
like every other case)::

    python bench/arrowlimit.py sqlite /path/data.sqlite csv out.csv
    python bench/arrowlimit.py postgres postgresql://postgres@127.0.0.1/test parquet out.parquet

The table is read in one piece (``fetch_arrow_table``) and written with pyarrow's defaults
(``pyarrow.csv.write_csv``; ``pyarrow.parquet.write_table``: one row group per 1Mi rows, snappy),
the shortest code a user would write. Memory therefore grows with the row count.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from typing import Any

from extractdata import query

DRIVERS = {"sqlite": "adbc_driver_sqlite.dbapi", "postgres": "adbc_driver_postgresql.dbapi"}


def read_table(source: str, database: str) -> Any:
    """The whole benchmark table of ``source`` as a ``pyarrow.Table``, read by ADBC."""
    dbapi = importlib.import_module(DRIVERS[source])
    with dbapi.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(query(source))
        return cursor.fetch_arrow_table()


def write_table(table: Any, fmt: str, out: str) -> None:
    """Write ``table`` to ``out`` as ``csv`` or ``parquet`` with pyarrow's defaults."""
    if fmt == "csv":
        importlib.import_module("pyarrow.csv").write_csv(table, out)
    else:
        importlib.import_module("pyarrow.parquet").write_table(table, out)


def main(argv: Sequence[str] | None = None) -> None:
    """Read and write once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["sqlite", "postgres"])
    parser.add_argument("database", help="SQLite file or PostgreSQL URL")
    parser.add_argument("format", choices=["csv", "parquet"])
    parser.add_argument("out")
    args = parser.parse_args(argv)
    write_table(read_table(args.source, args.database), args.format, args.out)


if __name__ == "__main__":
    main()
