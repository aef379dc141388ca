"""Writers to be killed: a fork server that starts a fresh writer process on request.

    python crash_writer.py URL

Importing Python, SQLAlchemy and tracker takes ~0.3 s, so this process imports once and
forks a writer per request; each writer is its own process with its own connection (the
Store is made and warmed up before the forks, with no connection open), killed by the test
with SIGKILL. Protocol on stdin/stdout, one line each:

    spawn RUN OUT_FILE  ->  PID       fork a writer for run RUN, its stdout going to OUT_FILE
    wait PID            ->  reaped    wait for that (killed) writer
    (stdin closed)                    exit

A writer loops: one transaction = a case titled ``run R case K notes N``
with N notes (some of them large, so a transaction spans many pages), through tracker's own
services; after each commit it prints ``CASE_ID N`` to its stdout, flushed.
"""

from __future__ import annotations

import os
import sys
import traceback

from tracker import cases as svc
from tracker.db import Store
from tracker.redact import Masker

LARGE = "x" * 16_000  # four pages


def note_body(run: int, k: int, j: int) -> str:
    body = f"run {run} case {k} note {j}"
    return f"{body} {LARGE}" if (k + j) % 4 == 0 else body


class WarmUp(Exception):
    pass


def warm_up(store: Store) -> None:
    """One rolled-back transaction, so the writers inherit configured mappers and compiled
    statements and start writing within milliseconds of the fork."""
    try:
        with store.write() as session:
            case = svc.open_case(session, title="warm-up", masker=Masker(), note="warm-up")
            svc.add_note(session, case, "warm-up", masker=Masker())
            raise WarmUp
    except WarmUp:
        pass
    # No connection may cross the fork: each writer opens its own.
    store.engine.dispose()


def write_forever(store: Store, run: int) -> None:
    for k in range(100_000):
        n = 1 + (run + k) % 6
        masker = Masker()
        with store.write() as session:
            case = svc.open_case(
                session,
                title=f"run {run} case {k} notes {n}",
                masker=masker,
                note=note_body(run, k, 0),
            )
            for j in range(1, n):
                svc.add_note(session, case, note_body(run, k, j), masker=masker)
            case_id = case.id
        print(case_id, n, flush=True)


def main() -> None:
    store = Store(sys.argv[1], migrate=False)
    warm_up(store)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "spawn":
            run, out = int(args[0]), args[1]
            pid = os.fork()
            if pid == 0:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(fd, 1)
                os.close(fd)
                try:
                    write_forever(store, run)
                except BaseException:
                    traceback.print_exc()
                    os._exit(1)
                os._exit(0)
            print(pid, flush=True)
        elif command == "wait":
            os.waitpid(int(args[0]), 0)
            print("reaped", flush=True)


if __name__ == "__main__":
    main()
