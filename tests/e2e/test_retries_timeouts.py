"""Explicit retries and step timeouts through the CLI (``30-execution.md``, Retries and timeouts).

* A step is retried only when its YAML has ``retry:``; every attempt is recorded and each retry
  emits ``step_retry`` (attempt, delay_s, error_class).
* ``timeout_seconds`` fails a Python step (SIGALRM watchdog) and a process step with failure
  class ``timeout``; a process step's whole process group is ended, grandchildren included —
  also when the group ignores SIGTERM (SIGKILL after ``kill_grace_seconds``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest_runs import (
    Sandbox,
    group_members,
    parse_events,
    process_alive,
    read_ledger,
    read_pids,
    write_flow,
)

FLOW_ID = "retries"


def flaky_command(count_file: Path, succeed_on: int) -> str:
    """A shell command counting its runs in ``count_file``; it fails before run ``succeed_on``."""
    return (
        f'n=$(cat "{count_file}" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "{count_file}"; '
        f"[ $n -ge {succeed_on} ]"
    )


def one_step_flow(tmp_path: Path, step_yaml: str) -> Path:
    """A flow whose only job ``j`` has the single step ``s`` given as YAML (indented 6)."""
    return write_flow(
        tmp_path / "flow.yaml",
        f"""
        version: 1
        flow:
          id: {FLOW_ID}
        jobs:
          - id: j
            steps:
        {step_yaml}
        """,
    )


def test_step_failing_twice_succeeds_on_its_third_attempt(sandbox: Sandbox, tmp_path: Path) -> None:
    count = tmp_path / "count.txt"
    flow = one_step_flow(
        tmp_path,
        f"""
              - id: s
                type: shell
                retry:
                  max_attempts: 3
                  delay_seconds: 0.1
                  backoff: 2
                inputs:
                  command: '{flaky_command(count, succeed_on=3)}'
        """,
    )
    result = sandbox.run("run", str(flow), "--run-id", "r", env={"AETHERFLOW_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    assert count.read_text().strip() == "3"

    shown = sandbox.show("r", flow)
    step = shown["jobs"][0]["steps"][0]
    assert (step["step_id"], step["status"], step["attempt"]) == ("s", "SUCCESS", 3)
    attempts = sandbox.attempts(FLOW_ID, "r", "j/s")
    assert [(n, status) for n, status, _ in attempts] == [
        (1, "FAILED"),
        (2, "FAILED"),
        (3, "SUCCESS"),
    ]
    assert [error["class"] for _, _, error in attempts if error] == ["RuntimeError"] * 2

    retries = [e for e in parse_events(result.stderr) if e["event"] == "step_retry"]
    assert [(e["step_id"], e["attempt"], e["delay_s"], e["error_class"]) for e in retries] == [
        ("s", 1, 0.1, "RuntimeError"),
        ("s", 2, 0.2, "RuntimeError"),
    ]


@pytest.mark.parametrize(
    "retry",
    [
        pytest.param("", id="no-retry"),
        pytest.param("retry: {max_attempts: 3, retry_on: [StepTimeout]}", id="retry-on-other"),
    ],
)
def test_failure_without_a_matching_retry_policy_runs_once(
    sandbox: Sandbox, tmp_path: Path, retry: str
) -> None:
    count = tmp_path / "count.txt"
    flow = one_step_flow(
        tmp_path,
        f"""
              - id: s
                type: shell
                {retry}
                inputs:
                  command: '{flaky_command(count, succeed_on=2)}'
        """,
    )
    result = sandbox.run("run", str(flow), "--run-id", "r", env={"AETHERFLOW_LOG_FORMAT": "json"})
    assert result.returncode == 1, result.stderr
    assert count.read_text().strip() == "1", "the command ran exactly once"
    row = sandbox.steps(FLOW_ID, "r")["j/s"]
    assert (row.status, row.attempt, row.failure_class) == ("FAILED", 1, "error")
    assert [(n, status) for n, status, _ in sandbox.attempts(FLOW_ID, "r", "j/s")] == [
        (1, "FAILED")
    ]
    assert not any(e["event"] == "step_retry" for e in parse_events(result.stderr))


def test_timeout_fails_a_python_step(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    flow = one_step_flow(
        tmp_path,
        f"""
              - id: s
                type: ledger
                timeout_seconds: 1
                inputs:
                  ledger: "{ledger}"
                  entry: started
                  sleep_seconds: 60
        """,
    )
    result = sandbox.run("run", str(flow), "--run-id", "r", env={"AETHERFLOW_LOG_FORMAT": "json"})
    assert result.returncode == 1, result.stderr
    assert read_ledger(ledger) == ["started"]
    row = sandbox.steps(FLOW_ID, "r")["j/s"]
    assert (row.status, row.failure_class) == ("FAILED", "timeout")
    assert row.error is not None
    assert row.error["class"] == "StepTimeout"
    errors = [e for e in parse_events(result.stderr) if e["event"] == "step_error"]
    assert [(e["step_id"], e["failure_class"]) for e in errors] == [("s", "timeout")]


@pytest.mark.parametrize(
    "prelude",
    [
        pytest.param("", id="group-obeys-sigterm"),
        pytest.param("trap '' TERM; ", id="group-ignores-sigterm"),
    ],
)
def test_timeout_ends_the_whole_process_group(
    sandbox: Sandbox, tmp_path: Path, prelude: str
) -> None:
    pids = tmp_path / "pids.txt"
    # $$ is the shell (the group leader), $! its background child: the runner's grandchild.
    command = f'{prelude}sleep 1000 & echo $$ $! > "{pids}"; sleep 1000'
    flow = one_step_flow(
        tmp_path,
        f"""
              - id: s
                type: shell
                timeout_seconds: 1
                inputs:
                  command: {json.dumps(command)}
                  kill_grace_seconds: 0.5
        """,
    )
    result = sandbox.run("run", str(flow), "--run-id", "r")
    found = read_pids(pids)
    for pid in found[:1]:
        sandbox.watch_group(pid)
    assert result.returncode == 1, result.stderr
    row = sandbox.steps(FLOW_ID, "r")["j/s"]
    assert (row.status, row.failure_class) == ("FAILED", "timeout")

    assert len(found) == 2, "the command recorded the shell's pid and its background child's"
    shell, background = found
    assert group_members(shell) == [], "the step's process group is gone"
    assert not process_alive(shell)
    assert not process_alive(background)
