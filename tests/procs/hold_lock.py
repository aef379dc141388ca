"""Hold the store's write lock: BEGIN IMMEDIATE, write a note, wait, then roll back or commit.

    python hold_lock.py DB_FILE rollback|commit

Prints ``locked`` once it holds the lock with an uncommitted note on case 1, waits for a
line on stdin (or stdin closing), then ends its transaction as told and prints ``released``.
An alarm ends it after 600 s in case the test that started it went away.
"""

from __future__ import annotations

import signal
import sqlite3
import sys


def main() -> None:
    path, ending = sys.argv[1], sys.argv[2]
    signal.alarm(600)
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO notes (case_id, body, created_at) "
        "VALUES (1, 'note of the lock holder', '2026-11-26 10:00:00.000000')"
    )
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK" if ending == "rollback" else "COMMIT")
    conn.close()
    print("released", flush=True)


if __name__ == "__main__":
    main()
