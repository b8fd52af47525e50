"""The transform of the quickstart ETL flow: daily totals of paid orders.

Usage: python examples/etl/transform.py ORDERS_CSV DAILY_CSV

Reads the orders CSV that the flow's extract job wrote (header ``id,order_date,customer,status,
amount_cents``) and writes one line per day to DAILY_CSV: ``order_date,paid_orders,revenue``,
revenue as exact decimal text (``1234.50``). Only the standard library is used, so any Python 3.11
runs it. The output appears only when complete: it is written to a temporary file that is then
renamed over DAILY_CSV.
"""

from __future__ import annotations

import csv
import os
import sys
from collections import defaultdict
from pathlib import Path

HEADER = ["order_date", "paid_orders", "revenue"]


def money(cents: int) -> str:
    """Integer cents as decimal text: ``123456`` → ``1234.56``."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d}"


def daily_totals(orders_csv: Path) -> dict[str, tuple[int, int]]:
    """``{order_date: (paid orders, paid cents)}`` from the orders CSV."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with orders_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["status"] != "paid":
                continue
            day = totals[row["order_date"]]
            day[0] += 1
            day[1] += int(row["amount_cents"])
    return {date: (count, cents) for date, (count, cents) in sorted(totals.items())}


def write_atomically(path: Path, totals: dict[str, tuple[int, int]]) -> None:
    """Write the daily totals to a temporary file next to ``path``, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADER)
            for date, (count, cents) in totals.items():
                writer.writerow([date, count, money(cents)])
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """Command line: ``transform.py ORDERS_CSV DAILY_CSV``; the exit code."""
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)  # noqa: T201 - a script
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    totals = daily_totals(source)
    if not totals:
        print(f"transform: no paid orders in {source}", file=sys.stderr)  # noqa: T201
        return 1
    write_atomically(target, totals)
    orders = sum(count for count, _ in totals.values())
    revenue = money(sum(cents for _, cents in totals.values()))
    print(f"transform: {len(totals)} days, {orders} paid orders, revenue {revenue}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
