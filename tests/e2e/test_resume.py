"""Resume through the CLI: restored outputs, no re-execution of finished steps, drift handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO, RunCli

PLUGINS = REPO / "tests" / "flows" / "plugins"

FLOW = (REPO / "tests" / "flows" / "resume.yaml.template").read_text()


def write_flow(tmp_path: Path, *, apply_extra: str = "") -> tuple[Path, Path, Path]:
    ledger, marker = tmp_path / "ledger.txt", tmp_path / "fail.marker"
    text = FLOW.format(state=tmp_path / "state.db", ledger=ledger, marker=marker)
    if apply_extra:
        text = text.replace("entry: transform.apply", f"entry: transform.apply{apply_extra}")
    flow = tmp_path / "flow.yaml"
    flow.write_text(text)
    return flow, ledger, marker


def env(tmp_path: Path) -> dict[str, str]:
    return {"AETHERFLOW_PLUGIN_PATHS": str(PLUGINS), "AETHERFLOW_WORK_ROOT": str(tmp_path / "w")}


def ledger_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def show(cli: RunCli, tmp_path: Path, flow: Path, run_id: str) -> dict[str, Any]:
    result = cli("runs", "show", run_id, str(flow), "--json", env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def step_of(info: dict[str, Any], job_id: str, step_id: str) -> dict[str, Any]:
    job = next(j for j in info["jobs"] if j["job_id"] == job_id)
    return next(s for s in job["steps"] if s["step_id"] == step_id)


def test_resume_restores_outputs_and_skips_finished_steps(cli: RunCli, tmp_path: Path) -> None:
    flow, ledger, marker = write_flow(tmp_path)
    marker.write_text("fail now")
    first = cli("run", str(flow), "--run-id", "r1", env=env(tmp_path))
    assert first.returncode == 1, first.stderr
    assert ledger_lines(ledger) == ["extract.pull", "extract.count", "transform.prepare"]
    failed = show(cli, tmp_path, flow, "r1")
    assert failed["status"] == "FAILED"
    assert [(j["job_id"], j["status"]) for j in failed["jobs"]] == [
        ("extract", "SUCCESS"),
        ("transform", "FAILED"),
        ("load", "BLOCKED"),
    ]
    assert step_of(failed, "transform", "apply")["error"]["message"].startswith("marker ")

    marker.unlink()
    second = cli("run", str(flow), "--run-id", "r1", env=env(tmp_path))
    assert second.returncode == 0, second.stderr
    assert ledger_lines(ledger) == [
        "extract.pull",
        "extract.count",
        "transform.prepare",
        "transform.apply",
        "load.publish",
    ]
    assert "step_resumed" in second.stderr
    info = show(cli, tmp_path, flow, "r1")
    assert info["status"] == "SUCCESS"
    assert info["resumed"] is True
    assert [(j["job_id"], j["status"]) for j in info["jobs"]] == [
        ("extract", "SUCCESS"),
        ("transform", "SUCCESS"),
        ("load", "SUCCESS"),
    ]
    assert step_of(info, "transform", "apply")["outputs"]["value"] == "41-41-41"
    assert step_of(info, "load", "publish")["outputs"]["value"] == "41-41-41"
    assert step_of(info, "transform", "apply")["attempt"] == 2  # attempt 1 failed before
    assert step_of(info, "transform", "prepare")["attempt"] == 1
    assert next(j for j in info["jobs"] if j["job_id"] == "transform")["outputs"] == {
        "prepared": 41,
        "applied": "41-41-41",
    }

    third = cli("run", str(flow), "--run-id", "r1", env=env(tmp_path))
    assert third.returncode == 0
    assert len(ledger_lines(ledger)) == 5


def test_resume_command_requires_an_existing_run(cli: RunCli, tmp_path: Path) -> None:
    flow, _, _ = write_flow(tmp_path)
    missing = cli("resume", "nope", str(flow), env=env(tmp_path))
    assert missing.returncode == 2
    assert "run nope of flow 'resumable' does not exist" in missing.stderr


def _fail_then_edit(cli: RunCli, tmp_path: Path) -> tuple[Path, Path]:
    flow, ledger, marker = write_flow(tmp_path)
    marker.write_text("x")
    assert cli("run", str(flow), "--run-id", "d1", env=env(tmp_path)).returncode == 1
    marker.unlink()
    write_flow(tmp_path, apply_extra="")  # same text: no drift so far
    text = flow.read_text().replace("entry: transform.prepare", "entry: transform.prepare.v2")
    flow.write_text(text)
    return flow, ledger


def test_drift_stops_the_resume_by_default(cli: RunCli, tmp_path: Path) -> None:
    flow, ledger = _fail_then_edit(cli, tmp_path)
    plan = cli("run", str(flow), "--run-id", "d1", "--plan", env=env(tmp_path))
    assert plan.returncode == 0
    assert "    step prepare: drifted (changed since it ran; the run stops unless --on-drift" in (
        plan.stdout
    )
    assert "job transform: drifted (drifted steps: the run stops unless --on-drift rerun" in (
        plan.stdout
    )
    result = cli("run", str(flow), "--run-id", "d1", env=env(tmp_path))
    assert result.returncode == 2
    assert "transform/prepare" in result.stderr
    assert "--on-drift rerun" in result.stderr
    assert ledger_lines(ledger) == ["extract.pull", "extract.count", "transform.prepare"]


@pytest.mark.parametrize(
    ("choice", "expected_tail"),
    [
        ("rerun", ["transform.prepare.v2", "transform.apply", "load.publish"]),
        ("reuse", ["transform.apply", "load.publish"]),
    ],
)
def test_on_drift_choices(
    cli: RunCli, tmp_path: Path, choice: str, expected_tail: list[str]
) -> None:
    flow, ledger = _fail_then_edit(cli, tmp_path)
    plan = cli(
        "run",
        str(flow),
        "--run-id",
        "d1",
        "--plan",
        "--on-drift",
        choice,
        "--json",
        env=env(tmp_path),
    )
    planned = json.loads(plan.stdout)
    transform = next(j for j in planned["jobs"] if j["job_id"] == "transform")
    prepare = next(s for s in transform["steps"] if s["step_id"] == "prepare")
    assert prepare["action"] == ("run" if choice == "rerun" else "reuse")
    result = cli("run", str(flow), "--run-id", "d1", "--on-drift", choice, env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert ledger_lines(ledger) == [
        "extract.pull",
        "extract.count",
        "transform.prepare",
        *expected_tail,
    ]


def test_on_no_data_skipped_job_stays_skipped_on_resume(cli: RunCli, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    flow = tmp_path / "skip.yaml"
    flow.write_text(
        f"flow: {{id: skipper, state: {{path: '{tmp_path / 'state.db'}'}}}}\n"
        "jobs:\n"
        "  - id: probe\n    steps:\n"
        "      - {id: check, type: skip, inputs: {reason: empty}, on_no_data: skip_job}\n"
        f"      - {{id: never, type: ledger, inputs: {{ledger: '{ledger}', entry: never}}}}\n"
        "  - id: after\n    steps:\n"
        f"      - {{id: a, type: ledger, inputs: {{ledger: '{ledger}', entry: after}}}}\n"
    )
    assert cli("run", str(flow), "--run-id", "s1", env=env(tmp_path)).returncode == 0
    assert cli("run", str(flow), "--run-id", "s1", env=env(tmp_path)).returncode == 0
    info = show(cli, tmp_path, flow, "s1")
    assert [(j["job_id"], j["status"], j["skip_reason"]) for j in info["jobs"]] == [
        ("probe", "SKIPPED", "empty"),
        ("after", "SUCCESS", None),
    ]
    assert ledger_lines(ledger) == ["after"]
