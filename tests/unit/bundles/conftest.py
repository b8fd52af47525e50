"""A bundle source directory and its manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.bundles.manifest import LoadedManifest, load_manifest

MANIFEST = """\
version: 1
bundle:
  id: demo
  source: {{type: filesystem, base_path: src, strict_fingerprint: {strict}}}
  layout: {{profiles_file: profiles.yaml}}
  entry_flow: flows/main.yaml
  fetch_policy: {policy}
"""


def write_manifest(tmp_path: Path, *, strict: bool = False, policy: str = "cache_check") -> Path:
    """A manifest for ``tmp_path/src``; returns its path."""
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFEST.format(strict=str(strict).lower(), policy=policy))
    return path


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """``src/`` with an entry flow, a profiles file and a plugin."""
    src = tmp_path / "src"
    (src / "flows").mkdir(parents=True)
    (src / "plugins").mkdir()
    (src / "flows" / "main.yaml").write_text("flow: {id: demo}\njobs: []\n")
    (src / "profiles.yaml").write_text("{}\n")
    (src / "plugins" / "steps.py").write_text("VALUE = 1\n")
    return src


@pytest.fixture
def manifest(tmp_path: Path, source_dir: Path) -> LoadedManifest:
    """The loaded manifest of ``source_dir``."""
    return load_manifest(write_manifest(tmp_path))
