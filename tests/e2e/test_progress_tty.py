"""Long extracts show their progress: a compact line on a terminal, events in JSON mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aetherflow.cli.logs import progress_text

from .conftest import clean_env
from .test_process_tty import run_in_pty

ROWS = 400_000


def write_extract_flow(tmp_path: Path) -> Path:
    """A flow extracting ROWS generated rows from an (empty) SQLite file, progress every 50 ms."""
    flow = tmp_path / "flow.yaml"
    source = tmp_path / "src.db"
    generate = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})"
    flow.write_text(
        f"flow: {{id: progress, state: {{path: '{tmp_path / 'state.db'}'}}}}\n"
        f"resources: {{src: {{kind: db, driver: sqlite3, config: {{path: '{source}'}}}}}}\n"
        "jobs:\n  - id: export\n    steps:\n"
        "      - id: orders\n        type: db_extract_stream\n        inputs:\n"
        "          resource: src\n          format: csv\n          output: out.csv\n"
        "          fetch_size: 1000\n          progress_seconds: 0.05\n"
        "          sql: >-\n"
        f"            {generate}\n"
        "            SELECT i, 'row ' || i AS label FROM n\n"
    )
    return flow


def test_progress_line_on_a_terminal(tmp_path: Path) -> None:
    flow = write_extract_flow(tmp_path)
    env = clean_env({"AETHERFLOW_WORK_ROOT": str(tmp_path / "w")})
    code, output = run_in_pty([sys.executable, "-m", "aetherflow", "run", str(flow)], env, tmp_path)
    assert code == 0, output
    lines = [line for line in output.replace("\r", "").splitlines() if "[export/orders]" in line]
    assert lines, output
    assert all(" rows · " in line and "rows/s" in line for line in lines), lines
    assert not any("step_progress" in line for line in lines), lines


def test_progress_events_in_json_mode(tmp_path: Path) -> None:
    flow = write_extract_flow(tmp_path)
    env = clean_env({"AETHERFLOW_WORK_ROOT": str(tmp_path / "w")})
    result = subprocess.run(
        [sys.executable, "-m", "aetherflow", "--log-format", "json", "run", str(flow)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    progress = [e for e in events if e["event"] == "step_progress"]
    assert progress, result.stderr
    counts = [e["rows"] for e in progress]
    assert counts == sorted(counts)
    assert 0 < counts[-1] <= ROWS
    assert {e["step_id"] for e in progress} == {"orders"}
    # pyarrow and ADBC are installed with the test extras: SQLite CSV takes the arrow engine.
    assert all(e["engine"] == "arrow" and e["bytes"] > 0 for e in progress)


def test_progress_text_formats_counts() -> None:
    text = progress_text(
        {"rows": 1_250_000, "rows_per_s": 412_300.4, "bytes": 48_200_000, "elapsed_ms": 3030}
    )
    assert text == "1,250,000 rows · 412,300 rows/s · 48.2 MB · 3.0 s"
    assert (
        progress_text({"rows": 10, "rows_per_s": None, "bytes": None, "elapsed_ms": 0})
        == "10 rows · 0.0 s"
    )
