"""Create the demo SQLite database of docs/steps/database.md.

Usage: .venv/bin/python docs/examples/make-shop-db.py PATH   (replaces PATH if it exists)
"""

import sqlite3
import sys
from pathlib import Path

path = Path(sys.argv[1])
path.unlink(missing_ok=True)
conn = sqlite3.connect(path)
conn.executescript(
    """
    CREATE TABLE orders (
        id INTEGER PRIMARY KEY,
        customer TEXT NOT NULL,
        order_date TEXT NOT NULL,     -- SQLite has no date type: ISO text
        amount TEXT NOT NULL,         -- exact decimal text (SQLite REAL would round)
        note TEXT
    );
    INSERT INTO orders VALUES
        (1, 'Ada Lovelace',          '2026-11-02', '120.50', NULL),
        (2, 'Smith, "Jr." & Sons',   '2026-11-02', '75.00',  'call before delivery'),
        (3, 'Grace Hopper',          '2026-11-03', '9.99',   'two lines:' || char(10) || 'gate B'),
        (4, 'Linus',                 '2026-11-04', '1200.00', 'tab' || char(9) || 'separated');
    """
)
conn.commit()
conn.close()
print(f"created {path} (4 orders)")
