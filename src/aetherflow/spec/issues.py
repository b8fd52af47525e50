"""Turn pydantic validation errors into precise, human :class:`~aetherflow.errors.Issue` objects.

Each pydantic error becomes one issue with a ``schema:<type>`` code, the dotted location users
see in their YAML (union and validator tags removed), the ``file:line:col`` of the offending key
and a message that says how to fix it, with a did-you-mean hint for misspelt keys.
"""

from __future__ import annotations

import ast
import types
import typing
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, RootModel, ValidationError

from aetherflow.errors import Issue
from aetherflow.spec.yamlload import SourceMap, format_loc

__all__ = [
    "allowed_keys",
    "did_you_mean",
    "edit_distance",
    "format_loc",
    "issues_from_validation_error",
    "sort_issues",
]

_SENSITIVE = ("password", "passwd", "secret", "token", "api_key", "apikey", "credential")
_VALUE_LIMIT = 60
_UNION_ORIGINS: tuple[Any, ...] = (Union, types.UnionType)
_LIST_ORIGINS: tuple[Any, ...] = (list, tuple, set, frozenset, Sequence, typing.Sequence)
_DICT_ORIGINS: tuple[Any, ...] = (dict, Mapping, typing.Mapping, typing.MutableMapping)
_CHOICE_TYPES = frozenset({"literal_error", "enum"})
# Names pydantic uses as loc tags for non-model union members; only used when no data is given.
_TYPE_TAGS = frozenset(
    {"str", "int", "float", "bool", "bytes", "none", "list", "dict", "tuple", "set", "frozenset"}
    | {"date", "datetime", "time", "timedelta", "decimal", "uuid", "url", "path", "any"}
)
_MISSING = object()


def edit_distance(a: str, b: str) -> int:
    """Return the optimal-string-alignment distance between two strings.

    Insertions, deletions, substitutions and transpositions of adjacent characters cost 1 each.

    Args:
        a: First string.
        b: Second string.

    Returns:
        The number of edits needed to turn ``a`` into ``b``.
    """
    previous: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, row = previous, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[len(b)]


def did_you_mean(word: str, candidates: Iterable[str], max_distance: int = 2) -> str | None:
    """Return the candidate closest to ``word``, if it is close enough to be a likely typo.

    Comparison ignores case. A candidate that would need every character replaced (distance
    equal to the longer length, e.g. ``ab`` vs ``id``) is never suggested.

    Args:
        word: What the user wrote.
        candidates: Accepted spellings.
        max_distance: Largest edit distance still suggested.

    An abbreviation (``cmd`` for ``command``: same first letter, its letters in order, and the
    candidate at least three characters longer) is preferred when exactly one candidate fits.

    Returns:
        The closest candidate (ties broken alphabetically), or None; never ``word`` itself.
    """
    folded = word.lower()
    candidates = list(candidates)
    expansions = [c for c in candidates if _abbreviates(folded, c.lower())]
    if len(expansions) == 1:
        return expansions[0]
    best: tuple[int, str, str] | None = None
    for candidate in candidates:
        if candidate == word:
            continue
        distance = edit_distance(folded, candidate.lower())
        if distance > max_distance or distance >= max(len(word), len(candidate)):
            continue
        ranked = (distance, candidate.lower(), candidate)
        if best is None or ranked < best:
            best = ranked
    return None if best is None else best[2]


def _abbreviates(short: str, long: str) -> bool:
    if len(short) < 3 or len(long) < len(short) + 3 or short[0] != long[0]:
        return False
    rest = iter(long)
    return all(char in rest for char in short)


