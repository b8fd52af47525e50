"""Extract throughput: ``db_extract_stream`` to CSV and Parquet, ours vs predecessor vs limits.

A table of ``--rows`` rows × 6 columns (``extractdata.py``) is generated once into a SQLite file
and a PostgreSQL table, then extracted by these commands, each in its own process, interleaved,
``--runs`` times after one warm-up round (wall time from spawn to exit; CPU time and peak RSS from
GNU ``time`` around the command, see :func:`spawn`):

* ours: ``aetherflow run`` on a one-step flow, ``db_extract_stream`` with ``engine: auto`` and
  ``engine: generic``, to CSV and Parquet, from SQLite and from PostgreSQL; and ``engine: auto``
  with ``fetch_size: 100000`` from SQLite;
* the predecessor (``aetherflow-core`` 0.0.14 with its ``parquet`` extra): the same flow, from
  SQLite, to CSV and to Parquet (a failure is recorded with its error);
* the limits: ``sqlite3 -csv -header``, ``psql -c "COPY (...) TO STDOUT WITH (FORMAT csv,
  HEADER)"`` (stdout to a file), and ADBC → pyarrow (``arrowlimit.py``: the whole table read by
  the ADBC driver, written by ``pyarrow.csv`` / ``pyarrow.parquet``);
* start-up: both CLIs on a flow with no jobs, bare ``python``, and the imports of the Arrow path;
* memory: ours (``engine: auto``) on a ``--small-rows`` SQLite table, to compare peak RSS.

Every CSV of ours and of the predecessor is checked against the generic path's ``sha256``.

Usage::

    python bench/extract.py [--rows 1000000] [--runs 3] [--skip-predecessor] [--skip-postgres]

A Markdown report (``extractreport.py``) goes to stdout, progress to stderr. Where the time of
the SQLite paths goes, piece by piece: ``extract_floors.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from extractdata import drop_postgres, make_postgres, make_sqlite, query
from extractreport import (
    WARMUP_RUNS,
    Argv,
    Case,
    machine_lines,
    render_main,
    render_memory,
    render_startup,
    render_verdicts,
)
from predecessor import DEFAULT_VENV, ensure_predecessor, venv_cli
from step_overhead import child_env, ours_cli

BENCH = Path(__file__).resolve().parent
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BIG_FETCH = 100_000  # one more case of ours: larger batches (and Parquet row groups)


GNU_TIME = Path("/usr/bin/time")


def bench_env(pycache: Path) -> dict[str, str]:
    """The children's environment: no ``AETHERFLOW_*`` settings, and bytecode cached.

    Development shells often set ``PYTHONDONTWRITEBYTECODE``, which makes every start of our
    CLI (an editable install) compile its modules again (about 0.1 s of CPU), while the
    predecessor's and pyarrow's were compiled by pip. The children cache bytecode in a scratch
    ``PYTHONPYCACHEPREFIX`` instead, filled by the warm-up round, as an installed package would.
    """
    env = {k: v for k, v in child_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def spawn(
    argv: Sequence[str], run_dir: Path, stdout: str | None, env: Mapping[str, str]
) -> tuple[float, float, int, int]:
    """Run ``argv`` with ``env``; stdout to ``run_dir/stdout`` (or /dev/null), stderr to a file.

    CPU time and peak RSS come from GNU ``time`` wrapped around the command when it is
    installed: Linux keeps a process's peak RSS across ``exec``, so a child spawned directly by
    this (larger) process would report at least this process's RSS. Without it they come from
    ``wait4`` (and RSS has that floor).

    Returns:
        Wall seconds (spawn to exit), CPU seconds (user + system), peak RSS in KiB, exit code.
    """
    out = str(run_dir / stdout) if stdout else os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(run_dir / "stderr.txt"), os.O_WRONLY | os.O_CREAT, 0o644),
    ]
    rusage = run_dir / "rusage.txt"
    command = [shutil.which(argv[0]) or argv[0], *argv[1:]]
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-q", "-o", str(rusage), "-f", "%U %S %M", *command]
    started = time.perf_counter()
    pid = os.posix_spawn(command[0], command, dict(env), file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if GNU_TIME.exists() and rusage.exists():
        user, system, peak = rusage.read_text(encoding="utf-8").split()[-3:]
        return elapsed, float(user) + float(system), int(peak), code
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code


def flow_text(
    run_dir: Path,
    source: str,
    database: str,
    fmt: str,
    engine: str | None,
    fetch_size: int | None = None,
) -> str:
    """A one-step ``db_extract_stream`` flow that both CLIs accept (``engine`` only for ours)."""
    config = f"path: {json.dumps(database)}" if source == "sqlite" else f"url: {database}"
    lines = [
        "version: 1",
        "flow:",
        "  id: bench_extract",
        "  workspace:",
        f"    root: {json.dumps(str(run_dir / 'work'))}",
        "    cleanup_policy: never",
        "  state:",
        f"    path: {json.dumps(str(run_dir / 'state.sqlite'))}",
        "resources:",
        "  src:",
        "    kind: db",
        f"    driver: {'sqlite3' if source == 'sqlite' else 'postgres'}",
        "    config:",
        f"      {config}",
        "jobs:",
        "  - id: extract",
        "    steps:",
        "      - id: export",
        "        type: db_extract_stream",
        "        inputs:",
        "          resource: src",
        f"          sql: {query(source)}",
        f"          output: out.{fmt}",
        f"          format: {fmt}",
    ]
    if engine is not None:
        lines.append(f"          engine: {engine}")
    if fetch_size is not None:
        lines.append(f"          fetch_size: {fetch_size}")
    return "\n".join(lines) + "\n"


def flow_argv(
    cli: str,
    style: str,
    source: str,
    database: str,
    fmt: str,
    engine: str | None,
    fetch_size: int | None = None,
) -> Argv:
    """The argv builder of a flow run (``style``: ``ours`` or ``predecessor``)."""

    def build(run_dir: Path) -> list[str]:
        flow = run_dir / "flow.yaml"
        text = flow_text(run_dir, source, database, fmt, engine, fetch_size)
        flow.write_text(text, encoding="utf-8")
        if style == "ours":
            return [cli, "run", str(flow), "--run-id", "bench", "--log-level", "WARNING"]
        return [cli, "run", "--flow-yaml", str(flow), "--run-id", "bench"]

    return build


def empty_flow_argv(cli: str, style: str) -> Argv:
    """A flow with no jobs: the start-up of the command."""

    def build(run_dir: Path) -> list[str]:
        flow = run_dir / "flow.yaml"
        text = flow_text(run_dir, "sqlite", "unused.sqlite", "csv", None)
        flow.write_text(text.split("jobs:")[0] + "jobs: []\n", encoding="utf-8")
        if style == "ours":
            return [cli, "run", str(flow), "--run-id", "bench", "--log-level", "WARNING"]
        return [cli, "run", "--flow-yaml", str(flow), "--run-id", "bench"]

    return build


def fixed(argv: list[str]) -> Argv:
    """An argv builder that ignores the run directory."""
    return lambda _run_dir: list(argv)


@dataclass
class Setup:
    """What the cases need: data locations and commands."""

    rows: int
    small_rows: int
    sqlite: Path
    sqlite_small: Path
    pg_url: str | None
    ours: str
    predecessor: str | None


def ours_cases(s: Setup) -> list[Case]:
    """Our CLI: both engines, both formats, both sources; the memory cases."""
    cases = []
    sources = [("sqlite", "SQLite", str(s.sqlite))]
    if s.pg_url:
        sources.append(("postgres", "PostgreSQL", s.pg_url))
    for source, label, database in sources:
        for fmt in ("csv", "parquet"):
            for engine in ("auto", "generic"):
                argv = flow_argv(s.ours, "ours", source, database, fmt, engine)
                group = f"{label} → {fmt.upper() if fmt == 'csv' else 'Parquet'}"
                cases.append(Case(group, f"ours, engine {engine}", "ours", s.rows, argv, flow=True))
    for fmt in ("csv", "parquet"):
        argv = flow_argv(s.ours, "ours", "sqlite", str(s.sqlite), fmt, "auto", BIG_FETCH)
        group = f"SQLite → {fmt.upper() if fmt == 'csv' else 'Parquet'}"
        name = f"ours, engine auto, fetch_size {BIG_FETCH:,}"
        cases.append(Case(group, name, "ours", s.rows, argv, flow=True))
    for fmt in ("csv", "parquet"):
        argv = flow_argv(s.ours, "ours", "sqlite", str(s.sqlite_small), fmt, "auto")
        group = f"memory ({fmt})"
        cases.append(Case(group, "ours, engine auto", "ours", s.small_rows, argv, flow=True))
    return cases


def other_cases(s: Setup) -> list[Case]:
    """The predecessor, the limits and the start-up commands."""
    py = sys.executable
    limit = str(BENCH / "arrowlimit.py")
    cases = []
    if s.predecessor:
        for fmt, group in (("csv", "SQLite → CSV"), ("parquet", "SQLite → Parquet")):
            argv = flow_argv(s.predecessor, "predecessor", "sqlite", str(s.sqlite), fmt, None)
            cases.append(
                Case(group, "predecessor", "predecessor", s.rows, argv, output=f"out.{fmt}")
            )
    sqlite_cli = ["sqlite3", "-csv", "-header", str(s.sqlite), query("sqlite")]
    cases += [
        Case("SQLite → CSV", "limit: sqlite3 -csv", "limit", s.rows, fixed(sqlite_cli), "out.csv"),
        Case(
            "SQLite → CSV",
            "limit: ADBC → pyarrow.csv",
            "limit",
            s.rows,
            lambda d: [py, limit, "sqlite", str(s.sqlite), "csv", str(d / "out.csv")],
        ),
        Case(
            "SQLite → Parquet",
            "limit: ADBC → pyarrow.parquet",
            "limit",
            s.rows,
            lambda d: [py, limit, "sqlite", str(s.sqlite), "parquet", str(d / "out.parquet")],
        ),
    ]
    if s.pg_url:
        url = s.pg_url
        copy = f"COPY ({query('postgres')}) TO STDOUT WITH (FORMAT csv, HEADER)"
        psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", copy]
        cases += [
            Case("PostgreSQL → CSV", "limit: psql COPY", "limit", s.rows, fixed(psql), "out.csv"),
            Case(
                "PostgreSQL → CSV",
                "limit: ADBC → pyarrow.csv",
                "limit",
                s.rows,
                lambda d: [py, limit, "postgres", url, "csv", str(d / "out.csv")],
            ),
            Case(
                "PostgreSQL → Parquet",
                "limit: ADBC → pyarrow.parquet",
                "limit",
                s.rows,
                lambda d: [py, limit, "postgres", url, "parquet", str(d / "out.parquet")],
            ),
        ]
    imports = "import pyarrow, pyarrow.compute, pyarrow.parquet, adbc_driver_sqlite.dbapi"
    cases += [
        Case("start-up", "ours: empty flow", "startup", 0, empty_flow_argv(s.ours, "ours")),
        Case("start-up", "python -c pass", "startup", 0, fixed([py, "-c", "pass"])),
        Case(
            "start-up",
            "python: import aetherflow.cli.main",
            "startup",
            0,
            fixed([py, "-c", "import aetherflow.cli.main"]),
        ),
        Case("start-up", "python: import pyarrow + ADBC", "startup", 0, fixed([py, "-c", imports])),
    ]
    if s.predecessor:
        argv = empty_flow_argv(s.predecessor, "predecessor")
        cases.append(Case("start-up", "predecessor: empty flow", "startup", 0, argv))
    return cases


def stderr_tail(run_dir: Path) -> str:
    """The last error-looking line of the command's stderr (its message when it failed)."""
    lines = (run_dir / "stderr.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    lines = [line.strip() for line in lines if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["(no output)"])[-1][:300]


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def record_outputs(case: Case, run_dir: Path, env: Mapping[str, str]) -> None:
    """Read back what the run wrote: our step's outputs (engine, sha256, rows), or the file."""
    if case.flow:
        shown = subprocess.run(
            [str(ours_cli()), "runs", "show", "bench", str(run_dir / "flow.yaml"), "--json"],
            capture_output=True,
            text=True,
            check=True,
            env=dict(env),
        )
        outputs = json.loads(shown.stdout)["jobs"][0]["steps"][0]["outputs"]
        if outputs["row_count"] != case.rows:
            case.error = f"wrote {outputs['row_count']} rows, not {case.rows}"
        case.engines.add(outputs["engine"])
        case.digests.add(outputs["sha256"])
    elif case.output and case.role == "predecessor":
        found = sorted(run_dir.glob(f"work/**/{case.output}"))
        if not found:
            case.error = "no output file"
        elif case.output.endswith(".csv"):
            case.digests.add(file_sha256(found[0]))


def run_case(case: Case, run_dir: Path, keep: bool, env: Mapping[str, str]) -> None:
    """Run ``case`` once in a fresh ``run_dir``; keep its timings when ``keep``."""
    run_dir.mkdir(parents=True)
    try:
        wall, cpu, rss, code = spawn(case.argv(run_dir), run_dir, case.stdout, env)
        if code != 0:
            case.error = f"exit {code}: {stderr_tail(run_dir)}"
            return
        if keep:
            case.wall_s.append(wall)
            case.cpu_s.append(cpu)
            case.rss_kib.append(rss)
            record_outputs(case, run_dir, env)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def measure(cases: list[Case], runs: int, scratch: Path) -> None:
    """Every case once per round, interleaved; the first WARMUP_RUNS rounds are not kept."""
    env = bench_env(scratch / "pycache")
    for round_no in range(WARMUP_RUNS + runs):
        for index, case in enumerate(cases):
            if case.error and not case.wall_s and round_no > 0:
                continue  # failed in the warm-up: its error is recorded
            run_dir = scratch / f"run-{round_no}-{index}"
            run_case(case, run_dir, round_no >= WARMUP_RUNS, env)
        print(f"  round {round_no + 1}/{WARMUP_RUNS + runs} done", file=sys.stderr)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument(
        "--small-rows", type=int, default=250_000, help="rows of the memory cases (250,000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument("--skip-predecessor", action="store_true", help="do not run it")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--pg-url", default=PG_URL, help=f"PostgreSQL URL ({PG_URL})")
    parser.add_argument(
        "--predecessor-venv", type=Path, default=DEFAULT_VENV, help="its virtualenv"
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="scratch directory parent")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rows < 1 or args.small_rows < 1:
        parser.error("--runs, --rows and --small-rows must be ≥ 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the data, measure every case, print the Markdown report."""
    args = parse_args(argv)
    load_before = f"{os.getloadavg()[0]:.2f}"
    predecessor = None
    if not args.skip_predecessor:
        ensure_predecessor(args.predecessor_venv, extras=("parquet",))
        predecessor = str(venv_cli(args.predecessor_venv))
    with tempfile.TemporaryDirectory(prefix="af-bench-extract-", dir=args.tmp_dir) as tmp:
        scratch = Path(tmp)
        print(f"generating {args.rows:,} rows ...", file=sys.stderr)
        setup = Setup(
            rows=args.rows,
            small_rows=args.small_rows,
            sqlite=make_sqlite(scratch / "data.sqlite", args.rows),
            sqlite_small=make_sqlite(scratch / "small.sqlite", args.small_rows),
            pg_url=None if args.skip_postgres else args.pg_url,
            ours=str(ours_cli()),
            predecessor=predecessor,
        )
        pg_version = None if args.skip_postgres else make_postgres(args.pg_url, args.rows)
        try:
            cases = ours_cases(setup) + other_cases(setup)
            print(f"measuring {len(cases)} commands × {args.runs} runs ...", file=sys.stderr)
            measure(cases, args.runs, scratch)
        finally:
            if not args.skip_postgres:
                drop_postgres(args.pg_url)
    out = [
        *machine_lines(args, pg_version, (load_before, f"{os.getloadavg()[0]:.2f}")),
        "",
        *render_main(cases),
        "",
        *render_startup(cases),
        "",
        *render_memory(cases),
        "",
        *render_verdicts(cases),
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()
