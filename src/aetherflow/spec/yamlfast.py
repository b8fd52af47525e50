"""The fast path for the block YAML flow files are written in: lines straight to values.

Composing a node graph with PyYAML costs more than everything else of loading a flow (each
scalar is a node object, two marks and a call back into Python to resolve its tag), and a flow
file is almost always the same few shapes: block mappings and sequences (``- key: value``
items), one-line scalars, flow sequences of scalars. :func:`parse_block` reads exactly that
subset line by line and returns :data:`~aetherflow.spec.yamlplain.UNUSUAL` for anything else,
so the loader goes through PyYAML instead: block scalars (``|``, ``>``), multi-line or escaped
(``\\``) quoted scalars, continued plain scalars, flow mappings other than ``{}``, anchors,
aliases, tags, directives, document markers, quoted or complex keys, duplicate keys, keys that
are not strings, tabs, ``\\r`` and the other YAML 1.1 line breaks, unprintable characters, and
anything that would be a syntax error. Scalars resolve through the PyYAML loader's own resolver
and are built by PyYAML's constructors, as in :mod:`aetherflow.spec.yamlplain`, so a document it
accepts gives the value PyYAML gives (a property test compares both on generated documents).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from aetherflow.spec.yamlplain import SCALAR_BUILDERS, STR_TAG, UNUSUAL

Resolve = Callable[[Any, str, tuple[bool, bool]], str]
"""A PyYAML resolver's ``resolve(kind, value, implicit)``."""

# Tabs, carriage returns, the other YAML 1.1 line breaks (NEL, LS, PS), byte-order marks and
# everything PyYAML refuses as unprintable: the text needs PyYAML's attention.
_UNSAFE = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_KEY_TEXT = r"([A-Za-z0-9_][A-Za-z0-9_.\-/]*):(?: +|$)"
_KEY = re.compile(_KEY_TEXT)
# A line that is not blank or a comment: its indent, its key if it is "key: ...", and the rest
# (right-stripped).
_LINE = re.compile(rf"^( *)(?=[^ #\n])(?:{_KEY_TEXT})?((?:[^\n]*[^ \n])?) *$", re.MULTILINE)
_SINGLE_QUOTED = re.compile(r"'((?:[^']|'')*)'")
# One flow-sequence item and the "," or "]" after it: a quoted scalar without escapes, or a
# plain scalar without the characters that end or nest one in flow context.
_FLOW_ITEM = re.compile(
    r" *(?:\"([^\"\\]*)\"|'((?:[^']|'')*)'"
    r"|((?:[^ ,\[\]{}#&*!|>'\"%@`?:\-]|-[^ ,\[\]{}#:'\"])[^,\[\]{}#:'\"]*?)) *([,\]])"
)
_NOT_PLAIN_START = frozenset(",[]{}#&*!|>'\"%@`?:")


_MISSING: Any = object()


class _Unusual(Exception):
    """The document needs PyYAML."""


def _is_entry(content: str) -> bool:
    return content == "-" or content.startswith("- ")


def _trailer(rest: str) -> None:
    """What may follow a quoted scalar or a flow collection on its line: a comment."""
    # (lines are stripped on the right: a non-empty ``rest`` is not all spaces)
    if rest and (rest[0] != " " or not rest.lstrip(" ").startswith("#")):
        raise _Unusual