def _strip(annotation: Any) -> Any:
    """Remove ``Annotated``, ``Optional`` and ``RootModel`` wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in _UNION_ORIGINS:
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        elif isinstance(annotation, type) and issubclass(annotation, RootModel):
            annotation = annotation.model_fields["root"].annotation
        else:
            return annotation


def _field_keys(model: type[BaseModel]) -> dict[str, Any]:
    """Map the keys users write (alias, else name) to field annotations."""
    keys: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        keys[alias or field.alias or name] = field.annotation
    return keys


def _union_member(members: Sequence[Any], segment: Hashable) -> Any:
    """Return the member a pydantic loc tag names (class name or discriminator value)."""
    for member in members:
        if isinstance(member, type) and member.__name__ == segment:
            return member
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            for annotation in _field_keys(member).values():
                if get_origin(annotation) is Literal and segment in get_args(annotation):
                    return member
    return _MISSING


def _descend(annotation: Any, segment: Hashable) -> Any:
    """Return the annotation one step below ``annotation`` along ``segment``, or _MISSING."""
    annotation = _strip(annotation)
    origin = get_origin(annotation)
    if origin in _UNION_ORIGINS:
        members = [_strip(arg) for arg in get_args(annotation) if arg is not type(None)]
        chosen = _union_member(members, segment)
        if chosen is not _MISSING:
            return chosen
        found = [step for step in (_descend(m, segment) for m in members) if step is not _MISSING]
        return found[0] if len(found) == 1 else _MISSING
    if isinstance(segment, int) and not isinstance(segment, bool):
        if origin in _LIST_ORIGINS:
            args = get_args(annotation)
            if origin is tuple and args and args[-1] is not Ellipsis:
                return args[segment] if 0 <= segment < len(args) else _MISSING
            return args[0] if args else Any
        return _MISSING
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _field_keys(annotation).get(str(segment), _MISSING)
    if origin in _DICT_ORIGINS:
        args = get_args(annotation)
        return args[1] if len(args) == 2 else Any
    return _MISSING


def allowed_keys(model: type[BaseModel], loc: Sequence[Hashable]) -> frozenset[str] | None:
    """Return the keys accepted by the mapping at ``loc`` inside ``model``.

    Args:
        model: The root model the document is validated against.
        loc: Location of the mapping (list indices and keys, as in the data). Pydantic's union
            tags (a member class name or discriminator value) select that union member.

    Returns:
        The keys users may write there (aliases where fields have them), or None when that
        cannot be told (a free-form mapping, an ambiguous union, or a loc that does not fit).
    """
    annotation: Any = model
    for segment in loc:
        annotation = _descend(annotation, segment)
        if annotation is _MISSING:
            return None
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return frozenset(_field_keys(annotation))
    return None


def _looks_like_tag(segment: Hashable) -> bool:
    if not isinstance(segment, str):
        return False
    return segment in _TYPE_TAGS or (segment.endswith("]") and "[" in segment)


def _clean_loc(loc: Sequence[Hashable], data: Any, err_type: str) -> tuple[Hashable, ...]:
    """Drop the segments of a pydantic loc that are not keys or indices of the input."""
    if data is None:
        return tuple(segment for segment in loc if not _looks_like_tag(segment))
    kept: list[Hashable] = []
    current = data
    last = len(loc) - 1
    for index, segment in enumerate(loc):
        if isinstance(current, list) and isinstance(segment, int):
            if 0 <= segment < len(current):
                kept.append(segment)
                current = current[segment]
                continue
        elif isinstance(current, Mapping) and segment in current:
            kept.append(segment)
            current = current[segment]
            continue
        if index == last and err_type in ("missing", "extra_forbidden"):
            kept.append(segment)
    return tuple(kept)


def _discriminator_loc(
    err: Mapping[str, Any], loc: tuple[Hashable, ...], data: Any
) -> tuple[Hashable, ...]:
    """Point a ``union_tag_invalid`` error at the discriminator key when the input has it."""
    discriminator = (err.get("ctx") or {}).get("discriminator")
    if err["type"] != "union_tag_invalid" or not isinstance(discriminator, str):
        return loc
    key = discriminator.strip("'")
    current = data
    for segment in loc:
        current = current[segment]
    return (*loc, key) if isinstance(current, Mapping) and key in current else loc


def _show_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 3] + "..."


def _is_sensitive(loc: Sequence[Hashable]) -> bool:
    names = [segment.lower() for segment in loc if isinstance(segment, str)]
    return any(fragment in name for name in names for fragment in _SENSITIVE)


def _expected_values(expected: str) -> list[str]:
    """Split pydantic's ``'a', 'b' or 3`` into ``["a", "b", "3"]`` (best effort)."""
    values: list[str] = []
    rest = expected.strip()
    while rest:
        if rest[0] in "'\"":
            end = 1
            while end < len(rest) and rest[end] != rest[0]:
                end += 2 if rest[end] == "\\" else 1
            token, rest = rest[: end + 1], rest[end + 1 :]
        else:
            cut = min((i for i in (rest.find(", "), rest.find(" or ")) if i >= 0), default=-1)
            token, rest = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
        try:
            values.append(str(ast.literal_eval(token)))
        except (ValueError, SyntaxError):
            values.append(token)
        rest = rest.removeprefix(", ").removeprefix(" or ")
    return values


