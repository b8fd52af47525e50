"""``bundle status``: what is synced locally, without touching the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aetherflow.bundles.manifest import LoadedManifest
from aetherflow.bundles.store import BundleStore, read_json


def bundle_status(manifest: LoadedManifest, work_root: str | Path) -> dict[str, Any]:
    """The local state of ``manifest``'s bundle (the predecessor's keys plus ``local_root``
    and ``last_error``)."""
    store = BundleStore.for_bundle(work_root, manifest.bundle_id)
    latest = read_json(store.latest_file)
    fingerprint = latest.get("fingerprint") if isinstance(latest, dict) else None
    active = store.active_tree()
    last_error = read_json(store.last_error_file)
    return {
        "bundle_manifest": str(manifest.path),
        "bundle_id": manifest.bundle_id,
        "work_root": str(work_root),
        "bundle_root": str(store.root),
        "active_dir": str(store.active),
        "local_root": str(active) if active is not None else None,
        "cache_dir": str(store.cache),
        "fingerprints_dir": str(store.fingerprints),
        "fingerprint": fingerprint,
        "has_active": active is not None,
        "last_error": last_error.get("error") if isinstance(last_error, dict) else None,
    }
