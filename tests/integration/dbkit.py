"""Helpers of the integration tests of the data steps: which databases, how to reach them from a
flow, the awkward values every extract must carry, and readers for what the steps write.

The databases are the backends of the ``Database`` contract suite
(:mod:`tests.contract.db_backends`): SQLite and DuckDB files, PostgreSQL and MariaDB on loopback,
SQLAlchemy URLs. Server backends skip when the server is down, and fail instead under
``AETHERFLOW_TEST_REQUIRE_SERVICES=1`` (:func:`~tests.contract.db_backends.require_service`).

pyarrow is imported inside functions only: ``tests/unit/runtime/test_deps.py`` expects
``pyarrow.parquet`` not to be loaded when it runs in the same session.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.db_backends import BACKENDS, MARKS, Backend
from tests.unit.steps.harness import Ran

ALL_DRIVERS = (
    "sqlite3",
    "duckdb",
    "postgres",
    "mysql",
    "sqlalchemy-sqlite",
    "sqlalchemy-postgres",
    "sqlalchemy-mysql",
)
MARIADB = ("127.0.0.1", 3306)

# The awkward texts: every one must come back exactly (NULL and "" are both an empty CSV field).
AWKWARD_TEXTS: tuple[str | None, ...] = (
    "plain",
    "comma, semicolon; pipe | end",
    "double \"quotes\" and 'single'",
    "tab\there\tand\tthere",
    "new\nline",
    "crlf\r\nline and lone cr\r",
    "lone\rcr",
    None,
    "",
    "Grüße ✓ 日本語 😀",
    "\\. backslash-dot \\N",
    " leading and trailing spaces ",
    '"',
)
COLUMNS = ("id", "txt", "alt")
AWKWARD_ROWS: tuple[tuple[int, str | None, str | None], ...] = tuple(
    (number, text, AWKWARD_TEXTS[-number]) for number, text in enumerate(AWKWARD_TEXTS, start=1)
)


def db_params(*ids: str) -> list[Any]:
    """``pytest.param`` per backend id, marked ``postgres``/``mysql``+``mariadb`` as needed."""
    params = []
    for backend_id in ids or ALL_DRIVERS:
        marks = []
        marker = MARKS.get(backend_id)
        if marker:
            marks.append(getattr(pytest.mark, marker))
        if BACKENDS[backend_id].service == MARIADB:
            marks.append(pytest.mark.mariadb)
        params.append(pytest.param(backend_id, marks=marks, id=backend_id))
    return params


def unique_table(prefix: str = "af_it") -> str:
    """A table name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def resource(backend: Backend, tmp_path: Path) -> dict[str, Any]:
    """The flow's ``resources:`` entry for ``backend`` (the same database the fixtures use)."""
    entry: dict[str, Any] = {
        "kind": "db",
        "driver": backend.driver,
        "config": backend.make_config(tmp_path),
    }
    if backend.options:
        entry["options"] = dict(backend.options)
    return entry


def create_awkward(db: Any, backend: Backend, table: str) -> None:
    """``table (id INTEGER, txt TEXT, alt TEXT)`` holding :data:`AWKWARD_ROWS`."""
    db.execute(f"CREATE TABLE {table} (id INTEGER, txt TEXT, alt TEXT)")
    insert = backend.insert_sql(table, COLUMNS)
    for row in AWKWARD_ROWS:
        db.execute(insert, backend.insert_params(COLUMNS, row))


def awkward_sql(table: str) -> str:
    """The query every extract of the awkward table runs."""
    return f"SELECT id, txt, alt FROM {table} ORDER BY id"


def outputs(ran: Ran) -> dict[str, Any]:
    """The step's recorded outputs (the error when it failed)."""
    assert ran.step.outputs is not None, ran.step.error
    return ran.step.outputs


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path, delimiter: str, encoding: str = "utf-8") -> list[list[str]]:
    """Every record of a CSV/TSV file, as the ``csv`` module reads it."""
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One decoded object per line (every line must end with ``\\n``)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") or not text
    return [json.loads(line) for line in text.split("\n")[:-1]]


def pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, imported on demand."""
    return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")


def read_parquet(path: Path) -> Any:
    """The Parquet file as a ``pyarrow.Table``."""
    return pyarrow()[1].read_table(str(path))


def expected_text_rows(
    rows: Sequence[Sequence[Any]], names: Sequence[str] = COLUMNS, header: bool = True
) -> list[list[str]]:
    """What the ``csv`` module reads back from an extract of ``rows`` (NULL is empty)."""
    body = [["" if v is None else str(v) for v in row] for row in rows]
    return [list(names), *body] if header else body


def expected_objects(
    rows: Sequence[Sequence[Any]], names: Sequence[str] = COLUMNS
) -> list[dict[str, Any]]:
    """``rows`` as JSONL/Parquet objects."""
    return [dict(zip(names, row, strict=True)) for row in rows]


def write_data_flow(
    path: Path,
    flow_id: str,
    resources: dict[str, Any],
    jobs: list[dict[str, Any]],
    **flow: Any,
) -> Path:
    """Write a flow (job workspaces kept, so outputs can be read afterwards); its path."""
    document = {
        "flow": {"id": flow_id, "workspace": {"cleanup_policy": "never"}, **flow},
        "resources": resources,
        "jobs": jobs,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def job(job_id: str, *steps: dict[str, Any], **keys: Any) -> dict[str, Any]:
    """A job of ``steps`` (``step()`` entries)."""
    return {"id": job_id, **keys, "steps": list(steps)}


def step(step_id: str, step_type: str, **inputs: Any) -> dict[str, Any]:
    """A step entry with ``inputs``."""
    return {"id": step_id, "type": step_type, "inputs": inputs}
