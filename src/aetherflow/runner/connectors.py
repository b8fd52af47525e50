"""The connector manager: creates connectors for resources, with cache scopes.

Cache scope order: the per-call ``cache`` argument; ``AETHERFLOW_CONNECTOR_CACHE_DISABLED``
forces ``none``; the resource's ``options.cache``; ``AETHERFLOW_CONNECTOR_CACHE_DEFAULT``.

* ``run``: one instance per run, closed by :meth:`ConnectorManager.close_all` when the run ends.
* ``process``: one instance per process for the same kind/driver/name *and config* (a changed
  config gets a new instance), closed at interpreter exit.
* ``none``: a new instance per call; the caller owns it.
"""

from __future__ import annotations

import atexit
import hashlib
import inspect
import logging
from typing import Any

from aetherflow.errors import ConfigError, ConnectorError
from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.outputs import canonical_json
from aetherflow.runner.resources import ResolvedResource, ResourceResolver
from aetherflow.runtime.registry import Registry

log = logging.getLogger(__name__)

CACHE_SCOPES = ("run", "process", "none")
_process_cache: dict[tuple[str, str, str, str], Any] = {}


def _close_quietly(connector: Any, where: str) -> None:
    close = getattr(connector, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:  # noqa: BLE001 - cleanup boundary: log and continue closing others
        log.warning("closing connector %s failed: %s: %s", where, type(exc).__name__, exc)


@atexit.register
def _close_process_cache() -> None:
    for key, connector in list(_process_cache.items()):
        _close_quietly(connector, ":".join(key[:3]))
    _process_cache.clear()


def instantiate(cls: type[Any], init: ConnectorInit) -> Any:
    """Create a connector: ``cls(init)``, or ``cls(config, options)`` for the predecessor's
    two-argument constructors (decided from the signature, never by catching TypeError)."""
    try:
        params = [
            p
            for p in inspect.signature(cls).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    if len(params) >= 2 and params[0].name == "config" and params[1].name == "options":
        return cls(init.config, init.options)
    return cls(init)


class ConnectorManager:
    """Hands out connectors for the run's resources."""

    def __init__(
        self,
        resources: ResourceResolver,
        registry: Registry,
        *,
        default_cache: str = "run",
        cache_disabled: bool = False,
        ctx: Any = None,
    ) -> None:
        self.resources = resources
        self.registry = registry
        self.default_cache = default_cache
        self.cache_disabled = cache_disabled
        self.ctx = ctx
        self._run_cache: dict[str, Any] = {}

    def _scope(self, resource: ResolvedResource, cache: str | None) -> str:
        scope = cache or ("none" if self.cache_disabled else None)
        scope = scope or resource.options.get("cache") or self.default_cache
        if scope not in CACHE_SCOPES:
            raise ConfigError(
                f"resource {resource.name!r}: cache must be one of {', '.join(CACHE_SCOPES)}, "
                f"got {scope!r}"
            )
        return str(scope)

    def get(self, kind: str | None, name: str, cache: str | None = None) -> Any:
        """The connector for resource ``name`` (checking its kind when ``kind`` is given).

        Raises:
            KeyError: Unknown resource, or a kind mismatch.
            RegistryError: The resource's kind/driver is not registered.
        """
        resource = self.resources[name]
        if kind is not None and resource.kind != kind:
            raise KeyError(f"resource {name!r} is kind {resource.kind!r}, not {kind!r}")
        scope = self._scope(resource, cache)
        if scope == "run" and name in self._run_cache:
            return self._run_cache[name]
        cls = self.registry.connector(resource.kind, resource.driver)
        init = ConnectorInit(
            name=name,
            kind=resource.kind,
            driver=resource.driver,
            config=resource.config,
            options=resource.options,
            ctx=self.ctx,
        )
        if scope == "process":
            digest = hashlib.sha256(
                canonical_json([resource.config, resource.options]).encode()
            ).hexdigest()
            key = (resource.kind, resource.driver, name, digest)
            if key not in _process_cache:
                _process_cache[key] = self._create(cls, init)
            return _process_cache[key]
        connector = self._create(cls, init)
        if scope == "run":
            self._run_cache[name] = connector
        return connector

    @staticmethod
    def _create(factory: type[Any], init: ConnectorInit) -> Any:
        try:
            return instantiate(factory, init)
        except ConnectorError:
            raise
        except Exception as exc:
            raise ConnectorError(
                f"creating connector {init.kind}:{init.driver} for resource {init.name!r} "
                f"failed: {type(exc).__name__}: {exc}"
            ) from exc

    def __getitem__(self, name: str) -> Any:
        return self.get(None, name)

    def db(self, name: str, cache: str | None = None) -> Any:
        """A ``db`` connector."""
        return self.get("db", name, cache)

    def rest(self, name: str, cache: str | None = None) -> Any:
        """A ``rest`` connector."""
        return self.get("rest", name, cache)

    def sftp(self, name: str, cache: str | None = None) -> Any:
        """An ``sftp`` connector."""
        return self.get("sftp", name, cache)

    def smb(self, name: str, cache: str | None = None) -> Any:
        """An ``smb`` connector."""
        return self.get("smb", name, cache)

    def mail(self, name: str, cache: str | None = None) -> Any:
        """A ``mail`` connector."""
        return self.get("mail", name, cache)

    def archive(self, name: str, cache: str | None = None) -> Any:
        """An ``archive`` connector."""
        return self.get("archive", name, cache)

    def close_all(self) -> None:
        """Close the run-scoped connectors (errors are logged, never raised)."""
        for name, connector in list(self._run_cache.items()):
            _close_quietly(connector, name)
        self._run_cache.clear()
