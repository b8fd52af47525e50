"""The quickstart ETL flow (``examples/etl``, README "Quickstart") through the real command line.

Every test generates the example database in ``tmp_path`` with ``examples/etl/make_db.py`` and
runs ``python -m aetherflow run examples/etl/etl.yaml`` from ``tmp_path`` (not the repository),
with state, workspace and database there. Expected numbers are computed from the database with
plain SQL, independently of the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES, RunCli
from .conftest_runs import parse_events

ETL = EXAMPLES / "etl"
FLOW = ETL / "etl.yaml"
ORDERS = 3000  # make_db.py's default
COLUMNS = ["id", "order_date", "customer", "status", "amount_cents"]

RunFlow = Callable[..., tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]]


def make_db(path: Path) -> Path:
    """Create the example database at ``path`` with the example's own script."""
    subprocess.run(
        [sys.executable, str(ETL / "make_db.py"), str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on ``db`` (read with the sqlite3 module, not through AetherFlow)."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def sha256(path: Path) -> str:
    """The sha256 hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def step_outputs(events: list[dict[str, Any]], step_id: str) -> dict[str, Any]:
    """The outputs of ``step_id`` as recorded in its ``step_end`` event."""
    ends = [e for e in events if e["event"] == "step_end" and e["step_id"] == step_id]
    assert ends, f"no step_end for {step_id}"
    return ends[-1]["outputs_summary"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The settings the README passes (``make demo``), pointed at ``tmp_path``."""
    return {
        "AETHERFLOW_STATE_ROOT": str(tmp_path / "state"),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
        "AETHERFLOW_LOG_FORMAT": "json",
        "ETL_DB": str(make_db(tmp_path / "shop.db")),
        "ETL_PYTHON": sys.executable,
        "ETL_HOME": str(ETL),
    }


@pytest.fixture
def run_flow(cli: RunCli, env: dict[str, str]) -> RunFlow:
    """``run_flow(run_id, **overrides)`` runs the example flow; the result and its events."""

    def run(
        run_id: str, **overrides: str
    ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        result = cli("run", str(FLOW), "--run-id", run_id, env={**env, **overrides})
        return result, parse_events(result.stderr)

    return run


def published(env: dict[str, str]) -> Path:
    """The directory the publish job replaces."""
    return Path(env["AETHERFLOW_WORK_ROOT"]) / "published" / "orders"


def test_the_flow_succeeds_with_every_job(run_flow: RunFlow) -> None:
    result, events = run_flow("etl-1")
    assert result.returncode == 0, result.stderr
    jobs = {e["job_id"]: e["status"] for e in events if e["event"] == "job_end"}
    assert jobs == {
        "extract": "SUCCESS",
        "transform": "SUCCESS",
        "report": "SUCCESS",
        "publish": "SUCCESS",
    }


def test_extract_writes_every_order_to_csv_and_typed_parquet(
    run_flow: RunFlow, env: dict[str, str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    result, events = run_flow("etl-1")
    assert result.returncode == 0, result.stderr
    csv_out = step_outputs(events, "orders_csv")
    parquet_out = step_outputs(events, "orders_parquet")
    assert csv_out["row_count"] == parquet_out["row_count"] == ORDERS
    with Path(csv_out["artifact_path"]).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == COLUMNS
    assert len(rows) == ORDERS + 1
    # The customer with a comma and quotes survives the CSV round trip.
    expected = query(Path(env["ETL_DB"]), "SELECT id, customer FROM orders ORDER BY id")
    assert [(int(r[0]), r[2]) for r in rows[1:]] == expected
    table = pq.read_table(parquet_out["artifact_path"])
    assert table.num_rows == ORDERS
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("order_date").type == pa.date32()
    assert table.schema.field("amount_cents").type == pa.int64()
    assert table.schema.field("customer").type == pa.string()


def test_transform_writes_daily_totals_of_paid_orders(
    run_flow: RunFlow, env: dict[str, str]
) -> None:
    result, _ = run_flow("etl-1")
    assert result.returncode == 0, result.stderr
    totals = query(
        Path(env["ETL_DB"]),
        "SELECT order_date, COUNT(*), SUM(amount_cents) FROM orders WHERE status = 'paid' "
        "GROUP BY order_date ORDER BY order_date",
    )
    expected = ["order_date,paid_orders,revenue"] + [
        f"{day},{count},{cents // 100}.{cents % 100:02d}" for day, count, cents in totals
    ]
    daily = Path(env["AETHERFLOW_WORK_ROOT"]) / "etl/transform/etl-1/artifacts/daily_totals.csv"
    assert daily.read_text(encoding="utf-8").splitlines() == expected
    assert len(expected) == 31  # a header and the 30 days of November


def test_report_counts_orders_per_status_and_reconciles(
    run_flow: RunFlow, env: dict[str, str]
) -> None:
    result, events = run_flow("etl-1")
    assert result.returncode == 0, result.stderr
    by_status = query(
        Path(env["ETL_DB"]), "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY 1"
    )
    counts = step_outputs(events, "status_counts")
    assert [tuple(row) for row in json.loads(counts["rows_json"])] == by_status
    assert sum(n for _, n in by_status) == ORDERS
    assert json.loads(step_outputs(events, "reconcile")["rows_json"]) == [[ORDERS]]


def test_publish_copies_the_files_under_the_lock_and_releases_it(
    run_flow: RunFlow, env: dict[str, str], cli: RunCli
) -> None:
    result, events = run_flow("etl-1")
    assert result.returncode == 0, result.stderr
    target = published(env)
    assert sorted(p.name for p in target.iterdir()) == [
        "_SUCCESS",
        "daily_totals.csv",
        "orders.csv",
        "orders.parquet",
    ]
    assert (target / "_SUCCESS").read_text(encoding="utf-8") == "etl-1\n"
    assert sha256(target / "orders.csv") == step_outputs(events, "orders_csv")["sha256"]
    assert sha256(target / "orders.parquet") == step_outputs(events, "orders_parquet")["sha256"]
    assert [p.name for p in target.parent.iterdir()] == ["orders"]  # no temporary directory left
    names = [e["event"] for e in events if e.get("key") == "publish:orders"]
    assert names == ["lock_acquired", "lock_released"]
    listed = cli("locks", "list", str(FLOW), "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_a_second_run_republishes_with_a_newer_fencing_token(
    run_flow: RunFlow, env: dict[str, str]
) -> None:
    first, first_events = run_flow("etl-1")
    second, second_events = run_flow("etl-2")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (published(env) / "_SUCCESS").read_text(encoding="utf-8") == "etl-2\n"

    def token(events: list[dict[str, Any]]) -> int:
        return next(e["token"] for e in events if e["event"] == "lock_acquired")

    assert token(second_events) > token(first_events)


def test_a_database_without_orders_fails_the_extract_and_publishes_nothing(
    run_flow: RunFlow, env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result, events = run_flow("etl-bad", ETL_DB=str(empty))
    assert result.returncode == 1
    errors = [e for e in events if e["event"] == "step_error"]
    assert errors[0]["step_id"] == "orders_csv"
    assert "no such table: orders" in errors[0]["message"]
    jobs = {e["job_id"]: e["status"] for e in events if e["event"] == "job_end"}
    assert jobs == {
        "extract": "FAILED",
        "transform": "BLOCKED",
        "report": "BLOCKED",
        "publish": "BLOCKED",
    }
    assert not published(env).parent.exists()


def test_a_failed_transform_resumes_without_extracting_again(
    run_flow: RunFlow, env: dict[str, str]
) -> None:
    failed, _ = run_flow("etl-resume", ETL_PYTHON="false")  # `false ARGS...` exits 1
    resumed, events = run_flow("etl-resume")
    assert failed.returncode == 1
    assert resumed.returncode == 0, resumed.stderr
    reused = {e["step_id"] for e in events if e["event"] == "step_resumed"}
    started = [e["step_id"] for e in events if e["event"] == "step_start"]
    assert reused == {"orders_csv", "orders_parquet"}
    assert started[0] == "daily_totals"
    assert (published(env) / "_SUCCESS").read_text(encoding="utf-8") == "etl-resume\n"
