"""``aetherflow runs list`` and ``aetherflow runs show``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aetherflow.cli.bootstrap import bootstrap
from aetherflow.cli.output import one_line, print_json
from aetherflow.cli.stateargs import add_state_arguments, open_store, state_url
from aetherflow.cli.usage import SubParsers, UsageError
from aetherflow.runner.lease import iso_ms, run_lease_key
from aetherflow.state import StateStore
from aetherflow.state.records import JobRecord, RunRecord, RunStatus, StepRecord

EXAMPLES = """examples:
  aetherflow runs list flows/nightly.yaml
  aetherflow runs list --state sqlite:///var/lib/aetherflow/state.db --status FAILED --json
  aetherflow runs show 3f2a9c1b7d4e flows/nightly.yaml
  aetherflow runs show 3f2a9c1b7d4e --state sqlite:///var/lib/aetherflow/state.db --json"""


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add the ``runs`` command group."""
    runs = sub.add_parser(
        "runs",
        parents=[common],
        help="inspect recorded runs",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = runs.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    listing = group.add_parser(
        "list",
        parents=[common],
        help="recent runs, newest first",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_state_arguments(listing)
    listing.add_argument("--flow", dest="flow_id", metavar="ID", help="only runs of this flow id")
    listing.add_argument("--status", metavar="S", help="only runs with this status (ABANDONED too)")
    listing.add_argument("--limit", type=int, default=20, metavar="N", help="at most N runs (20)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)
    show = group.add_parser(
        "show",
        parents=[common],
        help="jobs and steps of one run",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("run_id", metavar="RUN_ID")
    add_state_arguments(show)
    show.add_argument("--flow", dest="flow_id", metavar="ID", help="the flow id, if ambiguous")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=run_show)


def _iso(ms: int | None) -> str | None:
    return iso_ms(ms) if ms is not None else None


def _duration(start: int | None, end: int | None) -> int | None:
    return end - start if start is not None and end is not None else None


def displayed_status(store: StateStore, run: RunRecord) -> str:
    """The run's status, ``ABANDONED`` for a RUNNING run whose lease expired or is gone."""
    if run.status is not RunStatus.RUNNING:
        return run.status.value
    lease = store.get_lease(run_lease_key(run.flow_id, run.run_id))
    if lease is None or lease.expires_at <= store.now_ms():
        return RunStatus.ABANDONED.value
    return run.status.value


def run_list(args: argparse.Namespace) -> int:
    """Print recent runs."""
    runtime = bootstrap()
    url, flow_id = state_url(args, runtime)
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    store = open_store(url)
    try:
        wanted = (args.status or "").upper() or None
        stored_filter = None if wanted == RunStatus.ABANDONED.value else wanted
        rows: list[dict[str, Any]] = []
        for summary in store.list_runs(
            flow_id=args.flow_id or flow_id, status=stored_filter, limit=args.limit
        ):
            run = summary.run
            status = displayed_status(store, run)
            if wanted and status != wanted:
                continue
            rows.append(
                {
                    "run_id": run.run_id,
                    "flow_id": run.flow_id,
                    "status": status,
                    "started_at": _iso(run.started_at),
                    "ended_at": _iso(run.ended_at),
                    "duration_ms": _duration(run.started_at, run.ended_at),
                    "failed_job": summary.failed_job,
                }
            )
    finally:
        store.close()
    if args.json:
        print_json(rows)
        return 0
    # Columns widen for long ids (nightly-2026-11-29) so the table stays aligned.
    width = max([16, *(len(row["run_id"]) + 1 for row in rows)])
    flow_width = max([20, *(len(row["flow_id"]) + 1 for row in rows)])
    print(
        f"{'RUN_ID':<{width}} {'FLOW':<{flow_width}} {'STATUS':<12} {'STARTED':<25} "
        f"{'DURATION':>9}  FAILED_JOB"
    )
    for row in rows:
        duration = "-" if row["duration_ms"] is None else f"{row['duration_ms'] / 1000:.1f}s"
        print(
            f"{row['run_id']:<{width}} {row['flow_id']:<{flow_width}} {row['status']:<12} "
            f"{row['started_at'] or '-':<25} {duration:>9}  {row['failed_job'] or '-'}"
        )
    return 0


