"""The secrets hook at run time: decode of marked leaves and expand_env, loaded from a file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from .conftest import RunCli

PLUGIN = textwrap.dedent(
    """
    from aetherflow.core.api import ConnectorBase, Step, register_connector, register_step


    @register_connector("db", "fake")
    class FakeDb(ConnectorBase):
        pass


    @register_step("peek")
    class Peek(Step):
        def run(self):
            conn = self.ctx.connectors.db(self.inputs["resource"])
            return {"user": conn.config["user"], "region": self.ctx.env["REGION"]}
    """
)

HOOK = textwrap.dedent(
    """
    def decode(value):
        return value[::-1]


    def expand_env(env):
        return {**env, "REGION": "eu-" + env.get("ZONE", "x")}
    """
)


def peek_flow(tmp_path: Path, hook: Path, db_user: str) -> tuple[Path, dict[str, str]]:
    """A flow whose step ``peek`` reads resource ``wh`` (``user`` decoded), and its env."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "fake.py").write_text(PLUGIN)
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"flow: {{id: sec, state: {{path: '{tmp_path / 'state.db'}'}}}}\n"
        "resources:\n"
        "  wh:\n    kind: db\n    driver: fake\n    config: {user: '{{env.DB_USER}}'}\n"
        "    decode: {config: {user: true}}\n"
        "jobs:\n  - id: a\n    steps:\n      - {id: p, type: peek, inputs: {resource: wh}}\n"
    )
    env = {
        "AETHERFLOW_PLUGIN_PATHS": str(tmp_path / "plugins"),
        "AETHERFLOW_SECRETS_PATH": str(hook),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "w"),
        "DB_USER": db_user,
    }
    return flow, env


def test_decode_and_expand_env_apply_to_the_run(cli: RunCli, tmp_path: Path) -> None:
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    flow, env = peek_flow(tmp_path, hook, "lte")
    env["ZONE"] = "west"
    assert cli("validate", str(flow), env=env).returncode == 0
    result = cli("run", str(flow), "--run-id", "s1", env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(cli("runs", "show", "s1", str(flow), "--json", env=env).stdout)
    assert shown["jobs"][0]["steps"][0]["outputs"] == {"user": "etl", "region": "eu-west"}


def test_missing_hook_file_is_a_clear_error(cli: RunCli, tmp_path: Path) -> None:
    result = cli(
        "validate",
        str(Path(__file__).parents[1] / "flows" / "minimal.yaml"),
        env={"AETHERFLOW_SECRETS_PATH": str(tmp_path / "nope.py")},
    )
    assert result.returncode == 2
    assert "AETHERFLOW_SECRETS_PATH=" in result.stderr
    assert "does not exist" in result.stderr


def test_hook_failures_name_the_error_and_stay_redacted(cli: RunCli, tmp_path: Path) -> None:
    secret = "tok-9f8e7d6c5b"
    hook = tmp_path / "hook.py"
    hook.write_text(
        "def decode(value):\n"
        "    raise ValueError(f'cannot decode {value!r}')\n\n\n"
        "def expand_env(env):\n"
        "    if env.get('BREAK'):\n"
        "        raise RuntimeError('vault refused token ' + env['VAULT_TOKEN'])\n"
        "    return env\n"
    )
    minimal = str(Path(__file__).parents[1] / "flows" / "minimal.yaml")
    broken = cli(
        "validate",
        minimal,
        env={"AETHERFLOW_SECRETS_PATH": str(hook), "VAULT_TOKEN": secret, "BREAK": "1"},
    )
    assert broken.returncode == 2
    assert "expand_env failed: RuntimeError: vault refused token ***" in broken.stderr
    assert secret not in broken.stderr
    flow, env = peek_flow(tmp_path, hook, "encoded-user-value")
    result = cli("run", str(flow), "--run-id", "s2", env=env)
    assert result.returncode == 1
    assert "decode failed: ValueError: cannot decode '***'" in result.stderr
    assert "encoded-user-value" not in result.stderr
