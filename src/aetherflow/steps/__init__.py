"""Layer 5: built-in steps. They register through the same registry plugins use."""

from __future__ import annotations

from aetherflow.runtime.registry import REGISTRY, Registry, registration_origin


def register_builtin_steps(registry: Registry = REGISTRY) -> None:
    """Register every built-in step type (idempotent)."""
    from aetherflow.steps.checks import CheckItems  # noqa: PLC0415 - registered on demand
    from aetherflow.steps.db_steps import (  # noqa: PLC0415
        DbExtract,
        DbExtractStream,
        DbFetchSmall,
    )
    from aetherflow.steps.locking import WithLock  # noqa: PLC0415
    from aetherflow.steps.process import ExternalProcess  # noqa: PLC0415

    with registration_origin("builtin"):
        registry.add_step("check_items", CheckItems)
        registry.add_step("with_lock", WithLock)
        registry.add_step("external.process", ExternalProcess)
        registry.add_step("db_extract", DbExtract)
        registry.add_step("db_fetch_small", DbFetchSmall)
        registry.add_step("db_extract_stream", DbExtractStream)
