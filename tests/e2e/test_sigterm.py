"""SIGTERM / SIGINT to ``aetherflow run`` during a process step under ``with_lock``
(``30-execution.md``, Signals; ``40-state-and-locks.md``).

The run forwards the signal to the step's process group, records the step (outer and inner)
FAILED ``interrupted`` and the run INTERRUPTED, releases the lock and the run lease, and exits
143 (SIGTERM) or 130 (SIGINT). Resuming the same run id re-runs only the interrupted step; the
steps before it are restored. A run interrupted while it waits for a lock ends the same way and
leaves the holder's lock alone.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest_runs import (
    Sandbox,
    group_members,
    process_alive,
    read_ledger,
    run_lease_key,
    wait_for,
    wait_pids,
    write_flow,
)

FLOW_ID = "interruptible"
RUN_ID = "r1"
KEY = "publish"


def interruptible_flow(tmp_path: Path) -> Path:
    """``before`` (ledger), ``locked`` (``with_lock`` around a ``shell`` that blocks unless the
    ``quick`` marker exists; it records its pids and the lock token it was given), ``after``."""
    ledger, pids = tmp_path / "ledger.txt", tmp_path / "pids.txt"
    quick, seen = tmp_path / "quick", tmp_path / "lock_env.txt"
    command = (
        f'echo "$AETHERFLOW_LOCK_KEY $AETHERFLOW_LOCK_TOKEN" >> "{seen}"; '
        f'if [ -f "{quick}" ]; then exit 0; fi; '
        f'sleep 1000 & echo $$ $! > "{pids}"; sleep 1000'
    )
    return write_flow(
        tmp_path / "interruptible.yaml",
        f"""
        version: 1
        flow:
          id: {FLOW_ID}
        jobs:
          - id: j
            steps:
              - id: before
                type: ledger
                inputs: {{ledger: "{ledger}", entry: before}}
              - id: locked
                type: with_lock
                inputs:
                  lock_key: {KEY}
                  ttl_seconds: 30
                  step:
                    id: work
                    type: shell
                    inputs:
                      command: {json.dumps(command)}
                      kill_grace_seconds: 0.5
              - id: after
                type: ledger
                inputs: {{ledger: "{ledger}", entry: after}}
        """,
    )


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [
        pytest.param(signal.SIGTERM, 143, id="SIGTERM"),
        pytest.param(signal.SIGINT, 130, id="SIGINT"),
    ],
)
def test_signal_during_locked_process_step_interrupts_and_resume_finishes(
    sandbox: Sandbox, tmp_path: Path, signum: signal.Signals, exit_code: int
) -> None:
    flow = interruptible_flow(tmp_path)
    ledger = tmp_path / "ledger.txt"
    run = sandbox.start("run", str(flow), "--run-id", RUN_ID, name="interrupted")
    shell, background = wait_pids(tmp_path / "pids.txt", 2)
    sandbox.watch_group(shell)
    assert sandbox.lease(KEY) is not None

    run.proc.send_signal(signum)
    assert run.wait() == exit_code, run.stderr()

    rows = sandbox.steps(FLOW_ID, RUN_ID)
    assert rows["j/before"].status == "SUCCESS"
    for step in ("j/locked", "j/locked/work"):
        assert (rows[step].status, rows[step].failure_class) == ("FAILED", "interrupted"), step
    assert "j/after" not in rows
    shown = sandbox.show(RUN_ID, flow)
    assert shown["status"] == "INTERRUPTED"
    assert [(j["job_id"], j["status"]) for j in shown["jobs"]] == [("j", "FAILED")]

    assert group_members(shell) == [], "the step's process group is gone"
    assert not process_alive(background)
    assert sandbox.locks() == [], "the lock was released"
    assert sandbox.lease(run_lease_key(FLOW_ID, RUN_ID)) is None, "the run lease was released"
    assert read_ledger(ledger) == ["before"]

    (tmp_path / "quick").touch()
    resumed = sandbox.run("run", str(flow), "--run-id", RUN_ID)
    assert resumed.returncode == 0, resumed.stderr
    assert read_ledger(ledger) == ["before", "after"], "only the interrupted step ran again"
    rows = sandbox.steps(FLOW_ID, RUN_ID)
    assert {step: row.status for step, row in rows.items()} == {
        "j/before": "SUCCESS",
        "j/locked": "SUCCESS",
        "j/locked/work": "SUCCESS",
        "j/after": "SUCCESS",
    }
    assert rows["j/locked/work"].attempt == 2
    seen = (tmp_path / "lock_env.txt").read_text().splitlines()
    assert seen == [f"{KEY} 1", f"{KEY} 2"], "each attempt got the lock's fencing token"
    assert sandbox.show(RUN_ID, flow)["status"] == "SUCCESS"


def test_sigterm_while_waiting_for_a_lock_leaves_the_holder_alone(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = write_flow(
        tmp_path / "waiting.yaml",
        f"""
        version: 1
        flow:
          id: waiting
        jobs:
          - id: j
            steps:
              - id: locked
                type: with_lock
                inputs:
                  lock_key: {KEY}
                  ttl_seconds: 30
                  wait_seconds: 60
                  poll_seconds: 0.1
                  step:
                    type: critical
                    inputs:
                      counter: "{tmp_path / "counter.txt"}"
                      log: "{tmp_path / "critical.log"}"
                      hold_seconds: "{{{{env.HOLD:0}}}}"
        """,
    )
    holder = sandbox.start(
        "run", str(flow), "--run-id", "holder", name="holder", env={"HOLD": "60"}
    )
    held = sandbox.wait_lock(KEY, holder.pid)
    waiter = sandbox.start(
        "run", str(flow), "--run-id", "waiter", name="waiter", env={"AETHERFLOW_LOG_FORMAT": "json"}
    )
    wait_for(
        lambda: any(e["event"] == "lock_wait" for e in waiter.events()),
        "the waiter to wait for the lock",
    )

    waiter.proc.send_signal(signal.SIGTERM)
    assert waiter.wait() == 143, waiter.stderr()
    rows = sandbox.steps("waiting", "waiter")
    assert list(rows) == ["j/locked"], "the inner step never started"
    assert (rows["j/locked"].status, rows["j/locked"].failure_class) == ("FAILED", "interrupted")
    assert sandbox.run_status("waiting", "waiter") == "INTERRUPTED"
    assert sandbox.lease(run_lease_key("waiting", "waiter")) is None
    still = sandbox.lease(KEY)
    assert still is not None
    assert (still.pid, still.token) == (holder.pid, held.token), "the holder keeps its lock"
    assert sandbox.fencing_token(KEY) == held.token, "the waiter never took a token"
    assert holder.proc.poll() is None
