"""The trust policy for plugins: which code may run, per mode (``50-config-and-trust.md``).

=============================  ======================  ===================================
Source                         internal_fast           enterprise
=============================  ======================  ===================================
``AETHERFLOW_PLUGIN_PATHS``    loaded                  ignored (warning)
bundle ``layout.plugins_dir``  loaded                  ignored
manifest ``paths.plugins``     ignored                 the only plugin dirs, may be pinned
entry points                   all                     only ``paths.entry_points``
=============================  ======================  ===================================

A pinned entry ``{path, sha256}`` must match :func:`tree_hash` of the directory, or the run is
refused (exit 2) with the current per-file hashes, so the operator can see what changed against
the listing of the reviewed tree (``aetherflow plugins hash DIR --files``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aetherflow.errors import PluginError

if TYPE_CHECKING:  # the models are imported only where a manifest is read
    from aetherflow.spec.manifest import BundleManifestSpec


def tree_files(directory: Path) -> list[tuple[str, str]]:
    """``(relative POSIX path, sha256)`` of every file under ``directory``, sorted.

    Hidden files and directories, ``__pycache__`` and ``*.pyc`` are left out (they are not
    reviewed source); everything else counts — helper modules and data files are code too.
    """
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        parts = relative.parts
        if any(p.startswith(".") or p == "__pycache__" for p in parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            found.append((relative.as_posix(), hashlib.sha256(path.read_bytes()).hexdigest()))
    return found


def tree_hash(directory: Path) -> str:
    """The pinning hash of a plugin directory: sha256 over the sorted ``path\\0sha256\\n`` lines."""
    digest = hashlib.sha256()
    for relative, file_hash in tree_files(directory):
        digest.update(f"{relative}\0{file_hash}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class PluginPlan:
    """What plugin code a run may load.

    Attributes:
        directories: Plugin directories to load, in order.
        entry_points: None (all entry points) or the allowed names.
        ignored: Sources ignored by the policy, for a warning.
    """

    directories: list[Path] = field(default_factory=list)
    entry_points: list[str] | None = None
    ignored: list[str] = field(default_factory=list)


def _resolve(root: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else root / path


def verify_pin(directory: Path, expected: str) -> None:
    """Refuse a pinned directory whose tree hash changed.

    Raises:
        PluginError: Missing directory or hash mismatch (the message lists the current files).
    """
    if not directory.is_dir():
        raise PluginError(f"pinned plugin directory {directory} does not exist")
    actual = tree_hash(directory)
    if actual != expected:
        listing = "; ".join(f"{rel} {digest[:12]}" for rel, digest in tree_files(directory))
        raise PluginError(
            f"plugin directory {directory} does not match its pinned sha256 {expected} "
            f"(now {actual}); files now: {listing}. Compare with "
            f"'aetherflow plugins hash {directory} --files' of the reviewed tree"
        )


def plugin_plan(
    *,
    enterprise: bool,
    ambient_paths: Sequence[str],
    manifest: BundleManifestSpec | None = None,
    bundle_root: Path | None = None,
) -> PluginPlan:
    """Decide the plugin sources of a run under the mode's policy (pins are verified here).

    Raises:
        PluginError: A pinned directory changed or is missing.
    """
    if not enterprise:
        directories = [Path(p) for p in ambient_paths]
        if manifest is not None and bundle_root is not None and manifest.bundle.layout.plugins_dir:
            directories.append(bundle_root / manifest.bundle.layout.plugins_dir)
        return PluginPlan(directories=directories, entry_points=None)
    ignored = [f"AETHERFLOW_PLUGIN_PATHS={','.join(ambient_paths)}"] if ambient_paths else []
    if manifest is None:
        return PluginPlan(directories=[], entry_points=[], ignored=ignored)
    root = bundle_root or Path()
    if manifest.bundle.layout.plugins_dir:
        ignored.append(f"bundle layout.plugins_dir={manifest.bundle.layout.plugins_dir}")
    directories = []
    for entry in manifest.paths.plugins:
        if isinstance(entry, str):
            directory = _resolve(root, entry)
        else:  # a pinned path
            directory = _resolve(root, entry.path)
            if entry.sha256:
                verify_pin(directory, entry.sha256)
        directories.append(directory)
    return PluginPlan(
        directories=directories, entry_points=list(manifest.paths.entry_points), ignored=ignored
    )
