"""`tracker export csv` reads the events by index and every other row by its primary key.

To each event the export's query joins its case, the case's organization, the change (for
`undone`) and the contact it logged, and looks up the note, promise or follow-up it wrote
(for `text`). As in tests/test_query_plans.py, SQLite's plan (EXPLAIN QUERY PLAN, without
table statistics: the plan a store of 100k cases gets) must read no growing table whole:
the events come in (at, id) order from their index, a batch at a time, and every other row
is one primary-key lookup.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import Tracker
from sqlalchemy import event

from tracker.config import database_url
from tracker.db import Store, sqlite_path
from tracker.export.csv import history_batches

JOINED = ("cases", "organizations", "changes", "interactions")
LOOKED_UP = ("notes", "promises", "follow_ups")  # a scalar subquery each, for `text`
GROWING = (*JOINED, *LOOKED_UP, "events", "reference_numbers", "reminders")
FULL_SCAN = re.compile(rf"\bSCAN ({'|'.join(GROWING)})\b(?! USING)")


@pytest.fixture
def store() -> Iterator[Store]:
    """Every kind of event that joins a row, and an undone one, in the default SQLite store."""
    cli = Tracker()
    cli.ok(
        "case", "open", "Disputed charge", "--org", "Chase", "--note", "Two lines\nof note",
        "--follow-up", "3d",
    )  # fmt: skip
    cli.ok(
        "case", "contact", "1", "--channel", "phone", "--summary", "Dispute opened",
        "--promise", "Provisional credit", "--due", "2d",
    )  # fmt: skip
    cli.ok("promise", "kept", "1")
    cli.ok("case", "note", "1", "To be undone")
    cli.ok("undo")
    opened = Store(database_url())
    yield opened
    opened.dispose()


def export_plans(store: Store, **limits: Any) -> list[str]:
    """The plan of each batch's query of an export, two events a batch."""
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        with store.read() as session:
            batches = list(history_batches(session, batch_size=2, **limits))
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert len(batches) > 1
    path = sqlite_path(store.url)
    assert path is not None
    with sqlite3.connect(path) as conn:
        return [
            "\n".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", parameters))
            for sql, parameters in sent
        ]


@pytest.mark.parametrize(
    ("limits", "events"),
    [
        ({}, r"SCAN events USING INDEX ix_events_at|SEARCH events USING INDEX ix_events_at \("),
        ({"since": datetime(2020, 1, 1, tzinfo=UTC)}, r"SEARCH events USING INDEX ix_events_at \("),
        ({"case_id": 1}, r"SEARCH events USING INDEX ix_events_case_id_id \(case_id=\?"),
    ],
    ids=["everything", "since", "one case"],
)
def test_each_batch_reads_events_by_index_and_the_rest_by_primary_key(
    store: Store, limits: dict[str, Any], events: str
) -> None:
    for plan in export_plans(store, **limits):
        assert not FULL_SCAN.search(plan), plan
        assert re.search(events, plan), plan
        for table in JOINED:
            assert f"SEARCH {table} USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN" in plan, (
                table,
                plan,
            )
        for table in LOOKED_UP:
            assert re.search(
                rf"CORRELATED SCALAR SUBQUERY \d+\nSEARCH {table} USING INTEGER PRIMARY KEY "
                r"\(rowid=\?\)",
                plan,
            ), (table, plan)
