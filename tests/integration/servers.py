"""Server helpers of the integration tests, talking to PostgreSQL and MariaDB directly through
their drivers (not through the code under test): a query slow enough to be interrupted, ending
the sessions of one ``application_name``, and admin statements (users with passwords)."""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from typing import Any

from tests.contract.db_backends import PG_URL


def slow_series(
    rows: int, pause_every: int = 500, pause_seconds: float = 0.05, gate: str | None = None
) -> str:
    """``id``/``label`` rows from ``generate_series``; the server sleeps ``pause_seconds`` every
    ``pause_every`` rows, so a large ``rows`` keeps the query running for a long time. With
    ``gate`` (a one-row table with a boolean ``slow``), it sleeps only while ``slow`` is true
    (read once, when the query starts)."""
    slow = f"g % {pause_every} = 0"
    if gate:
        slow += f" AND (SELECT slow FROM {gate})"
    return (
        f"SELECT g AS id, 'row-' || g AS label FROM generate_series(1, {rows}) AS g "
        f"WHERE (CASE WHEN {slow} THEN pg_sleep({pause_seconds})::text ELSE '' END) = ''"
    )


def app_name() -> str:
    """A unique ``application_name`` that marks one test's server sessions."""
    return f"af-it-{uuid.uuid4().hex[:10]}"


def pg_resource(application_name: str, driver: str = "postgres") -> dict[str, Any]:
    """A ``db:postgres`` (or ``db:sqlalchemy``) resource on the test server whose sessions
    carry ``application_name``."""
    if driver == "sqlalchemy":
        options: dict[str, Any] = {"connect_args": {"application_name": application_name}}
    else:
        options = {"application_name": application_name}
    return {"kind": "db", "driver": driver, "config": {"url": PG_URL}, "options": options}


def pg_execute(sql: str) -> None:
    """Run one statement on the test server (autocommit)."""
    psycopg = importlib.import_module("psycopg")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql)


def terminate(application_name: str) -> list[int]:
    """``pg_terminate_backend`` every session of ``application_name``; their pids."""
    psycopg = importlib.import_module("psycopg")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        ).fetchall()
    return [int(row[0]) for row in rows]


def temp_files(directory: Path) -> list[Path]:
    """The atomic-output temp files (``.NAME.<hex>.tmp``, and side files) in ``directory``."""
    if not directory.exists():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


def mysql_execute(sql: str, params: Any = None) -> None:
    """Run one statement on the MariaDB test server as root (autocommit)."""
    pymysql = importlib.import_module("pymysql")
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        conn.close()
