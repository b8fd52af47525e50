"""The run lifecycle in-process: gating matrix, failure policies, on_no_data, events, metrics."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import ConfigError, SpecError
from aetherflow.runner.engine import RunRequest, run_flow
from aetherflow.runner.observers import MetricsObserver
from aetherflow.runner.step import STEP_SKIPPED, Step, StepResult
from aetherflow.runtime.registry import Registry
from aetherflow.runtime.settings import Settings
from aetherflow.state import open_state_store
from tests.unit.runner.harness import Ran, RunFlow, flow_runner


class Echo(Step):
    def run(self) -> dict[str, Any]:
        return {"value": self.inputs.get("value")}


class Skip(Step):
    def run(self) -> StepResult:
        return StepResult(status=STEP_SKIPPED, output={"n": 0}, reason=self.inputs.get("reason"))


class Boom(Step):
    def run(self) -> dict[str, Any]:
        raise RuntimeError(self.inputs.get("message", "boom"))


class BadStatus(Step):
    def run(self) -> StepResult:
        return StepResult(status="PARTIAL")


@pytest.fixture
def steps(registry: Registry) -> Registry:
    for name, cls in {"echo": Echo, "skip": Skip, "boom": Boom, "bad_status": BadStatus}.items():
        registry.add_step(name, cls, origin="test")
    return registry


@pytest.fixture
def run(tmp_path: Path, steps: Registry) -> RunFlow:
    return flow_runner(tmp_path, steps)


def statuses(ran: Ran) -> dict[str, str]:
    return {job_id: job.status.value for job_id, job in ran.jobs().items()}


def test_outputs_flow_between_steps_and_jobs(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - {id: s1, type: echo, inputs: {value: [1, 2]}, outputs: {items: "{{result.value}}"}}
              - {id: s2, type: echo, inputs: {value: "n={{steps.s1.value}} {{job.outputs.items}}"}}
          - id: b
            depends_on: [a]
            steps:
              - {id: t, type: echo, inputs: {value: "{{jobs.a.outputs.items}}"}}
        """
    )
    assert ran.result.exit_code == 0
    steps = ran.steps()
    assert steps[("a", "s2")].outputs == {"value": "n=[1,2] [1,2]"}
    assert steps[("b", "t")].outputs == {"value": [1, 2]}
    assert ran.jobs()["a"].outputs == {"items": [1, 2]}


@pytest.mark.parametrize(
    ("upstream", "expected_reason"),
    [
        ("{id: a, steps: [{id: x, type: boom}]}", "dependency a is FAILED"),
        ("{id: a, when: 'false', steps: []}", "dependency a is SKIPPED"),
        (
            "{id: a, steps: [{id: x, type: skip, on_no_data: skip_job}]}",
            "dependency a is SKIPPED",
        ),
    ],
)
def test_depends_on_needs_success(run: RunFlow, upstream: str, expected_reason: str) -> None:
    ran = run(
        f"""
        flow: {{id: f, on_failure: continue}}
        jobs:
          - {upstream}
          - {{id: b, depends_on: [a], steps: [{{id: y, type: echo}}]}}
        """
    )
    jobs = ran.jobs()
    assert jobs["b"].status.value == "BLOCKED"
    assert jobs["b"].reason == expected_reason
    assert ran.event("job_end", job_id="b")[0]["status"] == "BLOCKED"


