"""tracker.history.read_payload: an event's values checked against its type, for the JSON
importer and for undo; the Imported record and its id ranges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from sqlalchemy import select

from tracker.db import Store
from tracker.history import (
    MAX_ROW_ID,
    PAYLOADS,
    Imported,
    PayloadError,
    ReminderShown,
    begin_change,
    id_ranges,
    in_ranges,
    read_payload,
    shown,
)
from tracker.models import Case, Event

DUE = "2026-12-08T17:00:00+00:00"
STATE = {
    "status": "open",
    "escalation_level": "frontline",
    "escalated_at": None,
    "resolved_at": None,
    "closed_at": None,
    "outcome": None,
    "updated_at": DUE,
    "last_activity_at": DUE,
    "last_interaction_at": None,
}


def test_every_event_the_store_writes_passes_its_checks(
    tracker: Tracker, db_url: str, tmp_path: Path
) -> None:
    tracker.ok("case", "open", "Refund", "--org", "Acme", "--ref", "R-1", "--follow-up", "3d")
    tracker.ok("case", "note", "1", "first note")
    (tmp_path / "receipt.txt").write_text("Refund of 12.50 for order R-1\n")
    tracker.ok("case", "attach", "1", str(tmp_path / "receipt.txt"), "--kind", "receipt")
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--agent", "Jo", "--ref", "C-2",
        "--promise", "Credit", "--due", "5d",
    )  # fmt: skip
    tracker.ok("case", "promise", "1", "Send the form", "--due", "2d", "--by", "me")
    tracker.ok("case", "edit", "1", "--title", "Refund due", "--org", "Acme Bank")
    tracker.ok("contact", "edit", "1", "--agent", "Joe", "--ref", "C-22", "--at", "1h ago")
    tracker.ok("note", "edit", "1", "first note, corrected")
    tracker.ok("promise", "due", "2", "3d", "--note", "busy")
    tracker.ok("promise", "by", "2", "company")
    tracker.ok("promise", "broken", "1")
    tracker.ok("promise", "kept", "1")
    tracker.ok("promise", "cancel", "2")
    tracker.ok("case", "tag", "1", "travel", "urgent")
    tracker.ok("case", "untag", "1", "urgent")
    # A letter sent: the letter kept as evidence (attachment_added), and letter_sent.
    tracker.ok("case", "letter", "1", "--sent", "--tracking", "T-1")
    tracker.ok("follow-up", "snooze", "1", "5d")
    tracker.ok("follow-up", "done", "1")
    tracker.ok("follow-up", "cancel", "1")
    tracker.ok("case", "escalate", "1", "--note", "no answer")
    tracker.ok("case", "resolve", "1", "--outcome", "paid")
    tracker.ok("case", "reopen", "1")
    tracker.ok("case", "close", "1")
    tracker.ok("undo")
    tracker.ok("case", "open", "Gone soon")
    tracker.ok("undo")  # an undone event without a case
    store = Store(db_url)
    with store.write() as session:  # what the daemon writes when it shows a reminder
        log = begin_change(session, "reminder case 1", undoable=False)
        case = session.get(Case, 1)
        assert case is not None
        log.record(case, ReminderShown(key="follow_up:1", due_at=datetime.now(UTC)), "x")
    with store.read() as session:
        events = session.scalars(select(Event)).all()
        for event in events:
            read_payload(event.type, event.data)
        types = {event.type for event in events}
    store.dispose()
    # Every type but `imported` (the import's record: see tests/test_export_json.py).
    assert types == set(PAYLOADS) - {"imported"}


def _fix(target: str, changes: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """A correction's data."""
    return {"target": target, "target_id": 1, "changes": changes, "before": before}


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("opened", {"category": "=1+1"}, 'category "=1+1" is not one of: lost_stolen, '),
    ("opened", {"category": "other", "created": ["notes", 1]}, 'created ["notes", 1]: an '
     "opened event creates a row of cases"),
    ("opened", {"category": "other", "created": ["cases", 0]}, 'created ["cases", 0] names no '
     "row"),
    ("opened", {"category": "other", "created_organization": 2**31}, "created_organization "
     "2147483648 is not an id (1 to 2147483647)"),
    ("note", {"created": ["cases", 1]}, 'created ["cases", 1]: a note event creates a row of '
     "notes"),
    ("closed", {"previous_status": "open", "created": ["notes", 1]}, 'created ["notes", 1]: a '
     "closed event creates no row"),
    ("closed", {"previous_status": "bogus"}, 'previous_status "bogus" is not one of: open, '),
    ("escalated", {"level": "bogus", "previous_level": "frontline"}, 'level "bogus" is not one '
     "of: frontline, supervisor, complaint, regulator"),
    ("interaction", {"channel": "fax", "direction": "out"}, 'channel "fax" is not one of: '),
    ("interaction", {"channel": "phone", "direction": "sideways"}, 'direction "sideways" is not '
     "one of: out, in"),
    ("reference_added", {"reference": "R", "kind": "x"}, 'kind "x" is not one of: call, '),
    ("promise_made", {"promise_id": 2, "created": ["promises", 3], "due_at": DUE,
     "promise_status": "pending", "promised_by": "company"}, "promise_id 2 is not the promise "
     'created (["promises", 3])'),
    ("promise_made", {"promise_id": 3, "due_at": DUE, "promise_status": "pending",
     "promised_by": "bank"}, 'promised_by "bank" is not one of: company, me'),
    ("promise_kept", {"promise_id": 3, "promise_before": {"status": "pending"}, "due_at": DUE,
     "promise_status": "broken", "promised_by": "me"}, 'promise_status "broken" does not match '
     "a promise_kept event"),
    ("promise_kept", {"promise_id": 3, "promise_before": {"status_at": None}, "due_at": DUE,
     "promise_status": "kept", "promised_by": "me"}, "promise_before has no status"),
    ("promise_kept", {"promise_id": 3, "promise_before": {"status": "pending", "status_at": 5},
     "due_at": DUE, "promise_status": "kept", "promised_by": "me"}, "promise_before.status_at 5 "
     "is not a time with its offset"),
    ("follow_up_set", {"follow_up_id": 1, "created": ["follow_ups", 2], "due_at": DUE},
     'follow_up_id 1 is not the follow-up created (["follow_ups", 2])'),
    ("note", {"case_before": {**STATE, "amount": "1"}}, 'case_before names "amount", which is '
     "not case state"),
    ("note", {"case_before": {**STATE, "escalation_level": None}}, "case_before.escalation_level"
     " null is not one of: "),
    ("note", {"case_before": {**STATE, "updated_at": None}}, "case_before.updated_at null is not"
     " a time with its offset"),
    ("note", {"case_before": {**STATE, "closed_at": "2026-12-08T17:00:00"}}, "case_before."
     'closed_at "2026-12-08T17:00:00" is not a time with its offset'),
    ("note", {"case_before": {**STATE, "outcome": ["x"]}}, 'case_before.outcome ["x"] is not '
     "text"),
    ("undone", {"reverted_change": 0}, "reverted_change 0 is not an id (1 to 2147483647)"),
    ("imported", {"source": "x", "rows": {"cvv": [[1, 1]]}}, 'rows names "cvv", which is not a '
     "table"),
    ("imported", {"source": "x", "rows": {"cases": [[2, 1]]}}, 'rows.cases [2, 1] is not an '
     "ascending [first, last] range"),
    ("imported", {"source": "x", "rows": {"cases": [[1, 5], [5, 6]]}}, "rows.cases [5, 6] is not "
     "an ascending [first, last] range"),
    ("imported", {"source": "x", "rows": {"cases": [[1, 2**31]]}}, "rows.cases [1, 2147483648] "
     "is not an ascending [first, last] range"),
    ("imported", {"source": "x", "rows": {"cases": {"1": 1}}}, "rows.cases must be a list of "
     "[first, last] ids"),
    ("corrected", {"target": "order", "target_id": 1, "changes": {}, "before": {}},
     'target "order" is not one of: case, contact, note, promise'),
    ("corrected", _fix("note", {"body": {"old": "a"}}, {}),
     'changes.body must be {"old": ..., "new": ...}'),
    ("corrected", _fix("note", {"body": {"old": "a", "new": "b"}}, {"notes:1": {"body": None}}),
     "before.notes:1.body must not be empty"),
    ("corrected", _fix("case", {"title": {"old": "a", "new": "b"}}, {"cases:x": {"title": "a"}}),
     'before names "cases:x", which is not table:id'),
    ("corrected", _fix("case", {"amount": {"old": "1", "new": "2"}}, {"cases:1": {"amount": "-5"}}),
     'before.cases:1.amount "-5" is not an amount'),
    ("corrected", _fix("promise", {"due_at": {"old": "a", "new": "b"}},
                       {"promises:1": {"due_at": "soon"}}),
     'before.promises:1.due_at "soon" is not a time'),
]  # fmt: skip


