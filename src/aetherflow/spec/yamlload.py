"""Load YAML safely while keeping the line and column of every key and value.

Positions (a :class:`SourceMap` from location paths to marks) are only needed to report a
problem, so a document is first built without them and its map is filled from the text on first
use. Most flow files are read line by line (:mod:`aetherflow.spec.yamlfast`); the others are
composed by PyYAML (with libyaml when it is available) into a node graph that becomes Python
values in one recursive walk: a fast one without positions for plain mappings, lists and
scalars, or, for merge keys, duplicate keys, non-string keys or other tags, the full walk, which
records the map as it goes and reports every duplicate key in the document at once.

Scalars are built by PyYAML's own ``SafeConstructor`` functions, so ``int``/``bool``/``null``/
``float``/timestamp resolution is exactly that of ``yaml.safe_load`` (YAML 1.1: ``yes`` is
``True``). Merge keys (``<<``) follow the YAML merge spec: explicit keys win over merged ones and
earlier sources in a merge list win over later ones. That is what PyYAML did up to 6.0.3; 6.0.4
regressed to "last source wins" for keys longer than one character (yaml/pyyaml#953), the only
case where this loader and ``yaml.safe_load`` can disagree.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aetherflow.errors import Issue, SpecError
from aetherflow.spec.yamlfast import parse_block
from aetherflow.spec.yamlplain import (
    MAP_TAG,
    MERGE_TAG,
    SCALAR_BUILDERS,
    SEQ_TAG,
    STR_TAG,
    TAG,
    UNUSUAL,
    VALUE_TAG,
    build_plain,
    memo_resolving_loader,
)
from aetherflow.spec.yamlpos import LoadedYaml, Loc, Mark, SourceMap, format_loc, mark_of

__all__ = [
    "LoadedYaml",
    "Mark",
    "SourceMap",
    "format_loc",
    "load_yaml",
    "load_yaml_file",
]

_LOADER: Any = memo_resolving_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _kind(node: Node) -> str:
    return str(getattr(node, "id", "node"))


_Entries = dict[Hashable, tuple[Node, Node]]


class _Builder:
    """One load: turns the node graph into Python values and fills the source map."""

    def __init__(self, source_map: SourceMap) -> None:
        self.smap = source_map
        self.ctor = SafeConstructor()
        self.built: dict[Node, tuple[Any, Loc]] = {}
        self.entries: dict[Node, _Entries] = {}
        self.checked: set[Node] = set()
        self.merging: set[Node] = set()
        self.issues: list[Issue] = []

    def build(self, node: Node, loc: Loc) -> Any:
        self.smap._values[loc] = node.start_mark
        if isinstance(node, ScalarNode):
            return node.value if node.tag == STR_TAG else self._scalar(node)
        done = self.built.get(node)
        if done is not None:
            self.smap._aliases[loc] = done[1]
            return done[0]
        if node.tag == MAP_TAG and isinstance(node, MappingNode):
            return self._mapping(node, loc)
        if node.tag == SEQ_TAG and isinstance(node, SequenceNode):
            items: list[Any] = []
            self.built[node] = (items, loc)
            for index, child in enumerate(node.value):
                items.append(self.build(child, (*loc, index)))
            return items
        value = self.ctor.construct_object(node, deep=True)
        self.built[node] = (value, loc)
        return value

    def _scalar(self, node: ScalarNode) -> Any:
        builder = SCALAR_BUILDERS.get(node.tag)
        if builder is None:
            return self.ctor.construct_object(node, deep=True)
        try:
            return builder(self.ctor, node)
        except (ValueError, OverflowError) as exc:
            # e.g. 2001-13-45 resolves as a timestamp; safe_load lets this ValueError escape.
            kind = node.tag.removeprefix(TAG)
            problem = f"invalid {kind} {node.value!r}: {exc}"
            raise ConstructorError(None, None, problem, node.start_mark) from exc

    def _key(self, key_node: Node, owner: Node) -> Hashable:
        if isinstance(key_node, ScalarNode):
            if key_node.tag in (STR_TAG, VALUE_TAG):
                return str(key_node.value)
            key = self._scalar(key_node)
            if isinstance(key, Hashable):
                return key
        raise ConstructorError(
            "while constructing a mapping",
            owner.start_mark,
            "found unhashable key",
            key_node.start_mark,
        )

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        data: dict[Any, Any] = {}
        self.built[node] = (data, loc)
        if any(key_node.tag == MERGE_TAG for key_node, _ in node.value):
            pairs = self._entries(node, loc).items()
        else:
            pairs = self._explicit(node, loc).items()
        for key, (key_node, value_node) in pairs:
            child = (*loc, key)
            self.smap._keys[child] = key_node.start_mark
            data[key] = self.build(value_node, child)
        return data

    def _explicit(self, node: MappingNode, loc: Loc) -> _Entries:
        """Return the non-merge entries of ``node`` (the last of equal keys wins).

        Duplicates are reported the first time a mapping node is seen, whether it is built as a
        value or only used as a merge source.
        """
        check = node not in self.checked
        self.checked.add(node)
        found: _Entries = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self._key(key_node, node)
            if check:
                first = found.get(key)
                if first is not None:
                    self._duplicate(key, key_node, first[0], loc)
                    # Keep pointing at the first occurrence so a third one names it too.
                    found[key] = (first[0], value_node)
                    continue
            found[key] = (key_node, value_node)
        return found

    def _entries(self, node: MappingNode, loc: Loc) -> _Entries:
        """Return the effective entries of ``node`` with its merge keys applied (memoized)."""
        cached = self.entries.get(node)
        if cached is not None:
            return cached
        if node in self.merging:
            raise ConstructorError(
                "while constructing a mapping", node.start_mark, "found a recursive merge", None
            )
        self.merging.add(node)
        merged: _Entries = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                for source in reversed(self._merge_sources(node, value_node)):
                    merged.update(self._entries(source, loc))
        merged.update(self._explicit(node, loc))
        self.merging.discard(node)
        self.entries[node] = merged
        return merged

    def _merge_sources(self, owner: MappingNode, value_node: Node) -> list[MappingNode]:
        if isinstance(value_node, MappingNode):
            return [value_node]
        if not isinstance(value_node, SequenceNode):
            raise ConstructorError(
                "while constructing a mapping",
                owner.start_mark,
                "expected a mapping or list of mappings for merging, "
                f"but found {_kind(value_node)}",
                value_node.start_mark,
            )
        for item in value_node.value:
            if not isinstance(item, MappingNode):
                raise ConstructorError(
                    "while constructing a mapping",
                    owner.start_mark,
                    f"expected a mapping for merging, but found {_kind(item)}",
                    item.start_mark,
                )
        return list(value_node.value)

    def _duplicate(self, key: Hashable, second: Node, first: Node, loc: Loc) -> None:
        where = mark_of(second.start_mark)
        first_line = first.start_mark.line + 1
        self.issues.append(
            Issue(
                code="yaml:duplicate_key",
                loc=format_loc((*loc, key)),
                msg=f"duplicate key {key!r} (first defined on line {first_line})",
                file=self.smap.file,
                line=where.line,
                col=where.col,
                hint=f"remove one of the {key!r} entries or rename it",
            )
        )


def _yaml_error_issue(exc: yaml.YAMLError, text: str, file: str) -> Issue:
    """Turn a PyYAML error into one ``yaml:syntax`` issue."""
    if isinstance(exc, yaml.MarkedYAMLError):
        raw = exc.problem_mark or exc.context_mark
        where = mark_of(raw) if raw is not None else Mark(0, 0)
        msg = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:
            msg = f"{exc.context}: {exc.problem}"
        return Issue("yaml:syntax", "", msg, file=file, line=where.line, col=where.col)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character
        shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
        msg = f"unacceptable character {shown}: {exc.reason}"
        return Issue("yaml:syntax", "", msg, file=file, line=line, col=col)
    return Issue("yaml:syntax", "", str(exc), file=file)


def load_yaml(text: str, *, file: str = "") -> LoadedYaml:
    """Parse one YAML document safely, recording positions and rejecting duplicate keys.

    Args:
        text: The YAML source.
        file: The file name used in issues and the source map ("" for none).

    Returns:
        The data (``None`` for an empty document), its source map and the file name.

    Raises:
        SpecError: On invalid YAML (one ``yaml:syntax`` issue) or duplicate keys (one
            ``yaml:duplicate_key`` issue per duplicate, in document order).
    """
    source_map = SourceMap(file)
    builder = _Builder(source_map)
    # Positions only matter for problem reports: for a plain document they are recorded from
    # the text on demand.
    lazy = SourceMap(file, fill=lambda smap: _record_positions(smap, text))
    try:
        data = _parse_fast(text)
        if data is not UNUSUAL:
            return LoadedYaml(data=data, source_map=lazy, file=file)
        root = yaml.compose(text, Loader=_LOADER)
        if root is None:
            return LoadedYaml(data=None, source_map=source_map, file=file)
        data = build_plain(root)
        if data is not UNUSUAL:
            return LoadedYaml(data=data, source_map=lazy, file=file)
        data = builder.build(root, ())
    except yaml.YAMLError as exc:
        issue = _yaml_error_issue(exc, text, file)
        raise SpecError(f"{issue.where()}: invalid YAML: {issue.msg}", [issue]) from exc
    if builder.issues:
        issues = sorted(builder.issues, key=lambda issue: (issue.line, issue.col))
        count = len(issues)
        raise SpecError(
            f"{file or '<input>'}: {count} duplicate key{'s' if count > 1 else ''}", issues
        )
    return LoadedYaml(data=data, source_map=source_map, file=file)


def _parse_fast(text: str) -> Any:
    """The document by :func:`~aetherflow.spec.yamlfast.parse_block`, or ``UNUSUAL``."""
    loader = _LOADER("")  # its resolver: the one the full path uses
    try:
        if loader.yaml_path_resolvers:
            return UNUSUAL  # tags that depend on the path of a node: PyYAML's composer only
        return parse_block(text, loader.resolve)
    finally:
        loader.dispose()


def _record_positions(source_map: SourceMap, text: str) -> None:
    """Fill ``source_map`` with the full walk over ``text`` (which loaded before, so it cannot
    fail now)."""
    root = yaml.compose(text, Loader=_LOADER)
    if root is not None:
        _Builder(source_map).build(root, ())


def load_yaml_file(path: str | os.PathLike[str]) -> LoadedYaml:
    """Read a UTF-8 YAML file (a BOM is allowed) and load it with :func:`load_yaml`.

    Args:
        path: The file to read; ``str(path)`` is the file name in issues and the result.

    Returns:
        The loaded document.

    Raises:
        SpecError: ``file:not_found``, ``file:unreadable`` (a directory, no permission, other
            OS errors), ``file:encoding`` (not UTF-8), or any error of :func:`load_yaml`.
    """
    file = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as exc:
        issue = Issue("file:not_found", "", f"file not found: {file}", file=file)
        raise SpecError(issue.msg, [issue]) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        issue = Issue("file:unreadable", "", f"cannot read {file}: {reason}", file=file)
        raise SpecError(issue.msg, [issue]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        msg = f"{file} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        issue = Issue("file:encoding", "", msg, file=file, line=line, col=col)
        raise SpecError(issue.msg, [issue]) from exc
    return load_yaml(text, file=file)
