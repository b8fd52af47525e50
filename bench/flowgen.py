"""Generate benchmark flow files that both AetherFlow and its predecessor accept.

Each flow keeps its state database and workspace inside the directory it is written to, so a run
never touches a default location (the predecessor's default state is ``/tmp/state``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

ITEMS = ["a", "b", "c"]


def flow_text(
    flow_id: str,
    root: Path,
    jobs: int,
    steps_per_job: int,
    lock: Mapping[str, object] | None = None,
) -> str:
    """A flow of ``jobs`` independent jobs of ``steps_per_job`` no-op ``check_items`` steps.

    Written as block-style YAML by hand (PyYAML's pure-Python dumper would dominate a profile of
    the benchmark); ``json.dumps`` quotes the strings, and JSON strings are YAML strings.

    Args:
        flow_id: The flow id.
        root: Directory that holds the state database and the workspace.
        jobs: Number of jobs; 0 gives the start-up baseline (``jobs: []``).
        steps_per_job: Steps in each job.
        lock: When given, every step is a ``with_lock`` step with these inputs (``lock_key``,
            ``ttl_seconds``, ...) around the same ``check_items`` step.

    Returns:
        The YAML text.
    """
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
            lines.append(f"      - id: s{s:04d}")
            lines += _step_lines("        ", lock)
    return "\n".join(lines) + "\n"


def _step_lines(indent: str, lock: Mapping[str, object] | None) -> list[str]:
    """``type`` and ``inputs`` of one step: ``check_items``, or ``with_lock`` around it."""
    if lock is None:
        return [
            f"{indent}type: check_items",
            f"{indent}inputs:",
            f"{indent}  items: {json.dumps(ITEMS)}",
            f"{indent}  min_count: 1",
        ]
    lines = [f"{indent}type: with_lock", f"{indent}inputs:"]
    lines += [f"{indent}  {name}: {json.dumps(value)}" for name, value in lock.items()]
    return [*lines, f"{indent}  step:", *_step_lines(indent + "    ", None)]


def write_flow(
    root: Path,
    flow_id: str,
    jobs: int,
    steps_per_job: int,
    lock: Mapping[str, object] | None = None,
) -> Path:
    """Write the flow of :func:`flow_text` to ``root/flow.yaml`` and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "flow.yaml"
    path.write_text(flow_text(flow_id, root, jobs, steps_per_job, lock), encoding="utf-8")
    return path
