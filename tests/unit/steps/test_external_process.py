"""external.process through real flows: commands, shells, logs, retries, timeouts, idempotency,
sandbox, environment and secrets."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runtime.registry import Registry
from tests.unit.steps.harness import Run


def test_list_command_is_the_argv(run: Run) -> None:
    ran = run({"command": ["printf", "%s|", "a b", "c"], "log": {"stdout": "capture"}})
    assert ran.step.outputs is not None
    assert ran.step.outputs["stdout"] == "a b|c|"


def test_string_command_is_split_with_shlex(run: Run) -> None:
    ran = run({"command": "printf '%s|' 'a b' c", "args": ["d"], "log": {"stdout": "capture"}})
    assert ran.step.outputs is not None
    assert ran.step.outputs["stdout"] == "a b|c|d|"


def test_shell_runs_pipes_and_and_lists(run: Run) -> None:
    ran = run(
        {
            "command": "printf 'x\\ny\\n' | wc -l && echo ok",
            "shell": True,
            "log": {"stdout": "capture"},
        }
    )
    assert ran.step.outputs is not None
    assert ran.step.outputs["stdout"].split() == ["2", "ok"]


def test_exit_code_success_sets(run: Run) -> None:
    ok = run({"command": ["sh", "-c", "exit 3"], "success": {"exit_codes": [0, 3]}})
    assert (ok.step.status.value, ok.step.outputs["exit_code"]) == ("SUCCESS", 3)  # type: ignore[index]
    bad = run({"command": ["sh", "-c", "echo boom >&2; exit 4"], "log": {"stderr": "capture"}})
    assert bad.step.error is not None
    assert bad.step.error.message == (
        "external.process failed with exit code 4: sh -c 'echo boom >&2; exit 4'\nboom\n"
    )


def test_retry_only_on_listed_exit_codes(run: Run, tmp_path: Path) -> None:
    count = tmp_path / "count"
    script = f"echo x >> {count}; exit $(wc -l < {count} | tr -d ' ' | sed 's/^1$/7/;s/^2$/0/')"
    ran = run(
        {"command": script, "shell": True, "retry": {"max_attempts": 3, "retry_on_exit_codes": [7]}}
    )
    assert ran.step.status.value == "SUCCESS"
    assert ran.step.outputs["attempts"] == 2  # type: ignore[index]
    assert count.read_text().count("x") == 2
    other = tmp_path / "other"
    ran2 = run(
        {
            "command": f"echo x >> {other}; exit 5",
            "shell": True,
            "retry": {"max_attempts": 3, "retry_on_exit_codes": [7]},
        }
    )
    assert ran2.step.status.value == "FAILED"
    assert other.read_text().count("x") == 1


def test_retry_on_timeout(run: Run, tmp_path: Path) -> None:
    count = tmp_path / "count"
    ran = run(
        {
            "command": f"echo x >> {count}; sleep 30",
            "shell": True,
            "timeout_seconds": 0.3,
            "kill_grace_seconds": 1,
            "retry": {"max_attempts": 2, "retry_on_timeout": True},
        }
    )
    assert ran.step.error is not None
    assert (ran.step.error.cls, ran.step.error.failure_class) == ("StepTimeout", "timeout")
    assert count.read_text().count("x") == 2
    assert len(ran.named("external_process_timeout")) == 2


def test_retry_with_file_logs_appends_attempt_headers(run: Run) -> None:
    ran = run(
        {
            "command": "echo out; echo err >&2; exit 9",
            "shell": True,
            "log": {"stdout": "file", "stderr": "file", "file_path": "logs/p.log"},
            "retry": {"max_attempts": 2, "retry_on_exit_codes": [9]},
        }
    )
    assert ran.step.status.value == "FAILED"
    text = (ran.artifacts / "logs" / "p.log").read_text()
    assert text.count("=== aetherflow attempt") == 2
    assert "attempt 1" in text
    assert "attempt 2" in text
    assert text.count("out\n") == 2


def test_capture_is_bounded_and_keeps_the_tail(run: Run) -> None:
    command = "head -c 10485760 /dev/zero | tr '\\0' a; echo; echo THE-END"
    ran = run(
        {
            "command": command,
            "shell": True,
            "log": {"stdout": "capture", "max_capture_bytes": 65536},
        }
    )
    out = ran.step.outputs or {}
    assert out["stdout"].endswith("a\nTHE-END\n")
    assert len(out["stdout"].encode()) <= 65536
    assert len(ran.named("external_process_stdout")) <= 1000


def test_timeout_ends_the_whole_process_group(run: Run, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    ran = run(
        {
            "command": f"echo $$ > {pids}; sleep 1000 & echo $! >> {pids}; sleep 1000",
            "shell": True,
            "timeout_seconds": 0.5,
            "kill_grace_seconds": 1,
        }
    )
    assert ran.step.error is not None
    assert ran.step.error.failure_class == "timeout"
    found = [int(p) for p in pids.read_text().split()]
    assert len(found) == 2

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    deadline = time.monotonic() + 5
    while any(alive(p) for p in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in found if alive(p)] == []


def test_marker_skips_the_process(run: Run, tmp_path: Path) -> None:
    count = tmp_path / "count"
    inputs = {
        "command": f"echo x >> {count}; touch done.flag",
        "shell": True,
        "cwd": ".",
        "idempotency": {"strategy": "marker", "marker_path": str(tmp_path / "done.flag")},
    }
    (tmp_path / "done.flag").write_text("")
    ran = run(inputs, env={"AETHERFLOW_STRICT_SANDBOX": "false"})
    assert ran.step.status.value == "SKIPPED"
    assert ran.step.outputs == {
        "skipped": True,
        "marker": str(tmp_path / "done.flag"),
        "reason": "marker_present",
    }
    assert not count.exists()


def test_atomic_dir_publishes_only_on_success(run: Run) -> None:
    idem = {"strategy": "atomic_dir", "temp_output_dir": "out.tmp", "final_output_dir": "out"}
    ok = run(
        {
            "command": "echo v1 > $AETHERFLOW_OUTPUT_DIR/data.txt",
            "shell": True,
            "idempotency": idem,
            "success": {"require_files": ["out/data.txt"]},
        }
    )
    assert ok.step.status.value == "SUCCESS"
    assert (ok.artifacts / "out" / "data.txt").read_text() == "v1\n"
    assert not (ok.artifacts / "out.tmp").exists()


def test_atomic_dir_leaves_the_final_dir_untouched_on_failure(run: Run, tmp_path: Path) -> None:
    final = tmp_path / "work" / "published"
    final.mkdir(parents=True)
    (final / "data.txt").write_text("old\n")
    idem = {
        "strategy": "atomic_dir",
        "temp_output_dir": str(tmp_path / "work" / "tmpout"),
        "final_output_dir": str(final),
    }
    bad = run(
        {
            "command": "echo new > $AETHERFLOW_OUTPUT_DIR/data.txt; exit 1",
            "shell": True,
            "idempotency": idem,
        }
    )
    assert bad.step.status.value == "FAILED"
    assert (final / "data.txt").read_text() == "old\n"


def test_required_and_forbidden_files_and_globs(run: Run) -> None:
    ran = run(
        {
            "command": "touch a.csv bad.lock",
            "shell": True,
            "cwd": ".",
            "success": {
                "required_files": ["a.csv", "missing.txt"],
                "required_globs": ["*.parquet"],
                "forbidden_files": ["bad.lock"],
            },
        }
    )
    assert ran.step.error is not None
    message = ran.step.error.message
    assert message.startswith("external.process outputs invalid: ")
    assert f"missing_required_file:{ran.artifacts / 'missing.txt'}" in message
    assert f"missing_required_glob:{ran.artifacts / '*.parquet'}" in message
    assert f"forbidden_file_present:{ran.artifacts / 'bad.lock'}" in message
    assert "a.csv" not in message


@pytest.mark.parametrize(
    ("inputs", "key"),
    [
        ({"command": ["true"], "cwd": "/etc"}, "cwd"),
        ({"command": ["true"], "cwd": "../../../../../../etc"}, "cwd"),
        (
            {"command": ["true"], "log": {"stdout": "file", "file_path": "/etc/x.log"}},
            "log.file_path",
        ),
    ],
)
def test_sandbox_refusals(run: Run, inputs: dict[str, Any], key: str) -> None:
    ran = run(inputs)
    assert ran.step.error is not None
    assert ran.step.error.cls == "SandboxError"
    assert ran.step.error.message.startswith(f"input {key}: path ")


def test_symlink_escape_is_refused(run: Run, tmp_path: Path) -> None:
    first = run({"command": ["true"]})
    (first.artifacts.parent.parent / "link").mkdir(parents=True, exist_ok=True)
    ran = run({"command": ["true"], "cwd": "escape"}, env={})
    ran_artifacts = ran.artifacts
    ran_artifacts.mkdir(parents=True, exist_ok=True)
    (ran_artifacts / "escape").symlink_to("/etc")
    again = run({"command": ["true"], "cwd": str(ran_artifacts / "escape")})
    assert again.step.error is not None
    assert again.step.error.cls == "SandboxError"


def test_inherit_env_false_passes_only_the_basics(run: Run) -> None:
    ran = run(
        {
            "command": ["env"],
            "inherit_env": False,
            "env": {"EXTRA": "1"},
            "log": {"stdout": "capture"},
        },
        env={"SOME_VAR": "leak", "LC_ALL": "C", "TZ": "UTC"},
    )
    names = {line.split("=", 1)[0] for line in (ran.step.outputs or {})["stdout"].splitlines()}
    assert "SOME_VAR" not in names
    assert {"PATH", "HOME", "LC_ALL", "TZ", "EXTRA"} <= names
    assert {n for n in names if not n.startswith("AETHERFLOW_")} <= {
        "PATH",
        "HOME",
        "LC_ALL",
        "TZ",
        "EXTRA",
        "LANG",
        "TMPDIR",
        "PWD",
        "SHLVL",
        "_",
    }


def test_aetherflow_ids_are_in_the_child_env(run: Run) -> None:
    ran = run({"command": ["env"], "log": {"stdout": "capture"}})
    env = dict(
        line.split("=", 1)
        for line in (ran.step.outputs or {})["stdout"].splitlines()
        if "=" in line
    )
    assert (env["AETHERFLOW_FLOW_ID"], env["AETHERFLOW_JOB_ID"], env["AETHERFLOW_STEP_ID"]) == (
        "ep",
        "j",
        "p",
    )
    assert env["AETHERFLOW_RUN_ID"] == ran.result.run_id
    assert env["AETHERFLOW_ATTEMPT"] == "1"


def test_a_secret_never_reaches_events_or_errors(run: Run) -> None:
    secret = "Sup3r-Secret/Value"
    ran = run(
        {
            "command": [
                "sh",
                "-c",
                'echo "$DB_PASSWORD"; echo "$DB_PASSWORD" >&2; exit 2',
                "--",
                "{{env.DB_PASSWORD}}",
            ],
            "env": {"DB_PASSWORD": "{{env.DB_PASSWORD}}"},
            "log": {"stdout": "capture", "stderr": "capture"},
        },
        env={"DB_PASSWORD": secret},
    )
    assert ran.step.error is not None
    assert secret not in ran.all_text
    assert secret not in ran.step.error.message
    assert "***" in ran.step.error.message


def test_validation_codes(tmp_path: Path, registry: Registry) -> None:
    from aetherflow.runner.validation import ValidationOptions, validate_flow_text

    text = textwrap.dedent(
        """
        flow: {id: v}
        jobs:
          - id: j
            steps:
              - {id: a, type: external.process, inputs: {}}
              - {id: b, type: external.process, inputs: {command: 42}}
              - {id: c, type: external.process, inputs: {command: [x], log: {stdout: tee}}}
              - {id: d, type: external.process, inputs: {command: [x], log: {stderr: file}}}
              - id: e
                type: external.process
                inputs: {command: [x], idempotency: {strategy: atomic_dir, temp_output_dir: t}}
        """
    )
    report = validate_flow_text(text, ValidationOptions(env={}, registry=registry), file="f.yaml")
    codes = [i.code for i in report.errors]
    for code in ("missing_command", "command_type", "log_mode", "log_file", "atomic_dir"):
        assert f"semantic:external_process_{code}" in codes
