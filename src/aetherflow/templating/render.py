"""The strict renderer: resolves tokens against a per-phase scope.

Rules (``20-templating.md``):

* Lookup walks mappings only. A missing path, or a value that is ``""``, counts as missing: the
  default is used when given, otherwise :class:`~aetherflow.errors.ResolverMissingKeyError`.
* A string that is exactly one token keeps the value's native type; a default used that way is a
  string. Tokens embedded in text render through :func:`aetherflow.templating.text.to_text`.
* A root the phase does not allow is a syntax error naming the allowed roots.
* Dictionary keys are never rendered.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aetherflow.errors import ResolverMissingKeyError, ResolverSyntaxError
from aetherflow.templating.text import to_text
from aetherflow.templating.tokens import Template, Token, has_template_syntax, parse_template


class Phase(enum.StrEnum):
    """The three template phases and their names in messages."""

    RESOURCE = "resource"
    FLOW_META = "flow meta"
    STEP = "step"


PHASE_ROOTS: Mapping[Phase, tuple[str, ...]] = {
    Phase.RESOURCE: ("env",),
    Phase.FLOW_META: ("env",),
    Phase.STEP: ("env", "steps", "job", "jobs", "run_id", "flow_id", "result"),
}

MissingHook = Callable[[str, str], None]
"""Called as ``hook(dotted_path, where)`` when non-strict rendering replaces a missing value."""

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Scope:
    """What templates of one phase can see.

    Attributes:
        phase: The phase (decides the allowed roots).
        roots: Root name → value (``env`` → the env snapshot, ``steps`` → outputs, ...).
        strict: When False, a missing value without default renders as ``""`` and ``on_missing``
            is called (``AETHERFLOW_STRICT_TEMPLATES=false``).
        on_missing: Hook for non-strict replacements (a warning event in the runner).
    """

    phase: Phase
    roots: Mapping[str, Any]
    strict: bool = True
    on_missing: MissingHook | None = field(default=None, compare=False)

    @property
    def allowed(self) -> tuple[str, ...]:
        """Root names allowed in this phase."""
        return PHASE_ROOTS[self.phase]


def check_root(token: Token, phase: Phase, source: str, where: str) -> None:
    """Raise ResolverSyntaxError when the token's root is not allowed in ``phase``."""
    allowed = PHASE_ROOTS[phase]
    if token.root not in allowed:
        at = f" ({where})" if where else ""
        raise ResolverSyntaxError(
            f"unknown root {token.root!r} in token {token.raw!r} at column {token.column} of "
            f"{source!r}{at}; the {phase.value} phase allows: {', '.join(allowed)}"
        )


def lookup(roots: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """Walk ``path`` through nested mappings; return the value or the private MISSING marker."""
    current: Any = roots
    for segment in path:
        if isinstance(current, Mapping) and segment in current:
            current = current[segment]
        else:
            return _MISSING
    return current


def find_path(tree: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    """``(found, value)`` of ``path`` walked through nested mappings (no missing-value rules)."""
    value = lookup(tree, path) if isinstance(tree, Mapping) else _MISSING
    if not path:
        return True, tree
    return (False, None) if value is _MISSING else (True, value)


def is_missing(value: Any) -> bool:
    """True for the MISSING marker and for the empty string (which counts as missing)."""
    return value is _MISSING or (isinstance(value, str) and value == "")


def _resolve(token: Token, scope: Scope, where: str) -> Any:
    value = lookup(scope.roots, token.path)
    if not is_missing(value):
        return value
    if token.default is not None:
        return token.default
    if not scope.strict:
        if scope.on_missing is not None:
            scope.on_missing(token.dotted, where)
        return ""
    raise ResolverMissingKeyError(token.dotted, where=where, roots=scope.allowed)


def render_template(template: Template, scope: Scope, *, where: str = "") -> Any:
    """Render a parsed template in ``scope``.

    Returns:
        The native value for a whole-token string, otherwise the rendered text.

    Raises:
        ResolverSyntaxError: A token uses a root the phase does not allow.
        ResolverMissingKeyError: A value is missing and the token has no default.
    """
    for token in template.tokens:
        check_root(token, scope.phase, template.source, where)
    if template.whole is not None:
        return _resolve(template.whole, scope, where)
    pieces: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
        else:
            pieces.append(to_text(_resolve(part, scope, where)))
    return "".join(pieces)


def render_string(source: str, scope: Scope, *, where: str = "") -> Any:
    """Parse and render one string (plain strings are returned unchanged, without parsing)."""
    if not has_template_syntax(source):
        return source
    return render_template(parse_template(source, where=where), scope, where=where)


def render_value(value: Any, scope: Scope, *, where: str = "") -> Any:
    """Render every string inside ``value`` (dict values, list/tuple items); keys are kept.

    Args:
        value: A string, or nested dicts/lists/tuples of values; other types pass through.
        scope: The phase scope.
        where: Location prefix for messages; nested keys and indexes are appended to it.

    Returns:
        A new structure of the same shape with templates rendered.
    """
    if isinstance(value, str):
        return render_string(value, scope, where=where)
    if isinstance(value, dict):
        rendered: dict[Any, Any] = {}
        for key, item in value.items():
            if _is_plain(item):  # the common case: no location text to build
                rendered[key] = item
            else:
                child = f"{where}.{key}" if where else str(key)
                rendered[key] = render_value(item, scope, where=child)
        return rendered
    if isinstance(value, list | tuple):
        items = [
            item if _is_plain(item) else render_value(item, scope, where=f"{where}[{index}]")
            for index, item in enumerate(value)
        ]
        return items if isinstance(value, list) else tuple(items)
    return value


TEMPLATED: Any = object()
"""What :func:`copy_untemplated` returns for a value with template syntax somewhere in it."""


def copy_untemplated(value: Any) -> Any:
    """What :func:`render_value` returns for ``value`` if no string in it has template syntax
    (a new structure of the same shape), without needing a scope; else :data:`TEMPLATED`.

    Most step inputs are constants: this is one walk, without building a scope first.
    """
    if isinstance(value, str):
        return TEMPLATED if has_template_syntax(value) else value
    if isinstance(value, dict):
        copied: dict[Any, Any] = {}
        for key, item in value.items():
            copy = _copy_item(item)
            if copy is TEMPLATED:
                return TEMPLATED
            copied[key] = copy
        return copied
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            copy = _copy_item(item)
            if copy is TEMPLATED:
                return TEMPLATED
            items.append(copy)
        return items if isinstance(value, list) else tuple(items)
    return value


def _copy_item(item: Any) -> Any:
    if isinstance(item, str):
        return TEMPLATED if "{" in item or "}" in item else item
    if isinstance(item, dict | list | tuple):
        return copy_untemplated(item)
    return item


def _is_plain(value: Any) -> bool:
    """True for a value that renders to itself: not a container, not a string with a brace."""
    if isinstance(value, str):
        return not has_template_syntax(value)
    return not isinstance(value, dict | list | tuple)
