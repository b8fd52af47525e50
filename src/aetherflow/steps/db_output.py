"""Atomic output files of the data steps: a temp file next to the final one, renamed over it
only when the step succeeds; temp files of writers that were killed are removed by the next
writer of the same file on the same host."""

from __future__ import annotations

import glob
import hashlib
import os
import re
import secrets
import socket
from pathlib import Path
from types import TracebackType

from aetherflow.errors import StepError

_HOST_ID = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
"""Names this host in temp file names (an output directory may be shared between hosts)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_orphaned_temps(final: Path) -> list[Path]:
    """Remove temp files of ``final`` left by writers on this host that no longer run (a
    ``kill -9`` cannot clean up after itself); the removed paths.

    Temp files of live processes and of other hosts are left alone.
    """
    removed = []
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.af-(\d+)-([0-9a-f]{{8}})\.[0-9a-f]+\.tmp$")
    for candidate in final.parent.glob(f".{glob.escape(final.name)}.af-*.tmp"):
        match = pattern.match(candidate.name)
        if match and match.group(2) == _HOST_ID and not _alive(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


class AtomicFile:
    """A temp file next to ``final``, renamed over it by :meth:`publish`, removed otherwise.

    Used as a context manager: leaving the block without :meth:`publish` (an error, a failed
    expectation, an interrupt) removes the temp file.
    """

    def __init__(self, final: Path) -> None:
        if final.is_dir():
            raise StepError(f"output {final} is a directory; name a file")
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        remove_orphaned_temps(final)
        self.temp = final.with_name(
            f".{final.name}.af-{os.getpid()}-{_HOST_ID}.{secrets.token_hex(4)}.tmp"
        )
        self.published = False

    def __enter__(self) -> AtomicFile:
        return self

    def publish(self) -> None:
        """Move the temp file into place (atomic on one filesystem)."""
        os.replace(self.temp, self.final)
        self.published = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.published:
            self.temp.unlink(missing_ok=True)