def test_blocked_propagates_transitively_under_continue(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f, on_failure: continue}
        jobs:
          - {id: a, steps: [{id: x, type: boom}]}
          - {id: b, depends_on: [a], steps: [{id: y, type: echo}]}
          - {id: c, depends_on: [b], steps: [{id: z, type: echo}]}
          - {id: d, steps: [{id: w, type: echo}]}
        """
    )
    assert statuses(ran) == {"a": "FAILED", "b": "BLOCKED", "c": "BLOCKED", "d": "SUCCESS"}
    assert ran.jobs()["c"].reason == "dependency b is BLOCKED"
    assert ran.result.exit_code == 1
    assert ran.result.status is not None
    assert ran.result.status.value == "FAILED"


def test_stop_policy_blocks_every_later_job(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - {id: a, steps: [{id: x, type: echo}]}
          - {id: b, steps: [{id: y, type: boom, inputs: {message: broke}}]}
          - {id: c, steps: [{id: z, type: echo}]}
          - {id: d, steps: []}
        """
    )
    assert statuses(ran) == {"a": "SUCCESS", "b": "FAILED", "c": "BLOCKED", "d": "BLOCKED"}
    assert ran.jobs()["c"].reason == "run stopped after job b failed"
    failed_step = ran.steps()[("b", "y")]
    assert failed_step.status.value == "FAILED"
    assert failed_step.error is not None
    assert (failed_step.error.cls, failed_step.error.message) == ("RuntimeError", "broke")
    summary = ran.event("run_summary")[0]
    assert summary["status_counts"] == {"SUCCESS": 1, "FAILED": 1, "BLOCKED": 2}
    assert [j["job_id"] for j in summary["jobs"]] == ["a", "b", "c", "d"]
    assert ran.events.names()[-2:] == ["run_end", "run_summary"]
    errors = ran.event("step_error")
    assert errors[0]["error_class"] == "RuntimeError"
    assert errors[0]["failure_class"] == "error"


@pytest.mark.parametrize(
    ("when", "status"),
    [
        ("jobs.a.outputs.n == 3", "SUCCESS"),
        ("jobs.a.outputs.n > 3", "SKIPPED"),
        ("jobs.a.outputs.missing == true", "SKIPPED"),
        ("jobs.a.status == 'SUCCESS' and 3 in jobs.a.outputs.list", "SUCCESS"),
    ],
)
def test_when_true_and_false(run: RunFlow, when: str, status: str) -> None:
    ran = run(
        f"""
        flow: {{id: f}}
        jobs:
          - id: a
            steps:
              - id: x
                type: echo
                inputs: {{value: 3}}
                outputs: {{n: "{{{{result.value}}}}", list: [1, 3]}}
          - {{id: b, when: "{when}", steps: [{{id: y, type: echo}}]}}
        """
    )
    jobs = ran.jobs()
    assert jobs["b"].status.value == status
    if status == "SKIPPED":
        assert jobs["b"].skip_reason == "condition=false"
        assert ran.result.exit_code == 0


def test_missing_output_in_when_warns(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - {id: a, steps: [{id: x, type: echo}]}
          - {id: b, when: "jobs.a.outputs.flag == true", steps: []}
        """
    )
    assert ran.event("when_warning", job_id="b")[0]["message"] == (
        "jobs.a.outputs.flag is not set; treated as null"
    )


def test_when_error_fails_the_job_not_the_process(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f, on_failure: continue}
        jobs:
          - id: a
            steps: [{id: x, type: echo, inputs: {value: text}, outputs: {v: "{{result.value}}"}}]
          - {id: b, when: "jobs.a.outputs.v < 3", steps: [{id: y, type: echo}]}
          - {id: c, steps: [{id: z, type: echo}]}
        """
    )
    jobs = ran.jobs()
    assert jobs["b"].status.value == "FAILED"
    assert jobs["b"].reason is not None
    assert "cannot compare str and int with '<'" in jobs["b"].reason
    assert jobs["c"].status.value == "SUCCESS"
    assert ran.result.exit_code == 1


def test_on_no_data_skip_job(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - {id: s1, type: skip, inputs: {reason: empty}, on_no_data: skip_job}
              - {id: s2, type: boom}
              - {id: s3, type: boom}
        """
    )
    job = ran.jobs()["a"]
    assert (job.status.value, job.skip_reason, job.skip_trigger) == ("SKIPPED", "empty", "step")
    steps = ran.steps()
    assert [steps[("a", s)].status.value for s in ("s1", "s2", "s3")] == ["SKIPPED"] * 3
    assert ran.result.exit_code == 0
    assert [e["step_id"] for e in ran.event("step_end")] == ["s1", "s2", "s3"]


def test_on_no_data_fail(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps: [{id: s1, type: skip, inputs: {reason: no rows}, on_no_data: fail}]
        """
    )
    step = ran.steps()[("a", "s1")]
    assert step.status.value == "FAILED"
    assert step.error is not None
    assert step.error.failure_class == "no_data"
    assert "no rows" in step.error.message
    assert ran.jobs()["a"].status.value == "FAILED"


