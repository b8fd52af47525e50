"""Engines: the fake fast paths (copy, arrow, native) write exactly what the generic path
writes (bytes for CSV, the table for Parquet), apply only when they can, and fall back when a
capability raises ``NotImplementedError``.

The fast paths run against the in-memory fake of ``fake_db`` (no PostgreSQL/DuckDB here); the
fake ``copy_csv`` writes PostgreSQL-style CSV (``""`` for empty strings, NULL empty) by its own
code, in 7-byte chunks that split records and multi-byte characters.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runner.database import Column, CsvCopyOptions
from aetherflow.runtime.registry import Registry
from aetherflow.steps import db_source
from tests.unit.steps.db_harness import DbRun, make_db_runner
from tests.unit.steps.fake_db import CALLS, DATASETS, Dataset, cols, pg_csv
from tests.unit.steps.harness import Ran


# pyarrow is imported by fixtures, not at module import: tests/unit/runtime/test_deps.py makes
# it unimportable and expects ``pyarrow.parquet`` not to be loaded yet when it runs.
@pytest.fixture
def pa() -> Any:
    return importlib.import_module("pyarrow")


@pytest.fixture
def pq() -> Any:
    return importlib.import_module("pyarrow.parquet")


SAFE = Dataset(
    [
        Column("id", "int"),
        Column("amount", "decimal", 10, 2),
        Column("day", "date"),
        *cols(("text", "string"), ("more", "string")),
    ],
    [
        (1, Decimal("1.50"), dt.date(2026, 1, 2), "plain", "x"),
        (2, None, None, "", None),
        (3, Decimal("-0.01"), dt.date(1999, 12, 31), 'quote " and , comma', "tab\there"),
        (4, Decimal("0.00"), None, "new\nline and cr\r", "Grüße ✓"),
        (None, Decimal("100.00"), None, "\\.", ""),
    ],
)


@pytest.fixture
def run(tmp_path: Path, registry: Registry) -> Iterator[DbRun]:
    DATASETS.clear()
    CALLS.clear()
    DATASETS["safe"] = SAFE
    yield make_db_runner(tmp_path, registry)
    DATASETS.clear()


def extract(
    run: DbRun, driver: str, sql: str = "safe", config: dict[str, Any] | None = None, **inputs: Any
) -> tuple[Ran, bytes]:
    resources = {"db": {"kind": "db", "driver": driver, "config": config or {}}}
    fmt = inputs.setdefault("format", "csv")
    ran = run(
        "db_extract_stream",
        {"resource": "db", "sql": sql, "output": f"o.{fmt}", **inputs},
        resources=resources,
    )
    assert ran.step.outputs is not None, ran.step.error
    return ran, (ran.artifacts / f"o.{fmt}").read_bytes()


def called(method: str) -> bool:
    return any(call[0] == method for call in CALLS)


OPTION_SETS: list[dict[str, Any]] = [
    {"format": "tsv"},
    {"format": "csv"},
    {"format": "csv", "quoting": "all"},
    {"format": "csv", "quoting": "nonnumeric"},
    {"format": "csv", "quoting": "none", "escapechar": "\\"},
    {"format": "csv", "file": {"escapechar": "\\", "doublequote": False}},
    {"format": "csv", "delimiter": "|", "quotechar": "'", "linefeed": "\r\n"},
    {"format": "tsv", "linefeed": ";", "include_header": False},
    {"format": "csv", "encoding": "utf-16"},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(f"{k}" for k in o))
@pytest.mark.parametrize(("driver", "engine"), [("fake_copy", "copy"), ("fake_native", "native")])
def test_fast_csv_is_byte_identical_to_generic(
    run: DbRun, options: dict[str, Any], driver: str, engine: str
) -> None:
    generic, expected = extract(run, driver, engine="generic", **dict(options))
    assert generic.step.outputs is not None
    assert generic.step.outputs["engine"] == "generic"
    CALLS.clear()
    fast, actual = extract(run, driver, **dict(options))
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == engine
    assert actual == expected
    assert fast.step.outputs["sha256"] == generic.step.outputs["sha256"]
    assert fast.step.outputs["row_count"] == 5
    assert fast.step.outputs["columns"] == ["id", "amount", "day", "text", "more"]


def test_the_database_csv_differs_so_the_relay_does_the_work(run: DbRun) -> None:
    _, generic = extract(run, "fake", engine="generic")
    database = pg_csv(SAFE, CsvCopyOptions(header=True))
    assert database != generic
    assert b',"",' in database  # PostgreSQL quotes empty strings; the generic path does not
    assert b"2,,,,\n" in generic


def test_generic_engine_never_calls_the_fast_path(run: DbRun) -> None:
    ran, _ = extract(run, "fake_all", engine="generic")
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert not called("copy_csv")
    assert not called("export_native")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("bool", True),
        ("float", 1.0),
        ("datetime", dt.datetime(2026, 1, 2, 3, 4, 5)),
        ("time", dt.time(1, 2)),
        ("bytes", b"x"),
        (None, 5),
    ],
)
def test_columns_whose_database_text_differs_use_the_generic_path(
    run: DbRun, kind: str | None, value: Any
) -> None:
    DATASETS["mixed"] = Dataset([Column("id", "int"), Column("v", kind)], [(1, value)])
    ran, _ = extract(run, "fake_all", "mixed")
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert not called("copy_csv")
    assert not called("export_native")


def test_dtypes_input_decides_the_kind_for_the_copy_check(run: DbRun) -> None:
    DATASETS["flags"] = Dataset([Column("id", "int"), Column("flag", None)], [(1, "yes")])
    ran, raw = extract(run, "fake_copy", "flags", dtypes={"flag": "string"}, emit_dtypes=True)
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "copy"
    assert ran.step.outputs["dtypes"] == {"id": "int", "flag": "string"}
    assert raw == b"id,flag\n1,yes\n"


def test_declined_copy_falls_back_to_native_then_generic(run: DbRun) -> None:
    ran, raw = extract(run, "fake_all", config={"decline": True})
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert called("copy_csv")
    assert called("export_native")
    _, expected = extract(run, "fake", engine="generic")
    assert raw == expected


def test_copy_path_reports_dtypes_and_checks_expectations(run: DbRun) -> None:
    ran, _ = extract(run, "fake_copy", emit_dtypes=True, expect={"dtypes": {"id": "int"}})
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "copy"
    assert ran.step.outputs["dtypes"] == {
        "id": "int",
        "amount": "decimal",
        "day": "date",
        "text": "string",
        "more": "string",
    }
    failed = run(
        "db_extract_stream",
        {"resource": "db", "sql": "safe", "output": "f.csv", "expect": {"max_rows": 1}},
        resources={"db": {"kind": "db", "driver": "fake_copy"}},
    )
    assert failed.step.error is not None
    assert failed.step.error.failure_class == "expectation"
    assert sorted(p.name for p in failed.artifacts.iterdir()) == []


def test_copy_path_emits_progress_with_its_engine(
    run: DbRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(range(10_000))
    monkeypatch.setattr(db_source, "CLOCK", lambda: float(next(ticks)))
    ran, _ = extract(run, "fake_copy", progress_seconds=1)
    events = ran.named("step_progress")
    assert events
    assert {e["engine"] for e in events} == {"copy"}
    assert events[-1]["rows"] == 5


def test_jsonl_always_uses_the_generic_path(run: DbRun) -> None:
    ran, _ = extract(run, "fake_all", format="jsonl")
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"


# -- Parquet --------------------------------------------------------------------------------------


@pytest.fixture
def arrowish(pa: Any) -> None:
    """Dataset ``arrowish``: Arrow types the generic path would not write (int32, large_string,
    timestamp ns)."""
    DATASETS["arrowish"] = Dataset(
        [
            Column("id", "int"),
            Column("amount", "decimal", 10, 2),
            *cols(("name", "string"), ("ts", "datetime"), ("ok", "bool")),
        ],
        [
            (1, Decimal("1.50"), "a", dt.datetime(2026, 1, 2, 3, 4, 5), True),
            (2, None, None, None, False),
            (3, Decimal("-2.25"), "c", dt.datetime(2026, 1, 3), None),
        ],
        arrow_types=[
            pa.int32(),
            pa.decimal128(10, 2),
            pa.large_string(),
            pa.timestamp("ns"),
            pa.bool_(),
        ],
    )


def test_arrow_path_gives_the_generic_table(run: DbRun, pa: Any, pq: Any, arrowish: None) -> None:
    generic, _ = extract(run, "fake_arrow", "arrowish", format="parquet", engine="generic")
    fast, _ = extract(run, "fake_arrow", "arrowish", format="parquet", fetch_size=2)
    assert generic.step.outputs is not None
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "arrow"
    slow_table = pq.read_table(generic.step.outputs["artifact_path"])
    fast_table = pq.read_table(fast.step.outputs["artifact_path"])
    assert fast_table.schema.types == [
        pa.int64(),
        pa.decimal128(10, 2),
        pa.string(),
        pa.timestamp("us"),
        pa.bool_(),
    ]
    assert fast_table.equals(slow_table)
    assert fast.step.outputs["row_count"] == 3
    assert pq.ParquetFile(fast.step.outputs["artifact_path"]).num_row_groups == 2
    assert ("arrow_batches", "arrowish", None, 2) in CALLS


def test_arrow_path_dtypes_from_the_schema(run: DbRun, arrowish: None) -> None:
    ran, _ = extract(run, "fake_arrow", "arrowish", format="parquet", emit_dtypes=True)
    assert ran.step.outputs is not None
    assert ran.step.outputs["dtypes"] == {
        "id": "int",
        "amount": "decimal",
        "name": "string",
        "ts": "datetime",
        "ok": "bool",
    }


def test_arrow_path_is_not_used_with_dtypes(run: DbRun, arrowish: None) -> None:
    ran, _ = extract(run, "fake_arrow", "arrowish", format="parquet", dtypes={"id": "string"})
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert not called("arrow_batches")


def test_unsupported_arrow_type_falls_back(run: DbRun, pa: Any, pq: Any) -> None:
    DATASETS["lists"] = Dataset(
        cols(("id", "int"), ("tags", "string")),
        [(1, "a,b")],
        arrow_types=[pa.int64(), pa.list_(pa.string())],
    )
    DATASETS["lists"].rows = [(1, ["a", "b"])]
    ran, _ = extract(run, "fake_arrow", "lists", format="parquet")
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert pq.read_table(ran.step.outputs["artifact_path"]).column("tags").to_pylist() == [
        '["a","b"]'
    ]


def test_declined_arrow_falls_back_to_generic(run: DbRun, arrowish: None) -> None:
    ran, _ = extract(run, "fake_arrow", "arrowish", format="parquet", config={"decline": True})
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert called("arrow_batches")


def test_native_parquet_is_kept_when_its_schema_is_the_generic_one(
    run: DbRun, pa: Any, pq: Any
) -> None:
    DATASETS["canon"] = Dataset(
        [Column("id", "int"), Column("name", "string")],
        [(1, "a"), (2, None)],
        arrow_types=[pa.int64(), pa.string()],
    )
    ran, _ = extract(run, "fake_native", "canon", format="parquet")
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "native"
    table = pq.read_table(ran.step.outputs["artifact_path"])
    assert table.to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]


def test_native_parquet_with_other_types_is_replaced_by_the_generic_file(
    run: DbRun, pa: Any, pq: Any, arrowish: None
) -> None:
    ran, _ = extract(run, "fake_native", "arrowish", format="parquet")
    assert ran.step.outputs is not None
    assert ran.step.outputs["engine"] == "generic"
    assert called("export_native")
    assert pq.read_schema(ran.step.outputs["artifact_path"]).types[0] == pa.int64()
    assert sorted(p.name for p in ran.artifacts.iterdir()) == ["o.parquet"]
