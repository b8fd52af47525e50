"""A frozen lock holder loses its lock, and finds out (``40-state-and-locks.md``, Locks).

Process A holds ``with_lock`` (TTL 1 s) around a long ``shell`` command and is frozen with
``SIGSTOP`` past the TTL; process B takes the expired lock over (a higher fencing token). When A
is continued, its heartbeat finds the lock gone: the inner step is cancelled (its process group
ended) and recorded FAILED ``lost_lock``, never SUCCESS, and A's run fails.
"""

from __future__ import annotations

import signal
from pathlib import Path

from .conftest_runs import (
    Sandbox,
    group_members,
    process_alive,
    wait_pids,
    write_flow,
)

KEY = "p"


def test_frozen_holder_loses_the_lock_to_a_waiter_and_fails_lost_lock(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    pids, counter, log = tmp_path / "pids.txt", tmp_path / "counter.txt", tmp_path / "log.txt"
    holder = write_flow(
        tmp_path / "holder.yaml",
        f"""
        version: 1
        flow:
          id: pause_holder
        jobs:
          - id: j
            steps:
              - id: locked
                type: with_lock
                inputs:
                  lock_key: {KEY}
                  ttl_seconds: 1
                  step:
                    type: shell
                    inputs:
                      command: 'sleep 600 & echo $$ $! > "{pids}"; sleep 600'
                      kill_grace_seconds: 1
        """,
    )
    waiter = write_flow(
        tmp_path / "waiter.yaml",
        f"""
        version: 1
        flow:
          id: pause_waiter
        jobs:
          - id: j
            steps:
              - id: locked
                type: with_lock
                inputs:
                  lock_key: {KEY}
                  ttl_seconds: 5
                  wait_seconds: 30
                  poll_seconds: 0.1
                  step:
                    type: critical
                    inputs:
                      counter: "{counter}"
                      log: "{log}"
                      hold_seconds: 2
        """,
    )

    a = sandbox.start("run", str(holder), "--run-id", "a", name="a")
    held_by_a = sandbox.wait_lock(KEY, a.pid)
    shell_pids = wait_pids(pids, 2)
    sandbox.watch_group(shell_pids[0])
    a.proc.send_signal(signal.SIGSTOP)
    try:
        sandbox.wait_lease_expired(KEY)
        b = sandbox.start("run", str(waiter), "--run-id", "b", name="b")
        held_by_b = sandbox.wait_lock(KEY, b.pid, min_token=held_by_a.token + 1)
    finally:
        a.proc.send_signal(signal.SIGCONT)

    assert a.wait() == 1, a.stderr()
    assert b.wait() == 0, b.stderr()

    rows = sandbox.steps("pause_holder", "a")
    inner, outer = rows["j/locked/locked_inner"], rows["j/locked"]
    assert (inner.status, inner.failure_class) == ("FAILED", "lost_lock")
    assert inner.lock_token == held_by_a.token
    assert (outer.status, outer.failure_class) == ("FAILED", "lost_lock")
    attempts = sandbox.attempts("pause_holder", "a", "j/locked/locked_inner")
    assert [status for _, status, _ in attempts] == ["FAILED"], "never recorded SUCCESS"
    assert sandbox.run_status("pause_holder", "a") == "FAILED"
    assert "lock_lost" in a.stderr()

    assert held_by_b.token > held_by_a.token
    b_inner = sandbox.steps("pause_waiter", "b")["j/locked/locked_inner"]
    assert (b_inner.status, b_inner.lock_token) == ("SUCCESS", held_by_b.token)
    assert log.read_text(encoding="utf-8").split()[:2] == [str(b.pid), str(held_by_b.token)]

    shell, background = shell_pids
    assert group_members(shell) == []
    assert not process_alive(background)
    assert sandbox.locks() == []
