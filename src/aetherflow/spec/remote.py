"""Metadata of a file on a remote system (SFTP, SMB, bundle sources)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RemoteFileMeta(BaseModel):
    """A remote file as listed by a connector.

    Attributes:
        path: Full remote path (``dir/name``).
        name: Base name.
        rel_path: Path relative to the listed directory (POSIX form).
        is_dir: True for directories.
        size: Size in bytes, when known.
        mtime: Modification time as epoch seconds, when known.
        sha256: Content hash, when the source provides one.
    """

    model_config = ConfigDict(extra="allow")

    path: str
    name: str | None = None
    rel_path: str | None = None
    is_dir: bool = False
    size: int | None = None
    mtime: float | None = None
    sha256: str | None = None
