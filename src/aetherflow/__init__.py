"""AetherFlow: a YAML-first workflow runner for ops-grade ETL.

Nothing heavy is imported here; the stable API for plugins lives in :mod:`aetherflow.core.api`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aetherflow")
except PackageNotFoundError:  # running from a source tree without installed metadata
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
