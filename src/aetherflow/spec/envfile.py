"""Env file spec ``{type, path, optional, prefix}`` (``50-config-and-trust.md``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from aetherflow.spec.base import StrictModel

_TYPE_ALIASES = {"directory": "dir", "dir-of-files": "dir", "env": "dotenv"}


class EnvFileSpec(StrictModel):
    """One env file: ``dotenv`` (KEY=VALUE), ``json`` (an object) or ``dir`` (a file per key)."""

    type: Literal["dotenv", "json", "dir"] = "dotenv"
    path: str = Field(min_length=1)
    optional: bool = False
    prefix: str = ""

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """Accept a bare path string, the ``format`` alias and case-insensitive type names."""
        if isinstance(data, str):
            return {"type": "dotenv", "path": data}
        if isinstance(data, dict):
            data = dict(data)
            if "format" in data and "type" not in data:
                data["type"] = data.pop("format")
            kind = data.get("type")
            if isinstance(kind, str):
                lowered = kind.strip().lower()
                data["type"] = _TYPE_ALIASES.get(lowered, lowered)
        return data
