"""Corrections (issue 17, part 1): `case edit`, `contact edit`, `note edit`, `promise due`,
`promise by`, through the real CLI on both backends.

Each correction changes the row, writes one `corrected` event saying what changed from what
to what, leaves the original event in the history marked superseded, is reverted exactly by
`tracker undo`, and shows in the exports; a refused one changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from helpers import NOW, Clock
from sqlalchemy import create_engine, inspect, text

CARD = "4111 1111 1111 1111"
# The rows a correction may change: undo must give them back exactly.
DATA_TABLES = (
    "organizations",
    "cases",
    "interactions",
    "reference_numbers",
    "promises",
    "notes",
    "reminders",
    "follow_ups",
)


def dump(db_url: str, tables: tuple[str, ...] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the store (or of `tables`), in id order."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            names = tables or tuple(sorted(inspect(conn).get_table_names()))
            return {
                name: [
                    tuple(row) for row in conn.execute(text(f'SELECT * FROM "{name}" ORDER BY 1'))
                ]
                for name in names
                if name != "alembic_version"
            }
    finally:
        engine.dispose()


def events(tracker: Tracker, case_id: int = 1) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = tracker.json("case", "show", str(case_id))["events"]
    return shown


def by_type(found: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in found if e["type"] == event_type]


@pytest.fixture
def other_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second, empty store on the same backend (to import into)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'other.db'}"
    url: str = request.getfixturevalue("postgres_db")
    return url


@pytest.fixture
def story(tracker: Tracker, clock: Clock) -> Tracker:
    """Case 1 with contact 1 (agent Dan, reference CALL-8812), promise 1 made in it, note 1."""
    tracker.ok(
        "case",
        "open",
        "Disputed charge",
        "--org",
        "Amex",
        "--category",
        "dispute",
        "--amount",
        "129.99",
        "--currency",
        "USD",
        "--at",
        "2026-11-20 10:00",
    )
    tracker.ok(
        "case",
        "contact",
        "1",
        "--channel",
        "phone",
        "--agent",
        "Dan",
        "--ref",
        "CALL-8812",
        "--summary",
        "Dispute opened",
        "--promise",
        "Provisional credit",
        "--due",
        "10bd",
        "--at",
        "2026-11-24 10:00",
    )
    tracker.ok("case", "note", "1", "Statement shows the charge twice.")
    clock(10)
    return tracker


# --------------------------------------------------------------------------- each command


def test_contact_edit_changes_the_row_and_records_old_and_new(story: Tracker) -> None:
    out = story.ok("contact", "edit", "1", "--agent", "Daniel", "--agent-id", "4471")
    assert out.strip() == (
        "Corrected contact 1 on case 1: agent: Dan -> Daniel; agent_id: (none) -> 4471."
    )
    shown = story.json("case", "show", "1")
    (contact,) = shown["interactions"]
    assert (contact["agent"], contact["agent_id"]) == ("Daniel", "4471")
    (correction,) = by_type(shown["events"], "corrected")
    assert (
        correction["summary"]
        == "Corrected contact 1: agent: Dan -> Daniel; agent_id: (none) -> 4471"
    )
    assert correction["changes"] == {
        "agent": {"old": "Dan", "new": "Daniel"},
        "agent_id": {"old": None, "new": "4471"},
    }
    assert correction["target"] == "contact" and correction["target_id"] == 1
    assert "before" not in correction  # undo's bookkeeping stays private
    (original,) = by_type(shown["events"], "interaction")
    assert original["superseded"] is True
    assert original["superseded_by"] == [correction["id"]]
    assert original["agent"] == "Dan"  # the history keeps what was recorded then
    report = story.ok("case", "show", "1")
    assert "interaction (superseded)" in report
    assert "Corrected contact 1: agent: Dan -> Daniel" in report


def test_contact_edit_of_each_field(story: Tracker) -> None:
    done = story.json(
        "contact",
        "edit",
        "1",
        "--summary",
        "Dispute opened; charge removed pending review",
        "--channel",
        "chat",
        "--at",
        "2026-11-24 11:30",
        "--duration",
        "23m",
    )["correction"]
    assert done["event_id"] is not None and done["target"] == "contact" and done["id"] == 1
    assert done["changes"] == {
        "summary": {
            "old": "Dispute opened",
            "new": "Dispute opened; charge removed pending review",
        },
        "channel": {"old": "phone", "new": "chat"},
        "at": {"old": "2026-11-24T10:00:00+00:00", "new": "2026-11-24T11:30:00+00:00"},
        "duration_seconds": {"old": None, "new": 1380},
    }
    (contact,) = story.json("case", "show", "1")["interactions"]
    assert contact["channel"] == "chat"
    assert contact["at"] == "2026-11-24T11:30:00+00:00"
    assert contact["duration_seconds"] == 1380


def test_a_mistyped_reference_is_rewritten_and_every_other_one_kept(story: Tracker) -> None:
    story.ok("case", "ref", "1", "DSP-1", "--kind", "dispute")
    before = story.json("case", "show", "1")["references"]
    done = story.json("contact", "edit", "1", "--ref", "CALL-88812")["correction"]
    assert done["changes"] == {"reference": {"old": "CALL-8812", "new": "CALL-88812"}}
    shown = story.json("case", "show", "1")
    after = shown["references"]
    assert [r["value"] for r in after] == ["CALL-88812", "DSP-1"]
    # The same row, its id, kind and contact kept: only its value changed.
    assert [(r["id"], r["kind"], r["interaction_id"]) for r in after] == [
        (r["id"], r["kind"], r["interaction_id"]) for r in before
    ]
    assert shown["interactions"][0]["reference_values"] == ["CALL-88812"]
    # The old value stays in the history, and its event is superseded.
    mistyped, other = by_type(shown["events"], "reference_added")
    assert mistyped["reference"] == "CALL-8812" and mistyped["superseded"] is True
    assert other["reference"] == "DSP-1" and other["superseded"] is False


def test_a_reference_among_several_is_named_with_replace(story: Tracker) -> None:
    story.ok("case", "contact", "1", "--channel", "chat", "--ref", "A-1", "--ref", "B-2")
    error = story.fails(2, "contact", "edit", "2", "--ref", "B-3")
    assert error == ("Error: contact 2 has 2 references (A-1, B-2): say which one is wrong")
    story.fails(1, "contact", "edit", "2", "--ref", "B-3", "--replace", "C-9")
    story.ok("contact", "edit", "2", "--ref", "B-3", "--replace", "B-2")
    (_, second) = story.json("case", "show", "1")["interactions"]
    assert second["reference_values"] == ["A-1", "B-3"]


def test_a_contact_without_a_reference_gets_the_one_given(story: Tracker) -> None:
    story.ok("case", "contact", "1", "--channel", "chat", "--summary", "No reference given")
    done = story.json("contact", "edit", "2", "--ref", "CHAT-77")["correction"]
    assert done["changes"] == {"reference": {"old": None, "new": "CHAT-77"}}
    shown = story.json("case", "show", "1")
    assert shown["interactions"][1]["reference_values"] == ["CHAT-77"]
    story.ok("undo")
    shown = story.json("case", "show", "1")
    assert shown["interactions"][1]["reference_values"] == []
    assert "CHAT-77" not in [r["value"] for r in shown["references"]]


def test_case_edit_changes_only_the_fields_given(story: Tracker) -> None:
    before = story.json("case", "show", "1")
    done = story.json(
        "case",
        "edit",
        "1",
        "--title",
        "Disputed charge (twice)",
        "--org",
        "American Express",
        "--account",
        "1005",
        "--amount",
        "139.99",
        "--currency",
        "usd",  # the same currency: no change
        "--merchant",
        "ACME Hardware",
        "--txn-date",
        "2026-11-02",
        "--opened-at",
        "2026-11-19 09:30",
    )["correction"]
    assert done["changes"] == {
        "title": {"old": "Disputed charge", "new": "Disputed charge (twice)"},
        "organization": {"old": "Amex", "new": "American Express"},
        "account_last4": {"old": None, "new": "1005"},
        "amount": {"old": "129.99", "new": "139.99"},
        "merchant": {"old": None, "new": "ACME Hardware"},
        "transaction_date": {"old": None, "new": "2026-11-02"},
        "opened_at": {"old": "2026-11-20T10:00:00+00:00", "new": "2026-11-19T09:30:00+00:00"},
    }
    after = story.json("case", "show", "1")
    assert after["title"] == "Disputed charge (twice)"
    assert after["organization"] == "American Express"
    assert after["opened_at"] == "2026-11-19T09:30:00+00:00"
    assert after["category"] == before["category"] == "dispute"
    assert after["currency"] == "USD"
    (opened,) = by_type(after["events"], "opened")
    assert opened["superseded"] is True and opened["organization"] == "Amex"
    story.ok("case", "edit", "1", "--category", "complaint")
    assert story.json("case", "show", "1")["category"] == "complaint"


def test_note_edit_from_the_argument_and_from_stdin(story: Tracker) -> None:
    out = story.ok("note", "edit", "1", "Statement shows the charge twice, on 2 and 3 November.")
    assert out.startswith("Corrected note 1 on case 1: body: Statement shows the charge twice. ->")
    story.ok("note", "edit", "1", input="Line one\nLine two\n")
    shown = story.json("case", "show", "1")
    assert shown["notes"][0]["body"] == "Line one\nLine two"
    corrections = by_type(shown["events"], "corrected")
    assert [c["changes"]["body"]["old"] for c in corrections] == [
        "Statement shows the charge twice.",
        "Statement shows the charge twice, on 2 and 3 November.",
    ]
    (note,) = by_type(shown["events"], "note")
    assert note["superseded_by"] == [c["id"] for c in corrections]


def test_promise_due_reschedules_and_due_reminds_it_then(story: Tracker, clock: Clock) -> None:
    first = story.json("case", "show", "1")["promises"][0]["due_at"]
    done = story.json("promise", "due", "1", "2026-12-20", "--note", "Credit team backlogged")[
        "correction"
    ]
    assert done["changes"] == {
        "due_at": {"old": first, "new": "2026-12-20T09:00:00+00:00"},
        # 10bd was counted on a calendar; a date is not.
        "calendar": {"old": "weekdays", "new": None},
    }
    assert done["added"] == {"notes": 2}
    shown = story.json("case", "show", "1")
    assert shown["promises"][0]["due_at"] == "2026-12-20T09:00:00+00:00"
    assert shown["notes"][1]["body"] == "Credit team backlogged"
    (correction,) = by_type(shown["events"], "corrected")
    assert correction["reason"] == "Credit team backlogged"
    assert "(why: Credit team backlogged)" in correction["summary"]
    (made,) = by_type(shown["events"], "promise_made")
    assert made["superseded"] is True and made["due_at"] == first
    # `due` reads the row: not due within 7 days any more, due within 4 weeks at its new time.
    assert [i for i in story.json("due") if i["kind"] == "promise"] == []
    (item,) = [i for i in story.json("due", "--within", "4w") if i["kind"] == "promise"]
    assert (item["kind"], item["id"], item["due_at"]) == ("promise", 1, "2026-12-20T09:00:00+00:00")


def test_promise_due_with_a_range_keeps_its_window_and_counts_from_at(story: Tracker) -> None:
    done = story.json("promise", "due", "1", "7-10 business days", "--at", "2026-11-26 10:00")[
        "correction"
    ]
    assert done["changes"]["window_start"] == {"old": None, "new": "2026-12-07T10:00:00+00:00"}
    assert done["changes"]["due_at"]["new"] == "2026-12-10T10:00:00+00:00"
    promise = story.json("case", "show", "1")["promises"][0]
    assert (promise["window_start_at"], promise["due_at"]) == (
        "2026-12-07T10:00:00+00:00",
        "2026-12-10T10:00:00+00:00",
    )
    assert promise["calendar"] is not None


def test_a_rescheduled_promise_is_reminded_again_at_its_new_time(
    story: Tracker, clock: Clock
) -> None:
    story.ok("promise", "due", "1", "2026-11-27 09:00")
    clock.move_to(NOW + timedelta(days=1, hours=1))
    first = story.ok("remind", "check", "--notifier", "console")
    assert "Provisional credit" in first
    story.ok("promise", "due", "1", "2026-11-30 09:00")
    clock.move_to(NOW + timedelta(days=4, hours=1))
    again = story.ok("remind", "check", "--notifier", "console")
    assert "Provisional credit" in again


def test_promise_by_changes_who_made_it_and_the_waiting_status(story: Tracker) -> None:
    assert story.json("case", "show", "1")["status"] == "waiting"
    done = story.json("promise", "by", "1", "me")["correction"]
    assert done["changes"] == {"promised_by": {"old": "company", "new": "me"}}
    shown = story.json("case", "show", "1")
    assert shown["promises"][0]["promised_by"] == "me"
    assert shown["status"] == "open"  # no company promise is pending now
    story.ok("undo")
    assert story.json("case", "show", "1")["status"] == "waiting"


def test_a_value_equal_to_the_current_one_is_no_change(story: Tracker, db_url: str) -> None:
    before = dump(db_url)
    out = story.ok("contact", "edit", "1", "--agent", "Dan", "--channel", "phone")
    assert out.strip() == "Nothing to change: contact 1 already says that."
    assert story.json("case", "edit", "1", "--title", " Disputed charge ")["change_id"] is None
    assert dump(db_url) == before
    # Only the field that differs is recorded.
    done = story.json("contact", "edit", "1", "--agent", "Dan", "--summary", "Dispute open")[
        "correction"
    ]
    assert list(done["changes"]) == ["summary"]


# --------------------------------------------------------------------------- undo


@pytest.mark.parametrize(
    "args",
    [
        (
            "case",
            "edit",
            "1",
            "--title",
            "New",
            "--org",
            "Brand new org",
            "--opened-at",
            "2026-11-21",
        ),
        (
            "contact",
            "edit",
            "1",
            "--agent",
            "Daniel",
            "--ref",
            "CALL-88812",
            "--at",
            "2026-11-25 10:00",
        ),
        ("note", "edit", "1", "Another text"),
        ("promise", "due", "1", "2026-12-24", "--note", "New date"),
        ("promise", "by", "1", "me"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_undo_restores_the_old_values_exactly(
    story: Tracker, db_url: str, args: tuple[str, ...]
) -> None:
    before = dump(db_url, DATA_TABLES)
    story.ok(*args)
    assert dump(db_url, DATA_TABLES) != before
    said = story.ok("undo")
    assert said.startswith("Undid case 1: Corrected ")
    assert dump(db_url, DATA_TABLES) == before
    shown = story.json("case", "show", "1")
    (correction,) = by_type(shown["events"], "corrected")
    assert correction["undone"] is True
    assert not any(e["superseded"] for e in shown["events"])  # nothing supersedes now


def test_undo_of_a_contact_time_puts_back_the_last_contact_time(
    story: Tracker, db_url: str
) -> None:
    def last_contact() -> Any:
        return dump(db_url, ("cases",))["cases"][0]

    before = last_contact()
    story.ok("contact", "edit", "1", "--at", "2026-11-25 16:00")
    assert last_contact() != before
    story.ok("undo")
    assert last_contact() == before


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("case", "edit", "9", "--title", "x"), "Error: no case 9"),
        (("contact", "edit", "9", "--agent", "x"), "Error: no contact 9"),
        (("note", "edit", "9", "x"), "Error: no note 9"),
        (("promise", "due", "9", "3d"), "Error: no promise 9"),
        (("promise", "by", "9", "me"), "Error: no promise 9"),
    ],
)
def test_a_bad_id_is_no_such_entry(
    story: Tracker, db_url: str, args: tuple[str, ...], message: str
) -> None:
    before = dump(db_url)
    assert story.fails(1, *args) == message
    assert dump(db_url) == before


@pytest.mark.parametrize(
    "args",
    [
        ("case", "edit", "1"),
        ("contact", "edit", "1"),
        ("case", "edit", "1", "--amount", "-3"),
        ("case", "edit", "1", "--account", "12345"),
        ("case", "edit", "1", "--category", "nonsense"),
        ("case", "edit", "1", "--opened-at", "next year sometime"),
        ("case", "edit", "1", "--title", "   "),
        ("contact", "edit", "1", "--channel", "pigeon"),
        ("contact", "edit", "1", "--duration", "long"),
        ("contact", "edit", "1", "--at", "in 3 days"),
        ("contact", "edit", "1", "--replace", "CALL-8812"),
        ("contact", "edit", "x", "--agent", "Jo"),
        ("note", "edit", "1", "  "),
        ("promise", "due", "1", "whenever"),
        ("promise", "due", "1", "2026-11-01"),
        ("promise", "by", "1", "them"),
    ],
    ids=" ".join,
)
def test_bad_input_is_refused_and_changes_nothing(
    story: Tracker, db_url: str, args: tuple[str, ...]
) -> None:
    before = dump(db_url)
    story.fails(2, *args)
    assert dump(db_url) == before


def test_a_card_like_reference_is_refused_unless_not_a_card(story: Tracker, db_url: str) -> None:
    before = dump(db_url)
    error = story.fails(2, "contact", "edit", "1", "--ref", CARD, "--agent", "Daniel")
    assert "looks like card data" in error and "--not-a-card" in error
    assert "4111 1111" not in error
    assert dump(db_url) == before
    done = story.json("contact", "edit", "1", "--ref", CARD, "--not-a-card")["correction"]
    assert done["changes"]["reference"]["new"] == CARD
    (correction,) = by_type(events(story), "corrected")
    assert correction["kept_as_typed"] is True


def test_a_card_number_in_a_new_text_is_masked(story: Tracker, db_url: str) -> None:
    result = story("contact", "edit", "1", "--summary", f"Card {CARD} was charged twice")
    assert result.exit_code == 0
    assert "Warning: masked a card number ending 1111 in the summary" in result.stderr
    assert "4111 1111" not in result.stdout
    result = story("note", "edit", "1", f"Card {CARD}")
    assert "in the note" in result.stderr
    result = story("case", "edit", "1", "--title", f"Card {CARD}")
    assert "in the title" in result.stderr
    stored = json.dumps(dump(db_url), default=str, ensure_ascii=False)
    assert "4111111111111111" not in stored.replace(" ", "")
    assert "•••• 1111" in stored


def test_corrections_refuse_on_a_closed_case_but_a_note_is_corrected(
    story: Tracker, db_url: str
) -> None:
    story.ok("case", "close", "1")
    before = dump(db_url)
    for args in (
        ("case", "edit", "1", "--title", "x"),
        ("contact", "edit", "1", "--agent", "x"),
        ("promise", "due", "1", "3d"),
        ("promise", "by", "1", "me"),
    ):
        error = story.fails(1, *args)
        assert error.startswith("Error: case 1 is closed; reopen it first (tracker case reopen 1)")
    assert dump(db_url) == before
    story.ok("note", "edit", "1", "Corrected after closing")
    assert story.json("case", "show", "1")["notes"][0]["body"] == "Corrected after closing"


def test_a_promise_no_longer_pending_is_not_rescheduled(story: Tracker) -> None:
    story.ok("promise", "kept", "1")
    error = story.fails(1, "promise", "due", "1", "3d")
    assert error == "Error: promise 1 is kept; only a pending promise can be rescheduled"


# --------------------------------------------------------------------------- exports


def _csv_rows(tracker: Tracker) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(tracker.ok("export", "csv"))))


def test_csv_shows_current_values_and_each_correction_whole(story: Tracker) -> None:
    story.ok("case", "edit", "1", "--title", "Disputed charge (twice)")
    story.ok("contact", "edit", "1", "--agent", "Daniel", "--ref", "CALL-88812")
    story.ok("note", "edit", "1", "First line\nsecond line")
    story.ok("promise", "due", "1", "2026-12-20")
    rows = _csv_rows(story)
    assert {row["case_title"] for row in rows} == {"Disputed charge (twice)"}
    corrected = [row for row in rows if row["event_type"] == "corrected"]
    assert len(corrected) == 4
    case_row, contact_row, note_row, promise_row = corrected
    assert case_row["text"] == "title: Disputed charge -> Disputed charge (twice)"
    assert contact_row["agent"] == "Daniel"
    assert contact_row["reference"] == "CALL-88812"
    assert contact_row["text"] == "agent: Dan -> Daniel\nreference: CALL-8812 -> CALL-88812"
    # Nothing typed is lost: the old text is in the correction, the new one in the note's row.
    assert note_row["text"] == (
        'body: Statement shows the charge twice. -> "First line\\nsecond line"'
    )
    (note,) = [row for row in rows if row["event_type"] == "note"]
    assert note["text"] == "First line\nsecond line"
    assert promise_row["due_at"] == "2026-12-20T09:00:00+00:00"
    (contact,) = [row for row in rows if row["event_type"] == "interaction"]
    assert contact["agent"] == "Dan"  # what the contact's event recorded then
    story.ok("undo")
    assert _csv_rows(story)[-2]["undone"] == "true"


def test_json_export_and_import_round_trip_a_store_with_corrections(
    story: Tracker, tmp_path: Path, other_url: str
) -> None:
    story.ok("case", "edit", "1", "--title", "Disputed charge (twice)", "--org", "New Org")
    story.ok("contact", "edit", "1", "--agent", "Daniel", "--ref", "CALL-88812")
    story.ok("note", "edit", "1", "Corrected")
    story.ok("promise", "due", "1", "2026-12-20", "--note", "Backlog")
    story.ok("promise", "by", "1", "me")
    story.ok("undo")  # an undone correction travels too
    story.ok("case", "contact", "1", "--channel", "chat")
    story.ok("contact", "edit", "2", "--ref", "CHAT-1")  # links a new reference row
    story.ok("undo")  # which undo removed: the undone event names a row that is gone
    first = tmp_path / "first.json"
    second = tmp_path / "second.json"
    story.ok("export", "json", "-o", str(first))
    exported = json.loads(first.read_text())
    types = [e["type"] for e in exported["tables"]["events"]]
    assert types.count("corrected") == 6
    story.ok("--db", other_url, "import", "json", str(first))
    story.ok("--db", other_url, "export", "json", "-o", str(second))
    again = json.loads(second.read_text())
    assert again["tables"] == exported["tables"]
    shown = story.json("--db", other_url, "case", "show", "1")
    assert shown["title"] == "Disputed charge (twice)"
    assert shown["interactions"][0]["agent"] == "Daniel"
    assert by_type(shown["events"], "interaction")[0]["superseded"] is True


def _import_edited(tracker: Tracker, tmp_path: Path, other_url: str, edit: Any) -> str:
    path = tmp_path / "edited.json"
    tracker.ok("export", "json", "-o", str(path))
    data = json.loads(path.read_text())
    (event,) = [e for e in data["tables"]["events"] if e["type"] == "corrected"]
    edit(event["data"])
    path.write_text(json.dumps(data))
    return tracker.fails(2, "--db", other_url, "import", "json", str(path))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(target="order"), 'target "order" is not one of'),
        (lambda d: d.update(changes={}), "changes is empty"),
        (lambda d: d["changes"].update(colour={"old": 1, "new": 2}), "not a field of a contact"),
        (lambda d: d.update(before={"cases:1": {"title": "x"}}), "a contact has no such row"),
        (lambda d: d.update(before={"interactions:1": {"via": "x"}}), "not correctable"),
        (lambda d: d.update(before={"interactions:1": {"channel": "pigeon"}}), "is not one of"),
        (lambda d: d.update(target_id=99), "refers to interactions 99"),
        (lambda d: d.update(supersedes=999), "refers to events 999"),
    ],
)
def test_import_checks_a_correction_event(
    story: Tracker, tmp_path: Path, other_url: str, edit: Any, expected: str
) -> None:
    story.ok("contact", "edit", "1", "--agent", "Daniel")
    error = _import_edited(story, tmp_path, other_url, edit)
    assert expected in error, error