def _describe(
    err: Mapping[str, Any],
    loc: Sequence[Hashable],
    raw_parent: Sequence[Hashable],
    model: type[BaseModel],
    prefix: Sequence[Hashable] = (),
) -> tuple[str, str | None]:
    """Return the message and hint for one pydantic error."""
    err_type = str(err["type"])
    key = loc[-1] if loc else ""
    if err_type == "extra_forbidden":
        allowed = _allowed(model, raw_parent, loc[:-1])
        suggestion = did_you_mean(str(key), allowed or ())
        if suggestion is not None:
            hint: str | None = f"did you mean {suggestion!r}?"
        elif allowed:
            hint = f"allowed keys: {', '.join(sorted(allowed))}"
        else:
            hint = "remove it" if allowed is not None else None
        return f"unknown key {key!r}", hint
    if err_type == "missing":
        where = format_loc((*prefix, *loc[:-1])) or "the top level"
        return f"missing required key {key!r}", f"add {key!r} to {where}"
    if err_type == "value_error":
        # Our validators write complete messages (with the value where it helps).
        return str(err["msg"]).removeprefix("Value error, "), None
    shown = "" if _is_sensitive(loc) else f" {_show_value(err.get('input'))}"
    ctx = err.get("ctx") or {}
    if err_type == "union_tag_invalid" and isinstance(ctx.get("expected_tags"), str):
        choices = ", ".join(_expected_values(ctx["expected_tags"]))
        return f"invalid value {ctx.get('tag')!r}; expected one of: {choices}", None
    expected = ctx.get("expected")
    if err_type in _CHOICE_TYPES and isinstance(expected, str):
        choices = ", ".join(_expected_values(expected))
        return f"invalid value{shown}; expected one of: {choices}", None
    return f"{err['msg']}{' (got' + shown + ')' if shown else ''}", None


def _allowed(
    model: type[BaseModel], raw_parent: Sequence[Hashable], parent: Sequence[Hashable]
) -> frozenset[str] | None:
    # The raw pydantic loc carries union tags that pick the member; the cleaned one may not fit.
    found = allowed_keys(model, raw_parent)
    return found if found is not None else allowed_keys(model, parent)


def issues_from_validation_error(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    source_map: SourceMap | None = None,
    file: str = "",
    loc_prefix: Sequence[str | int] = (),
    data: Any = None,
) -> list[Issue]:
    """Convert a pydantic ``ValidationError`` into one issue per distinct problem.

    Args:
        exc: The error raised by ``model.model_validate(data)``.
        model: The model that was validated (used for allowed-key hints).
        source_map: Positions for the whole file, or None (line and column are then 0).
        file: The file name; defaults to ``source_map.file``.
        loc_prefix: Where ``data`` sits inside the file, when the model validated a part of it.
        data: The validated input. Loc segments that are not keys or indices of it (union and
            validator tags) are dropped; without it, segments that look like tags are dropped.

    Returns:
        Issues in pydantic's order, one per distinct (location, type).
    """
    file = file or (source_map.file if source_map is not None else "")
    prefix = tuple(loc_prefix)
    seen: set[tuple[str, str]] = set()
    issues: list[Issue] = []
    for err in exc.errors(include_url=False):
        err_type = str(err["type"])
        loc = _clean_loc(err["loc"], data, err_type)
        if data is not None:
            loc = _discriminator_loc(err, loc, data)
        dotted = format_loc((*prefix, *loc))
        if (dotted, err_type) in seen:
            continue
        seen.add((dotted, err_type))
        msg, hint = _describe(err, loc, err["loc"][:-1], model, prefix)
        line = col = 0
        if source_map is not None:
            mark = source_map.position((*prefix, *loc))
            line, col = mark.line, mark.col
        issues.append(Issue(f"schema:{err_type}", dotted, msg, file, line, col, hint))
    return issues


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    """Return issues ordered by file, line, column, location and code.

    Args:
        issues: Issues of any severity.

    Returns:
        A new list; errors and warnings are interleaved by position.
    """
    return sorted(
        issues, key=lambda issue: (issue.file, issue.line, issue.col, issue.loc, issue.code)
    )
