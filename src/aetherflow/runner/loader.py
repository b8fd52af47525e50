"""Load and validate the flow a run executes (the file validated is the file executed, G2)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aetherflow.errors import SpecError
from aetherflow.runner.validation import ValidationOptions, ValidationReport, validate_loaded
from aetherflow.spec.flow import FlowSpec
from aetherflow.spec.yamlload import load_yaml


@dataclass(frozen=True)
class LoadedFlow:
    """A validated flow and the bytes it came from."""

    path: str
    spec: FlowSpec
    sha256: str
    report: ValidationReport


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a flow file is loaded and validated.

    Loading builds tens of container objects per step (the YAML node graph, the document,
    the validated models) and frees the temporary ones by reference counting: the node graph
    has no cycles. Collections triggered meanwhile only scan the survivors again and again (on
    a 1,000-step flow, 10-50 ms, several full collections). The collector runs as before once
    the load is done; it stays off if it was off.

    What the load kept (the flow spec) lives as long as the run, so it is moved straight to the
    oldest generation (``freeze`` then ``unfreeze``) rather than scanned by the two younger
    collections first (on a 1,000-step flow, about 3 ms during the run). Skipped when the
    process froze objects itself (``gc.freeze`` before forking): ``unfreeze`` would undo that.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def load_flow(path: str, options: ValidationOptions) -> LoadedFlow:
    """Read, validate and return the flow at ``path``.

    Raises:
        SpecError: The file is missing or invalid; ``issues`` lists every problem.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise SpecError(f"flow file {path} does not exist") from exc
    except OSError as exc:
        raise SpecError(f"flow file {path} cannot be read: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"flow file {path} is not UTF-8: {exc}") from exc
    with _collector_paused():
        try:
            loaded = load_yaml(text, file=path)
        except SpecError as exc:
            raise SpecError(f"flow file {path} is not valid YAML", exc.issues) from exc
        report = validate_loaded(loaded, options, flow_yaml=path)
    if not report.ok or report.flow is None:
        count = len(report.errors)
        raise SpecError(
            f"flow file {path} is invalid ({count} error{'s' if count != 1 else ''}); "
            f"run 'aetherflow validate {path}' for details",
            report.errors,
        )
    return LoadedFlow(
        path=path, spec=report.flow, sha256=hashlib.sha256(raw).hexdigest(), report=report
    )
