"""The files the data steps write: CSV/TSV quoting and file options, JSONL encodings, Parquet
types, ``dtypes``/``emit_dtypes`` — through real flows on the in-memory fake database."""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runtime.registry import Registry
from tests.unit.steps.db_harness import DbRun, make_db_runner
from tests.unit.steps.fake_db import CALLS, DATASETS, Dataset, cols
from tests.unit.steps.harness import Ran


# pyarrow is imported by fixtures, not at module import: tests/unit/runtime/test_deps.py makes
# it unimportable and expects ``pyarrow.parquet`` not to be loaded yet when it runs.
@pytest.fixture
def pa() -> Any:
    return importlib.import_module("pyarrow")


@pytest.fixture
def pq() -> Any:
    return importlib.import_module("pyarrow.parquet")


@pytest.fixture
def run(tmp_path: Path, registry: Registry) -> Iterator[DbRun]:
    DATASETS.clear()
    CALLS.clear()
    yield make_db_runner(tmp_path, registry)
    DATASETS.clear()


def extract(run: DbRun, data: Dataset, **inputs: Any) -> tuple[Ran, Path]:
    DATASETS["q"] = data
    name = inputs.pop("output", "out.txt")
    ran = run("db_extract_stream", {"resource": "db", "sql": "q", "output": name, **inputs})
    assert ran.step.status.value == "SUCCESS", ran.step.error
    return ran, ran.artifacts / name


def text_of(run: DbRun, data: Dataset, **inputs: Any) -> bytes:
    return extract(run, data, **inputs)[1].read_bytes()


TRICKY = Dataset(
    cols("a", "b"),
    [
        ("plain", "tab\there"),
        ('quote"inside', "comma,here"),
        ("new\nline", "cr\rreturn"),
        ("", None),
    ],
)


def test_tsv_quotes_tabs_newlines_and_quotes(run: DbRun) -> None:
    assert text_of(run, TRICKY, format="tsv") == (
        b'a\tb\nplain\t"tab\there"\n"quote""inside"\tcomma,here\n"new\nline"\t"cr\rreturn"\n\t\n'
    )


def test_csv_quotes_delimiters_quotes_and_line_breaks(run: DbRun) -> None:
    assert text_of(run, TRICKY, format="csv") == (
        b'a,b\nplain,tab\there\n"quote""inside","comma,here"\n"new\nline","cr\rreturn"\n,\n'
    )


def test_every_row_reads_back_with_the_csv_module(run: DbRun) -> None:
    import csv
    import io

    raw = text_of(run, TRICKY, format="tsv")
    rows = list(csv.reader(io.StringIO(raw.decode(), newline=""), delimiter="\t"))
    assert rows == [
        ["a", "b"],
        ["plain", "tab\there"],
        ['quote"inside', "comma,here"],
        ["new\nline", "cr\rreturn"],
        ["", ""],
    ]


def test_single_empty_field_rows_are_quoted_so_they_are_not_blank_lines(run: DbRun) -> None:
    data = Dataset(cols("only"), [(None,), ("",), ("x",)])
    assert text_of(run, data, format="csv") == b'only\n""\n""\nx\n'


def test_quoting_all(run: DbRun) -> None:
    data = Dataset(cols("a", "n"), [("x", 1), (None, 2.5)])
    assert text_of(run, data, format="csv", quoting="all") == (b'"a","n"\n"x","1"\n"","2.5"\n')


def test_quoting_nonnumeric_leaves_numbers_bare(run: DbRun) -> None:
    data = Dataset(
        cols("s", "i", "f", "d", "b", "n"),
        [("x", 1, 2.5, Decimal("1E+2"), True, None)],
    )
    assert text_of(run, data, format="csv", quoting="nonnumeric") == (
        b'"s","i","f","d","b","n"\n"x",1,2.5,100,"true",""\n'
    )


def test_quoting_none_escapes_with_escapechar(run: DbRun) -> None:
    data = Dataset(cols("a"), [("x,y",), ('q"q',), ("back\\slash",)])
    raw = text_of(run, data, format="csv", quoting="none", escapechar="\\")
    assert raw == b'a\nx\\,y\nq\\"q\nback\\\\slash\n'