def test_on_no_data_continue_is_the_default(run: RunFlow) -> None:
    ran = run(
        """
        flow: {id: f}
        jobs:
          - id: a
            steps: [{id: s1, type: skip}, {id: s2, type: echo, inputs: {value: 1}}]
        """
    )
    assert ran.jobs()["a"].status.value == "SUCCESS"
    assert ran.steps()[("a", "s2")].status.value == "SUCCESS"


def test_custom_step_status_is_an_error(run: RunFlow) -> None:
    ran = run("flow: {id: f}\njobs:\n  - {id: a, steps: [{id: s, type: bad_status}]}\n")
    step = ran.steps()[("a", "s")]
    assert step.status.value == "FAILED"
    assert step.error is not None
    assert "status 'PARTIAL'" in step.error.message


def test_missing_template_value_fails_the_step(run: RunFlow) -> None:
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: echo, inputs: {value: '{{env.NOT_SET_ANYWHERE}}'}}\n"
    )
    step = ran.steps()[("a", "s")]
    assert step.error is not None
    assert step.error.cls == "ResolverMissingKeyError"
    assert "env.NOT_SET_ANYWHERE" in step.error.message


def test_output_promotion_failure_fails_the_step(run: RunFlow) -> None:
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: echo, outputs: {x: '{{result.nope}}'}}\n"
    )
    assert ran.steps()[("a", "s")].status.value == "FAILED"
    assert ran.jobs()["a"].status.value == "FAILED"


def test_output_size_cap(steps: Registry, tmp_path: Path) -> None:
    big = "x" * 2048
    flow = (
        "flow: {id: f}\njobs:\n"
        f"  - {{id: a, steps: [{{id: s, type: echo, inputs: {{value: {big}}}}}]}}\n"
    )
    env = {
        "AETHERFLOW_STATE_ROOT": str(tmp_path / "s2"),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "w2"),
        "AETHERFLOW_MAX_OUTPUT_BYTES": "1000",
    }
    path = tmp_path / "big.yaml"
    path.write_text(flow)
    result = run_flow(
        RunRequest(flow_path=str(path), env=env, settings=Settings.from_env(env), registry=steps)
    )
    store = open_state_store(str(tmp_path / "s2" / "aetherflow.sqlite"))
    try:
        step = store.get_steps("f", result.run_id)[0]
    finally:
        store.close()
    assert step.error is not None
    assert "more than AETHERFLOW_MAX_OUTPUT_BYTES=1000" in step.error.message
    assert "write large data to an artifact file" in step.error.message


def test_flow_job_uses_recorded_dependencies(run: RunFlow) -> None:
    flow = """
        flow: {id: f}
        jobs:
          - id: extract
            steps: [{id: x, type: echo, inputs: {value: 7}, outputs: {n: "{{result.value}}"}}]
          - id: load
            depends_on: [extract]
            steps: [{id: y, type: echo, inputs: {value: "{{jobs.extract.outputs.n}}"}}]
        """
    first = run(flow, run_id="r1", flow_job="extract")
    assert statuses(first) == {"extract": "SUCCESS"}
    second = run(flow, run_id="r1", flow_job="load")
    assert statuses(second) == {"extract": "SUCCESS", "load": "SUCCESS"}
    assert second.steps()[("load", "y")].outputs == {"value": 7}
    fresh = run(flow, run_id="r2", flow_job="load")
    assert statuses(fresh) == {"load": "BLOCKED"}
    assert fresh.jobs()["load"].reason == "dependency extract is NOT_RUN (not executed in this run)"


def test_unknown_flow_job_is_an_error(run: RunFlow) -> None:
    with pytest.raises(ConfigError, match="--flow-job 'nope' is not a job"):
        run("flow: {id: f}\njobs:\n  - {id: a, steps: []}\n", flow_job="nope")


