"""Create the shop database of the quickstart ETL flow (examples/etl/etl.yaml).

Usage: python examples/etl/make_db.py PATH [--orders N]

Writes a SQLite database with one table, ``orders`` (N orders, default 3000, over November 2026),
replacing PATH if it exists. The data is generated from a fixed seed, so every run creates the
same database: the flow's results are the same on every machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
from pathlib import Path

SEED = 20261101
FIRST_DAY = dt.date(2026, 11, 1)
DAYS = 30
CUSTOMERS = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "Ken Thompson",
    'Smith, "Jr." & Sons',  # a comma and quotes: the CSV writer must quote this
    "Müller GmbH",
]
STATUSES = ["paid"] * 9 + ["refunded"]  # about one order in ten is refunded

SCHEMA = """
CREATE TABLE orders (
    id            INTEGER PRIMARY KEY,
    order_date    TEXT    NOT NULL,   -- ISO date; SQLite has no date type
    customer      TEXT    NOT NULL,
    status        TEXT    NOT NULL,   -- paid | refunded
    amount_cents  INTEGER NOT NULL    -- money as integer cents: exact
);
"""


def orders(count: int) -> list[tuple[int, str, str, str, int]]:
    """``count`` orders, the same ones on every call."""
    rng = random.Random(SEED)
    rows = []
    for order_id in range(1, count + 1):
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        rows.append(
            (
                order_id,
                day.isoformat(),
                rng.choice(CUSTOMERS),
                rng.choice(STATUSES),
                rng.randrange(500, 25_000),
            )
        )
    return rows


def create(path: Path, count: int) -> None:
    """Write the database to ``path`` (replaced), via a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.unlink(missing_ok=True)
    conn = sqlite3.connect(temp)
    try:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders(count))
        conn.commit()
    finally:
        conn.close()
    temp.replace(path)


def main() -> None:
    """Command line: ``make_db.py PATH [--orders N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the database file to (re)create")
    parser.add_argument("--orders", type=int, default=3000, help="how many orders (3000)")
    args = parser.parse_args()
    create(args.path, args.orders)
    print(f"created {args.path} ({args.orders} orders)")  # noqa: T201 - a command-line script


if __name__ == "__main__":
    main()
