"""The immutable env snapshot of a run (``50-config-and-trust.md``).

Layers, later wins: the process environment (strings) → ``AETHERFLOW_ENV_FILES_JSON`` files →
bundle manifest env files → keys the runner injects → the secrets hook's ``expand_env``.
``os.environ`` is never written; the CLI reads it once and passes it in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


def build_snapshot(
    process_env: Mapping[str, str],
    *,
    injected: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> EnvSnapshot:
    """Build a snapshot from the process env and the env files it lists.

    Args:
        process_env: The process environment (the CLI passes ``os.environ``).
        injected: Keys the runner injects (applied last).
        base_dir: Where relative env-file paths resolve (the CWD when None).

    Raises:
        ConfigError: An env file is missing or invalid.
    """
    snapshot = EnvSnapshot(process_env)
    files = env_files_from_env(snapshot)
    if files:
        snapshot = snapshot.with_layer(load_env_files(files, base_dir=base_dir))
    if injected:
        snapshot = snapshot.with_layer(injected)
    return snapshot