@pytest.mark.parametrize(("event_type", "data", "message"), REFUSED)
def test_a_value_the_store_would_not_write_is_refused(
    event_type: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError) as refused:
        read_payload(event_type, data)
    assert str(refused.value).startswith(message)


def test_a_whole_snapshot_and_the_largest_id_are_accepted() -> None:
    payload = read_payload("note", {"created": ["notes", MAX_ROW_ID], "case_before": STATE})
    assert payload.case_before == STATE


def test_ids_become_ranges_and_ranges_select_them() -> None:
    assert id_ranges([]) == []
    assert id_ranges([7, 1, 2, 3, 5, 6, 9]) == [[1, 3], [5, 7], [9, 9]]
    record = read_payload("imported", {"source": "a.json", "rows": {"cases": [[1, 3], [9, 9]]}})
    assert isinstance(record, Imported)
    assert record.total == 4
    clause = in_ranges(Case.id, [[1, 3], [9, 9]])
    assert str(clause.compile(compile_kwargs={"literal_binds": True})) == (
        "cases.id BETWEEN 1 AND 3 OR cases.id = 9"
    )
    assert str(in_ranges(Case.id, []).compile()) in ("false", "0 = 1")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", '"plain"'),
        ("two\nlines", '"two\\nlines"'),
        ("a\u2028b\u202ec\u200bd\x85", '"a\\u2028b\\u202ec\\u200bd\\u0085"'),
        (["cases", 1], '["cases", 1]'),
        (None, "null"),
        (datetime(2026, 12, 8, 17, tzinfo=UTC), '"2026-12-08T17:00:00+00:00"'),
        ("x" * 100, '"' + "x" * 58 + "…"),
    ],
)
def test_a_shown_value_stays_on_one_visible_line(value: Any, text: str) -> None:
    assert shown(value) == text