class _Lines:
    """One parse: the significant lines (indent, key, rest) and a cursor over them.

    ``key`` is the ``key`` of a ``key: value`` line ("" for other lines) and ``rest`` the
    line after it (after the indent on other lines), without trailing spaces.
    """

    def __init__(self, text: str, resolve: Resolve) -> None:
        lines = _LINE.findall(text)
        if lines:
            indents, keys, rests = map(list, zip(*lines, strict=True))
        else:
            indents, keys, rests = [], [], []
        self.indents: list[int] = list(map(len, indents))
        self.keys: list[str] = keys
        self.rests: list[str] = rests
        self.end = len(lines)
        self.pos = 0
        self._resolve = resolve
        self._ctor = SafeConstructor()
        self._plain: dict[str, Any] = {}
        self._string_keys: set[str] = set()
        """Keys met so far that resolve to strings (plain scalars that are not null, bool...)."""
        self._scalars: dict[str, Any] = {}
        """Values of the one-line scalars met so far, by their text (all immutable)."""
        self._flows: dict[str, list[Any]] = {}

    def document(self) -> Any:
        if not self.end:
            raise _Unusual  # empty: PyYAML says None
        value = self.block(self.indents[0])
        if self.pos != self.end:
            raise _Unusual
        return value

    def entry_at(self, pos: int) -> bool:
        return not self.keys[pos] and _is_entry(self.rests[pos])

    def block(self, indent: int) -> Any:
        if self.entry_at(self.pos):
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent: int) -> dict[str, Any]:
        data: dict[str, Any] = {}
        indents, keys, rests, end = self.indents, self.keys, self.rests, self.end
        string_keys, scalars = self._string_keys, self._scalars
        pos = self.pos  # a local cursor: this loop runs once per line of most documents
        while pos < end and indents[pos] == indent:
            key = keys[pos]
            if key not in string_keys:
                if not key or type(self.plain(key)) is not str:
                    raise _Unusual  # keys must be strings
                string_keys.add(key)
            if key in data:
                raise _Unusual  # duplicates are reported by the full walk
            rest = rests[pos]
            pos += 1
            # The common line, "key: scalar" with a scalar seen before, without a call.
            value = scalars.get(rest, _MISSING) if rest else _MISSING
            if value is _MISSING:
                self.pos = pos
                value = self.value(rest, indent, same_indent_sequence=True)
                pos = self.pos
            elif pos < end and indents[pos] > indent:
                raise _Unusual  # a deeper line would continue the scalar
            data[key] = value
        self.pos = pos
        self.no_deeper(indent)
        return data

    def sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self.pos < self.end and self.indents[self.pos] == indent and self.entry_at(self.pos):
            content = self.rests[self.pos]
            rest = content[1:].lstrip(" ")
            match = _KEY.match(rest) if rest and rest[0] != "#" else None
            if match is not None:
                # "- key: value": a mapping whose keys line up with this first one.
                self.indents[self.pos] = indent + len(content) - len(rest)
                self.keys[self.pos], self.rests[self.pos] = match.group(1), rest[match.end() :]
                items.append(self.mapping(self.indents[self.pos]))
                continue
            if _is_entry(rest):
                raise _Unusual
            self.pos += 1
            items.append(self.value(rest, indent, same_indent_sequence=False))
        self.no_deeper(indent)
        return items

    def value(self, rest: str, indent: int, *, same_indent_sequence: bool) -> Any:
        """The value after ``key:`` or ``-`` on a line indented by ``indent``."""
        if rest and rest[0] != "#":
            value = self.inline(rest)
            self.no_deeper(indent)  # a deeper line would continue the scalar
            return value
        if self.pos < self.end:
            below = self.indents[self.pos]
            if below > indent:
                return self.block(below)
            if below == indent and same_indent_sequence and self.entry_at(self.pos):
                return self.sequence(indent)
        return self.plain("")

    def no_deeper(self, indent: int) -> None:
        if self.pos < self.end and self.indents[self.pos] > indent:
            raise _Unusual

    def inline(self, text: str) -> Any:
        """The value of a scalar or flow collection written on one line (``text`` is stripped)."""
        if text[0] == "[":
            return self.flow_sequence(text)  # collections are new objects every time
        if text[0] == "{":
            if not text.startswith("{}"):
                raise _Unusual  # flow mappings other than {}
            _trailer(text[2:])
            return {}
        value = self._scalars.get(text, _MISSING)
        if value is _MISSING:
            value = self._scalars[text] = self._scalar(text)
        return value

    def _scalar(self, text: str) -> Any:
        first = text[0]
        if first == '"':
            close = text.find('"', 1)
            if close < 0 or "\\" in text[1:close]:
                raise _Unusual
            _trailer(text[close + 1 :])
            return text[1:close]
        if first == "'":
            match = _SINGLE_QUOTED.match(text)
            if match is None:
                raise _Unusual
            _trailer(text[match.end() :])
            return match.group(1).replace("''", "'")
        if first in _NOT_PLAIN_START or (first == "-" and (len(text) == 1 or text[1] == " ")):
            raise _Unusual
        cut = text.find(" #")
        plain = text if cut < 0 else text[:cut].rstrip(" ")
        if ": " in plain or plain.endswith(":"):
            raise _Unusual
        return self.plain(plain)

    def flow_sequence(self, text: str) -> list[Any]:
        """A new list each time; its items are scalars (immutable), so they are memoised."""
        items = self._flows.get(text)
        if items is None:
            items = self._flows[text] = self._flow_items(text)
        return list(items)

    def _flow_items(self, text: str) -> list[Any]:
        items: list[Any] = []
        pos = 1
        if text[1:].lstrip(" ").startswith("]"):
            pos = text.index("]") + 1
        else:
            while True:
                match = _FLOW_ITEM.match(text, pos)
                if match is None:
                    raise _Unusual
                double, single, plain, end = match.groups()
                if double is not None:
                    items.append(double)
                elif single is not None:
                    items.append(single.replace("''", "'"))
                else:
                    items.append(self.plain(plain))
                pos = match.end()
                if end == "]":
                    break
        _trailer(text[pos:])
        return items

    def plain(self, text: str) -> Any:
        """A plain scalar's value, resolved and built as PyYAML does (memoised per text)."""
        try:
            return self._plain[text]
        except KeyError:
            pass
        tag = self._resolve(ScalarNode, text, (True, False))
        if tag == STR_TAG:
            value: Any = text
        else:
            builder = SCALAR_BUILDERS.get(tag)
            if builder is None:
                raise _Unusual
            try:
                value = builder(self._ctor, ScalarNode(tag, text))
            except (ValueError, OverflowError) as exc:
                raise _Unusual from exc
        self._plain[text] = value
        return value


def parse_block(text: str, resolve: Resolve) -> Any:
    """The value of a YAML document in the fast-path subset, or :data:`UNUSUAL`.

    Args:
        text: The YAML source (a decoded file).
        resolve: The ``resolve`` method of the PyYAML loader the full path would use.

    Returns:
        The document's value (the top level is a block mapping or sequence), or
        :data:`~aetherflow.spec.yamlplain.UNUSUAL` when the document needs PyYAML.
    """
    if _UNSAFE.search(text):
        return UNUSUAL
    try:
        return _Lines(text, resolve).document()
    except _Unusual:
        return UNUSUAL
