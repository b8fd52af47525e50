"""Crash safety of resume: ``SIGKILL`` a real ``aetherflow run`` at random moments, resume it.

The contract under test (``30-execution.md`` Resume, ``40-state-and-locks.md`` Run lease):
execution is at-least-once — a step that was running when the process died may run again — but
a step whose SUCCESS was committed to the state store is never executed again, and the run lease
of a dead process is taken over once it expired.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest_runs import (
    BUSY_EXIT,
    Background,
    Sandbox,
    read_ledger,
    run_lease_key,
    write_ledger_flow,
)

FLOW_ID = "crashy"
RUN_ID = "crash1"
JOBS = {"extract": 10, "transform": 10, "load": 10}
KILLS = 20
SEED = 20261129
# Kill moments are measured from the start of the process that gets killed, so some land in
# interpreter start-up or lease acquisition and most during the steps. 0.1 s per step keeps the
# run unfinished through most of the kills on a machine where start-up takes ~0.5 s.
KILL_DELAY_RANGE = (0.05, 1.2)
STEP_SLEEP_SECONDS = 0.2
LEASE_SECONDS = "1"
BUSY_RETRY_SECONDS = 0.3
OVERALL_TIMEOUT = 150.0


@dataclass(frozen=True)
class Snapshot:
    """What the state store and the ledger held right after one kill."""

    kill: int
    delay: float
    succeeded: frozenset[str]
    ledger_length: int


class CrashDriver:
    """Starts attempts of the run, retrying while the run is busy, and kills them."""

    def __init__(self, sandbox: Sandbox, flow: Path) -> None:
        self.sandbox = sandbox
        self.flow = flow
        self.deadline = time.monotonic() + OVERALL_TIMEOUT
        self.attempts = 0
        self.busy_refusals = 0
        self.finished_by_itself = 0

    def _start(self) -> Background:
        self.attempts += 1
        return self.sandbox.start(
            "run",
            str(self.flow),
            "--run-id",
            RUN_ID,
            name=f"attempt{self.attempts:03d}",
            env={"AETHERFLOW_RUN_LEASE_SECONDS": LEASE_SECONDS},
        )

    def attempt(self, kill_after: float | None) -> int | None:
        """Run one attempt; ``SIGKILL`` it ``kill_after`` s after its start.

        While the previous holder's lease is live the attempt exits 3; then it is started again
        after ``BUSY_RETRY_SECONDS`` (the kill clock restarts with each process).

        Returns:
            The exit code when the attempt ended by itself, None when it was killed.
        """
        while True:
            remaining = self.deadline - time.monotonic()
            assert remaining > 0, f"no successful attempt within {OVERALL_TIMEOUT} s"
            background = self._start()
            timeout = remaining if kill_after is None else min(kill_after, remaining)
            try:
                code = background.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                background.sigkill()
                assert kill_after is not None, f"the run did not finish: {background.stderr()}"
                return None
            if code != BUSY_EXIT:
                return code
            assert f"run {RUN_ID} is being executed by pid" in background.stderr()
            self.busy_refusals += 1
            time.sleep(BUSY_RETRY_SECONDS)


def snapshot(sandbox: Sandbox, ledger: Path, kill: int, delay: float) -> Snapshot:
    statuses = sandbox.step_statuses(FLOW_ID, RUN_ID)
    return Snapshot(
        kill=kill,
        delay=delay,
        succeeded=frozenset(step for step, status in statuses.items() if status == "SUCCESS"),
        ledger_length=len(read_ledger(ledger)),
    )


def reruns_after_success(snapshots: list[Snapshot], ledger: list[str]) -> list[str]:
    """Every (kill, step) where a step recorded SUCCESS before the kill ran again after it."""
    problems = []
    for shot in snapshots:
        later = ledger[shot.ledger_length :]
        for step in sorted(shot.succeeded):
            if step in later:
                problems.append(
                    f"kill {shot.kill}: {step} was SUCCESS but ran {later.count(step)} more time(s)"
                )
    return problems


@pytest.mark.slow
def test_sigkill_at_random_moments_never_reruns_a_committed_step(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    flow = tmp_path / "crash.yaml"
    expected = write_ledger_flow(
        flow, flow_id=FLOW_ID, ledger=ledger, jobs=JOBS, sleep_seconds=STEP_SLEEP_SECONDS
    )
    rng = random.Random(SEED)
    driver = CrashDriver(sandbox, flow)
    snapshots: list[Snapshot] = []
    while len(snapshots) < KILLS:
        delay = rng.uniform(*KILL_DELAY_RANGE)
        code = driver.attempt(kill_after=delay)
        if code is None:
            snapshots.append(snapshot(sandbox, ledger, len(snapshots) + 1, delay))
        else:
            assert code == 0, f"attempt {driver.attempts} exited {code}"
            driver.finished_by_itself += 1

    assert driver.attempt(kill_after=None) == 0
    entries = read_ledger(ledger)
    per_kill = [(round(s.delay, 2), len(s.succeeded), s.ledger_length) for s in snapshots]
    history = (
        f"{driver.attempts} attempts, {driver.busy_refusals} refused as busy, "
        f"{driver.finished_by_itself} finished before their kill; per kill (delay, SUCCESS "
        f"steps, ledger lines): {per_kill}"
    )

    assert set(entries) <= set(expected), f"unexpected ledger lines: {set(entries) - set(expected)}"
    assert sorted(set(entries)) == sorted(expected), "some steps never ran"
    assert reruns_after_success(snapshots, entries) == [], history
    for before, after in itertools.pairwise(snapshots):
        assert before.succeeded <= after.succeeded, f"SUCCESS rows vanished: {history}"

    shown = sandbox.run("runs", "show", RUN_ID, str(flow), "--json")
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert run["status"] == "SUCCESS"
    assert [(j["job_id"], j["status"]) for j in run["jobs"]] == [(j, "SUCCESS") for j in JOBS]
    assert [f"{j['job_id']}/{s['step_id']}" for j in run["jobs"] for s in j["steps"]] == expected
    assert {s["status"] for j in run["jobs"] for s in j["steps"]} == {"SUCCESS"}

    assert sandbox.run_status(FLOW_ID, RUN_ID) == "SUCCESS"
    assert "RUNNING" not in sandbox.step_statuses(FLOW_ID, RUN_ID).values()
    assert "RUNNING" not in sandbox.job_statuses(FLOW_ID, RUN_ID).values()
    assert sandbox.lease(run_lease_key(FLOW_ID, RUN_ID)) is None
