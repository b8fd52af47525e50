"""``aetherflow doctor`` and ``aetherflow explain`` on a flow with profiles, env and decode."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from .conftest import RunCli

PLUGIN = textwrap.dedent(
    """
    from aetherflow.core.api import ConnectorBase, register_connector


    @register_connector("db", "fake")
    class FakeDb(ConnectorBase):
        requires = ("json",)

        def check(self):
            if self.config.get("host") == "down":
                raise OSError("connection refused")
            if self.config.get("host") == "buggy":
                raise ValueError("port must be an int")
    """
)


def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "fake.py").write_text(PLUGIN)
    (tmp_path / "profiles.yaml").write_text(
        "prod:\n"
        "  config: {host: '{{env.DB_HOST}}', user: etl, password: '{{env.ORA_PASS}}'}\n"
        "  decode: {config: {password: true}}\n"
    )
    (tmp_path / "hook.py").write_text("def decode(value):\n    return value[::-1]\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"flow: {{id: diag, state: {{path: '{tmp_path / 'state' / 's.db'}'}}}}\n"
        "resources:\n"
        "  wh: {kind: db, driver: fake, profile: prod,\n"
        "       config: {port: 5432, api_token: '{{env.API_TOKEN:default-token}}'}}\n"
        "jobs: []\n"
    )
    env = {
        "AETHERFLOW_PLUGIN_PATHS": str(tmp_path / "plugins"),
        "AETHERFLOW_PROFILES_FILE": str(tmp_path / "profiles.yaml"),
        "AETHERFLOW_SECRETS_PATH": str(tmp_path / "hook.py"),
    }
    return flow, env


def test_doctor_lists_missing_env_by_resource_and_profile(cli: RunCli, tmp_path: Path) -> None:
    flow, env = setup(tmp_path)
    text = cli("doctor", str(flow), env=env)
    assert text.returncode == 2
    lines = text.stdout.splitlines()
    assert lines[0] == f"PROBLEMS: {flow}"
    assert "- resource=wh profile=prod config.host needs env DB_HOST" in lines
    assert "- resource=wh profile=prod config.password needs env ORA_PASS" in lines
    data = json.loads(cli("doctor", str(flow), "--json", env=env).stdout)
    assert data["ok"] is False
    assert [(m["env"], m["loc"]) for m in data["missing_env"]] == [
        ("DB_HOST", "resources.wh.config.host"),
        ("ORA_PASS", "resources.wh.config.password"),
    ]
    assert data["missing_env"][0]["code"] == "semantic:missing_env"
    libraries = [c for c in data["checks"] if c["check"] == "library"]
    assert libraries == [
        {"check": "library", "resource": "wh", "module": "json", "importable": True}
    ]


def test_doctor_is_ok_when_everything_is_there(cli: RunCli, tmp_path: Path) -> None:
    flow, env = setup(tmp_path)
    env.update({"DB_HOST": "db1", "ORA_PASS": "terces"})
    result = cli("doctor", str(flow), "--connect", env=env)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[0] == f"OK: {flow}"


def test_doctor_connect_reports_unreachable_resources(cli: RunCli, tmp_path: Path) -> None:
    flow, env = setup(tmp_path)
    env.update({"DB_HOST": "down", "ORA_PASS": "terces"})
    result = cli("doctor", str(flow), "--connect", "--json", env=env)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["errors"] == ["resource wh: cannot connect: OSError: connection refused"]


def test_doctor_connect_reports_any_connector_exception(cli: RunCli, tmp_path: Path) -> None:
    flow, env = setup(tmp_path)
    env.update({"DB_HOST": "buggy", "ORA_PASS": "terces"})
    result = cli("doctor", str(flow), "--connect", "--json", env=env)
    assert result.returncode == 2, result.stderr
    data = json.loads(result.stdout)
    assert data["errors"] == ["resource wh: cannot connect: ValueError: port must be an int"]


def test_validate_output_is_redacted(cli: RunCli, tmp_path: Path) -> None:
    secret = "s3cr3t-in-a-path"
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "flow: {id: red}\njobs:\n  - id: a\n    steps:\n"
        "      - {id: s, type: check_items, inputs: {items: '{{env.NOPE}}'}}\n"
    )
    env = {"API_TOKEN": secret, "AETHERFLOW_VALIDATE_ENV_STRICT": "true"}
    target = tmp_path / secret
    target.mkdir()
    moved = target / "flow.yaml"
    flow.rename(moved)
    for extra in ((), ("--json",)):
        result = cli("validate", str(moved), *extra, env=env)
        assert result.returncode == 2
        assert secret not in result.stdout
        assert "***" in result.stdout


def test_doctor_warns_about_state_under_tmp(cli: RunCli, tmp_path: Path) -> None:
    flow, env = setup(tmp_path)
    env.update({"DB_HOST": "db1", "ORA_PASS": "x"})
    data = json.loads(cli("doctor", str(flow), "--json", env=env).stdout)
    assert any("under the temp directory" in w for w in data["warnings"])


def test_explain_shows_sources_and_masks_secrets(cli: RunCli, tmp_path: Path) -> None:
    flow, env = setup(tmp_path)
    env.update({"DB_HOST": "db1", "ORA_PASS": "terces-value"})
    text = cli("explain", str(flow), env=env)
    assert text.returncode == 0
    assert text.stdout.splitlines() == [
        f"Flow: {flow}",
        "Resource: wh (db/fake) profile=prod",
        "  config.host = db1  [profile:prod; env DB_HOST]",
        "  config.user = etl  [profile:prod]",
        "  config.password = ***  [profile:prod; env ORA_PASS; decoded]",
        "  config.port = 5432  [flow]",
        "  config.api_token = ***  [flow; env API_TOKEN]",
    ]
    data = json.loads(cli("explain", str(flow), "--json", env=env).stdout)
    wh = data["resources"]["wh"]
    assert wh["decode"] == ["config.password"]
    assert wh["config"]["password"] == {
        "value": "***",
        "source": "profile:prod",
        "env": ["ORA_PASS"],
        "decoded": True,
    }
    assert "terces-value" not in text.stdout
    assert data["profiles_source"] == str(tmp_path / "profiles.yaml")
