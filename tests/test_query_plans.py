"""The queries behind `due`, the reminder schedule, `case list`, `case show` and `case note` use
indexes: none reads a whole table that grows with the history.

Each test runs the real code on a small SQLite store, records the SELECTs it sends, and asks
SQLite how it runs them (EXPLAIN QUERY PLAN). SQLite plans without table statistics (tracker
never runs ANALYZE), so the plans are the ones a store of 100k cases gets, where a full scan
costs a hundred times what it does at 1k (bench/run.py measures that).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from helpers import Recorder
from sqlalchemy import event
from sqlalchemy.orm import Session

from tracker import cases as svc
from tracker.db import Store, sqlite_path
from tracker.due import due_items
from tracker.models import utcnow
from tracker.policy import load_policies
from tracker.redact import Masker
from tracker.reminders import run_pass, upcoming
from tracker.vocabulary import ACTIVE_STATUSES

ROOT = Path(__file__).resolve().parent.parent
# Tables that grow with the history: reading one whole is what must not happen.
GROWING = (
    "cases",
    "promises",
    "follow_ups",
    "events",
    "interactions",
    "notes",
    "reference_numbers",
    "reminders",
    "changes",
)
FULL_SCAN = re.compile(rf"\bSCAN ({'|'.join(GROWING)})\b(?! USING)")
pytestmark = pytest.mark.backends("sqlite")  # the plans are SQLite's


@pytest.fixture
def store(store: Store, db_url: str) -> Store:
    """The shared store with a few cases of every kind in it, made by the CLI.

    (`db_url` is named so that pytest parametrizes the backend: it does not see what the
    overridden fixture needs.)
    """
    cli = Tracker()
    cli.ok("org", "import", str(ROOT / "examples" / "directory" / "american-express.toml"))
    cli.ok(
        "case", "open", "Disputed charge at ACME", "--org", "American Express",
        "--category", "dispute", "--ref", "D-4471", "--note", "Charged twice.",
        "--follow-up", "3d",
    )  # fmt: skip
    cli.ok(
        "case", "contact", "1", "--channel", "phone", "--agent", "Maria", "--ref", "CALL-1",
        "--summary", "Dispute opened", "--promise", "Provisional credit", "--due", "2d",
    )  # fmt: skip
    cli.ok("case", "open", "Card lost in Lisbon", "--org", "Chase", "--category", "lost_stolen")
    cli.ok(
        "case", "contact", "2", "--channel", "chat", "--at", "20 days ago",
        "--promise", "New card", "--due", "1d",
    )  # fmt: skip
    cli.ok("case", "escalate", "2", "--note", "Asked for a supervisor")
    cli.ok("case", "open", "Annual fee question", "--org", "Chase")
    cli.ok("case", "resolve", "3", "--outcome", "Fee refunded")
    cli.ok("case", "promise", "1", "Send the receipt", "--due", "1d", "--by", "me")
    return store


@contextmanager
def selects(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements sent while the block runs, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def plans(store: Store, work: Callable[[Session], Any], *, write: bool = False) -> list[str]:
    """Each SELECT that `work` sends, with SQLite's plan for it on the lines below."""
    with selects(store) as sent, store.write() if write else store.read() as session:
        work(session)
    return explain(store, sent)


def explain(store: Store, sent: list[tuple[str, Any]]) -> list[str]:
    assert sent, "nothing was queried"
    path = sqlite_path(store.url)
    assert path is not None
    found = []
    with sqlite3.connect(path) as conn:
        for statement, parameters in sent:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            found.append(" ".join(statement.split()) + "\n  " + "\n  ".join(r[3] for r in rows))
    return found


def assert_no_full_scan(found: list[str]) -> None:
    scans = [plan for plan in found if FULL_SCAN.search(plan)]
    assert not scans, "full table scans:\n" + "\n".join(scans)


def assert_from_active_cases(found: list[str]) -> None:
    """Promises and follow-ups are read for the active cases, by case id: never by their own
    status index, which holds every pending one left on resolved and closed cases too."""
    assert uses(found, "cases", "ix_cases_status_last_activity_at")
    assert uses(found, "promises", "ix_promises_case_id")
    assert uses(found, "follow_ups", "ix_follow_ups_case_id")
    assert not uses(found, "promises", "ix_promises_status_due_at")
    assert not uses(found, "follow_ups", "ix_follow_ups_status_due_at")


