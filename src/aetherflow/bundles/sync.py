"""Syncing a bundle: list, fingerprint, stage from the cache, switch ``active`` atomically.

Fixes over the predecessor: every listed path is checked (G30); ``allow_stale`` covers every
failure of the source, listing included (G31); syncs of one bundle are serialised by a file lock,
the active directory is switched with one rename and snapshots are written atomically (G34);
blobs are hard-linked instead of copied and a run syncs once (G35); an unchanged fingerprint
still verifies the active tree against its snapshot, so local edits are undone (G36).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aetherflow.bundles.fingerprint import fingerprint
from aetherflow.bundles.manifest import LoadedManifest
from aetherflow.bundles.sources import (
    BundleSource,
    RemoteFile,
    checked_listing,
    open_source,
    sha256_bytes,
)
from aetherflow.bundles.store import (
    BundleStore,
    place,
    remove_tree,
    store_blob,
    write_json_atomic,
)
from aetherflow.errors import BundleError

log = logging.getLogger(__name__)

StaleHandler = Callable[[str], None]


@dataclass(frozen=True)
class SyncResult:
    """What a sync did. ``local_root`` is the resolved tree of this fingerprint (stable for a
    run even when a later sync switches ``active``)."""

    bundle_id: str
    manifest: str
    work_root: str
    bundle_root: str
    local_root: str
    active_dir: str
    cache_dir: str
    fingerprints_dir: str
    fingerprint: str
    changed: bool
    fetched_files: list[str] = field(default_factory=list)
    stale: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``bundle sync --json``)."""
        return {
            "bundle_manifest": self.manifest,
            "bundle_id": self.bundle_id,
            "work_root": self.work_root,
            "bundle_root": self.bundle_root,
            "local_root": self.local_root,
            "active_dir": self.active_dir,
            "cache_dir": self.cache_dir,
            "fingerprints_dir": self.fingerprints_dir,
            "fingerprint": self.fingerprint,
            "changed": self.changed,
            "fetched_files": self.fetched_files,
            "stale": self.stale,
            "error": self.error,
        }


def sync_bundle(
    manifest: LoadedManifest,
    work_root: str | Path,
    *,
    allow_stale: bool = False,
    on_stale: StaleHandler | None = None,
    source: BundleSource | None = None,
) -> SyncResult:
    """Bring the local copy of ``manifest``'s bundle up to date and return where it is.

    Args:
        manifest: The loaded manifest.
        work_root: Parent of ``bundles/<id>``.
        allow_stale: On any failure of the source, keep using the current active tree.
        on_stale: Told the error message when the stale tree is used.
        source: The source to read (tests); by default the one the manifest describes.

    Raises:
        BundleError: The sync failed (and no stale tree may or can be used).
    """
    store = BundleStore.for_bundle(work_root, manifest.bundle_id)
    store.ensure()
    with store.locked():
        store.clear_staged()
        previous = store.read_latest()
        try:
            return _sync_locked(manifest, store, previous, source or open_source(manifest))
        except Exception as exc:
            message = str(exc) if isinstance(exc, BundleError) else f"{type(exc).__name__}: {exc}"
            _record_error(manifest, store, previous, message)
            active = store.active_tree()
            if allow_stale and active is not None and previous is not None:
                log.warning("bundle %s: using the stale copy: %s", manifest.bundle_id, message)
                if on_stale is not None:
                    on_stale(message)
                stale = _result(manifest, store, active, str(previous["fingerprint"]), False, [])
                return replace(stale, stale=True, error=message)
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"bundle {manifest.bundle_id}: sync failed: {message}") from exc


def _sync_locked(
    manifest: LoadedManifest,
    store: BundleStore,
    previous: dict[str, Any] | None,
    source: BundleSource,
) -> SyncResult:
    spec = manifest.spec.bundle
    files = checked_listing(source.list_files())  # every source, not only the built-in ones
    fetched: list[str] = []
    if spec.source.strict_fingerprint:
        files = [_hashed(store, source, item, fetched) for item in files]
    fp = fingerprint(files)
    active = store.active_tree()
    unchanged = previous is not None and previous.get("fingerprint") == fp and active is not None
    if unchanged and spec.fetch_policy == "cache_check" and active is not None:
        if _tree_matches(active, previous or {}):
            return _result(manifest, store, active, fp, False, fetched)
        log.warning("bundle %s: the active copy was modified locally; staging it again", spec.id)
    known = _known_shas(previous)
    staging = store.staged / f"bundle_{secrets.token_hex(6)}"
    recorded: list[dict[str, Any]] = []
    try:
        for item in files:
            sha = _blob_for(store, source, item, known, fetched)
            place(store.blob(sha), staging / item.rel_path)
            recorded.append(
                {"path": item.rel_path, "sha256": sha, "size": item.size, "mtime": item.mtime}
            )
        for required in (spec.entry_flow, spec.layout.profiles_file):
            if not (staging / required).is_file():
                raise BundleError(
                    f"bundle {spec.id}: {required!r} (from the manifest) is not in the bundle "
                    f"source ({len(files)} files listed)"
                )
        tree = store.versions / f"{fp[:12]}-{secrets.token_hex(4)}"
        staging.rename(tree)
    except BaseException:
        remove_tree(staging)
        raise
    old = store.active_tree()
    store.switch_active(tree)
    _write_snapshot(manifest, store, fp, recorded)
    store.prune_versions({tree} | ({old} if old is not None else set()))
    store.last_error_file.unlink(missing_ok=True)
    return _result(manifest, store, tree.resolve(), fp, True, fetched)


