"""A lock holder killed with ``SIGKILL`` (``40-state-and-locks.md``, Locks and Run lease).

* Another run waiting on the lock gets it once the dead holder's TTL has passed (the takeover
  bumps the fencing token), and the killed run, resumed, takes the lock again afterwards.
* Re-entrancy: a resumed run that took over its own run lease re-acquires a lock still held by
  its dead predecessor at once, without waiting for the lock's (long) TTL.

The ``critical`` step holds for ``HOLD`` seconds (``{{env.HOLD:0}}``), so the killed attempt
is inside its critical section for long and the resumed one is quick.
"""

from __future__ import annotations

import signal
from pathlib import Path

from .conftest_runs import Sandbox, run_lease_key, wait_for, write_flow

RUN_LEASE = {"AETHERFLOW_RUN_LEASE_SECONDS": "2"}


def locked_critical_flow(
    tmp_path: Path, *, flow_id: str, key: str, ttl_seconds: float, wait_seconds: float
) -> tuple[Path, Path, Path]:
    """A flow with one ``with_lock`` step around ``critical``; its path, counter and log."""
    counter, log = tmp_path / "counter.txt", tmp_path / "critical.log"
    flow = write_flow(
        tmp_path / f"{flow_id}.yaml",
        f"""
        version: 1
        flow:
          id: {flow_id}
        jobs:
          - id: j
            steps:
              - id: locked
                type: with_lock
                inputs:
                  lock_key: {key}
                  ttl_seconds: {ttl_seconds}
                  wait_seconds: {wait_seconds}
                  poll_seconds: 0.1
                  step:
                    type: critical
                    inputs:
                      counter: "{counter}"
                      log: "{log}"
                      hold_seconds: "{{{{env.HOLD:0}}}}"
        """,
    )
    return flow, counter, log


def log_entries(log: Path) -> list[tuple[int, int]]:
    """``(pid, token)`` of every completed critical section."""
    if not log.exists():
        return []
    return [
        (int(pid), int(token))
        for pid, token, _, _ in (line.split() for line in log.read_text().splitlines())
    ]


def kill_inside_critical_section(sandbox: Sandbox, flow_id: str, run_id: str, pid: int) -> None:
    """Wait until run ``run_id`` (process ``pid``) runs its inner step, then ``SIGKILL`` it."""
    wait_for(
        lambda: sandbox.step_statuses(flow_id, run_id).get("j/locked/locked_inner") == "RUNNING",
        f"run {run_id} to enter its critical section",
    )
    # Right after a renewal of the run lease: the kill leaves it (and the lock) live for a while.
    sandbox.wait_lease_renewed(run_lease_key(flow_id, run_id), pid)
    for background in sandbox.started:
        if background.pid == pid:
            background.sigkill()
            assert background.proc.returncode == -signal.SIGKILL


def test_waiter_takes_the_lock_of_a_killed_holder_after_its_ttl(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow_id, key = "crash_lock", "k"
    flow, counter, log = locked_critical_flow(
        tmp_path, flow_id=flow_id, key=key, ttl_seconds=2, wait_seconds=30
    )
    r1 = sandbox.start(
        "run", str(flow), "--run-id", "r1", name="r1", env={"HOLD": "30", **RUN_LEASE}
    )
    first = sandbox.wait_lock(key, r1.pid)
    r2 = sandbox.start(
        "run", str(flow), "--run-id", "r2", name="r2", env={"AETHERFLOW_LOG_FORMAT": "json"}
    )
    wait_for(lambda: any(e["event"] == "lock_wait" for e in r2.events()), "r2 to wait for the lock")
    kill_inside_critical_section(sandbox, flow_id, "r1", r1.pid)

    assert r2.wait() == 0, r2.stderr()
    events = r2.events()
    waited = next(e for e in events if e["event"] == "lock_wait")
    assert waited["key"] == key
    assert f"run r1 (flow {flow_id}) pid {r1.pid}" in waited["holder"]
    acquired = next(e for e in events if e["event"] == "lock_acquired")
    assert acquired["token"] == first.token + 1
    assert log_entries(log) == [(r2.pid, first.token + 1)]
    assert counter.read_text() == "1", "the killed holder never wrote the counter"

    sandbox.wait_lease_expired(run_lease_key(flow_id, "r1"))
    resumed = sandbox.run("run", str(flow), "--run-id", "r1", env=RUN_LEASE)
    assert resumed.returncode == 0, resumed.stderr
    rows = sandbox.steps(flow_id, "r1")
    assert rows["j/locked/locked_inner"].status == "SUCCESS"
    assert rows["j/locked/locked_inner"].lock_token == first.token + 2
    assert rows["j/locked"].status == "SUCCESS"
    assert [token for _, token in log_entries(log)] == [first.token + 1, first.token + 2]
    assert counter.read_text() == "2"
    assert sandbox.show("r1", flow)["resumed"] is True
    assert sandbox.locks() == []


def test_resumed_run_reenters_the_lock_its_killed_predecessor_held(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow_id, key = "reentrant", "k"
    flow, counter, log = locked_critical_flow(
        tmp_path, flow_id=flow_id, key=key, ttl_seconds=600, wait_seconds=0
    )
    r1 = sandbox.start(
        "run", str(flow), "--run-id", "r1", name="r1", env={"HOLD": "30", **RUN_LEASE}
    )
    held = sandbox.wait_lock(key, r1.pid)
    kill_inside_critical_section(sandbox, flow_id, "r1", r1.pid)

    other = sandbox.run("run", str(flow), "--run-id", "other")
    assert other.returncode == 1, "another run may not take a lock whose TTL has not passed"
    error = sandbox.job_error(flow_id, "other", "j")
    assert error is not None
    assert error["class"] == "LockNotAcquired"
    assert f"run r1 (flow {flow_id}) pid {r1.pid}" in error["message"]

    sandbox.wait_lease_expired(run_lease_key(flow_id, "r1"))
    lock = sandbox.lease(key)
    assert lock is not None
    assert (lock.token, lock.pid) == (held.token, r1.pid), "the lock is still the dead one's"

    # wait_seconds is 0: only re-entrancy lets the resume through before the 600 s TTL.
    resumed = sandbox.run("run", str(flow), "--run-id", "r1", env=RUN_LEASE)
    assert resumed.returncode == 0, resumed.stderr
    inner = sandbox.steps(flow_id, "r1")["j/locked/locked_inner"]
    assert (inner.status, inner.lock_token) == ("SUCCESS", held.token + 1)
    assert log_entries(log) == [(sandbox.show("r1", flow)["manifest"]["pid"], held.token + 1)]
    assert counter.read_text() == "1"
    assert sandbox.locks() == []
    assert sandbox.fencing_token(key) == held.token + 1
