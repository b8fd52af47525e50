"""From a synced bundle to what a run needs: env layers, the flow file, the plugin plan inputs.

Env snapshot layers (``50-config-and-trust.md``): process env → ``AETHERFLOW_ENV_FILES_JSON``
files → the manifest's ``env_files`` (relative to the bundle's local root; predecessor gap G33) →
the keys injected here. The manifest's ``mode`` wins over ``AETHERFLOW_MODE``; env files can
set neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aetherflow.bundles.manifest import LoadedManifest
from aetherflow.bundles.sync import SyncResult
from aetherflow.errors import BundleError
from aetherflow.runtime.envfiles import load_env_files
from aetherflow.runtime.snapshot import PROTECTED_FROM_ENV_FILES

BUNDLE_ENV_KEYS = (
    "AETHERFLOW_LOCAL_ROOT_DIR",
    "AETHERFLOW_ACTIVE_DIR",
    "AETHERFLOW_CACHE_DIR",
    "AETHERFLOW_PROFILES_FILE",
    "AETHERFLOW_BUNDLE_ID",
    "AETHERFLOW_BUNDLE_FINGERPRINT",
)


@dataclass(frozen=True)
class BundleRun:
    """A manifest and the synced copy a run (or validation) uses."""

    manifest: LoadedManifest
    sync: SyncResult

    @property
    def root(self) -> Path:
        """The local root: the resolved tree of the synced fingerprint."""
        return Path(self.sync.local_root)

    @property
    def mode(self) -> str | None:
        """The manifest's ``mode``, if it sets one."""
        mode = self.manifest.spec.mode
        return None if mode is None else str(mode)

    def env_file_layer(self, on_ignored: Callable[[str], None] | None = None) -> dict[str, str]:
        """The manifest's env files, loaded relative to the local root.

        Keys that decide trust (``AETHERFLOW_MODE``, ...) are dropped and reported.

        Raises:
            ConfigError: A non-optional env file is missing or invalid.
        """
        layer = load_env_files(self.manifest.spec.env_files, base_dir=self.root)
        for key in PROTECTED_FROM_ENV_FILES:
            if layer.pop(key, None) is not None and on_ignored is not None:
                on_ignored(key)
        return layer

    def injected(self) -> dict[str, str]:
        """The keys the bundle sets (applied after every env file)."""
        layer = {
            "AETHERFLOW_LOCAL_ROOT_DIR": str(self.root),
            "AETHERFLOW_ACTIVE_DIR": str(self.root),
            "AETHERFLOW_CACHE_DIR": self.sync.cache_dir,
            "AETHERFLOW_PROFILES_FILE": str(
                self.inside(self.manifest.spec.bundle.layout.profiles_file)
            ),
            "AETHERFLOW_BUNDLE_ID": self.sync.bundle_id,
            "AETHERFLOW_BUNDLE_FINGERPRINT": self.sync.fingerprint,
        }
        if self.mode is not None:
            layer["AETHERFLOW_MODE"] = self.mode
        return layer

    def inside(self, rel_path: str) -> Path:
        """``rel_path`` resolved in the local root.

        Raises:
            BundleError: The path leaves the bundle.
        """
        root = self.root.resolve()
        path = (root / rel_path).resolve()
        if path != root and root not in path.parents:
            raise BundleError(f"{rel_path!r} is outside the bundle {self.sync.bundle_id}")
        return path

    def flow_file(self, flow: str | None) -> str:
        """The flow to validate and run: ``flow`` inside the bundle, else ``entry_flow``.

        Raises:
            BundleError: The flow is outside the bundle or does not exist in it.
        """
        rel = flow if flow else self.manifest.spec.bundle.entry_flow
        path = self.inside(rel)
        if not path.is_file():
            raise BundleError(
                f"flow {rel!r} is not in bundle {self.sync.bundle_id} "
                f"(fingerprint {self.sync.fingerprint[:12]}, local root {self.root})"
            )
        return str(path)


def with_bundle_env(
    env: Mapping[str, str], bundle: BundleRun, on_ignored: Callable[[str], None] | None = None
) -> dict[str, str]:
    """``env`` with the manifest's env files and the bundle's keys layered on top."""
    return {**env, **bundle.env_file_layer(on_ignored), **bundle.injected()}
