"""The immutable env snapshot of a run (``50-config-and-trust.md``).

Layers, later wins: the process environment (strings) → ``AETHERFLOW_ENV_FILES_JSON`` files →
bundle manifest env files → keys the runner injects → the secrets hook's ``expand_env``.
``os.environ`` is never written; the CLI reads it once and passes it in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from aetherflow.runtime.envfiles import env_files_from_env, load_env_files


class EnvSnapshot(Mapping[str, str]):
    """A read-only ``str → str`` mapping."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data: dict[str, str] = {str(k): str(v) for k, v in data.items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"EnvSnapshot({len(self._data)} keys)"

    def with_layer(self, layer: Mapping[str, str]) -> EnvSnapshot:
        """Return a new snapshot with ``layer`` applied over this one."""
        return EnvSnapshot({**self._data, **layer})


PROTECTED_FROM_ENV_FILES = (
    "AETHERFLOW_MODE",
    "AETHERFLOW_ENV_FILES_JSON",
    "AETHERFLOW_SETTINGS_MODULE",
)
"""Keys env files cannot set: the trust mode is decided before env files load (a settings
module could set ``mode`` and plugin paths, so it cannot come from an env file either)."""


def build_snapshot(
    process_env: Mapping[str, str],
    *,
    injected: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    on_ignored: Callable[[str], None] | None = None,
) -> EnvSnapshot:
    """Build a snapshot from the process env and the env files it lists.

    Env files cannot switch the mode (``AETHERFLOW_MODE``); such keys are ignored and reported
    to ``on_ignored``.

    Args:
        process_env: The process environment (the CLI passes ``os.environ``).
        injected: Keys the runner injects (applied last).
        base_dir: Where relative env-file paths resolve (the CWD when None).
        on_ignored: Told the name of every env-file key that was ignored.

    Raises:
        ConfigError: An env file is missing or invalid.
    """
    snapshot = EnvSnapshot(process_env)
    files = env_files_from_env(snapshot)
    if files:
        layer = load_env_files(files, base_dir=base_dir)
        for key in PROTECTED_FROM_ENV_FILES:
            if key in layer:
                layer.pop(key)
                if on_ignored is not None:
                    on_ignored(key)
        snapshot = snapshot.with_layer(layer)
    if injected:
        snapshot = snapshot.with_layer(injected)
    return snapshot
