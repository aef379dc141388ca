"""Add a note to a case the way `tracker case note` does, and hold the transaction open.

    python hold_note.py URL CASE_ID BODY

Locks the case, writes the note with its change and event (flushed, not committed) and
prints ``noted``; waits for a line on stdin, then commits and prints ``committed``. An
alarm ends it after 60 s in case the test that started it went away.
"""

from __future__ import annotations

import signal
import sys

from tracker import cases as svc
from tracker.db import Store
from tracker.redact import Masker


def main() -> None:
    url, case_id, body = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    signal.alarm(60)
    store = Store(url)
    with store.write() as session:
        case = svc.get_case(session, case_id, for_update=True)
        svc.add_note(session, case, body, masker=Masker())
        session.flush()
        print("noted", flush=True)
        sys.stdin.readline()
    store.dispose()
    print("committed", flush=True)


if __name__ == "__main__":
    main()
