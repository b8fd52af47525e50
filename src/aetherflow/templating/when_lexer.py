"""Tokenizer for the ``when`` language.

The lexer turns a ``when:`` expression into a flat list of :class:`Token` objects ending with an
``END`` token. It knows just enough context (whether the previous token ends an operand) to tell
a negative number (``== -1``) from arithmetic (``x -1``), and indexing (``x[0]``) from a list
literal (``[1, 2]``). Every problem raises :class:`~aetherflow.errors.WhenSyntaxError` with a
1-based column into the source as given (whitespace is never stripped first, so columns match
what the user wrote).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import Enum

from aetherflow.errors import WhenSyntaxError

Scalar = bool | int | float | str | None
"""The value of a literal token."""


class TokenKind(Enum):
    """The kinds of token the ``when`` lexer produces."""

    NUMBER = "number"
    STRING = "string"
    LITERAL = "literal"  # true / false / null / None in any case
    PATH = "path"  # a word or a dotted path such as jobs.load.outputs.rows
    COMPARE = "compare"  # == != < <= > >=
    AND = "and"
    OR = "or"
    NOT = "not"
    IN = "in"
    LPAREN = "("
    RPAREN = ")"
    END = "end"


@dataclass(frozen=True, slots=True)
class Segment:
    """One dot-separated part of a path, with its 1-based column."""

    name: str
    column: int


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a ``when`` expression.

    Attributes:
        kind: What the token is.
        text: The token exactly as written (``""`` for ``END``).
        column: 1-based column of its first character (``len(source) + 1`` for ``END``).
        value: The literal value for ``NUMBER``, ``STRING`` and ``LITERAL`` tokens.
        segments: The dot-separated parts of a ``PATH`` token.
    """

    kind: TokenKind
    text: str
    column: int
    value: Scalar = None
    segments: tuple[Segment, ...] = ()


_WORD_START = frozenset(string.ascii_letters + "_")
_SEGMENT_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
_DIGITS = frozenset(string.digits)
_SPACE = frozenset(" \t\r\n")
_KEYWORDS = {"and": TokenKind.AND, "or": TokenKind.OR, "not": TokenKind.NOT, "in": TokenKind.IN}
_WORD_LITERALS: dict[str, Scalar] = {"true": True, "false": False, "null": None, "none": None}
_OPERAND_ENDS = frozenset(
    {TokenKind.NUMBER, TokenKind.STRING, TokenKind.LITERAL, TokenKind.PATH, TokenKind.RPAREN}
)
_NUMBER_TRAILERS = (_SEGMENT_CHARS - {"-"}) | {"."}  # glued to a number they make it invalid
_ESCAPABLE = frozenset("\\'\"")
_COMPARE_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_ARITHMETIC = frozenset("+-*/%^~")
_CHARACTER_HINTS = {
    "=": "use '==' to compare",
    "!": "use 'not' to negate, or '!=' to compare",
    "&": "use 'and'",
    "|": "use 'or'",
    "{": "when expressions name values directly (jobs.<job_id>.outputs.<key>), without {{ }}",
    "}": "when expressions name values directly (jobs.<job_id>.outputs.<key>), without {{ }}",
    ",": "function calls and list literals are not supported",
}


def tokenize(source: str) -> list[Token]:
    """Split a ``when`` expression into tokens.

    Args:
        source: The expression as written.

    Returns:
        The tokens in source order, always ending with one ``END`` token.

    Raises:
        WhenSyntaxError: An unterminated string, a malformed number or a character that has no
            place in the language (arithmetic, indexing, ``=``, ``&&``, ...).
    """
    return _Lexer(source).run()


