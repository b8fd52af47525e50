"""external.process edge cases: step deadlines vs process retries, leftover group members,
capture truncation flags, JSON-sized outputs, timeout messages, ids inside ``with_lock``,
numeric argv entries, directory swaps and single SIGTERM delivery."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from pathlib import Path

from aetherflow.runner.interrupts import Interrupts
from aetherflow.runner.process import terminate_group
from aetherflow.runtime.registry import Registry
from aetherflow.steps.process import fit_tail, swap_into_place
from tests.unit.steps.harness import Run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_step_timeout_is_not_swallowed_by_process_retry_on_timeout(
    run: Run, tmp_path: Path
) -> None:
    count = tmp_path / "count"
    ran = run(
        {
            "command": f"echo x >> {count}; sleep 30",
            "shell": True,
            "timeout_seconds": 20,
            "kill_grace_seconds": 1,
            "retry": {"max_attempts": 5, "retry_on_timeout": True},
        },
        timeout_seconds=0.5,
    )
    assert ran.step.error is not None
    assert (ran.step.error.cls, ran.step.error.failure_class) == ("StepTimeout", "timeout")
    assert "step 'p' of job 'j' exceeded timeout_seconds=0.5" in ran.step.error.message
    assert count.read_text().count("x") == 1
    assert ran.named("external_process_timeout") == []


def test_members_left_behind_by_the_main_child_are_ended(run: Run, tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    ran = run(
        {
            "command": f"sleep 1000 & echo $! > {pid_file}; echo main-done",
            "shell": True,
            "kill_grace_seconds": 1,
            "log": {"stdout": "capture"},
        }
    )
    assert ran.step.status.value == "SUCCESS"
    assert (ran.step.outputs or {})["stdout"] == "main-done\n"
    assert _wait_gone(int(pid_file.read_text()))


def test_truncated_flag_when_capture_dropped_bytes(run: Run) -> None:
    ran = run(
        {
            "command": "head -c 5000 /dev/zero | tr '\\0' a; echo END",
            "shell": True,
            "log": {"stdout": "capture", "stderr": "capture", "max_capture_bytes": 1024},
        }
    )
    out = ran.step.outputs or {}
    assert out["stdout_truncated"] is True
    assert out["stdout"].endswith("aEND\n")
    assert len(out["stdout"].encode()) == 1024
    assert "stderr_truncated" not in out


def test_lines_beyond_the_event_cap_are_counted_in_one_event(run: Run) -> None:
    ran = run({"command": "seq 1 1500", "shell": True, "log": {"stdout": "capture"}})
    assert len(ran.named("external_process_stdout")) == 1000
    dropped = ran.named("external_process_lines_dropped")
    assert [(d["stream"], d["lines"]) for d in dropped] == [("stdout", 500)]


def test_fit_tail_measures_the_json_encoding() -> None:
    text = 'x"\\' * 1000  # each of '"' and '\\' doubles when JSON-escaped
    fitted, cut = fit_tail(text, 1000)
    assert cut is True
    assert len(json.dumps(fitted, ensure_ascii=False).encode()) <= 1000
    assert text.endswith(fitted)
    assert len(fitted) > 500
    assert fit_tail("short", 1000) == ("short", False)


def test_timeout_failure_message_carries_the_stderr_tail(run: Run) -> None:
    ran = run(
        {
            "command": "echo 'connecting to warehouse' >&2; sleep 30",
            "shell": True,
            "timeout_seconds": 0.5,
            "kill_grace_seconds": 1,
            "log": {"stderr": "capture"},
        }
    )
    assert ran.step.error is not None
    assert ran.step.error.cls == "StepTimeout"
    assert ran.step.error.message.endswith("\nconnecting to warehouse\n")


def test_numbers_in_command_and_args_are_argv_text(run: Run) -> None:
    ran = run({"command": ["printf", "%s|", 1, 2.5], "args": [7], "log": {"stdout": "capture"}})
    assert (ran.step.outputs or {})["stdout"] == "1|2.5|7|"


def test_atomic_dir_replaces_the_old_directory_completely(run: Run) -> None:
    idem = {"strategy": "atomic_dir", "temp_output_dir": "out.tmp", "final_output_dir": "out"}
    first = run(
        {"command": "touch $AETHERFLOW_OUTPUT_DIR/old.txt", "shell": True, "idempotency": idem}
    )
    final = first.artifacts / "out"
    assert sorted(p.name for p in final.iterdir()) == ["old.txt"]
    # same artifacts dir for the second publish: point at it explicitly
    idem2 = {**idem, "temp_output_dir": str(final) + ".tmp", "final_output_dir": str(final)}
    second = run(
        {"command": "touch $AETHERFLOW_OUTPUT_DIR/new.txt", "shell": True, "idempotency": idem2},
        env={"AETHERFLOW_STRICT_SANDBOX": "false"},
    )
    assert second.step.status.value == "SUCCESS"
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in final.parent.iterdir() if p.name.startswith(".")) == []


def test_atomic_dir_without_rename_merges_and_removes_the_temp_dir(run: Run) -> None:
    idem = {
        "strategy": "atomic_dir",
        "temp_output_dir": "out.tmp",
        "final_output_dir": "out",
        "atomic_rename": False,
    }
    ran = run({"command": "touch $AETHERFLOW_OUTPUT_DIR/a.txt", "shell": True, "idempotency": idem})
    assert (ran.artifacts / "out" / "a.txt").exists()
    assert not (ran.artifacts / "out.tmp").exists()


def test_swap_into_place_restores_the_old_dir_when_the_new_one_is_missing(tmp_path: Path) -> None:
    final = tmp_path / "final"
    final.mkdir()
    (final / "keep.txt").write_text("old")
    try:
        swap_into_place(tmp_path / "no-such-temp", final)
    except FileNotFoundError:
        pass
    else:
        raise AssertionError("swap_into_place accepted a missing temp dir")
    assert (final / "keep.txt").read_text() == "old"


def test_step_id_inside_with_lock_is_the_recorded_id(tmp_path: Path, registry: Registry) -> None:
    from aetherflow.runner.engine import RunRequest, run_flow
    from aetherflow.runner.events import RecordingObserver
    from aetherflow.runtime.settings import Settings

    flow = tmp_path / "flow.yaml"
    flow.write_text(
        textwrap.dedent(
            """
            flow: {id: wl}
            jobs:
              - id: j
                steps:
                  - id: publish
                    type: with_lock
                    inputs:
                      lock_key: target
                      step:
                        id: load
                        type: external.process
                        inputs:
                          command: ["sh", "-c", "echo $AETHERFLOW_STEP_ID"]
                          log: {stdout: capture}
            """
        )
    )
    env = {
        "AETHERFLOW_STATE_ROOT": str(tmp_path / "state"),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "work"),
        "PATH": os.environ["PATH"],
    }
    recorder = RecordingObserver()
    result = run_flow(
        RunRequest(
            flow_path=str(flow),
            env=env,
            settings=Settings.from_env(env),
            registry=registry,
            observers=[recorder],
        )
    )
    assert result.exit_code == 0
    lines = [e.fields for e in recorder.events if e.name == "external_process_stdout"]
    assert [(e["step_id"], e["message"]) for e in lines] == [("publish/load", "publish/load")]
    exits = [e.fields["step_id"] for e in recorder.events if e.name == "external_process_exit"]
    assert exits == ["publish/load"]


def test_a_group_signalled_by_the_run_gets_sigterm_once(tmp_path: Path) -> None:
    log = tmp_path / "terms"
    script = f"trap 'echo T >> {log}' TERM; echo ready >> {log}; while :; do sleep 0.05; done"
    proc = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    deadline = time.monotonic() + 5
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    interrupts = Interrupts()
    interrupts.track_group(proc.pid)
    interrupts._terminate_groups()  # a SIGTERM to the run, forwarded
    interrupts._terminate_groups()  # and a second signal to the run
    terminate_group(proc, 0.5, term_sent=interrupts.was_signalled(proc.pid))
    assert proc.poll() is not None
    assert log.read_text().split() == ["ready", "T"]
