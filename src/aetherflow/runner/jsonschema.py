"""JSON Schema (draft 2020-12) export of the YAML models, for editors.

The flow schema embeds every registered step type's ``Inputs`` schema (``if type == X then
inputs matches X's schema``). Anywhere a template may stand for a value of another type (step
inputs, the ``flow:`` block), a string containing ``{{`` is accepted as well, because the value
is only known after rendering.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from aetherflow.runtime.registry import Registry
from aetherflow.spec import DOCUMENT_KINDS
from aetherflow.spec.flow import FlowSpec
from aetherflow.spec.manifest import BundleManifestSpec
from aetherflow.spec.profiles import ProfilesFileSpec
from aetherflow.spec.scheduler import SchedulerFileSpec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE_STRING: dict[str, Any] = {
    "type": "string",
    "pattern": r"\{\{.*\}\}",
    "description": "A {{VAR}} template rendered at run time.",
}
_FLOW_META_DEFS = ("FlowMetaSpec", "WorkspaceSpec", "StateSpec", "LocksSpec")


def _allow_templates(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") == "string" and "enum" not in prop and "const" not in prop:
        return prop
    keep: dict[str, Any] = {k: prop[k] for k in ("title", "description", "default") if k in prop}
    inner = {k: v for k, v in prop.items() if k not in keep}
    return {**keep, "anyOf": [inner, TEMPLATE_STRING]}


def _templatable_properties(definition: dict[str, Any], *, refs: bool = False) -> None:
    """Let typed properties also be template strings (``refs``: enum references too)."""
    props = definition.get("properties", {})
    for name, prop in list(props.items()):
        if "$ref" not in prop:
            props[name] = _allow_templates(prop)
        elif refs and not name.endswith(("workspace", "state", "locks")):
            props[name] = {"anyOf": [prop, TEMPLATE_STRING]}


def _step_input_schema(cls: type[Any], type_name: str, defs: dict[str, Any]) -> dict[str, Any]:
    model = getattr(cls, "Inputs", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        required = sorted(getattr(cls, "required_inputs", set()) or set())
        return {"type": "object", "required": required} if required else {"type": "object"}
    prefix = "Step_" + "".join(ch if ch.isalnum() else "_" for ch in type_name) + "_"
    schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/" + prefix + "{model}")
    for name, definition in schema.pop("$defs", {}).items():
        _templatable_properties(definition)
        defs[prefix + name] = definition
    _templatable_properties(schema)
    return schema


def flow_schema(registry: Registry) -> dict[str, Any]:
    """The flow schema, with per-step-type ``inputs`` schemas for every registered step."""
    schema = copy.deepcopy(FlowSpec.model_json_schema(by_alias=True))
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for name in _FLOW_META_DEFS:
        if name in defs:
            _templatable_properties(defs[name], refs=True)
    step_def = defs["StepSpec"]
    names = sorted(registry.steps)
    step_def["properties"]["type"] = {
        "type": "string",
        "description": "A registered step type.",
        "examples": names,
    }
    branches = []
    for name in names:
        inputs = _step_input_schema(registry.steps[name].cls, name, defs)
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"inputs": inputs}},
            }
        )
    if branches:
        step_def["allOf"] = branches
    return {**schema, "$schema": DRAFT, "title": "AetherFlow flow"}


def document_schema(kind: str, registry: Registry) -> dict[str, Any]:
    """The JSON Schema of ``flow``, ``profiles``, ``manifest`` or ``scheduler`` YAML.

    Raises:
        ValueError: Unknown kind.
    """
    if kind == "flow":
        return flow_schema(registry)
    models: dict[str, tuple[str, type[BaseModel]]] = {
        "profiles": ("AetherFlow profiles", ProfilesFileSpec),
        "manifest": ("AetherFlow bundle manifest", BundleManifestSpec),
        "scheduler": ("AetherFlow scheduler", SchedulerFileSpec),
    }
    if kind not in models:
        raise ValueError(f"unknown schema {kind!r}; choose one of: {', '.join(DOCUMENT_KINDS)}")
    title, model = models[kind]
    return {**model.model_json_schema(by_alias=True), "$schema": DRAFT, "title": title}
