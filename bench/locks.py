"""Locks: round trip, uncontended ``with_lock`` overhead vs the predecessor, contended throughput.

Three measurements in one run:

1. **Round trip** of our state store's lock on one SQLite connection: ``acquire_lease`` +
   ``release_lease`` (and the same through ``HeldLease``, which also starts and stops the
   heartbeat thread, as ``with_lock`` does), against the physical limit: the same two committed
   ``BEGIN IMMEDIATE`` transactions (``INSERT``, ``DELETE``) on a minimal table
   (``rawsqlite.py``). µs per round trip, median of batches.
2. **Uncontended ``with_lock`` overhead** per step, for us and for the predecessor: a flow of
   ``--steps`` ``with_lock`` steps around ``check_items`` minus the same flow of bare
   ``check_items`` steps, divided by ``--steps`` (whole ``aetherflow run`` commands, medians of
   ``--runs`` runs after a warm-up; fresh state database each run).
3. **Contended throughput** (ours only: the predecessor's ``with_lock`` fails at once when the
   lock is busy, it cannot wait): ``--procs`` concurrent ``aetherflow run --log-format json``
   processes on one state database, each a flow of ``--contended-steps`` ``with_lock`` steps on
   the same key (``wait_seconds`` 600, ``poll_seconds`` 0.01, ``ttl_seconds`` 5). Acquisitions per
   second and wait/hold times come from the ``step_start``/``lock_wait``/``lock_acquired``/
   ``lock_released`` events (ms resolution); the rate is counted over the lock window (first
   acquisition to last release of any process). One process on the same flow is the baseline.

Usage::

    python bench/locks.py [--runs N] [--steps 200] [--procs 8] [--skip-predecessor]

A Markdown report goes to stdout, progress to stderr. For a profile of our ``with_lock`` flow in
this process::

    python -m cProfile -s cumulative bench/locks.py --profile-in-process
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flowgen import write_flow
from predecessor import DEFAULT_VENV
from rawsqlite import time_raw_lock_pairs
from step_overhead import (
    WARMUP_RUNS,
    Case,
    build_cases,
    child_env,
    environment_lines,
    in_process_runner,
    ours_cli,
    ratio_text,
    spawn_timed,
    spread_ms,
)

LOCK_KEY = "bench"
UNCONTENDED_LOCK: Mapping[str, object] = {"lock_key": LOCK_KEY, "ttl_seconds": 60}
CONTENDED_LOCK: Mapping[str, object] = {
    "lock_key": LOCK_KEY,
    "ttl_seconds": 5,
    "wait_seconds": 600,
    "poll_seconds": 0.01,
}
ROUND_TRIP_BATCHES = 9
ROUND_TRIP_PAIRS = 500
RAW = "raw SQLite limit"
STORE = "ours: `acquire_lease` + `release_lease`"
HELD = "ours: `HeldLease` acquire + release (heartbeat thread)"


# --- 1. round trip ------------------------------------------------------------------------------


def time_store_pairs(db_path: Path, pairs: int, *, heartbeat: bool) -> float:
    """Seconds for ``pairs`` acquire/release round trips through our SQLite state store.

    Args:
        db_path: A database file that does not exist yet (opened and migrated before timing).
        pairs: Number of round trips on one key.
        heartbeat: Go through ``HeldLease`` (starts and stops its heartbeat thread) instead of
            calling the store directly.

    Returns:
        Wall time of the loop.
    """
    from aetherflow.runner.lease import HeldLease
    from aetherflow.state import open_state_store
    from aetherflow.state.records import LeaseHolder

    store = open_state_store(str(db_path))
    holder = LeaseHolder("bench", "bench", host=socket.gethostname(), pid=os.getpid())
    held = HeldLease(store, LOCK_KEY, holder, 60)
    try:
        started = time.perf_counter()
        for _ in range(pairs):
            if heartbeat:
                if held.try_acquire() is None:
                    raise RuntimeError("HeldLease.try_acquire found the free lock busy")
                held.release()
                continue
            lease = store.acquire_lease(LOCK_KEY, holder, 60_000)
            if lease is None:
                raise RuntimeError("acquire_lease found the free lock busy")
            store.release_lease(LOCK_KEY, lease.token)
        return time.perf_counter() - started
    finally:
        store.close()


def measure_round_trips(scratch: Path) -> dict[str, list[float]]:
    """µs per round trip for each batch, per variant (batches interleaved, fresh database each)."""
    timers: dict[str, Callable[[Path], float]] = {
        STORE: lambda db: time_store_pairs(db, ROUND_TRIP_PAIRS, heartbeat=False),
        HELD: lambda db: time_store_pairs(db, ROUND_TRIP_PAIRS, heartbeat=True),
        RAW: lambda db: time_raw_lock_pairs(db, ROUND_TRIP_PAIRS),
    }
    per_pair: dict[str, list[float]] = {name: [] for name in timers}
    for batch in range(WARMUP_RUNS + ROUND_TRIP_BATCHES):
        for index, (name, timer) in enumerate(timers.items()):
            elapsed = timer(scratch / f"pairs-{batch}-{index}.sqlite")
            if batch >= WARMUP_RUNS:
                per_pair[name].append(elapsed / ROUND_TRIP_PAIRS * 1e6)
    return per_pair


def render_round_trips(per_pair: Mapping[str, list[float]]) -> list[str]:
    """Table 1 as Markdown lines."""
    raw = statistics.median(per_pair[RAW])
    lines = [
        "| Lock round trip (one connection) | µs: median (min–max of batches) | vs raw SQLite "
        "limit |",
        "|---|---:|---:|",
    ]
    for name, values in per_pair.items():
        mid = statistics.median(values)
        label = f"{name} (2 × `BEGIN IMMEDIATE`, `INSERT`/`DELETE`)" if name == RAW else name
        lines.append(
            f"| {label} | {mid:,.0f} ({min(values):,.0f}–{max(values):,.0f}) | "
            f"{ratio_text(mid, raw)} |"
        )
    return lines


# --- 2. uncontended with_lock overhead ----------------------------------------------------------


def measure_uncontended(
    args: argparse.Namespace, scratch: Path, env: Mapping[str, str]
) -> list[Case]:
    """Time the with_lock flow (``full_s``) and the bare flow (``empty_s``) for every case.

    Subprocess cases (predecessor unless skipped, ours with text logs, ours quiet) and ours
    in-process are interleaved round by round; the first round is a warm-up.
    """
    cases = build_cases(args.skip_predecessor, args.predecessor_venv)
    timed_run = in_process_runner(env)
    cases.append(Case("ours in-process", lambda f, r: []))
    for round_no in range(WARMUP_RUNS + args.runs):
        for index, case in enumerate(cases):
            for lock, kept in ((UNCONTENDED_LOCK, case.full_s), (None, case.empty_s)):
                root = scratch / f"unc-{round_no}-{index}-{'lock' if lock else 'bare'}"
                flow = write_flow(root, "bench", 1, args.steps, lock)
                run_id = f"bench-{round_no}"
                if case.name == "ours in-process":
                    elapsed = timed_run(flow, run_id)
                else:
                    elapsed, _ = spawn_timed(case.argv(flow, run_id), env)
                if round_no >= WARMUP_RUNS:
                    kept.append(elapsed)
        print(f"  uncontended round {round_no + 1}/{WARMUP_RUNS + args.runs}", file=sys.stderr)
    return cases


def render_uncontended(cases: Sequence[Case], steps: int, raw_pair_us: float) -> list[str]:
    """Table 2 as Markdown lines."""
    pred = next((c for c in cases if c.name == "predecessor"), None)
    pred_us = pred.per_step_us(steps) if pred else None
    lines = [
        f"| Case | {steps} bare steps, ms: median (min–max) | {steps} `with_lock` steps, ms: "
        "median (min–max) | `with_lock` overhead per step (µs) | vs predecessor | vs raw lock "
        "round trip |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        us = case.per_step_us(steps)
        lines.append(
            f"| {case.name} | {spread_ms(case.empty_s)} | {spread_ms(case.full_s)} | {us:,.0f} | "
            f"{ratio_text(us, pred_us)} | {ratio_text(us, raw_pair_us)} |"
        )
    return lines


# --- 3. contended throughput --------------------------------------------------------------------


@dataclass(frozen=True)
class Acquisition:
    """One lock acquisition by a ``with_lock`` step, from its events (epoch ms)."""

    requested_ms: int
    acquired_ms: int
    released_ms: int
    waited: bool

    @property
    def wait_ms(self) -> int:
        """From the ``with_lock`` step's start to ``lock_acquired``."""
        return self.acquired_ms - self.requested_ms

    @property
    def hold_ms(self) -> int:
        """From ``lock_acquired`` to ``lock_released``."""
        return self.released_ms - self.acquired_ms


