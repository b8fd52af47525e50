"""``aetherflow locks list`` and ``aetherflow locks release`` (``40-state-and-locks.md``,
Operators; ``70-cli.md``), against locks held by a live run and by a ``SIGKILL``-ed one."""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import pytest

from .conftest_runs import Sandbox, run_lease_key, write_flow

FLOW_ID = "cli_locks"
KEY = "report:cli"
RUN_LEASE = {"AETHERFLOW_RUN_LEASE_SECONDS": "2"}
ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
ENTRY_KEYS = {"key", "token", "acquired_at", "expires_at", "expired", "holder", "holder_alive"}
HOLDER_KEYS = {"run_id", "flow_id", "job_id", "step_id", "host", "pid"}
REASON = "holder was SIGKILLed by the test"


def held_lock_flow(tmp_path: Path) -> Path:
    """One ``with_lock`` step (TTL 600 s) around ``critical`` holding ``HOLD`` seconds."""
    return write_flow(
        tmp_path / "locks.yaml",
        f"""
        version: 1
        flow:
          id: {FLOW_ID}
        jobs:
          - id: j
            steps:
              - id: locked
                type: with_lock
                inputs:
                  lock_key: "{KEY}"
                  ttl_seconds: 600
                  step:
                    type: critical
                    inputs:
                      counter: "{tmp_path / "counter.txt"}"
                      log: "{tmp_path / "critical.log"}"
                      hold_seconds: "{{{{env.HOLD:0}}}}"
        """,
    )


def text_rows(sandbox: Sandbox, *where: str) -> list[str]:
    """The lines of ``locks list`` in text form (header first)."""
    result = sandbox.run("locks", "list", *where)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_list_shows_holder_and_liveness_and_release_is_audited(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = held_lock_flow(tmp_path)
    holder = sandbox.start(
        "run", str(flow), "--run-id", "r1", name="r1", env={"HOLD": "60", **RUN_LEASE}
    )
    sandbox.wait_lock(KEY, holder.pid)
    host = socket.gethostname()

    # A live holder; the run's own lease (run:...) is not a lock and is not listed.
    [live] = sandbox.locks(str(flow))
    assert set(live) == ENTRY_KEYS
    assert set(live["holder"]) == HOLDER_KEYS
    assert live["holder"] == {
        "run_id": "r1",
        "flow_id": FLOW_ID,
        "job_id": "j",
        "step_id": "locked",
        "host": host,
        "pid": holder.pid,
    }
    assert (live["key"], live["token"], live["expired"], live["holder_alive"]) == (
        KEY,
        1,
        False,
        True,
    )
    assert ISO_MS.match(live["acquired_at"])
    assert ISO_MS.match(live["expires_at"])
    assert live["expires_at"] > live["acquired_at"]
    header, row = text_rows(sandbox, "--state", str(sandbox.db))
    assert header.split() == ["KEY", "TOKEN", "HOLDER", "HOST/PID", "EXPIRES", "ALIVE"]
    assert row.split() == [
        KEY,
        "1",
        "r1/j/locked",
        f"{host}/{holder.pid}",
        live["expires_at"],
        "yes",
    ]

    # The holder dies; once its run lease expired the lock (TTL 600 s) shows a dead holder.
    sandbox.wait_lease_renewed(run_lease_key(FLOW_ID, "r1"), holder.pid)
    holder.sigkill()
    assert holder.proc.returncode == -signal.SIGKILL
    sandbox.wait_lease_expired(run_lease_key(FLOW_ID, "r1"))
    [dead] = sandbox.locks()
    assert (dead["token"], dead["expired"], dead["holder_alive"]) == (1, False, False)
    assert dead["holder"]["pid"] == holder.pid
    assert text_rows(sandbox)[1].split()[-1] == "no"

    released = sandbox.run("locks", "release", KEY, str(flow), "--force", "--reason", REASON)
    assert released.returncode == 0, released.stderr
    assert released.stdout.strip() == (
        f"released lock {KEY} (token 1, held by run r1 (flow {FLOW_ID}) pid {holder.pid} "
        f"on host {host})"
    )
    assert "lock_forced_release" in released.stderr
    assert sandbox.locks() == []
    [(action, key, detail)] = sandbox.rows("SELECT action, key, detail FROM audit")
    assert (action, key) == ("lock_forced_release", KEY)
    assert json.loads(detail)["reason"] == REASON
    assert sandbox.fencing_token(KEY) == 1, "a forced release keeps the fencing counter"

    # The next holder gets the next token, not 1 again.
    again = sandbox.run("run", str(flow), "--run-id", "r2")
    assert again.returncode == 0, again.stderr
    inner = sandbox.steps(FLOW_ID, "r2")["j/locked/locked_inner"]
    assert (inner.status, inner.lock_token) == ("SUCCESS", 2)
    assert sandbox.locks() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--reason", REASON], "without --force", id="no-force"),
        pytest.param(["--force"], "--reason", id="no-reason"),
        pytest.param(["--force", "--reason", "  "], "--reason must say why", id="blank-reason"),
    ],
)
def test_release_refuses_without_force_and_reason(
    sandbox: Sandbox, tmp_path: Path, args: list[str], message: str
) -> None:
    flow = held_lock_flow(tmp_path)
    holder = sandbox.start("run", str(flow), "--run-id", "r1", name="r1", env={"HOLD": "60"})
    sandbox.wait_lock(KEY, holder.pid)

    refused = sandbox.run("locks", "release", KEY, str(flow), *args)
    assert refused.returncode == 2, refused.stderr
    assert message in refused.stderr
    assert [lock["key"] for lock in sandbox.locks()] == [KEY], "the lock is untouched"
    assert sandbox.rows("SELECT * FROM audit") == []


def test_release_of_an_unknown_key_exits_2(sandbox: Sandbox, tmp_path: Path) -> None:
    flow = held_lock_flow(tmp_path)
    assert sandbox.run("run", str(flow), "--run-id", "r1").returncode == 0

    unknown = sandbox.run(
        "locks", "release", "no:such:lock", str(flow), "--force", "--reason", REASON
    )
    assert unknown.returncode == 2, unknown.stderr
    assert "no lock 'no:such:lock'" in unknown.stderr
    assert sandbox.rows("SELECT * FROM audit") == []
