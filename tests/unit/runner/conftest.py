"""Helpers for validation tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping

import pytest

from aetherflow.runner.validation import ValidationOptions, ValidationReport, validate_flow_text
from aetherflow.runtime.registry import Registry

Validate = Callable[..., ValidationReport]


@pytest.fixture
def validate(registry: Registry) -> Validate:
    """``validate(yaml_text, env={}, strict=False, secrets=False)`` → report (text is dedented)."""

    def run(
        text: str,
        env: Mapping[str, str] | None = None,
        *,
        strict: bool = False,
        secrets: bool = False,
    ) -> ValidationReport:
        options = ValidationOptions(
            env=dict(env or {}), registry=registry, env_strict=strict, secrets_configured=secrets
        )
        return validate_flow_text(textwrap.dedent(text).lstrip("\n"), options, file="flow.yaml")

    return run
