"""Per-step overhead of a no-op flow: AetherFlow vs its predecessor vs raw SQLite, in one run.

The flow has ``--jobs`` × ``--steps-per-job`` ``check_items`` steps (default 10 × 100 = 1,000).
Per-step overhead of a command is ``(t_flow − t_empty) / steps``, where ``t_empty`` is the same
command on a flow with no jobs (start-up, validation, state open and close), each the median of
``--runs`` runs with a fresh state database and run id. Measured cases:

* the predecessor (``aetherflow-core`` 0.0.14, own virtualenv, its default INFO logging);
* ours, ``aetherflow run`` with default text logging (stderr to ``/dev/null``);
* ours, ``aetherflow run --log-level WARNING`` (quiet);
* ours in-process: ``aetherflow.runner.engine.run_flow`` without interpreter start-up;
* the physical limit: two committed SQLite writes per step (``rawsqlite.py``), timed once in
  every round of the other measurements (the median of all of them).

Usage::

    python bench/step_overhead.py [--runs N] [--jobs 10] [--steps-per-job 100] [--skip-predecessor]

A Markdown report goes to stdout, progress to stderr. For a profile of the in-process run::

    python -m cProfile -s cumulative bench/step_overhead.py --in-process-only --runs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flowgen import write_flow
from predecessor import DEFAULT_VENV, PREDECESSOR_VERSION, ensure_predecessor, venv_cli
from rawsqlite import time_raw_loop

PRED_RATIO_TARGET = 0.25
RAW_RATIO_TARGET = 3.0
WARMUP_RUNS = 1

ArgvBuilder = Callable[[Path, str], list[str]]


@dataclass
class Case:
    """One command measured on the full flow and on the empty flow."""

    name: str
    argv: ArgvBuilder
    full_s: list[float] = field(default_factory=list)
    empty_s: list[float] = field(default_factory=list)
    peak_rss_kib: int = 0

    def per_step_us(self, steps: int) -> float:
        """Median full-flow time minus median empty-flow time, per step, in µs."""
        return (statistics.median(self.full_s) - statistics.median(self.empty_s)) / steps * 1e6


@dataclass
class Report:
    """Everything measured in one benchmark run."""

    steps: int
    cases: list[Case]
    raw_s: list[float]

    def raw_us(self) -> float:
        """Per-step time of the raw SQLite loop in µs (median of runs)."""
        return statistics.median(self.raw_s) / self.steps * 1e6

    def case(self, name: str) -> Case | None:
        """The case called ``name``, if it was measured."""
        return next((c for c in self.cases if c.name == name), None)


def child_env() -> dict[str, str]:
    """The process environment without ``AETHERFLOW_*`` settings, so defaults are measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")}


def spawn_timed(argv: Sequence[str], env: Mapping[str, str]) -> tuple[float, int]:
    """Run ``argv`` with stdout and stderr on ``/dev/null``.

    Returns:
        Wall seconds from spawn to exit, and the child's peak RSS in KiB (``wait4`` rusage).

    Raises:
        RuntimeError: The command exited non-zero.
    """
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
    started = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"exit {code}: {shlex.join(argv)}")
    return elapsed, usage.ru_maxrss


def ours_cli() -> Path:
    """This virtualenv's ``aetherflow`` console script (run the bench with its python)."""
    cli = Path(sys.executable).with_name("aetherflow")
    if not cli.exists():
        raise SystemExit(f"no aetherflow script next to {sys.executable}; use .venv/bin/python")
    return cli


def build_cases(skip_predecessor: bool, predecessor_venv: Path) -> list[Case]:
    """The subprocess cases: predecessor (unless skipped), ours with text logs, ours quiet."""
    ours = str(ours_cli())
    cases = []
    if not skip_predecessor:
        ensure_predecessor(predecessor_venv)
        pred = str(venv_cli(predecessor_venv))
        cases.append(
            Case("predecessor", lambda f, r: [pred, "run", "--flow-yaml", str(f), "--run-id", r])
        )
    cases.append(Case("ours (text logs)", lambda f, r: [ours, "run", str(f), "--run-id", r]))
    cases.append(
        Case(
            "ours (quiet)",
            lambda f, r: [ours, "run", str(f), "--run-id", r, "--log-level", "WARNING"],
        )
    )
    return cases


