"""Tokenizer and parser for the ``{{PATH}}`` / ``{{PATH:DEFAULT}}`` template language.

Only two token forms exist. Everything else that looks like templating (``${...}``, ``{% %}``,
``{# #}``, ``{}``, filters, calls, indexing, an unterminated ``{{``, an empty ``{{ }}``, a stray
``}}``) is a :class:`~aetherflow.errors.ResolverSyntaxError`. Forbidden patterns are looked for in
the *source* text only; rendered values are never re-checked (so a password containing ``${``
works).

Parsing is pure and cached per source string, so rendering the same step inputs for many steps
costs one dictionary lookup per string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aetherflow.errors import ResolverSyntaxError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*\Z")
_FORBIDDEN_PAIRS = {
    "${": "'${...}' (shell/JS style interpolation) is not supported",
    "{%": "'{% ... %}' (Jinja statements) are not supported",
    "%}": "'%}' (Jinja statement end) is not supported",
    "{#": "'{# ... #}' (Jinja comments) are not supported",
    "#}": "'#}' (Jinja comment end) is not supported",
    "{}": "'{}' (format placeholder) is not supported",
}


@dataclass(frozen=True, slots=True)
class Token:
    """One ``{{PATH}}`` or ``{{PATH:DEFAULT}}`` token.

    Attributes:
        path: The dotted path split into identifiers, e.g. ``("env", "DB_HOST")``.
        default: The default text (surrounding whitespace stripped), or None when absent.
        column: 1-based column of the opening ``{{`` in the source string.
        raw: The token exactly as written, braces included.
    """

    path: tuple[str, ...]
    default: str | None
    column: int
    raw: str

    @property
    def root(self) -> str:
        """The first path segment (``env``, ``steps``, ...)."""
        return self.path[0]

    @property
    def dotted(self) -> str:
        """The path joined with dots, e.g. ``env.DB_HOST``."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed source string.

    Attributes:
        source: The original string.
        parts: Literal text pieces and tokens in order (empty text pieces are dropped).
        whole: The token when the string is exactly one token with no text around it
            (whole-token strings keep the native type of the value), else None.
    """

    source: str
    parts: tuple[str | Token, ...]
    whole: Token | None
    tokens: tuple[Token, ...] = field(init=False, repr=False, compare=False)
    """Every token of the string, in order (from ``parts``; parsed templates are cached and
    their tokens read at every rendering)."""

    def __post_init__(self) -> None:
        tokens = tuple(p for p in self.parts if isinstance(p, Token))
        object.__setattr__(self, "tokens", tokens)  # frozen: set once, here


def _diagnostic(what: str, column: int, source: str, where: str) -> str:
    shown = source if len(source) <= 120 else source[:117] + "..."
    text = f"{what} at column {column} of {shown!r}"
    return f"{text} ({where})" if where else text


def _path_problem(path: str) -> str:
    if "|" in path:
        return "filters ('|') are not supported"
    if "(" in path or ")" in path:
        return "function calls are not supported"
    if "[" in path or "]" in path:
        return "indexing is not supported; use a dotted path like steps.x.key"
    if not path:
        return "empty path before ':'"
    return "invalid path; use identifiers separated by dots, e.g. env.DB_HOST"


def _parse_token(inner: str, column: int, raw: str) -> Token | str:
    """Parse the text between ``{{`` and ``}}``; return a Token or a problem description."""
    if not inner.strip():
        return "empty token '{{ }}'"
    if "{" in inner or "}" in inner:
        return "'{' or '}' inside a token"
    path_text, sep, default_text = inner.partition(":")
    path = path_text.strip()
    if not _PATH_RE.match(path):
        return f"{_path_problem(path)} in token {raw!r}"
    default = default_text.strip() if sep else None
    return Token(path=tuple(path.split(".")), default=default, column=column, raw=raw)


@lru_cache(maxsize=8192)
def _parse_cached(source: str) -> Template | tuple[str, int]:
    """Parse ``source``; return the Template, or ``(problem, column)`` for a syntax error."""
    parts: list[str | Token] = []
    text_start = 0
    i = 0
    n = len(source)
    while i < n - 1:
        pair = source[i : i + 2]
        if pair == "{{":
            end = source.find("}}", i + 2)
            if end == -1:
                return ("unterminated '{{' (missing '}}')", i + 1)
            raw = source[i : end + 2]
            parsed = _parse_token(source[i + 2 : end], i + 1, raw)
            if isinstance(parsed, str):
                return (parsed, i + 1)
            # ``{{a}}}`` ends with a second, overlapping ``}}`` that closes nothing (gap G22).
            if source.startswith("}", end + 2):
                return (f"stray '}}}}' right after token {raw!r}", end + 2)
            if i > text_start:
                parts.append(source[text_start:i])
            parts.append(parsed)
            i = end + 2
            text_start = i
        elif pair == "}}":
            return ("stray '}}' without a matching '{{'", i + 1)
        elif pair in _FORBIDDEN_PAIRS:
            return (_FORBIDDEN_PAIRS[pair], i + 1)
        else:
            i += 1
    if text_start < n:
        parts.append(source[text_start:])
    whole = parts[0] if len(parts) == 1 and isinstance(parts[0], Token) else None
    return Template(source=source, parts=tuple(parts), whole=whole)


def has_template_syntax(source: str) -> bool:
    """Return True when ``source`` may contain a token or a forbidden pattern.

    Strings without ``{`` and ``}`` are plain text; every forbidden pattern contains a brace.
    """
    return "{" in source or "}" in source


def parse_template(source: str, *, where: str = "") -> Template:
    """Parse a template string.

    Args:
        source: The string as written in YAML.
        where: Location used in error messages (``jobs[0].steps[1].inputs.sql``).

    Returns:
        The parsed template (a plain string yields one text part and no tokens).

    Raises:
        ResolverSyntaxError: The string uses unsupported templating syntax. The message starts
            with the exact contract prefix, then names the problem, column and location.
    """
    if not has_template_syntax(source):
        return Template(source=source, parts=(source,) if source else (), whole=None)
    result = _parse_cached(source)
    if isinstance(result, Template):
        return result
    problem, column = result
    raise ResolverSyntaxError(_diagnostic(problem, column, source, where))


def iter_strings(
    value: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield ``(loc, string)`` for every string value inside nested dicts/lists.

    Dictionary keys are never templated, so they are not yielded.
    """
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_strings(item, (*loc, index))
