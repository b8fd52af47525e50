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


BUNDLE_DIR_KEYS = ("AETHERFLOW_LOCAL_ROOT_DIR", "AETHERFLOW_ACTIVE_DIR", "AETHERFLOW_CACHE_DIR")


def injected_env(env: Mapping[str, str], workspace_root: str) -> dict[str, str]:
    """The keys the runner adds to the snapshot when they are not set already.

    Without a bundle, the predecessor's ``AETHERFLOW_LOCAL_ROOT_DIR``/``ACTIVE_DIR``/``CACHE_DIR``
    point at the workspace root — as strings (gap G12). Validation adds the same keys, so a flow
    that references them is not reported as missing env (gap G17).
    """
    return {key: workspace_root for key in BUNDLE_DIR_KEYS if key not in env}


def workspace_root_of(raw_flow_block: Any, env: Mapping[str, str], default_root: str) -> str:
    """The rendered ``flow.workspace.root`` of a raw ``flow:`` block, or ``default_root``."""
    if isinstance(raw_flow_block, dict):
        workspace = raw_flow_block.get("workspace")
        if isinstance(workspace, dict) and isinstance(workspace.get("root"), str):
            rendered = render_flow_block(workspace["root"], env, keep_unrenderable=True)
            if isinstance(rendered, str) and "{{" not in rendered:
                return rendered
    return default_root
