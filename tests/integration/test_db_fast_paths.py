"""The fast paths write what the generic path writes: on real PostgreSQL (``COPY ... TO STDOUT``
for CSV/TSV, ADBC Arrow batches for Parquet), DuckDB (native ``COPY`` for CSV/TSV, Arrow for
Parquet) and SQLite (ADBC Arrow batches, rendered to CSV/TSV or written to Parquet),
``engine: auto`` and ``engine: generic`` give byte-identical CSV/TSV files for the same options,
and equal Parquet tables — and the ``engine`` output shows that a fast path really ran.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.contract.db_backends import Backend
from tests.integration.conftest import RunStep
from tests.integration.dbkit import AWKWARD_TEXTS, db_params, outputs, read_parquet

# Backends with a CSV/TSV fast path (PostgreSQL: COPY; DuckDB: native COPY; SQLite: Arrow
# batches rendered to CSV) and with an Arrow Parquet path (ADBC, DuckDB, ADBC SQLite).
FAST_CSV = ("postgres", "duckdb", "sqlite3")
FAST_PARQUET = ("postgres", "duckdb", "sqlite3")
COPYING = ("postgres", "duckdb")  # write CSV themselves, with their own rendering of values
# The engine each backend's fast path reports for CSV/TSV and for Parquet.
CSV_ENGINE = {"postgres": "copy", "duckdb": "native", "sqlite3": "arrow"}
PARQUET_ENGINE = {"postgres": "arrow", "duckdb": "arrow", "sqlite3": "arrow"}
TYPED_COLUMNS = ("id", "amount", "day", "txt", "alt")
DDL = "id INTEGER, amount {amount}, day DATE, txt TEXT, alt TEXT"
AMOUNTS = (Decimal("1.500"), Decimal("-0.001"), None, Decimal("0.000"), Decimal("123456789.123"))
DAYS = (dt.date(2024, 2, 29), None, dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1970, 1, 1))
TYPED_ROWS = [
    (number, AMOUNTS[number % 5], DAYS[number % 5], text, AWKWARD_TEXTS[-number])
    for number, text in enumerate(AWKWARD_TEXTS, start=1)
]
OPTION_SETS = {
    "csv-default": ("csv", {}),
    "tsv-default": ("tsv", {}),
    "delimiter-semicolon": ("csv", {"delimiter": ";"}),
    "quoting-all": ("csv", {"quoting": "all"}),
    "quoting-nonnumeric": ("csv", {"quoting": "nonnumeric"}),
    "no-header": ("csv", {"include_header": False}),
    "crlf": ("csv", {"linefeed": "\\r\\n"}),
    "tsv-file-block": ("tsv", {"file": {"quotechar": "'", "linefeed": "\r\n"}}),
}


def create_typed(db: Any, backend: Backend, table: str) -> None:
    """``table`` with an int, a NUMERIC(12,3) (REAL on SQLite), a date and two awkward text
    columns."""
    # SQLite's NUMERIC affinity would store 0.000 as the integer 0 in a column of REALs.
    amount = "REAL" if backend.id == "sqlite3" else "NUMERIC(12,3)"
    db.execute(f"CREATE TABLE {table} ({DDL.format(amount=amount)})")
    insert = backend.insert_sql(table, TYPED_COLUMNS)
    for row in TYPED_ROWS:
        db.execute(insert, backend.insert_params(TYPED_COLUMNS, row))


def extract(run_step: RunStep, table: str, fmt: str, engine: str, **options: Any) -> Any:
    """``db_extract_stream`` of the typed table with ``engine``; its outputs."""
    return outputs(
        run_step(
            "db_extract_stream",
            sql=f"SELECT {', '.join(TYPED_COLUMNS)} FROM {table} ORDER BY id",
            output=f"{engine}.{fmt}",
            format=fmt,
            engine=engine,
            **options,
        )
    )


@pytest.mark.parametrize("backend", db_params(*FAST_CSV), indirect=True)
@pytest.mark.parametrize("case", list(OPTION_SETS))
def test_csv_fast_path_is_byte_identical_to_generic(
    case: str, backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    fmt, options = OPTION_SETS[case]
    create_typed(db, backend, table)
    fast = extract(run_step, table, fmt, "auto", **options)
    generic = extract(run_step, table, fmt, "generic", **options)
    assert fast["engine"] == CSV_ENGINE[backend.id]
    assert generic["engine"] == "generic"
    fast_bytes = Path(fast["artifact_path"]).read_bytes()
    assert fast_bytes == Path(generic["artifact_path"]).read_bytes()
    assert fast["sha256"] == generic["sha256"]
    assert (fast["row_count"], fast["columns"]) == (generic["row_count"], generic["columns"])
    assert len(fast_bytes) > 200  # the table really was written


@pytest.mark.parametrize("backend", db_params(*FAST_PARQUET), indirect=True)
def test_arrow_parquet_equals_generic_parquet(
    backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    create_typed(db, backend, table)
    fast = extract(run_step, table, "parquet", "auto")
    generic = extract(run_step, table, "parquet", "generic")
    assert (fast["engine"], generic["engine"]) == ("arrow", "generic")
    fast_table = read_parquet(Path(fast["artifact_path"]))
    generic_table = read_parquet(Path(generic["artifact_path"]))
    assert fast_table.schema == generic_table.schema
    assert fast_table.to_pylist() == generic_table.to_pylist()
    amounts = [None if v is None else backend.stored(v) for v in AMOUNTS]
    assert fast_table.column("amount").to_pylist() == [amounts[n % 5] for n, *_ in TYPED_ROWS]
    if backend.id != "sqlite3":  # SQLite stores NUMERIC(12,3) values as REAL
        assert str(fast_table.schema.field("amount").type) == "decimal128(12, 3)"


@pytest.mark.parametrize("backend", db_params(*COPYING), indirect=True)
def test_columns_the_database_renders_differently_take_the_generic_path(
    backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    """Booleans, floats and timestamps print differently in the database's own CSV, so the
    fast path must step aside (and the output must still be the generic one)."""
    db.execute(f"CREATE TABLE {table} (id INTEGER, flag BOOLEAN, ratio DOUBLE PRECISION)")
    db.execute(f"INSERT INTO {table} VALUES (1, TRUE, 0.1), (2, FALSE, 1e-05), (3, NULL, NULL)")
    out = outputs(
        run_step(
            "db_extract_stream",
            sql=f"SELECT id, flag, ratio FROM {table} ORDER BY id",
            output="mixed.csv",
            format="csv",
        )
    )
    assert out["engine"] == "generic"
    text = Path(out["artifact_path"]).read_text(encoding="utf-8")
    assert text == "id,flag,ratio\n1,true,0.1\n2,false,1e-05\n3,,\n"


SPELLINGS = {
    "trailing-comment": "{query} -- newest last",
    "semicolon": "{query};\n",
    "semicolon-and-comment": "{query}; -- done",
    "block-comments": "/* report */ {query} /* end; */",
    "dashes-in-a-string": "SELECT id, txt, '-- not a comment;' AS note FROM {table} ORDER BY id",
}


@pytest.mark.parametrize("backend", db_params(*COPYING), indirect=True)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_fast_paths_take_queries_with_comments_and_semicolons(
    spelling: str, fmt: str, backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    """The fast paths wrap the query (``COPY (query) TO ...``); a trailing comment or ``;``
    that the generic path accepts must not break them."""
    create_typed(db, backend, table)
    query = f"SELECT id, txt FROM {table} ORDER BY id"
    sql = SPELLINGS[spelling].format(query=query, table=table)
    written = {
        engine: outputs(
            run_step("db_extract", sql=sql, output=f"{engine}.{fmt}", format=fmt, engine=engine)
        )
        for engine in ("auto", "generic")
    }
    expected = CSV_ENGINE if fmt == "csv" else PARQUET_ENGINE
    assert written["auto"]["engine"] == expected[backend.id]
    assert written["generic"]["engine"] == "generic"
    auto, generic = Path(written["auto"]["output"]), Path(written["generic"]["output"])
    if fmt == "csv":
        assert auto.read_bytes() == generic.read_bytes()
    else:
        assert read_parquet(auto).to_pylist() == read_parquet(generic).to_pylist()
    assert written["auto"]["row_count"] == len(TYPED_ROWS)
