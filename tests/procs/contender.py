"""A process that contends for the store: the CLI's shape or the daemon's shape.

    python contender.py URL cli|daemon COUNT CASE_ID

Prints ``ready`` once the store is open, waits for a line on stdin (so both contenders
start together), runs COUNT read-then-write transactions through tracker's own code, and
prints ``done``. Any failure escapes as a traceback and a non-zero exit.

cli:    like `tracker case note` / `case contact`: get_case(for_update) + add_note, every
        fourth time also log_interaction, and a read-then-write counter bump.
daemon: like the reminder daemon: claim(key) in one transaction, then mark_shown(key) with
        a note on the case and the same counter bump in the next.
The counter is the `attempts` of the reminder row keyed "test:counter": read in Python,
written back + 1, so any read outside the write lock loses an update.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from support import wait_longer_for_the_write_lock

from tracker import cases as svc
from tracker.db import Store
from tracker.models import Reminder, utcnow
from tracker.redact import Masker
from tracker.reminders import claim, mark_shown

COUNTER_KEY = "test:counter"


def bump_counter(session: Session) -> None:
    row = session.scalars(
        select(Reminder).where(Reminder.key == COUNTER_KEY).with_for_update()
    ).one()
    row.attempts = row.attempts + 1


def cli_transaction(store: Store, case_id: int, i: int) -> None:
    masker = Masker()
    with store.write() as session:
        case = svc.get_case(session, case_id, for_update=True)
        svc.add_note(session, case, f"cli note {i}", masker=masker)
        if i % 4 == 0:
            svc.log_interaction(
                session, case, channel="phone", masker=masker, summary=f"cli call {i}"
            )
        bump_counter(session)


def daemon_transaction(store: Store, case_id: int, i: int, owner: str) -> None:
    key = f"follow_up:test-{i}"
    now = utcnow()
    with store.write() as session:
        won = claim(
            session,
            key,
            case_id=case_id,
            kind="follow_up",
            due_at=now,
            owner=owner,
            now=now,
            lease=timedelta(minutes=5),
        )
    if not won:
        raise AssertionError(f"claim of {key} refused")
    with store.write() as session:
        mark_shown(session, key, now=utcnow())
        case = svc.get_case(session, case_id, for_update=True)
        svc.add_note(session, case, f"daemon note {i}", masker=Masker())
        bump_counter(session)


def main() -> None:
    url, role, count, case_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # What is tested is that nothing is lost, not the 5 s busy timeout (a loaded machine can
    # leave the other contender holding the lock longer than that).
    wait_longer_for_the_write_lock(300)
    store = Store(url)
    owner = f"contender-{os.getpid()}"
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        if role == "cli":
            cli_transaction(store, case_id, i)
        else:
            daemon_transaction(store, case_id, i, owner)
    store.dispose()
    print("done", flush=True)


if __name__ == "__main__":
    main()
