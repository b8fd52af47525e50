"""The connector contract: what the registry instantiates for a resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class ConnectorInit:
    """Everything a connector is constructed from.

    Attributes:
        name: The resource name.
        kind: Connector kind (``db``, ``sftp``, ...).
        driver: Connector driver (``postgres``, ``paramiko``, ...).
        config: Rendered and decoded config.
        options: Rendered and decoded options.
        ctx: The run context (None outside a run).
    """

    name: str
    kind: str
    driver: str
    config: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    ctx: Any = None


class ConnectorBase:
    """Base class of connectors: keeps the init fields and closes on ``with`` exit."""

    def __init__(self, init: ConnectorInit) -> None:
        self.init = init
        self.name = init.name
        self.kind = init.kind
        self.driver = init.driver
        self.config = init.config
        self.options = init.options
        self.ctx = init.ctx

    def close(self) -> None:
        """Release network connections and other resources. The base has none."""

    def __enter__(self) -> ConnectorBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