def uses(found: list[str], table: str, index: str) -> bool:
    return any(
        re.search(rf"SEARCH {table} USING (COVERING )?INDEX {index}\b", plan) for plan in found
    )


def test_due_reads_only_active_cases_and_pending_items_by_index(store: Store) -> None:
    policies = load_policies()
    # Sixty days ahead: thresholds are crossed too, and their suggestions looked up.
    found = plans(store, lambda s: due_items(s, utcnow(), timedelta(days=60), policies=policies))
    assert_no_full_scan(found)
    assert_from_active_cases(found)
    # The directory's suggestions: its contact points read once (a small table, the user's
    # directory), not a query or two per organization, category and rung.
    directory = [plan for plan in found if "FROM contact_points" in plan]
    assert len(directory) == 1, directory
    assert not any("FROM cases" in plan and "cases.id = ?" in plan for plan in found), found


def test_the_reminder_schedule_and_a_pass_use_indexes(store: Store) -> None:
    policies = load_policies()
    schedule = plans(store, lambda s: upcoming(s, policies))
    assert_no_full_scan(schedule)
    assert_from_active_cases(schedule)
    # Claims are looked up by their unique key.
    assert uses(schedule, "reminders", "sqlite_autoindex_reminders_1")
    later = utcnow() + timedelta(days=60)  # everything is due: a pass claims and shows it all
    recorder = Recorder()
    with selects(store) as sent:
        run_pass(store, recorder, policies=policies, now=later)
    assert recorder.shown
    assert_no_full_scan(explain(store, sent))


@pytest.mark.parametrize("limit", [None, 50])
def test_case_list_reads_active_cases_and_their_promises_by_index(
    store: Store, limit: int | None
) -> None:
    def listing(session: Session) -> None:
        found = svc.list_cases(session, svc.CaseFilter(limit=limit))
        svc.overdue_counts(session, [c.id for c in found], utcnow())

    found = plans(store, listing)
    assert_no_full_scan(found)
    assert uses(found, "cases", "ix_cases_status_last_activity_at")
    # A page of cases counts its own overdue promises, not every overdue promise in the store.
    assert uses(found, "promises", "ix_promises_case_id")


def test_every_active_case_counts_overdue_promises_from_the_active_cases(store: Store) -> None:
    """`case list` of more cases than one IN (...) takes (every active case of a large store):
    the overdue promises are counted from the active cases by the cases' status index, each
    case's promises by case id. Not from the promises' status index, which holds every
    pending promise left on resolved cases too; not a CROSS JOIN (it went quadratic)."""
    many = [*range(1, 4), *range(10_000, 10_600)]

    def counting(session: Session) -> None:
        counts = svc.overdue_counts(session, many, utcnow(), statuses=ACTIVE_STATUSES)
        assert counts == svc.overdue_counts(session, [1, 2, 3], utcnow())

    found = plans(store, counting)
    assert_no_full_scan(found)
    long = [plan for plan in found if "GROUP BY" in plan]
    assert len(long) == 1, found
    (plan,) = long
    lines = plan.splitlines()[1:]
    assert re.search(
        r"SEARCH cases USING (COVERING )?INDEX ix_cases_status_last_activity_at", lines[0]
    ), plan
    assert re.search(r"SEARCH promises USING INDEX ix_promises_case_id \(case_id=\?\)", lines[1]), (
        plan
    )
    assert "ix_promises_status_due_at" not in plan
    assert "CROSS JOIN" not in plan.splitlines()[0].upper()


def test_case_show_loads_each_part_by_the_case_index(store: Store) -> None:
    found = plans(store, lambda s: svc.load_case_detail(s, 1))
    assert_no_full_scan(found)
    for table, index in (
        ("interactions", "ix_interactions_case_id_at"),
        ("reference_numbers", "sqlite_autoindex_reference_numbers_1"),
        ("promises", "ix_promises_case_id"),
        ("follow_ups", "ix_follow_ups_case_id"),
        ("notes", "ix_notes_case_id"),
        ("events", "ix_events_case_id_id"),
    ):
        assert uses(found, table, index), f"{table} is not read by {index}"


def test_case_note_finds_its_case_by_primary_key(store: Store) -> None:
    def note(session: Session) -> None:
        case = svc.get_case(session, 2, for_update=True)
        svc.add_note(session, case, "Called again, no news.", masker=Masker())

    found = plans(store, note, write=True)
    assert_no_full_scan(found)
    assert any("SEARCH cases USING INTEGER PRIMARY KEY" in plan for plan in found)
