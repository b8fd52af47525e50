"""Every ``AETHERFLOW_*`` setting changes what the real CLI does (``50-config-and-trust.md``).

Unit tests check that each variable is *parsed* into its ``Settings`` field; here each variable
gets one case that runs ``python -m aetherflow`` twice — with the variable unset (or at its
default) and with it set — and asserts a specific observable difference: exit codes, recorded
step outputs and errors, events on stderr, files the run writes.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runtime.settings import ENV_VARS

from .conftest import FLOWS, RunCli
from .conftest_runs import BUSY_EXIT, Sandbox, parse_events, run_lease_key, wait_for

TESTKIT = FLOWS / "plugins"
SETTINGS_KIT = FLOWS / "settings" / "plugins"
# echo/boom/ledger (testkit) plus the counting connector and resource steps (settings_kit).
KIT = {"AETHERFLOW_PLUGIN_PATHS": f"{TESTKIT},{SETTINGS_KIT}"}
NOT_TESTED: set[str] = set()
DEFAULT_WORK_ROOT = Path("/tmp/work")  # the documented default (spec 50)
DEFAULT_STATE_DB = "/tmp/state/aetherflow.sqlite"
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) \w+", re.MULTILINE
)

ECHO_JOB = """
jobs:
  - id: a
    steps:
      - id: e
        type: echo
        inputs: {value: VALUE}