def test_quoting_none_without_escapechar_fails_with_a_hint(run: DbRun) -> None:
    DATASETS["q"] = Dataset(cols("a"), [("x,y",)])
    ran = run(
        "db_extract_stream",
        {"resource": "db", "sql": "q", "output": "o.csv", "format": "csv", "quoting": "none"},
    )
    assert ran.step.error is not None
    assert "need to escape" in ran.step.error.message
    assert "set an escapechar" in ran.step.error.message
    assert list(ran.artifacts.iterdir()) == []


def test_escapechar_with_doublequote_false(run: DbRun) -> None:
    data = Dataset(cols("a", "b"), [('say "hi"', "x,y")])
    raw = text_of(run, data, format="csv", file={"escapechar": "\\", "doublequote": False})
    assert raw == b'a,b\nsay \\"hi\\","x,y"\n'


def test_custom_delimiter_quotechar_and_linefeed(run: DbRun) -> None:
    data = Dataset(cols("a", "b"), [("p|q", "it's"), ("x", "y")])
    raw = text_of(run, data, format="csv", delimiter="|", quotechar="'", linefeed="\r\n")
    assert raw == b"a|b\r\n'p|q'|'it''s'\r\nx|y\r\n"


def test_literal_escapes_in_delimiter_and_linefeed(run: DbRun) -> None:
    data = Dataset(cols("a", "b"), [("x", "y")])
    raw = text_of(run, data, format="csv", delimiter="\\t", linefeed="\\r\\n")
    assert raw == b"a\tb\r\nx\ty\r\n"


def test_a_value_containing_the_linefeed_is_quoted(run: DbRun) -> None:
    data = Dataset(cols("a"), [("x;y",)])
    assert text_of(run, data, format="csv", linefeed=";") == b'a;"x;y";'


def test_include_header_false_under_file(run: DbRun) -> None:
    data = Dataset(cols("a"), [("x",)])
    assert text_of(run, data, format="tsv", file={"include_header": False}) == b"x\n"


def test_encoding_latin1_and_utf8_sig(run: DbRun) -> None:
    data = Dataset(cols("name"), [("Müller",)])
    assert text_of(run, data, format="csv", encoding="latin-1") == "name\nMüller\n".encode(
        "latin-1"
    )
    assert text_of(run, data, format="csv", encoding="utf-8-sig") == (
        b"\xef\xbb\xbfname\nM\xc3\xbcller\n"
    )


def test_unencodable_value_fails_naming_the_encoding(run: DbRun) -> None:
    DATASETS["q"] = Dataset(cols("name"), [("€",)])
    ran = run(
        "db_extract_stream",
        {"resource": "db", "sql": "q", "output": "o.csv", "format": "csv", "encoding": "latin-1"},
    )
    assert ran.step.error is not None
    assert "'€'" in ran.step.error.message
    assert "'latin-1' cannot represent" in ran.step.error.message


def test_csv_value_encodings(run: DbRun) -> None:
    data = Dataset(
        cols("b", "i", "f", "d", "ts", "tz", "day", "t", "raw", "js", "none"),
        [
            (
                True,
                -7,
                0.1,
                Decimal("0E-10"),
                dt.datetime(2026, 1, 2, 3, 4, 5, 123456),
                dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                dt.date(2026, 1, 2),
                dt.time(3, 4, 5),
                b"\x00\xff",
                {"k": [1, "v"]},
                None,
            ),
            (False, 0, float("nan"), Decimal("12.50"), None, None, None, None, b"", [], None),
        ],
    )
    raw = text_of(run, data, format="tsv")
    lines = raw.decode().split("\n")
    assert lines[1].split("\t") == [
        "true",
        "-7",
        "0.1",
        "0.0000000000",
        "2026-01-02T03:04:05.123456",
        "2026-01-02T03:04:05+00:00",
        "2026-01-02",
        "03:04:05",
        base64.b64encode(b"\x00\xff").decode(),
        '"{""k"":[1,""v""]}"',
        "",
    ]
    assert lines[2].split("\t") == ["false", "0", "nan", "12.50", "", "", "", "", "", "[]", ""]


