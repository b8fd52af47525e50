"""Bounded memory: ``aetherflow run`` extracting 2,000,000 generated rows to CSV keeps its peak
RSS under 300 MB, whatever path writes the file.

The CLI runs as the only child of a small Python runner, which reports the child's peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``), so nothing else this test session started counts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.db_backends import Backend
from tests.e2e.conftest_runs import Sandbox
from tests.integration.dbkit import db_params, job, resource, sha256_of, step, write_data_flow

pytestmark = pytest.mark.slow

ROWS = 2_000_000
LIMIT_KB = 300 * 1024
MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)\n"
)
# case → backend, engine input; with ``auto`` the fast path of the backend writes the file
# (PostgreSQL: COPY, DuckDB: native COPY, SQLite: Arrow batches rendered to CSV).
CASES = {
    "sqlite3-auto": ("sqlite3", "auto"),
    "sqlite3-generic": ("sqlite3", "generic"),
    "postgres-auto": ("postgres", "auto"),
    "postgres-generic": ("postgres", "generic"),
    "duckdb-auto": ("duckdb", "auto"),
}


def peak_rss_kb(sandbox: Sandbox, *args: str) -> int:
    """Run ``aetherflow ARGS`` under the runner; its peak RSS in KiB (it must succeed)."""
    runner = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "aetherflow", *args],
        capture_output=True,
        text=True,
        env=sandbox.env(),
        cwd=sandbox.root,
        timeout=120,
        check=False,
    )
    peak, code = runner.stdout.split()
    assert code == "0", runner.stderr
    return int(peak)


@pytest.mark.parametrize(
    ("backend", "engine"),
    [
        pytest.param(backend_id, engine, id=case, marks=db_params(backend_id)[0].marks)
        for case, (backend_id, engine) in CASES.items()
    ],
    indirect=["backend"],
)
def test_two_million_rows_to_csv_in_bounded_memory(
    backend: Backend, engine: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    output = sandbox.work_root / "big.csv"
    extract = step(
        "big",
        "db_extract",
        resource="db",
        sql=backend.series(ROWS),
        output=str(output),
        format="csv",
        engine=engine,
    )
    flow = write_data_flow(
        tmp_path / "flow.yaml", "bigx", {"db": resource(backend, tmp_path)}, [job("x", extract)]
    )
    peak = peak_rss_kb(sandbox, "run", str(flow), "--run-id", "m1", "-q")
    outputs = sandbox.show("m1", flow)["jobs"][0]["steps"][0]["outputs"]
    assert outputs["row_count"] == ROWS
    assert (outputs["engine"] == "generic") == (engine == "generic"), outputs["engine"]
    assert outputs["sha256"] == sha256_of(output)
    with output.open("rb") as handle:
        handle.seek(-64, 2)
        assert handle.read().endswith(f"\n{ROWS},row-{ROWS}\n".encode())
    assert 10 * 1024 < peak < LIMIT_KB, f"peak RSS {peak / 1024:.0f} MiB"