class _Lexer:
    """Single-use scanner over one source string."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        """Scan the whole source; see :func:`tokenize`."""
        src = self.source
        while True:
            while self.pos < len(src) and src[self.pos] in _SPACE:
                self.pos += 1
            if self.pos >= len(src):
                self.tokens.append(Token(TokenKind.END, "", len(src) + 1))
                return self.tokens
            self.tokens.append(self._token(src[self.pos]))

    def _after_operand(self) -> bool:
        return bool(self.tokens) and self.tokens[-1].kind in _OPERAND_ENDS

    def _token(self, char: str) -> Token:
        src, start = self.source, self.pos
        if char in _WORD_START:
            return self._word()
        if char in _DIGITS:
            return self._number()
        if char == "-" and src[start + 1 : start + 2] in _DIGITS and not self._after_operand():
            return self._number()
        if char in "'\"":
            return self._string()
        if char in "()":
            self.pos += 1
            kind = TokenKind.LPAREN if char == "(" else TokenKind.RPAREN
            return Token(kind, char, start + 1)
        for operator in _COMPARE_OPERATORS:
            if src.startswith(operator, start):
                self.pos += len(operator)
                return Token(TokenKind.COMPARE, operator, start + 1)
        raise self._bad_character(char)

    def _bad_character(self, char: str) -> WhenSyntaxError:
        column = self.pos + 1
        if char in _ARITHMETIC:
            hint = "arithmetic is not supported"
            if char == "-":
                hint += " (a negative number is written as -1)"
        elif char in "[]":
            hint = (
                "indexing is not supported; write jobs.<job_id>.outputs.<key>.<key>"
                if self._after_operand() or char == "]"
                else "list literals are not supported; compare against a list output instead"
            )
        elif char == "." and self.source[self.pos + 1 : self.pos + 2] in _DIGITS:
            hint = "write decimals with a leading digit (0.5)"
        elif char == ".":
            hint = "a '.' must join the parts of a reference such as jobs.<job_id>.status"
        else:
            hint = _CHARACTER_HINTS.get(char, "expected an operand, an operator or a parenthesis")
        return WhenSyntaxError(f"unexpected character {char!r}: {hint}", column)

    def _word(self) -> Token:
        src, start = self.source, self.pos
        segments: list[Segment] = []
        while True:
            seg_start = self.pos
            while self.pos < len(src) and src[self.pos] in _SEGMENT_CHARS:
                self.pos += 1
            segments.append(Segment(src[seg_start : self.pos], seg_start + 1))
            if self.pos >= len(src) or src[self.pos] != ".":
                break
            if src[self.pos + 1 : self.pos + 2] not in _SEGMENT_CHARS:
                raise WhenSyntaxError(
                    f"expected a name after '.' in {src[start : self.pos + 1]!r}", self.pos + 2
                )
            self.pos += 1
        text = src[start : self.pos]
        if len(segments) == 1:
            if text in _KEYWORDS:
                return Token(_KEYWORDS[text], text, start + 1)
            if text.lower() in _WORD_LITERALS:
                return Token(TokenKind.LITERAL, text, start + 1, _WORD_LITERALS[text.lower()])
        return Token(TokenKind.PATH, text, start + 1, segments=tuple(segments))

    def _number(self) -> Token:
        src, start = self.source, self.pos
        self.pos += 1  # a digit or the '-' of a negative number
        self._skip_digits()
        is_decimal = False
        if src[self.pos : self.pos + 1] == "." and src[self.pos + 1 : self.pos + 2] in _DIGITS:
            is_decimal = True
            self.pos += 1
            self._skip_digits()
        end = self.pos
        while self.pos < len(src) and src[self.pos] in _NUMBER_TRAILERS:
            self.pos += 1
        text = src[start : self.pos]
        if self.pos != end:
            raise WhenSyntaxError(
                f"invalid number {text!r}: write digits with an optional decimal part (3, -2, 0.5)",
                start + 1,
            )
        try:
            value: int | float = float(text) if is_decimal else int(text)
        except ValueError as exc:  # more digits than int() accepts
            raise WhenSyntaxError(f"number {text[:20]}... is too long", start + 1) from exc
        return Token(TokenKind.NUMBER, text, start + 1, value)

    def _skip_digits(self) -> None:
        while self.pos < len(self.source) and self.source[self.pos] in _DIGITS:
            self.pos += 1

    def _string(self) -> Token:
        src, start = self.source, self.pos
        quote = src[start]
        chars: list[str] = []
        self.pos += 1
        while self.pos < len(src):
            char = src[self.pos]
            if char == "\\" and src[self.pos + 1 : self.pos + 2] in _ESCAPABLE:
                chars.append(src[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return Token(TokenKind.STRING, src[start : self.pos], start + 1, "".join(chars))
            chars.append(char)
        raise WhenSyntaxError(f"unterminated string: expected a closing {quote}", start + 1)
