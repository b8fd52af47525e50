"""Bundle manifest model (``90-bundles-and-scheduler.md``, reference §1.3)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aetherflow.spec.base import Identifier, Mode, StrictModel
from aetherflow.spec.envfile import EnvFileSpec
from aetherflow.spec.flow import ResourceSpec

BOOTSTRAP_PROFILE_MESSAGE = "manifest is bootstrap; profiles not available before sync"
SourceType = Literal["filesystem", "sftp", "smb", "db", "rest", "git", "archive"]
ZipDriver = Literal["pyzipper", "zipfile", "os", "external", "pyminizip"]


def _default_zip_drivers() -> list[ZipDriver]:
    return ["pyzipper", "zipfile"]


_NEEDS_RESOURCE = {"sftp", "smb", "db", "rest"}
_NEEDS_BASE_PATH = {"filesystem", "sftp", "smb"}


class BundleSourceSpec(StrictModel):
    """``bundle.source``: where the bundle's files come from."""

    type: SourceType = "filesystem"
    resource: str | None = None
    base_path: str | None = None
    bundle: str | None = None
    list_sql: str | None = None
    fetch_sql: str | None = None
    list_path: str | None = None
    fetch_path: str | None = None
    prefix_param: str | None = None
    strict_fingerprint: bool = False
    url: str | None = Field(default=None, description="git: repository URL; archive: path or URL.")
    ref: str | None = Field(default=None, description="git: branch, tag or commit.")
    sha256: str | None = Field(default=None, description="archive: expected sha256 of the file.")

    @model_validator(mode="after")
    def _required_per_type(self) -> BundleSourceSpec:
        if self.type in _NEEDS_RESOURCE and not self.resource:
            raise ValueError(f"bundle.source.resource is required for source type {self.type!r}")
        if self.type in _NEEDS_BASE_PATH and self.base_path is None:
            raise ValueError(f"bundle.source.base_path is required for source type {self.type!r}")
        if self.type in {"git", "archive"} and not self.url:
            raise ValueError(f"bundle.source.url is required for source type {self.type!r}")
        return self


class BundleLayoutSpec(StrictModel):
    """``bundle.layout``: where things are inside the synced bundle."""

    flows_dir: str | None = Field(default=None, min_length=1)
    profiles_file: str = Field(min_length=1)
    plugins_dir: str | None = Field(default=None, min_length=1)


class BundleSpec(StrictModel):
    """``bundle:``."""

    id: Identifier
    source: BundleSourceSpec
    layout: BundleLayoutSpec
    entry_flow: str = Field(min_length=1)
    fetch_policy: Literal["cache_check", "always"] = "cache_check"


class PinnedPluginPath(StrictModel):
    """An enterprise plugin directory pinned by its tree hash."""

    path: str = Field(min_length=1)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ManifestPathsSpec(StrictModel):
    """``paths:``: trusted plugin sources for enterprise mode."""

    plugins: list[str | PinnedPluginPath] = Field(default_factory=list)
    entry_points: list[str] = Field(default_factory=list)

    @field_validator("plugins", mode="before")
    @classmethod
    def _single_string(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | dict) else value


class BundleManifestSpec(StrictModel):
    """A whole bundle manifest document."""

    version: Literal[1] = 1
    mode: Mode | None = None
    bundle: BundleSpec
    resources: dict[str, ResourceSpec] = Field(default_factory=dict)
    paths: ManifestPathsSpec = Field(default_factory=ManifestPathsSpec)
    zip_drivers: list[ZipDriver] = Field(default_factory=_default_zip_drivers)
    env_files: list[EnvFileSpec] = Field(default_factory=list)

    @field_validator("mode", mode="before")
    @classmethod
    def _normalise_mode(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("resources")
    @classmethod
    def _no_profiles(cls, value: dict[str, ResourceSpec]) -> dict[str, ResourceSpec]:
        if any(resource.profile for resource in value.values()):
            raise ValueError(BOOTSTRAP_PROFILE_MESSAGE)
        return value
