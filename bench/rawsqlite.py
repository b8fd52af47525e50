"""Physical limits measured with bare SQLite: nothing but the committed writes.

* A state-backed step (:func:`time_raw_loop`): per step, on one connection in WAL mode with
  ``synchronous=NORMAL`` (the durability AetherFlow uses by default), an ``INSERT OR REPLACE`` of a
  ``RUNNING`` row, commit; then an ``UPDATE`` to the final status with small JSON outputs, commit.
  No validation, templating, events or logging.
* A lock round trip (:func:`time_raw_lock_pairs`): ``BEGIN IMMEDIATE``, ``INSERT`` of a
  ``(key, token)`` row, ``COMMIT``; then ``BEGIN IMMEDIATE``, ``DELETE`` of that row, ``COMMIT``,
  same connection settings.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE step_runs (
    run_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outputs_json TEXT,
    PRIMARY KEY (run_id, job_id, step_id)
)
"""
_START = (
    "INSERT OR REPLACE INTO step_runs (run_id, job_id, step_id, status, started_at) "
    "VALUES (?, ?, ?, 'RUNNING', ?)"
)
_FINISH = (
    "UPDATE step_runs SET status = 'SUCCESS', finished_at = ?, outputs_json = ? "
    "WHERE run_id = ? AND job_id = ? AND step_id = ?"
)


_LOCK_SCHEMA = "CREATE TABLE locks (key TEXT PRIMARY KEY, token INTEGER NOT NULL)"


def _open(path: Path, schema: str = _SCHEMA) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(schema)
    return conn


def time_raw_loop(db_path: Path, jobs: int, steps_per_job: int) -> float:
    """Seconds for ``jobs × steps_per_job`` steps of two committed writes each.

    Args:
        db_path: A database file that does not exist yet.
        jobs: Number of jobs.
        steps_per_job: Steps per job.

    Returns:
        Wall time of the loop, excluding opening the database and creating the table.
    """
    conn = _open(db_path)
    run_id = "raw"
    try:
        started = time.perf_counter()
        for j in range(jobs):
            job_id = f"j{j:03d}"
            for s in range(steps_per_job):
                step_id = f"s{s:04d}"
                conn.execute("BEGIN")
                conn.execute(_START, (run_id, job_id, step_id, time.time()))
                conn.execute("COMMIT")
                outputs = json.dumps({"count": 3, "has_data": True})
                conn.execute("BEGIN")
                conn.execute(_FINISH, (time.time(), outputs, run_id, job_id, step_id))
                conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def time_raw_lock_pairs(db_path: Path, pairs: int) -> float:
    """Seconds for ``pairs`` lock round trips: an insert and a delete, each committed.

    Args:
        db_path: A database file that does not exist yet.
        pairs: Number of acquire/release pairs (one key, a new token each time).

    Returns:
        Wall time of the loop, excluding opening the database and creating the table.
    """
    conn = _open(db_path, _LOCK_SCHEMA)
    try:
        started = time.perf_counter()
        for token in range(1, pairs + 1):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO locks (key, token) VALUES (?, ?)", ("bench", token))
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM locks WHERE key = ? AND token = ?", ("bench", token))
            conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()
