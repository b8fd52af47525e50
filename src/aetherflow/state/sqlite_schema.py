"""The schema of the SQLite state store: numbered migrations and how they are applied.

The schema is built by replaying :data:`MIGRATIONS` from version 0, so a fresh database and a
migrated one are the same by construction. The store runs :func:`upgrade` inside one
``BEGIN IMMEDIATE`` transaction: a migration that fails leaves the database unchanged.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable

from aetherflow import __version__
from aetherflow.errors import StateError
from aetherflow.state.serialize import Migration, named_queries, sql_text
from aetherflow.state.store import SCHEMA_VERSION

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, functools.partial(sql_text, "sqlite", "0001_initial.sql")),
    Migration(2, functools.partial(sql_text, "sqlite", "0002_audit.sql")),
    Migration(3, functools.partial(sql_text, "sqlite", "0003_lease_instance.sql")),
    Migration(4, functools.partial(sql_text, "sqlite", "0004_step_writes.sql")),
    Migration(5, functools.partial(sql_text, "sqlite", "0005_attempt_history.sql")),
)


def split_statements(script: str) -> list[str]:
    """The complete statements of an SQL script, in order (a trailing comment is dropped).

    Migrations run them one by one: ``executescript`` would commit the open transaction first.
    """
    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statements.append(script[start : index + 1].strip())
            start = index + 1
    return statements


def read_version(conn: sqlite3.Connection, path: str) -> int:
    """The schema version of the database (0 when it has no tables yet).

    Raises:
        StateError: The database has tables but is not an AetherFlow state database.
    """
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = {row[0] for row in rows if not row[0].startswith("sqlite_")}
    if "schema_version" in tables:
        return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
    if tables:
        raise StateError(
            f"{path} is not an AetherFlow state database (it has tables "
            f"{', '.join(sorted(tables))} but no schema_version); point state at another file"
        )
    return 0


def is_current(version: int) -> bool:
    """True when a database at ``version`` needs no migration."""
    return version == SCHEMA_VERSION


def refuse_newer(version: int, path: str) -> None:
    """Refuse a database written by a newer AetherFlow.

    Raises:
        StateError: ``version`` is above the version this code knows.
    """
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state database {path} has schema version {version}, but this AetherFlow "
            f"({__version__}) knows versions up to {SCHEMA_VERSION}: it was written by a "
            "newer AetherFlow. Upgrade AetherFlow, or point state at another database."
        )


def upgrade(conn: sqlite3.Connection, path: str, now_ms: Callable[[], int]) -> None:
    """Apply every migration the database lacks (inside the caller's write transaction).

    The version is read again here: another process may have migrated meanwhile.

    Raises:
        StateError: Not a state database, a newer one, or a migration failed.
    """
    version = read_version(conn, path)
    refuse_newer(version, path)
    for migration in MIGRATIONS:
        if version < migration.version <= SCHEMA_VERSION:
            _apply(conn, path, migration, now_ms())


def _apply(conn: sqlite3.Connection, path: str, migration: Migration, applied_at: int) -> None:
    try:
        for statement in split_statements(migration.load()):
            conn.execute(statement)
        applied = {"version": migration.version, "applied_at": applied_at}
        conn.execute(named_queries("sqlite")["record_version"], applied)
    except sqlite3.Error as exc:
        raise StateError(
            f"state database {path}: migration to schema version {migration.version} "
            f"failed: {exc}; the database was left unchanged"
        ) from exc