def test_jsonl_encodings(run: DbRun) -> None:
    data = Dataset(
        cols("id", "amount", "ts", "day", "raw", "none", "ok", "f", "inf", "js", "text"),
        [
            (
                1,
                Decimal("12.50"),
                dt.datetime(2026, 1, 2, 3, 4, 5),
                dt.date(2026, 1, 2),
                b"hi",
                None,
                True,
                1.5,
                float("inf"),
                {"a": Decimal("1.0")},
                "Grüße",
            )
        ],
    )
    raw = text_of(run, data, format="jsonl", output="out.jsonl")
    assert (
        raw
        == (
            '{"id": 1, "amount": "12.50", "ts": "2026-01-02T03:04:05", "day": "2026-01-02", '
            '"raw": "aGk=", "none": null, "ok": true, "f": 1.5, "inf": null, "js": {"a": "1.0"}, '
            '"text": "Grüße"}\n'
        ).encode()
    )
    assert json.loads(raw)["amount"] == "12.50"


def test_jsonl_refuses_duplicate_column_names(run: DbRun) -> None:
    DATASETS["q"] = Dataset(cols("id", "id"), [(1, 2)])
    ran = run(
        "db_extract_stream",
        {"resource": "db", "sql": "q", "output": "o.jsonl", "format": "jsonl"},
    )
    assert ran.step.error is not None
    assert "column name(s) id more than once" in ran.step.error.message


def test_parquet_types_inferred_from_driver_and_first_batch(run: DbRun, pa: Any, pq: Any) -> None:
    data = Dataset(
        [
            *cols(("id", "int"), "name", "amount", "day", "ts", "flag", "ratio", "raw"),
            *cols("empty", "tz"),
        ],
        [
            (
                1,
                "a",
                Decimal("123456789012345678.12345"),
                dt.date(2026, 1, 2),
                dt.datetime(2026, 1, 2, 3, 4, 5, 6),
                True,
                0.5,
                b"\x01",
                None,
                dt.datetime(2026, 1, 2, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            ),
            (2**62, None, Decimal("1.5"), None, None, False, None, None, None, None),
        ],
    )
    ran, path = extract(run, data, format="parquet", output="o.parquet")
    table = pq.read_table(path)
    assert table.schema.types == [
        pa.int64(),
        pa.string(),
        pa.decimal128(38, 5),
        pa.date32(),
        pa.timestamp("us"),
        pa.bool_(),
        pa.float64(),
        pa.binary(),
        pa.string(),
        pa.timestamp("us", tz="UTC"),
    ]
    assert table.column("id").to_pylist() == [1, 2**62]
    assert table.column("amount").to_pylist() == [
        Decimal("123456789012345678.12345"),
        Decimal("1.50000"),
    ]
    assert table.column("ts").to_pylist()[0] == dt.datetime(2026, 1, 2, 3, 4, 5, 6)
    assert table.column("tz").to_pylist()[0] == dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC)
    assert ran.step.outputs is not None
    assert ran.step.outputs["row_count"] == 2


def test_parquet_decimal_precision_from_the_driver(run: DbRun, pa: Any, pq: Any) -> None:
    from aetherflow.runner.database import Column

    data = Dataset([Column("d", "decimal", 10, 2)], [(Decimal("12345678.90"),)])
    _, path = extract(run, data, format="parquet", output="o.parquet")
    assert pq.read_schema(path).types == [pa.decimal128(10, 2)]


def test_parquet_refuses_to_truncate_a_float_in_an_int_column(run: DbRun) -> None:
    DATASETS["q"] = Dataset(cols(("n", "int")), [(1,), (1.5,)])
    ran = run(
        "db_extract_stream",
        {"resource": "db", "sql": "q", "output": "o.parquet", "format": "parquet"},
    )
    assert ran.step.error is not None
    assert ran.step.error.message.startswith(
        "column 'n' cannot be written to Parquet as int64: row 2: value 1.5 (float):"
    )
    assert list(ran.artifacts.iterdir()) == []


def test_parquet_decimal_with_more_scale_than_the_first_batch_fails_clearly(run: DbRun) -> None:
    DATASETS["q"] = Dataset(cols("d"), [(Decimal("1.5"),), (Decimal("1.25"),)])
    ran = run(
        "db_extract_stream",
        {
            "resource": "db",
            "sql": "q",
            "output": "o.parquet",
            "format": "parquet",
            "fetch_size": 1,
        },
    )
    assert ran.step.error is not None
    assert "as decimal128(38, 1): row 2: value Decimal('1.25')" in ran.step.error.message


