"""The bundle fingerprint, computed as the predecessor did (so fingerprints stay comparable).

For every file sorted by ``rel_path`` the signature is ``sha256:<hex>`` when a sha256 is known,
else ``sz:<size or 0>|mt_ms:<int(mtime * 1000) or 0>``; the fingerprint is the sha256 of the
compact JSON list of ``[rel_path, signature]`` pairs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from aetherflow.bundles.sources import RemoteFile


def signature(item: RemoteFile) -> str:
    """The signature of one listed file."""
    if item.sha256:
        return f"sha256:{item.sha256}"
    mtime_ms = int(item.mtime * 1000) if item.mtime else 0
    return f"sz:{item.size or 0}|mt_ms:{mtime_ms}"


def fingerprint(files: Iterable[RemoteFile]) -> str:
    """The fingerprint of a listing (order-independent: sorted by ``rel_path`` first)."""
    pairs = [[item.rel_path, signature(item)] for item in sorted(files)]
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()
