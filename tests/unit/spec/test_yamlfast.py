"""The line-by-line fast path of the YAML loader gives what PyYAML gives, or steps aside.

The oracle is PyYAML itself: generated documents (block mappings and sequences in every
indentation style, scalars chosen to hit YAML 1.1 resolution and syntax corners, comments, blank
lines) are parsed both ways; where the fast path returns a value, PyYAML must return the same
value with the same types, and where PyYAML fails or needs the full walk the fast path must
have stepped aside (returned ``UNUSUAL``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow.spec import yamlload
from aetherflow.spec.yamlfast import parse_block
from aetherflow.spec.yamlplain import UNUSUAL, build_plain

ROOT = Path(__file__).resolve().parents[3]
ERROR: Any = object()

SCALARS = [
    *("a", "abc", "s0001", "check_items", "a b", "a  b", "é ü", "http://x/y?q=1", "x,y", "a#b"),
    *("yes", "No", "on", "OFF", "true", "False", "y", "n", "~", "null", "Null", "NULL", ""),
    *("0", "1", "-1", "+1", "1_000", "0x1F", "0o17", "017", "0b101", "1:30", "190:20:30"),
    *("1.5", "1e3", "1.0e+3", "-.inf", ".NaN", ".5", "1.", "2024-01-01", "2024-01-01 10:00:00"),
    *("2024-01-01T10:00:00Z", "2024-13-45", "99999999999999999999", "-x", "- x", "-", "--"),
    *("---", "...", "[]", "[x]", "[x, y]", "[ a , 'b' , \"c\" ]", "['a,b']", "[ ]", "[a,]"),
    *("[a b, c]", "[1, 2.5, yes, ~]", "[x: 1]", "[-a]", "[- a]", "[a, [b]]", "[a, {b: 1}]"),
    *("{}", "{ }", "{a: 1}", "{{ env.X }}", "'{{ steps.a.out }}'", '"{{ x }}"', "${X}"),
    *("'q'", "'it''s'", "'a", "'a' b", "'a' # c", '"q"', '"a\\nb"', '"a', '"a"b', '"a" # c'),
    *("@x", "%x", "!x", "!!str x", "&a x", "*a", "|", ">", "|-", "?x", "? x", ":x", "x:"),
    *("a: b", "a:b", "a:: b", "C:\\dir", "a\\b", "#x", "a'b", 'a"b', "=", "<<", "`x`"),
    *("a # c", "a #c", "a#", "x ", "\ta", "a\tb", "a\u2028b", "a\x85b", "a\rb", "\ufeffa"),
]
KEYS = [
    *("a", "b", "id", "type", "min_count", "x-y", "x.y", "a/b", "_x", "é", "on", "yes"),
    *("1", "null", "~", "<<", "=", "a b", '"q"', "'q'", "a:b", "2024-01-01", "-a", "? a"),
]

scalar = st.sampled_from(SCALARS) | st.text(
    alphabet=st.sampled_from(list("ab1 -:#'\"[]{},.&*!|>%@`?~\\\t")), max_size=6
)
key = st.sampled_from(KEYS)
tree = st.recursive(
    scalar,
    lambda children: (
        st.lists(children, max_size=3) | st.lists(st.tuples(key, children), max_size=3)
    ),
    max_leaves=10,
)


class Style:
    """Formatting choices drawn once per document."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.step = data.draw(st.sampled_from([2, 4, 1, 3]))

    def flip(self) -> bool:
        return self.data.draw(st.booleans())

    def comment(self) -> str:
        return self.data.draw(st.sampled_from(["", "", "", " # note", "  #", " #x: [y]"]))


def _is_map(node: Any) -> bool:
    return isinstance(node, list) and all(isinstance(item, tuple) for item in node) and node != []


def render(node: Any, indent: int, style: Style) -> list[str]:
    """Block lines of a mapping (list of pairs) or sequence (list) at ``indent``."""
    pad = " " * indent
    lines: list[str] = []
    if style.flip() and style.flip():
        lines.append(f"{pad}# a comment line" if style.flip() else "")
    if _is_map(node):
        for k, value in node:
            lines += _entry(f"{pad}{k}:", value, indent, style, same_indent_seq=style.flip())
    else:
        for value in node:
            if _is_map(value) and style.flip():  # "- key: value" with the keys lined up
                inner = render(value, indent + 2, style)
                first = inner[0] if inner and inner[0].strip() else ""
                if first and not first.lstrip().startswith("#"):
                    lines += [f"{pad}- {first.lstrip()}", *inner[1:]]
                    continue
            lines += _entry(f"{pad}-", value, indent, style, same_indent_seq=False)
    return lines


