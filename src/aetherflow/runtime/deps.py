"""Importing optional dependencies with an actionable error."""

from __future__ import annotations

import importlib
from typing import Any

from aetherflow.errors import MissingDependency

EXTRA_FOR_MODULE: dict[str, str] = {
    "pyarrow": "parquet",
    "duckdb": "duckdb",
    "openpyxl": "excel",
    "xlsxwriter": "excel",
    "paramiko": "sftp",
    "smbclient": "smb",
    "smbprotocol": "smb",
    "smb": "smb",
    "psycopg": "postgres",
    "pymysql": "mysql",
    "sqlalchemy": "db",
    "oracledb": "db",
    "pyexasol": "db",
    "httpx": "rest",
    "pyzipper": "zip",
    "opentelemetry": "otel",
}


def install_hint(module: str) -> str:
    """Return the pip command that installs ``module``'s extra."""
    top = module.partition(".")[0]
    extra = EXTRA_FOR_MODULE.get(top)
    return f"pip install 'aetherflow[{extra}]'" if extra else f"pip install {top}"


def require(spec: str, *, needed_for: str = "") -> Any:
    """Import an optional module (``"mod"``) or one of its attributes (``"mod:attr"``).

    Args:
        spec: ``module`` or ``module:attribute``.
        needed_for: What needs it, e.g. ``step db_extract_stream with format parquet``.

    Raises:
        MissingDependency: The module (or attribute) is not available; the message says what
            to install.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        who = f"{needed_for} needs" if needed_for else "Optional dependency missing:"
        raise MissingDependency(f"{who} {module_name} — {install_hint(module_name)}") from exc
    if not attr:
        return module
    return require_attr(module, attr, needed_for=needed_for)


def require_attr(module: Any, attr: str, *, needed_for: str = "") -> Any:
    """Return ``module.attr`` or raise MissingDependency naming both."""
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        name = getattr(module, "__name__", repr(module))
        who = f" ({needed_for})" if needed_for else ""
        raise MissingDependency(
            f"Optional dependency missing: {name}.{attr}{who} — upgrade {name}"
        ) from exc
