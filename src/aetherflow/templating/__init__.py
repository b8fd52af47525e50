"""Layer 2: the ``{{VAR}}``/``{{VAR:DEFAULT}}`` template language and the ``when`` language."""

from aetherflow.templating.render import (
    PHASE_ROOTS,
    Phase,
    Scope,
    render_string,
    render_template,
    render_value,
)
from aetherflow.templating.text import compact_json, json_default, to_text
from aetherflow.templating.tokens import Template, Token, iter_strings, parse_template

__all__ = [
    "PHASE_ROOTS",
    "Phase",
    "Scope",
    "Template",
    "Token",
    "compact_json",
    "iter_strings",
    "json_default",
    "parse_template",
    "render_string",
    "render_template",
    "render_value",
    "to_text",
]
