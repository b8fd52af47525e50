"""Automatic locks of ``flow.locks.scope`` (``40-state-and-locks.md``), with real processes.

* ``scope: flow``: a run holds ``flow:<flow_id>`` for its whole life; a concurrent run of the
  same flow (another run id) exits 3 naming the lock and its holder, without starting — or,
  with ``locks.wait_seconds``, waits and runs after the first one finished.
* ``scope: job``: a job whose lock ``job:<flow_id>:<job_id>`` is busy fails (exit 1).

The first run holds its lock in a ``shell`` step that waits for a gate file the test creates, so
nothing depends on how long a step takes.
"""

from __future__ import annotations

import socket
from pathlib import Path

from .conftest_runs import BUSY_EXIT, Sandbox, read_ledger, wait_for, write_flow

JSON_LOGS = {"AETHERFLOW_LOG_FORMAT": "json"}


def gated_flow(tmp_path: Path, *, flow_id: str, scope: str, wait_seconds: int) -> Path:
    """Job ``gated`` (waits for ``tmp_path/gate``, then appends its run id to ``ledger.txt``)
    and job ``after``; ``flow.locks`` with ``scope`` and ``wait_seconds``."""
    return write_flow(
        tmp_path / f"{flow_id}.yaml",
        f"""
        version: 1
        flow:
          id: {flow_id}
          locks:
            scope: {scope}
            ttl_seconds: 30
            wait_seconds: {wait_seconds}
        jobs:
          - id: gated
            steps:
              - id: wait_for_gate
                type: shell
                inputs:
                  command: 'until [ -f "{tmp_path / "gate"}" ]; do sleep 0.05; done'
              - id: note
                type: ledger
                inputs:
                  ledger: "{tmp_path / "ledger.txt"}"
                  entry: "{{{{run_id}}}}"
          - id: after
            steps:
              - id: hello
                type: echo
                inputs:
                  value: done
        """,
    )


def tokens_acquired(events: list[dict[str, object]], key: str) -> list[object]:
    return [e["token"] for e in events if e["event"] == "lock_acquired" and e["key"] == key]


def test_flow_lock_busy_exits_3_naming_the_lock_and_its_holder(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = gated_flow(tmp_path, flow_id="scoped", scope="flow", wait_seconds=0)
    gate = tmp_path / "gate"
    try:
        first = sandbox.start("run", str(flow), "--run-id", "first", name="first", env=JSON_LOGS)
        sandbox.wait_lock("flow:scoped", first.pid)

        second = sandbox.run("run", str(flow), "--run-id", "second")
        assert second.returncode == BUSY_EXIT, second.stderr
        assert "lock 'flow:scoped' is held by" in second.stderr
        holder = f"run first (flow scoped) pid {first.pid} on host {socket.gethostname()}"
        assert holder in second.stderr
        assert "Traceback" not in second.stderr
        assert sandbox.run_status("scoped", "second") is None, "a refused run is not started"
        assert first.proc.poll() is None
    finally:
        gate.touch()

    assert first.wait() == 0, first.stderr()
    assert tokens_acquired(first.events(), "flow:scoped") == [1]
    assert read_ledger(tmp_path / "ledger.txt") == ["first"]
    assert sandbox.locks() == []


def test_flow_lock_waiter_runs_after_the_holder_finished(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = gated_flow(tmp_path, flow_id="queued", scope="flow", wait_seconds=30)
    gate = tmp_path / "gate"
    try:
        first = sandbox.start("run", str(flow), "--run-id", "first", name="first", env=JSON_LOGS)
        sandbox.wait_lock("flow:queued", first.pid)
        second = sandbox.start("run", str(flow), "--run-id", "second", name="second", env=JSON_LOGS)
        wait_for(
            lambda: any(e["event"] == "lock_wait" for e in second.events()),
            "the second run to wait for the flow lock",
        )
        assert sandbox.run_status("queued", "second") is None, "it waits before starting"
    finally:
        gate.touch()

    assert first.wait() == 0, first.stderr()
    assert second.wait() == 0, second.stderr()
    assert tokens_acquired(first.events(), "flow:queued") == [1]
    assert tokens_acquired(second.events(), "flow:queued") == [2]
    assert read_ledger(tmp_path / "ledger.txt") == ["first", "second"]
    assert sandbox.run_status("queued", "second") == "SUCCESS"
    assert sandbox.locks() == []


def test_busy_job_lock_fails_the_job(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = gated_flow(tmp_path, flow_id="jobscoped", scope="job", wait_seconds=0)
    key = "job:jobscoped:gated"
    gate = tmp_path / "gate"
    try:
        first = sandbox.start("run", str(flow), "--run-id", "first", name="first")
        sandbox.wait_lock(key, first.pid)

        second = sandbox.run("run", str(flow), "--run-id", "second")
        assert second.returncode == 1, second.stderr
        assert sandbox.job_statuses("jobscoped", "second") == {
            "gated": "FAILED",
            "after": "BLOCKED",
        }
        error = sandbox.job_error("jobscoped", "second", "gated")
        assert error is not None
        assert error["class"] == "LockNotAcquired"
        assert (
            f"lock '{key}' is held by run first (flow jobscoped) pid {first.pid}"
            in (error["message"])
        )
        assert sandbox.steps("jobscoped", "second") == {}, "no step ran without the job lock"
        assert sandbox.run_status("jobscoped", "second") == "FAILED"
    finally:
        gate.touch()

    assert first.wait() == 0, first.stderr()
    assert sandbox.job_statuses("jobscoped", "first") == {"gated": "SUCCESS", "after": "SUCCESS"}
    assert read_ledger(tmp_path / "ledger.txt") == ["first"]
    assert sandbox.locks() == []
