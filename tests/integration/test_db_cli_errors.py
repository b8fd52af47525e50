"""Bad inputs through the CLI: an unreachable server, invalid SQL, and a typo in a data step's
inputs each give a message that says what failed and where."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.contract.db_backends import Backend
from tests.e2e.conftest_runs import Sandbox, write_flow
from tests.integration.dbkit import db_params, job, resource, step, write_data_flow

# backend id → the driver's own words for "SELEC 1"
SYNTAX_ERRORS = {
    "sqlite3": 'near "SELEC": syntax error',
    "duckdb": 'syntax error at or near "SELEC"',
    "postgres": 'syntax error at or near "SELEC"',
    "mysql": "You have an error in your SQL syntax",
    "sqlalchemy-sqlite": 'near "SELEC": syntax error',
}
FAMILY = {"sqlalchemy-sqlite": "sqlalchemy"}


def free_port() -> int:
    """A loopback port nothing listens on (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def unreachable(driver: str, port: int) -> dict[str, Any]:
    """A ``db`` resource of ``driver`` pointing at 127.0.0.1:``port``."""
    urls = {
        "postgres": f"postgresql://postgres@127.0.0.1:{port}/test",
        "sqlalchemy": f"postgresql://postgres@127.0.0.1:{port}/test",
    }
    config: dict[str, Any] = {"url": urls[driver]} if driver in urls else {}
    if driver == "mysql":
        config = {"host": "127.0.0.1", "port": port, "user": "root", "database": "test"}
    return {"kind": "db", "driver": driver, "config": config, "options": {"connect_timeout": 5}}


def run_one(sandbox: Sandbox, flow: Path) -> tuple[int, str, dict[str, Any]]:
    """Run ``flow`` as run ``e1``: exit code, stderr, and the first step's recorded error."""
    result = sandbox.run("run", str(flow), "--run-id", "e1")
    error = sandbox.show("e1", flow)["jobs"][0]["steps"][0]["error"]
    return result.returncode, result.stderr, error


@pytest.mark.parametrize(
    ("driver", "step_type"),
    [
        ("postgres", "db_extract"),
        ("mysql", "db_fetch_small"),
        ("sqlalchemy", "db_extract_stream"),
    ],
)
def test_unreachable_server_names_resource_and_host(
    driver: str, step_type: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    port = free_port()
    inputs: dict[str, Any] = {"resource": "warehouse", "sql": "SELECT 1"}
    if step_type != "db_fetch_small":
        inputs["output"] = "one.csv"
    flow = write_data_flow(
        tmp_path / "flow.yaml",
        "unreachable",
        {"warehouse": unreachable(driver, port)},
        [job("j", step("s", step_type, **inputs))],
    )
    code, stderr, error = run_one(sandbox, flow)
    expected = f"cannot connect to {driver} resource 'warehouse' at 127.0.0.1:{port}"
    assert code == 1
    assert error["class"] == "ConnectorError"
    assert error["message"].startswith(expected)
    assert "connection refused" in error["message"]
    assert expected in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("backend", db_params(*SYNTAX_ERRORS), indirect=True)
def test_invalid_sql_gives_the_drivers_message(
    backend: Backend, sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = write_data_flow(
        tmp_path / "flow.yaml",
        "badsql",
        {"wh": resource(backend, tmp_path)},
        [job("j", step("s", "db_extract", resource="wh", sql="SELEC 1", output="x.csv"))],
    )
    code, stderr, error = run_one(sandbox, flow)
    family = FAMILY.get(backend.id, backend.driver)
    assert code == 1
    assert error["class"] == "ConnectorError"
    assert error["message"].startswith(f"{family} resource 'wh': query failed: ")
    assert SYNTAX_ERRORS[backend.id] in error["message"]
    assert error["message"].endswith("\nSQL: SELEC 1")
    assert SYNTAX_ERRORS[backend.id].replace('"', '\\"') in stderr
    assert not list((sandbox.work_root).rglob("x.csv"))


TYPO_FLOW = """\
flow:
  id: typos
resources:
  wh:
    kind: db
    driver: postgres
    config: {url: "postgresql://postgres@127.0.0.1:5432/test"}
jobs:
  - id: export
    steps:
      - id: extract
        type: db_extract_stream
        inputs:
          resource: wh
          sql: SELECT 1
          output: one.csv
          fromat: csv
          file: {delimitor: ";"}
          expect: {min_row: 1}
      - id: small
        type: db_fetch_small
        inputs: {resource: wh, sql: SELECT 1, max_row: 5}
"""


def test_validate_reports_input_typos_with_location_and_suggestion(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flow = write_flow(tmp_path / "typos.yaml", TYPO_FLOW)
    result = sandbox.run("validate", str(flow))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == f"INVALID: {flow}"
    where = "jobs[0].steps[0].inputs"
    assert lines[1:] == [
        f"- {flow}:17:11 {where}.fromat: step:invalid_inputs - unknown key 'fromat' "
        "[extra_forbidden] (did you mean 'format'?)",
        f"- {flow}:18:18 {where}.file.delimitor: step:invalid_inputs - unknown key "
        "'delimitor' [extra_forbidden] (did you mean 'delimiter'?)",
        f"- {flow}:19:20 {where}.expect.min_row: step:invalid_inputs - unknown key 'min_row' "
        "[extra_forbidden] (did you mean 'min_rows'?)",
        f"- {flow}:22:47 jobs[0].steps[1].inputs.max_row: step:invalid_inputs - unknown key "
        "'max_row' [extra_forbidden] (did you mean 'max_rows'?)",
    ]