"""


def echo_job(value: str) -> str:
    """A job ``a`` with one ``echo`` step ``e`` of ``value`` (YAML-quoted)."""
    return ECHO_JOB.replace("VALUE", json.dumps(value))


@dataclass
class Harness:
    """Writes flows and helper files under ``tmp`` and runs the CLI with a clean env."""

    tmp: Path
    cli: RunCli
    sandbox: Sandbox

    def flow(
        self,
        body: str,
        *,
        flow_id: str = "settings",
        state: str | None = "state.db",
        workspace: bool = True,
        name: str = "flow.yaml",
    ) -> Path:
        """A flow file ``tmp/name``: ``flow:`` (state file ``tmp/state`` unless None, workspace
        root ``tmp/work`` unless switched off, ``cleanup_policy: never``), then ``body``."""
        lines = ["version: 1", "flow:", f"  id: {flow_id}"]
        if state is not None:
            lines.append(f"  state: {{path: '{self.tmp / state}'}}")
        root = f"root: '{self.tmp / 'work'}', " if workspace else ""
        lines.append(f"  workspace: {{{root}cleanup_policy: never}}")
        path = self.tmp / name
        path.write_text("\n".join(lines) + textwrap.dedent(body), encoding="utf-8")
        return path

    def file(self, relative: str, text: str) -> Path:
        """Write ``text`` (dedented) to ``tmp/relative``; return the path."""
        path = self.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def run(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python -m aetherflow ARGS`` with only ``env``'s AETHERFLOW_* variables."""
        return self.cli(*args, env=env)

    def show(self, flow: Path, run_id: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``runs show RUN_ID FLOW --json``, parsed."""
        result = self.run("runs", "show", run_id, str(flow), "--json", env=env)
        assert result.returncode == 0, result.stderr
        shown: dict[str, Any] = json.loads(result.stdout)
        return shown

    def step(
        self, flow: Path, run_id: str, step: str = "a/e", env: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The recorded ``job/step`` of a run (``outputs``, ``error``, ``status``, ...)."""
        job_id, step_id = step.split("/")
        for job in self.show(flow, run_id, env)["jobs"]:
            for row in job["steps"]:
                if job["job_id"] == job_id and row["step_id"] == step_id:
                    found: dict[str, Any] = row
                    return found
        raise AssertionError(f"run {run_id} has no step {step}")

    def validate_json(self, flow: Path, env: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``validate FLOW --json``: exit code and report."""
        result = self.run("validate", str(flow), "--json", env=env)
        return result.returncode, json.loads(result.stdout)


def codes(issues: list[dict[str, Any]]) -> list[str]:
    """The ``code`` of each validation issue."""
    return [issue["code"] for issue in issues]


# --- cases: one per variable, each asserting the default and the changed behaviour ----------


def case_work_root(h: Harness) -> None:
    flow_id = f"settings-work-{uuid.uuid4().hex[:8]}"
    flow = h.flow(echo_job("x"), flow_id=flow_id, workspace=False)
    root = h.tmp / "work-root"
    try:  # the default root is shared: remove this flow's directory there, whatever happens
        result = h.run(
            "run", str(flow), "--run-id", "r1", env={**KIT, "AETHERFLOW_WORK_ROOT": str(root)}
        )
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in (root / flow_id / "a" / "r1").iterdir()) == [
            "artifacts",
            "manifests",
            "scratch",
        ]
        assert not (DEFAULT_WORK_ROOT / flow_id).exists()
        default = h.run("run", str(flow), "--run-id", "r2", env=KIT)
        assert default.returncode == 0, default.stderr
        assert (DEFAULT_WORK_ROOT / flow_id / "a" / "r2" / "artifacts").is_dir()
        assert not (root / flow_id / "a" / "r2").exists()
    finally:
        shutil.rmtree(DEFAULT_WORK_ROOT / flow_id, ignore_errors=True)


def case_state_root(h: Harness) -> None:
    flow = h.flow(echo_job("x"), state=None)
    root = h.tmp / "state-root"
    env = {**KIT, "AETHERFLOW_STATE_ROOT": str(root)}
    # doctor only reports the location: checked first, so nothing is written to /tmp/state
    # (the default) even when the variable is ignored.
    checks = {
        name: json.loads(h.run("doctor", str(flow), "--json", env=e).stdout)["checks"]
        for name, e in (("set", env), ("default", KIT))
    }
    locations = {
        name: [c["path"] for c in found if c["check"] == "state_location"]
        for name, found in checks.items()
    }
    assert locations == {"set": [str(root / "aetherflow.sqlite")], "default": [DEFAULT_STATE_DB]}
    result = h.run("run", str(flow), "--run-id", "r1", env=env)
    assert result.returncode == 0, result.stderr
    with closing(sqlite3.connect(root / "aetherflow.sqlite")) as conn:
        assert conn.execute("SELECT flow_id, run_id, status FROM runs").fetchall() == [
            ("settings", "r1", "SUCCESS")
        ]


def case_plugin_paths(h: Harness) -> None:
    flow = h.flow(echo_job("x"))
    code, report = h.validate_json(flow, {})
    assert code == 2
    assert codes(report["errors"]) == ["semantic:unknown_step_type"]
    assert report["errors"][0]["loc"] == "jobs[0].steps[0].type"
    code, report = h.validate_json(flow, {"AETHERFLOW_PLUGIN_PATHS": f" {TESTKIT} "})
    assert (code, report["errors"]) == (0, [])


def case_plugin_strict(h: Harness) -> None:
    broken = h.file("broken/broken.py", "raise RuntimeError('broken on purpose')\n")
    flow = h.flow(echo_job("still here"))
    env = {"AETHERFLOW_PLUGIN_PATHS": f"{TESTKIT},{broken.parent}"}
    strict = h.run("run", str(flow), "--run-id", "r1", env=env)
    assert strict.returncode == 2, strict.stderr
    assert strict.stderr == (
        f"aetherflow: error: plugin file {broken} failed to load: RuntimeError: broken on purpose\n"
    )
    assert not (h.tmp / "state.db").exists()
    lenient = h.run(
        "run", str(flow), "--run-id", "r2", env={**env, "AETHERFLOW_PLUGIN_STRICT": "false"}
    )
    assert lenient.returncode == 0, lenient.stderr
    warning = [line for line in lenient.stderr.splitlines() if "broken on purpose" in line]
    assert len(warning) == 1
    assert "(AETHERFLOW_PLUGIN_STRICT=false: skipped)" in warning[0]
    assert h.step(flow, "r2")["outputs"] == {"value": "still here"}


def case_strict_templates(h: Harness) -> None:
    flow = h.flow(echo_job("x={{env.SETTINGS_UNSET_VAR}}"))
    strict = h.run("run", str(flow), "--run-id", "r1", "--log-format", "json", env=KIT)
    assert strict.returncode == 1, strict.stderr
    failed = h.step(flow, "r1")
    assert (failed["status"], failed["error"]["class"]) == ("FAILED", "ResolverMissingKeyError")
    assert "template_missing" not in strict.stderr
    env = {**KIT, "AETHERFLOW_STRICT_TEMPLATES": "false"}
    lenient = h.run("run", str(flow), "--run-id", "r2", "--log-format", "json", env=env)
    assert lenient.returncode == 0, lenient.stderr
    assert h.step(flow, "r2")["outputs"] == {"value": "x="}
    missing = [e for e in parse_events(lenient.stderr) if e["event"] == "template_missing"]
    assert [(e["level"], e["path"], e["where"]) for e in missing] == [
        ("WARNING", "env.SETTINGS_UNSET_VAR", "jobs.a.steps.e.inputs.value")
    ]


def case_log_level(h: Harness) -> None:
    flow = h.flow(
        """
        jobs:
          - id: ok
            steps:
              - {id: e, type: echo, inputs: {value: 1}}
          - id: bad
            steps:
              - {id: b, type: boom, inputs: {message: kaboom}}
        """
    )
    default = h.run("run", str(flow), "--run-id", "r1", env=KIT)
    assert default.returncode == 1
    assert re.search(r" INFO step_end .*job_id=ok step_id=e ", default.stderr)
    quiet = h.run(
        "run", str(flow), "--run-id", "r2", env={**KIT, "AETHERFLOW_LOG_LEVEL": "warning"}
    )
    assert quiet.returncode == 1
    levels = {match.group(1) for match in TEXT_LINE.finditer(quiet.stderr)}
    assert levels == {"ERROR"}, quiet.stderr
    assert not re.search(r" step_end .*job_id=ok ", quiet.stderr)
    assert re.search(r" ERROR step_error .*job_id=bad .*kaboom", quiet.stderr)


def case_log_format(h: Harness) -> None:
    flow = h.flow(echo_job("x"))
    text = h.run("run", str(flow), "--run-id", "r1", env=KIT)
    assert text.returncode == 0, text.stderr
    text_lines = text.stderr.splitlines()
    assert text_lines
    assert all(TEXT_LINE.match(line) for line in text_lines), text.stderr
    as_json = h.run(
        "run", str(flow), "--run-id", "r2", env={**KIT, "AETHERFLOW_LOG_FORMAT": "json"}
    )
    assert as_json.returncode == 0, as_json.stderr
    events = parse_events(as_json.stderr)  # fails on any line that is not a JSON object
    assert len(events) == len(as_json.stderr.splitlines())
    assert [e["event"] for e in events] == [
        "run_start",
        "job_start",
        "step_start",
        "step_end",
        "job_end",
        "run_end",
        "run_summary",
    ]
    assert {(e["flow_id"], e["run_id"], e["schema_version"]) for e in events} == {
        ("settings", "r2", 1)
    }


METRICS_MODULE = """
from pathlib import Path

CALLS = Path(LOG)


class _Sink:
    def __getattr__(self, name):
        if not name.startswith("on_"):
            raise AttributeError(name)

        def record(**fields):
            with CALLS.open("a", encoding="utf-8") as handle:
                handle.write(f"{name} {fields.get('job_id') or '-'} {fields['run_id']}\\n")

        return record


METRICS = _Sink()
"""


def case_metrics_module(h: Harness) -> None:
    calls = h.tmp / "metrics.log"
    h.file("pymods/af_settings_metrics.py", METRICS_MODULE.replace("LOG", repr(str(calls))))
    flow = h.flow(echo_job("x"))
    env = {**KIT, "PYTHONPATH": str(h.tmp / "pymods")}
    default = h.run("run", str(flow), "--run-id", "r1", env=env)
    assert default.returncode == 0, default.stderr
    assert not calls.exists()
    hooked = h.run(
        "run",
        str(flow),
        "--run-id",
        "r2",
        env={**env, "AETHERFLOW_METRICS_MODULE": "af_settings_metrics"},
    )
    assert hooked.returncode == 0, hooked.stderr
    assert calls.read_text(encoding="utf-8").splitlines() == [
        "on_run_start - r2",
        "on_job_start a r2",
        "on_step_start a r2",
        "on_step_end a r2",
        "on_job_end a r2",
        "on_run_end - r2",
    ]
    missing = h.run(
        "run",
        str(flow),
        "--run-id",
        "r3",
        env={**env, "AETHERFLOW_METRICS_MODULE": "af_no_such_metrics"},
    )
    assert missing.returncode == 2
    assert "AETHERFLOW_METRICS_MODULE='af_no_such_metrics' cannot be imported" in missing.stderr
    assert calls.read_text(encoding="utf-8").count("on_run_start") == 1


def counting_flow(h: Harness, options: str = "{}") -> Path:
    return h.flow(
        f"""
        resources:
          wh: {{kind: db, driver: counting, options: {options}}}
        jobs:
          - id: a
            steps:
              - {{id: e, type: connector_count, inputs: {{resource: wh}}}}
        """
    )


def case_connector_cache_default(h: Harness) -> None:
    flow = counting_flow(h)
    outputs = {}
    for run_id, value in (("r1", None), ("r2", "none"), ("r3", "process")):
        env = dict(KIT) if value is None else {**KIT, "AETHERFLOW_CONNECTOR_CACHE_DEFAULT": value}
        result = h.run("run", str(flow), "--run-id", run_id, env=env)
        assert result.returncode == 0, result.stderr
        outputs[value] = h.step(flow, run_id)["outputs"]
    assert outputs == {
        None: {"instances": 1, "same": True},
        "none": {"instances": 2, "same": False},
        "process": {"instances": 1, "same": True},
    }


def case_connector_cache_disabled(h: Harness) -> None:
    flow = counting_flow(h, options="{cache: run}")  # disabled beats the resource's own scope
    default = h.run("run", str(flow), "--run-id", "r1", env=KIT)
    assert default.returncode == 0, default.stderr
    env = {**KIT, "AETHERFLOW_CONNECTOR_CACHE_DISABLED": "yes"}
    disabled = h.run("run", str(flow), "--run-id", "r2", env=env)
    assert disabled.returncode == 0, disabled.stderr
    assert h.step(flow, "r1")["outputs"] == {"instances": 1, "same": True}
    assert h.step(flow, "r2")["outputs"] == {"instances": 2, "same": False}


def decode_flow(h: Harness) -> Path:
    # Values shorter than 4 characters are not redacted, so the decoded user stays visible.
    return h.flow(
        """
        resources:
          wh:
            kind: db
            driver: counting
            config: {user: '{{env.DB_USER}}'}
            decode: {config: {user: true}}
        jobs:
          - id: a
            steps:
              - {id: e, type: resource_user, inputs: {resource: wh}}
        """
    )


def secrets_env(h: Harness) -> dict[str, str]:
    h.file("hooks/reverse_hook.py", "def decode(value):\n    return value[::-1]\n")
    h.file("pymods/af_settings_upper.py", "def decode(value):\n    return value.upper()\n")
    return {**KIT, "DB_USER": "lte", "PYTHONPATH": str(h.tmp / "pymods")}


def decoded_user(h: Harness, flow: Path, run_id: str, env: Mapping[str, str]) -> str:
    result = h.run("run", str(flow), "--run-id", run_id, env=env)
    assert result.returncode == 0, result.stderr
    user: str = h.step(flow, run_id)["outputs"]["user"]
    return user


def assert_decode_needs_a_hook(h: Harness, flow: Path, env: Mapping[str, str]) -> None:
    code, report = h.validate_json(flow, env)
    assert code == 2
    assert len(report["errors"]) == 1
    assert "AETHERFLOW_SECRETS_MODULE or AETHERFLOW_SECRETS_PATH" in report["errors"][0]["hint"]


def case_secrets_module(h: Harness) -> None:
    flow = decode_flow(h)
    env = secrets_env(h)
    assert_decode_needs_a_hook(h, flow, env)
    module = {**env, "AETHERFLOW_SECRETS_MODULE": "af_settings_upper"}
    assert decoded_user(h, flow, "r1", module) == "LTE"
    both = {**module, "AETHERFLOW_SECRETS_PATH": str(h.tmp / "hooks" / "reverse_hook.py")}
    assert decoded_user(h, flow, "r2", both) == "LTE"  # the module wins


def case_secrets_path(h: Harness) -> None:
    flow = decode_flow(h)
    env = secrets_env(h)
    assert_decode_needs_a_hook(h, flow, env)
    path = {**env, "AETHERFLOW_SECRETS_PATH": str(h.tmp / "hooks" / "reverse_hook.py")}
    assert decoded_user(h, flow, "r1", path) == "etl"


def case_settings_module(h: Harness) -> None:
    h.file("pymods/af_settings_small.py", 'SETTINGS = {"max_output_bytes": 10}\n')
    flow = h.flow(echo_job("more than ten bytes"))
    env = {**KIT, "PYTHONPATH": str(h.tmp / "pymods")}
    default = h.run("run", str(flow), "--run-id", "r1", env=env)
    assert default.returncode == 0, default.stderr
    small = {**env, "AETHERFLOW_SETTINGS_MODULE": "af_settings_small"}
    capped = h.run("run", str(flow), "--run-id", "r2", env=small)
    assert capped.returncode == 1, capped.stderr
    error = h.step(flow, "r2")["error"]
    assert "more than AETHERFLOW_MAX_OUTPUT_BYTES=10" in error["message"]


def case_validate_env_strict(h: Harness) -> None:
    flow = h.flow(echo_job("{{env.SETTINGS_UNSET_VAR}}"))
    code, report = h.validate_json(flow, KIT)
    assert (code, codes(report["errors"]), codes(report["warnings"])) == (
        0,
        [],
        ["semantic:missing_env"],
    )
    code, report = h.validate_json(flow, {**KIT, "AETHERFLOW_VALIDATE_ENV_STRICT": "on"})
    assert (code, codes(report["errors"]), codes(report["warnings"])) == (
        2,
        ["semantic:missing_env"],
        [],
    )


def case_mode(h: Harness) -> None:
    echo = h.flow(echo_job("x"), name="echo.yaml")
    enterprise = {"AETHERFLOW_MODE": "enterprise"}
    code, report = h.validate_json(echo, KIT)
    assert (code, report["errors"]) == (0, [])
    result = h.run("validate", str(echo), "--json", env={**KIT, **enterprise})
    assert result.returncode == 2
    assert codes(json.loads(result.stdout)["errors"]) == ["semantic:unknown_step_type"]
    assert "plugin_source_ignored" in result.stderr
    process = h.flow(
        """
        jobs:
          - id: a
            steps:
              - id: e
                type: external.process
                inputs:
                  command: ['sh', '-c', 'printenv SETTINGS_PROBE || echo unset']
                  log: {stdout: capture}
        """,
        name="process.yaml",
    )
    outputs = {}
    for run_id, mode in (("r1", {}), ("r2", enterprise)):
        result = h.run(
            "run", str(process), "--run-id", run_id, env={"SETTINGS_PROBE": "here", **mode}
        )
        assert result.returncode == 0, result.stderr
        outputs[run_id] = h.step(process, run_id)["outputs"]["stdout"]
    assert outputs == {"r1": "here\n", "r2": "unset\n"}


def case_strict_sandbox(h: Harness) -> None:
    outside = h.tmp / "outside"
    outside.mkdir()
    flow = h.flow(
        f"""
        jobs:
          - id: a
            steps:
              - id: e
                type: external.process
                inputs:
                  command: ['sh', '-c', 'printf %s "$PWD"']
                  cwd: '{outside}'
                  log: {{stdout: capture}}
        """
    )
    strict = h.run("run", str(flow), "--run-id", "r1")
    assert strict.returncode == 1, strict.stderr
    error = h.step(flow, "r1")["error"]
    assert error["class"] == "SandboxError"
    assert f"input cwd: path '{outside}' is outside the allowed roots" in error["message"]
    loose = h.run("run", str(flow), "--run-id", "r2", env={"AETHERFLOW_STRICT_SANDBOX": "0"})
    assert loose.returncode == 0, loose.stderr
    assert h.step(flow, "r2")["outputs"]["stdout"] == str(outside)


def profile_flow(h: Harness) -> Path:
    return h.flow(
        """
        resources:
          wh: {kind: db, driver: counting, profile: prod}
        jobs: []
        """
    )


def explained_host(h: Harness, flow: Path, env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    result = h.run("explain", str(flow), "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    return data["resources"]["wh"]["config"]["host"], data["profiles_source"]


def assert_profile_unknown(h: Harness, flow: Path) -> None:
    code, report = h.validate_json(flow, KIT)
    assert code == 2
    assert [(e["code"], e["loc"]) for e in report["errors"]] == [
        ("semantic:unknown_profile", "resources.wh.profile")
    ]


def case_profiles_file(h: Harness) -> None:
    flow = profile_flow(h)
    assert_profile_unknown(h, flow)
    profiles = h.file("profiles.yaml", "prod:\n  config: {host: from-file}\n")
    host, source = explained_host(h, flow, {**KIT, "AETHERFLOW_PROFILES_FILE": str(profiles)})
    assert host == {"value": "from-file", "source": "profile:prod", "env": [], "decoded": False}
    assert source == str(profiles)


def case_profiles_json(h: Harness) -> None:
    flow = profile_flow(h)
    assert_profile_unknown(h, flow)
    profiles = json.dumps({"prod": {"config": {"host": "from-json"}}})
    host, source = explained_host(h, flow, {**KIT, "AETHERFLOW_PROFILES_JSON": profiles})
    assert host == {"value": "from-json", "source": "profile:prod", "env": [], "decoded": False}
    assert source == "AETHERFLOW_PROFILES_JSON"


def case_env_files_json(h: Harness) -> None:
    dotenv = h.file("vars.env", "# from a file\nexport FROM_FILE='from-dotenv'\n")
    flow = h.flow(echo_job("{{env.FROM_FILE}}"))
    default = h.run("run", str(flow), "--run-id", "r1", env=KIT)
    assert default.returncode == 1, default.stderr
    assert h.step(flow, "r1")["error"]["class"] == "ResolverMissingKeyError"
    files = json.dumps([{"type": "dotenv", "path": str(dotenv)}])
    loaded = h.run(
        "run", str(flow), "--run-id", "r2", env={**KIT, "AETHERFLOW_ENV_FILES_JSON": files}
    )
    assert loaded.returncode == 0, loaded.stderr
    assert h.step(flow, "r2")["outputs"] == {"value": "from-dotenv"}


def case_max_output_bytes(h: Harness) -> None:
    flow = h.flow(echo_job("x" * 200))
    default = h.run("run", str(flow), "--run-id", "r1", env=KIT)
    assert default.returncode == 0, default.stderr
    assert h.step(flow, "r1")["outputs"] == {"value": "x" * 200}
    capped = h.run(
        "run", str(flow), "--run-id", "r2", env={**KIT, "AETHERFLOW_MAX_OUTPUT_BYTES": "100"}
    )
    assert capped.returncode == 1, capped.stderr
    failed = h.step(flow, "r2")
    assert failed["status"] == "FAILED"
    assert "more than AETHERFLOW_MAX_OUTPUT_BYTES=100" in failed["error"]["message"]


LEASE_FLOW = """
jobs:
  - id: a
    steps:
      - id: e
        type: ledger
        inputs:
          ledger: LEDGER
          entry: a/e
          sleep_seconds: '{{env.SLEEP_SECONDS:0}}'
"""


def killed_run(h: Harness, flow: Path, run_id: str, env: Mapping[str, str]) -> None:
    """Start ``run_id`` with a step that sleeps, wait until it holds its lease, SIGKILL it."""
    background = h.sandbox.start(
        "run", str(flow), "--run-id", run_id, name=run_id, env={**env, "SLEEP_SECONDS": "60"}
    )
    h.sandbox.wait_lock(run_lease_key("lease", run_id), background.pid)
    background.sigkill()
    assert background.proc.returncode == -signal.SIGKILL


def case_run_lease_seconds(h: Harness) -> None:
    flow = h.flow(
        LEASE_FLOW.replace("LEDGER", json.dumps(str(h.tmp / "ledger.txt"))),
        flow_id="lease",
        state=None,  # the sandbox's state root, so sandbox.lease() can read it
    )
    killed_run(h, flow, "default", {})
    busy = h.sandbox.run("run", str(flow), "--run-id", "default")
    assert busy.returncode == BUSY_EXIT, busy.stderr
    assert "run default is being executed by pid" in busy.stderr

    short = {"AETHERFLOW_RUN_LEASE_SECONDS": "1"}
    killed_run(h, flow, "short", short)

    def resumed() -> subprocess.CompletedProcess[str] | None:
        result = h.sandbox.run("run", str(flow), "--run-id", "short", env=short)
        return None if result.returncode == BUSY_EXIT else result

    # 15 s is well inside the default 30 s lease: only the 1 s lease can have expired by then.
    result = wait_for(resumed, "the 1 s lease to expire", timeout=15, interval=0.2)
    assert result.returncode == 0, result.stderr
    assert h.sandbox.step_statuses("lease", "short") == {"a/e": "SUCCESS"}


def case_secret_env_patterns(h: Harness) -> None:
    value = "plain-mystery-value"
    env = {**KIT, "MYSTERY_VALUE": value}
    shown = {}
    for run_id, patterns in (("r1", {}), ("r2", {"AETHERFLOW_SECRET_ENV_PATTERNS": "*MYSTERY*"})):
        # One state database per run, so each can be searched for the value.
        flow = h.flow(
            echo_job("{{env.MYSTERY_VALUE}}"), name=f"{run_id}.yaml", state=f"{run_id}.db"
        )
        result = h.run(
            "run", str(flow), "--run-id", run_id, "--log-format", "json", env={**env, **patterns}
        )
        assert result.returncode == 0, result.stderr
        step_end = [e for e in parse_events(result.stderr) if e["event"] == "step_end"]
        shown[run_id] = (
            h.step(flow, run_id)["outputs"]["value"],
            step_end[0]["outputs_summary"]["value"],
            value in result.stderr,
            any(value.encode() in db.read_bytes() for db in h.tmp.glob(f"{run_id}.db*")),
        )
    assert shown == {"r1": (value, value, True, True), "r2": ("***", "***", False, False)}


def case_otel(h: Harness) -> None:
    flow = h.flow(echo_job("traced"))
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    env = {**KIT, "OTEL_TRACES_EXPORTER": "console", "TRACEPARENT": parent}
    plain = h.run("run", str(flow), "--run-id", "r1", env=env)
    assert (plain.returncode, plain.stdout) == (0, ""), plain.stderr
    traced = h.run("run", str(flow), "--run-id", "r2", env={**env, "AETHERFLOW_OTEL": "true"})
    assert traced.returncode == 0, traced.stderr
    spans = [json.loads(line) for line in traced.stdout.splitlines()]
    assert sorted(s["name"] for s in spans) == ["job a", "run settings", "step e"]
    assert {s["context"]["trace_id"] for s in spans} == {"0x0af7651916cd43dd8448eb211c80319c"}
    assert next(s for s in spans if s["name"] == "run settings")["parent_id"] == (
        "0xb7ad6b7169203331"
    )
    bad = h.run(
        "run",
        str(flow),
        "--run-id",
        "r3",
        env={**KIT, "AETHERFLOW_OTEL": "true", "OTEL_TRACES_EXPORTER": "jaeger"},
    )
    assert bad.returncode == 2
    assert "OTEL_TRACES_EXPORTER='jaeger' is not supported" in bad.stderr


CASES: dict[str, Callable[[Harness], None]] = {
    "AETHERFLOW_WORK_ROOT": case_work_root,
    "AETHERFLOW_STATE_ROOT": case_state_root,
    "AETHERFLOW_PLUGIN_PATHS": case_plugin_paths,
    "AETHERFLOW_PLUGIN_STRICT": case_plugin_strict,
    "AETHERFLOW_STRICT_TEMPLATES": case_strict_templates,
    "AETHERFLOW_LOG_LEVEL": case_log_level,
    "AETHERFLOW_LOG_FORMAT": case_log_format,
    "AETHERFLOW_METRICS_MODULE": case_metrics_module,
    "AETHERFLOW_CONNECTOR_CACHE_DEFAULT": case_connector_cache_default,
    "AETHERFLOW_CONNECTOR_CACHE_DISABLED": case_connector_cache_disabled,
    "AETHERFLOW_SECRETS_MODULE": case_secrets_module,
    "AETHERFLOW_SECRETS_PATH": case_secrets_path,
    "AETHERFLOW_SETTINGS_MODULE": case_settings_module,
    "AETHERFLOW_VALIDATE_ENV_STRICT": case_validate_env_strict,
    "AETHERFLOW_MODE": case_mode,
    "AETHERFLOW_STRICT_SANDBOX": case_strict_sandbox,
    "AETHERFLOW_PROFILES_FILE": case_profiles_file,
    "AETHERFLOW_PROFILES_JSON": case_profiles_json,
    "AETHERFLOW_ENV_FILES_JSON": case_env_files_json,
    "AETHERFLOW_MAX_OUTPUT_BYTES": case_max_output_bytes,
    "AETHERFLOW_RUN_LEASE_SECONDS": case_run_lease_seconds,
    "AETHERFLOW_SECRET_ENV_PATTERNS": case_secret_env_patterns,
    "AETHERFLOW_OTEL": case_otel,
}


@pytest.mark.parametrize("variable", list(CASES))
def test_setting_changes_behaviour(
    variable: str, cli: RunCli, sandbox: Sandbox, tmp_path: Path
) -> None:
    CASES[variable](Harness(tmp_path, cli, sandbox))


def test_every_setting_has_a_case() -> None:
    assert set(ENV_VARS) - set(CASES) == NOT_TESTED
    assert set(CASES) <= set(ENV_VARS)


def test_profiles_file_and_json_together_conflict(
    cli: RunCli, sandbox: Sandbox, tmp_path: Path
) -> None:
    h = Harness(tmp_path, cli, sandbox)
    flow = profile_flow(h)
    profiles = h.file("profiles.yaml", "prod:\n  config: {host: from-file}\n")
    env = {
        **KIT,
        "AETHERFLOW_PROFILES_FILE": str(profiles),
        "AETHERFLOW_PROFILES_JSON": json.dumps({"prod": {"config": {"host": "from-json"}}}),
    }
    code, report = h.validate_json(flow, env)
    assert code == 2
    assert [(e["code"], e["loc"]) for e in report["errors"]] == [
        ("semantic:profiles_source_conflict", "profiles")
    ]
    explained = cli("explain", str(flow), env=env)
    assert explained.returncode == 2
    assert "semantic:profiles_source_conflict" in explained.stdout


def test_log_settings_from_an_env_file_apply(cli: RunCli, tmp_path: Path) -> None:
    """AETHERFLOW_LOG_FORMAT/LEVEL in an env file take effect (unless given on the command line)."""
    (tmp_path / "app.env").write_text("AETHERFLOW_LOG_FORMAT=json\nAETHERFLOW_LOG_LEVEL=WARNING\n")
    files = json.dumps([{"type": "dotenv", "path": str(tmp_path / "app.env")}])
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"flow: {{id: lf, state: {{path: '{tmp_path / 's.db'}'}}}}\n"
        "jobs:\n  - {id: a, steps: [{id: b, type: boom}]}\n"
    )
    env = {"AETHERFLOW_ENV_FILES_JSON": files, "AETHERFLOW_PLUGIN_PATHS": str(TESTKIT)}
    result = cli("run", str(flow), env=env)
    lines = result.stderr.splitlines()
    assert lines
    events = [json.loads(line)["event"] for line in lines]
    assert "step_start" not in events  # INFO is below WARNING
    assert "step_error" in events
    explicit = cli("run", str(flow), "--log-format", "text", env=env)
    assert not explicit.stderr.lstrip().startswith("{")


def test_profiles_from_the_settings_module_apply(cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "mysettings.py").write_text(
        'SETTINGS = {\'profiles_json\': \'{"prod": {"config": {"host": "from-module"}}}\'}\n'
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "flow: {id: pm}\nresources:\n  wh: {kind: db, driver: counting, profile: prod}\njobs: []\n"
    )
    env = {
        "AETHERFLOW_SETTINGS_MODULE": "mysettings",
        "PYTHONPATH": str(tmp_path),
        "AETHERFLOW_PLUGIN_PATHS": str(SETTINGS_KIT),
    }
    result = cli("explain", str(flow), "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["resources"]["wh"]["config"]["host"]["value"] == "from-module"
