"""`tracker undo` next to a concurrent `tracker case note` never deletes a saved note.

The race of the "Lose nothing" issue: undo chose the `case open` change before the note's
change committed, waited for the case's row lock, then deleted the case with the note the
CLI had just reported saved (PostgreSQL, 34 of 40 tries). Undo now locks what it reverts
before it settles on a change (tracker.history._lock_last_change).

Real processes against a real store: two workers (tests/procs/cli_worker.py) run the CLI,
and each try releases `undo` in one and `case note` in the other together. Nothing waits
for time to pass: the workers block on their stdin until the test writes both lines.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from procs.support import db_file, expect_line, run_tracker, spawn, sqlite_problems
from sqlalchemy import create_engine, select, text

from tracker.db import Store
from tracker.models import Note

TRIES = 40

SAVED_THEN_REVERTED = "note saved, then reverted by the undo (which said so)"
REMOVED_THEN_REFUSED = "case removed by the undo, then the note refused (no case)"
LOST = "note saved, then deleted with the case (LOST)"


class Worker:
    """A cli_worker.py process: send it a command line, read back its exit code and output."""

    def __init__(self) -> None:
        self.proc = spawn("cli_worker.py")
        expect_line(self.proc, "ready")

    def send(self, *args: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(list(args)) + "\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate(timeout=30)
            raise AssertionError(f"the worker ended:\n{err}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self, *args: str) -> dict[str, Any]:
        self.send(*args)
        return self.result()

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        finally:
            self.proc.kill()


@pytest.fixture
def workers(db_url: str) -> Iterator[tuple[Worker, Worker]]:
    first = Worker()
    try:
        second = Worker()
        try:
            yield first, second
        finally:
            second.close()
    finally:
        first.close()


def opened_case(result: dict[str, Any]) -> int:
    assert result["code"] == 0, result
    match = re.fullmatch(r"Opened case (\d+): .*\n", result["out"])
    assert match, result
    return int(match[1])


def test_undo_racing_a_note_on_a_just_opened_case_loses_no_saved_note(
    db_url: str, backend: str, workers: tuple[Worker, Worker]
) -> None:
    undoer, noter = workers
    outcomes: Counter[str] = Counter()
    saved: dict[str, int] = {}  # note body -> case
    reverted: set[str] = set()
    for i in range(TRIES):
        title, body = f"race {i}", f"race note {i}"
        case_id = opened_case(noter.run("case", "open", title))
        jobs = [(undoer, ("undo",)), (noter, ("case", "note", str(case_id), body))]
        if i % 2:
            jobs.reverse()  # half the time the note's line goes out first
        for worker, args in jobs:
            worker.send(*args)
        undone, noted = undoer.result(), noter.result()

        assert (undone["code"], undone["err"]) == (0, ""), undone
        if noted["code"] == 0:
            assert re.fullmatch(rf"Added note \d+ to case {case_id}\.\n", noted["out"]), noted
            saved[body] = case_id
        else:
            assert (noted["code"], noted["err"]) == (1, f"Error: no case {case_id}\n"), noted
        if undone["out"] == f"Undid case {case_id}: Note: {body}\n":
            assert body in saved, (undone, noted)
            reverted.add(body)
            outcomes[SAVED_THEN_REVERTED] += 1
        elif undone["out"] == f"Undid case {case_id}: Opened: {title}\n":
            outcomes[LOST if body in saved else REMOVED_THEN_REFUSED] += 1
        else:
            raise AssertionError(f"undo reverted something else: {undone}")

    store = Store(db_url)
    with store.read() as session:
        present = set(session.scalars(select(Note.body)))
    store.dispose()
    lost = sorted(body for body in saved if body not in present and body not in reverted)
    counts = ", ".join(f"{n} {what}" for what, n in outcomes.most_common())
    print(f"\n{backend}: {TRIES} tries of undo || case note: {counts}; {len(lost)} lost")
    assert lost == []
    assert outcomes[LOST] == 0
    assert reverted.isdisjoint(present)  # what undo said it reverted is gone
    assert sum(outcomes.values()) == TRIES
    if backend == "sqlite":
        assert sqlite_problems(db_file(db_url)) == []


def _waiting_on_a_lock(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_an_undo_that_waited_for_a_note_in_progress_reverts_the_note(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race's bad interleaving, forced: the note holds its case's lock, uncommitted,
    until the undo is seen waiting for a lock; then the note commits."""
    monkeypatch.setenv("TRACKER_DB", postgres_db)
    undoer = Worker()
    try:
        case_id = opened_case(undoer.run("case", "open", "Just opened"))
        holder = spawn("hold_note.py", postgres_db, str(case_id), "saved meanwhile")
        try:
            expect_line(holder, "noted")
            undoer.send("undo")
            deadline = time.monotonic() + 30
            while not _waiting_on_a_lock(postgres_db):  # a condition, polled; not a delay
                assert time.monotonic() < deadline, "the undo never waited for the note's lock"
                time.sleep(0.01)
            out, err = holder.communicate("\n", timeout=30)
            assert (holder.returncode, out, err) == (0, "committed\n", "")
        finally:
            if holder.poll() is None:
                holder.kill()
        undone = undoer.result()
    finally:
        undoer.close()
    # The note committed before undo settled on a change: it is the newest, and reverted.
    assert undone == {
        "code": 0,
        "out": f"Undid case {case_id}: Note: saved meanwhile\n",
        "err": "",
    }
    shown = run_tracker("case", "show", str(case_id), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["notes"] == []


def test_two_undos_at_once_revert_two_changes_never_one_twice(
    db_url: str, backend: str, workers: tuple[Worker, Worker]
) -> None:
    first, second = workers
    orders: Counter[str] = Counter()
    for i in range(TRIES):
        title, body = f"twice {i}", f"twice note {i}"
        case_id = opened_case(first.run("case", "open", title))
        assert first.run("case", "note", str(case_id), body)["code"] == 0
        first.send("undo")
        second.send("undo")
        answers = [first.result(), second.result()]
        assert all((a["code"], a["err"]) == (0, "") for a in answers), answers
        said = sorted(a["out"] for a in answers)
        assert said == [
            f"Undid case {case_id}: Note: {body}\n",
            f"Undid case {case_id}: Opened: {title}\n",
        ]
        orders["the first" if "Note" in answers[0]["out"] else "the second"] += 1
    print(f"\n{backend}: {TRIES} tries of undo || undo; the note reverted by: {dict(orders)}")
    assert run_tracker("case", "list", "--status", "all", "--json").stdout == "[]\n"


def test_an_undo_of_an_import_that_waited_for_a_note_on_an_imported_case_reverts_the_note(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Undo of an import locks every case it added before it settles on the import."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    assert run_tracker("--db", source, "case", "open", "Imported").returncode == 0
    file = tmp_path / "one.json"
    assert run_tracker("--db", source, "export", "json", "-o", str(file)).returncode == 0
    monkeypatch.setenv("TRACKER_DB", postgres_db)
    undoer = Worker()
    try:
        assert undoer.run("import", "json", str(file))["code"] == 0
        holder = spawn("hold_note.py", postgres_db, "1", "saved meanwhile")
        try:
            expect_line(holder, "noted")
            undoer.send("undo")
            deadline = time.monotonic() + 30
            while not _waiting_on_a_lock(postgres_db):  # a condition, polled; not a delay
                assert time.monotonic() < deadline, "the undo never waited for the note's lock"
                time.sleep(0.01)
            out, err = holder.communicate("\n", timeout=30)
            assert (holder.returncode, out, err) == (0, "committed\n", "")
        finally:
            if holder.poll() is None:
                holder.kill()
        first = undoer.result()
        second = undoer.run("undo")
    finally:
        undoer.close()
    assert first == {"code": 0, "out": "Undid case 1: Note: saved meanwhile\n", "err": ""}
    assert second == {"code": 0, "out": "Undid the import of one.json (3 rows)\n", "err": ""}
