"""Log formats of ``aetherflow run`` (``60-observability.md``, Formats and Events).

``tests/flows/four_outcomes.yaml`` ends one job in each final job status, so one run emits
every kind of ``job_end`` plus ``step_error``, ``run_end`` and ``run_summary``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .conftest_runs import FLOWS, Sandbox

FLOW = FLOWS / "four_outcomes.yaml"
FLOW_ID = "four_outcomes"
JOB_STATUSES = {
    "good": "SUCCESS",
    "broken": "FAILED",
    "downstream": "BLOCKED",
    "disabled": "SKIPPED",
}
EVENT_KEYS = ("ts_ms", "level", "event", "schema_version", "flow_id", "run_id")
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
TEXT_LINE = re.compile(
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"(?P<event>[a-z_]+)(?: |$)"
)


def parse_json_lines(stream: str, name: str) -> list[dict[str, Any]]:
    """Every line of ``stream`` as a JSON object; fails on the first line that is not one."""
    parsed = []
    for number, line in enumerate(stream.splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{name} line {number} is not JSON: {line!r}")
        assert isinstance(value, dict), f"{name} line {number} is not an object: {line!r}"
        parsed.append(value)
    return parsed


def run_in_json(sandbox: Sandbox, how: str, run_id: str) -> tuple[int, list[dict[str, Any]]]:
    if how == "env":
        result = sandbox.run(
            "run", str(FLOW), "--run-id", run_id, env={"AETHERFLOW_LOG_FORMAT": "json"}
        )
    else:
        result = sandbox.run("run", str(FLOW), "--run-id", run_id, "--log-format", "json")
    lines = parse_json_lines(result.stdout, "stdout") + parse_json_lines(result.stderr, "stderr")
    return result.returncode, lines


@pytest.mark.parametrize("how", ["env", "flag"])
def test_json_mode_prints_only_json_event_lines(sandbox: Sandbox, how: str) -> None:
    code, events = run_in_json(sandbox, how, run_id=f"json-{how}")

    assert code == 1
    assert events, "no events were logged"
    for event in events:
        missing = [key for key in EVENT_KEYS if key not in event]
        assert missing == [], f"{missing} missing in {event}"
        assert event["schema_version"] == 1
        assert (event["flow_id"], event["run_id"]) == (FLOW_ID, f"json-{how}")
        assert isinstance(event["ts_ms"], int)
        assert event["level"] in LEVELS


@pytest.mark.parametrize("how", ["env", "flag"])
def test_run_summary_is_last_and_counts_every_job(sandbox: Sandbox, how: str) -> None:
    _, events = run_in_json(sandbox, how, run_id=f"summary-{how}")
    names = [e["event"] for e in events]

    assert names[-2:] == ["run_end", "run_summary"]
    assert names.count("run_summary") == 1
    end, summary = events[-2], events[-1]
    assert end["status"] == summary["status"] == "FAILED"
    assert summary["status_counts"] == {"SUCCESS": 1, "FAILED": 1, "BLOCKED": 1, "SKIPPED": 1}
    assert [(j["job_id"], j["status"]) for j in summary["jobs"]] == list(JOB_STATUSES.items())
    assert {e["job_id"]: e["status"] for e in events if e["event"] == "job_end"} == JOB_STATUSES
    errors = [e for e in events if e["event"] == "step_error"]
    assert [(e["job_id"], e["step_id"], e["message"]) for e in errors] == [
        ("broken", "explode", "planned failure")
    ]


def test_text_mode_lines_are_timestamp_level_event(sandbox: Sandbox) -> None:
    text = sandbox.run("run", str(FLOW), "--run-id", "text-run")
    _, events = run_in_json(sandbox, "env", run_id="json-run")

    assert text.returncode == 1
    assert text.stdout == ""
    lines = text.stderr.splitlines()
    matches = [TEXT_LINE.match(line) for line in lines]
    assert [line for line, m in zip(lines, matches, strict=True) if m is None] == []
    assert [m["event"] for m in matches if m] == [e["event"] for e in events]
    assert [m["level"] for m in matches if m] == [e["level"] for e in events]
    assert all(f"flow_id={FLOW_ID} run_id=text-run" in line for line in lines)


def test_json_mode_reports_an_invalid_flow_as_json(sandbox: Sandbox) -> None:
    result = sandbox.run("run", str(FLOWS / "typos.yaml"), "--log-format", "json")

    assert result.returncode == 2
    assert parse_json_lines(result.stderr, "stderr")
    [error] = parse_json_lines(result.stderr, "stderr")
    assert error["event"] == "cli_error"
    assert error["exit_code"] == 2
    assert error["error_class"] == "SpecError"
    codes = [(i["code"], i["loc"], i["line"]) for i in error["issues"]]
    assert ("schema:extra_forbidden", "flow.workspce", 4) in codes


def test_json_mode_reports_a_busy_or_unknown_job_as_json(sandbox: Sandbox) -> None:
    result = sandbox.run(
        "run", str(FLOWS / "minimal.yaml"), "--flow-job", "nope", "--log-format", "json"
    )
    assert result.returncode == 2
    [error] = parse_json_lines(result.stderr, "stderr")
    assert error["error_class"] == "ConfigError"
    assert "--flow-job 'nope' is not a job" in error["message"]
