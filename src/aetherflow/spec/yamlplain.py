"""The fast walk from a composed YAML node graph to Python values, for plain documents.

A flow file is almost always plain: mappings with string keys and no merge keys, lists, and
scalars of the standard tags. :func:`build_plain` builds such a document without recording
positions, which is most of the cost of :mod:`aetherflow.spec.yamlload`'s full walk. Anything
else — a merge key, a duplicate key, a non-string key, another tag, a scalar its constructor
rejects — makes it return :data:`UNUSUAL`, and the loader runs the full walk instead, which
reports the problem (or handles the feature) with positions. For a document it accepts, the
result equals the full walk's: the same scalar constructors, and an anchored node is built once
and shared by its aliases (recursive ones included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

TAG = "tag:yaml.org,2002:"
STR_TAG = TAG + "str"
MAP_TAG = TAG + "map"
SEQ_TAG = TAG + "seq"
MERGE_TAG = TAG + "merge"
VALUE_TAG = TAG + "value"

ScalarBuilder = Callable[[SafeConstructor, ScalarNode], Any]
# Plain (non-generator) constructors; every other tag goes through SafeConstructor itself.
SCALAR_BUILDERS: dict[str, ScalarBuilder] = {
    TAG + name: SafeConstructor.yaml_constructors[TAG + name]
    for name in ("null", "bool", "int", "float", "binary", "timestamp", "str")
}

UNUSUAL: Any = object()
"""Returned by :func:`build_plain` for a document that needs the full walk."""


class _Unusual(Exception):
    """The document needs the full walk."""


class _PlainBuilder:
    """One walk: values only, anchored collections memoised by node."""

    def __init__(self) -> None:
        self.ctor = SafeConstructor()
        self.built: dict[Node, Any] = {}

    def build(self, node: Node) -> Any:
        if type(node) is ScalarNode:
            tag = node.tag
            if tag == STR_TAG:
                return node.value
            builder = SCALAR_BUILDERS.get(tag)
            if builder is None:
                raise _Unusual
            try:
                return builder(self.ctor, node)
            except (ValueError, OverflowError) as exc:
                raise _Unusual from exc
        done = self.built.get(node)
        if done is not None:
            return done
        if type(node) is MappingNode and node.tag == MAP_TAG:
            return self._mapping(node)
        if type(node) is SequenceNode and node.tag == SEQ_TAG:
            items: list[Any] = []
            self.built[node] = items
            build = self.build
            for child in node.value:
                items.append(build(child))
            return items
        raise _Unusual

    def _mapping(self, node: MappingNode) -> dict[str, Any]:
        data: dict[str, Any] = {}
        self.built[node] = data
        build = self.build
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or key_node.tag != STR_TAG:
                raise _Unusual  # merge keys, non-string keys (and "=" keys): the full walk
            data[key_node.value] = build(value_node)
        if len(data) != len(node.value):
            raise _Unusual  # a duplicate key: the full walk reports every one
        return data


def memo_resolving_loader(base: type[Any]) -> type[Any]:
    """A subclass of the PyYAML loader ``base`` that resolves each distinct plain scalar once.

    The composer asks the resolver for the tag of every scalar; a flow file repeats the same
    keys and values thousands of times, and each answer is a few regular-expression matches.
    Without path resolvers the answer depends only on the scalar's text and its implicit
    flags, so one load can memoise it (per loader instance: resolvers added later apply).
    """

    class MemoResolvingLoader(base):  # type: ignore[misc]
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._tags: dict[tuple[Any, Any], str] = {}

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not ScalarNode or self.yaml_path_resolvers:
                return super().resolve(kind, value, implicit)
            key = (value, implicit)
            tag = self._tags.get(key)
            if tag is None:
                tag = self._tags[key] = super().resolve(kind, value, implicit)
            return tag

    MemoResolvingLoader.__name__ = MemoResolvingLoader.__qualname__ = f"Memo{base.__name__}"
    return MemoResolvingLoader


def build_plain(root: Node) -> Any:
    """The Python value of ``root``'s document, or :data:`UNUSUAL` when it needs the full walk.

    Args:
        root: The composed root node.

    Returns:
        The value, built like the full walk builds it; or :data:`UNUSUAL`.
    """
    try:
        return _PlainBuilder().build(root)
    except _Unusual:
        return UNUSUAL
