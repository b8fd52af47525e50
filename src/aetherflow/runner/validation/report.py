"""The validation report and the collector that fills it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aetherflow.errors import Issue, Severity
from aetherflow.spec.flow import FlowSpec
from aetherflow.spec.issues import format_loc, sort_issues
from aetherflow.spec.yamlload import SourceMap

Loc = tuple[str | int, ...]


@dataclass
class ValidationReport:
    """Everything ``validate`` found in one flow.

    Attributes:
        flow_yaml: The flow file as given.
        errors: Problems that stop the flow from running, sorted by file position.
        warnings: Problems worth fixing that do not stop it.
        flow: The validated model (None when there are errors).
        data: The raw document as loaded.
    """

    flow_yaml: str
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    flow: FlowSpec | None = None
    data: Any = None

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The stable JSON shape: ``{ok, flow_yaml, errors, warnings}``."""
        return {
            "ok": self.ok,
            "flow_yaml": self.flow_yaml,
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
        }


class Collector:
    """Collects issues for one file, placing each at its YAML position."""

    def __init__(self, file: str, source_map: SourceMap | None) -> None:
        self.file = file
        self.source_map = source_map
        self.issues: list[Issue] = []

    def add(
        self,
        code: str,
        loc: Loc,
        msg: str,
        *,
        hint: str | None = None,
        severity: Severity = "error",
        file: str | None = None,
        source_map: SourceMap | None = None,
        position_loc: Loc | None = None,
    ) -> None:
        """Record one issue at ``loc`` (positions come from the matching source map).

        ``position_loc`` overrides the location looked up in the source map.
        """
        smap = source_map if file is not None else self.source_map
        where = loc if position_loc is None else position_loc
        mark = smap.position(where) if smap is not None else None
        self.issues.append(
            Issue(
                code=code,
                loc=format_loc(loc),
                msg=msg,
                file=self.file if file is None else file,
                line=mark.line if mark else 0,
                col=mark.col if mark else 0,
                hint=hint,
                severity=severity,
            )
        )

    def extend(self, issues: Sequence[Issue]) -> None:
        """Record issues that already carry their positions."""
        self.issues.extend(issues)

    def report(self, flow_yaml: str, data: Any) -> ValidationReport:
        """Build the sorted report (duplicates removed)."""
        unique = list(dict.fromkeys(self.issues))
        ordered = sort_issues(unique)
        return ValidationReport(
            flow_yaml=flow_yaml,
            errors=[i for i in ordered if i.severity == "error"],
            warnings=[i for i in ordered if i.severity == "warning"],
            data=data,
        )
