"""The ``arrow`` engine of CSV/TSV extracts (SQLite through ADBC): for every option set it serves,
the file is byte for byte the generic writer's; for the others, and for values Arrow cannot hold
as ``stream()`` returns them, the generic writer runs (same bytes). The renderer itself is checked
against the ``csv`` module on random values, and its probe is shown to catch a wrong rule.

Real SQLite files and the built-in ``db:sqlite3`` connector; no fakes.
"""

from __future__ import annotations

import importlib
import io
import random
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow.runtime.registry import Registry
from aetherflow.steps import db_arrow_csv
from aetherflow.steps.db_inputs import CsvOptions
from aetherflow.steps.db_writers import CsvSink
from tests.unit.steps.db_harness import DbRun, make_db_runner
from tests.unit.steps.harness import Ran

FLOATS = [
    0.0,
    -0.0,
    1.0,
    2.5,
    0.1,
    1 / 3,
    1e-4,
    9.5e-5,
    1e-5,
    1e-7,
    123456.0,
    1e15,
    9999999999999998.0,
    1e16,
    -1.5e16,
    123456789012345.6,
    1e22,
    5e-324,
    1.7976931348623157e308,
    float("inf"),
    float("-inf"),
    -7.25,
]
TEXTS = [
    "plain",
    "",
    "comma, here",
    'quote " in',
    "new\nline",
    "cr\rhere",
    "crlf\r\n",
    "tab\there",
    "semi;colon",
    "pipe|it",
    "apos'",
    " lead",
    "trail ",
    "Grüße ✓",
    "back\\slash",
    None,
]
ROWS = [
    (i, FLOATS[i % len(FLOATS)], TEXTS[i % len(TEXTS)], None, None if i % 5 == 0 else i * 7)
    for i in range(1, 61)
]
ALL = "SELECT id, f, s, n, q FROM t ORDER BY id"

# (inputs, the engine that serves them)
OPTION_SETS: list[tuple[dict[str, Any], str]] = [
    ({"format": "tsv"}, "arrow"),
    ({"format": "csv"}, "arrow"),
    ({"format": "csv", "quoting": "all"}, "arrow"),
    ({"format": "csv", "quoting": "nonnumeric"}, "arrow"),
    ({"format": "csv", "delimiter": "|", "quotechar": "'", "linefeed": "\r\n"}, "arrow"),
    ({"format": "tsv", "linefeed": ";", "include_header": False}, "arrow"),
    ({"format": "csv", "linefeed": "\r"}, "arrow"),
    ({"format": "csv", "delimiter": "."}, "arrow"),
    ({"format": "csv", "encoding": "UTF8"}, "arrow"),
    ({"format": "csv", "quoting": "none", "escapechar": "\\"}, "generic"),
    ({"format": "csv", "file": {"escapechar": "\\", "doublequote": False}}, "generic"),
    ({"format": "csv", "encoding": "utf-16"}, "generic"),
    ({"format": "csv", "encoding": "utf-8-sig"}, "generic"),
]


@pytest.fixture(autouse=True)
def _adbc() -> None:
    pytest.importorskip("adbc_driver_sqlite")


@pytest.fixture
def pa() -> Any:
    return importlib.import_module("pyarrow")


@pytest.fixture
def pq() -> Any:
    return importlib.import_module("pyarrow.parquet")


def make_db(path: Path, rows: Sequence[tuple[Any, ...]], ddl: str) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(ddl)
    marks = ", ".join("?" * len(rows[0])) if rows else ""
    if rows:
        conn.executemany(f"INSERT INTO t VALUES ({marks})", rows)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return make_db(
        tmp_path / "t.sqlite", ROWS, "CREATE TABLE t (id INTEGER, f REAL, s TEXT, n TEXT, q)"
    )


@pytest.fixture
def run(tmp_path: Path, registry: Registry) -> Iterator[DbRun]:
    db_arrow_csv.agrees_with_csv_module.cache_clear()
    yield make_db_runner(tmp_path, registry)
    db_arrow_csv.agrees_with_csv_module.cache_clear()


