"""Generate benchmark flow files that both AetherFlow and its predecessor accept.

Each flow keeps its state database and workspace inside the directory it is written to, so a run
never touches a default location (the predecessor's default state is ``/tmp/state``).
"""

from __future__ import annotations

import json
from pathlib import Path

ITEMS = ["a", "b", "c"]


def flow_text(flow_id: str, root: Path, jobs: int, steps_per_job: int) -> str:
    """A flow of ``jobs`` independent jobs of ``steps_per_job`` no-op ``check_items`` steps.

    Written as block-style YAML by hand (PyYAML's pure-Python dumper would dominate a profile of
    the benchmark); ``json.dumps`` quotes the strings, and JSON strings are YAML strings.

    Args:
        flow_id: The flow id.
        root: Directory that holds the state database and the workspace.
        jobs: Number of jobs; 0 gives the start-up baseline (``jobs: []``).
        steps_per_job: Steps in each job.

    Returns:
        The YAML text.
    """
    items = json.dumps(ITEMS)
    lines = [
        "version: 1",
        "flow:",
        f"  id: {json.dumps(flow_id)}",
        "  workspace:",
        f"    root: {json.dumps(str(root / 'work'))}",
        "  state:",
        f"    path: {json.dumps(str(root / 'state.sqlite'))}",
        "jobs:" if jobs else "jobs: []",
    ]
    for j in range(jobs):
        lines += [f"  - id: j{j:03d}", "    steps:"]
        for s in range(steps_per_job):
            lines += [
                f"      - id: s{s:04d}",
                "        type: check_items",
                "        inputs:",
                f"          items: {items}",
                "          min_count: 1",
            ]
    return "\n".join(lines) + "\n"


def write_flow(root: Path, flow_id: str, jobs: int, steps_per_job: int) -> Path:
    """Write the flow of :func:`flow_text` to ``root/flow.yaml`` and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "flow.yaml"
    path.write_text(flow_text(flow_id, root, jobs, steps_per_job), encoding="utf-8")
    return path