def _step_json(step: StepRecord) -> dict[str, Any]:
    return {
        "step_id": step.step_id,
        "step_type": step.step_type,
        "status": step.status.value,
        "attempt": step.attempt,
        "started_at": _iso(step.started_at),
        "ended_at": _iso(step.ended_at),
        "duration_ms": _duration(step.started_at, step.ended_at),
        "outputs": step.outputs,
        "error": step.error.as_dict() if step.error else None,
        "lock_token": step.lock_token,
    }


def _job_json(job: JobRecord, steps: list[StepRecord]) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "reason": job.reason,
        "skip_reason": job.skip_reason,
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
        "duration_ms": _duration(job.started_at, job.ended_at),
        "outputs": job.outputs,
        "error": job.error.as_dict() if job.error else None,
        "steps": [_step_json(s) for s in steps],
    }


def describe_run(store: StateStore, run: RunRecord) -> dict[str, Any]:
    """The ``runs show --json`` shape."""
    steps = store.get_steps(run.flow_id, run.run_id)
    return {
        "run_id": run.run_id,
        "flow_id": run.flow_id,
        "status": displayed_status(store, run),
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "duration_ms": _duration(run.started_at, run.ended_at),
        "resumed": run.resumed,
        "selected_job": run.selected_job,
        "manifest": {
            "flow_sha256": run.flow_sha256,
            "bundle_fingerprint": run.bundle_fingerprint,
            "mode": run.mode,
            "aetherflow_version": run.aetherflow_version,
            "host": run.host,
            "pid": run.pid,
            "plugins": [{"path": p.path, "sha256": p.sha256} for p in run.plugins],
        },
        "jobs": [
            _job_json(job, [s for s in steps if s.job_id == job.job_id])
            for job in store.get_jobs(run.flow_id, run.run_id)
        ],
    }


def _find(store: StateStore, run_id: str, flow_id: str | None) -> RunRecord:
    runs = [r for r in store.find_runs(run_id) if flow_id is None or r.flow_id == flow_id]
    if not runs:
        raise UsageError(
            f"run {run_id!r} not found" + (f" for flow {flow_id!r}" if flow_id else "")
        )
    if len(runs) > 1:
        flows = ", ".join(r.flow_id for r in runs)
        raise UsageError(f"run id {run_id!r} exists for several flows ({flows}); add --flow ID")
    return runs[0]


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value} ms"


def _print_run(info: dict[str, Any]) -> None:
    print(
        f"run {info['run_id']}  flow {info['flow_id']}  {info['status']}"
        f"  started {info['started_at']}  duration {_ms(info['duration_ms'])}"
        f"{'  (resumed)' if info['resumed'] else ''}"
    )
    manifest = info["manifest"]
    print(
        f"  flow sha256 {manifest['flow_sha256']}  mode {manifest['mode']}  "
        f"aetherflow {manifest['aetherflow_version']}  "
        f"host {manifest['host']} pid {manifest['pid']}"
    )
    for job in info["jobs"]:
        note = one_line(job["skip_reason"] or job["reason"] or "")
        print(f"  job {job['job_id']}: {job['status']}{'  ' + note if note else ''}")
        for step in job["steps"]:
            error = step["error"]
            detail = f"  {error['class']}: {one_line(error['message'])}" if error else ""
            print(
                f"    step {step['step_id']} ({step['step_type']}): {step['status']} "
                f"attempt {step['attempt']} {_ms(step['duration_ms'])}{detail}"
            )
            if step["outputs"]:
                shown = json.dumps(step["outputs"], ensure_ascii=False, sort_keys=True)
                print(f"      outputs {shown}")


def run_show(args: argparse.Namespace) -> int:
    """Print one run with its jobs and steps; exit 2 for an unknown run."""
    runtime = bootstrap()
    url, flow_id = state_url(args, runtime)
    store = open_store(url)
    try:
        info = describe_run(store, _find(store, args.run_id, args.flow_id or flow_id))
    finally:
        store.close()
    if args.json:
        print_json(info)
    else:
        _print_run(info)
    return 0
