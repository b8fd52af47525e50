"""Rendering of the ``flow:`` block with the env snapshot (before it is validated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aetherflow.errors import TemplateError
from aetherflow.templating.render import Phase, Scope, render_string


def render_flow_block(raw: Any, env: Mapping[str, str], *, keep_unrenderable: bool) -> Any:
    """Render every string of the ``flow:`` block with the ``env`` root.

    A template in an enum or integer field is rendered first and then validated (the
    predecessor validated before rendering and rejected these).

    Args:
        raw: The ``flow:`` block as loaded.
        env: The env snapshot.
        keep_unrenderable: When True, a string that cannot be rendered (missing env, syntax
            error) is kept as written so validation can report it once; when False the
            resolver error propagates.

    Returns:
        The rendered block (same shape).
    """
    scope = Scope(Phase.FLOW_META, {"env": env})
    return _render(raw, scope, "flow", keep_unrenderable)


def _render(value: Any, scope: Scope, where: str, keep: bool) -> Any:
    if isinstance(value, str):
        try:
            return render_string(value, scope, where=where)
        except TemplateError:
            if keep:
                return value
            raise
    if isinstance(value, dict):
        return {k: _render(v, scope, f"{where}.{k}", keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, scope, f"{where}[{i}]", keep) for i, v in enumerate(value)]
    return value
