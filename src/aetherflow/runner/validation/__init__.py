"""Static validation of flow files (``aetherflow validate`` and the first phase of a run)."""

from aetherflow.runner.validation.flow import (
    ValidationOptions,
    validate_flow_file,
    validate_flow_text,
    validate_loaded,
)
from aetherflow.runner.validation.report import ValidationReport

__all__ = [
    "ValidationOptions",
    "ValidationReport",
    "validate_flow_file",
    "validate_flow_text",
    "validate_loaded",
]
