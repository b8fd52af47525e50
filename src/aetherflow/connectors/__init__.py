"""Layer 5: built-in connectors. They register through the same registry plugins use.

Database connectors (``db:*``) implement :class:`aetherflow.runner.database.Database`; their
drivers are imported only when a connector is used (see ``docs/steps/database.md#connectors``).
"""

from __future__ import annotations

from aetherflow.runtime.registry import REGISTRY, Registry, registration_origin


def register_builtin_connectors(registry: Registry = REGISTRY) -> None:
    """Register every built-in connector (idempotent)."""
    from aetherflow.connectors.duckdb_db import DuckDB  # noqa: PLC0415 - registered on demand
    from aetherflow.connectors.exasol_db import ExasolDB  # noqa: PLC0415
    from aetherflow.connectors.mysql_db import MySQLDB  # noqa: PLC0415
    from aetherflow.connectors.oracle_db import OracleDB  # noqa: PLC0415
    from aetherflow.connectors.postgres_db import PostgresDB  # noqa: PLC0415
    from aetherflow.connectors.sqlalchemy_db import SQLAlchemyDB  # noqa: PLC0415
    from aetherflow.connectors.sqlite_db import SQLiteDB  # noqa: PLC0415

    with registration_origin("builtin"):
        registry.add_connector("db", "sqlite3", SQLiteDB)
        registry.add_connector("db", "duckdb", DuckDB)
        registry.add_connector("db", "postgres", PostgresDB)
        registry.add_connector("db", "mysql", MySQLDB)
        registry.add_connector("db", "sqlalchemy", SQLAlchemyDB)
        registry.add_connector("db", "oracledb", OracleDB)
        registry.add_connector("db", "exasol", ExasolDB)
