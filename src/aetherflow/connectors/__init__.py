"""Layer 5: built-in connectors. They register through the same registry plugins use.

Database connectors (``db:*``) implement :class:`aetherflow.runner.database.Database`; their
drivers are imported only when a connector is used (see ``docs/steps/database.md#connectors``).
"""

from __future__ import annotations

from aetherflow.runtime.registry import REGISTRY, Registry, registration_origin

BUILTIN_CONNECTORS = {
    ("db", "sqlite3"): "aetherflow.connectors.sqlite_db:SQLiteDB",
    ("db", "duckdb"): "aetherflow.connectors.duckdb_db:DuckDB",
    ("db", "postgres"): "aetherflow.connectors.postgres_db:PostgresDB",
    ("db", "mysql"): "aetherflow.connectors.mysql_db:MySQLDB",
    ("db", "sqlalchemy"): "aetherflow.connectors.sqlalchemy_db:SQLAlchemyDB",
    ("db", "oracledb"): "aetherflow.connectors.oracle_db:OracleDB",
    ("db", "exasol"): "aetherflow.connectors.exasol_db:ExasolDB",
}
"""``(kind, driver)`` → ``module:Class``, imported when first used (as the built-in steps)."""


def register_builtin_connectors(registry: Registry = REGISTRY) -> None:
    """Register every built-in connector (idempotent; nothing is imported yet)."""
    with registration_origin("builtin"):
        for (kind, driver), target in BUILTIN_CONNECTORS.items():
            registry.add_connector(kind, driver, target)
