"""A tiny plugin step for the example flow: write a text report into the job's artifacts.

Plugins import only from ``aetherflow.core.api``. Load this directory with
``AETHERFLOW_PLUGIN_PATHS=examples/plugins``.
"""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from aetherflow.core.api import Step, register_step


class WriteReportInputs(BaseModel):
    """Inputs of ``write_report``."""

    model_config = ConfigDict(extra="forbid")

    file_name: str = Field(default="report.txt", pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    lines: list[str] = Field(default_factory=list)


@register_step("write_report")
class WriteReport(Step):
    """Write ``title`` and ``lines`` to ``<artifacts>/<file_name>``; output the path."""

    Inputs = WriteReportInputs

    def run(self) -> dict[str, object]:
        params: WriteReportInputs = self.params
        target: Path = self.ctx.artifacts_dir(self.job_id) / params.file_name
        text = "\n".join([params.title, "=" * len(params.title), *params.lines]) + "\n"
        target.write_text(text, encoding="utf-8")
        return {"path": str(target), "line_count": len(params.lines)}
