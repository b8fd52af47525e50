"""The results of ``extract.py`` and their Markdown report (tables, targets, machine lines)."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from predecessor import PREDECESSOR_VERSION

WARMUP_RUNS = 1
CSV_PRED_TARGET = 3.0  # our CSV throughput ≥ 3× the predecessor's
CSV_LIMIT_TARGET = 0.8  # ... and ≥ 0.8× the sqlite3 CLI's
PARQUET_LIMIT_TARGET = 1.3  # our Parquet time ≤ 1.3× ADBC → pyarrow
RSS_GROWTH_TARGET = 1.2  # peak RSS at --rows ≤ 1.2× the RSS at --small-rows

Argv = Callable[[Path], list[str]]


@dataclass
class Case:
    """One command, measured ``--runs`` times; ``group`` is e.g. ``SQLite → CSV``."""

    group: str
    name: str
    role: str  # ours | predecessor | limit | startup
    rows: int
    argv: Argv
    stdout: str | None = None  # file in the run directory that gets stdout
    flow: bool = False  # argv runs a flow of ours whose outputs can be read back
    output: str | None = None  # file the command writes, relative to the run directory
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    error: str | None = None
    engines: set[str] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)

    def median(self) -> float:
        """Median wall seconds."""
        return statistics.median(self.wall_s)

    def rows_per_s(self) -> float:
        """Rows per second over the median wall time."""
        return self.rows / self.median()


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min–max)`` of ``values`` × ``scale``."""
    low, mid, high = (v * scale for v in (min(values), statistics.median(values), max(values)))
    return f"{mid:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"


def mib(case: Case) -> str:
    """Largest peak RSS of the runs, in MiB."""
    return f"{max(case.rss_kib) / 1024:,.0f}" if case.rss_kib else "—"


def primary_limit(group: str, cases: list[Case]) -> Case | None:
    """The limit a group's ratios refer to (sqlite3 / psql for CSV, ADBC → pyarrow for Parquet)."""
    wanted = {"CSV": ("sqlite3", "psql"), "Parquet": ("ADBC",)}[group.rpartition("→ ")[2]]
    return next(
        (
            c
            for c in cases
            if c.group == group
            and c.role == "limit"
            and c.wall_s
            and any(w in c.name for w in wanted)
        ),
        None,
    )


def notes(case: Case, generic: Case | None) -> str:
    """Engine used, whether the CSV equals the generic one, or the error."""
    if case.error and not case.wall_s:
        return f"**failed**: `{case.error}`"
    parts = []
    if case.engines:
        parts.append("engine " + "/".join(sorted(case.engines)))
    is_csv = case.group.endswith("CSV")
    if is_csv and case.digests and generic and generic.digests and case is not generic:
        same = case.digests == generic.digests
        parts.append("same bytes as generic" if same else "**bytes differ from generic**")
    if case.error:
        parts.append(f"**{case.error}**")
    return "; ".join(parts)


def ratio(value: float | None, reference: float | None) -> str:
    """``value / reference`` as ``1.23×`` (``—`` without both)."""
    return f"{value / reference:.2f}×" if value and reference else "—"