def extract(run: DbRun, database: Path | str, sql: str = ALL, **inputs: Any) -> tuple[Ran, bytes]:
    fmt = inputs.setdefault("format", "csv")
    inputs.setdefault("fetch_size", 7)  # several batches, the last one short
    ran = run(
        "db_extract_stream",
        {"resource": "db", "sql": sql, "output": f"o.{fmt}", **inputs},
        resources={"db": {"kind": "db", "driver": "sqlite3", "config": {"path": str(database)}}},
    )
    assert ran.step.outputs is not None, ran.step.error
    return ran, (ran.artifacts / f"o.{fmt}").read_bytes()


def both(run: DbRun, database: Path | str, sql: str = ALL, **inputs: Any) -> tuple[Ran, bytes]:
    """Extract with ``engine: generic`` and ``auto``; assert equal bytes; the auto run."""
    generic, expected = extract(run, database, sql, engine="generic", **dict(inputs))
    fast, actual = extract(run, database, sql, **dict(inputs))
    assert fast.step.outputs is not None
    assert generic.step.outputs is not None
    assert generic.step.outputs["engine"] == "generic"
    assert actual == expected
    for key in ("sha256", "row_count", "columns"):
        assert fast.step.outputs[key] == generic.step.outputs[key]
    return fast, actual


@pytest.mark.parametrize(("options", "engine"), OPTION_SETS, ids=repr)
def test_arrow_csv_is_byte_identical_to_generic(
    run: DbRun, database: Path, options: dict[str, Any], engine: str
) -> None:
    fast, data = both(run, database, **options)
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == engine
    assert fast.step.outputs["row_count"] == len(ROWS)
    assert len(data) > 1000


@pytest.mark.parametrize("quoting", ["minimal", "all", "nonnumeric"])
@pytest.mark.parametrize("column", ["s", "f", "n", "q"])
def test_single_column_records_are_identical(
    run: DbRun, database: Path, quoting: str, column: str
) -> None:
    """A record of one empty field is ``""`` in the csv module; the renderer does the same."""
    fast, _ = both(run, database, f"SELECT {column} FROM t ORDER BY id", quoting=quoting)
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "arrow"


def test_types_and_expectations_match_the_generic_path(run: DbRun, database: Path) -> None:
    expect = {"dtypes": {"id": "int", "f": "float", "s": "string"}, "min_rows": 60}
    fast, _ = both(run, database, emit_dtypes=True, expect=expect)
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "arrow"
    assert fast.step.outputs["dtypes"] == {
        "id": "int",
        "f": "float",
        "s": "string",
        "n": "string",
        "q": "int",
    }


def test_empty_result_and_positional_params(run: DbRun, database: Path) -> None:
    empty, data = both(run, database, "SELECT id, s FROM t WHERE id > ?", params=[1000])
    assert empty.step.outputs is not None
    assert (empty.step.outputs["engine"], data) == ("arrow", b"id,s\n")
    some, _ = both(run, database, "SELECT id, s FROM t WHERE id <= ? AND s <> ?;", params=[9, "x"])
    assert some.step.outputs is not None
    assert (some.step.outputs["engine"], some.step.outputs["row_count"]) == ("arrow", 9)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT id, s FROM t WHERE id < :top", {"top": 9}),  # named: ADBC binds by position
        ("SELECT id, s FROM t WHERE id < ?", [True]),  # a bool parameter
        ("SELECT id, id, s FROM t", None),  # a repeated name would be renamed in a subquery
        ("SELECT id, s FROM t; -- the end", None),  # cannot be wrapped
    ],
)
def test_queries_arrow_cannot_run_as_given_use_the_generic_path(
    run: DbRun, database: Path, sql: str, params: Any
) -> None:
    fast, _ = both(run, database, sql, params=params)
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "generic"


