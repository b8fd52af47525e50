"""The StateStore contract: runs, jobs, steps and attempts, identical on every backend.

Each test runs once per backend in ``conftest.STATE_BACKENDS``; leases and locks are in
``test_lease_contract.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from aetherflow.errors import StateError
from aetherflow.state import (
    ErrorInfo,
    FakeClock,
    JobRecord,
    JobStatus,
    PluginRecord,
    RunRecord,
    RunStatus,
    StateStore,
    StepRecord,
    StepStatus,
)

T0 = 1_700_000_000_000


def a_run(flow_id: str = "f", run_id: str = "r1", started_at: int = T0, **kw: Any) -> RunRecord:
    return RunRecord(flow_id, run_id, RunStatus.RUNNING, started_at, **kw)


def a_job(job_id: str, status: JobStatus = JobStatus.SUCCESS, **kw: Any) -> JobRecord:
    return JobRecord(kw.pop("flow_id", "f"), kw.pop("run_id", "r1"), job_id, status, **kw)


def a_step(step_id: str, status: StepStatus = StepStatus.RUNNING, **kw: Any) -> StepRecord:
    job_id = kw.pop("job_id", "j1")
    return StepRecord("f", "r1", job_id, step_id, "echo", status, **kw)


# -- runs -------------------------------------------------------------------------------------


def test_start_get_and_finish_run(store: StateStore) -> None:
    run = a_run(
        flow_sha256="ab" * 32,
        bundle_fingerprint="bf1",
        mode="isolated",
        aetherflow_version="1.2.3",
        host="h1",
        pid=42,
        plugins=(PluginRecord("/p/a.py", "aa"), PluginRecord("/p/b.py", "bb")),
        selected_job="load",
    )
    store.start_run(run)
    assert store.get_run("f", "r1") == run

    store.finish_run("f", "r1", RunStatus.SUCCESS, T0 + 5000)

    assert store.get_run("f", "r1") == dataclasses.replace(
        run, status=RunStatus.SUCCESS, ended_at=T0 + 5000
    )


def test_get_unknown_run_is_none(store: StateStore) -> None:
    assert store.get_run("f", "nope") is None
    assert store.find_runs("nope") == []


def test_finish_unknown_run_is_refused(store: StateStore) -> None:
    with pytest.raises(StateError, match="never started"):
        store.finish_run("f", "nope", RunStatus.SUCCESS, T0)


def test_resume_keeps_first_started_at_and_marks_resumed(store: StateStore) -> None:
    store.start_run(a_run(host="h1", pid=1))
    store.finish_run("f", "r1", RunStatus.FAILED, T0 + 10)

    store.start_run(a_run(started_at=T0 + 500, host="h2", pid=2, aetherflow_version="2"))

    run = store.get_run("f", "r1")
    assert run is not None
    assert (run.started_at, run.resumed) == (T0, True)
    assert (run.host, run.pid, run.aetherflow_version) == ("h2", 2, "2")
    assert (run.status, run.ended_at) == (RunStatus.RUNNING, None)


def test_same_run_id_in_two_flows_does_not_collide(store: StateStore) -> None:
    store.start_run(a_run("flow_a", "r1", T0, host="a"))
    store.start_run(a_run("flow_b", "r1", T0 + 1, host="b"))
    store.record_job(a_job("j", JobStatus.FAILED, flow_id="flow_a"))
    store.finish_run("flow_a", "r1", RunStatus.FAILED, T0 + 2)

    found = store.find_runs("r1")

    assert [(r.flow_id, r.host) for r in found] == [("flow_b", "b"), ("flow_a", "a")]
    run_b = store.get_run("flow_b", "r1")
    assert run_b is not None
    assert run_b.status is RunStatus.RUNNING
    assert store.get_jobs("flow_b", "r1") == []
    assert [s.failed_job for s in store.list_runs()] == [None, "j"]


def test_list_runs_newest_first_ties_by_insertion(store: StateStore) -> None:
    for run_id, started in [("r1", 100), ("r2", 300), ("r3", 200), ("r4", 300)]:
        store.start_run(a_run(run_id=run_id, started_at=started))

    assert [s.run.run_id for s in store.list_runs()] == ["r4", "r2", "r3", "r1"]


def test_list_runs_filters_and_limit(store: StateStore) -> None:
    for index, (flow, status) in enumerate(
        [("a", RunStatus.SUCCESS), ("b", RunStatus.FAILED), ("a", RunStatus.FAILED)]
    ):
        store.start_run(a_run(flow, f"r{index}", T0 + index))
        store.finish_run(flow, f"r{index}", status, T0 + index)

    def ids(**filters: Any) -> list[str]:
        return [s.run.run_id for s in store.list_runs(**filters)]

    assert ids(flow_id="a") == ["r2", "r0"]
    assert ids(status="FAILED") == ["r2", "r1"]
    assert ids(status=RunStatus.FAILED, flow_id="b") == ["r1"]
    assert ids(status="ABANDONED") == []
    assert ids(limit=2) == ["r2", "r1"]
    assert ids(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        store.list_runs(limit=-1)


def test_list_runs_reports_first_failed_job_in_recorded_order(store: StateStore) -> None:
    store.start_run(a_run())
    for job_id, status in [("c", JobStatus.SUCCESS), ("b", JobStatus.FAILED), ("a", "FAILED")]:
        store.record_job(a_job(job_id, JobStatus(status)))
    assert store.list_runs()[0].failed_job == "b"

    store.record_job(a_job("b", JobStatus.SUCCESS))
    assert store.list_runs()[0].failed_job == "a"

    store.record_job(a_job("a", JobStatus.BLOCKED))
    assert store.list_runs()[0].failed_job is None


# -- jobs -------------------------------------------------------------------------------------


def test_record_job_upsert_keeps_first_recorded_order(store: StateStore) -> None:
    for job_id in ["extract", "load", "report"]:
        store.record_job(a_job(job_id, JobStatus.RUNNING))
    store.record_job(a_job("extract", JobStatus.SUCCESS, ended_at=T0 + 9))

    jobs = store.get_jobs("f", "r1")

    assert [(j.job_id, j.status) for j in jobs] == [
        ("extract", JobStatus.SUCCESS),
        ("load", JobStatus.RUNNING),
        ("report", JobStatus.RUNNING),
    ]
    assert jobs[0].ended_at == T0 + 9


NESTED_OUTPUTS: dict[str, Any] = {
    "名前": "Zoë ✓ 🚀",
    "rows": [1, 2.5, -3, None, True, False],
    "nested": {"deep": {"list": [{"a": "b"}, []], "empty": {}}, "quote": 'he said "hi"\n'},
    "big": 2**53 + 1,
}


def test_job_fields_outputs_and_error_round_trip(store: StateStore) -> None:
    job = a_job(
        "j",
        JobStatus.SKIPPED,
        started_at=T0,
        ended_at=T0 + 1,
        outputs=NESTED_OUTPUTS,
        reason="upstream failed",
        skip_reason="when false",
        skip_trigger="when",
        error=ErrorInfo("ValueError", "bad ünïcode", "expectation"),
    )
    store.record_job(job)

    assert store.get_jobs("f", "r1") == [job]


def test_outputs_are_copied_not_shared(store: StateStore) -> None:
    outputs: dict[str, Any] = {"items": [1]}
    store.step_started(a_step("s", outputs=outputs))
    outputs["items"].append(2)

    got = store.get_steps("f", "r1")[0].outputs
    assert got == {"items": [1]}
    assert got is not None
    got["items"].append(3)
    assert store.get_steps("f", "r1")[0].outputs == {"items": [1]}


@pytest.mark.parametrize("bad", [{"s": {1, 2}}, {"x": float("nan")}, {"o": object()}])
def test_outputs_that_are_not_json_safe_are_refused(store: StateStore, bad: Any) -> None:
    with pytest.raises(StateError, match="JSON"):
        store.step_started(a_step("s", outputs=bad))
    with pytest.raises(StateError, match="JSON"):
        store.record_job(a_job("j", outputs=bad))
    assert store.get_steps("f", "r1") == []


def test_refused_outputs_are_named_in_the_error(store: StateStore) -> None:
    with pytest.raises(StateError, match=r"cannot store outputs of step j1\.s: "):
        store.step_finished(a_step("s", StepStatus.SUCCESS, outputs={"o": object()}))
    with pytest.raises(StateError, match=r"cannot store promoted outputs of step j1\.s: "):
        store.step_finished(a_step("s", StepStatus.SUCCESS, outputs={}, promoted={"o": {1}}))
    assert store.get_steps("f", "r1") == []


# -- steps and attempts -----------------------------------------------------------------------


def test_step_started_then_finished(store: StateStore) -> None:
    started = a_step("s1", started_at=T0, fingerprint="fp", lock_token=7)
    store.step_started(started)
    assert store.get_steps("f", "r1") == [started]

    finished = dataclasses.replace(
        started, status=StepStatus.SUCCESS, ended_at=T0 + 3, outputs=NESTED_OUTPUTS
    )
    store.step_finished(finished)

    assert store.get_steps("f", "r1") == [finished]
    [attempt] = store.get_attempts("f", "r1")
    assert (attempt.step_id, attempt.attempt, attempt.status) == ("s1", 1, StepStatus.SUCCESS)
    assert (attempt.started_at, attempt.ended_at, attempt.error) == (T0, T0 + 3, None)


def test_step_handover_records_a_final_row_and_the_next_running_row(store: StateStore) -> None:
    first = a_step("s1", started_at=T0, fingerprint="fp1")
    store.step_started(first)
    done = dataclasses.replace(
        first, status=StepStatus.SUCCESS, ended_at=T0 + 3, outputs={"n": 1}, promoted={"p": 2}
    )
    second = a_step("s2", started_at=T0 + 3, fingerprint="fp2")

    store.step_handover(done, second)

    assert store.get_steps("f", "r1") == [done, second]
    [attempt] = store.get_attempts("f", "r1")
    assert (attempt.step_id, attempt.status, attempt.ended_at) == ("s1", StepStatus.SUCCESS, T0 + 3)

    # the next handover finds the second row and keeps the order of first records
    third = a_step("s3", started_at=T0 + 5)
    store.step_handover(dataclasses.replace(second, status=StepStatus.FAILED), third)
    assert [(s.step_id, s.status) for s in store.get_steps("f", "r1")] == [
        ("s1", StepStatus.SUCCESS),
        ("s2", StepStatus.FAILED),
        ("s3", StepStatus.RUNNING),
    ]


def test_step_handover_writes_both_rows_or_neither(store: StateStore) -> None:
    first = a_step("s1", started_at=T0)
    store.step_started(first)
    done = dataclasses.replace(first, status=StepStatus.SUCCESS, outputs={"n": 1})

    with pytest.raises(StateError, match="JSON"):
        store.step_handover(done, a_step("s2", outputs={"bad": {1, 2}}))
    with pytest.raises(StateError, match="JSON"):
        store.step_handover(dataclasses.replace(done, outputs={"bad": {1}}), a_step("s2"))

    assert store.get_steps("f", "r1") == [first]
    assert store.get_attempts("f", "r1") == []


def test_promoted_outputs_round_trip(store: StateStore) -> None:
    started = a_step("s1", started_at=T0)
    store.step_started(started)
    assert store.get_steps("f", "r1")[0].promoted is None
    finished = dataclasses.replace(
        started, status=StepStatus.SUCCESS, outputs={"n": 1}, promoted={"rows": [1, "é"]}
    )
    store.step_finished(finished)
    assert store.get_steps("f", "r1")[0].promoted == {"rows": [1, "é"]}


def test_three_attempts_are_all_kept(store: StateStore) -> None:
    for attempt in (1, 2, 3):
        begin = T0 + attempt * 100
        store.step_started(a_step("s", attempt=attempt, started_at=begin))
        failed = attempt < 3
        store.step_finished(
            a_step(
                "s",
                StepStatus.FAILED if failed else StepStatus.SUCCESS,
                attempt=attempt,
                started_at=begin,
                ended_at=begin + 10,
                error=ErrorInfo("TimeoutError", f"try {attempt}", "timeout") if failed else None,
            )
        )

    attempts = store.get_attempts("f", "r1")

    assert [(a.attempt, a.status) for a in attempts] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.FAILED),
        (3, StepStatus.SUCCESS),
    ]
    assert attempts[1].error == ErrorInfo("TimeoutError", "try 2", "timeout")
    assert (attempts[2].started_at, attempts[2].ended_at) == (T0 + 300, T0 + 310)
    [step] = store.get_steps("f", "r1")
    assert (step.attempt, step.status, step.outputs) == (3, StepStatus.SUCCESS, None)


def test_steps_keep_first_recorded_order_across_jobs(store: StateStore) -> None:
    store.step_started(a_step("s2", job_id="j1"))
    store.step_started(a_step("s1", job_id="j2"))
    store.step_started(a_step("s1", job_id="j1"))
    store.step_finished(a_step("s2", StepStatus.SUCCESS, job_id="j1"))

    steps = store.get_steps("f", "r1")

    assert [(s.job_id, s.step_id, s.status) for s in steps] == [
        ("j1", "s2", StepStatus.SUCCESS),
        ("j2", "s1", StepStatus.RUNNING),
        ("j1", "s1", StepStatus.RUNNING),
    ]
    assert store.get_steps("f", "other-run") == []


def test_delete_steps_forgets_rows_but_keeps_attempt_history(store: StateStore) -> None:
    for job_id, step_id in [("j1", "a"), ("j1", "b"), ("j1", "c"), ("j2", "a")]:
        store.step_finished(a_step(step_id, StepStatus.SUCCESS, job_id=job_id))

    store.delete_steps("f", "r1", "j1", ["a", "c", "missing"])

    assert [(s.job_id, s.step_id) for s in store.get_steps("f", "r1")] == [("j1", "b"), ("j2", "a")]
    assert len(store.get_attempts("f", "r1")) == 4
    store.step_started(a_step("a", job_id="j1"))
    assert [s.step_id for s in store.get_steps("f", "r1")] == ["b", "a", "a"]


def test_now_ms_is_the_injected_clock(store: StateStore, clock: FakeClock) -> None:
    assert store.now_ms() == clock.now_ms()
    clock.advance(ms=1234)
    assert store.now_ms() == T0 + 1234
