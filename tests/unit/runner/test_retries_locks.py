"""Retries, timeouts, with_lock and lock scopes, in-process (real SQLite state, real time)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import LockNotAcquired
from aetherflow.runner.step import Step
from aetherflow.runtime.registry import Registry
from aetherflow.state import LeaseHolder, open_state_store
from tests.unit.runner.harness import RunFlow, flow_runner


class Flaky(Step):
    """Fails until its counter file reaches ``succeed_on``."""

    def run(self) -> dict[str, Any]:
        counter = Path(self.inputs["counter"])
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(n))
        if n < int(self.inputs.get("succeed_on", 1_000)):
            raise (ValueError if self.inputs.get("kind") == "value" else RuntimeError)(f"try {n}")
        return {"tries": n}


class Sleepy(Step):
    def run(self) -> dict[str, Any]:
        time.sleep(float(self.inputs.get("seconds", 5)))
        return {"slept": True, "token": self.ctx.lock_token}


class Token(Step):
    def run(self) -> dict[str, Any]:
        return {"token": self.ctx.lock_token, "key": self.ctx.lock_key}


class Spawn(Step):
    """Runs a shell command through the runner's process service."""

    def run(self) -> dict[str, Any]:
        result = self.ctx.services.run_process(
            self.inputs["command"],
            shell=True,
            env=dict(self.ctx.env),
            timeout_seconds=self.inputs.get("timeout"),
            kill_grace_seconds=float(self.inputs.get("grace", 1)),
        )
        return {"exit_code": result.exit_code}


@pytest.fixture
def steps(registry: Registry) -> Registry:
    for name, cls in {"flaky": Flaky, "sleepy": Sleepy, "token": Token, "spawn": Spawn}.items():
        registry.add_step(name, cls, origin="test")
    return registry


@pytest.fixture
def run(tmp_path: Path, steps: Registry) -> RunFlow:
    return flow_runner(tmp_path, steps)


def test_retry_until_success_records_every_attempt(run: RunFlow, tmp_path: Path) -> None:
    ran = run(
        f"""
        flow: {{id: f}}
        jobs:
          - id: a
            steps:
              - id: s
                type: flaky
                inputs: {{counter: "{tmp_path / "n"}", succeed_on: 3}}
                retry: {{max_attempts: 3, delay_seconds: 0.01, backoff: 2}}
        """
    )
    assert ran.result.exit_code == 0
    step = ran.steps_by_id()["s"]
    assert (step.status.value, step.attempt, step.outputs) == ("SUCCESS", 3, {"tries": 3})
    assert ran.attempts("s") == [(1, "FAILED"), (2, "FAILED"), (3, "SUCCESS")]
    retries = ran.event("step_retry")
    assert [(r["attempt"], r["delay_s"], r["error_class"]) for r in retries] == [
        (1, 0.01, "RuntimeError"),
        (2, 0.02, "RuntimeError"),
    ]
    assert ran.event("step_error") == []


def test_no_retry_without_retry_block(run: RunFlow, tmp_path: Path) -> None:
    ran = run(
        f"flow: {{id: f}}\njobs:\n  - id: a\n    steps:\n"
        f"      - {{id: s, type: flaky, inputs: {{counter: '{tmp_path / 'n'}', succeed_on: 2}}}}\n"
    )
    assert ran.result.exit_code == 1
    assert ran.attempts("s") == [(1, "FAILED")]
    assert (tmp_path / "n").read_text() == "1"
    assert len(ran.event("step_error")) == 1


def test_retry_on_narrows_the_retried_errors(run: RunFlow, tmp_path: Path) -> None:
    ran = run(
        f"""
        flow: {{id: f}}
        jobs:
          - id: a
            steps:
              - id: s
                type: flaky
                inputs: {{counter: "{tmp_path / "n"}", succeed_on: 3}}
                retry: {{max_attempts: 5, retry_on: [ValueError]}}
        """
    )
    assert ran.attempts("s") == [(1, "FAILED")]
    assert ran.event("step_error")[0]["error_class"] == "RuntimeError"


def test_input_errors_are_never_retried(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - id: s
                type: check_items
                inputs: {items: "{{env.NOT_SET}}"}
                retry: {max_attempts: 4}
        """
    )
    assert ran.attempts("s") == [(1, "FAILED")]
    assert ran.steps_by_id()["s"].error is not None


def test_timeout_interrupts_a_python_step(run: RunFlow) -> None:
    started = time.monotonic()
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - {id: s, type: sleepy, inputs: {seconds: 30}, timeout_seconds: 0.3,
                 retry: {max_attempts: 2}}
        """
    )
    assert time.monotonic() - started < 10
    step = ran.steps_by_id()["s"]
    assert step.error is not None
    assert (step.status.value, step.error.failure_class, step.error.cls) == (
        "FAILED",
        "timeout",
        "StepTimeout",
    )
    assert "exceeded timeout_seconds=0.3" in step.error.message
    assert ran.attempts("s") == [(1, "FAILED"), (2, "FAILED")]


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_timeout_ends_the_whole_process_group(run: RunFlow, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = f"echo $$ > {pids}; sleep 1000 & echo $! >> {pids}; sleep 1000"
    ran = run(
        f"""
        flow: {{id: f}}
        jobs:
          - id: a
            steps:
              - id: s
                type: spawn
                inputs: {{command: "{command}", grace: 1}}
                timeout_seconds: 1
        """
    )
    step = ran.steps_by_id()["s"]
    assert step.error is not None
    assert step.error.failure_class == "timeout"
    found = _pids(pids)
    assert len(found) == 2
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in found if _alive(p)] == []


