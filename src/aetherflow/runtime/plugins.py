"""Plugin loading: plugin directories and ``aetherflow.plugins`` entry points.

* A plugin directory's ``*.py`` files (sorted, recursive, skipping names that start with ``_``
  and hidden directories) are imported once per process under a private module name
  (``aetherflow_plugin_<hash>_<stem>``), so a plugin file named ``json.py`` never shadows the
  standard library. The directory is *appended* to ``sys.path`` (the predecessor inserted it
  first; gap G54) so plugins can import their own helper modules.
* Entry points in the group ``aetherflow.plugins`` are loaded; a callable is called, otherwise its
  ``register()`` is called when present.
* Registrations made while a plugin loads are attributed to it (``plugins list``).
* With ``strict`` (``AETHERFLOW_PLUGIN_STRICT``, default true) any failure raises
  :class:`~aetherflow.errors.PluginError`; otherwise it is logged and skipped.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from aetherflow.errors import PluginError
from aetherflow.runtime.registry import registration_origin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "aetherflow.plugins"


@dataclass(frozen=True)
class LoadedPlugin:
    """One loaded plugin file or entry point.

    Attributes:
        source: ``path`` or ``entry_point``.
        name: The file path, or the entry point name.
        sha256: The file's content hash ("" for entry points).
        module: The module name it was imported as.
    """

    source: str
    name: str
    sha256: str
    module: str


_loaded_files: dict[Path, LoadedPlugin] = {}
_loaded_entry_points: dict[str, LoadedPlugin] = {}


def plugin_files(directory: Path) -> list[Path]:
    """The plugin files of ``directory`` in load order."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        relative = path.relative_to(directory).parts
        if path.name.startswith("_") or any(part.startswith(".") for part in relative[:-1]):
            continue
        found.append(path)
    return found


def _fail(strict: bool, message: str, exc: BaseException | None = None) -> None:
    if strict:
        raise PluginError(message) from exc
    log.warning("%s (AETHERFLOW_PLUGIN_STRICT=false: skipped)", message)


def _import_file(path: Path) -> LoadedPlugin:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    name = f"aetherflow_plugin_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with registration_origin(f"path:{path}"):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return LoadedPlugin(source="path", name=str(path), sha256=digest, module=name)


def load_plugin_dirs(directories: Sequence[str | Path], *, strict: bool) -> list[LoadedPlugin]:
    """Import every plugin file of ``directories`` (each file at most once per process).

    Raises:
        PluginError: In strict mode, a missing directory or a file that fails to import.
    """
    loaded: list[LoadedPlugin] = []
    for entry in directories:
        directory = Path(entry).expanduser().resolve()
        if not directory.is_dir():
            _fail(strict, f"plugin directory {entry} does not exist or is not a directory")
            continue
        if str(directory) not in sys.path:
            sys.path.append(str(directory))
        for path in plugin_files(directory):
            if path in _loaded_files:
                loaded.append(_loaded_files[path])
                continue
            try:
                plugin = _import_file(path)
            except Exception as exc:  # noqa: BLE001 - plugin code can raise anything
                _fail(
                    strict, f"plugin file {path} failed to load: {type(exc).__name__}: {exc}", exc
                )
                continue
            _loaded_files[path] = plugin
            loaded.append(plugin)
    return loaded


def load_entry_points(*, strict: bool, allowed: Iterable[str] | None = None) -> list[LoadedPlugin]:
    """Load plugins registered under the ``aetherflow.plugins`` entry point group.

    Args:
        strict: Raise on failure instead of logging.
        allowed: When given, only entry points with these names load (enterprise mode).
    """
    allow = None if allowed is None else set(allowed)
    loaded: list[LoadedPlugin] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if allow is not None and ep.name not in allow:
            log.info("entry point plugin %s not allowed by the manifest; not loaded", ep.name)
            continue
        if ep.name in _loaded_entry_points:
            loaded.append(_loaded_entry_points[ep.name])
            continue
        try:
            with registration_origin(f"entry_point:{ep.name}"):
                target = ep.load()
                hook: Callable[[], object] | None = (
                    target if callable(target) else getattr(target, "register", None)
                )
                if hook is not None:
                    hook()
        except Exception as exc:  # noqa: BLE001 - plugin code can raise anything
            _fail(strict, f"entry point plugin {ep.name} failed to load: {exc}", exc)
            continue
        plugin = LoadedPlugin(source="entry_point", name=ep.name, sha256="", module=ep.value)
        _loaded_entry_points[ep.name] = plugin
        loaded.append(plugin)
    return loaded
