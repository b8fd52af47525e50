"""A database password decoded by the secrets hook, through the CLI, on real servers.

A user with a (non-ASCII) password is created for the test; the flow's resource holds the
base64 of the password (or of a whole URL holding it) marked ``decode:``. The run logs in as that
user — on MariaDB this proves the decoded password was sent, PostgreSQL here trusts every local
login — and no form of the password (plain, percent-encoded, base64, JSON-escaped) nor the
encoded value appears in stdout/stderr (text and JSON logs), ``runs show --json`` or the state
database. A wrong password fails with the server's refusal, the password masked.
"""

from __future__ import annotations

import base64
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.contract.db_backends import Backend
from tests.e2e.conftest_runs import Sandbox, parse_events
from tests.e2e.test_secrets_redaction import forms
from tests.integration.dbkit import db_params, job, step, write_data_flow
from tests.integration.servers import mysql_execute, pg_execute

PASSWORD = 'Pw-ü€ "q" /@:%x 42'
HOOK = textwrap.dedent(
    """
    import base64


    def decode(value):
        return base64.b64decode(value).decode("utf-8")
    """
)
WHO = {"postgres": "SELECT current_user AS who", "mysql": "SELECT CURRENT_USER() AS who"}


@dataclass(frozen=True)
class Login:
    """A database user made for one test, and how a resource reaches it."""

    user: str
    server: str  # "postgres" | "mysql"

    def resource(self, driver: str, password: str) -> tuple[dict[str, object], str]:
        """The resource (its secret leaf marked ``decode:``) and the encoded secret value."""
        port = 5432 if self.server == "postgres" else 3306
        if driver in ("sqlalchemy", "postgres"):
            scheme = "postgresql" if self.server == "postgres" else "mysql"
            secret = f"{scheme}://{self.user}:{quote(password, safe='')}@127.0.0.1:{port}/test"
            config: dict[str, object] = {"url": "{{env.DB_SECRET}}"}
            marks = {"config": {"url": True}}
        else:
            secret = password
            config = {"host": "127.0.0.1", "port": port, "user": self.user, "database": "test"}
            config["password"] = "{{env.DB_SECRET}}"
            marks = {"config": {"password": True}}
        encoded = base64.b64encode(secret.encode()).decode()
        return {"kind": "db", "driver": driver, "config": config, "decode": marks}, encoded


@pytest.fixture
def login(backend: Backend) -> Iterator[Login]:
    """A user with :data:`PASSWORD` on the backend's server, dropped afterwards."""
    made = Login(
        f"af_sec_{uuid.uuid4().hex[:8]}", "postgres" if "postgres" in backend.id else "mysql"
    )
    if made.server == "postgres":
        literal = PASSWORD.replace("'", "''")
        pg_execute(f"CREATE ROLE {made.user} LOGIN PASSWORD '{literal}'")
    else:
        mysql_execute(f"CREATE USER '{made.user}'@'%%' IDENTIFIED BY %s", [PASSWORD])
        mysql_execute(f"GRANT SELECT ON test.* TO '{made.user}'@'%'")
    yield made
    if made.server == "postgres":
        pg_execute(f"DROP ROLE IF EXISTS {made.user}")
    else:
        mysql_execute(f"DROP USER IF EXISTS '{made.user}'@'%'")


def run_case(
    sandbox: Sandbox, login: Login, backend: Backend, password: str, log_format: str
) -> tuple[Path, str, dict[str, str]]:
    """Run a flow reading ``who`` and extracting rows as ``login``; its path, the encoded
    secret, and every text the run left (streams, ``runs show``, state files)."""
    (sandbox.root / "hook.py").write_text(HOOK)
    resource, encoded = login.resource(backend.driver, password)
    flow = write_data_flow(
        sandbox.root / "flow.yaml",
        "secretx",
        {"wh": resource},
        [
            job(
                "read",
                step("who", "db_fetch_small", resource="wh", sql=WHO[login.server]),
                step("rows", "db_extract", resource="wh", sql=backend.series(5), output="r.csv"),
            )
        ],
    )
    env = {"AETHERFLOW_SECRETS_PATH": str(sandbox.root / "hook.py"), "DB_SECRET": encoded}
    ran = sandbox.run("run", str(flow), "--run-id", "s1", "--log-format", log_format, env=env)
    shown = sandbox.run("runs", "show", "s1", str(flow), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    state = b"".join(p.read_bytes() for p in sandbox.state_root.rglob("*") if p.is_file())
    texts = {
        "exit": str(ran.returncode),
        "stdout": ran.stdout,
        "stderr": ran.stderr,
        "runs show": shown.stdout,
        "state": state.decode("utf-8", errors="replace"),
    }
    if log_format == "json":
        parse_events(ran.stderr)  # every line is a JSON event
    return flow, encoded, texts


def assert_hidden(texts: dict[str, str], password: str, encoded: str) -> None:
    """No form of ``password`` nor ``encoded`` in any of ``texts``."""
    secrets = {**forms(password), "encoded": encoded}
    for name, form in secrets.items():
        for where, text in texts.items():
            assert form not in text, f"{name} form of the password found in {where}"


SECRET_CASES = db_params("mysql", "sqlalchemy-mysql", "postgres")


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("backend", SECRET_CASES, indirect=True)
def test_decoded_password_logs_in_and_never_shows(
    backend: Backend, login: Login, sandbox: Sandbox, log_format: str
) -> None:
    flow, encoded, texts = run_case(sandbox, login, backend, PASSWORD, log_format)
    assert texts["exit"] == "0", texts["stderr"]
    outputs = {s["step_id"]: s["outputs"] for s in sandbox.show("s1", flow)["jobs"][0]["steps"]}
    assert outputs["who"]["rows"][0][0].split("@")[0] == login.user
    assert outputs["rows"]["row_count"] == 5
    assert_hidden(texts, PASSWORD, encoded)


@pytest.mark.parametrize("backend", db_params("mysql", "sqlalchemy-mysql"), indirect=True)
def test_wrong_password_fails_with_the_password_masked(
    backend: Backend, login: Login, sandbox: Sandbox
) -> None:
    wrong = "not-" + PASSWORD
    flow, encoded, texts = run_case(sandbox, login, backend, wrong, "text")
    assert texts["exit"] == "1"
    error = sandbox.show("s1", flow)["jobs"][0]["steps"][0]["error"]
    assert error["class"] == "ConnectorError"
    assert "resource 'wh' at 127.0.0.1:3306" in error["message"]
    assert f"Access denied for user '{login.user}'" in error["message"]
    assert f"Access denied for user '{login.user}'" in texts["stderr"]
    assert_hidden(texts, wrong, encoded)
    assert_hidden(texts, PASSWORD, encoded)
