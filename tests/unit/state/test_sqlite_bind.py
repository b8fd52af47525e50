"""``NullInlined``: positional binding with NULL written into the statement for None values."""

from __future__ import annotations

import sqlite3

import pytest

from aetherflow.state.sqlite_bind import NullInlined, multi_row

INSERT = "INSERT INTO t (a, b, c) VALUES (:a, :b, :c)"


def test_none_values_become_null_in_the_statement_and_are_not_bound() -> None:
    sql, values = NullInlined(INSERT, ("a", "b", "c")).bind((1, None, "x"))

    assert sql == "INSERT INTO t (a, b, c) VALUES (?, NULL, ?)"
    assert values == (1, "x")


def test_each_pattern_of_nulls_is_built_once() -> None:
    statement = NullInlined(INSERT, ("a", "b", "c"))

    first, _ = statement.bind((1, None, None))
    again, _ = statement.bind((2, None, None))
    other, _ = statement.bind((2, 3, None))

    assert first is again
    assert other == "INSERT INTO t (a, b, c) VALUES (?, ?, NULL)"


def test_rows_written_through_it_equal_rows_bound_by_name() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b, c)")
    statement = NullInlined(INSERT, ("a", "b", "c"))
    rows = [(1, None, "x"), (None, None, None), (2.5, b"\x00", "é")]

    for row in rows:
        conn.execute(*statement.bind(row))

    assert conn.execute("SELECT a, b, c FROM t ORDER BY rowid").fetchall() == rows


@pytest.mark.parametrize(
    "template",
    [
        "INSERT INTO t (a, b) VALUES (:a, :b)",  # a column missing
        "INSERT INTO t (a, b, c) VALUES (:b, :a, :c)",  # out of order
        "-- note:a\nINSERT INTO t (a, b, c) VALUES (:a, :b, :c)",  # a placeholder in a comment
    ],
)
def test_a_template_that_does_not_match_its_columns_is_refused(template: str) -> None:
    with pytest.raises(ValueError, match="placeholders"):
        NullInlined(template, ("a", "b", "c"))


def test_multi_row_repeats_the_row_of_an_upsert() -> None:
    template = (
        "INSERT INTO t (a, b) VALUES (:a, (SELECT MAX(b) FROM t))\n"
        "ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    )
    assert multi_row(template, 3) == (
        "INSERT INTO t (a, b) VALUES (:a, (SELECT MAX(b) FROM t)), (:a, (SELECT MAX(b) FROM t)), "
        "(:a, (SELECT MAX(b) FROM t))\nON CONFLICT (a) DO UPDATE SET b = excluded.b"
    )


def test_multi_row_needs_values_and_on_conflict() -> None:
    with pytest.raises(ValueError, match="VALUES"):
        multi_row("INSERT INTO t (a) SELECT 1", 2)
