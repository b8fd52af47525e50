"""Mutual exclusion of ``with_lock`` under contention (``40-state-and-locks.md``, Locks).

Eight ``aetherflow run`` processes (eight run ids, one SQLite state file) each run fifty
``with_lock`` steps on the same key around the ``critical`` test step, a deliberately
non-atomic read-increment-write of a counter file that logs ``pid token enter_ns exit_ns``.
Without exclusion, increments get lost and the logged intervals overlap.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from .conftest_runs import Background, Sandbox

FLOW_ID = "exclusion"
PROCESSES = 8
STEPS = 50
KEY = "counter"


def write_contended_flow(path: Path, *, counter: Path, log: Path) -> None:
    """A flow of ``STEPS`` steps, each ``critical`` under ``with_lock(KEY)``."""
    lines = ["version: 1", "flow:", f"  id: {FLOW_ID}", "jobs:", "  - id: work", "    steps:"]
    for number in range(1, STEPS + 1):
        lines += [
            f"      - id: s{number:02d}",
            "        type: with_lock",
            "        inputs:",
            f"          lock_key: {KEY}",
            "          ttl_seconds: 5",
            "          wait_seconds: 120",
            "          poll_seconds: 0.01",
            "          step:",
            "            type: critical",
            "            inputs:",
            f'              counter: "{counter}"',
            f'              log: "{log}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_contending_processes_never_overlap_and_get_increasing_tokens(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    counter, log = tmp_path / "counter.txt", tmp_path / "critical.log"
    flow = tmp_path / "exclusion.yaml"
    write_contended_flow(flow, counter=counter, log=log)

    runs: list[Background] = [
        sandbox.start("run", str(flow), "--run-id", f"contender{n}", name=f"contender{n}")
        for n in range(1, PROCESSES + 1)
    ]
    codes = {run.pid: run.wait(timeout=150) for run in runs}
    assert set(codes.values()) == {0}, {run.pid: run.stderr()[-2000:] for run in runs}

    entries = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(entries) == PROCESSES * STEPS
    sections = sorted(
        (int(enter), int(leave), int(token), int(pid)) for pid, token, enter, leave in entries
    )
    overlaps = [
        (before, after)
        for before, after in itertools.pairwise(sections)
        if after[0] < before[1]  # entered before the previous holder left
    ]
    assert overlaps == []
    tokens = [token for _, _, token, _ in sections]
    assert tokens == list(range(1, PROCESSES * STEPS + 1)), "tokens must increase in entry order"
    assert {pid for *_, pid in sections} == set(codes), "every process entered the section"
    assert counter.read_text(encoding="utf-8") == str(PROCESSES * STEPS)

    for n in range(1, PROCESSES + 1):
        rows = sandbox.steps(FLOW_ID, f"contender{n}")
        inner = {step: row for step, row in rows.items() if step.count("/") == 2}
        assert len(inner) == STEPS
        assert {row.status for row in rows.values()} == {"SUCCESS"}
    assert sandbox.locks() == []
    assert sandbox.fencing_token(KEY) == PROCESSES * STEPS
