"""Bundles through the CLI: sync, status, runs from the synced copy, trust from the manifest."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import RunCli, clean_env

PLUGIN = textwrap.dedent(
    """
    import os
    from pathlib import Path

    from aetherflow.core.api import Step, register_step

    Path(os.environ["MARKERS"], "{name}.loaded").write_text("yes")


    @register_step("{name}")
    class Shout(Step):
        def run(self):
            return {{"said": "{name}"}}
    """
)


def write_plugin(directory: Path, name: str) -> Path:
    """A plugin registering step ``name``; importing it leaves ``<MARKERS>/<name>.loaded``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(PLUGIN.format(name=name))
    return directory


INPUTS = {
    "external.process": "{command: [echo, '{{env.GREETING:unset}}'], log: {stdout: capture}}",
    "check_items": "{items: [7]}",
}


class Bundle:
    """A filesystem bundle under ``tmp_path``: ``src/`` (the source), ``manifest.yaml``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.src = tmp_path / "src"
        self.manifest = tmp_path / "manifest.yaml"
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        (self.src / "flows").mkdir(parents=True)
        (self.src / "profiles.yaml").write_text("{}\n")
        self.flow("main.yaml", "external.process")
        (self.src / "app.env").write_text("GREETING=hello-from-bundle\n")
        self.write_manifest()

    def flow(self, name: str, step_type: str) -> None:
        """Write ``flows/<name>`` with one step of ``step_type`` (a process echoes GREETING)."""
        inputs = INPUTS.get(step_type, "{}")
        step = f"{{id: s, type: {step_type}, inputs: {inputs}}}"
        (self.src / "flows" / name).write_text(
            f"flow: {{id: bundled, state: {{path: '{self.tmp / 'state.db'}'}}}}\n"
            f"jobs:\n  - id: j\n    steps:\n      - {step}\n"
        )

    def write_manifest(self, extra: str = "") -> None:
        """The manifest, with ``extra`` YAML appended."""
        self.manifest.write_text(
            "version: 1\n"
            "bundle:\n  id: demo\n  source: {type: filesystem, base_path: src}\n"
            "  layout: {profiles_file: profiles.yaml}\n  entry_flow: flows/main.yaml\n"
            "env_files:\n  - {type: dotenv, path: app.env}\n" + extra
        )

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a CLI call."""
        return {
            "AETHERFLOW_WORK_ROOT": str(self.tmp / "work"),
            "MARKERS": str(self.markers),
            **extra,
        }

    def loaded(self) -> set[str]:
        """Names of the plugins that were imported."""
        return {p.name.removesuffix(".loaded") for p in self.markers.iterdir()}


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return Bundle(tmp_path)


