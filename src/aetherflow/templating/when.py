"""The ``when`` language: parser, references and evaluator.

A ``when:`` expression is parsed once by :func:`parse_when` (tokenizer in
:mod:`aetherflow.templating.when_lexer`, recursive descent here) into a tree of small frozen
nodes, then evaluated any number of times with :meth:`WhenExpr.evaluate`. Nothing is handed to
Python's ``eval`` or ``ast``, and the source is never rewritten, so string literals are compared
exactly as written (the predecessor mangled ``'is true'``).

Grammar, lowest precedence first::

    expression := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand (compare_op operand)*        # chained like Python: 0 < x < 5
    compare_op := "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in"
    operand    := literal | reference | "(" or_expr ")"

``and``/``or``/``not`` always produce booleans (not the operand values, as Python would).

The module is over the 400-line aim (about 530 lines) because the parser, the reference rules
and the evaluator share the private node types; the evaluator is the natural next split.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aetherflow.errors import WhenError, WhenSyntaxError
from aetherflow.templating.when_lexer import Scalar, Segment, Token, TokenKind, tokenize

__all__ = ["JobRef", "WhenExpr", "WhenResult", "parse_when"]

Attr = Literal["outputs", "status", "skip_reason"]
_ATTRS: tuple[Attr, ...] = ("outputs", "status", "skip_reason")
_FORMS = "jobs.<job_id>.outputs.<key>, jobs.<job_id>.status or jobs.<job_id>.skip_reason"
_OPERATORS = "==, !=, <, <=, >, >=, in, not in, and, or"
_MAX_DEPTH = 50  # nested parentheses / 'not'; keeps the recursive descent far from the stack limit
_LOWER_KEYWORDS = frozenset({"and", "or", "not", "in"})


@dataclass(frozen=True)
class JobRef:
    """A reference to another job's result inside a ``when`` expression.

    Attributes:
        job_id: The referenced job.
        attr: ``outputs``, ``status`` or ``skip_reason``.
        keys: The output key path (empty for ``status`` and ``skip_reason``).
        column: 1-based column of the reference in the source.
        text: The reference as written.
    """

    job_id: str
    attr: Attr
    keys: tuple[str, ...]
    column: int
    text: str


@dataclass(frozen=True)
class WhenResult:
    """The outcome of evaluating a ``when`` expression.

    Attributes:
        value: Whether the condition holds.
        warnings: One message per output reference that had no value (treated as null).
    """

    value: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Scalar


@dataclass(frozen=True, slots=True)
class _Ref:
    ref: JobRef


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _BoolOp:
    operator: Literal["and", "or"]
    operands: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Compare:
    first: _Node
    rest: tuple[tuple[str, int, _Node], ...]  # (operator, column, right operand)


_Node = _Literal | _Ref | _Not | _BoolOp | _Compare


@dataclass(frozen=True)
class WhenExpr:
    """A parsed ``when`` expression.

    Attributes:
        source: The expression as written (``"true"``/``"false"`` for a YAML boolean).
        refs: Every job reference, in source order.
    """

    source: str
    refs: tuple[JobRef, ...]
    _node: _Node = field(repr=False, compare=False)

    def evaluate(self, jobs: Mapping[str, Mapping[str, Any]]) -> WhenResult:
        """Evaluate the expression against the results of earlier jobs.

        Args:
            jobs: Job id to ``{"status": ..., "outputs": {...}, "skip_reason": ...}``. A job that
                is absent has status null, no outputs and skip_reason null.

        Returns:
            The boolean value and a warning for each output reference that had no value.

        Raises:
            WhenError: Two values cannot be compared (``"a" < 3``, ``null < 1``) or ``in`` has
                no list or string on its right.
        """
        run = _Evaluation(self.source, jobs)
        value = bool(run.value(self._node))
        return WhenResult(value, tuple(dict.fromkeys(run.warnings)))


def parse_when(source: str | bool, *, job_ids: Collection[str] | None = None) -> WhenExpr:
    """Parse a ``when`` expression.

    Args:
        source: The expression; a YAML boolean (``when: true``) means that literal.
        job_ids: Ids of the jobs the expression may reference. Dotted ids are matched longest
            first. ``None`` skips the check and takes the single segment after ``jobs`` as the id.

    Returns:
        The parsed expression, ready to evaluate (cached per source and job ids).

    Raises:
        WhenSyntaxError: The expression is empty, malformed, uses an unsupported construct or
            references an unknown job; ``column`` points at the problem.
    """
    text = ("true" if source else "false") if isinstance(source, bool) else source
    return _parse_cached(text, None if job_ids is None else frozenset(job_ids))


@functools.lru_cache(maxsize=512)
def _parse_cached(source: str, job_ids: frozenset[str] | None) -> WhenExpr:
    parser = _Parser(source, tokenize(source), job_ids)
    node = parser.parse()
    return WhenExpr(source, tuple(parser.refs), node)


def _describe(token: Token) -> str:
    return "end of expression" if token.kind is TokenKind.END else repr(token.text)


class _Parser:
    """Recursive-descent parser over one token list (single use)."""

    def __init__(self, source: str, tokens: list[Token], job_ids: frozenset[str] | None) -> None:
        self.source = source
        self.tokens = tokens
        self.job_ids = job_ids
        self.pos = 0
        self.depth = 0
        self.refs: list[JobRef] = []

    def parse(self) -> _Node:
        if self._peek().kind is TokenKind.END:
            raise WhenSyntaxError(
                "empty when expression: expected a condition such as "
                "jobs.<job_id>.status == 'SUCCESS' (or omit 'when' to always run)",
                1,
            )
        node = self._or()
        token = self._peek()
        if token.kind is not TokenKind.END:
            raise self._unexpected_after_operand(token)
        return node

    def _peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _next(self) -> Token:
        token = self._peek()
        self.pos += 1
        return token

    def _enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise WhenSyntaxError(
                f"expression is nested too deeply (more than {_MAX_DEPTH} levels)", token.column
            )

    def _or(self) -> _Node:
        return self._bool_op("or", TokenKind.OR, self._and)

    def _and(self) -> _Node:
        return self._bool_op("and", TokenKind.AND, self._not)

    def _bool_op(
        self, name: Literal["and", "or"], kind: TokenKind, parse: Callable[[], _Node]
    ) -> _Node:
        operands: list[_Node] = [parse()]
        while self._peek().kind is kind:
            self.pos += 1
            operands.append(parse())
        return operands[0] if len(operands) == 1 else _BoolOp(name, tuple(operands))

    def _not(self) -> _Node:
        token = self._peek()
        if token.kind is not TokenKind.NOT:
            return self._comparison()
        self.pos += 1
        self._enter(token)
        node = _Not(self._not())
        self.depth -= 1
        return node

    def _comparison(self) -> _Node:
        first = self._operand()
        rest: list[tuple[str, int, _Node]] = []
        while True:
            token = self._peek()
            if token.kind in (TokenKind.COMPARE, TokenKind.IN):
                self.pos += 1
                operator = token.text
            elif token.kind is TokenKind.NOT and self._peek(1).kind is TokenKind.IN:
                self.pos += 2
                operator = "not in"
            else:
                break
            rest.append((operator, token.column, self._operand(after=operator)))
        return _Compare(first, tuple(rest)) if rest else first

    def _operand(self, after: str | None = None) -> _Node:
        token = self._next()
        kind = token.kind
        if kind in (TokenKind.NUMBER, TokenKind.STRING, TokenKind.LITERAL):
            return _Literal(token.value)
        if kind is TokenKind.PATH:
            if self._peek().kind is TokenKind.LPAREN:
                raise WhenSyntaxError(
                    f"function calls are not supported: {token.text}(...)", token.column
                )
            ref = _resolve_reference(token, self.job_ids)
            self.refs.append(ref)
            return _Ref(ref)
        if kind is TokenKind.LPAREN:
            self._enter(token)
            node = self._or()
            closing = self._next()
            if closing.kind is not TokenKind.RPAREN:
                raise WhenSyntaxError(
                    f"expected ')' to close the '(' at column {token.column}, "
                    f"found {_describe(closing)}",
                    closing.column,
                )
            self.depth -= 1
            return node
        if kind is TokenKind.RPAREN:
            raise WhenSyntaxError("unexpected ')': expected an operand", token.column)
        where = f" after {after!r}" if after else ""
        raise WhenSyntaxError(
            f"expected an operand{where} (a value, a reference or '('), found {_describe(token)}",
            token.column,
        )

    def _unexpected_after_operand(self, token: Token) -> WhenSyntaxError:
        if token.kind is TokenKind.RPAREN:
            return WhenSyntaxError("unexpected ')': no matching '('", token.column)
        if token.kind is TokenKind.LPAREN:
            if self.tokens[self.pos - 1].kind is TokenKind.PATH:
                return WhenSyntaxError("function calls are not supported", token.column)
            return WhenSyntaxError(
                f"unexpected '(': expected an operator ({_OPERATORS})", token.column
            )
        if token.text == "is":
            return WhenSyntaxError("'is' is not supported: use '==' or '!='", token.column)
        if token.kind is TokenKind.PATH and token.text.lower() in _LOWER_KEYWORDS:
            return WhenSyntaxError(
                f"unexpected {token.text!r}: keywords are lowercase ({token.text.lower()!r})",
                token.column,
            )
        return WhenSyntaxError(
            f"expected an operator ({_OPERATORS}) or the end of the expression, "
            f"found {_describe(token)}",
            token.column,
        )


def _resolve_reference(token: Token, job_ids: frozenset[str] | None) -> JobRef:
    segments = token.segments
    root = segments[0]
    if root.name != "jobs":
        hint = ""
        if root.name.lower() in _LOWER_KEYWORDS and len(segments) == 1:
            hint = f" (keywords are lowercase: {root.name.lower()!r})"
        raise WhenSyntaxError(
            f"unknown name {token.text!r}{hint}: a reference must be {_FORMS}", token.column
        )
    for segment in segments:
        if len(segment.name) > 4 and segment.name.startswith("__") and segment.name.endswith("__"):
            raise WhenSyntaxError(
                f"{segment.name!r} is not allowed in a reference: use {_FORMS}", segment.column
            )
    if len(segments) == 1:
        raise WhenSyntaxError(f"'jobs' alone is not a value: use {_FORMS}", token.column)
    job_id, tail = _split_job_id(token, job_ids)
    problem = _tail_problem(token, tail)
    if problem is not None:
        raise WhenSyntaxError(*problem)
    attr = next(a for a in _ATTRS if a == tail[0].name)
    keys = tuple(segment.name for segment in tail[1:])
    return JobRef(job_id, attr, keys, token.column, token.text)


def _join(segments: tuple[Segment, ...]) -> str:
    return ".".join(segment.name for segment in segments)


def _split_job_id(token: Token, job_ids: frozenset[str] | None) -> tuple[str, tuple[Segment, ...]]:
    """Return the job id and the segments after it (``outputs.x``, ``status``, ...)."""
    body = token.segments[1:]
    if job_ids is None:
        return body[0].name, body[1:]
    matches = [n for n in range(len(body), 0, -1) if _join(body[:n]) in job_ids]
    for n in matches:
        if _tail_problem(token, body[n:]) is None:
            return _join(body[:n]), body[n:]
    # No known id is followed by a valid tail: blame the id written before the first attribute
    # name, else the longest known id (whose tail problem the caller reports).
    cut = next((i for i in range(1, len(body)) if body[i].name in _ATTRS), None)
    if cut is None and matches:
        cut = matches[0]
    name = _join(body[: cut or 1])
    if name in job_ids:
        return name, body[cut or 1 :]
    suggestion = _closest(name, job_ids)
    if suggestion is not None:
        hint = f"did you mean {suggestion!r}?"
    elif job_ids:
        shown = sorted(job_ids)
        hint = "known jobs: " + ", ".join(shown[:10]) + (", ..." if len(shown) > 10 else "")
    else:
        hint = "no job can be referenced here"
    raise WhenSyntaxError(f"unknown job {name!r}; {hint}", body[0].column)


def _tail_problem(token: Token, tail: tuple[Segment, ...]) -> tuple[str, int] | None:
    """Say what is wrong with the part of a reference after the job id, if anything."""
    if not tail:
        return f"{token.text!r} is not a value: use {_FORMS}", token.column
    head = tail[0]
    if head.name == "outputs":
        if len(tail) == 1:
            return (
                f"{token.text!r} needs an output key: jobs.<job_id>.outputs.<key>",
                head.column + len(head.name),
            )
        for key in tail[1:]:
            if not (key.name[0].isalpha() or key.name[0] == "_"):
                return (
                    f"output key {key.name!r} must start with a letter or '_' "
                    "(indexing is not supported): use jobs.<job_id>.outputs.<key>.<key>",
                    key.column,
                )
        return None
    if head.name in _ATTRS:
        if len(tail) > 1:
            return f"{head.name!r} has no fields ({tail[1].name!r}): use {_FORMS}", tail[1].column
        return None
    return f"{head.name!r} is not a job attribute: use {_FORMS}", head.column


def _closest(name: str, candidates: Collection[str]) -> str | None:
    """Return the candidate within edit distance 2 of ``name`` (closest, then alphabetical).

    A candidate that would have to be rewritten entirely (``zz`` for ``a``) is not suggested.
    """
    best: tuple[int, str] | None = None
    for candidate in candidates:
        if abs(len(candidate) - len(name)) > 2:
            continue
        distance = _edit_distance(name, candidate)
        if distance > min(2, len(candidate) - 1):
            continue
        if best is None or (distance, candidate) < best:
            best = (distance, candidate)
    return None if best is None else best[1]


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: object, right: object) -> bool:
    """Equality without coercion: bools only equal bools, numbers compare numerically."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if _is_number(left) or _is_number(right):
        return _is_number(left) and _is_number(right) and left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(_equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and bool(left == right)


def _show(value: object) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Evaluation:
    """State of one :meth:`WhenExpr.evaluate` call."""

    def __init__(self, source: str, jobs: Mapping[str, Mapping[str, Any]]) -> None:
        self.source = source
        self.jobs = jobs
        self.warnings: list[str] = []

    def value(self, node: _Node) -> Any:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Ref):
            return self.lookup(node.ref)
        if isinstance(node, _Not):
            return not bool(self.value(node.operand))
        if isinstance(node, _BoolOp):
            wanted = node.operator == "or"  # the operand value that decides the result early
            for operand in node.operands:
                if bool(self.value(operand)) is wanted:
                    return wanted
            return not wanted
        left = self.value(node.first)
        for operator, column, right_node in node.rest:
            right = self.value(right_node)
            if not self.compare(operator, column, left, right):
                return False
            left = right
        return True

    def lookup(self, ref: JobRef) -> Any:
        job = self.jobs.get(ref.job_id) or {}
        if ref.attr != "outputs":
            return job.get(ref.attr)
        value: Any = job.get("outputs") or {}
        for key in ref.keys:
            if not isinstance(value, Mapping) or key not in value:
                self.warnings.append(f"{ref.text} is not set; treated as null")
                return None
            value = value[key]
        return value

    def compare(self, operator: str, column: int, left: Any, right: Any) -> bool:
        if operator == "==":
            return _equal(left, right)
        if operator == "!=":
            return not _equal(left, right)
        if operator in ("in", "not in"):
            return self.contains(operator, column, left, right) == (operator == "in")
        both_numbers = _is_number(left) and _is_number(right)
        if not (both_numbers or (isinstance(left, str) and isinstance(right, str))):
            raise self.error(
                operator, column, left, right, "ordering needs two numbers or two strings"
            )
        if operator == "<":
            return bool(left < right)
        if operator == "<=":
            return bool(left <= right)
        if operator == ">":
            return bool(left > right)
        return bool(left >= right)

    def contains(self, operator: str, column: int, left: Any, right: Any) -> bool:
        if isinstance(right, list | tuple):
            return any(_equal(left, item) for item in right)
        if not isinstance(right, str):
            raise self.error(
                operator, column, left, right, f"'{operator}' needs a list or a string on the right"
            )
        if not isinstance(left, str):
            raise self.error(
                operator, column, left, right, "a substring test needs a string on the left"
            )
        return left in right

    def error(self, operator: str, column: int, left: Any, right: Any, reason: str) -> WhenError:
        return WhenError(
            f"cannot compare {_type_name(left)} and {_type_name(right)} with {operator!r} "
            f'in when expression "{self.source}": {_show(left)} {operator} {_show(right)} '
            f"at column {column}; {reason}"
        )
