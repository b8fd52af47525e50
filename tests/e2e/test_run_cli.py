"""``aetherflow run``/``resume``/``runs`` through the real command line: exit codes, messages,
``--plan`` writing nothing, the ``runs list`` shapes and the derived ``ABANDONED`` status."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .conftest_runs import FLOWS, Sandbox, read_ledger, run_lease_key, write_ledger_flow

OUTCOMES = FLOWS / "four_outcomes.yaml"
OUTCOME_JOBS = ["good", "broken", "downstream", "disabled"]
LIST_KEYS = ["run_id", "flow_id", "status", "started_at", "ended_at", "duration_ms", "failed_job"]


def rows_of_run(sandbox: Sandbox, flow_id: str, run_id: str) -> dict[str, list[Any]]:
    """Every row any table holds for the run (its lease and fencing counter included)."""
    found = {
        table: sandbox.rows(f"SELECT * FROM {table} WHERE run_id = ?", [run_id])
        for table in ("runs", "jobs", "steps", "step_attempts", "leases")
    }
    key = run_lease_key(flow_id, run_id)
    found["fencing"] = sandbox.rows("SELECT * FROM fencing WHERE key = ?", [key])
    return {table: rows for table, rows in found.items() if rows}


def epoch_ms(iso: str) -> int:
    """``2026-01-01T02:00:00.123Z`` → epoch milliseconds."""
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_successful_run_exits_0(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger, flow = tmp_path / "ledger.txt", tmp_path / "ok.yaml"
    entries = write_ledger_flow(flow, flow_id="ok", ledger=ledger, jobs={"only": 2})

    result = sandbox.run("run", str(flow), "--run-id", "ok-1")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert read_ledger(ledger) == entries
    assert sandbox.run_status("ok", "ok-1") == "SUCCESS"


def test_failed_job_exits_1(sandbox: Sandbox) -> None:
    result = sandbox.run("run", str(OUTCOMES), "--run-id", "bad-1")

    assert result.returncode == 1
    assert sandbox.run_status("four_outcomes", "bad-1") == "FAILED"
    assert sandbox.job_statuses("four_outcomes", "bad-1")["broken"] == "FAILED"


def test_invalid_flow_exits_2_with_positions_and_writes_nothing(sandbox: Sandbox) -> None:
    flow = FLOWS / "typos.yaml"

    result = sandbox.run("run", str(flow), "--run-id", "never")

    assert result.returncode == 2
    assert f"- {flow}:4:3 flow.workspce: schema:extra_forbidden" in result.stderr
    assert f"- {flow}:15:5 jobs[1].depend_on: schema:extra_forbidden" in result.stderr
    assert "Traceback" not in result.stderr
    assert not sandbox.db.exists()


def test_unknown_flow_job_exits_2_and_names_the_jobs(sandbox: Sandbox) -> None:
    result = sandbox.run("run", str(OUTCOMES), "--flow-job", "nope")

    assert result.returncode == 2
    assert (
        "--flow-job 'nope' is not a job of flow 'four_outcomes'; "
        "jobs: good, broken, downstream, disabled" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not sandbox.db.exists()


def test_resume_of_an_unknown_run_exits_2(sandbox: Sandbox) -> None:
    assert sandbox.run("run", str(OUTCOMES), "--run-id", "known").returncode == 1

    result = sandbox.run("resume", "ghost", "--flow-yaml", str(OUTCOMES))

    assert result.returncode == 2
    assert "run ghost of flow 'four_outcomes' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.rows("SELECT run_id FROM runs") == [("known",)]
    assert sandbox.lease(run_lease_key("four_outcomes", "ghost")) is None


def test_plan_of_a_new_run_lists_every_job_as_run_and_writes_nothing(sandbox: Sandbox) -> None:
    text = sandbox.run("run", str(OUTCOMES), "--run-id", "planned", "--plan")
    as_json = sandbox.run("run", str(OUTCOMES), "--run-id", "planned", "--plan", "--json")

    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "plan for run planned of flow four_outcomes:"
    job_lines = [line for line in lines if line.startswith("  job ")]
    assert [line.split(":")[0] for line in job_lines] == [f"  job {j}" for j in OUTCOME_JOBS]
    assert all(line.split(": ", 1)[1].startswith("run (") for line in job_lines)
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert (plan["flow_id"], plan["run_id"]) == ("four_outcomes", "planned")
    assert [(j["job_id"], j["action"]) for j in plan["jobs"]] == [(j, "run") for j in OUTCOME_JOBS]
    assert {s["action"] for j in plan["jobs"] for s in j["steps"]} == {"run"}
    assert rows_of_run(sandbox, "four_outcomes", "planned") == {}


def test_runs_list_shapes_newest_first(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = tmp_path / "ok.yaml"
    write_ledger_flow(flow, flow_id="ok", ledger=tmp_path / "ledger.txt", jobs={"only": 1})
    assert sandbox.run("run", str(flow), "--run-id", "older").returncode == 0
    assert sandbox.run("run", str(OUTCOMES), "--run-id", "newer").returncode == 1

    listed = sandbox.run("runs", "list", "--json")
    text = sandbox.run("runs", "list")

    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [list(row) for row in rows] == [LIST_KEYS, LIST_KEYS]
    assert [(r["run_id"], r["flow_id"], r["status"], r["failed_job"]) for r in rows] == [
        ("newer", "four_outcomes", "FAILED", "broken"),
        ("older", "ok", "SUCCESS", None),
    ]
    for row in rows:
        assert row["duration_ms"] == epoch_ms(row["ended_at"]) - epoch_ms(row["started_at"])
    assert epoch_ms(rows[0]["started_at"]) >= epoch_ms(rows[1]["ended_at"])

    assert text.returncode == 0, text.stderr
    header, *lines = text.stdout.splitlines()
    assert header.split() == ["RUN_ID", "FLOW", "STATUS", "STARTED", "DURATION", "FAILED_JOB"]
    assert [line.split() for line in lines] == [
        [
            row["run_id"],
            row["flow_id"],
            row["status"],
            row["started_at"],
            f"{row['duration_ms'] / 1000:.1f}s",
            row["failed_job"] or "-",
        ]
        for row in rows
    ]

    only_ok = json.loads(sandbox.run("runs", "list", str(flow), "--json").stdout)
    assert [r["run_id"] for r in only_ok] == ["older"]


def test_runs_show_of_an_unknown_run_exits_2(sandbox: Sandbox) -> None:
    assert sandbox.run("run", str(OUTCOMES), "--run-id", "known").returncode == 1

    result = sandbox.run("runs", "show", "nope", str(OUTCOMES), "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "run 'nope' not found for flow 'four_outcomes'" in result.stderr


def test_killed_run_is_listed_abandoned_once_its_lease_expired(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = tmp_path / "slow.yaml"
    write_ledger_flow(
        flow, flow_id="slow", ledger=tmp_path / "ledger.txt", jobs={"j": 10}, sleep_seconds=0.5
    )
    key = run_lease_key("slow", "doomed")
    victim = sandbox.start(
        "run",
        str(flow),
        "--run-id",
        "doomed",
        name="victim",
        env={"AETHERFLOW_RUN_LEASE_SECONDS": "3"},
    )
    sandbox.wait_lease_renewed(key, victim.pid)
    victim.sigkill()

    def listed_status() -> str:
        result = sandbox.run("runs", "list", "--json")
        assert result.returncode == 0, result.stderr
        (row,) = json.loads(result.stdout)
        return str(row["status"])

    assert listed_status() == "RUNNING", "the lease is still live: not abandoned yet"
    sandbox.wait_lease_expired(key)
    assert listed_status() == "ABANDONED"
    abandoned = sandbox.run("runs", "list", "--status", "ABANDONED", "--json")
    assert [r["run_id"] for r in json.loads(abandoned.stdout)] == ["doomed"]
    shown = json.loads(sandbox.run("runs", "show", "doomed", str(flow), "--json").stdout)
    assert shown["status"] == "ABANDONED"
    assert sandbox.run_status("slow", "doomed") == "RUNNING", "ABANDONED is derived, not stored"
