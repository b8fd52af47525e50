"""The data steps through real flows: outputs, ``max_rows``, ``expect:``, ``skip_if_empty``,
atomic output, the sandbox, progress events, predecessor-style connectors, errors, validation
and bounded memory."""

from __future__ import annotations

import json
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runner.validation import ValidationOptions, validate_flow_text
from aetherflow.runtime.registry import Registry
from aetherflow.steps import db_source
from tests.unit.steps.db_harness import DbRun, make_db_runner
from tests.unit.steps.fake_db import CALLS, DATASETS, Dataset, NotADatabase, cols, register_fakes
from tests.unit.steps.harness import Ran

ROWS = Dataset(cols(("id", "int"), "name"), [(1, "a"), (2, "b"), (3, None)])


@pytest.fixture
def run(tmp_path: Path, registry: Registry) -> Iterator[DbRun]:
    DATASETS.clear()
    CALLS.clear()
    DATASETS["rows"] = ROWS
    DATASETS["empty"] = Dataset(cols(("id", "int"), "name"), [])
    yield make_db_runner(tmp_path, registry)
    DATASETS.clear()


RUN_KEYS = ("env", "resources", "on_no_data", "timeout_seconds")


def stream(run: DbRun, sql: str = "rows", **inputs: Any) -> Ran:
    """Run ``db_extract_stream`` (CSV to ``o.csv`` unless told otherwise)."""
    extra = {key: inputs.pop(key) for key in RUN_KEYS if key in inputs}
    inputs.setdefault("format", "csv")
    return run(
        "db_extract_stream",
        {"resource": "db", "sql": sql, "output": inputs.pop("output", "o.csv"), **inputs},
        **extra,
    )


def outputs(ran: Ran) -> dict[str, Any]:
    assert ran.step.outputs is not None, ran.step.error
    return ran.step.outputs


def files(ran: Ran) -> list[str]:
    return sorted(p.name for p in ran.artifacts.iterdir()) if ran.artifacts.exists() else []


# -- outputs --------------------------------------------------------------------------------------


def test_db_extract_stream_outputs(run: DbRun) -> None:
    out = outputs(stream(run, format="csv"))
    assert sorted(out) == [
        "artifact_path",
        "columns",
        "engine",
        "format",
        "row_count",
        "sha256",
    ]
    assert (out["format"], out["columns"], out["row_count"], out["engine"]) == (
        "csv",
        ["id", "name"],
        3,
        "generic",
    )
    assert Path(out["artifact_path"]).read_text() == "id,name\n1,a\n2,b\n3,\n"


def test_db_extract_outputs_and_default_tsv(run: DbRun) -> None:
    ran = run("db_extract", {"resource": "db", "sql": "rows", "output": "sub/o.tsv"})
    out = outputs(ran)
    assert sorted(out) == ["columns", "engine", "format", "output", "row_count", "rows", "sha256"]
    assert (out["format"], out["rows"], out["row_count"]) == ("tsv", 3, 3)
    assert out["output"] == str(ran.artifacts / "sub" / "o.tsv")
    assert Path(out["output"]).read_text() == "id\tname\n1\ta\n2\tb\n3\t\n"


def test_db_extract_jsonl(run: DbRun) -> None:
    ran = run(
        "db_extract", {"resource": "db", "sql": "rows", "output": "o.jsonl", "format": "JSONL"}
    )
    assert Path(outputs(ran)["output"]).read_text() == (
        '{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n{"id": 3, "name": null}\n'
    )


def test_db_fetch_small_outputs(run: DbRun) -> None:
    from decimal import Decimal

    DATASETS["small"] = Dataset(
        cols(("id", "int"), "amount", "when", "b"),
        [(1, Decimal("1.25"), None, b"x"), (2, None, "2026-01-02", None)],
    )
    ran = run("db_fetch_small", {"resource": "db", "sql": "small"})
    out = outputs(ran)
    assert out == {
        "columns": ["id", "amount", "when", "b"],
        "rows": [[1, "1.25", None, "eA=="], [2, None, "2026-01-02", None]],
        "row_count": 2,
        "columns_json": '["id", "amount", "when", "b"]',
        "rows_json": '[[1, 1.25, null, "eA=="], [2, null, "2026-01-02", null]]',
        "dtypes": {"id": "int", "amount": "float", "when": "string", "b": "string"},
        "dtypes_json": '{"id": "int", "amount": "float", "when": "string", "b": "string"}',
    }


