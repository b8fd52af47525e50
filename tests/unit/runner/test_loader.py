"""``load_flow``: the validated spec, and the garbage collector around the load."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from aetherflow.runner.loader import load_flow
from aetherflow.runner.validation import ValidationOptions
from aetherflow.runtime.registry import Registry

FLOW = """\
flow: {id: f}
jobs:
  - id: a
    steps:
      - {id: s, type: check_items, inputs: {items: [x]}}
"""


@pytest.fixture
def flow(tmp_path: Path) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    return str(path)


@pytest.fixture
def options(registry: Registry) -> ValidationOptions:
    return ValidationOptions(env={}, registry=registry)


def test_the_collector_runs_again_after_the_load(
    flow: str, options: ValidationOptions, collector: None
) -> None:
    gc.enable()
    load_flow(flow, options)
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled(
    flow: str, options: ValidationOptions, collector: None
) -> None:
    gc.disable()
    load_flow(flow, options)
    assert not gc.isenabled()


def test_the_loaded_spec_goes_to_the_oldest_generation(
    flow: str, options: ValidationOptions, collector: None
) -> None:
    gc.enable()
    spec = load_flow(flow, options).spec

    assert any(obj is spec for obj in gc.get_objects(generation=2))
    assert gc.get_freeze_count() == 0


def test_objects_the_process_froze_stay_frozen(
    flow: str, options: ValidationOptions, collector: None
) -> None:
    gc.enable()
    gc.freeze()
    frozen = gc.get_freeze_count()

    spec = load_flow(flow, options).spec

    assert gc.get_freeze_count() == frozen
    assert not any(obj is spec for obj in gc.get_objects(generation=2))
