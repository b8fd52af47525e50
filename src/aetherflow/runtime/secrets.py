"""The user's secrets hook: a module (``AETHERFLOW_SECRETS_MODULE``, wins) or a Python file
(``AETHERFLOW_SECRETS_PATH``) exposing ``decode(value: str) -> str`` (required) and
``expand_env(env: dict) -> dict`` (optional). Loaded once per process; validation and runs use the
same hook and the same expanded snapshot (gap G17).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aetherflow.errors import ConfigError

_loaded: dict[str, SecretsHook] = {}


@dataclass(frozen=True)
class SecretsHook:
    """A loaded secrets hook."""

    source: str
    decode_fn: Callable[[str], Any]
    expand_env_fn: Callable[[dict[str, str]], Any] | None

    def decode(self, value: str) -> str:
        """Decode one value.

        Raises:
            ConfigError: The hook raised or returned something that is not a string.
        """
        try:
            result = self.decode_fn(value)
        except Exception as exc:
            raise ConfigError(
                f"secrets hook {self.source}: decode failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, str):
            raise ConfigError(
                f"secrets hook {self.source}: decode must return str, got {type(result).__name__}"
            )
        return result

    def expand_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Apply ``expand_env`` (if the hook has one) to a copy of ``env``."""
        if self.expand_env_fn is None:
            return dict(env)
        try:
            result = self.expand_env_fn(dict(env))
        except Exception as exc:
            raise ConfigError(
                f"secrets hook {self.source}: expand_env failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(result, Mapping):
            raise ConfigError(
                f"secrets hook {self.source}: expand_env must return a dict, got "
                f"{type(result).__name__}"
            )
        return {str(k): str(v) for k, v in result.items() if v is not None}


def _import_path(path: str) -> ModuleType:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"AETHERFLOW_SECRETS_PATH={path} does not exist or is not a file")
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]
    name = f"aetherflow_secrets_{digest}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"AETHERFLOW_SECRETS_PATH={path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(
            f"AETHERFLOW_SECRETS_PATH={path} failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise ConfigError(
            f"AETHERFLOW_SECRETS_MODULE={name} cannot be imported: {type(exc).__name__}: {exc}"
        ) from exc


def load_secrets_hook(module: str | None, path: str | None) -> SecretsHook | None:
    """Load the configured hook once per process (module wins over path); None if neither.

    Raises:
        ConfigError: It cannot be imported or has no callable ``decode``.
    """
    if not module and not path:
        return None
    key = f"module:{module}" if module else f"path:{path}"
    if key not in _loaded:
        loaded = _import_module(module) if module else _import_path(str(path))
        decode = getattr(loaded, "decode", None)
        if not callable(decode):
            raise ConfigError(f"secrets hook {key} must define a callable decode(value)")
        expand = getattr(loaded, "expand_env", None)
        _loaded[key] = SecretsHook(key, decode, expand if callable(expand) else None)
    return _loaded[key]
