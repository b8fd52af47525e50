"""``aetherflow run`` and ``aetherflow resume``."""

from __future__ import annotations

import argparse

from aetherflow.cli.bootstrap import Runtime, bootstrap
from aetherflow.cli.console import ConsoleObserver
from aetherflow.cli.flowarg import (
    add_bundle_arguments,
    add_flow_argument,
    bundle_options,
    flow_path,
    resolved_flow,
)
from aetherflow.cli.output import print_json
from aetherflow.cli.usage import SubParsers, UsageError
from aetherflow.runner.engine import RunRequest, RunResult, run_flow
from aetherflow.runner.events import Observer
from aetherflow.runner.observers import MetricsObserver, load_metrics_sink
from aetherflow.runner.resume import OnDrift
from aetherflow.runner.tracing import tracing_observer

RUN_EXAMPLES = """examples:
  aetherflow run flows/nightly.yaml
  aetherflow run flows/nightly.yaml --run-id nightly-2026-01-31      # start or resume this id
  aetherflow run flows/nightly.yaml --run-id nightly-2026-01-31 --plan
  aetherflow run flows/nightly.yaml --run-id R --flow-job load        # one job, deps from state
  AETHERFLOW_LOG_FORMAT=json aetherflow run flows/nightly.yaml 2>> /var/log/nightly.jsonl

exit status: 0 success, 1 a job failed or was blocked, 2 invalid flow or usage,
             3 the run id is running elsewhere, 130/143 interrupted"""

RESUME_EXAMPLES = """examples:
  aetherflow resume 3f2a9c1b7d4e flows/nightly.yaml
  aetherflow resume 3f2a9c1b7d4e --flow-yaml flows/nightly.yaml --on-drift rerun"""


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow-job", metavar="JOB", help="run only this job")
    parser.add_argument(
        "--on-drift",
        choices=[d.value for d in OnDrift],
        default=OnDrift.FAIL.value,
        help="completed steps whose YAML changed: fail (default), rerun them, or reuse results",
    )
    parser.add_argument(
        "--plan", action="store_true", help="print what would run or be reused; write nothing"
    )
    parser.add_argument("--json", action="store_true", help="with --plan: print the plan as JSON")
    add_bundle_arguments(parser)


def register(sub: SubParsers, common: argparse.ArgumentParser) -> None:
    """Add ``run`` and ``resume``."""
    run = sub.add_parser(
        "run",
        parents=[common],
        help="run a flow, or resume it with --run-id",
        description="Validate and run a flow. With --run-id of an existing run, resume it: "
        "completed steps are not run again and their outputs are restored.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flow_argument(run)
    run.add_argument("--run-id", metavar="ID", help="run id to start or resume ([A-Za-z0-9_.-])")
    _add_run_options(run)
    run.set_defaults(handler=run_command, must_exist=False)

    resume = sub.add_parser(
        "resume",
        parents=[common],
        help="resume an existing run (like run --run-id, but the run must exist)",
        epilog=RESUME_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    resume.add_argument("run_id", metavar="RUN_ID")
    add_flow_argument(resume)
    _add_run_options(resume)
    resume.set_defaults(handler=run_command, must_exist=True)


def observers(runtime: Runtime) -> list[Observer]:
    """The console (events as log lines) and, when configured, the metrics hook and tracing."""
    found: list[Observer] = [ConsoleObserver()]
    if runtime.settings.metrics_module:
        found.append(MetricsObserver(load_metrics_sink(runtime.settings.metrics_module)))
    if runtime.settings.otel:
        found.append(tracing_observer(runtime.env))
    return found


def _print_plan(result: RunResult, as_json: bool) -> None:
    plan = result.plan or []
    if as_json:
        print_json(
            {
                "flow_id": result.flow_id,
                "run_id": result.run_id,
                "jobs": [j.as_dict() for j in plan],
            }
        )
        return
    print(f"plan for run {result.run_id} of flow {result.flow_id}:")
    for job in plan:
        print(f"  job {job.job_id}: {job.action} ({job.why})")
        for step in job.steps:
            print(f"    step {step.step_id}: {step.action} ({step.why})")


def run_command(args: argparse.Namespace) -> int:
    """Run, resume or plan; return the exit code of ``30-execution.md``."""
    if args.json and not args.plan:
        raise UsageError("--json is only used with --plan (use --log-format json for events)")
    if not (args.flow or args.flow_yaml or args.bundle_manifest):
        flow_path(args)  # the usage error for a missing flow, before any work
    runtime = bootstrap(bundle_options=bundle_options(args))
    request = RunRequest(
        flow_path=resolved_flow(args, runtime),
        env=runtime.env,
        settings=runtime.settings,
        registry=runtime.registry,
        plugins=runtime.plugins,
        run_id=args.run_id,
        flow_job=args.flow_job,
        on_drift=OnDrift(args.on_drift),
        plan_only=args.plan,
        must_exist=args.must_exist,
        observers=observers(runtime),
        secrets=runtime.secrets,
        redactor=runtime.redactor,
        bundle_fingerprint=runtime.bundle.sync.fingerprint if runtime.bundle else None,
    )
    result = run_flow(request)
    if args.plan:
        _print_plan(result, args.json)
    return result.exit_code
