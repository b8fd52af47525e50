"""Fixtures of the integration tests: a database backend (indirect parameter), connectors on it
for setting up tables, unique table names dropped afterwards, and the data steps run through
real flows (the unit harness, with the real connectors as resources).

The end-to-end suite's ``sandbox`` fixture (the CLI in subprocesses with their own state and
work roots) is re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.runner.connector import ConnectorInit
from aetherflow.runner.connectors import instantiate
from aetherflow.runtime.registry import Registry
from tests.contract.db_backends import BACKENDS, Backend, require_service
from tests.e2e.conftest import sandbox
from tests.integration.dbkit import resource, unique_table
from tests.unit.steps.db_harness import DbRun, make_db_runner
from tests.unit.steps.harness import Ran

__all__ = ["sandbox"]

RunStep = Callable[..., Ran]


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend named by the (indirect) parameter; skips or fails when its server is down."""
    chosen = BACKENDS[request.param]
    require_service(chosen)
    return chosen


@pytest.fixture
def db(backend: Backend, registry: Registry, tmp_path: Path) -> Iterator[Any]:
    """A connector of the backend (outside any run), closed after the test."""
    cls = registry.connector("db", backend.driver)
    init = ConnectorInit(
        name="setup",
        kind="db",
        driver=backend.driver,
        config=backend.make_config(tmp_path),
        options=dict(backend.options),
    )
    connector = instantiate(cls, init)
    yield connector
    connector.close()


@pytest.fixture
def table(db: Any) -> Iterator[str]:
    """A unique table name, dropped after the test."""
    name = unique_table()
    yield name
    db.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def db_runner(tmp_path: Path, registry: Registry) -> DbRun:
    """Runs one step through a real flow and run (``tests.unit.steps.db_harness``)."""
    return make_db_runner(tmp_path, registry)


@pytest.fixture
def run_step(db_runner: DbRun, backend: Backend, tmp_path: Path) -> RunStep:
    """``run_step(step_type, **inputs)``: the step on resource ``db`` of the backend."""
    resources = {"db": resource(backend, tmp_path)}

    def run(step_type: str, **inputs: Any) -> Ran:
        return db_runner(step_type, {"resource": "db", **inputs}, resources=resources)

    return run