def measure_subprocesses(
    cases: list[Case],
    args: argparse.Namespace,
    scratch: Path,
    env: Mapping[str, str],
    raw_s: list[float],
) -> None:
    """Time every case on the full and the empty flow, interleaved, ``args.runs`` times; each
    round also times the raw SQLite loop once (into ``raw_s``)."""
    for round_no in range(WARMUP_RUNS + args.runs):
        raw_sample(args, scratch, f"sub-{round_no}", raw_s if round_no >= WARMUP_RUNS else [])
        for index, case in enumerate(cases):
            for jobs, kept in ((args.jobs, case.full_s), (0, case.empty_s)):
                root = scratch / f"sub-{round_no}-{index}-{jobs}"
                flow = write_flow(root, "bench", jobs, args.steps_per_job)
                elapsed, rss = spawn_timed(case.argv(flow, f"bench-{round_no}"), env)
                if round_no < WARMUP_RUNS:
                    continue
                kept.append(elapsed)
                if jobs:
                    case.peak_rss_kib = max(case.peak_rss_kib, rss)
        print(f"  subprocess round {round_no + 1}/{WARMUP_RUNS + args.runs} done", file=sys.stderr)


def in_process_runner(env: Mapping[str, str]) -> Callable[[Path, str], float]:
    """Bootstrap once; the returned function times ``run_flow`` on a flow file in this process.

    The logging observer is attached and logging is at WARNING, so INFO events are dropped
    (quiet; ``bootstrap`` configures logging from the settings, so the level is set through
    ``AETHERFLOW_LOG_LEVEL``). The function raises ``RuntimeError`` when the run does not succeed.
    """
    from aetherflow.cli.bootstrap import bootstrap
    from aetherflow.runner.engine import EXIT_SUCCESS, RunRequest, run_flow
    from aetherflow.runner.observers import LoggingObserver

    runtime = bootstrap({**env, "AETHERFLOW_LOG_LEVEL": "WARNING"})

    def timed_run(flow: Path, run_id: str) -> float:
        """Seconds ``run_flow`` takes on ``flow`` with ``run_id``."""
        request = RunRequest(
            flow_path=str(flow),
            env=runtime.env,
            settings=runtime.settings,
            registry=runtime.registry,
            plugins=runtime.plugins,
            run_id=run_id,
            observers=[LoggingObserver()],
        )
        started = time.perf_counter()
        result = run_flow(request)
        elapsed = time.perf_counter() - started
        if result.exit_code != EXIT_SUCCESS:
            raise RuntimeError(f"in-process run of {flow} exited {result.exit_code}")
        return elapsed

    return timed_run


def measure_in_process(
    args: argparse.Namespace, scratch: Path, env: Mapping[str, str], raw_s: list[float]
) -> Case:
    """Time ``run_flow`` in this process (logging observer on, logging at WARNING = quiet);
    each round also times the raw SQLite loop once (into ``raw_s``)."""
    timed_run = in_process_runner(env)
    case = Case("ours in-process", lambda f, r: [])
    for round_no in range(WARMUP_RUNS + args.runs):
        raw_sample(args, scratch, f"inproc-{round_no}", raw_s if round_no >= WARMUP_RUNS else [])
        for jobs, kept in ((args.jobs, case.full_s), (0, case.empty_s)):
            root = scratch / f"inproc-{round_no}-{jobs}"
            flow = write_flow(root, "bench", jobs, args.steps_per_job)
            elapsed = timed_run(flow, f"bench-{round_no}")
            if round_no >= WARMUP_RUNS:
                kept.append(elapsed)
    return case


def raw_sample(args: argparse.Namespace, scratch: Path, tag: str, kept: list[float]) -> None:
    """Time the raw SQLite loop once on a fresh database and append the seconds to ``kept``.

    Every measurement round takes one sample, so the limit is measured across the whole
    benchmark, next to the commands it is compared with: a machine that speeds up or slows
    down meanwhile moves both sides of the ratio.
    """
    kept.append(time_raw_loop(scratch / f"raw-{tag}.sqlite", args.jobs, args.steps_per_job))


