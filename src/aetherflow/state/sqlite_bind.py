"""Positional binding with ``NULL`` written into the statement for None values.

Python's ``sqlite3`` module binds a named parameter by looking its name up in the mapping, and
hands every ``None`` to its adaptation protocol (an adapter lookup that finds nothing) before it
binds NULL. For a step row, fourteen columns of which a third are usually NULL, that costs more
than SQLite's own work on the row. A :class:`NullInlined` statement binds its values by
position and writes ``NULL`` into the statement text for the columns whose value is None. Each
pattern of NULL columns is its own text, built once here and prepared once (the connection's
statement cache keeps it); a step write uses two or three patterns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_PLACEHOLDER = re.compile(r":(\w+)")
# The row of an "INSERT ... VALUES (...) ON CONFLICT" statement: from "VALUES" to the ")" that
# closes it (the last one before ON CONFLICT; the row may hold parenthesised subqueries).
_VALUES_ROW = re.compile(r"\bVALUES\s*(\(.*\))\s*ON CONFLICT\b", re.DOTALL)


def multi_row(template: str, rows: int) -> str:
    """``template``, an ``INSERT ... VALUES (row) ON CONFLICT ...`` statement, with its row
    written ``rows`` times: one statement (one transaction) for ``rows`` rows.

    Raises:
        ValueError: ``template`` has no ``VALUES (...) ON CONFLICT``.
    """
    found = _VALUES_ROW.search(template)
    if found is None:
        raise ValueError("the statement has no VALUES (...) ON CONFLICT")
    row = found.group(1)
    start, end = found.span(1)
    return template[:start] + ", ".join([row] * rows) + template[end:]


class NullInlined:
    """One statement over ``columns``, written with a named placeholder for each, in order.

    Args:
        template: The statement, with ``:column`` placeholders (each once, in ``columns``
            order; comments must not contain ``:word``).
        columns: The column names, in the order :meth:`bind` receives their values.

    Raises:
        ValueError: The placeholders of ``template`` are not exactly ``columns`` in order.
    """

    def __init__(self, template: str, columns: Sequence[str]) -> None:
        found = _PLACEHOLDER.findall(template)
        if found != list(columns):
            raise ValueError(f"placeholders {found} of the statement are not {list(columns)}")
        self._template = template
        self._variants: dict[tuple[bool, ...], str] = {}

    def bind(self, values: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """The statement text for ``values`` and the non-None values to bind, in order."""
        nulls = tuple([value is None for value in values])
        sql = self._variants.get(nulls)
        if sql is None:
            sql = self._variants[nulls] = self._render(nulls)
        return sql, tuple([value for value in values if value is not None])

    def _render(self, nulls: tuple[bool, ...]) -> str:
        marks = iter(nulls)
        return _PLACEHOLDER.sub(lambda _: "NULL" if next(marks) else "?", self._template)
