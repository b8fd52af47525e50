"""Pure helpers the connectors apply to what they send: a query made ready to be wrapped as a
subquery (``COPY (query) TO ...``), and a MySQL password as PyMySQL must send it."""

from __future__ import annotations

import pytest

from aetherflow.connectors.dbapi import query_body
from aetherflow.connectors.mysql_types import password_bytes


@pytest.mark.parametrize(
    ("sql", "body"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  SELECT 1 ;\n", "  SELECT 1"),
        ("SELECT 1;;", "SELECT 1"),
        ("SELECT 1 -- note", "SELECT 1"),
        ("SELECT 1; -- done\n", "SELECT 1"),
        ("SELECT 1 /* end; */", "SELECT 1"),
        ("SELECT a -- first\nFROM t -- last", "SELECT a -- first\nFROM t"),
        ("SELECT '--;' AS x", "SELECT '--;' AS x"),
        ("SELECT 'it''s' -- c", "SELECT 'it''s'"),
        ('SELECT 1 AS "a;--b";', 'SELECT 1 AS "a;--b"'),
        ("SELECT $$ -- ; $$ AS x;", "SELECT $$ -- ; $$ AS x"),
        ("SELECT $tag$ ; $tag$ -- c", "SELECT $tag$ ; $tag$"),
        (
            "SELECT * FROM t WHERE a = $1 AND b = $name;",
            "SELECT * FROM t WHERE a = $1 AND b = $name",
        ),
        ("SELECT 'unterminated", "SELECT 'unterminated"),
    ],
)
def test_query_body_drops_only_trailing_semicolons_and_comments(sql: str, body: str) -> None:
    assert query_body(sql) == body


@pytest.mark.parametrize(
    ("password", "sent"),
    [
        ("plain", b"plain"),
        ("Grüße €", "Grüße €".encode()),
        (b"\xff raw", b"\xff raw"),
        (None, b""),
        ("", b""),
    ],
)
def test_password_bytes_are_utf8(password: str | bytes | None, sent: bytes) -> None:
    assert password_bytes(password) == sent