def test_params_and_fetch_size_reach_the_connector(run: DbRun) -> None:
    stream(run, params={"x": 1}, fetch_size=2)
    assert ("stream", "rows", {"x": 1}, 2) in CALLS
    run("db_fetch_small", {"resource": "db", "sql": "rows", "params": [5], "fetch_size": 7})
    assert ("stream", "rows", [5], 7) in CALLS


# -- db_fetch_small max_rows ----------------------------------------------------------------------


def test_fetch_small_allows_exactly_max_rows(run: DbRun) -> None:
    ran = run("db_fetch_small", {"resource": "db", "sql": "rows", "max_rows": 3})
    assert outputs(ran)["row_count"] == 3


def test_fetch_small_fails_above_max_rows(run: DbRun) -> None:
    ran = run("db_fetch_small", {"resource": "db", "sql": "rows", "max_rows": 2, "fetch_size": 1})
    assert ran.step.error is not None
    assert (ran.step.error.cls, ran.step.error.failure_class) == ("StepError", "error")
    assert ran.step.error.message.startswith(
        "db_fetch_small: the query returned more than max_rows=2 rows"
    )


# -- expect ---------------------------------------------------------------------------------------


def test_each_violated_rule_is_listed(run: DbRun) -> None:
    ran = stream(
        run,
        expect={
            "min_rows": 5,
            "columns": ["id", "title"],
            "dtypes": {"id": "string", "missing": "int"},
        },
    )
    assert ran.step.error is not None
    assert (ran.step.error.cls, ran.step.error.failure_class) == (
        "ExpectationFailed",
        "expectation",
    )
    out = ran.artifacts / "o.csv"
    assert ran.step.error.message == (
        "db_extract_stream: 4 expectation(s) failed: "
        "min_rows: the result has 3 row(s), fewer than 5; "
        "columns: expected [id, title], got [id, name]; "
        "dtypes.id: expected string, got int; "
        "dtypes.missing: the result has no column 'missing'; "
        f"{out} was not written"
    )
    assert files(ran) == []
    assert ran.named("step_error")[0]["failure_class"] == "expectation"


def test_max_rows_and_required_columns(run: DbRun) -> None:
    ran = stream(run, expect={"max_rows": 2, "columns": {"required": ["id", "x", "y"]}})
    assert ran.step.error is not None
    assert "max_rows: the result has 3 row(s), more than 2" in ran.step.error.message
    assert "columns.required: missing [x, y] (the result has [id, name])" in (
        ran.step.error.message
    )


def test_rules_that_hold_pass(run: DbRun) -> None:
    ran = stream(
        run,
        expect={
            "min_rows": 3,
            "max_rows": 3,
            "columns": ["id", "name"],
            "dtypes": {"id": "int", "name": "string"},
        },
    )
    assert outputs(ran)["row_count"] == 3


def test_null_only_column_satisfies_a_dtype_rule(run: DbRun) -> None:
    DATASETS["nulls"] = Dataset(cols("n"), [(None,), (None,)])
    ran = stream(run, "nulls", expect={"dtypes": {"n": "decimal"}})
    assert outputs(ran)["row_count"] == 2


def test_keep_output_on_failure_publishes_and_still_fails(run: DbRun) -> None:
    ran = stream(run, expect={"min_rows": 10, "keep_output_on_failure": True})
    assert ran.step.error is not None
    assert ran.step.error.failure_class == "expectation"
    assert "(keep_output_on_failure)" in ran.step.error.message
    assert files(ran) == ["o.csv"]
    assert (ran.artifacts / "o.csv").read_text() == "id,name\n1,a\n2,b\n3,\n"


def test_expect_on_fetch_small(run: DbRun) -> None:
    ran = run(
        "db_fetch_small",
        {"resource": "db", "sql": "rows", "expect": {"columns": ["name", "id"], "min_rows": 4}},
    )
    assert ran.step.error is not None
    assert ran.step.error.message == (
        "db_fetch_small: 2 expectation(s) failed: min_rows: the result has 3 row(s), fewer than "
        "4; columns: expected [name, id], got [id, name]"
    )


# -- skip_if_empty --------------------------------------------------------------------------------


def test_skip_if_empty_skips_with_reason_no_rows(run: DbRun) -> None:
    ran = stream(run, "empty", skip_if_empty=True, on_no_data="continue")
    assert ran.step.status.value == "SKIPPED"
    out = outputs(ran)
    assert (out["reason"], out["row_count"], out["columns"]) == ("no rows", 0, ["id", "name"])
    assert (ran.artifacts / "o.csv").read_text() == "id,name\n"
    ends = ran.named("step_end")
    assert ends[0]["skip_reason"] == "no rows"


