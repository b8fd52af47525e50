"""Env files: ``dotenv``, ``json`` and ``dir`` (``50-config-and-trust.md``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from aetherflow.errors import ConfigError
from aetherflow.spec.envfile import EnvFileSpec

_SPECS = TypeAdapter(list[EnvFileSpec])


def parse_env_files_json(text: str) -> list[EnvFileSpec]:
    """Parse ``AETHERFLOW_ENV_FILES_JSON`` (a JSON list of env-file specs).

    Raises:
        ConfigError: Invalid JSON or an invalid spec (the message names the variable).
    """
    try:
        return _SPECS.validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"[{'.'.join(str(p) for p in err['loc'])}] {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"AETHERFLOW_ENV_FILES_JSON is invalid: {problems}") from exc


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def read_dotenv(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines; ``#`` comments, blank lines and an ``export`` prefix allowed."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#") or "=" not in text:
            continue
        if text.startswith("export "):
            text = text[len("export ") :].lstrip()
        key, _, value = text.partition("=")
        key = key.strip()
        if key:
            values[key] = _unquote(value.strip())
    return values


def read_json(path: Path) -> dict[str, str]:
    """Read a top-level JSON object; null skipped, nested values JSON-encoded."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"env file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"env file {path} must contain a JSON object, got {type(data).__name__}")
    values: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            values[key] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        else:
            values[key] = str(value)
    return values


def read_dir(path: Path) -> dict[str, str]:
    """One regular file per key; the value is its text without the trailing newline."""
    if not path.is_dir():
        raise ConfigError(f"env dir {path} is not a directory")
    values: dict[str, str] = {}
    for entry in sorted(path.iterdir()):
        if entry.is_file():
            values[entry.name] = entry.read_text(encoding="utf-8").removesuffix("\n")
    return values


_READERS = {"dotenv": read_dotenv, "json": read_json, "dir": read_dir}


def load_env_file(spec: EnvFileSpec, *, base_dir: Path | None = None) -> dict[str, str]:
    """Load one env file.

    Args:
        spec: The file spec.
        base_dir: Directory relative paths resolve against (the CWD when None).

    Returns:
        ``{prefix + key: value}``; empty for a missing optional file.

    Raises:
        ConfigError: A missing non-optional file, or unreadable content.
    """
    path = Path(spec.path)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.exists():
        if spec.optional:
            return {}
        raise ConfigError(
            f"env file {path} ({spec.type}) does not exist; create it or mark it optional: true"
        )
    try:
        values = _READERS[spec.type](path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"env file {path} cannot be read: {exc}") from exc
    return {f"{spec.prefix}{key}": value for key, value in values.items()}


def load_env_files(specs: Iterable[EnvFileSpec], *, base_dir: Path | None = None) -> dict[str, str]:
    """Load several env files in order; later files override earlier ones."""
    merged: dict[str, str] = {}
    for spec in specs:
        merged.update(load_env_file(spec, base_dir=base_dir))
    return merged


def env_files_from_env(env: Mapping[str, str]) -> list[EnvFileSpec]:
    """The specs listed in ``AETHERFLOW_ENV_FILES_JSON`` of ``env`` (empty when unset)."""
    text = env.get("AETHERFLOW_ENV_FILES_JSON", "").strip()
    return parse_env_files_json(text) if text else []
