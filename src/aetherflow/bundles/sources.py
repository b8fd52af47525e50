"""Bundle sources: list a bundle's files and read them.

Every listed ``rel_path`` is checked before it is used as a path (no absolute paths, no ``..``,
no backslashes or NUL; predecessor gap G30), whatever the source. Only the ``filesystem`` source
exists in this version; the other types of the manifest schema give a clear error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from aetherflow.bundles.manifest import LoadedManifest
from aetherflow.errors import BundleError

SKIPPED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__"})
"""Directory names a filesystem source never includes (version control, bytecode)."""


@dataclass(frozen=True, order=True)
class RemoteFile:
    """One file of a source listing. ``sha256`` is known only when the source provides it."""

    rel_path: str
    size: int | None = None
    mtime: float | None = None
    sha256: str | None = None


class BundleSource(Protocol):
    """Where a bundle's files come from."""

    def list_files(self) -> list[RemoteFile]:
        """Every file of the bundle, sorted by ``rel_path``."""
        ...

    def read_bytes(self, rel_path: str) -> bytes:
        """The content of one listed file."""
        ...


def check_rel_path(rel_path: str) -> str:
    """``rel_path`` when it is a safe relative POSIX path inside the bundle.

    Raises:
        BundleError: Empty, absolute, with ``..``/``.`` segments, backslashes or NUL.
    """
    parts = PurePosixPath(rel_path).parts
    unsafe = (
        not rel_path
        or rel_path.startswith("/")
        or "\\" in rel_path
        or "\x00" in rel_path
        or any(part in {"..", "."} for part in rel_path.split("/"))
        or not parts
    )
    if unsafe:
        raise BundleError(
            f"bundle source listed the unsafe path {rel_path!r}: bundle paths must be relative, "
            "without '..', '.', backslashes or NUL"
        )
    return rel_path


def checked_listing(files: Iterable[RemoteFile]) -> list[RemoteFile]:
    """The listing sorted, every path checked, duplicates refused.

    Raises:
        BundleError: An unsafe or duplicate path.
    """
    listing = sorted(files)
    seen: set[str] = set()
    for item in listing:
        check_rel_path(item.rel_path)
        if item.rel_path in seen:
            raise BundleError(f"bundle source listed {item.rel_path!r} twice")
        seen.add(item.rel_path)
    return listing


class FilesystemSource:
    """A directory on this machine (``bundle.source.base_path``).

    Regular files under the base, recursively; version-control and bytecode directories are
    skipped, and so are symlinks (a bundle is a copy of reviewed files, not of what a link points
    at). A missing base directory is an error (the predecessor listed nothing).
    """

    def __init__(self, base: Path) -> None:
        self.base = base

    def list_files(self) -> list[RemoteFile]:
        """See :class:`BundleSource`."""
        if not self.base.is_dir():
            raise BundleError(f"bundle source directory {self.base} does not exist")
        found: list[RemoteFile] = []
        for path in self._walk(self.base):
            info = path.stat()
            rel = path.relative_to(self.base).as_posix()
            found.append(RemoteFile(rel, size=info.st_size, mtime=info.st_mtime))
        return checked_listing(found)

    def _walk(self, directory: Path) -> Iterable[Path]:
        for entry in sorted(directory.iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in SKIPPED_DIRS:
                    yield from self._walk(entry)
            elif entry.is_file():
                yield entry

    def read_bytes(self, rel_path: str) -> bytes:
        """See :class:`BundleSource`."""
        try:
            return (self.base / check_rel_path(rel_path)).read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read {rel_path!r} from {self.base}: {exc}") from exc


def open_source(manifest: LoadedManifest) -> BundleSource:
    """The source ``bundle.source`` describes.

    Raises:
        BundleError: A source type this version cannot sync.
    """
    source = manifest.spec.bundle.source
    if source.type == "filesystem":
        base = Path(source.base_path or "")
        if not base.is_absolute():
            base = manifest.dir / base
        return FilesystemSource(base)
    raise BundleError(
        f"bundle source type {source.type!r} is not available in this version "
        "(available: filesystem)"
    )


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
