"""Follow-ups have an end: `follow-up done|cancel|snooze ID` and `snooze CASE WHEN`, end to
end through the command on both backends: what each prints, undo, `due`, the daemon's pass
and schedule, the exports, the refusals, and migration 0007 up and down with data."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from conftest import Tracker
from helpers import NOW, Recorder

from alembic import command
from tracker.db import Store, make_engine
from tracker.migrate import alembic_config, migration_connection, stored_revision, upgrade
from tracker.policy import Policies, load_policies
from tracker.reminders import next_ready_at, run_pass

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def policies() -> Policies:
    return load_policies()


def at(when: datetime, tracker: Tracker, *args: str) -> str:
    with time_machine.travel(when, tick=False):
        return tracker.ok(*args)


def fails_at(when: datetime, tracker: Tracker, code: int, *args: str) -> str:
    with time_machine.travel(when, tick=False):
        return tracker.fails(code, *args)


def json_at(when: datetime, tracker: Tracker, *args: str) -> Any:
    return json.loads(at(when, tracker, *args, "--json"))


def fire(store: Store, recorder: Recorder, policies: Policies, now: datetime) -> list[str]:
    """One pass of the daemon at `now`; the bodies it showed."""
    before = len(recorder.shown)
    run_pass(store, recorder, policies=policies, owner="test", now=now)
    return [body for _, body in recorder.shown[before:]]


def follow_up(tracker: Tracker, follow_up_id: int, when: datetime = NOW) -> dict[str, Any]:
    shown = json_at(when, tracker, "case", "show", "1")
    (found,) = [f for f in shown["follow_ups"] if f["id"] == follow_up_id]
    return dict(found)


def due_ids(tracker: Tracker, when: datetime, within: str = "4w") -> list[Any]:
    items = json_at(when, tracker, "due", "--within", within)
    return [(i["kind"], i["case_id"]) for i in items if i["kind"] == "follow_up"]


def store_state(tracker: Tracker, when: datetime = NOW) -> Any:
    """The whole store, as the JSON export has it (to show a refusal changed nothing)."""
    doc = json.loads(at(when, tracker, "export", "json"))
    return doc["tables"]


@pytest.fixture
def one(tracker: Tracker) -> Tracker:
    """Case 1 with follow-up 1 at NOW + 2 h ("Check the statement")."""
    at(NOW, tracker, "case", "open", "Disputed charge", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 16:00", "Check the statement")
    return tracker


# --------------------------------------------------------------------------- done and cancel


def test_done_ends_a_follow_up_and_undo_brings_it_back_exactly(one: Tracker) -> None:
    before = follow_up(one, 1)
    assert due_ids(one, NOW) == [("follow_up", 1)]
    later = NOW + HOUR
    assert at(later, one, "follow-up", "done", "1") == "Follow-up 1 on case 1 marked done.\n"
    done = follow_up(one, 1, later)
    assert (done["status"], done["state"], done["status_at"]) == (
        "done",
        "done",
        "2026-11-26T15:00:00+00:00",
    )
    assert done["due_at"] == before["due_at"]
    assert due_ids(one, later) == []
    shown = json_at(later, one, "case", "show", "1")
    assert [e["summary"] for e in shown["events"]][-1] == "Follow-up 1 done: Check the statement"
    text = at(later, one, "case", "show", "1")
    assert "  #1  done  2026-11-26 15:00; was due 2026-11-26 16:00  Check the statement" in text

    assert at(later, one, "undo") == "Undid case 1: Follow-up 1 done: Check the statement\n"
    assert follow_up(one, 1, later) == before
    assert due_ids(one, later) == [("follow_up", 1)]


def test_cancel_then_done_remarks_it_and_the_same_end_twice_is_refused(one: Tracker) -> None:
    assert at(NOW, one, "follow-up", "cancel", "1") == "Follow-up 1 on case 1 marked cancelled.\n"
    assert follow_up(one, 1)["status"] == "cancelled"
    assert fails_at(NOW, one, 1, "follow-up", "cancel", "1") == (
        "Error: follow-up 1 is already cancelled"
    )
    (marked,) = json_at(NOW, one, "follow-up", "done", "1")["changed"]["follow_ups"]
    assert (marked["id"], marked["case_id"], marked["status"]) == (1, 1, "done")
    # Each end is its own change: undo goes back one at a time.
    at(NOW, one, "undo")
    assert follow_up(one, 1)["status"] == "cancelled"
    at(NOW, one, "undo")
    assert follow_up(one, 1)["status"] == "pending"


def test_a_done_follow_up_is_not_reminded(
    one: Tracker, store: Store, recorder: Recorder, policies: Policies
) -> None:
    with store.read() as session:
        assert next_ready_at(session, policies) == NOW + 2 * HOUR
    at(NOW + HOUR, one, "follow-up", "done", "1")
    with store.read() as session:  # the daemon's schedule: nothing left to wake up for
        schedule = next_ready_at(session, policies)
    assert schedule is None or schedule > NOW + 10 * DAY  # (a threshold, much later)
    assert fire(store, recorder, policies, NOW + 3 * HOUR) == []
    # A follow-up done after its reminder was shown stays as it is: done.
    at(NOW, one, "case", "follow-up", "1", "2026-11-26 18:00", "second")
    (body,) = fire(store, recorder, policies, NOW + 4 * HOUR)
    assert body.startswith("Follow-up due now: second (case 1: Disputed charge).")
    assert follow_up(one, 2)["status"] == "fired"
    at(NOW + 5 * HOUR, one, "follow-up", "done", "2")
    assert follow_up(one, 2)["status"] == "done"
    assert fire(store, recorder, policies, NOW + 6 * HOUR) == []


# --------------------------------------------------------------------------- snooze


def test_snooze_moves_it_and_undo_puts_time_and_status_back(one: Tracker) -> None:
    before = follow_up(one, 1)
    out = at(NOW, one, "follow-up", "snooze", "1", "tomorrow 9am")
    assert out == "Follow-up 1 on case 1 snoozed to 2026-11-27 09:00 (was 2026-11-26 16:00).\n"
    moved = follow_up(one, 1)
    assert (moved["status"], moved["state"], moved["due_at"], moved["snoozed_from"]) == (
        "pending",
        "snoozed",
        "2026-11-27T09:00:00+00:00",
        "2026-11-26T16:00:00+00:00",
    )
    events = json_at(NOW, one, "case", "show", "1")["events"]
    assert events[-1]["type"] == "follow_up_snoozed"
    assert events[-1]["summary"] == (
        "Follow-up 1 snoozed from 2026-11-26 16:00 to 2026-11-27 09:00: Check the statement"
    )
    assert events[-1]["snoozed_from"] == "2026-11-26T16:00:00+00:00"
    assert "follow_up_before" not in events[-1]  # undo's bookkeeping is not shown
    text = at(NOW, one, "case", "show", "1")
    assert "#1  snoozed  2026-11-27 09:00 (in 19 hours; was 2026-11-26 16:00)" in text
    # Not due in the next 12 hours any more; due within a day.
    assert due_ids(one, NOW, "12h") == []
    assert due_ids(one, NOW, "1d") == [("follow_up", 1)]
    at(NOW, one, "undo")
    assert follow_up(one, 1) == before


def test_snooze_prints_what_changed_as_json(one: Tracker) -> None:
    report = json_at(NOW, one, "follow-up", "snooze", "1", "2d")
    assert [e["type"] for e in report["events"]] == ["follow_up_snoozed"]
    assert report["case_id"] == 1 and report["created"] == {}
    (moved,) = report["changed"]["follow_ups"]
    assert moved == {
        "id": 1,
        "case_id": 1,
        "due_at": "2026-11-28T14:00:00+00:00",
        "text": "Check the statement",
        "status": "pending",
        "state": "snoozed",
        "status_at": "2026-11-26T14:00:00+00:00",
        "snoozed_from": "2026-11-26T16:00:00+00:00",
        "again_of": None,
        "created_at": "2026-11-26T14:00:00+00:00",
    }


def test_a_snoozed_follow_up_is_reminded_at_its_new_time_once(
    one: Tracker, store: Store, recorder: Recorder, policies: Policies
) -> None:
    due = NOW + 2 * HOUR
    assert len(fire(store, recorder, policies, due)) == 1
    assert follow_up(one, 1, due)["status"] == "fired"
    at(due + HOUR, one, "follow-up", "snooze", "1", "2026-11-27 09:00")
    assert follow_up(one, 1, due)["status"] == "pending"
    new = datetime.fromisoformat("2026-11-27T09:00:00+00:00")
    with store.read() as session:  # the daemon's next wake-up is the new time
        assert next_ready_at(session, policies) == new
    assert fire(store, recorder, policies, new - timedelta(minutes=1)) == []
    (body,) = fire(store, recorder, policies, new)
    assert body.startswith("Follow-up due now: Check the statement (case 1: Disputed charge).")
    assert fire(store, recorder, policies, new + HOUR) == []
    assert fire(store, recorder, policies, new + 3 * DAY) == []
    assert follow_up(one, 1, new)["status"] == "fired"


def test_snooze_refusals_change_nothing(one: Tracker) -> None:
    before = store_state(one)
    assert fails_at(NOW, one, 1, "follow-up", "snooze", "99", "2d") == "Error: no follow-up 99"
    assert fails_at(NOW, one, 1, "follow-up", "done", "99") == "Error: no follow-up 99"
    assert fails_at(NOW, one, 1, "follow-up", "cancel", "2147483648") == (
        "Error: no follow-up 2147483648"
    )
    assert fails_at(NOW, one, 2, "follow-up", "done", "one").startswith(
        "Error: Invalid value for 'ID': 'one' is not a follow-up number"
    )
    bad = fails_at(NOW, one, 2, "follow-up", "snooze", "1", "someday")
    assert bad.startswith("Error: Invalid value for 'WHEN': cannot read 'someday' as a time")
    assert fails_at(NOW, one, 2, "follow-up", "snooze", "1", "2 days ago") == (
        "Error: 2026-11-24 14:00 is not in the future; a snooze needs a later time"
    )
    assert fails_at(NOW, one, 2, "follow-up", "snooze", "1", "2026-11-26 13:00") == (
        "Error: 2026-11-26 13:00 is not in the future; a snooze needs a later time"
    )
    assert fails_at(NOW, one, 1, "follow-up", "snooze", "1", "2026-11-26 16:00") == (
        "Error: follow-up 1 is already due at 2026-11-26 16:00"
    )
    assert store_state(one) == before
    at(NOW, one, "follow-up", "done", "1")
    after_done = store_state(one)
    assert fails_at(NOW, one, 1, "follow-up", "snooze", "1", "2d") == (
        "Error: follow-up 1 is done; there is nothing to snooze"
    )
    at(NOW, one, "case", "resolve", "1")
    at(NOW, one, "undo")  # (resolve and undo it: the same store, an undone resolve)
    at(NOW, one, "case", "close", "1")
    assert fails_at(NOW, one, 1, "follow-up", "snooze", "1", "2d").startswith(
        "Error: case 1 is closed; reopen it first"
    )
    assert store_state(one)["follow_ups"] == after_done["follow_ups"]


# --------------------------------------------------------------------------- snooze by case


def test_snooze_by_case_moves_the_follow_up_just_shown(
    one: Tracker, store: Store, recorder: Recorder, policies: Policies
) -> None:
    due = NOW + 2 * HOUR
    assert len(fire(store, recorder, policies, due)) == 1
    out = at(due, one, "snooze", "1", "tomorrow 9am")
    assert out == "Follow-up 1 on case 1 snoozed to 2026-11-27 09:00 (was 2026-11-26 16:00).\n"
    new = datetime.fromisoformat("2026-11-27T09:00:00+00:00")
    assert fire(store, recorder, policies, new - HOUR) == []
    assert len(fire(store, recorder, policies, new)) == 1
    assert fire(store, recorder, policies, new + HOUR) == []
    # It fired again; snoozing once more moves it again; undo goes back one snooze.
    at(new, one, "snooze", "1", "2026-11-28 09:00")
    assert follow_up(one, 1, new)["due_at"] == "2026-11-28T09:00:00+00:00"
    at(new, one, "undo")
    assert (follow_up(one, 1, new)["due_at"], follow_up(one, 1, new)["status"]) == (
        "2026-11-27T09:00:00+00:00",
        "fired",
    )


def test_snooze_by_case_brings_back_an_overdue_promise_as_a_follow_up(
    tracker: Tracker, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Disputed charge", "--org", "Amex")
    at(NOW, tracker, "case", "promise", "1", "Credit posts", "--due", "2026-11-27 14:00")
    late = NOW + 4 * DAY
    (body,) = fire(store, recorder, policies, late)  # due and overdue by now: told once
    assert "Credit posts is overdue" in body
    result = json_at(late, tracker, "snooze", "1", "2026-12-01 09:00")
    (added,) = result["created"]["follow_ups"]
    assert (result["case_id"], result["changed"], result["skipped"]) == (1, {}, [])
    assert result["until_at"] == "2026-12-01T09:00:00+00:00"
    assert added["text"] == "Again: Credit posts (promise 1) is overdue"
    assert added["again_of"] == "promise:1:overdue"
    assert added["due_at"] == "2026-12-01T09:00:00+00:00"
    # Again before it fired: the same follow-up moves, no second one.
    out = at(late, tracker, "snooze", "1", "2026-12-02 09:00")
    assert out == (
        f"Follow-up {added['id']} on case 1 snoozed to 2026-12-02 09:00 (was 2026-12-01 09:00).\n"
    )
    assert len(json_at(late, tracker, "case", "show", "1")["follow_ups"]) == 1
    new = datetime.fromisoformat("2026-12-02T09:00:00+00:00")
    assert fire(store, recorder, policies, new - HOUR) == []
    (again,) = fire(store, recorder, policies, new)
    assert again.startswith("Follow-up due now: Again: Credit posts (promise 1) is overdue")
    assert fire(store, recorder, policies, new + HOUR) == []
    # Undo removes the follow-up the first snooze set (after undoing the second).
    at(new, tracker, "undo")
    at(new, tracker, "undo")
    assert json_at(new, tracker, "case", "show", "1")["follow_ups"] == []


def test_snooze_by_case_brings_back_a_crossed_threshold(
    tracker: Tracker, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Disputed charge", "--org", "Amex")
    crossed = NOW + 14 * DAY
    (body,) = fire(store, recorder, policies, crossed)
    assert body.startswith("No progress for 14 days since the last contact")
    out = at(crossed, tracker, "snooze", "1", "2d")
    assert out == (
        "Follow-up 1 on case 1 at 2026-12-12 14:00: Again: no progress for 14 days since "
        "the last contact\n"
    )
    assert len(fire(store, recorder, policies, crossed + 2 * DAY)) == 1


def test_snooze_by_case_with_nothing_to_snooze_says_so_and_exits_1(
    one: Tracker, store: Store, recorder: Recorder, policies: Policies
) -> None:
    assert fails_at(NOW, one, 1, "snooze", "1", "tomorrow") == (
        "Error: no reminder has been shown for case 1; nothing to snooze"
    )
    assert fails_at(NOW, one, 1, "snooze", "7", "tomorrow") == "Error: no case 7"
    due = NOW + 2 * HOUR
    fire(store, recorder, policies, due)
    at(due, one, "follow-up", "done", "1")
    before = store_state(one, due)
    assert fails_at(due, one, 1, "snooze", "1", "tomorrow") == (
        "Error: nothing to snooze on case 1: of the reminders shown at 2026-11-26 16:00, "
        "follow-up 1 is done"
    )
    assert fails_at(due, one, 2, "snooze", "1", "yesterday").startswith(
        "Error: 2026-11-25 09:00 is not in the future"
    )
    assert store_state(one, due) == before


# --------------------------------------------------------------------------- exports


def test_the_exports_show_each_end(one: Tracker) -> None:
    at(NOW, one, "case", "follow-up", "1", "3d", "Second")
    at(NOW, one, "follow-up", "snooze", "1", "2026-11-27 09:00")
    at(NOW, one, "follow-up", "done", "1")
    at(NOW, one, "follow-up", "cancel", "2")
    rows = list(csv.DictReader(io.StringIO(at(NOW, one, "export", "csv"))))
    ends = [
        (r["event_type"], r["due_at"], r["follow_up_status"], r["text"])
        for r in rows
        if r["event_type"].startswith("follow_up_") and r["event_type"] != "follow_up_set"
    ]
    assert ends == [
        ("follow_up_snoozed", "2026-11-27T09:00:00+00:00", "pending", "Check the statement"),
        ("follow_up_done", "2026-11-27T09:00:00+00:00", "done", "Check the statement"),
        ("follow_up_cancelled", "2026-11-29T14:00:00+00:00", "cancelled", "Second"),
    ]
    doc = json.loads(at(NOW, one, "export", "json"))
    first, second = doc["tables"]["follow_ups"]
    assert (first["status"], first["snoozed_from"], first["status_at"]) == (
        "done",
        "2026-11-26T16:00:00+00:00",
        "2026-11-26T14:00:00+00:00",
    )
    assert second["status"] == "cancelled"


def test_import_json_round_trips_the_ends_and_reads_older_files(
    one: Tracker, tmp_path: Path
) -> None:
    at(NOW, one, "follow-up", "snooze", "1", "2026-11-27 09:00")
    at(NOW, one, "follow-up", "done", "1")
    exported = at(NOW, one, "export", "json")
    path = tmp_path / "backup.json"
    path.write_text(exported, encoding="utf-8")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    at(NOW, one, "--db", other, "import", "json", str(path))
    assert at(NOW, one, "--db", other, "export", "json") == exported
    # Undo in the store it went to works on its own commands as before.
    at(NOW, one, "--db", other, "follow-up", "cancel", "1")
    at(NOW, one, "--db", other, "undo")
    # A file from before: no tags table, no new follow-up columns, no new event types.
    doc = json.loads(exported)
    del doc["tables"]["tags"]
    for row in doc["tables"]["follow_ups"]:
        for name in ("status_at", "snoozed_from", "again_of"):
            del row[name]
        row["status"] = "pending"
    new_types = ("follow_up_snoozed", "follow_up_done")
    doc["tables"]["events"] = [e for e in doc["tables"]["events"] if e["type"] not in new_types]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc), encoding="utf-8")
    third = f"sqlite:///{tmp_path / 'third.db'}"
    assert "Imported" in at(NOW, one, "--db", third, "import", "json", str(old))
    shown = json_at(NOW, one, "--db", third, "case", "show", "1")
    assert [(f["status"], f["snoozed_from"]) for f in shown["follow_ups"]] == [("pending", None)]
    # A status outside the vocabulary is refused, nothing written.
    doc["tables"]["follow_ups"][0]["status"] = "finished"
    old.write_text(json.dumps(doc), encoding="utf-8")
    fourth = f"sqlite:///{tmp_path / 'fourth.db'}"
    error = fails_at(NOW, one, 2, "--db", fourth, "import", "json", str(old))
    assert "follow_ups row id 1: 'status' \"finished\" is not a follow-up status" in error


# --------------------------------------------------------------------------- migration 0007


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = alembic_config()
    with migration_connection(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_migration_0007_up_and_down_with_data(tracker: Tracker, db_url: str) -> None:
    at(NOW, tracker, "case", "open", "Disputed charge", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2d", "first")
    at(NOW, tracker, "case", "follow-up", "1", "3d", "second")
    at(NOW, tracker, "follow-up", "done", "1")
    at(NOW, tracker, "follow-up", "snooze", "2", "5d")
    at(NOW, tracker, "case", "tag", "1", "travel")
    engine = make_engine(db_url)
    try:
        _downgrade(engine, "0004")
        assert stored_revision(engine) == "0004"
        with engine.connect() as conn:
            assert "tags" not in sa.inspect(conn).get_table_names()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("follow_ups")}
            assert {"status_at", "snoozed_from", "again_of"} & columns == set()
            rows = conn.execute(sa.text("SELECT id, status, text FROM follow_ups ORDER BY id"))
            # The older code knows no "done": its reminder is over, as cancelled says.
            assert [tuple(r) for r in rows] == [(1, "cancelled", "first"), (2, "pending", "second")]
        upgrade(engine, "0007")
        assert stored_revision(engine) == "0007"
    finally:
        engine.dispose()
    shown = json_at(NOW, tracker, "case", "show", "1")
    assert [(f["status"], f["snoozed_from"]) for f in shown["follow_ups"]] == [
        ("cancelled", None),
        ("pending", None),
    ]
    assert shown["tags"] == []
    # The store works on: tag, end, undo.
    at(NOW, tracker, "case", "tag", "1", "travel")
    at(NOW, tracker, "follow-up", "done", "2")
    at(NOW, tracker, "undo")
    assert json_at(NOW, tracker, "case", "show", "1")["tags"] == ["travel"]


def test_a_snoozed_follow_up_moves_in_the_calendar_too(one: Tracker) -> None:
    at(NOW + HOUR, one, "follow-up", "snooze", "1", "2026-11-27 09:00")
    ics = at(NOW + HOUR, one, "export", "ics").replace("\r\n", "\n")
    assert "DTSTART:20261127T090000Z\n" in ics
    assert "20261126T160000Z" not in ics
    # Its DTSTAMP is the snooze, so a calendar that has the old time takes the new one.
    assert "DTSTAMP:20261126T150000Z\n" in ics
    at(NOW + HOUR, one, "follow-up", "done", "1")
    # Done: the same event, cancelled, so a calendar that has it drops its alarm.
    done = at(NOW + HOUR, one, "export", "ics").replace("\r\n", "\n")
    assert "STATUS:CANCELLED\n" in done and "BEGIN:VALARM" not in done