def test_invalid_flow_is_not_run_and_writes_nothing(run: RunFlow, tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        run("flow: {id: f}\njobs:\n  - {id: a, depend_on: [], steps: []}\n")
    assert [i.code for i in info.value.issues] == ["schema:extra_forbidden"]
    assert not (tmp_path / "state").exists()


def test_invalid_run_id(run: RunFlow) -> None:
    with pytest.raises(ConfigError, match="invalid run id"):
        run("flow: {id: f}\njobs: []\n", run_id="../etc")


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda **kw: self.calls.append((name, kw))


def test_metrics_hook_sees_every_outcome(run: RunFlow) -> None:
    sink = Sink()
    ran = run(
        """
        flow: {id: f, on_failure: continue}
        jobs:
          - {id: a, steps: [{id: x, type: boom}]}
          - {id: b, depends_on: [a], steps: []}
          - {id: c, when: 'false', steps: []}
        """,
        extra_observers=(MetricsObserver(sink),),
    )
    assert ran.result.exit_code == 1
    job_ends = [(kw["job_id"], kw["status"]) for name, kw in sink.calls if name == "on_job_end"]
    assert job_ends == [("a", "FAILED"), ("b", "BLOCKED"), ("c", "SKIPPED")]
    names = [name for name, _ in sink.calls]
    assert names[0] == "on_run_start"
    assert names[-1] == "on_run_end"
    run_end = sink.calls[-1][1]
    assert run_end["summary"]["status_counts"] == {"FAILED": 1, "BLOCKED": 1, "SKIPPED": 1}
    assert (
        "on_step_end",
        {
            "flow_id": "f",
            "run_id": ran.result.run_id,
            "job_id": "a",
            "step_id": "x",
            "step_type": "boom",
            "status": "FAILED",
            "duration_ms": sink.calls[3][1]["duration_ms"],
        },
    ) in sink.calls


def test_failing_metrics_sink_never_breaks_the_run(run: RunFlow) -> None:
    class Broken:
        def on_job_end(self, **_: Any) -> None:
            raise ValueError("sink down")

    ran = run(
        "flow: {id: f}\njobs:\n  - {id: a, steps: []}\n",
        extra_observers=(MetricsObserver(Broken()),),
    )
    assert ran.result.exit_code == 0
    errors = ran.event("observer_error")
    assert errors[0]["failed_event"] == "job_end"
    assert errors[0]["message"] == "sink down"


def test_workspace_cleanup_policies(run: RunFlow, tmp_path: Path) -> None:
    for policy, expect_kept in (("on_success", False), ("never", True)):
        ran = run(
            f"flow: {{id: f, workspace: {{cleanup_policy: {policy}}}}}\n"
            "jobs:\n  - {id: a, steps: [{id: s, type: echo}]}\n"
        )
        job_dir = tmp_path / "work" / "f" / "a" / ran.result.run_id
        assert job_dir.exists() is expect_kept
        if expect_kept:
            assert sorted(p.name for p in job_dir.iterdir()) == [
                "artifacts",
                "manifests",
                "scratch",
            ]


def test_failed_job_dir_is_kept_on_success_policy_and_removed_on_always(
    run: RunFlow, tmp_path: Path
) -> None:
    kept = run("flow: {id: f}\njobs:\n  - {id: a, steps: [{id: s, type: boom}]}\n")
    assert (tmp_path / "work" / "f" / "a" / kept.result.run_id).exists()
    removed = run(
        "flow: {id: f, workspace: {cleanup_policy: always}}\n"
        "jobs:\n  - {id: a, steps: [{id: s, type: boom}]}\n"
    )
    assert not (tmp_path / "work" / "f" / "a" / removed.result.run_id).exists()


class Interrupt(Step):
    def run(self) -> dict[str, Any]:
        raise KeyboardInterrupt


def test_interrupt_records_and_ends_the_run(run: RunFlow, steps: Registry) -> None:
    steps.add_step("interrupt", Interrupt, origin="test")
    ran = run(
        "flow: {id: f}\njobs:\n  - {id: a, steps: [{id: s, type: interrupt}]}\n"
        "  - {id: b, steps: []}\n"
    )
    assert ran.result.exit_code == 130
    assert ran.result.status is not None
    assert ran.result.status.value == "INTERRUPTED"
    step = ran.steps()[("a", "s")]
    assert step.error is not None
    assert (step.status.value, step.error.failure_class) == ("FAILED", "interrupted")
    assert step.error.message == "interrupted by SIGINT"
    assert ran.jobs()["a"].status.value == "FAILED"
    assert ran.events.names()[-2:] == ["run_end", "run_summary"]
    assert ran.event("run_end")[0]["status"] == "INTERRUPTED"
    summary_jobs = ran.event("run_summary")[0]["jobs"]
    assert [(s["step_id"], s["status"]) for s in summary_jobs[0]["steps"]] == [("s", "FAILED")]


def _commits_for(tmp_path: Path, steps: Registry, count: int) -> int:
    import sqlite3

    flow = tmp_path / f"flow{count}.yaml"
    step_lines = "".join(
        f"      - {{id: s{i}, type: echo, inputs: {{value: {i}}}}}\n" for i in range(count)
    )
    flow.write_text(f"flow: {{id: f{count}}}\njobs:\n  - id: a\n    steps:\n{step_lines}")
    env = {
        "AETHERFLOW_STATE_ROOT": str(tmp_path / "s"),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "w"),
    }
    commits: list[str] = []
    original = sqlite3.connect
    writes = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    class Counting(sqlite3.Connection):
        """Counts committed transactions: COMMITs, and writes run outside BEGIN (autocommit)."""

        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            words = " ".join(line for line in sql.splitlines() if not line.startswith("--"))
            word = words.lstrip().upper()
            if word.startswith("COMMIT") or (not self.in_transaction and word.startswith(writes)):
                commits.append(sql)
            return super().execute(sql, *args)

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return original(*args, **kwargs, factory=Counting)

    sqlite3.connect = traced  # type: ignore[assignment]
    try:
        result = run_flow(
            RunRequest(
                flow_path=str(flow), env=env, settings=Settings.from_env(env), registry=steps
            )
        )
    finally:
        sqlite3.connect = original  # type: ignore[assignment]
    assert result.exit_code == 0
    return len(commits)