def test_an_in_memory_database_uses_the_generic_path(run: DbRun) -> None:
    fast, data = both(run, ":memory:", "SELECT 1 AS a, 'x,y' AS b")
    assert fast.step.outputs is not None
    assert (fast.step.outputs["engine"], data) == ("generic", b'a,b\n1,"x,y"\n')


MIXED = {
    "int then real in the first batch": [1, 2.5, 3],
    "an int among reals, later": [2.5] * 9 + [3],
    "a real among texts, later": ["a"] * 9 + [2.5],
    "an int among texts": ["a", 7, "b"],
    "a blob among texts": ["a", b"\x00\xff", "b"],
    "values after a first batch of NULLs": [None] * 9 + [5],
    "text after a first batch of NULLs": [None] * 9 + ["x"],
}


@pytest.mark.parametrize("values", list(MIXED.values()), ids=list(MIXED))
def test_columns_arrow_cannot_type_use_the_generic_path(
    run: DbRun, tmp_path: Path, values: list[Any]
) -> None:
    rows = [(i, v) for i, v in enumerate(values)]
    path = make_db(tmp_path / "mixed.sqlite", rows, "CREATE TABLE t (id INTEGER, v)")
    fast, _ = both(run, path, "SELECT id, v FROM t ORDER BY id", fetch_size=4)
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "generic"


@pytest.mark.parametrize("values", list(MIXED.values()), ids=list(MIXED))
def test_parquet_of_such_columns_is_the_generic_outcome(
    run: DbRun, tmp_path: Path, pq: Any, values: list[Any]
) -> None:
    """The same table, or the same error (the generic path refuses 2.5 in an int column)."""
    rows = [(i, v) for i, v in enumerate(values)]
    path = make_db(tmp_path / "mixed.sqlite", rows, "CREATE TABLE t (id INTEGER, v)")
    outcomes = []
    for engine in ("generic", "auto"):
        ran = run(
            "db_extract_stream",
            {
                "resource": "db",
                "sql": "SELECT id, v FROM t ORDER BY id",
                "output": "o.parquet",
                "format": "parquet",
                "fetch_size": 4,
                "engine": engine,
            },
            resources={"db": {"kind": "db", "driver": "sqlite3", "config": {"path": str(path)}}},
        )
        if ran.step.outputs is None:
            assert ran.step.error is not None
            outcomes.append(("failed", ran.step.error.message))
        else:
            table = pq.read_table(ran.step.outputs["artifact_path"])
            outcomes.append((ran.step.outputs["engine"], table.to_pylist(), table.schema))
    generic, fast = outcomes
    assert fast[1:] == generic[1:]
    assert fast[0] in ("generic", "failed")


def test_parquet_from_sqlite_uses_arrow_and_equals_generic(
    run: DbRun, database: Path, pa: Any, pq: Any
) -> None:
    generic, _ = extract(run, database, format="parquet", engine="generic")
    fast, _ = extract(run, database, format="parquet", emit_dtypes=True)
    assert generic.step.outputs is not None
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "arrow"
    slow_table = pq.read_table(generic.step.outputs["artifact_path"])
    fast_table = pq.read_table(fast.step.outputs["artifact_path"])
    assert fast_table.schema.types == [
        pa.int64(),
        pa.float64(),
        pa.string(),
        pa.string(),
        pa.int64(),
    ]
    assert fast_table.equals(slow_table)
    assert pq.ParquetFile(fast.step.outputs["artifact_path"]).num_row_groups == 9  # 60 rows / 7
    assert fast.step.outputs["dtypes"]["n"] == "string"


def test_text_that_is_not_utf8_fails_as_on_the_generic_path(run: DbRun, tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER, s TEXT)")
    conn.execute("INSERT INTO t VALUES (1, 'ok'), (2, CAST(x'ff41' AS TEXT))")
    conn.commit()
    conn.close()
    outcomes = []
    for engine in ("generic", "auto"):
        ran = run(
            "db_extract_stream",
            {"resource": "db", "sql": "SELECT id, s FROM t", "output": "o.csv", "engine": engine},
            resources={"db": {"kind": "db", "driver": "sqlite3", "config": {"path": str(path)}}},
        )
        assert ran.step.error is not None
        outcomes.append(ran.step.error.message)
    assert outcomes[0] == outcomes[1]
    assert "UTF-8" in outcomes[0]


