"""The local bundle store under ``<work_root>/bundles/<bundle_id>/``.

::

    active -> versions/<name>     symlink, switched atomically (never a moment without one)
    versions/<name>/              fully staged trees; the active one and the previous one are kept
    cache/<sha256>                content-addressed blobs (read-only), hard-linked into versions
    fingerprints/<fp>.json        snapshot: the files of that fingerprint with their sha256
    fingerprints/latest.json      {fingerprint, snapshot, updated_at}
    staged/                       work area of a sync in progress (emptied by the next sync)
    last_error.json               the last failed sync
    sync.lock                     held (flock) while a sync runs: concurrent syncs wait
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.errors import BundleError


@dataclass(frozen=True)
class BundleStore:
    """Paths of one bundle's local store."""

    root: Path

    @classmethod
    def for_bundle(cls, work_root: str | Path, bundle_id: str) -> BundleStore:
        """The store of ``bundle_id`` under ``work_root`` (ids are validated identifiers)."""
        return cls(Path(work_root) / "bundles" / bundle_id)

    @property
    def active(self) -> Path:
        """The ``active`` symlink."""
        return self.root / "active"

    @property
    def versions(self) -> Path:
        """Staged trees."""
        return self.root / "versions"

    @property
    def cache(self) -> Path:
        """Content-addressed blobs."""
        return self.root / "cache"

    @property
    def fingerprints(self) -> Path:
        """Snapshots and ``latest.json``."""
        return self.root / "fingerprints"

    @property
    def staged(self) -> Path:
        """Work area of a running sync."""
        return self.root / "staged"

    @property
    def latest_file(self) -> Path:
        """``fingerprints/latest.json``."""
        return self.fingerprints / "latest.json"

    @property
    def last_error_file(self) -> Path:
        """``last_error.json``."""
        return self.root / "last_error.json"

    def blob(self, sha256: str) -> Path:
        """The cache path of a blob."""
        return self.cache / sha256

    def ensure(self) -> None:
        """Create the store's directories."""
        for directory in (self.versions, self.cache, self.fingerprints, self.staged):
            directory.mkdir(parents=True, exist_ok=True)

    def active_tree(self) -> Path | None:
        """The resolved directory ``active`` points at, or None when there is none."""
        if not self.active.exists():
            return None
        return self.active.resolve()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's sync lock (blocks while another process syncs)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "sync.lock", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read_latest(self) -> dict[str, Any] | None:
        """``latest.json`` and its snapshot merged (``files`` included), or None."""
        latest = read_json(self.latest_file)
        if not isinstance(latest, dict) or not latest.get("snapshot"):
            return None
        snapshot = read_json(self.fingerprints / str(latest["snapshot"]))
        if not isinstance(snapshot, dict):
            return None
        return {**snapshot, **latest}

    def switch_active(self, tree: Path) -> None:
        """Point ``active`` at ``tree`` (a directory in ``versions``) in one atomic rename."""
        if self.active.exists() and not self.active.is_symlink():
            # A real directory (left by an older layout): move it aside first.
            self.active.rename(self.versions / f"legacy-{secrets.token_hex(4)}")
        link = self.root / f".active-{secrets.token_hex(4)}"
        link.symlink_to(tree.relative_to(self.root))
        os.replace(link, self.active)

    def prune_versions(self, keep: set[Path]) -> None:
        """Remove every version tree not in ``keep`` (the active one and the previous one)."""
        kept = {path.resolve() for path in keep}
        for tree in self.versions.iterdir():
            if tree.resolve() not in kept:
                remove_tree(tree)

    def clear_staged(self) -> None:
        """Remove leftovers of syncs that were killed (call with the lock held)."""
        for leftover in self.staged.iterdir():
            remove_tree(leftover)


def remove_tree(path: Path) -> None:
    """Remove a directory tree whose files may be read-only."""

    def _writable_then_retry(func: Any, target: str, _exc: Any) -> None:
        os.chmod(target, 0o700)
        func(target)

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=_writable_then_retry)
    else:
        path.unlink(missing_ok=True)


def read_json(path: Path) -> Any:
    """A JSON file's value, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to a temp file in the same directory, fsync it and rename it into place."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise BundleError(f"cannot write {path}: {exc}") from exc


def store_blob(store: BundleStore, sha256: str, data: bytes) -> Path:
    """Write ``data`` as the read-only blob ``sha256`` (atomically; kept when it exists)."""
    blob = store.blob(sha256)
    if blob.exists():
        return blob
    temp = store.cache / f".{sha256}.{secrets.token_hex(4)}.tmp"
    temp.write_bytes(data)
    temp.chmod(0o444)
    os.replace(temp, blob)
    return blob


def place(blob: Path, target: Path) -> None:
    """Put ``blob`` at ``target``: a hard link when the filesystem allows, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(blob, target)
    except OSError:
        shutil.copyfile(blob, target)
        target.chmod(0o444)
