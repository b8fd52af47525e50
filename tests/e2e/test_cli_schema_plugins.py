"""``aetherflow schema``, ``aetherflow plugins list`` and ``aetherflow-scheduler validate``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import FLOWS, RunCli, clean_env

BUILTINS = [
    "check_items",
    "db_extract",
    "db_extract_stream",
    "db_fetch_small",
    "external.process",
    "with_lock",
]

PLUGIN = textwrap.dedent(
    """
    from aetherflow.core.api import Step, register_step
    from pydantic import BaseModel, ConfigDict


    class GreetInputs(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str


    @register_step("greet")
    class Greet(Step):
        Inputs = GreetInputs

        def run(self):
            return {"greeting": f"hello {self.params.name}"}
    """
)


def write_plugin(tmp_path: Path) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "greet.py").write_text(PLUGIN)
    return plugins


def test_schema_flow_is_json_with_step_inputs(cli: RunCli) -> None:
    result = cli("schema", "flow")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    branches = schema["$defs"]["StepSpec"]["allOf"]
    assert [b["if"]["properties"]["type"]["const"] for b in branches] == BUILTINS


def test_schema_unknown_kind_is_a_usage_error(cli: RunCli) -> None:
    result = cli("schema", "flows")
    assert result.returncode == 2
    assert "invalid choice: 'flows'" in result.stderr


def test_plugins_list_shows_builtins_and_path_plugins(cli: RunCli, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path)
    result = cli("plugins", "list", env={"AETHERFLOW_PLUGIN_PATHS": str(plugins)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["STEP", "TYPE", "ORIGIN"]
    rows = [line.split() for line in lines[1 : 2 + len(BUILTINS)]]
    assert rows == sorted(
        [[name, "builtin"] for name in BUILTINS] + [["greet", f"path:{plugins / 'greet.py'}"]]
    )


def test_plugins_list_json_has_input_schemas(cli: RunCli, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path)
    result = cli("plugins", "list", "--json", env={"AETHERFLOW_PLUGIN_PATHS": str(plugins)})
    info = json.loads(result.stdout)
    greet = next(s for s in info["steps"] if s["name"] == "greet")
    assert greet["input_schema"]["required"] == ["name"]
    assert info["plugins"][0]["name"] == str(plugins / "greet.py")
    assert len(info["plugins"][0]["sha256"]) == 64


def test_validate_uses_plugin_step_inputs(cli: RunCli, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path)
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "flow: {id: f}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: greet, inputs: {nam: x}}\n"
    )
    result = cli("validate", str(flow), env={"AETHERFLOW_PLUGIN_PATHS": str(plugins)})
    assert result.returncode == 2
    assert "jobs[0].steps[0].inputs.nam: step:invalid_inputs - unknown key 'nam'" in result.stdout
    assert "(did you mean 'name'?)" in result.stdout


def test_broken_plugin_fails_validate_with_exit_2(cli: RunCli, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text("raise RuntimeError('boom')\n")
    result = cli(
        "validate", str(FLOWS / "minimal.yaml"), env={"AETHERFLOW_PLUGIN_PATHS": str(plugins)}
    )
    assert result.returncode == 2
    assert "broken.py failed to load: RuntimeError: boom" in result.stderr
    assert "Traceback" not in result.stderr
    lenient = cli(
        "validate",
        str(FLOWS / "minimal.yaml"),
        env={"AETHERFLOW_PLUGIN_PATHS": str(plugins), "AETHERFLOW_PLUGIN_STRICT": "false"},
    )
    assert lenient.returncode == 0
    assert "broken.py failed to load" in lenient.stderr


def test_enterprise_mode_ignores_ambient_plugin_paths(cli: RunCli, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path)
    result = cli(
        "plugins",
        "list",
        "--json",
        env={"AETHERFLOW_PLUGIN_PATHS": str(plugins), "AETHERFLOW_MODE": "enterprise"},
    )
    assert result.returncode == 0
    names = [s["name"] for s in json.loads(result.stdout)["steps"]]
    assert names == BUILTINS
    assert "is ignored in enterprise mode" in result.stderr
    assert "AETHERFLOW_PLUGIN_PATHS=" in result.stderr


def scheduler_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from aetherflow.cli.scheduler_compat import entrypoint; entrypoint()",
            *args,
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        check=False,
    )


def test_scheduler_validate(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text("items:\n  - {id: a, cron: '*/5 * * * *', flow_yaml: flow.yaml}\n")
    ok = scheduler_cli(tmp_path, "validate", str(good))
    assert ok.returncode == 0
    assert ok.stdout == f"OK: {good}\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "timezone: Mars/Olympus\nitems:\n"
        "  - {id: a, cron: '/2 * * * *', flow_yaml: f.yaml}\n"
        "  - {id: a, cron: '* * * * *', flow_yaml: '', bundle_manifest: ''}\n"
    )
    result = scheduler_cli(tmp_path, "validate", str(bad))
    assert result.returncode == 2
    out = result.stdout
    assert out.startswith(f"INVALID: {bad}\n")
    assert "unknown time zone 'Mars/Olympus'" in out
    assert "items[0].cron" in out
    assert "invalid cron expression '/2 * * * *'" in out
    assert "exactly one of 'flow_yaml' or 'bundle_manifest'" in out


def test_scheduler_run_is_refused_honestly(tmp_path: Path) -> None:
    result = scheduler_cli(tmp_path, "run", "x.yaml")
    assert result.returncode == 2
    assert "'run' is not available yet" in result.stderr


def test_plugins_hash_prints_the_tree_hash(cli: RunCli, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path)
    result = cli("plugins", "hash", str(plugins), "--files")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines[0]) == 64
    assert lines[1].endswith("  greet.py")
    missing = cli("plugins", "hash", str(tmp_path / "nope"))
    assert missing.returncode == 2


def test_an_env_file_cannot_switch_enterprise_off(cli: RunCli, tmp_path: Path) -> None:
    plugins = write_plugin(tmp_path)
    (tmp_path / "app.env").write_text("AETHERFLOW_MODE=internal_fast\n")
    files = json.dumps([{"type": "dotenv", "path": str(tmp_path / "app.env")}])
    result = cli(
        "plugins",
        "list",
        "--json",
        env={
            "AETHERFLOW_MODE": "enterprise",
            "AETHERFLOW_ENV_FILES_JSON": files,
            "AETHERFLOW_PLUGIN_PATHS": str(plugins),
        },
    )
    names = [s["name"] for s in json.loads(result.stdout)["steps"]]
    assert "greet" not in names
    assert "AETHERFLOW_MODE cannot be set by an env file" in result.stderr
