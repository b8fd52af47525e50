"""Resume through the CLI of a flow whose extract failed once: the query names a table that does
not exist yet; once it exists, ``aetherflow run --run-id R`` completes the run without running
the steps that had already succeeded again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.contract.db_backends import Backend
from tests.e2e.conftest_runs import Sandbox, read_ledger
from tests.integration.dbkit import (
    AWKWARD_ROWS,
    awkward_sql,
    create_awkward,
    db_params,
    expected_text_rows,
    job,
    read_csv,
    resource,
    sha256_of,
    step,
    write_data_flow,
)

MISSING_TABLE = {
    "sqlite3": "no such table",
    "duckdb": "does not exist",
    "postgres": "does not exist",
    "mysql": "doesn't exist",
}
RUN_ID = "R"


def ledger_step(step_id: str, ledger: Path) -> dict[str, Any]:
    """A ``ledger`` step (``tests/flows/plugins/testkit.py``) appending ``step_id``."""
    return step(step_id, "ledger", ledger=str(ledger), entry=step_id)


def steps_by_id(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``job/step`` → the step entry of ``runs show --json``."""
    return {f"{j['job_id']}/{s['step_id']}": s for j in shown["jobs"] for s in j["steps"]}


@pytest.mark.parametrize("backend", db_params(*MISSING_TABLE), indirect=True)
def test_failed_extract_resumes_once_the_table_exists(
    backend: Backend, db: Any, table: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    extract = step(
        "extract",
        "db_extract_stream",
        resource="db",
        sql=awkward_sql(table),
        output="awkward.csv",
        format="csv",
    )
    flow = write_data_flow(
        tmp_path / "flow.yaml",
        "resumex",
        {"db": resource(backend, tmp_path)},
        [
            job("prep", ledger_step("before", ledger)),
            job("export", extract, ledger_step("after", ledger), depends_on=["prep"]),
        ],
    )
    first = sandbox.run("run", str(flow), "--run-id", RUN_ID)
    assert first.returncode == 1, first.stderr
    assert table in first.stderr
    assert MISSING_TABLE[backend.id] in first.stderr
    assert read_ledger(ledger) == ["before"]
    failed = steps_by_id(sandbox.show(RUN_ID, flow))
    assert failed["export/extract"]["status"] == "FAILED"
    assert failed["export/extract"]["error"]["class"] == "ConnectorError"

    create_awkward(db, backend, table)
    db.close()  # DuckDB lets one process at a time open the file (the next query reopens it)
    second = sandbox.run("run", str(flow), "--run-id", RUN_ID)
    assert second.returncode == 0, second.stderr
    assert read_ledger(ledger) == ["before", "after"]  # "before" did not run again
    shown = sandbox.show(RUN_ID, flow)
    assert (shown["status"], shown["resumed"]) == ("SUCCESS", True)
    done = steps_by_id(shown)
    assert {name: s["attempt"] for name, s in done.items()} == {
        "prep/before": 1,
        "export/extract": 2,
        "export/after": 1,
    }
    outputs = done["export/extract"]["outputs"]
    path = Path(outputs["artifact_path"])
    assert outputs["row_count"] == len(AWKWARD_ROWS)
    assert outputs["sha256"] == sha256_of(path)
    assert read_csv(path, ",") == expected_text_rows(AWKWARD_ROWS)
