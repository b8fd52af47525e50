"""Loading a bundle manifest file with positions for every validation error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from aetherflow.errors import SpecError
from aetherflow.spec.issues import issues_from_validation_error
from aetherflow.spec.manifest import BundleManifestSpec
from aetherflow.spec.yamlload import load_yaml


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest and where it lives (relative source paths resolve from ``dir``)."""

    spec: BundleManifestSpec
    path: Path

    @property
    def dir(self) -> Path:
        """The directory holding the manifest."""
        return self.path.parent

    @property
    def bundle_id(self) -> str:
        """``bundle.id``."""
        return self.spec.bundle.id


def load_manifest(path: str | Path) -> LoadedManifest:
    """Read and validate the manifest at ``path``.

    Raises:
        SpecError: The file is missing, not YAML or not a valid manifest (issues with
            ``file:line:col``).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise SpecError(f"bundle manifest {file} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"bundle manifest {file} cannot be read: {exc}") from exc
    try:
        loaded = load_yaml(text, file=str(file))
    except SpecError as exc:
        raise SpecError(f"bundle manifest {file} is not valid YAML", exc.issues) from exc
    data = {} if loaded.data is None else loaded.data
    try:
        spec = BundleManifestSpec.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation_error(
            exc, model=BundleManifestSpec, source_map=loaded.source_map, file=str(file), data=data
        )
        raise SpecError(f"invalid bundle manifest {file}", issues) from exc
    return LoadedManifest(spec=spec, path=file.resolve())
