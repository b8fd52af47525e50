"""Every data step, every file format, every database driver: a table of awkward values
(delimiters, quotes, tabs, newlines, NULLs, unicode, empty strings) reads back exactly, and the
outputs describe the file (row count, columns, sha256 of the bytes on disk).

``engine`` is left at ``auto``, so PostgreSQL (``COPY``, ADBC Arrow) and DuckDB (native, Arrow)
take their fast paths here; ``test_db_fast_paths.py`` compares those with the generic path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.db_backends import Backend
from tests.integration.conftest import RunStep
from tests.integration.dbkit import (
    AWKWARD_ROWS,
    COLUMNS,
    awkward_sql,
    create_awkward,
    db_params,
    expected_objects,
    expected_text_rows,
    outputs,
    read_csv,
    read_jsonl,
    read_parquet,
    sha256_of,
)

PATH_OUTPUT = {"db_extract": "output", "db_extract_stream": "artifact_path"}
FORMATS = ("csv", "tsv", "jsonl", "parquet")


def read_back(path: Path, fmt: str) -> Any:
    """The file's content in a comparable form (records, objects or a row list)."""
    if fmt in ("csv", "tsv"):
        return read_csv(path, "," if fmt == "csv" else "\t")
    if fmt == "jsonl":
        return read_jsonl(path)
    table = read_parquet(path)
    assert [str(t) for t in table.schema.types] == ["int64", "string", "string"]
    return table.to_pylist()


def expected(fmt: str) -> Any:
    """What :func:`read_back` must return for the awkward table."""
    if fmt in ("csv", "tsv"):
        return expected_text_rows(AWKWARD_ROWS)
    return expected_objects(AWKWARD_ROWS)


@pytest.mark.parametrize("backend", db_params(), indirect=True)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("step_type", sorted(PATH_OUTPUT))
def test_extract_reads_back_exactly(
    step_type: str, fmt: str, backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    create_awkward(db, backend, table)
    ran = run_step(step_type, sql=awkward_sql(table), output=f"out/awkward.{fmt}", format=fmt)
    out = outputs(ran)
    path = Path(out[PATH_OUTPUT[step_type]])
    assert path.name == f"awkward.{fmt}"
    assert (out["format"], out["row_count"], out["columns"]) == (
        fmt,
        len(AWKWARD_ROWS),
        list(COLUMNS),
    )
    assert out["sha256"] == sha256_of(path)
    assert read_back(path, fmt) == expected(fmt)
    if step_type == "db_extract":
        assert out["rows"] == len(AWKWARD_ROWS)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left


@pytest.mark.parametrize("backend", db_params(), indirect=True)
def test_fetch_small_returns_the_rows_exactly(
    backend: Backend, db: Any, table: str, run_step: RunStep
) -> None:
    create_awkward(db, backend, table)
    out = outputs(run_step("db_fetch_small", sql=awkward_sql(table)))
    rows = [list(row) for row in AWKWARD_ROWS]
    assert (out["row_count"], out["columns"]) == (len(AWKWARD_ROWS), list(COLUMNS))
    assert out["rows"] == rows
    assert json.loads(out["rows_json"]) == rows
    assert json.loads(out["columns_json"]) == list(COLUMNS)
    assert out["dtypes"] == {"id": "int", "txt": "string", "alt": "string"}
