"""The step and connector registry.

Built-in steps and connectors register through the same functions plugins use
(:func:`register_step`, :func:`register_connector`). Registering a name twice is an error unless
``replace=True`` is passed (the predecessor let a later registration silently win; gap G50).
Each entry remembers where it came from (``builtin``, ``path:<file>``, ``entry_point:<name>``,
``api``) so ``aetherflow plugins list`` can say so.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aetherflow.errors import RegistryError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=type[Any])

_origin: ContextVar[str] = ContextVar("aetherflow_registration_origin", default="api")


@contextlib.contextmanager
def registration_origin(origin: str) -> Iterator[None]:
    """Attribute registrations made inside the block to ``origin`` (used by plugin loading)."""
    token = _origin.set(origin)
    try:
        yield
    finally:
        _origin.reset(token)


Target = type[Any] | str
"""A registered class, or ``"module:QualName"`` for one imported on first use (built-ins)."""

_resolved: dict[str, type[Any]] = {}


def resolve(target: Target) -> type[Any]:
    """The class of ``target`` (importing its module the first time).

    Raises:
        RegistryError: ``"module:QualName"`` names nothing importable.
    """
    if not isinstance(target, str):
        return target
    cls = _resolved.get(target)
    if cls is None:
        module, _, qualname = target.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"cannot load {target}: {exc}") from exc
        cls = _resolved[target] = obj
    return cls


@dataclass(frozen=True, slots=True)
class StepEntry:
    """A registered step type (``cls`` imports a built-in's module on first use)."""

    name: str
    target: Target
    origin: str

    @property
    def cls(self) -> type[Any]:
        """The step class."""
        return resolve(self.target)


@dataclass(frozen=True, slots=True)
class ConnectorEntry:
    """A registered connector ``kind:driver`` (``cls`` as in :class:`StepEntry`)."""

    kind: str
    driver: str
    target: Target
    origin: str

    @property
    def cls(self) -> type[Any]:
        """The connector class."""
        return resolve(self.target)

    @property
    def key(self) -> str:
        """``kind:driver``."""
        return f"{self.kind}:{self.driver}"


def _same(existing: Target, new: Target) -> bool:
    return existing == new or resolve(existing) is resolve(new)


@dataclass
class Registry:
    """Step types and connectors known to this process."""

    steps: dict[str, StepEntry] = field(default_factory=dict)
    connectors: dict[tuple[str, str], ConnectorEntry] = field(default_factory=dict)

    def add_step(
        self, name: str, cls: Target, *, origin: str | None = None, replace: bool = False
    ) -> None:
        """Register ``cls`` (a class, or ``"module:QualName"`` imported on first use) as step
        type ``name``.

        Raises:
            RegistryError: ``name`` is already registered and ``replace`` is False.
        """
        origin = origin or _origin.get()
        existing = self.steps.get(name)
        if existing is not None and not _same(existing.target, cls):
            if not replace:
                raise RegistryError(
                    f"step type {name!r} is already registered (from {existing.origin}); "
                    f"{origin} registers it again — use register_step({name!r}, replace=True) "
                    "to replace it deliberately"
                )
            log.warning(
                "step type %r from %s replaced by %s (replace=True)", name, existing.origin, origin
            )
        self.steps[name] = StepEntry(name=name, target=cls, origin=origin)

    def add_connector(
        self,
        kind: str,
        driver: str,
        cls: Target,
        *,
        origin: str | None = None,
        replace: bool = False,
    ) -> None:
        """Register ``cls`` (as in :meth:`add_step`) as connector ``kind:driver``.

        Raises:
            RegistryError: ``kind:driver`` is already registered and ``replace`` is False.
        """
        origin = origin or _origin.get()
        existing = self.connectors.get((kind, driver))
        if existing is not None and not _same(existing.target, cls):
            if not replace:
                raise RegistryError(
                    f"connector {kind}:{driver} is already registered (from {existing.origin}); "
                    f"{origin} registers it again — pass replace=True to replace it deliberately"
                )
            log.warning(
                "connector %s:%s from %s replaced by %s", kind, driver, existing.origin, origin
            )
        self.connectors[(kind, driver)] = ConnectorEntry(kind, driver, cls, origin)

    def step(self, name: str) -> type[Any]:
        """Return the class of step type ``name``.

        Raises:
            RegistryError: Unknown step type (the message lists the known ones).
        """
        entry = self.steps.get(name)
        if entry is None:
            known = ", ".join(sorted(self.steps)) or "(none)"
            raise RegistryError(f"unknown step type {name!r}; registered step types: {known}")
        return entry.cls

    def connector(self, kind: str, driver: str) -> type[Any]:
        """Return the class of connector ``kind:driver``.

        Raises:
            RegistryError: Unknown connector (the message lists the known ones).
        """
        entry = self.connectors.get((kind, driver))
        if entry is None:
            known = ", ".join(sorted(e.key for e in self.connectors.values())) or "(none)"
            raise RegistryError(
                f"unknown connector {kind}:{driver}; registered connectors: {known}"
            )
        return entry.cls

    def snapshot(self) -> tuple[dict[str, StepEntry], dict[tuple[str, str], ConnectorEntry]]:
        """Copy the current contents (tests restore it with :meth:`restore`)."""
        return dict(self.steps), dict(self.connectors)

    def restore(
        self, saved: tuple[dict[str, StepEntry], dict[tuple[str, str], ConnectorEntry]]
    ) -> None:
        """Restore contents saved by :meth:`snapshot`."""
        self.steps = dict(saved[0])
        self.connectors = dict(saved[1])


REGISTRY = Registry()
"""The process-wide registry that ``register_step``/``register_connector`` write to."""


def register_step(name: str, *, replace: bool = False) -> Callable[[T], T]:
    """Class decorator registering a step type (the predecessor's plugin API).

    Example::

        @register_step("my_step")
        class MyStep(Step):
            def run(self): ...
    """

    def decorate(cls: T) -> T:
        REGISTRY.add_step(name, cls, replace=replace)
        return cls

    return decorate


def register_connector(
    kind: str, driver: str | None = None, *, replace: bool = False
) -> Callable[[T], T]:
    """Class decorator registering a connector as ``kind``/``driver``.

    ``register_connector("db", "mydriver")`` is the predecessor's form;
    ``register_connector("db:mydriver")`` is accepted too.
    """
    if driver is None:
        kind, sep, driver = kind.partition(":")
        if not sep or not kind or not driver:
            raise RegistryError(
                f"register_connector needs a kind and a driver, e.g. register_connector('db', "
                f"'mydriver'); got {kind!r}"
            )

    def decorate(cls: T) -> T:
        REGISTRY.add_connector(kind, driver, cls, replace=replace)
        return cls

    return decorate


def get_step(name: str) -> type[Any]:
    """Return the class registered as step type ``name`` (RegistryError if unknown)."""
    return REGISTRY.step(name)


def list_steps() -> dict[str, type[Any]]:
    """Return ``{step type: class}`` for every registered step type, sorted by name."""
    return {name: REGISTRY.steps[name].cls for name in sorted(REGISTRY.steps)}


def get_connector(kind: str, driver: str) -> type[Any]:
    """Return the class registered as connector ``kind:driver`` (RegistryError if unknown)."""
    return REGISTRY.connector(kind, driver)


def list_connectors() -> dict[str, type[Any]]:
    """Return ``{"kind:driver": class}`` for every registered connector, sorted."""
    entries = sorted(REGISTRY.connectors.values(), key=lambda e: e.key)
    return {entry.key: entry.cls for entry in entries}
