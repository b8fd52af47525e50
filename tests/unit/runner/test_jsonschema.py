"""The exported JSON Schemas validate real documents and reject broken ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aetherflow.runner.jsonschema import DRAFT, document_schema
from aetherflow.runtime.registry import Registry
from aetherflow.spec.yamlload import load_yaml_file

REPO = Path(__file__).resolve().parents[3]


def validator(kind: str, registry: Registry) -> jsonschema.Draft202012Validator:
    schema = document_schema(kind, registry)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(v: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return sorted(e.message for e in v.iter_errors(doc))


@pytest.mark.parametrize("kind", ["flow", "profiles", "manifest", "scheduler"])
def test_schemas_are_valid_draft_2020_12(kind: str, registry: Registry) -> None:
    schema = document_schema(kind, registry)
    assert schema["$schema"] == DRAFT
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_flows_match_the_flow_schema(path: Path, registry: Registry) -> None:
    assert errors(validator("flow", registry), load_yaml_file(path).data) == []


def test_flow_schema_rejects_unknown_keys(registry: Registry) -> None:
    doc = {"flow": {"id": "f"}, "jobs": [{"id": "a", "depend_on": [], "steps": []}]}
    found = errors(validator("flow", registry), doc)
    assert len(found) == 1
    assert "'depend_on' was unexpected" in found[0]


def test_flow_schema_checks_step_inputs_per_type(registry: Registry) -> None:
    v = validator("flow", registry)
    bad = {
        "flow": {"id": "f"},
        "jobs": [
            {"id": "a", "steps": [{"id": "s", "type": "check_items", "inputs": {"itms": []}}]}
        ],
    }
    assert errors(v, bad) != []
    templated = {
        "flow": {"id": "f"},
        "jobs": [
            {
                "id": "a",
                "steps": [
                    {
                        "id": "s",
                        "type": "check_items",
                        "inputs": {"items": [1], "min_count": "{{env.MIN:1}}"},
                    }
                ],
            }
        ],
    }
    assert errors(v, templated) == []


def test_flow_block_allows_templates_in_typed_fields(registry: Registry) -> None:
    doc = {
        "flow": {"id": "f", "locks": {"ttl_seconds": "{{env.TTL:60}}"}, "on_failure": "stop"},
        "jobs": [],
    }
    assert errors(validator("flow", registry), doc) == []
    doc["flow"]["locks"]["ttl_seconds"] = "sixty"  # type: ignore[index]
    assert errors(validator("flow", registry), doc) != []


def test_plugin_step_inputs_appear_in_the_schema(registry: Registry) -> None:
    from aetherflow.runner.step import Step
    from aetherflow.spec.base import StrictModel

    class EchoInputs(StrictModel):
        message: str

    class Echo(Step):
        Inputs = EchoInputs

    registry.add_step("echo", Echo, origin="test")
    v = validator("flow", registry)
    doc = {
        "flow": {"id": "f"},
        "jobs": [{"id": "a", "steps": [{"id": "s", "type": "echo", "inputs": {"mesage": "x"}}]}],
    }
    assert errors(v, doc) != []
    doc["jobs"][0]["steps"][0]["inputs"] = {"message": "hi"}  # type: ignore[index]
    assert errors(v, doc) == []


def test_scheduler_and_manifest_schemas(registry: Registry) -> None:
    sched = validator("scheduler", registry)
    assert errors(sched, {"items": [{"id": "a", "cron": "* * * * *", "flow_yaml": "f.yaml"}]}) == []
    assert errors(sched, {"items": [{"id": "a", "cron": "* * * * *", "job": "x"}]}) != []
    manifest = validator("manifest", registry)
    good = {
        "bundle": {
            "id": "b",
            "source": {"type": "filesystem", "base_path": "."},
            "layout": {"profiles_file": "p.yaml"},
            "entry_flow": "f.yaml",
        }
    }
    assert errors(manifest, good) == []
    assert errors(manifest, {**good, "extra": 1}) != []


def test_unknown_schema_kind(registry: Registry) -> None:
    with pytest.raises(ValueError, match="unknown schema 'bogus'"):
        document_schema("bogus", registry)