def test_empty_without_skip_if_empty_succeeds(run: DbRun) -> None:
    ran = stream(run, "empty")
    assert ran.step.status.value == "SUCCESS"
    assert outputs(ran)["row_count"] == 0


def test_skip_if_empty_with_on_no_data_fail(run: DbRun) -> None:
    ran = stream(run, "empty", skip_if_empty=True, on_no_data="fail")
    assert ran.step.error is not None
    assert ran.step.error.failure_class == "no_data"
    assert "(no rows)" in ran.step.error.message


def test_skip_if_empty_on_fetch_small_and_extract(run: DbRun) -> None:
    small = run(
        "db_fetch_small",
        {"resource": "db", "sql": "empty", "skip_if_empty": True},
        on_no_data="continue",
    )
    assert small.step.status.value == "SKIPPED"
    assert outputs(small)["reason"] == "no rows"
    extract = run(
        "db_extract",
        {"resource": "db", "sql": "empty", "output": "o.tsv", "skip_if_empty": True},
        on_no_data="continue",
    )
    assert extract.step.status.value == "SKIPPED"


# -- atomic output --------------------------------------------------------------------------------


def _failing_rows() -> Iterator[tuple[Any, ...]]:
    yield (1, "a")
    yield (2, "b")
    raise RuntimeError("connection reset")


def test_driver_failure_mid_stream_leaves_no_file_and_no_temp(run: DbRun) -> None:
    DATASETS["broken"] = Dataset(cols("id", "name"), factory=_failing_rows)
    for fmt in ("csv", "jsonl", "parquet"):
        ran = stream(run, "broken", format=fmt, output=f"o.{fmt}", fetch_size=1)
        assert ran.step.error is not None
        assert ran.step.error.cls == "ConnectorError"
        assert ran.step.error.message == (
            "resource 'db': the query failed: RuntimeError: connection reset"
        )
        assert files(ran) == []


def test_failed_extract_keeps_the_previous_file(run: DbRun, tmp_path: Path) -> None:
    target = tmp_path / "work" / "keep.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("old\n")
    DATASETS["broken"] = Dataset(cols("id", "name"), factory=_failing_rows)
    ran = stream(run, "broken", output=str(target), fetch_size=1)
    assert ran.step.error is not None
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["df", "keep.csv"]
    ok = stream(run, output=str(target))
    assert ok.step.status.value == "SUCCESS"
    assert target.read_text() == "id,name\n1,a\n2,b\n3,\n"


def test_unknown_table_is_a_connector_error(run: DbRun) -> None:
    ran = stream(run, "nope")
    assert ran.step.error is not None
    assert (
        ran.step.error.message
        == "resource 'db': the query failed: RuntimeError: no such table: nope"
    )


def test_output_that_is_a_directory_fails(run: DbRun, tmp_path: Path) -> None:
    folder = tmp_path / "work" / "adir"
    folder.mkdir(parents=True)
    ran = stream(run, output=str(folder))
    assert ran.step.error is not None
    assert ran.step.error.message == f"output {folder} is a directory; name a file"


# -- sandbox --------------------------------------------------------------------------------------


