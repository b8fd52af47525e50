"""A stream that ends with an error half-way (``max_rows`` exceeded, the writer failing) fails
fast on every driver: the rest of a large result is not read (MySQL cannot stop a result, so the
connection is dropped), no server-side cursor is left open, no warning is raised (warnings are
errors in this suite), and the connector serves the next query.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.contract.db_backends import Backend
from tests.integration.conftest import RunStep
from tests.integration.dbkit import db_params

BIG = 3_000_000
# Reading the whole result takes several seconds on every backend; stopping takes well under.
FAST_FAILURE_SECONDS = 2.0


class WriterFailed(Exception):
    """Stands for a failure of the code consuming the stream."""


@pytest.mark.parametrize("backend", db_params(), indirect=True)
def test_max_rows_stops_a_large_result_early(backend: Backend, run_step: RunStep) -> None:
    started = time.monotonic()
    ran = run_step("db_fetch_small", sql=backend.series(BIG), max_rows=10, fetch_size=100)
    elapsed = time.monotonic() - started
    assert ran.step.outputs is None
    assert ran.step.error is not None
    assert ran.step.error.cls == "StepError"
    assert "more than max_rows=10 rows" in ran.step.error.message
    assert elapsed < FAST_FAILURE_SECONDS, f"the rest of the result was read ({elapsed:.1f} s)"


def fail_while_reading(db: Any, sql: str) -> None:
    """Read the first batch of ``sql``, then fail as a writer would."""
    with db.stream(sql, batch_size=100) as rows:
        for _batch in rows.batches():
            raise WriterFailed


@pytest.mark.parametrize("backend", db_params(), indirect=True)
def test_connector_serves_the_next_query_after_a_failed_stream(backend: Backend, db: Any) -> None:
    with pytest.raises(WriterFailed):
        fail_while_reading(db, backend.series(BIG))
    names, found = db.fetchall(backend.series(3))
    assert names == ["id", "label"]
    assert [tuple(row) for row in found] == [(1, "row-1"), (2, "row-2"), (3, "row-3")]
