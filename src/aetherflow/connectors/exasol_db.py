"""``db:exasol``: Exasol through pyexasol (WebSocket protocol).

Config: ``dsn`` (``host:port``, or a range/list pyexasol accepts), ``user``, ``password``,
``schema`` (optional). Options: ``timeout`` (seconds; sets pyexasol's ``connection_timeout`` and
``socket_timeout``), and pyexasol's own ``connection_timeout``, ``socket_timeout``,
``query_timeout``, ``compression``, ``encryption``, ``autocommit``, ``fetch_size_bytes`` by name.
Parameters use pyexasol's client-side formatting: ``{name}`` (a quoted value), ``{name!d}``
(decimal), ``{name!i}`` (identifier), with a mapping. One connection per connector.

Values are mapped as in the Exasol manual (``DECIMAL(p,0)`` → int, ``DECIMAL(p,s)`` → Decimal,
``DATE`` → date, ``TIMESTAMP`` → datetime). pyexasol reads results in chunks of
``fetch_size_bytes``, so a stream's memory is bounded.

No Exasol server runs where AetherFlow is tested: this connector is tested against the driver's
API shape only (tests/unit/connectors/test_exasol_db.py, with a fake ``pyexasol`` module).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from collections.abc import Iterator, Mapping
from typing import Any

from aetherflow.connectors.dbapi import BatchStream, DbConnector, check_batch_size
from aetherflow.errors import ConfigError, ConnectorError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.database import Column, Params

PASSTHROUGH_OPTIONS = (
    "connection_timeout",
    "socket_timeout",
    "query_timeout",
    "compression",
    "encryption",
    "autocommit",
    "fetch_size_bytes",
)
_TYPES = {
    "DOUBLE": "float",
    "BOOLEAN": "bool",
    "DATE": "date",
    "TIMESTAMP": "datetime",
    "TIMESTAMP WITH LOCAL TIME ZONE": "datetime",
}


def exasol_value(value: Any, data_type: Mapping[str, Any]) -> Any:
    """pyexasol ``fetch_mapper``: a WebSocket value → the Python type of its logical type."""
    if value is None:
        return None
    kind = data_type.get("type")
    if kind == "DECIMAL":
        return int(value) if int(data_type.get("scale") or 0) == 0 else decimal.Decimal(str(value))
    if kind == "DATE":
        return dt.date.fromisoformat(str(value))
    if kind in ("TIMESTAMP", "TIMESTAMP WITH LOCAL TIME ZONE"):
        text = str(value)
        if len(text) > 19:  # up to 9 fractional digits; Python keeps 6
            text = f"{text[:19]}.{text[20:26].ljust(6, '0')}"
        return dt.datetime.fromisoformat(text)
    return value


def exasol_column(name: str, data_type: Mapping[str, Any]) -> Column:
    """A :class:`Column` from pyexasol's column metadata (``type``, ``precision``, ``scale``)."""
    kind = str(data_type.get("type") or "")
    if kind == "DECIMAL":
        scale = int(data_type.get("scale") or 0)
        if scale == 0:
            return Column(name, "int")
        precision = data_type.get("precision")
        return Column(name, "decimal", int(precision) if precision else None, scale)
    return Column(name, _TYPES.get(kind, "string"))


class ExasolDB(DbConnector):
    """The ``db:exasol`` connector."""

    family = "exasol"
    requires = ("pyexasol",)

    def __init__(self, init: ConnectorInit) -> None:
        super().__init__(init)
        self.dsn = str(self.config.get("dsn") or "")
        if not self.dsn:
            raise ConfigError(f"db:exasol resource {self.name!r} needs config.dsn")
        self._conn: Any = None

    def _where(self) -> str:
        return self.mask(self.dsn)

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self._require("pyexasol").ExaError,)

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "dsn": self.dsn,
            "user": self.config.get("user"),
            "password": self.config.get("password"),
            "fetch_mapper": exasol_value,
        }
        if self.config.get("schema"):
            kwargs["schema"] = str(self.config["schema"])
        if self.options.get("timeout") is not None:
            kwargs["connection_timeout"] = kwargs["socket_timeout"] = self.options["timeout"]
        kwargs.update({k: self.options[k] for k in PASSTHROUGH_OPTIONS if k in self.options})
        return kwargs

    def connect_raw(self) -> Any:
        """The connector's pyexasol connection (opened on first use; the connector owns it)."""
        if self._conn is not None and not getattr(self._conn, "is_closed", False):
            return self._conn
        pyexasol = self._require("pyexasol")
        try:
            self._conn = pyexasol.connect(**self._connect_kwargs())
        except pyexasol.ExaError as exc:
            raise self._connect_error(exc) from exc
        return self._conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """The connector's connection for a block; not closed at the end (the predecessor's
        ``connect``)."""
        yield self.connect_raw()

    def _params(self, params: Params) -> Mapping[str, Any] | None:
        if params is None or isinstance(params, Mapping):
            return params
        raise ConnectorError(
            f"exasol resource {self.name!r}: parameters are named ({{name}}) — pass a mapping, "
            f"got {type(params).__name__}"
        )

    @contextlib.contextmanager
    def stream(
        self, sql: str, params: Params = None, *, batch_size: int = 5000
    ) -> Iterator[BatchStream]:
        """Run a query; rows are fetched ``batch_size`` at a time from pyexasol's chunks."""
        check_batch_size(batch_size)
        conn = self.connect_raw()
        with self._guard("query", sql):
            statement = conn.execute(sql, self._params(params))
        try:
            names = list(statement.column_names() or ())
            types = statement.columns() or {}
            columns = [exasol_column(name, types.get(name) or {}) for name in names]
            fetch = self._guarded(statement.fetchmany, sql)
            yield BatchStream(columns, fetch if names else (lambda _size: []), batch_size)
        finally:
            statement.close()

    def execute(self, sql: str, params: Params = None) -> int:
        """Run a statement and commit (unless autocommit is on); the affected row count."""
        conn = self.connect_raw()
        with self._guard("statement", sql):
            statement = conn.execute(sql, self._params(params))
            count = int(statement.rowcount())
            statement.close()
            if not self._autocommit():
                conn.commit()
        return count

    def _autocommit(self) -> bool:
        return bool(self.options.get("autocommit", True))

    def close(self) -> None:
        """Close the connection (idempotent; a later call reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None and not getattr(conn, "is_closed", False):
            conn.close()