def ratio_text(value: float, reference: float | None) -> str:
    """``value / reference`` as ``1.23×``, or ``—`` without a reference."""
    return "—" if not reference else f"{value / reference:.2f}×"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render_tables(report: Report) -> list[str]:
    """The per-step table and the raw-timings table, as Markdown lines."""
    raw_us = report.raw_us()
    pred = report.case("predecessor")
    pred_us = pred.per_step_us(report.steps) if pred else None
    lines = [
        "| Case | Per-step overhead (µs) | vs predecessor | vs raw SQLite limit |",
        "|---|---:|---:|---:|",
    ]
    for case in report.cases:
        us = case.per_step_us(report.steps)
        lines.append(
            f"| {case.name} | {us:,.0f} | {ratio_text(us, pred_us)} | {ratio_text(us, raw_us)} |"
        )
    lines.append(f"| raw SQLite limit | {raw_us:,.0f} | {ratio_text(raw_us, pred_us)} | 1.00× |")
    lines += [
        "",
        f"| Case | {report.steps}-step flow, ms: median (min–max) | Empty flow, ms: median "
        "(min–max) | Peak RSS, flow run (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for case in report.cases:
        rss = f"{case.peak_rss_kib / 1024:.0f}" if case.peak_rss_kib else "—"
        lines.append(
            f"| {case.name} | {spread_ms(case.full_s)} | {spread_ms(case.empty_s)} | {rss} |"
        )
    lines.append(f"| raw SQLite limit (loop only) | {spread_ms(report.raw_s)} | — | — |")
    return lines


def spread_ms(timings: Sequence[float]) -> str:
    """Median (min–max) of ``timings`` (seconds) in ms."""
    low, mid, high = (v * 1e3 for v in (min(timings), statistics.median(timings), max(timings)))
    return f"{mid:,.0f} ({low:,.0f}–{high:,.0f})"


def render_verdicts(report: Report) -> list[str]:
    """PASS/FAIL of both targets for every case of ours, as Markdown lines."""
    raw_us = report.raw_us()
    pred = report.case("predecessor")
    lines = [
        f"Targets: per-step overhead ≤ {PRED_RATIO_TARGET}× the predecessor's, and ≤ "
        f"{RAW_RATIO_TARGET:g}× the raw SQLite limit.",
        "",
    ]
    for case in report.cases:
        if case.name == "predecessor":
            continue
        us = case.per_step_us(report.steps)
        parts = []
        if pred is not None:
            ratio = us / pred.per_step_us(report.steps)
            parts.append(f"vs predecessor {ratio:.2f}× → {_verdict(ratio <= PRED_RATIO_TARGET)}")
        ratio = us / raw_us
        parts.append(f"vs raw SQLite {ratio:.2f}× → {_verdict(ratio <= RAW_RATIO_TARGET)}")
        lines.append(f"- {case.name}: " + "; ".join(parts))
    return lines


def environment_lines(skip_predecessor: bool) -> list[str]:
    """Machine and versions, without host names or absolute paths."""
    from aetherflow import __version__

    return [
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}",
        f"- aetherflow {__version__}"
        + ("" if skip_predecessor else f"; predecessor aetherflow-core {PREDECESSOR_VERSION}"),
    ]


def machine_lines(args: argparse.Namespace) -> list[str]:
    """Machine, versions and command, without host names or absolute paths."""
    command = "python bench/step_overhead.py " + shlex.join(sys.argv[1:])
    return [
        *environment_lines(args.skip_predecessor),
        f"- Flow: {args.jobs} jobs × {args.steps_per_job} `check_items` steps; median of "
        f"{args.runs} runs after {WARMUP_RUNS} warm-up",
        f"- Command: `{command.strip()}`",
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--jobs", type=int, default=10, help="jobs in the flow (default 10)")
    parser.add_argument("--steps-per-job", type=int, default=100, help="steps per job (100)")
    parser.add_argument("--skip-predecessor", action="store_true", help="do not run it")
    parser.add_argument(
        "--predecessor-venv", type=Path, default=DEFAULT_VENV, help="its virtualenv"
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="scratch directory parent")
    parser.add_argument(
        "--in-process-only",
        action="store_true",
        help="only the in-process run (for cProfile); prints its timings",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.jobs < 1 or args.steps_per_job < 1:
        parser.error("--runs, --jobs and --steps-per-job must be ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Measure every case and print the Markdown report."""
    args = parse_args(argv)
    steps = args.jobs * args.steps_per_job
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="af-bench-", dir=args.tmp_dir) as tmp:
        scratch = Path(tmp)
        raw_s: list[float] = []
        if args.in_process_only:
            case = measure_in_process(args, scratch, env, raw_s)
            print(f"ours in-process: {case.per_step_us(steps):,.1f} µs/step", file=sys.stderr)
            return
        cases = build_cases(args.skip_predecessor, args.predecessor_venv)
        print(f"measuring {steps} steps × {args.runs} runs ...", file=sys.stderr)
        measure_subprocesses(cases, args, scratch, env, raw_s)
        cases.append(measure_in_process(args, scratch, env, raw_s))
        report = Report(steps, cases, raw_s)
    out = [*machine_lines(args), "", *render_tables(report), "", *render_verdicts(report)]
    print("\n".join(out))


if __name__ == "__main__":
    main()
