"""One live process per run id (``40-state-and-locks.md``, Run lease), with real processes.

A second ``aetherflow run --run-id R`` is refused with exit 3 while the first holds the lease;
after the holder is ``SIGKILL``-ed the lease still blocks until its TTL has passed, and then a
resume takes the run over and finishes it.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

from .conftest_runs import (
    BUSY_EXIT,
    Sandbox,
    read_ledger,
    run_lease_key,
    wait_for,
    write_ledger_flow,
)

FLOW_ID = "contended"
RUN_ID = "shared-run"
LEASE = {"AETHERFLOW_RUN_LEASE_SECONDS": "2"}


def test_second_process_is_refused_until_the_dead_holders_lease_expires(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    flow = tmp_path / "contended.yaml"
    expected = write_ledger_flow(
        flow, flow_id=FLOW_ID, ledger=ledger, jobs={"slow": 8}, sleep_seconds=0.5
    )
    key = run_lease_key(FLOW_ID, RUN_ID)
    args = ("run", str(flow), "--run-id", RUN_ID)

    first = sandbox.start(*args, name="first", env=LEASE)
    wait_for(
        lambda: (lease := sandbox.lease(key)) is not None and lease.pid == first.pid,
        "the first process to take the run lease",
    )

    second = sandbox.run(*args, env=LEASE)
    assert second.returncode == BUSY_EXIT, second.stderr
    assert (
        f"run {RUN_ID} is being executed by pid {first.pid} on host {socket.gethostname()}"
        in second.stderr
    )
    assert "Traceback" not in second.stderr
    assert first.proc.poll() is None, "the refused process must not disturb the holder"

    sandbox.wait_lease_renewed(key, first.pid)
    first.sigkill()
    assert first.proc.returncode == -signal.SIGKILL
    done_before_kill = read_ledger(ledger)

    too_early = sandbox.run(*args, env=LEASE)
    assert too_early.returncode == BUSY_EXIT, too_early.stderr
    assert f"run {RUN_ID} is being executed by pid {first.pid}" in too_early.stderr
    assert read_ledger(ledger) == done_before_kill, "a refused process must run no step"

    sandbox.wait_lease_expired(key)
    resumed = sandbox.run(*args, env=LEASE)
    assert resumed.returncode == 0, resumed.stderr

    shown = sandbox.run("runs", "show", RUN_ID, str(flow), "--json")
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert run["status"] == "SUCCESS"
    assert run["resumed"] is True
    assert run["manifest"]["pid"] not in (first.pid, None)
    assert set(read_ledger(ledger)) == set(expected)
    assert sandbox.lease(key) is None