def test_output_outside_the_sandbox_is_refused(run: DbRun, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "o.csv"
    ran = stream(run, output=str(outside))
    assert ran.step.error is not None
    assert ran.step.error.cls == "SandboxError"
    assert ran.step.error.message.startswith(f"input output: path {str(outside)!r} is outside")
    assert not outside.parent.exists()
    escape = stream(run, output="../../../../../escape.csv")
    assert escape.step.error is not None
    assert escape.step.error.cls == "SandboxError"


def test_sandbox_off_allows_any_path(run: DbRun, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "o.csv"
    ran = stream(run, output=str(outside), env={"AETHERFLOW_STRICT_SANDBOX": "false"})
    assert ran.step.status.value == "SUCCESS"
    assert outside.read_text().startswith("id,name\n")


# -- progress -------------------------------------------------------------------------------------


def test_progress_events_every_interval(run: DbRun, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(1000))
    monkeypatch.setattr(db_source, "CLOCK", lambda: float(next(ticks)))
    DATASETS["many"] = Dataset(cols(("n", "int")), [(i,) for i in range(10)])
    ran = stream(run, "many", fetch_size=2, progress_seconds=2)
    events = ran.named("step_progress")
    # clock: 0 at start, then 1, 2, 3, 4, 5 after the five batches → events at 2 and 4
    assert [(e["rows"], e["rows_per_s"], e["elapsed_ms"]) for e in events] == [
        (4, 2.0, 2000),
        (8, 2.0, 4000),
    ]
    first = events[0]
    assert (first["step_id"], first["step_type"], first["engine"], first["job_id"]) == (
        "s",
        "db_extract_stream",
        "generic",
        "j",
    )
    assert first["bytes"] == len("n\n0\n1\n2\n3\n")


def test_no_progress_events_for_a_quick_extract(run: DbRun) -> None:
    ran = stream(run)
    assert ran.named("step_progress") == []


# -- predecessor connectors -----------------------------------------------------------------------


def test_legacy_fetchmany_connector(run: DbRun) -> None:
    resources = {"old": {"kind": "db", "driver": "legacy_fetchmany"}}
    ran = run(
        "db_extract_stream",
        {
            "resource": "old",
            "sql": "rows",
            "output": "o.tsv",
            "fetch_size": 2,
            "emit_dtypes": True,
        },
        resources=resources,
    )
    out = outputs(ran)
    assert (ran.artifacts / "o.tsv").read_text() == "id\tname\n1\ta\n2\tb\n3\t\n"
    assert out["dtypes"] == {"id": "int", "name": "string"}
    assert ("fetchmany", "rows", None, 2) in CALLS
    small = run("db_fetch_small", {"resource": "old", "sql": "rows"}, resources=resources)
    assert outputs(small)["rows"] == [[1, "a"], [2, "b"], [3, None]]


def test_legacy_fetchall_connector(run: DbRun) -> None:
    resources = {"old": {"kind": "db", "driver": "legacy_fetchall"}}
    ran = run(
        "db_extract",
        {"resource": "old", "sql": "rows", "output": "o.tsv", "params": [1]},
        resources=resources,
    )
    assert outputs(ran)["rows"] == 3
    assert ("fetchall", "rows", [1], None) in CALLS


def test_connector_without_any_query_method(run: DbRun) -> None:
    ran = stream(run, resources={"db": {"kind": "db", "driver": "nothing"}})
    assert ran.step.error is not None
    assert ran.step.error.message == (
        "resource 'db': connector NotADatabase is not a database connector (it has neither "
        "stream() nor the predecessor's fetchmany()/fetchall())"
    )


def test_resource_of_another_kind(run: DbRun, registry: Registry) -> None:
    registry.add_connector("rest", "dummy", NotADatabase, origin="test", replace=True)
    ran = stream(run, resources={"db": {"kind": "rest", "driver": "dummy"}})
    assert ran.step.error is not None
    assert ran.step.error.message == "input resource: resource 'db' is kind 'rest', not 'db'"


# -- validation -----------------------------------------------------------------------------------

FLOW = """
flow: {{id: v}}
resources:
  db: {{kind: db, driver: fake}}
jobs:
  - id: j
    steps:
      - id: s
        type: {type}
        inputs:
{inputs}
"""


def check(registry: Registry, step_type: str, inputs: str) -> list[tuple[str, str, str]]:
    register_fakes(registry)
    text = FLOW.format(type=step_type, inputs=textwrap.indent(textwrap.dedent(inputs), " " * 10))
    options = ValidationOptions(env={}, registry=registry)
    report = validate_flow_text(text, options, file="flow.yaml")
    return [(i.code, i.loc, i.msg) for i in report.errors]


def test_validate_accepts_every_documented_key(registry: Registry) -> None:
    found = check(
        registry,
        "db_extract_stream",
        """
        resource: db
        sql: select 1
        output: o.csv
        params: [1]
        format: csv
        fetch_size: 100
        include_header: false
        emit_dtypes: true
        dtypes: {a: int}
        file: {encoding: utf-8, delimiter: ";", quotechar: "'", escapechar: "\\\\",
               doublequote: false, quoting: all, linefeed: "\\r\\n", include_header: false}
        engine: generic
        skip_if_empty: false
        progress_seconds: 1
        expect: {min_rows: 1, max_rows: 5, columns: {required: [a]}, dtypes: {a: int},
                 keep_output_on_failure: true}
        """,
    )
    assert found == []


def test_validate_reports_input_mistakes(registry: Registry) -> None:
    found = check(
        registry,
        "db_extract_stream",
        """
        resource: db
        sql: select 1
        output: o.csv
        format: xlsx
        delimiter: ";;"
        quoting: sometimes
        dtypes: {a: integerr}
        expect: {min_rows: 3, max_rows: 1}
        fetchsize: 10
        """,
    )
    locs = [(code, loc) for code, loc, _ in found]
    prefix = "jobs[0].steps[0].inputs."
    assert locs == [
        ("step:invalid_inputs", prefix + "format"),
        ("step:invalid_inputs", prefix + "delimiter"),
        ("step:invalid_inputs", prefix + "quoting"),
        ("step:invalid_inputs", prefix + "dtypes"),
        ("step:invalid_inputs", prefix + "expect"),
        ("step:invalid_inputs", prefix + "fetchsize"),
    ]
    messages = " | ".join(msg for _, _, msg in found)
    assert "must be exactly one character, got ';;'" in messages
    assert "unknown dtype 'integerr'" in messages
    assert "expect.min_rows (3) is above expect.max_rows (1)" in messages


def test_validate_reports_a_conflicting_file_option(registry: Registry) -> None:
    found = check(
        registry,
        "db_extract",
        """
        resource: db
        sql: select 1
        output: o.tsv
        delimiter: ","
        file: {delimiter: ";"}
        """,
    )
    assert len(found) == 1
    assert "delimiter is given as ',' and as file.delimiter ';'; give it once" in found[0][2]


def test_validate_missing_required_inputs(registry: Registry) -> None:
    found = check(registry, "db_fetch_small", "max_rows: 10\n")
    assert [(c, loc) for c, loc, _ in found] == [
        ("step:invalid_inputs", "jobs[0].steps[0].inputs.resource"),
        ("step:invalid_inputs", "jobs[0].steps[0].inputs.sql"),
    ]


def test_validate_flags_skip_if_empty_that_can_never_skip(registry: Registry) -> None:
    found = check(
        registry,
        "db_fetch_small",
        """
        resource: db
        sql: select 1
        skip_if_empty: true
        expect: {min_rows: 1}
        """,
    )
    assert [(c, loc) for c, loc, _ in found] == [
        ("semantic:db_skip_if_empty_unreachable", "jobs[0].steps[0].inputs.skip_if_empty")
    ]


def test_templated_values_are_checked_after_rendering(run: DbRun) -> None:
    ran = stream(run, fetch_size="{{env.FETCH}}", env={"FETCH": "2"})
    assert ("stream", "rows", None, 2) in CALLS
    assert outputs(ran)["row_count"] == 3


# -- memory ---------------------------------------------------------------------------------------


def _peak(run: DbRun, rows: int, fmt: str) -> int:
    name = f"big{rows}"
    DATASETS[name] = Dataset(
        cols(("id", "int"), "text", ("v", "float")),
        factory=lambda: ((i, f"row number {i}", i / 3) for i in range(rows)),
    )
    tracemalloc.start()
    try:
        ran = stream(run, name, format=fmt, output=f"{name}.{fmt}", fetch_size=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outputs(ran)["row_count"] == rows
    return peak


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_memory_does_not_grow_with_the_row_count(run: DbRun, fmt: str) -> None:
    small = _peak(run, 5_000, fmt)
    large = _peak(run, 50_000, fmt)
    assert large < small * 1.5 + 512 * 1024, (small, large)


def test_progress_clock_default_is_monotonic() -> None:
    import time

    assert db_source.CLOCK is time.monotonic


def test_outputs_summary_is_json_safe(run: DbRun) -> None:
    ran = stream(run, emit_dtypes=True)
    end = ran.named("step_end")[0]
    assert json.loads(json.dumps(end["outputs_summary"]))


# -- interruption and missing libraries -----------------------------------------------------------


def _slow_rows() -> Iterator[tuple[Any, ...]]:
    import time

    for i in range(1000):
        time.sleep(0.02)
        yield (i, "x")


def test_step_timeout_mid_extract_removes_the_temp_file(run: DbRun) -> None:
    DATASETS["slow"] = Dataset(cols("id", "name"), factory=_slow_rows)
    ran = stream(run, "slow", fetch_size=2, timeout_seconds=0.3)
    assert ran.step.error is not None
    assert ran.step.error.failure_class == "timeout"
    assert files(ran) == []


def test_parquet_without_pyarrow_names_the_extra(
    run: DbRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    ran = stream(run, format="parquet", output="o.parquet")
    assert ran.step.error is not None
    assert ran.step.error.cls == "MissingDependency"
    assert ran.step.error.message == (
        "step db_extract_stream with format parquet needs pyarrow — "
        "pip install 'aetherflow[parquet]'"
    )
    assert files(ran) == []
