"""Profiles file model: profile name → ``{config, options, decode}`` (``10-yaml.md``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from aetherflow.spec.base import StrictModel
from aetherflow.spec.flow import DecodeSpec


class ProfileSpec(StrictModel):
    """One profile: the base layer a resource's own config/options deep-merge over."""

    config: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    decode: DecodeSpec = Field(default_factory=DecodeSpec)


class ProfilesFileSpec(RootModel[dict[str, ProfileSpec]]):
    """The whole profiles file (YAML via AETHERFLOW_PROFILES_FILE or JSON via ..._JSON)."""
