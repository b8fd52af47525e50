"""Where a loaded YAML document's keys and values are: location paths, marks, the source map.

A location is a tuple of mapping keys (as constructed) and list indices, outermost first. The
loader (:mod:`aetherflow.spec.yamlload`) fills a :class:`SourceMap` from PyYAML's node marks,
at once or on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

Loc = tuple[Hashable, ...]


def format_loc(loc: Sequence[Hashable]) -> str:
    """Render a location path the way users read it.

    Args:
        loc: Mapping keys and list indices, outermost first.

    Returns:
        ``jobs[1].steps[0].inputs.comand`` for ``("jobs", 1, "steps", 0, "inputs", "comand")``;
        ``""`` for the empty path. Non-string keys are rendered with ``str``.
    """
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts)


@dataclass(frozen=True)
class Mark:
    """A position in a YAML file; both numbers are 1-based (0 means unknown)."""

    line: int
    col: int


def mark_of(raw: Any) -> Mark:
    """The :class:`Mark` of a PyYAML mark (0-based line and column)."""
    return Mark(raw.line + 1, raw.column + 1)


class SourceMap:
    """Positions of mapping keys and value nodes by location path.

    A location is a tuple of mapping keys (as constructed) and list indices. Locations below an
    alias are resolved through the anchor they point to, so positions always name real text.

    Attributes:
        file: The file the document came from ("" when it did not come from a file).
    """

    def __init__(self, file: str = "", fill: Callable[[SourceMap], None] | None = None) -> None:
        self.file = file
        self._keys: dict[Loc, Any] = {}
        self._values: dict[Loc, Any] = {}
        self._aliases: dict[Loc, Loc] = {}
        self._fill = fill

    def _filled(self) -> None:
        """Record the positions now if they were left for later (see :func:`load_yaml`)."""
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def key_mark(self, loc: Sequence[Hashable]) -> Mark | None:
        """Return the position of the mapping key at ``loc``, or None if there is none."""
        self._filled()
        raw = self._find(self._keys, tuple(loc))
        return None if raw is None else mark_of(raw)

    def value_mark(self, loc: Sequence[Hashable]) -> Mark | None:
        """Return the position of the value node at ``loc``, or None if there is none."""
        self._filled()
        raw = self._find(self._values, tuple(loc))
        return None if raw is None else mark_of(raw)

    def position(self, loc: Sequence[Hashable]) -> Mark:
        """Return the best position to report a problem at ``loc``.

        Args:
            loc: The location path; it need not exist (a missing key).

        Returns:
            The key position for a mapping entry, the value position for a list item or the
            root, else the position of the longest existing prefix; ``Mark(0, 0)`` if none.
        """
        self._filled()
        path = tuple(loc)
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            raw = self._find(self._keys, prefix)
            if raw is None:
                raw = self._find(self._values, prefix)
            if raw is not None:
                return mark_of(raw)
        return Mark(0, 0)

    def _find(self, table: dict[Loc, Any], loc: Loc) -> Any:
        # Each alias hop replaces a non-empty prefix by a real (alias-free) path and leaves a
        # strictly shorter rest to resolve, so this terminates even for recursive anchors.
        while True:
            raw = table.get(loc)
            if raw is not None:
                return raw
            for end in range(len(loc) - 1, 0, -1):
                target = self._aliases.get(loc[:end])
                if target is not None:
                    loc = target + loc[end:]
                    break
            else:
                return None


@dataclass(frozen=True)
class LoadedYaml:
    """A loaded document with the positions of its nodes."""

    data: Any
    source_map: SourceMap
    file: str