def render_main(cases: list[Case]) -> list[str]:
    """The throughput table."""
    lines = [
        "| Extract | Case | Wall, s: median (min–max) | Rows/s | vs predecessor | vs limit "
        "| CPU, s | Peak RSS, MiB | Notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    groups = dict.fromkeys(c.group for c in cases if "→" in c.group)
    for group in groups:
        members = [c for c in cases if c.group == group]
        pred = next((c for c in members if c.role == "predecessor" and c.wall_s), None)
        limit = primary_limit(group, cases)
        generic = next((c for c in members if c.name == "ours, engine generic"), None)
        for case in members:
            if not case.wall_s:
                lines.append(
                    f"| {group} | {case.name} | — | — | — | — | — | — | {notes(case, None)} |"
                )
                continue
            rate = case.rows_per_s()
            lines.append(
                f"| {group} | {case.name} | {spread(case.wall_s)} | {rate:,.0f} "
                f"| {ratio(rate, pred.rows_per_s() if pred else None)} "
                f"| {ratio(rate, limit.rows_per_s() if limit else None)} "
                f"| {statistics.median(case.cpu_s):.2f} | {mib(case)} | {notes(case, generic)} |"
            )
    return lines


def render_startup(cases: list[Case]) -> list[str]:
    """Start-up commands and the memory cases."""
    lines = ["| Command | Wall, ms: median (min–max) | Peak RSS, MiB |", "|---|---:|---:|"]
    for case in cases:
        if case.group == "start-up" and case.wall_s:
            lines.append(f"| {case.name} | {spread(case.wall_s, 1000, 0)} | {mib(case)} |")
    return lines


def memory_pairs(cases: list[Case]) -> list[tuple[Case, Case]]:
    """(small, full) pairs of our ``engine: auto`` SQLite runs."""
    pairs = []
    for fmt, group in (("csv", "SQLite → CSV"), ("parquet", "SQLite → Parquet")):
        small = next((c for c in cases if c.group == f"memory ({fmt})"), None)
        full = next((c for c in cases if c.group == group and c.name == "ours, engine auto"), None)
        if small and full and small.rss_kib and full.rss_kib:
            pairs.append((small, full))
    return pairs


def render_memory(cases: list[Case]) -> list[str]:
    """Peak RSS of ours at both sizes."""
    lines = [
        "| Extract (ours, engine auto) | Rows | Peak RSS, MiB | Rows | Peak RSS, MiB | RSS ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for small, full in memory_pairs(cases):
        growth = max(full.rss_kib) / max(small.rss_kib)
        lines.append(
            f"| {full.group} | {small.rows:,} | {mib(small)} | {full.rows:,} | {mib(full)} "
            f"| {growth:.2f}× |"
        )
    return lines


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "**FAIL**"


def render_verdicts(cases: list[Case]) -> list[str]:
    """The targets, one line each: judged on the medians; the ratio of the fastest runs of each
    command follows in parentheses (interference from other processes only adds time)."""

    def find(group: str, name: str) -> Case | None:
        return next((c for c in cases if c.group == group and c.name == name and c.wall_s), None)

    def speed(ours: Case, other: Case) -> tuple[float, float]:
        return other.median() / ours.median(), min(other.wall_s) / min(ours.wall_s)

    lines = []
    csv_ours = find("SQLite → CSV", "ours, engine auto")
    pred = find("SQLite → CSV", "predecessor")
    cli = primary_limit("SQLite → CSV", cases)
    if csv_ours and pred:
        mid, best = speed(csv_ours, pred)
        lines.append(
            f"- CSV from SQLite ≥ {CSV_PRED_TARGET:g}× the predecessor's rows/s: {mid:.2f}× "
            f"(fastest runs {best:.2f}×) → {verdict(mid >= CSV_PRED_TARGET)}"
        )
    if csv_ours and cli:
        mid, best = speed(csv_ours, cli)
        lines.append(
            f"- CSV from SQLite ≥ {CSV_LIMIT_TARGET:g}× the sqlite3 CLI's rows/s: {mid:.2f}× "
            f"(fastest runs {best:.2f}×) → {verdict(mid >= CSV_LIMIT_TARGET)}"
        )
    pq_ours = find("SQLite → Parquet", "ours, engine auto")
    pq_limit = primary_limit("SQLite → Parquet", cases)
    if pq_ours and pq_limit:
        mid, best = (1 / r for r in speed(pq_ours, pq_limit))
        lines.append(
            f"- Parquet from SQLite in ≤ {PARQUET_LIMIT_TARGET:g}× the time of ADBC → pyarrow: "
            f"{mid:.2f}× (fastest runs {best:.2f}×) → {verdict(mid <= PARQUET_LIMIT_TARGET)}"
        )
    for small, full in memory_pairs(cases):
        r = max(full.rss_kib) / max(small.rss_kib)
        lines.append(
            f"- Peak RSS independent of row count ({full.group}, {small.rows:,} → "
            f"{full.rows:,} rows, ≤ {RSS_GROWTH_TARGET:g}×): {r:.2f}× → "
            f"{verdict(r <= RSS_GROWTH_TARGET)}"
        )
    return lines


def version_of(argv: list[str]) -> str:
    """First line a ``--version`` command prints."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def machine_lines(
    args: argparse.Namespace, pg_version: str | None, load: tuple[str, str]
) -> list[str]:
    """Machine, versions, data and command."""
    from aetherflow import __version__

    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    sqlite_cli = version_of(["sqlite3", "--version"]).split()[0]
    command = "python bench/extract.py " + shlex.join(sys.argv[1:])
    lines = [
        f"- Machine: {platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}",
        f"- Python {platform.python_version()}; SQLite library {sqlite3.sqlite_version}, "
        f"sqlite3 CLI {sqlite_cli}; pyarrow {dist('pyarrow')}, adbc-driver-sqlite "
        f"{dist('adbc-driver-sqlite')}, adbc-driver-postgresql {dist('adbc-driver-postgresql')}",
        f"- aetherflow {__version__}"
        + (
            ""
            if args.skip_predecessor
            else f"; predecessor aetherflow-core {PREDECESSOR_VERSION}"
            " (with pyarrow: `aetherflow-core[parquet]`)"
        ),
    ]
    if pg_version:
        lines.append(
            f"- PostgreSQL {pg_version} on 127.0.0.1 ({version_of(['psql', '--version'])})"
        )
    lines += [
        f"- Data: {args.rows:,} rows × 6 columns (`bench/extractdata.py`); memory cases "
        f"{args.small_rows:,} rows; `fetch_size` default (5000); median of {args.runs} runs "
        f"after {WARMUP_RUNS} warm-up, each command in its own process",
        f"- Python children cache bytecode in a scratch `PYTHONPYCACHEPREFIX` (filled by the "
        "warm-up round), as an installed package has it; 1-minute load average before / after: "
        f"{load[0]} / {load[1]}",
        f"- Command: `{command.strip()}`",
    ]
    return lines
