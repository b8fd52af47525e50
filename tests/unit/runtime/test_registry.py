"""Unit tests for ``aetherflow.runtime.registry``."""

from __future__ import annotations

import logging

import pytest

from aetherflow.errors import RegistryError
from aetherflow.runtime.registry import (
    ConnectorEntry,
    Registry,
    StepEntry,
    get_connector,
    get_step,
    list_connectors,
    list_steps,
    register_connector,
    register_step,
    registration_origin,
)


class StepA:
    pass


class StepB:
    pass


class ConnA:
    pass


class ConnB:
    pass


# --- steps ------------------------------------------------------------------------------------


def test_add_and_get_step() -> None:
    registry = Registry()
    registry.add_step("copy", StepA, origin="builtin")
    assert registry.step("copy") is StepA
    assert registry.steps["copy"] == StepEntry(name="copy", target=StepA, origin="builtin")


def test_duplicate_step_names_both_origins() -> None:
    registry = Registry()
    registry.add_step("copy", StepA, origin="builtin")
    with pytest.raises(RegistryError) as info:
        registry.add_step("copy", StepB, origin="path:/plugins/p.py")
    assert str(info.value) == (
        "step type 'copy' is already registered (from builtin); path:/plugins/p.py registers it "
        "again — use register_step('copy', replace=True) to replace it deliberately"
    )
    assert registry.step("copy") is StepA


def test_replace_true_replaces_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    registry.add_step("copy", StepA, origin="builtin")
    with caplog.at_level(logging.WARNING, logger="aetherflow.runtime.registry"):
        registry.add_step("copy", StepB, origin="api", replace=True)
    assert registry.steps["copy"] == StepEntry("copy", StepB, "api")
    assert [r.getMessage() for r in caplog.records] == [
        "step type 'copy' from builtin replaced by api (replace=True)"
    ]