def test_one_commit_per_step_in_a_job(tmp_path: Path, steps: Registry) -> None:
    """Each extra step costs exactly one committed transaction: its RUNNING row commits with
    the final row of the step before it (the spec allows two writes per step)."""
    _commits_for(tmp_path, steps, 1)  # creates the database (migrations) first
    twenty = _commits_for(tmp_path, steps, 20)
    forty = _commits_for(tmp_path, steps, 40)
    assert forty - twenty == 20


def test_bundle_dir_keys_are_strings_pointing_at_the_workspace_root(
    run: RunFlow, tmp_path: Path
) -> None:
    ran = run(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: echo, inputs: {value: '{{env.AETHERFLOW_ACTIVE_DIR}}'}}\n"
    )
    assert ran.steps()[("a", "s")].outputs == {"value": str(tmp_path / "work")}


def test_attempt_numbers_continue_across_resumes(run: RunFlow, tmp_path: Path) -> None:
    marker = tmp_path / "fail"
    marker.write_text("x")
    flow = (
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        f"      - {{id: s, type: flaky, inputs: {{marker: '{marker}'}}}}\n"
    )
    assert run(flow, run_id="r").result.exit_code == 1
    assert run(flow, run_id="r").result.exit_code == 1
    marker.unlink()
    ran = run(flow, run_id="r")
    assert ran.result.exit_code == 0
    assert ran.steps()[("a", "s")].attempt == 3
    store = open_state_store(str(ran.state))
    try:
        attempts = [(a.attempt, a.status.value) for a in store.get_attempts("f", "r")]
    finally:
        store.close()
    assert attempts == [(1, "FAILED"), (2, "FAILED"), (3, "SUCCESS")]


class Flaky(Step):
    def run(self) -> dict[str, Any]:
        if Path(self.inputs["marker"]).exists():
            raise RuntimeError("marker present")
        return {}


