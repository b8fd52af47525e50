"""Layer 5: built-in steps. They register through the same registry plugins use."""

from __future__ import annotations

from aetherflow.runtime.registry import REGISTRY, Registry, registration_origin

BUILTIN_STEPS = {
    "check_items": "aetherflow.steps.checks:CheckItems",
    "with_lock": "aetherflow.steps.locking:WithLock",
    "external.process": "aetherflow.steps.process:ExternalProcess",
    "db_extract": "aetherflow.steps.db_steps:DbExtract",
    "db_fetch_small": "aetherflow.steps.db_steps:DbFetchSmall",
    "db_extract_stream": "aetherflow.steps.db_steps:DbExtractStream",
}
"""Step type → ``module:Class``; a module is imported when a flow (or a command listing every
step, such as ``plugins list`` or ``schema``) first needs one of its steps."""


def register_builtin_steps(registry: Registry = REGISTRY) -> None:
    """Register every built-in step type (idempotent; nothing is imported yet)."""
    with registration_origin("builtin"):
        for name, target in BUILTIN_STEPS.items():
            registry.add_step(name, target)
