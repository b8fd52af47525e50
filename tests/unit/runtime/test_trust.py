"""The plugin trust policy per mode, tree hashes and pinning, and env files vs the mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aetherflow.errors import PluginError
from aetherflow.runtime.snapshot import build_snapshot
from aetherflow.runtime.trust import plugin_plan, tree_files, tree_hash, verify_pin
from aetherflow.spec.manifest import BundleManifestSpec


def plugin_dir(root: Path, name: str = "plugins") -> Path:
    directory = root / name
    (directory / "helpers").mkdir(parents=True)
    (directory / "steps.py").write_text("X = 1\n")
    (directory / "helpers" / "_util.py").write_text("Y = 2\n")
    (directory / "__pycache__").mkdir()
    (directory / "__pycache__" / "steps.cpython-311.pyc").write_bytes(b"\x00")
    (directory / ".git").mkdir()
    (directory / ".git" / "HEAD").write_text("ref")
    return directory


def manifest(**paths: object) -> BundleManifestSpec:
    return BundleManifestSpec.model_validate(
        {
            "mode": "enterprise",
            "bundle": {
                "id": "b",
                "source": {"type": "filesystem", "base_path": "."},
                "layout": {"profiles_file": "profiles.yaml", "plugins_dir": "ambient"},
                "entry_flow": "flow.yaml",
            },
            "paths": paths,
        }
    )


def test_tree_hash_covers_source_and_skips_caches(tmp_path: Path) -> None:
    directory = plugin_dir(tmp_path)
    assert [rel for rel, _ in tree_files(directory)] == ["helpers/_util.py", "steps.py"]
    before = tree_hash(directory)
    (directory / "__pycache__" / "steps.cpython-311.pyc").write_bytes(b"\x01")
    assert tree_hash(directory) == before
    (directory / "helpers" / "_util.py").write_text("Y = 3\n")  # one byte changed
    assert tree_hash(directory) != before


def test_internal_fast_loads_ambient_paths_and_every_entry_point(tmp_path: Path) -> None:
    plan = plugin_plan(enterprise=False, ambient_paths=["/a", "/b"])
    assert plan.directories == [Path("/a"), Path("/b")]
    assert plan.entry_points is None
    assert plan.ignored == []


def test_enterprise_without_a_manifest_loads_nothing_ambient() -> None:
    plan = plugin_plan(enterprise=True, ambient_paths=["/a"])
    assert plan.directories == []
    assert plan.entry_points == []
    assert plan.ignored == ["AETHERFLOW_PLUGIN_PATHS=/a"]


def test_enterprise_with_a_manifest_loads_only_its_paths(tmp_path: Path) -> None:
    directory = plugin_dir(tmp_path)
    spec = manifest(plugins=["plugins"], entry_points=["vendor"])
    plan = plugin_plan(enterprise=True, ambient_paths=["/a"], manifest=spec, bundle_root=tmp_path)
    assert plan.directories == [directory]
    assert plan.entry_points == ["vendor"]
    assert plan.ignored == ["AETHERFLOW_PLUGIN_PATHS=/a", "bundle layout.plugins_dir=ambient"]


def test_a_pinned_directory_must_match(tmp_path: Path) -> None:
    directory = plugin_dir(tmp_path)
    pinned = manifest(plugins=[{"path": "plugins", "sha256": tree_hash(directory)}])
    plan = plugin_plan(enterprise=True, ambient_paths=[], manifest=pinned, bundle_root=tmp_path)
    assert plan.directories == [directory]
    (directory / "steps.py").write_text("X = 2\n")
    with pytest.raises(PluginError) as caught:
        plugin_plan(enterprise=True, ambient_paths=[], manifest=pinned, bundle_root=tmp_path)
    message = str(caught.value)
    assert "does not match its pinned sha256" in message
    assert "steps.py" in message
    assert "helpers/_util.py" in message


def test_verify_pin_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        verify_pin(tmp_path / "nope", "0" * 64)


def test_env_files_cannot_switch_the_mode(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("AETHERFLOW_MODE=internal_fast\nOTHER=1\n")
    ignored: list[str] = []
    files = json.dumps([{"type": "dotenv", "path": str(tmp_path / "app.env")}])
    env = build_snapshot(
        {"AETHERFLOW_MODE": "enterprise", "AETHERFLOW_ENV_FILES_JSON": files},
        on_ignored=ignored.append,
    )
    assert env["AETHERFLOW_MODE"] == "enterprise"
    assert env["OTHER"] == "1"
    assert ignored == ["AETHERFLOW_MODE"]