def _entry(head: str, value: Any, indent: int, style: Style, *, same_indent_seq: bool) -> list[str]:
    if isinstance(value, str):
        return [f"{head} {value}{style.comment()}" if value else head + style.comment()]
    if not value:
        return [f"{head} {'{}' if style.flip() else '[]'}{style.comment()}"]
    nested_indent = indent if same_indent_seq and not _is_map(value) else indent + style.step
    return [head + style.comment(), *render(value, nested_indent, style)]


def reference(text: str) -> Any:
    """PyYAML's value of ``text`` (``UNUSUAL`` when the loader needs its full walk)."""
    try:
        root = yaml.compose(text, Loader=yamlload._LOADER)
    except yaml.YAMLError:
        return ERROR
    return None if root is None else build_plain(root)


def fast(text: str) -> Any:
    loader = yamlload._LOADER("")
    try:
        return parse_block(text, loader.resolve)
    finally:
        loader.dispose()


def typed(value: Any) -> Any:
    """``value`` with every scalar tagged by its type (``True == 1`` and ``1 == 1.0`` in Python)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def assert_agrees(text: str) -> bool:
    """Check the fast path against PyYAML on ``text``; True when the fast path took it."""
    got = fast(text)
    if got is UNUSUAL:
        return False
    expected = reference(text)
    assert expected is not ERROR, f"the fast path accepted YAML that PyYAML rejects:\n{text}"
    assert expected is not UNUSUAL, f"the fast path took a document that needs the walk:\n{text}"
    assert typed(got) == typed(expected), text
    return True


@settings(max_examples=600, deadline=None)
@given(node=tree.filter(lambda n: isinstance(n, list) and n != []), data=st.data())
def test_generated_documents_agree_with_pyyaml(node: Any, data: st.DataObject) -> None:
    style = Style(data)
    text = "\n".join(render(node, data.draw(st.sampled_from([0, 0, 2])), style)) + "\n"
    assert_agrees(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab1 -:#'\"[]{},\n\n    ")), max_size=40))
def test_arbitrary_text_agrees_with_pyyaml(text: str) -> None:
    assert_agrees(text)


@pytest.mark.parametrize("value", [s for s in SCALARS if s.strip()])
@pytest.mark.parametrize("shape", ["k: {}\n", "- {}\n", "k:\n  - {}\n", "- k: {}\n  j: 1\n"])
def test_each_scalar_in_each_position_agrees_with_pyyaml(value: str, shape: str) -> None:
    assert_agrees(shape.format(value))


def test_the_benchmark_flow_takes_the_fast_path() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from flowgen import flow_text
    finally:
        sys.path.remove(str(ROOT / "bench"))

    assert assert_agrees(flow_text("bench", Path("/tmp/x"), 3, 4))
    assert assert_agrees(flow_text("bench", Path("/tmp/x"), 2, 2, {"lock_key": "k", "ttl": 5}))


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "a: |\n  text\n",  # block scalars
        "a: 'one\n  two'\n",  # multi-line quoted
        'a: "tab\\t"\n',  # escapes
        "a: one\n  two\n",  # continued plain scalar
        "a: 1\na: 2\n",  # duplicate key (the full walk reports it)
        "1: x\n",  # a key that is not a string
        "<<: {a: 1}\n",  # merge key
        "--- \na: 1\n",  # document marker
        "%YAML 1.1\n---\na: 1\n",  # directive
        "a:\tx\n",  # tab
        "a: 1\r\nb: 2\r\n",  # CRLF
        "",  # empty document (None)
        "just a scalar\n",  # not a collection
    ],
)
def test_documents_outside_the_subset_go_to_pyyaml(text: str) -> None:
    assert fast(text) is UNUSUAL


def test_repository_yaml_files_agree_with_pyyaml() -> None:
    files = [p for pattern in ("*.yaml", "*.yml") for p in ROOT.glob(f"**/{pattern}")]
    files = [p for p in files if not {".venv", "bench", ".git"} & set(p.parts)]
    assert files
    taken = sum(assert_agrees(p.read_text(encoding="utf-8-sig")) for p in files)
    assert taken > 0


def test_equal_collections_are_separate_objects() -> None:
    data = fast("a: [x, 1]\nb: [x, 1]\nc: {}\nd: {}\n")

    assert data == {"a": ["x", 1], "b": ["x", 1], "c": {}, "d": {}}
    assert data["a"] is not data["b"]
    assert data["c"] is not data["d"]
