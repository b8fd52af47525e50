"""The ``expect:`` rules of the data steps: row counts, columns and column types.

Every rule is checked and every violation is listed; the step fails with
:class:`~aetherflow.errors.ExpectationFailed` (failure class ``expectation``). A column whose type
is unknown because it holds only nulls satisfies any ``dtypes`` rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from aetherflow.errors import ExpectationFailed
from aetherflow.steps.db_inputs import ExpectSpec, RequiredColumns


def _names(names: Sequence[str]) -> str:
    return "[" + ", ".join(names) + "]"


def violations(
    expect: ExpectSpec | None,
    *,
    row_count: int,
    columns: Sequence[str],
    kinds: Sequence[str | None],
) -> list[str]:
    """Every rule of ``expect`` the result breaks, as sentences (empty: all rules hold).

    Args:
        expect: The rules (None: no rules).
        row_count: Rows in the result.
        columns: Column names in order.
        kinds: Logical kind of each column (None: unknown, only nulls).
    """
    if expect is None:
        return []
    found: list[str] = []
    if expect.min_rows is not None and row_count < expect.min_rows:
        found.append(f"min_rows: the result has {row_count} row(s), fewer than {expect.min_rows}")
    if expect.max_rows is not None and row_count > expect.max_rows:
        found.append(f"max_rows: the result has {row_count} row(s), more than {expect.max_rows}")
    if isinstance(expect.columns, RequiredColumns):
        missing = [c for c in expect.columns.required if c not in columns]
        if missing:
            found.append(
                f"columns.required: missing {_names(missing)} (the result has {_names(columns)})"
            )
    elif expect.columns is not None and list(expect.columns) != list(columns):
        found.append(f"columns: expected {_names(expect.columns)}, got {_names(columns)}")
    by_name = dict(zip(columns, kinds, strict=True))
    for column, wanted in (expect.dtypes or {}).items():
        if column not in by_name:
            found.append(f"dtypes.{column}: the result has no column {column!r}")
            continue
        actual = by_name[column]
        if actual is not None and actual != wanted:
            found.append(f"dtypes.{column}: expected {wanted}, got {actual}")
    return found


def expectation_error(
    step_type: str, found: list[str], *, output: str | None = None, kept: bool = False
) -> ExpectationFailed:
    """The error for violated rules.

    Args:
        step_type: Named in the message.
        found: The violations.
        output: The output file of an extract (None for ``db_fetch_small``).
        kept: The output was published anyway (``keep_output_on_failure``).
    """
    text = "; ".join(found)
    if output is None:
        where = ""
    elif kept:
        where = f"; the output was kept at {output} (keep_output_on_failure)"
    else:
        where = f"; {output} was not written"
    return ExpectationFailed(
        f"{step_type}: {len(found)} expectation(s) failed: {text}{where}",
        violations=list(found),
    )