@pytest.fixture(autouse=True)
def _flaky(steps: Registry) -> None:
    steps.add_step("flaky", Flaky, origin="test")


def test_run_status_covers_jobs_recorded_by_earlier_flow_job_runs(run: RunFlow) -> None:
    flow = """
        flow: {id: f, on_failure: continue}
        jobs:
          - {id: a, steps: [{id: x, type: boom}]}
          - {id: b, steps: [{id: y, type: echo}]}
        """
    first = run(flow, run_id="r", flow_job="a")
    assert first.result.exit_code == 1
    second = run(flow, run_id="r", flow_job="b")
    assert second.result.exit_code == 0  # this invocation's job succeeded
    assert second.result.status is not None
    assert second.result.status.value == "FAILED"  # but job a of the run is still FAILED


def _while_fingerprinting(
    monkeypatch: pytest.MonkeyPatch, step_id: str, action: Callable[[], None]
) -> None:
    """Run ``action`` when the runner fingerprints ``step_id``: after the step before it has
    finished, while its final row waits to be written with this step's RUNNING row."""
    from aetherflow.runner import attempt

    original = attempt.step_fingerprint

    def fingerprint(step: Any) -> str:
        if step.id == step_id:
            action()
        return original(step)

    monkeypatch.setattr(attempt, "step_fingerprint", fingerprint)


THREE_STEPS = """
flow: {id: f}
jobs:
  - id: a
    steps:
      - {id: s1, type: echo, inputs: {value: 1}}
      - {id: s2, type: echo, inputs: {value: 2}}
      - {id: s3, type: echo, inputs: {value: 3}}
  - {id: b, depends_on: [a], steps: [{id: t, type: echo}]}
"""


def test_steps_end_in_order_with_their_rows_written(run: RunFlow) -> None:
    ran = run(THREE_STEPS)
    assert ran.result.exit_code == 0
    names = [(e.name, e.fields.get("step_id")) for e in ran.events.events]
    job_a = names[names.index(("job_start", None)) : names.index(("job_end", None)) + 1]
    assert job_a == [
        ("job_start", None),
        ("step_start", "s1"),
        ("step_end", "s1"),
        ("step_start", "s2"),
        ("step_end", "s2"),
        ("step_start", "s3"),
        ("step_end", "s3"),
        ("job_end", None),
    ]
    rows = ran.steps()
    assert [(k[1], r.status.value, r.outputs) for k, r in rows.items()] == [
        ("s1", "SUCCESS", {"value": 1}),
        ("s2", "SUCCESS", {"value": 2}),
        ("s3", "SUCCESS", {"value": 3}),
        ("t", "SUCCESS", {"value": None}),
    ]


def test_interrupt_between_steps_records_the_finished_step_and_starts_no_other(
    run: RunFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    _while_fingerprinting(monkeypatch, "s2", lambda: os.kill(os.getpid(), signal.SIGINT))

    ran = run(THREE_STEPS)

    assert ran.result.exit_code == 130
    rows = ran.steps()
    assert [(k[1], r.status.value) for k, r in rows.items()] == [("s1", "SUCCESS")]
    assert ran.event("step_end", step_id="s1")[0]["status"] == "SUCCESS"
    assert ran.event("step_start", step_id="s2") == []
    assert ran.jobs()["a"].status.value == "FAILED"
    assert ran.event("run_end")[0]["status"] == "INTERRUPTED"


def test_an_error_between_steps_still_records_the_finished_step(
    run: RunFlow, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fail() -> None:
        raise OSError("disk gone")

    _while_fingerprinting(monkeypatch, "s3", fail)

    with pytest.raises(OSError, match="disk gone"):
        run(THREE_STEPS)

    store = open_state_store(str(tmp_path / "state" / "aetherflow.sqlite"))
    try:
        [record] = store.find_runs(store.list_runs()[0].run.run_id)
        rows = store.get_steps(record.flow_id, record.run_id)
    finally:
        store.close()
    assert [(r.step_id, r.status.value) for r in rows] == [("s1", "SUCCESS"), ("s2", "SUCCESS")]
