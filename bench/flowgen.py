"""Generate benchmark flow files that both AetherFlow and its predecessor accept.

Each flow keeps its state database and workspace inside the directory it is written to, so a run
never touches a default location (the predecessor's default state is ``/tmp/state``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ITEMS = ["a", "b", "c"]


def flow_document(
    flow_id: str, root: Path, jobs: int, steps_per_job: int
) -> dict[str, Any]:
    """A flow of ``jobs`` independent jobs of ``steps_per_job`` no-op ``check_items`` steps.

    Args:
        flow_id: The flow id.
        root: Directory that holds the state database and the workspace.
        jobs: Number of jobs; 0 gives the start-up baseline (``jobs: []``).
        steps_per_job: Steps in each job.

    Returns:
        The flow as a YAML-ready mapping.
    """
    return {
        "version": 1,
        "flow": {
            "id": flow_id,
            "workspace": {"root": str(root / "work")},
            "state": {"path": str(root / "state.sqlite")},
        },
        "jobs": [
            {
                "id": f"j{j:03d}",
                "steps": [
                    {
                        "id": f"s{s:04d}",
                        "type": "check_items",
                        "inputs": {"items": list(ITEMS), "min_count": 1},
                    }
                    for s in range(steps_per_job)
                ],
            }
            for j in range(jobs)
        ],
    }


def write_flow(root: Path, flow_id: str, jobs: int, steps_per_job: int) -> Path:
    """Write the flow of :func:`flow_document` to ``root/flow.yaml`` and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "flow.yaml"
    document = flow_document(flow_id, root, jobs, steps_per_job)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
