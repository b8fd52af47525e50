"""Step fingerprints: what a completed step was, to detect drift on resume."""

from __future__ import annotations

import hashlib

from aetherflow.runner.outputs import canonical_json
from aetherflow.spec.flow import StepSpec


def step_fingerprint(step: StepSpec) -> str:
    """sha256 of the step's type, raw ``inputs``/``outputs`` templates, ``retry`` and timeout."""
    material = {
        "type": step.type,
        "inputs": step.inputs,
        "outputs": step.outputs,
        "retry": step.retry.model_dump(mode="json") if step.retry else None,
        "timeout_seconds": step.timeout_seconds,
    }
    return hashlib.sha256(canonical_json(material).encode("utf-8")).hexdigest()
