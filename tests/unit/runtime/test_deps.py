"""Unit tests for ``aetherflow.runtime.deps``."""

from __future__ import annotations

import json
import os.path
import sys

import pytest

from aetherflow.errors import MissingDependency
from aetherflow.runtime.deps import install_hint, require, require_attr

MISSING = "aetherflow_surely_missing_module_xyz"


@pytest.fixture
def unimportable(monkeypatch: pytest.MonkeyPatch) -> str:
    """``pyarrow``, made unimportable (a ``None`` entry in ``sys.modules``) even if installed."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    # Submodules too: another test of the session may have imported the real ones already.
    for name in [m for m in sys.modules if m.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    return "pyarrow"


def test_require_module_returns_it() -> None:
    assert require("json") is json


def test_require_dotted_module() -> None:
    assert require("os.path") is os.path


def test_require_attribute_returns_it() -> None:
    assert require("json:dumps") is json.dumps


def test_missing_module_is_missing_dependency_with_pip_hint() -> None:
    with pytest.raises(MissingDependency) as info:
        require(MISSING)
    assert isinstance(info.value, RuntimeError)
    assert str(info.value) == (f"Optional dependency missing: {MISSING} — pip install {MISSING}")
    assert isinstance(info.value.__cause__, ImportError)


def test_missing_module_names_what_needs_it() -> None:
    with pytest.raises(MissingDependency) as info:
        require(MISSING, needed_for="step x with format y")
    assert str(info.value) == f"step x with format y needs {MISSING} — pip install {MISSING}"


def test_missing_known_module_suggests_extra(unimportable: str) -> None:
    with pytest.raises(MissingDependency) as info:
        require(f"{unimportable}.parquet:write_table")
    assert "pip install 'aetherflow[parquet]'" in str(info.value)


def test_missing_attribute() -> None:
    with pytest.raises(MissingDependency) as info:
        require("json:no_such_function")
    assert str(info.value) == ("Optional dependency missing: json.no_such_function — upgrade json")
    assert isinstance(info.value.__cause__, AttributeError)


def test_require_attr_names_needed_for() -> None:
    with pytest.raises(
        MissingDependency, match=r"^Optional dependency missing: json\.nope \(sftp\)"
    ):
        require_attr(json, "nope", needed_for="sftp")


def test_require_attr_returns_attribute() -> None:
    assert require_attr(json, "loads") is json.loads


@pytest.mark.parametrize(
    ("module", "hint"),
    [
        ("pyarrow", "pip install 'aetherflow[parquet]'"),
        ("pyarrow.parquet", "pip install 'aetherflow[parquet]'"),
        ("openpyxl", "pip install 'aetherflow[excel]'"),
        ("paramiko", "pip install 'aetherflow[sftp]'"),
        ("smbclient", "pip install 'aetherflow[smb]'"),
        ("psycopg", "pip install 'aetherflow[postgres]'"),
        ("httpx", "pip install 'aetherflow[rest]'"),
        ("opentelemetry.sdk", "pip install 'aetherflow[otel]'"),
        ("leftpad.core", "pip install leftpad"),
    ],
)
def test_install_hint(module: str, hint: str) -> None:
    assert install_hint(module) == hint