def test_with_lock_runs_the_inner_step_with_its_token(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - id: publish
                type: with_lock
                inputs: {lock_key: "publish:{{flow_id}}", ttl_seconds: 30, step: {type: token}}
                outputs: {token: "{{result.token}}"}
        """
    )
    assert ran.result.exit_code == 0
    rows = ran.steps_by_id()
    assert list(rows) == ["publish", "publish/publish_inner"]
    inner, outer = rows["publish/publish_inner"], rows["publish"]
    assert inner.outputs == {"token": 1, "key": "publish:f"}
    assert inner.lock_token == 1
    assert outer.outputs == {"token": 1, "key": "publish:f"}
    assert [e["key"] for e in ran.event("lock_acquired")] == ["publish:f"]
    assert [e["token"] for e in ran.event("lock_released")] == [1]
    store = open_state_store(str(ran.state))
    try:
        assert store.get_lease("publish:f") is None
        assert store.fencing_token("publish:f") == 1
    finally:
        store.close()


def _hold(state: Path, key: str, ttl_ms: int, run_id: str = "other") -> int:
    store = open_state_store(str(state))
    try:
        lease = store.acquire_lease(key, LeaseHolder(run_id, "g", host="h2", pid=4242), ttl_ms)
        assert lease is not None
        return lease.token
    finally:
        store.close()


def test_busy_lock_fails_fast_naming_the_holder(run: RunFlow, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    _hold(tmp_path / "state" / "aetherflow.sqlite", "k", 60_000)
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: l, type: with_lock, inputs: {lock_key: k, step: {type: token}}}\n"
    )
    step = ran.steps_by_id()["l"]
    assert step.error is not None
    assert step.error.cls == "LockNotAcquired"
    assert "lock 'k' is held by run other (flow g) pid 4242 on host h2 until " in step.error.message


def test_waiting_gets_the_lock_after_the_holder_expires(run: RunFlow, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    first = _hold(tmp_path / "state" / "aetherflow.sqlite", "k", 400)
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - id: l\n        type: with_lock\n"
        "        inputs: {lock_key: k, wait_seconds: 10, poll_seconds: 0.05, step: {type: token}}\n"
    )
    assert ran.result.exit_code == 0
    assert ran.steps_by_id()["l/l_inner"].outputs == {"token": first + 1, "key": "k"}
    assert len(ran.event("lock_wait")) == 1


def test_own_crashed_lock_is_reentrant(run: RunFlow, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    _hold(tmp_path / "state" / "aetherflow.sqlite", "k", 600_000, run_id="r1")
    ran = run(
        "flow: {id: g}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: l, type: with_lock, inputs: {lock_key: k, step: {type: token}}}\n",
        run_id="r1",
    )
    assert ran.result.exit_code == 0
    assert ran.steps_by_id()["l/l_inner"].outputs == {"token": 2, "key": "k"}


def test_lost_lock_cancels_the_inner_step(run: RunFlow, tmp_path: Path) -> None:
    state = tmp_path / "state" / "aetherflow.sqlite"

    def steal() -> None:
        time.sleep(0.6)
        store = open_state_store(str(state))
        try:
            store.force_release("k")
            store.acquire_lease("k", LeaseHolder("thief", "x", host="h3", pid=1), 60_000)
        finally:
            store.close()

    thief = threading.Thread(target=steal)
    thief.start()
    started = time.monotonic()
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - id: l\n        type: with_lock\n"
        "        inputs:\n"
        "          {lock_key: k, ttl_seconds: 0.3, step: {type: sleepy, inputs: {seconds: 30}}}\n"
    )
    thief.join()
    assert time.monotonic() - started < 10
    rows = ran.steps_by_id()
    inner, outer = rows["l/l_inner"], rows["l"]
    assert inner.error is not None
    assert outer.error is not None
    assert (inner.status.value, inner.error.failure_class) == ("FAILED", "lost_lock")
    assert (outer.status.value, outer.error.failure_class) == ("FAILED", "lost_lock")
    assert ran.event("lock_lost")[0]["key"] == "k"
    store = open_state_store(str(state))
    try:
        current = store.get_lease("k")
        assert current is not None
        assert current.holder.run_id == "thief"  # our release did not delete the thief's lock
    finally:
        store.close()


def test_job_scope_lock_busy_fails_the_job(run: RunFlow, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    _hold(tmp_path / "state" / "aetherflow.sqlite", "job:f:a", 60_000)
    ran = run(
        "flow: {id: f, locks: {scope: job}}\njobs:\n  - {id: a, steps: [{id: s, type: token}]}\n"
    )
    assert ran.result.exit_code == 1
    assert "s" not in ran.steps_by_id()


def test_job_scope_lock_is_held_while_the_job_runs(run: RunFlow) -> None:
    ran = run(
        "flow: {id: f, locks: {scope: job}}\njobs:\n  - {id: a, steps: [{id: s, type: token}]}\n"
    )
    assert ran.result.exit_code == 0
    assert [e["key"] for e in ran.event("lock_acquired")] == ["job:f:a"]


def test_flow_scope_lock_busy_refuses_the_run(run: RunFlow, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    _hold(tmp_path / "state" / "aetherflow.sqlite", "flow:f", 60_000)
    with pytest.raises(LockNotAcquired, match="lock 'flow:f' is held by run other"):
        run("flow: {id: f, locks: {scope: flow}}\njobs:\n  - {id: a, steps: []}\n")


def test_nested_lock_on_the_same_key_is_refused_not_stolen(run: RunFlow) -> None:
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - id: outer\n        type: with_lock\n"
        "        inputs:\n"
        "          lock_key: k\n"
        "          step: {type: with_lock, inputs: {lock_key: k, step: {type: token}}}\n"
    )
    rows = ran.steps_by_id()
    assert list(rows) == ["outer", "outer/outer_inner"]
    inner = rows["outer/outer_inner"]
    assert inner.error is not None
    assert inner.error.cls == "LockNotAcquired"
    assert ran.event("lock_lost") == []


def test_nested_with_lock_records_the_full_path(run: RunFlow) -> None:
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - id: outer\n        type: with_lock\n"
        "        inputs:\n"
        "          lock_key: k1\n"
        "          step: {type: with_lock, inputs: {lock_key: k2, step: {type: token}}}\n"
    )
    assert ran.result.exit_code == 0
    assert list(ran.steps_by_id()) == [
        "outer",
        "outer/outer_inner",
        "outer/outer_inner/outer_inner_inner",
    ]


def test_lost_flow_lock_stops_the_run(run: RunFlow, tmp_path: Path) -> None:
    state = tmp_path / "state" / "aetherflow.sqlite"

    def steal() -> None:
        time.sleep(0.6)
        store = open_state_store(str(state))
        try:
            store.force_release("flow:f", reason="test")
        finally:
            store.close()

    thief = threading.Thread(target=steal)
    thief.start()
    ran = run(
        "flow: {id: f, on_failure: continue, locks: {scope: flow, ttl_seconds: 0.3}}\n"
        "jobs:\n"
        "  - {id: a, steps: [{id: s, type: sleepy, inputs: {seconds: 30}}]}\n"
        "  - {id: b, steps: [{id: t, type: token}]}\n"
    )
    thief.join()
    assert ran.result.exit_code == 1
    rows = ran.steps_by_id()
    assert rows["s"].error is not None
    assert rows["s"].error.failure_class == "lost_lock"
    assert "t" not in rows
    assert ran.event("run_summary")[0]["jobs"][1]["reason"] == "run stopped: lock flow:f was lost"
    assert ran.events.names()[-1] == "run_summary"


def test_flow_lock_release_comes_before_the_end_events(run: RunFlow) -> None:
    ran = run(
        "flow: {id: f, locks: {scope: flow}}\njobs:\n  - {id: a, steps: [{id: s, type: token}]}\n"
    )
    names = ran.events.names()
    assert names[-3:] == ["lock_released", "run_end", "run_summary"]


def test_signal_during_a_retry_delay_records_an_interrupted_attempt(
    run: RunFlow, tmp_path: Path
) -> None:
    import signal

    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    ran = run(
        f"""
        flow: {{id: f}}
        jobs:
          - id: a
            steps:
              - id: s
                type: flaky
                inputs: {{counter: "{tmp_path / "n"}"}}
                retry: {{max_attempts: 3, delay_seconds: 30}}
        """
    )
    timer.join()
    assert ran.result.exit_code == 143
    assert ran.attempts("s") == [(1, "FAILED"), (2, "FAILED")]
    step = ran.steps_by_id()["s"]
    assert step.error is not None
    assert (step.attempt, step.error.failure_class, step.error.cls) == (
        2,
        "interrupted",
        "StepInterrupted",
    )
    assert [e["failure_class"] for e in ran.event("step_error")] == ["interrupted"]
