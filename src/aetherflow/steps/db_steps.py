"""The data steps: ``db_extract``, ``db_extract_stream`` (query → file) and ``db_fetch_small``
(query → outputs).

* Rows are read in batches of ``fetch_size`` from the resource's ``Database`` connector (a
  predecessor-style connector with ``fetchmany``/``fetchall`` works too); memory does not grow
  with the row count, except in ``db_fetch_small``, whose rows are its output (``max_rows``).
* Files are written to a temp file next to the output and renamed into place only after every
  ``expect:`` rule held; the temp file is removed on any failure.
* ``engine: auto`` lets a driver fast path write the file (``docs/steps/database.md#engines``).
* ``skip_if_empty: true`` turns a zero-row result into SKIPPED with reason ``no rows``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from aetherflow.errors import StepError
from aetherflow.runner.database import Row
from aetherflow.runner.step import STEP_SKIPPED, Step, StepResult
from aetherflow.steps.db_engines import Extracted, ExtractPlan
from aetherflow.steps.db_expect import expectation_error, violations
from aetherflow.steps.db_generic import run_extract
from aetherflow.steps.db_inputs import ExtractInputs, FetchSmallInputs, StaticIssue, static_issues
from aetherflow.steps.db_output import AtomicFile
from aetherflow.steps.db_source import Progress, database_for, open_rows
from aetherflow.steps.db_types import SMALL_LABELS, TypeTracker
from aetherflow.steps.db_writers import json_value

NO_ROWS = "no rows"


def _labels(columns: Sequence[str], kinds: Sequence[str | None]) -> dict[str, str]:
    return {name: kind or "string" for name, kind in zip(columns, kinds, strict=True)}


class _ExtractStep(Step):
    """Shared run of ``db_extract`` and ``db_extract_stream`` (they differ in output keys)."""

    Inputs = ExtractInputs
    required_inputs = {"resource", "sql", "output"}  # noqa: RUF012 - the predecessor's contract
    step_type: ClassVar[str] = ""

    @classmethod
    def static_issues(cls, inputs: Mapping[str, Any]) -> list[StaticIssue]:
        """Validate-time checks beyond the ``Inputs`` model."""
        return static_issues(inputs)

    def run(self) -> dict[str, Any] | StepResult:
        """Extract, check the ``expect:`` rules, publish, report."""
        params: ExtractInputs = self.params
        result, final = self._extract(params)
        out = self._outputs(result, final, params)
        if params.emit_dtypes:
            labels = _labels(result.columns, result.kinds)
            out["dtypes"] = labels
            out["dtypes_json"] = json.dumps(labels)
        if result.row_count == 0 and params.skip_if_empty:
            return StepResult(status=STEP_SKIPPED, output=out, reason=NO_ROWS)
        return out

    def _extract(self, params: ExtractInputs) -> tuple[Extracted, Path]:
        final = self.ctx.sandbox(self.job_id).resolve(params.output, key="output")
        conn = database_for(self.ctx, params.resource)
        expect = params.expect
        plan = ExtractPlan(
            step_type=self.step_type,
            resource=params.resource,
            sql=params.sql,
            params=params.params,
            format=params.format,
            fetch_size=params.fetch_size,
            csv=params.csv_options(),
            declared=params.declared_dtypes(),
            needs_types=params.emit_dtypes or bool(expect and expect.dtypes),
            engine=params.engine,
        )
        progress = Progress(self, self.step_type, params.progress_seconds)
        with AtomicFile(final) as target:
            result = run_extract(conn, plan, target.temp, progress)
            found = violations(
                expect, row_count=result.row_count, columns=result.columns, kinds=result.kinds
            )
            keep = bool(found and expect and expect.keep_output_on_failure)
            if keep or not found:
                target.publish()
            if found:
                raise expectation_error(self.step_type, found, output=str(final), kept=keep)
        return result, final

    def _outputs(self, result: Extracted, final: Path, params: ExtractInputs) -> dict[str, Any]:
        raise NotImplementedError


class DbExtract(_ExtractStep):
    """Query → file; outputs ``{output, format, rows}`` (the predecessor's) plus ``row_count``,
    ``columns``, ``sha256``, ``engine``."""

    step_type = "db_extract"

    def _outputs(self, result: Extracted, final: Path, params: ExtractInputs) -> dict[str, Any]:
        return {
            "output": str(final),
            "format": params.format,
            "rows": result.row_count,
            "row_count": result.row_count,
            "columns": result.columns,
            "sha256": result.sha256,
            "engine": result.engine,
        }


class DbExtractStream(_ExtractStep):
    """Query → file; outputs ``{artifact_path, format, columns, row_count, sha256}`` (the
    predecessor's) plus ``engine``."""

    step_type = "db_extract_stream"

    def _outputs(self, result: Extracted, final: Path, params: ExtractInputs) -> dict[str, Any]:
        return {
            "artifact_path": str(final),
            "format": params.format,
            "columns": result.columns,
            "row_count": result.row_count,
            "sha256": result.sha256,
            "engine": result.engine,
        }


def _small_json(value: Any) -> Any:
    """``rows_json`` values (the predecessor's rule: a Decimal becomes a float)."""
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    return json_value(value)


class DbFetchSmall(Step):
    """Query → outputs: ``{columns, rows, row_count, columns_json, rows_json, dtypes,
    dtypes_json}``; more than ``max_rows`` rows fail the step."""

    Inputs = FetchSmallInputs
    required_inputs = {"resource", "sql"}  # noqa: RUF012 - the predecessor's contract
    step_type = "db_fetch_small"

    @classmethod
    def static_issues(cls, inputs: Mapping[str, Any]) -> list[StaticIssue]:
        """Validate-time checks beyond the ``Inputs`` model."""
        return static_issues(inputs)

    def run(self) -> dict[str, Any] | StepResult:
        """Fetch at most ``max_rows`` rows, check the ``expect:`` rules, output them."""
        params: FetchSmallInputs = self.params
        tracker, rows = self._fetch(params)
        names, kinds = tracker.names, tracker.kinds()
        found = violations(params.expect, row_count=len(rows), columns=names, kinds=kinds)
        if found:
            raise expectation_error(self.step_type, found)
        dtypes = {n: SMALL_LABELS.get(k, k) for n, k in _labels(names, kinds).items()}
        for name, kind in zip(names, kinds, strict=True):
            if kind == "decimal":
                self.ctx.log.warning(
                    "db_fetch_small %s: column %s is a decimal; dtypes says float and rows_json "
                    "has floats (rows keeps the exact text)",
                    self.record_id,
                    name,
                )
        out = {
            "columns": names,
            "rows": [[json_value(v) for v in row] for row in rows],
            "row_count": len(rows),
            "columns_json": json.dumps(names),
            "rows_json": json.dumps([[_small_json(v) for v in row] for row in rows]),
            "dtypes": dtypes,
            "dtypes_json": json.dumps(dtypes),
        }
        if not rows and params.skip_if_empty:
            return StepResult(status=STEP_SKIPPED, output=out, reason=NO_ROWS)
        return out

    def _fetch(self, params: FetchSmallInputs) -> tuple[TypeTracker, list[Row]]:
        conn = database_for(self.ctx, params.resource)
        progress = Progress(self, self.step_type, params.progress_seconds)
        rows: list[Row] = []
        with open_rows(conn, params.resource, params.sql, params.params, params.fetch_size) as res:
            tracker = TypeTracker(res.columns, {})
            for batch in res.batches:
                if len(rows) + len(batch) > params.max_rows:
                    raise StepError(
                        f"db_fetch_small: the query returned more than max_rows="
                        f"{params.max_rows} rows; raise max_rows, or write large results to a "
                        "file with db_extract_stream"
                    )
                tracker.observe(batch)
                rows.extend(batch)
                progress.update(len(rows), lambda: None)
        return tracker, rows
