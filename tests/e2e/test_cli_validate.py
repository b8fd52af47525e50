"""``aetherflow validate`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import EXAMPLES, FLOWS, RunCli

EXAMPLE_ENV = {"AETHERFLOW_PLUGIN_PATHS": str(EXAMPLES / "plugins")}


def test_valid_example_prints_ok_and_exits_0(cli: RunCli) -> None:
    flow = EXAMPLES / "hello.yaml"
    result = cli("validate", str(flow), env=EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"OK: {flow}"


def test_flow_yaml_flag_is_the_same_as_the_positional_path(cli: RunCli) -> None:
    flow = EXAMPLES / "hello.yaml"
    result = cli("validate", "--flow-yaml", str(flow), env=EXAMPLE_ENV)
    assert result.returncode == 0
    assert result.stdout.startswith(f"OK: {flow}")


def test_typos_are_reported_with_positions_and_hints(cli: RunCli) -> None:
    flow = FLOWS / "typos.yaml"
    result = cli("validate", str(flow))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == f"INVALID: {flow}"
    assert lines[1:] == [
        f"- {flow}:4:3 flow.workspce: schema:extra_forbidden - unknown key 'workspce' "
        "(did you mean 'workspace'?)",
        f"- {flow}:9:9 jobs[0].steps[0].inputs.items: step:invalid_inputs - missing required "
        "key 'items' [missing] (add 'items' to jobs[0].steps[0].inputs)",
        f"- {flow}:11:9 jobs[0].steps[0].input: schema:extra_forbidden - unknown key 'input' "
        "(did you mean 'inputs'?)",
        f"- {flow}:13:9 jobs[0].steps[0].on_no_date: schema:extra_forbidden - unknown key "
        "'on_no_date' (did you mean 'on_no_data'?)",
        f"- {flow}:15:5 jobs[1].depend_on: schema:extra_forbidden - unknown key 'depend_on' "
        "(did you mean 'depends_on'?)",
    ]


def test_json_report_shape(cli: RunCli) -> None:
    flow = FLOWS / "typos.yaml"
    result = cli("validate", str(flow), "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["flow_yaml"] == str(flow)
    assert report["warnings"] == []
    first = report["errors"][0]
    assert first == {
        "code": "schema:extra_forbidden",
        "loc": "flow.workspce",
        "line": 4,
        "col": 3,
        "msg": "unknown key 'workspce'",
        "hint": "did you mean 'workspace'?",
        "file": str(flow),
    }


def test_missing_flow_id_in_json_mode(cli: RunCli, tmp_path: Path) -> None:
    flow = tmp_path / "noid.yaml"
    flow.write_text("flow: {}\njobs: []\n")
    result = cli("validate", "--flow-yaml", str(flow), "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(e["code"], e["loc"]) for e in report["errors"]] == [("schema:missing", "flow.id")]


def test_missing_env_is_a_warning_then_an_error_in_strict_mode(cli: RunCli, tmp_path: Path) -> None:
    flow = tmp_path / "env.yaml"
    flow.write_text("flow:\n  id: f\n  description: '{{env.ORA_PASS}}'\njobs: []\n")
    lenient = cli("validate", str(flow))
    assert lenient.returncode == 0
    assert "semantic:missing_env" in lenient.stdout
    assert lenient.stdout.splitlines()[1].startswith(f"! {flow}:3:3 flow.description:")
    strict = cli("validate", str(flow), env={"AETHERFLOW_VALIDATE_ENV_STRICT": "true"})
    assert strict.returncode == 2
    assert strict.stdout.splitlines()[1].startswith(f"- {flow}:3:3")


def test_env_files_satisfy_missing_env(cli: RunCli, tmp_path: Path) -> None:
    flow = tmp_path / "env.yaml"
    flow.write_text("flow:\n  id: f\n  description: '{{env.ORA_PASS}}'\njobs: []\n")
    (tmp_path / "app.env").write_text("ORA_PASS=secret\n")
    files = json.dumps([{"type": "dotenv", "path": "app.env"}])
    result = cli(
        "validate",
        str(flow),
        env={"AETHERFLOW_VALIDATE_ENV_STRICT": "1", "AETHERFLOW_ENV_FILES_JSON": files},
    )
    assert result.returncode == 0
    assert result.stdout == f"OK: {flow}\n"


def test_missing_file(cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = cli("validate", str(missing))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"INVALID: {missing}",
        f"- {missing} file:not_found - file not found: {missing}",
    ]


def test_usage_errors_exit_2(cli: RunCli) -> None:
    none_given = cli("validate")
    assert none_given.returncode == 2
    assert "a flow file is required" in none_given.stderr
    two = cli("validate", "a.yaml", "--flow-yaml", "b.yaml")
    assert two.returncode == 2
    assert "two different flows" in two.stderr
    unknown = cli("validate", "--bogus")
    assert unknown.returncode == 2
    assert "unrecognized arguments: --bogus" in unknown.stderr


def test_invalid_boolean_setting_is_a_clear_error(cli: RunCli) -> None:
    result = cli(
        "validate", str(FLOWS / "minimal.yaml"), env={"AETHERFLOW_VALIDATE_ENV_STRICT": "maybe"}
    )
    assert result.returncode == 2
    assert "AETHERFLOW_VALIDATE_ENV_STRICT='maybe' is not a boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help(cli: RunCli) -> None:
    version = cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("aetherflow ")
    top = cli("--help")
    assert top.returncode == 0
    assert "examples:" in top.stdout
    sub = cli("validate", "--help")
    assert "aetherflow validate flows/nightly.yaml" in sub.stdout
    assert "--flow-yaml" in sub.stdout


HEAVY = [
    "pyarrow",
    "duckdb",
    "openpyxl",
    "paramiko",
    "smbprotocol",
    "smbclient",
    "psycopg",
    "sqlalchemy",
    "httpx",
    "opentelemetry",
    "pymysql",
]

PROBE = """
import json, sys
from aetherflow.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy})))
"""


def test_help_and_validate_do_not_import_heavy_libraries(cli: RunCli, tmp_path: Path) -> None:
    import subprocess
    import sys

    from .conftest import clean_env

    probe = PROBE.format(heavy=repr(set(HEAVY)))
    for args in (["--help"], ["validate", str(FLOWS / "minimal.yaml")]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
            check=False,
        )
        loaded = json.loads(result.stdout.strip().splitlines()[-1])
        assert loaded == [], f"{args} imported {loaded}"


RUN_PROBE = """
import json, sys
from aetherflow.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
prefixes = ("aetherflow.steps.", "aetherflow.connectors.", "aetherflow.spec.", "aetherflow.runner.")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))
"""


def test_run_imports_only_what_the_flow_needs(tmp_path: Path) -> None:
    """Start-up: a flow of ``check_items`` steps loads no other step or connector module, and
    no model of the bundle manifest, the scheduler or the JSON Schema export."""
    import subprocess
    import sys

    from .conftest import clean_env

    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "version: 1\nflow:\n  id: lean\n  state:\n    path: state.sqlite\n"
        "jobs:\n  - id: j\n    steps:\n      - id: s\n        type: check_items\n"
        "        inputs:\n          items: [1]\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-c", RUN_PROBE, "run", str(flow), "--log-level", "WARNING"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        check=False,
    )
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "aetherflow.steps.checks" in loaded  # the probe did run the flow
    unwanted = {
        "aetherflow.steps.db_steps",
        "aetherflow.steps.process",
        "aetherflow.steps.locking",
        "aetherflow.connectors.sqlite_db",
        "aetherflow.connectors.postgres_db",
        "aetherflow.spec.manifest",
        "aetherflow.spec.scheduler",
        "aetherflow.runner.jsonschema",
    }
    assert loaded & unwanted == set(), f"run imported {sorted(loaded & unwanted)}"
