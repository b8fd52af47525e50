"""A secret decoded by the secrets hook never reaches stdout, stderr or the state database —
in plain, base64, URL-encoded or JSON-escaped form — while steps log it, output it, fail with it
and hand it to a process."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from .conftest import RunCli

SECRET = 'p@ss/wörd "quoted" 42'

HOOK = textwrap.dedent(
    """
    import base64


    def decode(value):
        return base64.b64decode(value).decode("utf-8")
    """
)

PLUGIN = textwrap.dedent(
    """
    import base64
    import json
    from urllib.parse import quote

    from aetherflow.core.api import ConnectorBase, Step, register_connector, register_step


    @register_connector("vault", "fake")
    class Fake(ConnectorBase):
        pass


    def secret(step):
        return step.ctx.connectors.get("vault", "wh").config["password"]


    @register_step("leak_log")
    class LeakLog(Step):
        def run(self):
            s = secret(self)
            self.ctx.log.warning("the password is %s", s)
            self.ctx.log.warning("b64 %s", base64.b64encode(s.encode()).decode())
            self.ctx.log.warning("url %s json %s", quote(s, safe=""), json.dumps(s))
            return {}


    @register_step("leak_output")
    class LeakOutput(Step):
        def run(self):
            s = secret(self)
            return {"plain": s, "b64": base64.b64encode(s.encode()).decode(),
                    "url": quote(s, safe=""), "nested": {"list": [s]}}


    @register_step("leak_fail")
    class LeakFail(Step):
        def run(self):
            raise RuntimeError("login failed for password " + secret(self))
    """
)


def forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "plain": secret,
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
        "url": quote(secret, safe=""),
        "url_plus": quote_plus(secret, safe=""),
        "json": json.dumps(secret)[1:-1],
        "json_ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
    }


def write_case(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "leaks.py").write_text(PLUGIN)
    (tmp_path / "hook.py").write_text(HOOK)
    encoded = base64.b64encode(SECRET.encode()).decode()
    script = (
        "import base64,os,sys;s=base64.b64decode(os.environ['S']).decode();"
        "print(s);print(s,file=sys.stderr);sys.exit(3)"
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        textwrap.dedent(
            f"""
            flow:
              id: secrets
              on_failure: continue
              state: {{path: "{tmp_path / "state.db"}"}}
            resources:
              wh:
                kind: vault
                driver: fake
                config: {{password: "{{{{env.WH_PASSWORD_B64}}}}"}}
                decode: {{config: {{password: true}}}}
            jobs:
              - id: logs
                steps: [{{id: log, type: leak_log}}]
              - id: outputs
                steps: [{{id: out, type: leak_output, outputs: {{pw: "{{{{result.plain}}}}"}}}}]
              - id: fails
                steps: [{{id: fail, type: leak_fail}}]
              - id: process
                steps:
                  - id: proc
                    type: external.process
                    inputs:
                      command: ["{sys.executable}", "-c", "{script}"]
                      env: {{S: "{{{{env.WH_PASSWORD_B64}}}}"}}
                      log: {{stdout: capture, stderr: capture}}
            """
        )
    )
    env = {
        "AETHERFLOW_PLUGIN_PATHS": str(tmp_path / "plugins"),
        "AETHERFLOW_SECRETS_PATH": str(tmp_path / "hook.py"),
        "AETHERFLOW_WORK_ROOT": str(tmp_path / "w"),
        "WH_PASSWORD_B64": encoded,
    }
    return flow, env


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_form_of_the_secret_leaks(cli: RunCli, tmp_path: Path, log_format: str) -> None:
    flow, env = write_case(tmp_path)
    result = cli("run", str(flow), "--run-id", "s1", "--log-format", log_format, env=env)
    assert result.returncode == 1, result.stderr  # two jobs fail on purpose
    shown = cli("runs", "show", "s1", str(flow), "--json", env=env)
    assert shown.returncode == 0
    state_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*") if p.is_file())
    streams = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "runs show": shown.stdout,
    }
    for name, form in forms(SECRET).items():
        for stream, text in streams.items():
            assert form not in text, f"{name} form found in {stream}"
        assert form.encode() not in state_bytes, f"{name} form found in the state database"
    assert "***" in result.stderr
    info = json.loads(shown.stdout)
    out_step = info["jobs"][1]["steps"][0]
    assert out_step["outputs"]["plain"] == "***"
    assert out_step["outputs"]["nested"] == {"list": ["***"]}
    assert "***" in info["jobs"][2]["steps"][0]["error"]["message"]
    if log_format == "json":
        for line in result.stderr.splitlines():
            json.loads(line)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_cli_error_lines_are_redacted(cli: RunCli, tmp_path: Path, log_format: str) -> None:
    secret = "hunter2-vault-xyz"
    state = tmp_path / "missing" / secret / "state.sqlite"
    result = cli(
        "runs",
        "list",
        "--state",
        str(state),
        "--log-format",
        log_format,
        env={"WAREHOUSE_PASSWORD": secret},
    )
    assert result.returncode == 2
    assert secret not in result.stderr
    assert f"{tmp_path / 'missing' / '***' / 'state.sqlite'}" in result.stderr