def test_a_renderer_rule_the_probe_refutes_falls_back(
    run: DbRun, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pretend Arrow's positional text were ``repr``'s down to 1e-6: the probe (1e-05) catches
    it, and the generic writer runs."""
    monkeypatch.setattr(db_arrow_csv, "POSITIONAL_LOW", 1e-6)
    fast, data = both(run, database)
    assert fast.step.outputs is not None
    assert fast.step.outputs["engine"] == "generic"
    assert b",1e-05," in data


# -- the renderer against the csv module ----------------------------------------------------------

SUPPORTED = [
    CsvOptions("utf-8", ",", '"', None, True, "minimal", "\n", True),
    CsvOptions("utf-8", "\t", '"', None, True, "minimal", "\n", True),
    CsvOptions("utf-8", ",", '"', None, True, "all", "\r\n", True),
    CsvOptions("utf-8", ",", '"', None, True, "nonnumeric", "\n", True),
    CsvOptions("utf-8", "|", "'", None, True, "minimal", ";", True),
    CsvOptions("utf-8", ";", '"', None, True, "minimal", "\r", True),
]
SPECIALS = st.sampled_from([",", '"', "'", "\n", "\r", "\t", ";", "|", " ", "\\", "é", "✓", "0"])
TEXT = st.text(alphabet=st.one_of(SPECIALS, st.characters(codec="utf-8")), max_size=8)
ROW = st.tuples(
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none() | st.floats(),
    st.none() | TEXT,
)


def render_both(options: CsvOptions, columns: list[tuple[Any, list[Any]]]) -> tuple[bytes, bytes]:
    """``(renderer bytes, CsvSink bytes)`` of one batch given as ``[(arrow type, values)]``."""
    pa = importlib.import_module("pyarrow")
    pc = importlib.import_module("pyarrow.compute")
    arrays = [pa.array(values, arrow_type) for arrow_type, values in columns]
    batch = pa.record_batch(arrays, names=[f"c{i}" for i in range(len(arrays))])
    ours = bytes(db_arrow_csv.ArrowCsvRenderer(pa, pc, batch.schema, options).render(batch))
    target = io.BytesIO()
    CsvSink(target, options).write(list(zip(*(values for _, values in columns), strict=True)))
    return ours, target.getvalue()


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=25), options=st.sampled_from(SUPPORTED))
def test_renderer_writes_what_the_csv_module_writes(
    rows: list[tuple[Any, Any, Any]], options: CsvOptions
) -> None:
    pa = importlib.import_module("pyarrow")
    ints, floats, texts = (list(column) for column in zip(*rows, strict=True))
    ours, expected = render_both(
        options, [(pa.int64(), ints), (pa.float64(), floats), (pa.string(), texts)]
    )
    assert ours == expected


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.none() | TEXT, min_size=1, max_size=25), options=st.sampled_from(SUPPORTED)
)
def test_renderer_single_text_column(values: list[str | None], options: CsvOptions) -> None:
    pa = importlib.import_module("pyarrow")
    ours, expected = render_both(options, [(pa.string(), values)])
    assert ours == expected


def test_renderer_floats_are_repr_for_random_bit_patterns(pa: Any) -> None:
    generator = random.Random(20260101)
    values = [struct.unpack("<d", generator.randbytes(8))[0] for _ in range(20_000)]
    values += [generator.uniform(-1e7, 1e7) for _ in range(5_000)]
    values += [float(generator.randint(-(10**17), 10**17)) for _ in range(5_000)]
    ours, expected = render_both(SUPPORTED[0], [(pa.float64(), values)])
    assert ours == expected