def _hashed(
    store: BundleStore, source: BundleSource, item: RemoteFile, fetched: list[str]
) -> RemoteFile:
    """``strict_fingerprint``: the item with the sha256 of its content (blob cached)."""
    if item.sha256:
        return item
    data = source.read_bytes(item.rel_path)
    fetched.append(item.rel_path)
    sha = sha256_bytes(data)
    store_blob(store, sha, data)
    return replace(item, sha256=sha)


def _known_shas(previous: dict[str, Any] | None) -> dict[str, tuple[Any, Any, str]]:
    """``rel_path → (size, mtime_ms, sha256)`` of the previous snapshot."""
    known: dict[str, tuple[Any, Any, str]] = {}
    for entry in (previous or {}).get("files", []):
        if isinstance(entry, dict) and entry.get("sha256"):
            known[str(entry["path"])] = (
                entry.get("size"),
                _ms(entry.get("mtime")),
                entry["sha256"],
            )
    return known


def _ms(mtime: Any) -> int | None:
    return int(mtime * 1000) if isinstance(mtime, int | float) else None


def _blob_for(
    store: BundleStore,
    source: BundleSource,
    item: RemoteFile,
    known: dict[str, tuple[Any, Any, str]],
    fetched: list[str],
) -> str:
    """The sha256 of ``item``'s content, with its blob in the cache (fetched when needed)."""
    if item.sha256:
        if _blob_ok(store, item.sha256):
            return item.sha256
        data = source.read_bytes(item.rel_path)
        fetched.append(item.rel_path)
        actual = sha256_bytes(data)
        if actual != item.sha256:
            raise BundleError(
                f"{item.rel_path}: content sha256 {actual} does not match the listed {item.sha256}"
            )
        store_blob(store, actual, data)
        return actual
    before = known.get(item.rel_path)
    same = before is not None and before[0] == item.size and before[1] == _ms(item.mtime)
    if before is not None and same and _blob_ok(store, before[2]):
        return before[2]
    data = source.read_bytes(item.rel_path)
    fetched.append(item.rel_path)
    sha = sha256_bytes(data)
    store_blob(store, sha, data)
    return sha


def _blob_ok(store: BundleStore, sha: str) -> bool:
    """True when the blob exists and still has its sha256 (a damaged blob is removed)."""
    blob = store.blob(sha)
    if not blob.is_file():
        return False
    if _file_sha(blob) == sha:
        return True
    blob.unlink(missing_ok=True)
    return False


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tree_matches(tree: Path, snapshot: dict[str, Any]) -> bool:
    """True when ``tree`` holds exactly the snapshot's files with their sha256."""
    expected = {
        str(e["path"]): str(e["sha256"]) for e in snapshot.get("files", []) if isinstance(e, dict)
    }
    present = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if not p.is_dir()}
    if present != set(expected):
        return False
    return all(_file_sha(tree / rel) == sha for rel, sha in expected.items())


def _write_snapshot(
    manifest: LoadedManifest, store: BundleStore, fp: str, files: list[dict[str, Any]]
) -> None:
    source = manifest.spec.bundle.source
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_json_atomic(
        store.fingerprints / f"{fp}.json",
        {
            "version": 1,
            "bundle_id": manifest.bundle_id,
            "fingerprint": fp,
            "created_at": now,
            "source": {"type": source.type, "base_path": source.base_path},
            "files": files,
            "strict_fingerprint": source.strict_fingerprint,
        },
    )
    write_json_atomic(
        store.latest_file, {"fingerprint": fp, "snapshot": f"{fp}.json", "updated_at": now}
    )


def _record_error(
    manifest: LoadedManifest, store: BundleStore, previous: dict[str, Any] | None, message: str
) -> None:
    source = manifest.spec.bundle.source
    try:
        write_json_atomic(
            store.last_error_file,
            {
                "bundle_id": manifest.bundle_id,
                "source_type": source.type,
                "base_path": source.base_path,
                "bundle_manifest": str(manifest.path),
                "old_fingerprint": (previous or {}).get("fingerprint"),
                "error": message,
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
    except BundleError as exc:  # the original failure matters more
        log.warning("bundle %s: %s", manifest.bundle_id, exc)


def _result(
    manifest: LoadedManifest,
    store: BundleStore,
    tree: Path,
    fp: str,
    changed: bool,
    fetched: list[str],
) -> SyncResult:
    return SyncResult(
        bundle_id=manifest.bundle_id,
        manifest=str(manifest.path),
        work_root=str(store.root.parent.parent),
        bundle_root=str(store.root),
        local_root=str(tree),
        active_dir=str(store.active),
        cache_dir=str(store.cache),
        fingerprints_dir=str(store.fingerprints),
        fingerprint=fp,
        changed=changed,
        fetched_files=fetched,
    )
