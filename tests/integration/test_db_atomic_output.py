"""Atomic output on failure, on real PostgreSQL.

* A query the server terminates half-way (``pg_terminate_backend`` from another connection)
  fails the step with a ``ConnectorError`` that names the resource and gives the server's
  reason, and leaves neither the final file nor a temp file — on every write path (``COPY``,
  ADBC Arrow, generic) and through ``db:postgres`` and ``db:sqlalchemy``.
* A ``SIGKILL``-ed ``aetherflow run`` leaves no final file; the temp file it was writing stays
  (nothing runs in a killed process), and resuming the run publishes the complete file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest_runs import BUSY_EXIT, Sandbox, wait_for
from tests.integration.dbkit import (
    db_params,
    job,
    read_csv,
    step,
    unique_table,
    write_data_flow,
)
from tests.integration.servers import (
    app_name,
    pg_execute,
    pg_resource,
    slow_series,
    temp_files,
    terminate,
)
from tests.unit.steps.db_harness import DbRun

pytestmark = pytest.mark.parametrize("backend", db_params("postgres"), indirect=True)

SLOW_ROWS = 2_000_000
HALF_WRITTEN_BYTES = 4096
# driver, format, engine
KILL_CASES = {
    "copy-csv": ("postgres", "csv", "auto"),
    "generic-csv": ("postgres", "csv", "generic"),
    "generic-jsonl": ("postgres", "jsonl", "generic"),
    "arrow-parquet": ("postgres", "parquet", "auto"),
    "generic-parquet": ("postgres", "parquet", "generic"),
    "sqlalchemy-csv": ("sqlalchemy", "csv", "auto"),
    "sqlalchemy-parquet": ("sqlalchemy", "parquet", "auto"),
}
RESUME_ROWS = 100_000
RUN_ID = "killed-1"
SHORT_LEASE = {"AETHERFLOW_RUN_LEASE_SECONDS": "1"}


@pytest.fixture
def application_name(backend: object) -> Iterator[str]:
    """A marker for this test's PostgreSQL sessions (the server must be up: ``backend``); any
    left over are ended afterwards."""
    name = app_name()
    yield name
    terminate(name)


def written(directory: Path) -> int:
    """Bytes in the temp files of ``directory`` (0 while there are none)."""
    return sum(p.stat().st_size for p in temp_files(directory) if p.exists())


class Terminator:
    """From a thread: once the temp files in ``directory`` hold ``min_bytes`` (the extract is
    half-way), end the sessions of ``application_name``."""

    def __init__(self, directory: Path, application_name: str, min_bytes: int) -> None:
        self.directory = directory
        self.application_name = application_name
        self.min_bytes = min_bytes
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _half_way(self) -> bool:
        names = [p.name for p in temp_files(self.directory)]
        if not names or written(self.directory) < self.min_bytes:
            return False
        self.seen = names
        return bool(terminate(self.application_name))

    def _watch(self) -> None:
        wait_for(self._half_way, "a half-written extract", timeout=60)

    def join(self) -> list[str]:
        """Wait for the termination; the temp files seen just before it."""
        self.thread.join(timeout=90)
        assert self.seen, "the extract was never seen half-way"
        return self.seen


@pytest.mark.parametrize("case", list(KILL_CASES))
def test_terminated_query_fails_without_leaving_files(
    case: str, application_name: str, db_runner: DbRun, tmp_path: Path
) -> None:
    driver, fmt, engine = KILL_CASES[case]
    out_dir = tmp_path / "work" / "exports"
    final = out_dir / f"slow.{fmt}"
    terminator = Terminator(out_dir, application_name, 1 if fmt == "parquet" else 4096)
    ran = db_runner(
        "db_extract_stream",
        {
            "resource": "db",
            "sql": slow_series(SLOW_ROWS),
            "output": str(final),
            "format": fmt,
            "engine": engine,
            "fetch_size": 1000,
        },
        resources={"db": pg_resource(application_name, driver)},
    )
    seen = terminator.join()
    assert all(name.startswith(f".slow.{fmt}.") for name in seen)
    error = ran.step.error
    assert ran.step.outputs is None
    assert error is not None
    assert error.cls == "ConnectorError"
    assert f"{driver} resource 'db'" in error.message
    assert "terminating connection due to administrator command" in error.message
    assert "SQL: SELECT g AS id" in error.message
    assert not final.exists()
    assert list(out_dir.iterdir()) == []


@dataclass
class KillAndResume:
    """What a ``SIGKILL``-ed run left behind, and what resuming it did."""

    final: Path
    left_after_kill: list[str]
    final_after_kill: bool
    resumed_code: int
    resumed_stderr: str
    left_after_resume: list[str]


def _run_until_not_busy(sandbox: Sandbox, flow: Path) -> tuple[int, str]:
    """``aetherflow run FLOW --run-id RUN_ID`` again until the dead run's lease has expired."""

    def attempt() -> tuple[int, str] | None:
        result = sandbox.run("run", str(flow), "--run-id", RUN_ID, env=SHORT_LEASE)
        return None if result.returncode == BUSY_EXIT else (result.returncode, result.stderr)

    return wait_for(attempt, "the killed run's lease to expire", timeout=60, interval=0.3)