def test_parquet_with_dtypes_parses_strings_like_the_predecessor(run: DbRun, pq: Any) -> None:
    data = Dataset(
        cols("id", "v", "d", "ok", "amount", "ts"),
        [
            ("1", "x", "2026-01-02", "yes", "1.50", "2026-01-02T03:04:05Z"),
            ("", "", "", "0", "", ""),
        ],
    )
    ran, path = extract(
        run,
        data,
        format="parquet",
        output="o.parquet",
        dtypes={
            "id": "int",
            "v": "string",
            "d": "date",
            "ok": "bool",
            "amount": "decimal(10,2)",
            "ts": "datetime",
        },
        emit_dtypes=True,
    )
    table = pq.read_table(path)
    assert table.to_pylist() == [
        {
            "id": 1,
            "v": "x",
            "d": dt.date(2026, 1, 2),
            "ok": True,
            "amount": Decimal("1.50"),
            "ts": dt.datetime(2026, 1, 2, 3, 4, 5),
        },
        {"id": None, "v": "", "d": None, "ok": False, "amount": None, "ts": None},
    ]
    assert ran.step.outputs is not None
    assert ran.step.outputs["dtypes"] == {
        "id": "int",
        "v": "string",
        "d": "date",
        "ok": "bool",
        "amount": "decimal",
        "ts": "datetime",
    }


def test_dtypes_json_string_and_synonyms(run: DbRun, pa: Any, pq: Any) -> None:
    data = Dataset(cols("n", "t"), [(1, 2)])
    _, path = extract(
        run,
        data,
        format="parquet",
        output="o.parquet",
        dtypes_json='{"n": "BIGINT", "t": "text"}',
    )
    assert pq.read_schema(path).types == [pa.int64(), pa.string()]
    assert pq.read_table(path).column("t").to_pylist() == ["2"]


def test_dtypes_naming_an_unknown_column_fails(run: DbRun) -> None:
    DATASETS["q"] = Dataset(cols("n"), [(1,)])
    ran = run(
        "db_extract_stream",
        {
            "resource": "db",
            "sql": "q",
            "output": "o.parquet",
            "format": "parquet",
            "dtypes": {"nn": "int"},
        },
    )
    assert ran.step.error is not None
    assert ran.step.error.message == (
        "dtypes names column(s) nn that the query does not return (it returns n)"
    )


def test_emit_dtypes_for_csv_infers_from_the_first_non_null_value(run: DbRun) -> None:
    data = Dataset(cols("id", "late", "never"), [(1, None, None), (2, 2.5, None)])
    ran, _ = extract(run, data, format="csv", emit_dtypes=True, fetch_size=1)
    assert ran.step.outputs is not None
    assert ran.step.outputs["dtypes"] == {"id": "int", "late": "float", "never": "string"}
    assert json.loads(ran.step.outputs["dtypes_json"]) == {
        "id": "int",
        "late": "float",
        "never": "string",
    }


def test_without_emit_dtypes_there_are_no_dtype_outputs(run: DbRun) -> None:
    ran, _ = extract(run, Dataset(cols("id"), [(1,)]), format="csv")
    assert ran.step.outputs is not None
    assert "dtypes" not in ran.step.outputs
    assert "dtypes_json" not in ran.step.outputs


def test_zero_rows_parquet_has_the_schema(run: DbRun, pa: Any, pq: Any) -> None:
    data = Dataset(cols(("id", "int"), "unknown"), [])
    ran, path = extract(run, data, format="parquet", output="o.parquet")
    assert pq.read_schema(path).types == [pa.int64(), pa.string()]
    assert pq.read_table(path).num_rows == 0
    assert ran.step.outputs is not None
    assert ran.step.outputs["row_count"] == 0


def test_sha256_is_the_files_digest(run: DbRun) -> None:
    import hashlib

    for fmt in ("tsv", "csv", "jsonl", "parquet"):
        ran, path = extract(run, TRICKY, format=fmt, output=f"o.{fmt}")
        assert ran.step.outputs is not None
        assert ran.step.outputs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
