"""The path sandbox: one helper for every built-in step that touches the local filesystem.

Relative paths resolve under the job's artifacts directory. A path must stay inside the allowed
roots both **before** and **after** resolving symlinks, and no existing component of it may be a
symlink that points outside the roots (the predecessor checked an already resolved path, which
cannot see symlinks; gaps G46/G55).

* ``internal_fast``: roots = the workspace root and the job's artifacts directory; the sandbox can
  be switched off with ``AETHERFLOW_STRICT_SANDBOX=false``.
* ``enterprise``: the job's artifacts directory only, always on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aetherflow.errors import ConfigError


class SandboxError(ConfigError):
    """A step input names a path outside the allowed roots."""


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class Sandbox:
    """Resolves and checks step paths.

    Attributes:
        base: Where relative paths resolve (the job's artifacts directory).
        roots: Allowed roots (absolute).
        enabled: False only when the user switched the sandbox off (internal_fast).
        enterprise: Enterprise mode (messages say so).
    """

    base: Path
    roots: Sequence[Path] = field(default_factory=tuple)
    enabled: bool = True
    enterprise: bool = False

    @classmethod
    def for_job(
        cls, artifacts_dir: Path, workspace_root: Path, *, enterprise: bool, strict: bool
    ) -> Sandbox:
        """The sandbox of one job under the mode's rules."""
        artifacts = Path(os.path.abspath(artifacts_dir))
        if enterprise:
            return cls(base=artifacts, roots=(artifacts,), enabled=True, enterprise=True)
        roots = (Path(os.path.abspath(workspace_root)), artifacts)
        return cls(base=artifacts, roots=roots, enabled=strict)

    def resolve(self, value: str | os.PathLike[str], *, key: str) -> Path:
        """Resolve a step path and check it.

        Args:
            value: The path as given in the step inputs.
            key: The input key (named in errors), e.g. ``log.file_path``.

        Returns:
            The absolute path (symlinks of existing components resolved).

        Raises:
            SandboxError: The path escapes the allowed roots, lexically or through a symlink.
        """
        raw = Path(value)
        lexical = Path(os.path.normpath(raw if raw.is_absolute() else self.base / raw))
        if not self.enabled:
            return lexical
        if not any(_inside(lexical, root) for root in self.roots):
            raise self._error(key, value, "is outside the allowed roots")
        real_roots = [Path(os.path.realpath(root)) for root in self.roots]
        self._check_symlinks(lexical, real_roots, key, value)
        resolved = Path(os.path.realpath(lexical))
        if not any(_inside(resolved, root) for root in real_roots):
            raise self._error(key, value, f"resolves to {resolved}, outside the allowed roots")
        return resolved

    def _check_symlinks(
        self, lexical: Path, real_roots: list[Path], key: str, value: str | os.PathLike[str]
    ) -> None:
        current = Path(lexical.anchor)
        for part in lexical.parts[1:]:
            current = current / part
            if current.is_symlink():
                target = Path(os.path.realpath(current))
                if not any(_inside(target, root) for root in real_roots):
                    raise self._error(key, value, f"goes through the symlink {current} -> {target}")

    def _error(self, key: str, value: str | os.PathLike[str], problem: str) -> SandboxError:
        where = "the job's artifacts directory" if self.enterprise else "the allowed roots"
        roots = ", ".join(str(r) for r in self.roots)
        return SandboxError(
            f"input {key}: path {str(value)!r} {problem} ({where}: {roots}); use a path inside "
            "them (relative paths resolve under the job's artifacts directory)"
            + ("" if self.enterprise else " or set AETHERFLOW_STRICT_SANDBOX=false")
        )
