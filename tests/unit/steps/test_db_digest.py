"""``FileDigest``: the sha256 of a file taken while another handle appends to it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from aetherflow.steps.db_writers import FileDigest, sha256_file


def test_the_digest_of_a_growing_file_is_the_digest_of_the_whole(tmp_path: Path) -> None:
    path = tmp_path / "growing.bin"
    chunks = [b"PAR1", bytes(range(256)) * 5000, b"", b"row group 2" * 1000, b"footerPAR1"]
    with path.open("wb") as writer, FileDigest(path) as digest:
        for chunk in chunks:
            writer.write(chunk)
            writer.flush()
            digest.update()
        digest.update()  # nothing new: no change
        writer.write(b"unflushed tail")
        writer.close()
        result = digest.finish()
    assert result == hashlib.sha256(b"".join(chunks) + b"unflushed tail").hexdigest()


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 << 20) + b"end")
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_the_digest_can_be_set_up_before_the_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "later.bin"
    with FileDigest(path) as digest:
        path.write_bytes(b"written after the digest was made")
        assert digest.finish() == hashlib.sha256(b"written after the digest was made").hexdigest()