def test_reregistering_same_class_is_a_noop(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry()
    registry.add_step("copy", StepA, origin="builtin")
    with caplog.at_level(logging.WARNING):
        registry.add_step("copy", StepA, origin="builtin")
    assert registry.step("copy") is StepA
    assert len(registry.steps) == 1
    assert caplog.records == []


def test_unknown_step_lists_known_ones() -> None:
    registry = Registry()
    registry.add_step("zeta", StepA)
    registry.add_step("alpha", StepB)
    with pytest.raises(RegistryError) as info:
        registry.step("nope")
    assert str(info.value) == "unknown step type 'nope'; registered step types: alpha, zeta"


def test_unknown_step_in_empty_registry() -> None:
    with pytest.raises(RegistryError, match=r"registered step types: \(none\)$"):
        Registry().step("nope")


def test_default_origin_is_api() -> None:
    registry = Registry()
    registry.add_step("s", StepA)
    assert registry.steps["s"].origin == "api"


def test_registration_origin_attributes_and_resets() -> None:
    registry = Registry()
    with registration_origin("path:/p/x.py"):
        registry.add_step("inside", StepA)
        registry.add_connector("db", "x", ConnA)
    registry.add_step("outside", StepB)
    assert registry.steps["inside"].origin == "path:/p/x.py"
    assert registry.connectors[("db", "x")].origin == "path:/p/x.py"
    assert registry.steps["outside"].origin == "api"


def test_registration_origin_nests() -> None:
    registry = Registry()
    with registration_origin("outer"):
        with registration_origin("inner"):
            registry.add_step("a", StepA)
        registry.add_step("b", StepB)
    assert (registry.steps["a"].origin, registry.steps["b"].origin) == ("inner", "outer")


def test_registration_origin_resets_after_exception() -> None:
    registry = Registry()
    with pytest.raises(RuntimeError), registration_origin("failing"):
        raise RuntimeError("boom")
    registry.add_step("a", StepA)
    assert registry.steps["a"].origin == "api"


def test_explicit_origin_beats_context() -> None:
    registry = Registry()
    with registration_origin("ctx"):
        registry.add_step("a", StepA, origin="builtin")
    assert registry.steps["a"].origin == "builtin"


# --- connectors -------------------------------------------------------------------------------


def test_add_and_get_connector() -> None:
    registry = Registry()
    registry.add_connector("db", "postgres", ConnA, origin="builtin")
    assert registry.connector("db", "postgres") is ConnA
    assert registry.connectors[("db", "postgres")].key == "db:postgres"


def test_duplicate_connector_names_both_origins() -> None:
    registry = Registry()
    registry.add_connector("db", "pg", ConnA, origin="builtin")
    with pytest.raises(RegistryError) as info:
        registry.add_connector("db", "pg", ConnB, origin="entry_point:acme")
    assert str(info.value) == (
        "connector db:pg is already registered (from builtin); entry_point:acme registers it "
        "again — pass replace=True to replace it deliberately"
    )


def test_connector_replace_true() -> None:
    registry = Registry()
    registry.add_connector("db", "pg", ConnA, origin="builtin")
    registry.add_connector("db", "pg", ConnB, origin="api", replace=True)
    assert registry.connectors[("db", "pg")] == ConnectorEntry("db", "pg", ConnB, "api")


def test_connector_same_class_is_noop() -> None:
    registry = Registry()
    registry.add_connector("db", "pg", ConnA)
    registry.add_connector("db", "pg", ConnA)
    assert registry.connector("db", "pg") is ConnA


def test_unknown_connector_lists_known_ones() -> None:
    registry = Registry()
    registry.add_connector("sftp", "paramiko", ConnA)
    registry.add_connector("db", "pg", ConnB)
    with pytest.raises(RegistryError) as info:
        registry.connector("db", "oracle")
    assert str(info.value) == (
        "unknown connector db:oracle; registered connectors: db:pg, sftp:paramiko"
    )


# --- snapshot / restore -----------------------------------------------------------------------


def test_snapshot_and_restore() -> None:
    registry = Registry()
    registry.add_step("a", StepA)
    registry.add_connector("db", "pg", ConnA)
    saved = registry.snapshot()
    registry.add_step("b", StepB)
    registry.add_connector("db", "x", ConnB)
    registry.restore(saved)
    assert sorted(registry.steps) == ["a"]
    assert sorted(registry.connectors) == [("db", "pg")]


def test_snapshot_is_a_copy() -> None:
    registry = Registry()
    saved = registry.snapshot()
    registry.add_step("a", StepA)
    assert saved == ({}, {})


def test_restore_does_not_alias_saved_dicts() -> None:
    registry = Registry()
    saved = registry.snapshot()
    registry.restore(saved)
    registry.add_step("a", StepA)
    assert saved[0] == {}


# --- module-level API (global REGISTRY) -------------------------------------------------------


def test_register_step_decorator(global_registry: Registry) -> None:
    @register_step("my_step")
    class MyStep:
        pass

    assert get_step("my_step") is MyStep
    assert global_registry.steps["my_step"].origin == "api"


def test_register_step_decorator_duplicate_raises(global_registry: Registry) -> None:
    register_step("dup")(StepA)
    with pytest.raises(RegistryError, match="'dup' is already registered"):
        register_step("dup")(StepB)


def test_register_step_decorator_replace(global_registry: Registry) -> None:
    register_step("dup")(StepA)
    register_step("dup", replace=True)(StepB)
    assert get_step("dup") is StepB


def test_register_connector_two_argument_form(global_registry: Registry) -> None:
    register_connector("db", "mine")(ConnA)
    assert get_connector("db", "mine") is ConnA


def test_register_connector_colon_form(global_registry: Registry) -> None:
    register_connector("db:x")(ConnA)
    assert global_registry.connectors[("db", "x")].cls is ConnA


@pytest.mark.parametrize("spec", ["db", "db:", ":x"])
def test_register_connector_needs_kind_and_driver(spec: str, global_registry: Registry) -> None:
    with pytest.raises(RegistryError, match="register_connector needs a kind and a driver"):
        register_connector(spec)


def test_list_steps_and_connectors_sorted(global_registry: Registry) -> None:
    register_step("b_step")(StepB)
    register_step("a_step")(StepA)
    register_connector("sftp", "p")(ConnB)
    register_connector("db", "pg")(ConnA)
    assert list(list_steps().items()) == [("a_step", StepA), ("b_step", StepB)]
    assert list(list_connectors().items()) == [("db:pg", ConnA), ("sftp:p", ConnB)]


def test_get_step_unknown_raises(global_registry: Registry) -> None:
    with pytest.raises(RegistryError, match="unknown step type 'ghost'"):
        get_step("ghost")


# -- built-ins registered by name, imported on first use ---------------------------------------

LAZY_PROBE = """
import sys
from aetherflow.connectors import register_builtin_connectors
from aetherflow.runtime.registry import Registry
from aetherflow.steps import register_builtin_steps

registry = Registry()
register_builtin_steps(registry)
register_builtin_connectors(registry)
prefixes = ("aetherflow.steps.", "aetherflow.connectors.")
before = sorted(m for m in sys.modules if m.startswith(prefixes))
cls = registry.step("external.process")
connector = registry.connector("db", "sqlite3")
after = sorted(m for m in sys.modules if m.startswith(prefixes))
print(before, cls.__name__, connector.__name__, "aetherflow.steps.process" in after,
      "aetherflow.connectors.sqlite_db" in after, "aetherflow.steps.db_steps" in after)
"""


def test_builtins_are_imported_when_first_used() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        "[]",
        "ExternalProcess",
        "SQLiteDB",
        "True",
        "True",
        "False",  # db steps were not asked for
    ]


def test_a_lazy_entry_that_cannot_be_loaded_is_a_registry_error() -> None:
    registry = Registry()
    registry.add_step("ghost", "aetherflow.no_such_module:Ghost", origin="builtin")
    registry.add_connector("db", "ghost", "aetherflow.steps:NoSuchClass", origin="builtin")
    assert "ghost" in registry.steps  # known by name (validation, did-you-mean) without loading
    with pytest.raises(RegistryError, match=r"cannot load aetherflow\.no_such_module:Ghost"):
        registry.step("ghost")
    with pytest.raises(RegistryError, match=r"cannot load aetherflow\.steps:NoSuchClass"):
        registry.connector("db", "ghost")


def test_a_lazy_entry_and_its_class_are_the_same_registration() -> None:
    from aetherflow.steps.checks import CheckItems

    registry = Registry()
    registry.add_step("check_items", "aetherflow.steps.checks:CheckItems", origin="builtin")
    registry.add_step("check_items", CheckItems, origin="builtin")  # no error: the same class
    assert registry.step("check_items") is CheckItems
    with pytest.raises(RegistryError, match="already registered"):
        registry.add_step("check_items", "aetherflow.steps.locking:WithLock")