def kill_and_resume(sandbox: Sandbox, application_name: str) -> KillAndResume:
    """Start an extract through the CLI, ``SIGKILL`` it half-way, resume the run."""
    gate = unique_table("af_gate")
    pg_execute(f"CREATE TABLE {gate} (slow BOOLEAN)")
    try:
        pg_execute(f"INSERT INTO {gate} VALUES (true)")
        final = sandbox.work_root / "exports" / "slow.csv"
        extract = step(
            "slow",
            "db_extract_stream",
            resource="pg",
            sql=slow_series(RESUME_ROWS, gate=gate),
            output=str(final),
            format="csv",
            fetch_size=1000,
        )
        flow = write_data_flow(
            sandbox.root / "flow.yaml",
            "killed",
            {"pg": pg_resource(application_name)},
            [job("export", extract)],
        )
        first = sandbox.start("run", str(flow), "--run-id", RUN_ID, name="first", env=SHORT_LEASE)
        wait_for(lambda: written(final.parent) >= HALF_WRITTEN_BYTES, "a half-written extract")
        first.sigkill()
        terminate(application_name)
        left_after_kill = [p.name for p in temp_files(final.parent)]
        final_after_kill = final.exists()
        pg_execute(f"UPDATE {gate} SET slow = false")
        code, stderr = _run_until_not_busy(sandbox, flow)
    finally:
        pg_execute(f"DROP TABLE IF EXISTS {gate}")
    left_after_resume = [p.name for p in temp_files(final.parent)]
    return KillAndResume(final, left_after_kill, final_after_kill, code, stderr, left_after_resume)


def test_sigkill_leaves_no_final_file_and_the_resume_publishes_it(
    sandbox: Sandbox, application_name: str
) -> None:
    outcome = kill_and_resume(sandbox, application_name)
    assert not outcome.final_after_kill
    # A killed process cannot remove its temp file (AtomicFile removes it on any exception).
    assert len(outcome.left_after_kill) == 1
    assert outcome.left_after_kill[0].startswith(".slow.csv.")
    assert outcome.resumed_code == 0, outcome.resumed_stderr
    records = read_csv(outcome.final, ",")
    assert len(records) == RESUME_ROWS + 1
    assert records[0] == ["id", "label"]
    assert records[-1] == [str(RESUME_ROWS), f"row-{RESUME_ROWS}"]
    shown = sandbox.show(RUN_ID, sandbox.root / "flow.yaml")
    outputs = shown["jobs"][0]["steps"][0]["outputs"]
    assert outputs["row_count"] == RESUME_ROWS


def test_resume_removes_the_temp_file_a_killed_run_left(
    sandbox: Sandbox, application_name: str
) -> None:
    outcome = kill_and_resume(sandbox, application_name)
    assert outcome.resumed_code == 0, outcome.resumed_stderr
    assert outcome.left_after_resume == []
