"""Open the store through tracker, write a note on case 1, and keep the connection open.

    python keep_open.py URL

Prints ``ready`` after the commit and waits for a line on stdin (or stdin closing). While it
waits, the store's -wal and -shm files exist (SQLite removes them when the last connection
closes), so a test can look at them.
"""

from __future__ import annotations

import signal
import sys

from tracker import cases as svc
from tracker.db import Store
from tracker.redact import Masker


def main() -> None:
    signal.alarm(600)
    store = Store(sys.argv[1])
    with store.write() as session:
        svc.add_note(session, svc.get_case(session, 1), "kept open", masker=Masker())
    print("ready", flush=True)
    sys.stdin.readline()
    store.dispose()


if __name__ == "__main__":
    main()