def step_outputs(cli: RunCli, bundle: Bundle, run_id: str) -> dict[str, object]:
    shown = cli("runs", "show", run_id, "--state", str(bundle.tmp / "state.db"), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    return {"run": data, "outputs": data["jobs"][0]["steps"][0]["outputs"]}


def test_run_uses_the_synced_entry_flow_and_the_manifest_env_files(
    cli: RunCli, bundle: Bundle
) -> None:
    result = cli(
        "run", "--bundle-manifest", str(bundle.manifest), "--run-id", "r1", env=bundle.env()
    )
    assert result.returncode == 0, result.stderr
    work_copy = bundle.tmp / "work" / "bundles" / "demo" / "versions"
    assert f"yaml={work_copy}" in result.stderr
    shown = step_outputs(cli, bundle, "r1")
    assert shown["outputs"]["stdout"] == "hello-from-bundle\n"
    status = cli(
        "bundle", "status", "--bundle-manifest", str(bundle.manifest), "--json", env=bundle.env()
    )
    fingerprint = json.loads(status.stdout)["fingerprint"]
    assert shown["run"]["manifest"]["bundle_fingerprint"] == fingerprint
    assert f"bundle_fingerprint={fingerprint}" in result.stderr


def test_flow_argument_is_a_path_inside_the_bundle(cli: RunCli, bundle: Bundle) -> None:
    bundle.flow("other.yaml", "check_items")
    ok = cli("run", "flows/other.yaml", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert ok.returncode == 0, ok.stderr
    (bundle.tmp / "outside.yaml").write_text("flow: {id: x}\njobs: []\n")
    escape = cli(
        "run",
        "../../../../outside.yaml",
        "--bundle-manifest",
        str(bundle.manifest),
        env=bundle.env(),
    )
    assert escape.returncode == 2
    assert "is outside the bundle demo" in escape.stderr
    missing = cli(
        "validate", "flows/none.yaml", "--bundle-manifest", str(bundle.manifest), env=bundle.env()
    )
    assert missing.returncode == 2
    assert "flow 'flows/none.yaml' is not in bundle demo" in missing.stderr


def test_validate_checks_the_synced_copy(cli: RunCli, bundle: Bundle) -> None:
    result = cli("validate", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: ")
    assert "/work/bundles/demo/versions/" in result.stdout
    assert result.stdout.rstrip().endswith("flows/main.yaml")


def test_enterprise_manifest_loads_only_its_own_plugin_paths(cli: RunCli, bundle: Bundle) -> None:
    write_plugin(bundle.src / "plugins", "trusted")
    ambient = write_plugin(bundle.tmp / "ambient", "ambient")
    bundle.flow("main.yaml", "trusted")
    bundle.write_manifest("mode: enterprise\npaths:\n  plugins: [plugins]\n")
    result = cli(
        "run",
        "--bundle-manifest",
        str(bundle.manifest),
        env=bundle.env(AETHERFLOW_PLUGIN_PATHS=str(ambient)),
    )
    assert result.returncode == 0, result.stderr
    assert bundle.loaded() == {"trusted"}
    assert "plugin_source_ignored" in result.stderr
    assert "mode=enterprise" in result.stderr


def test_a_pinned_plugin_with_one_byte_changed_refuses_the_run(cli: RunCli, bundle: Bundle) -> None:
    plugins = write_plugin(bundle.src / "plugins", "trusted")
    hashed = cli("plugins", "hash", str(plugins))
    assert hashed.returncode == 0, hashed.stderr
    pin = hashed.stdout.strip()
    bundle.flow("main.yaml", "trusted")
    bundle.write_manifest(
        f"mode: enterprise\npaths:\n  plugins: [{{path: plugins, sha256: {pin}}}]\n"
    )
    ok = cli("run", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert ok.returncode == 0, ok.stderr
    source = plugins / "trusted.py"
    source.write_text(source.read_text().replace("said", "saiD"))
    refused = cli("run", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert refused.returncode == 2
    assert "does not match its pinned sha256" in refused.stderr
    assert "trusted.py" in refused.stderr


def test_manifest_env_file_cannot_switch_the_mode(cli: RunCli, bundle: Bundle) -> None:
    ambient = write_plugin(bundle.tmp / "ambient", "ambient")
    (bundle.src / "app.env").write_text("AETHERFLOW_MODE=internal_fast\nGREETING=hi\n")
    bundle.write_manifest("mode: enterprise\n")
    result = cli(
        "run",
        "--bundle-manifest",
        str(bundle.manifest),
        env=bundle.env(AETHERFLOW_PLUGIN_PATHS=str(ambient)),
    )
    assert result.returncode == 0, result.stderr
    assert bundle.loaded() == set()
    assert "AETHERFLOW_MODE cannot be set by an env file" in result.stderr


def test_internal_fast_bundle_loads_its_plugins_dir(cli: RunCli, bundle: Bundle) -> None:
    write_plugin(bundle.src / "plugins", "local")
    bundle.flow("main.yaml", "local")
    manifest = bundle.manifest.read_text().replace(
        "layout: {profiles_file: profiles.yaml}",
        "layout: {profiles_file: profiles.yaml, plugins_dir: plugins}",
    )
    bundle.manifest.write_text(manifest)
    result = cli("run", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert result.returncode == 0, result.stderr
    assert bundle.loaded() == {"local"}


def test_stale_copy_only_with_allow_stale_bundle(cli: RunCli, bundle: Bundle) -> None:
    first = cli("bundle", "sync", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("CHANGED: bundle demo synced to ")
    shutil.rmtree(bundle.src)
    failed = cli("run", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert failed.returncode == 1
    assert "bundle source directory" in failed.stderr
    assert "does not exist" in failed.stderr
    stale = cli(
        "run",
        "--bundle-manifest",
        str(bundle.manifest),
        "--allow-stale-bundle",
        "--log-format",
        "json",
        env=bundle.env(),
    )
    assert stale.returncode == 0, stale.stderr
    events = [json.loads(line) for line in stale.stderr.splitlines()]
    warned = [e for e in events if e["event"] == "bundle_stale"]
    assert len(warned) == 1
    assert "does not exist" in warned[0]["error"]
    status = cli("bundle", "status", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert "last_error=bundle source directory" in status.stdout


def test_sync_text_json_and_print_local_root(cli: RunCli, bundle: Bundle) -> None:
    first = cli(
        "bundle",
        "sync",
        "--bundle-manifest",
        str(bundle.manifest),
        "--print-local-root",
        env=bundle.env(),
    )
    assert first.returncode == 0, first.stderr
    line, root = first.stdout.splitlines()
    assert line.startswith("CHANGED: ")
    assert Path(root, "flows", "main.yaml").is_file()
    again = cli(
        "bundle", "sync", "--bundle-manifest", str(bundle.manifest), "--json", env=bundle.env()
    )
    data = json.loads(again.stdout)
    assert data["changed"] is False
    assert data["local_root"] == root
    assert data["fetched_files"] == []


def test_concurrent_syncs_stage_once(bundle: Bundle) -> None:
    command = [
        sys.executable,
        "-m",
        "aetherflow",
        "bundle",
        "sync",
        "--bundle-manifest",
        str(bundle.manifest),
        "--json",
    ]
    procs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(bundle.env()),
        )
        for _ in range(4)
    ]
    results = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert [r["changed"] for r in results].count(True) == 1
    assert len({r["local_root"] for r in results}) == 1
    versions = list((bundle.tmp / "work" / "bundles" / "demo" / "versions").iterdir())
    assert len(versions) == 1


def test_invalid_manifest_is_exit_2_with_position(cli: RunCli, bundle: Bundle) -> None:
    bundle.manifest.write_text("version: 1\nbundle:\n  id: demo\n  entry_flw: x.yaml\n")
    result = cli("run", "--bundle-manifest", str(bundle.manifest), env=bundle.env())
    assert result.returncode == 2
    assert f"{bundle.manifest}:4:3 bundle.entry_flw: schema:extra_forbidden" in result.stderr


def test_allow_stale_needs_a_manifest(cli: RunCli, bundle: Bundle) -> None:
    result = cli("run", "x.yaml", "--allow-stale-bundle", env=bundle.env())
    assert result.returncode == 2
    assert "--allow-stale-bundle needs --bundle-manifest" in result.stderr