@dataclass
class ContendedRound:
    """One round of concurrent runs: the acquisitions of each process, in order.

    Rates use the lock window: from the first ``lock_acquired`` of any process to the last
    ``lock_released`` of any process (interpreter start-up before it is left out).
    """

    per_process: list[list[Acquisition]]

    def acquisitions(self) -> list[Acquisition]:
        """Every acquisition of the round."""
        return [a for p in self.per_process for a in p]

    def window_s(self) -> float:
        """Length of the lock window in seconds."""
        found = self.acquisitions()
        first = min(a.acquired_ms for a in found)
        last = max(a.released_ms for a in found)
        return max(last - first, 1) / 1000

    def rate(self) -> float:
        """Acquisitions per second over the lock window."""
        return len(self.acquisitions()) / self.window_s()

    def busy(self) -> float:
        """Fraction of the lock window during which the lock was held."""
        return sum(a.hold_ms for a in self.acquisitions()) / 1000 / self.window_s()


@dataclass
class Contention:
    """All rounds for one number of processes."""

    procs: int
    rounds: list[ContendedRound] = field(default_factory=list)

    def pooled(self) -> list[Acquisition]:
        """The acquisitions of every round."""
        return [a for r in self.rounds for a in r.acquisitions()]


def parse_acquisitions(log_text: str) -> list[Acquisition]:
    """The acquisitions in one process's JSON event log (``with_lock`` steps only).

    Raises:
        RuntimeError: A ``with_lock`` step has no ``lock_acquired`` or ``lock_released`` event.
    """
    starts: dict[str, int] = {}
    acquired: dict[str, int] = {}
    waited: set[str] = set()
    found: list[Acquisition] = []
    for line in log_text.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        name, step, ts = event.get("event"), event.get("step_id"), event.get("ts_ms")
        if name == "step_start" and event.get("step_type") == "with_lock":
            starts[step] = ts
        elif name == "lock_wait":
            waited.add(step)
        elif name == "lock_acquired":
            acquired[step] = ts
        elif name == "lock_released":
            found.append(Acquisition(starts[step], acquired[step], ts, step in waited))
    if len(found) != len(starts):
        raise RuntimeError(f"{len(starts)} with_lock steps but {len(found)} lock releases")
    return found


def run_contended_round(
    cli: Path, root: Path, procs: int, steps: int, env: Mapping[str, str]
) -> ContendedRound:
    """Start ``procs`` runs of one with_lock flow at once (one state database) and wait for all.

    Raises:
        RuntimeError: A run failed (its last log lines are in the message).
    """
    flow = write_flow(root, "bench", 1, steps, CONTENDED_LOCK)
    logs = [root / f"p{i}.jsonl" for i in range(procs)]
    pids = []
    for i, log in enumerate(logs):
        argv = [str(cli), "run", str(flow), "--run-id", f"p{i}", "--log-format", "json"]
        actions = [
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        pids.append(os.posix_spawn(argv[0], argv, dict(env), file_actions=actions))
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    per_process: list[list[Acquisition]] = []
    for code, log in zip(codes, logs, strict=True):
        text = log.read_text(encoding="utf-8")
        if code != 0:
            tail = "\n".join(text.splitlines()[-5:])
            raise RuntimeError(f"contended run {log.stem} exited {code}:\n{tail}")
        per_process.append(parse_acquisitions(text))
        if len(per_process[-1]) != steps:
            raise RuntimeError(f"{log.stem}: {len(per_process[-1])} acquisitions, not {steps}")
    return ContendedRound(per_process)


def measure_contended(
    args: argparse.Namespace, scratch: Path, env: Mapping[str, str]
) -> list[Contention]:
    """One process (baseline) and ``args.procs`` processes, ``args.contended_rounds`` rounds."""
    cli = ours_cli()
    results = [Contention(1), Contention(args.procs)]
    for round_no in range(args.contended_rounds):
        for result in results:
            root = scratch / f"cont-{round_no}-{result.procs}"
            result.rounds.append(
                run_contended_round(cli, root, result.procs, args.contended_steps, env)
            )
        print(f"  contended round {round_no + 1}/{args.contended_rounds}", file=sys.stderr)
    return results


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def render_contended(results: Sequence[Contention], raw_pair_us: float) -> list[str]:
    """Table 3 as Markdown lines."""
    base = statistics.median(r.rate() for r in results[0].rounds)
    lines = [
        "| Processes | Acquisitions per round | Lock window, s | Acquisitions/s: median "
        "(min–max) | vs 1 process | vs raw limit | Lock held | Had to wait | Wait p50 / p95 / "
        "p99 / max, ms | Hold p50, ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        rates = [r.rate() for r in result.rounds]
        rate = statistics.median(rates)
        pooled = result.pooled()
        waits = [float(a.wait_ms) for a in pooled]
        window = statistics.median(r.window_s() for r in result.rounds)
        busy = statistics.median(r.busy() for r in result.rounds)
        waited = sum(a.waited for a in pooled) / len(pooled)
        spread = " / ".join(f"{percentile(waits, p):,.0f}" for p in (50, 95, 99, 100))
        lines.append(
            f"| {result.procs} | {len(result.rounds[0].acquisitions())} | {window:.2f} | "
            f"{rate:,.0f} ({min(rates):,.0f}–{max(rates):,.0f}) | {ratio_text(rate, base)} | "
            f"{ratio_text(rate, 1e6 / raw_pair_us)} | {busy:.0%} | {waited:.0%} | {spread} | "
            f"{percentile([float(a.hold_ms) for a in pooled], 50):,.0f} |"
        )
    return lines


# --- command line -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="uncontended runs per case (5)")
    parser.add_argument("--steps", type=int, default=200, help="steps per uncontended flow (200)")
    parser.add_argument("--procs", type=int, default=8, help="contending processes (8)")
    parser.add_argument(
        "--contended-steps", type=int, default=150, help="with_lock steps per process (150)"
    )
    parser.add_argument("--contended-rounds", type=int, default=3, help="contended rounds (3)")
    parser.add_argument("--skip-predecessor", action="store_true", help="do not run it")
    parser.add_argument(
        "--predecessor-venv", type=Path, default=DEFAULT_VENV, help="its virtualenv"
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="scratch directory parent")
    parser.add_argument(
        "--profile-in-process",
        action="store_true",
        help="only run our with_lock flow in this process --runs times (for cProfile)",
    )
    args = parser.parse_args(argv)
    numbers = (args.runs, args.steps, args.procs, args.contended_steps, args.contended_rounds)
    if min(numbers) < 1:
        parser.error("--runs, --steps, --procs, --contended-steps, --contended-rounds must be ≥ 1")
    return args


def setup_lines(args: argparse.Namespace) -> list[str]:
    """Machine, versions, parameters and command."""
    command = "python bench/locks.py " + shlex.join(sys.argv[1:])
    return [
        *environment_lines(args.skip_predecessor),
        f"- Round trip: {ROUND_TRIP_BATCHES} batches × {ROUND_TRIP_PAIRS} round trips after "
        f"{WARMUP_RUNS} warm-up batch, fresh database per batch",
        f"- Uncontended: {args.steps} steps, `with_lock` inputs {dict(UNCONTENDED_LOCK)}; median "
        f"of {args.runs} runs after {WARMUP_RUNS} warm-up",
        f"- Contended: {args.procs} processes × {args.contended_steps} steps, `with_lock` inputs "
        f"{dict(CONTENDED_LOCK)}, `--log-format json`; {args.contended_rounds} rounds",
        f"- Command: `{command.strip()}`",
    ]


def profile_in_process(args: argparse.Namespace, scratch: Path, env: Mapping[str, str]) -> None:
    """Run our with_lock flow in this process ``args.runs`` times and print the timings."""
    timed_run = in_process_runner(env)
    for round_no in range(args.runs):
        flow = write_flow(scratch / f"prof-{round_no}", "bench", 1, args.steps, UNCONTENDED_LOCK)
        elapsed = timed_run(flow, f"prof-{round_no}")
        print(f"with_lock flow: {elapsed / args.steps * 1e6:,.0f} µs/step", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure round trips, uncontended overhead and contended throughput; print the report."""
    args = parse_args(argv)
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="af-bench-locks-", dir=args.tmp_dir) as tmp:
        scratch = Path(tmp)
        if args.profile_in_process:
            profile_in_process(args, scratch, env)
            return
        print("round trips ...", file=sys.stderr)
        per_pair = measure_round_trips(scratch)
        print("uncontended with_lock ...", file=sys.stderr)
        cases = measure_uncontended(args, scratch, env)
        print("contended with_lock ...", file=sys.stderr)
        contended = measure_contended(args, scratch, env)
    raw_pair_us = statistics.median(per_pair[RAW])
    out = [
        *setup_lines(args),
        "",
        *render_round_trips(per_pair),
        "",
        *render_uncontended(cases, args.steps, raw_pair_us),
        "",
        *render_contended(contended, raw_pair_us),
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
