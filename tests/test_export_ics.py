"""`tracker export ics`: follow-ups and promises for a calendar, with stable UIDs.

Pending items carry an alarm; an item no longer pending comes again with the same UID, a
higher SEQUENCE and STATUS:CANCELLED. Every file is read by two parsers, icalendar and
vobject, which must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
import time_machine
import vobject

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(T0, tick=False):
        yield


def build(tracker: Any) -> None:
    tracker.ok(
        "case", "open", "Disputed charge at ACME", "--org", "American Express",
        "--category", "dispute", "--note", "Private: my PIN hint is the dog's name",
        "--follow-up", "2026-03-05 09:00",
    )  # fmt: skip
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--agent", "Maria",
        "--promise", "Provisional credit", "--due", "2026-03-16 09:00",
    )  # fmt: skip
    tracker.ok("case", "open", "Send forms")
    tracker.ok(
        "case", "promise", "2", "Mail the signed form", "--due", "2026-03-04 12:00", "--by", "me"
    )


def events(data: bytes) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(data)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def parsed(data: bytes) -> dict[str, dict[str, Any]]:
    """Each event as both parsers read it (they must agree): UID -> its main properties."""
    first: dict[str, dict[str, Any]] = {}
    for event in icalendar.Calendar.from_ical(data).walk("VEVENT"):
        first[str(event["UID"])] = {
            "sequence": int(event["SEQUENCE"]),
            "status": str(event["STATUS"]),
            "summary": str(event["SUMMARY"]),
            "description": str(event["DESCRIPTION"]),
            "start": event["DTSTART"].dt,
            "stamp": event["DTSTAMP"].dt,
            "alarms": len(event.walk("VALARM")),
        }
    second: dict[str, dict[str, Any]] = {}
    calendar = vobject.readOne(data.decode("utf-8"), validate=True)
    for event in getattr(calendar, "vevent_list", []):
        second[event.uid.value] = {
            "sequence": int(event.sequence.value),
            "status": event.status.value,
            "summary": event.summary.value,
            "description": event.description.value,
            "start": event.dtstart.value,
            "stamp": event.dtstamp.value,
            "alarms": len(getattr(event, "valarm_list", [])),
        }
    assert first == second
    return first


def ics(tracker: Any, *args: str) -> bytes:
    result = tracker("export", "ics", *args)
    assert result.exit_code == 0, result.stderr
    data = bytes(result.stdout_bytes)
    parsed(data)  # valid for both parsers
    return data


def reimport(calendar: dict[str, dict[str, Any]], data: bytes) -> dict[str, dict[str, Any]]:
    """What a calendar holds after importing `data` over `calendar` (RFC 5545 3.8.7.4: an
    event replaces the one with its UID when its SEQUENCE is higher, or equal)."""
    held = dict(calendar)
    for uid, event in parsed(data).items():
        if uid not in held or event["sequence"] >= held[uid]["sequence"]:
            held[uid] = event
    return held


def alarms(calendar: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(
        uid.split(".")[0]
        for uid, event in calendar.items()
        if event["alarms"] and event["status"] != "CANCELLED"
    )


def test_follow_ups_and_promises_become_events_with_alarms(tracker: Any, frozen: None) -> None:
    build(tracker)
    data = ics(tracker)
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//tracker//export ics//EN"
    found = sorted(
        (event["DTSTART"].dt, str(event["SUMMARY"]), str(event["DESCRIPTION"]))
        for event in calendar.walk("VEVENT")
    )
    assert found == [
        (
            datetime(2026, 3, 4, 12, 0, tzinfo=UTC),
            "You promised the company (case 2): Mail the signed form",
            "Case 2: Send forms\nPromise 2 due 2026-03-04 12:00 UTC\ntracker case show 2",
        ),
        (
            datetime(2026, 3, 5, 9, 0, tzinfo=UTC),
            "Follow up with American Express (case 1): check on the case",
            "Case 1: Disputed charge at ACME\nOrganization: American Express\n"
            "Follow-up due 2026-03-05 09:00 UTC\ntracker case show 1",
        ),
        (
            datetime(2026, 3, 16, 9, 0, tzinfo=UTC),
            "American Express promised (case 1): Provisional credit",
            "Case 1: Disputed charge at ACME\nOrganization: American Express\n"
            "Promise 1 due 2026-03-16 09:00 UTC\ntracker case show 1",
        ),
    ]
    for event in calendar.walk("VEVENT"):
        assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=15)
        assert event["DTSTAMP"].dt == T0
        assert str(event["STATUS"]) == "CONFIRMED"
        (alarm,) = event.walk("VALARM")
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm["TRIGGER"].dt == timedelta(0)
        assert str(alarm["DESCRIPTION"]) == str(event["SUMMARY"])
    assert b"PIN hint" not in data
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_uids_are_stable_across_exports(tracker: Any, frozen: None) -> None:
    build(tracker)
    first = ics(tracker)
    assert ics(tracker) == first  # nothing changed: the same bytes
    tracker.ok("case", "follow-up", "2", "2026-03-10 09:00", "Call again")
    before, after = events(first), events(ics(tracker))
    assert set(before) < set(after)
    (added,) = set(after) - set(before)
    assert added.startswith("follow-up-2.") and added.endswith("@tracker.local")
    for uid, event in before.items():
        if uid.startswith("promise-2."):  # case 2 changed: its events say so
            assert int(after[uid]["SEQUENCE"]) > int(event["SEQUENCE"])
        else:
            assert event.to_ical() == after[uid].to_ical()


def test_uids_name_the_item_and_the_store(tracker: Any, frozen: None) -> None:
    build(tracker)
    uids = sorted(events(ics(tracker)))
    key = uids[0].split(".")[1].split("@")[0]
    assert len(key) == 12
    assert uids == [
        f"follow-up-1.{key}@tracker.local",
        f"promise-1.{key}@tracker.local",
        f"promise-2.{key}@tracker.local",
    ]


def test_uids_survive_a_move_to_another_store(tracker: Any, frozen: None, tmp_path: Path) -> None:
    build(tracker)
    backup = tmp_path / "backup.json"
    tracker.ok("export", "json", "-o", str(backup))
    moved = f"sqlite:///{tmp_path / 'moved.db'}"
    tracker.ok("--db", moved, "import", "json", str(backup))
    assert ics(tracker, "--case", "1") == bytes(
        tracker("--db", moved, "export", "ics", "--case", "1").stdout_bytes
    )


def test_another_store_gets_other_uids(tracker: Any, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with time_machine.travel(T0, tick=False):
        tracker.ok("case", "open", "Here", "--follow-up", "2026-03-05 09:00")
    with time_machine.travel(T0 + timedelta(seconds=1), tick=False):
        tracker.ok("--db", other, "case", "open", "There", "--follow-up", "2026-03-05 09:00")
    here = set(events(ics(tracker)))
    there = set(events(bytes(tracker("--db", other, "export", "ics").stdout_bytes)))
    assert len(here) == len(there) == 1
    assert here != there


def test_what_is_no_longer_pending_comes_again_cancelled_and_the_calendar_drops_its_alarm(
    tracker: Any, frozen: None
) -> None:
    build(tracker)
    tracker.ok("case", "promise", "1", "Call back", "--due", "2026-03-03 10:00")
    tracker.ok("case", "promise", "1", "Write back", "--due", "2026-03-03 11:00")
    first = ics(tracker)
    calendar = reimport({}, first)
    assert alarms(calendar) == ["follow-up-1", "promise-1", "promise-2", "promise-3", "promise-4"]
    tracker.ok("promise", "kept", "1")
    tracker.ok("promise", "cancel", "3")
    tracker.ok("promise", "broken", "4")
    tracker.ok("case", "close", "2")  # its pending promise 2 is no longer due
    second = ics(tracker)
    now = parsed(second)
    assert set(now) == set(parsed(first))  # the same UIDs, none dropped
    for uid, event in parsed(first).items():
        assert now[uid]["sequence"] > event["sequence"]
    ended = {uid.split(".")[0]: e for uid, e in now.items() if e["status"] == "CANCELLED"}
    assert sorted(ended) == ["promise-1", "promise-2", "promise-3", "promise-4"]
    assert all(e["alarms"] == 0 for e in ended.values())
    assert ended["promise-1"]["summary"] == (
        "Kept: American Express promised (case 1): Provisional credit"
    )
    assert ended["promise-3"]["summary"].startswith("Cancelled: American Express promised")
    assert ended["promise-4"]["summary"].startswith("Broken: American Express promised")
    assert ended["promise-2"]["summary"] == (
        "Case closed: You promised the company (case 2): Mail the signed form"
    )
    assert ended["promise-1"]["description"] == (
        "Case 1: Disputed charge at ACME\nOrganization: American Express\n"
        "Promise 1 was due 2026-03-16 09:00 UTC\n"
        "Kept 2026-03-02 09:00 UTC: no longer pending\ntracker case show 1"
    )
    calendar = reimport(calendar, second)
    assert alarms(calendar) == ["follow-up-1"]
    assert ics(tracker) == second  # the same store: the same file
    # Reopened: pending again, with a higher SEQUENCE still, and the alarm back.
    tracker.ok("case", "reopen", "2")
    third = parsed(ics(tracker))
    assert third[next(u for u in third if u.startswith("promise-2."))]["status"] == "CONFIRMED"
    for uid, event in now.items():
        assert third[uid]["sequence"] >= event["sequence"]
    calendar = reimport(calendar, ics(tracker))
    assert "promise-2" in alarms(calendar)


def test_an_undone_mark_brings_the_alarm_back_with_a_higher_sequence(
    tracker: Any, frozen: None
) -> None:
    build(tracker)
    before = parsed(ics(tracker))
    tracker.ok("promise", "kept", "1")
    kept = parsed(ics(tracker))
    tracker.ok("undo")
    after = parsed(ics(tracker))
    uid = next(u for u in after if u.startswith("promise-1."))
    assert (before[uid]["status"], kept[uid]["status"], after[uid]["status"]) == (
        "CONFIRMED", "CANCELLED", "CONFIRMED",
    )  # fmt: skip
    assert before[uid]["sequence"] < kept[uid]["sequence"] < after[uid]["sequence"]
    assert after[uid]["alarms"] == 1
    calendar = reimport(reimport(reimport({}, ics(tracker)), ics(tracker)), ics(tracker))
    assert "promise-1" in alarms(calendar)


def test_a_follow_up_whose_reminder_was_shown_or_that_is_done_is_cancelled(
    tracker: Any,
) -> None:
    with time_machine.travel(T0, tick=False):
        build(tracker)
    with time_machine.travel(datetime(2026, 3, 5, 9, 1, tzinfo=UTC), tick=False):
        tracker.ok("remind", "check", "--notifier", "console")
        done = parsed(ics(tracker))
    (uid,) = [u for u in done if u.startswith("follow-up-1.")]
    assert done[uid]["status"] == "CANCELLED" and done[uid]["alarms"] == 0
    assert done[uid]["summary"].startswith("Reminded: Follow up with American Express")
    with time_machine.travel(datetime(2026, 3, 5, 9, 2, tzinfo=UTC), tick=False):
        tracker.ok("follow-up", "done", "1")
        marked = parsed(ics(tracker))
    assert marked[uid]["status"] == "CANCELLED" and marked[uid]["alarms"] == 0
    assert marked[uid]["summary"].startswith("Done: Follow up with American Express")
    assert marked[uid]["sequence"] > done[uid]["sequence"]


def test_descriptions_show_the_users_zone(tracker: Any, frozen: None, tracker_home: Path) -> None:
    tracker_home.mkdir(parents=True, exist_ok=True)
    (tracker_home / "config.toml").write_text('time_zone = "America/New_York"\n')
    build(tracker)
    found = parsed(ics(tracker, "--case", "2"))
    (event,) = found.values()
    # Typed in New York: 12:00 there, 17:00 UTC. The event's times are UTC, its text local.
    assert event["start"] == datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
    assert (
        "Promise 2 due 2026-03-04 12:00 America/New_York (EST, UTC-05:00)" in (event["description"])
    )


def test_one_case_and_since(tracker: Any, frozen: None) -> None:
    build(tracker)
    assert [u.split(".")[0] for u in sorted(events(ics(tracker, "--case", "2")))] == ["promise-2"]
    since = sorted(events(ics(tracker, "--since", "2026-03-05 09:00")))
    assert [u.split(".")[0] for u in since] == ["follow-up-1", "promise-1"]
    assert tracker.fails(1, "export", "ics", "--case", "7") == "Error: no case 7"


def test_a_due_time_at_the_end_of_the_calendar_is_refused_at_the_door(tracker: Any) -> None:
    # Calendar arithmetic (an event's end, an alarm) would overflow on it.
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    line = tracker.fails(2, "case", "open", "Far away", "--follow-up", "9999-12-31 23:59")
    assert "'9999-12-31 23:59' is more than 100 years away" in line
    assert ics(tracker).count(b"BEGIN:VEVENT") == 0


def test_an_empty_store_gives_an_empty_calendar(tracker: Any) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    calendar = icalendar.Calendar.from_ical(ics(tracker))
    assert calendar.walk("VEVENT") == []


def test_the_file_is_0600_and_written_whole(tracker: Any, frozen: None, tmp_path: Path) -> None:
    build(tracker)
    target = tmp_path / "follow-ups.ics"
    old = os.umask(0o022)
    try:
        result = tracker("export", "ics", "-o", str(target))
    finally:
        os.umask(old)
    assert result.stderr == f"Exported 3 calendar events to {target}.\n"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert target.read_bytes() == ics(tracker)


def test_only_the_ics_command_imports_icalendar(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tracker.cli import cli\n"
        "runner = CliRunner()\n"
        "assert runner.invoke(cli, ['db', 'upgrade']).exit_code == 0\n"
        "for args in (['export', 'csv'], ['export', 'json']):\n"
        "    assert runner.invoke(cli, args).exit_code == 0\n"
        "    assert 'icalendar' not in sys.modules, args\n"
        "assert runner.invoke(cli, ['export', 'ics']).exit_code == 0\n"
        "assert 'icalendar' in sys.modules\n"
    )
    env = {**os.environ, "TRACKER_HOME": str(tmp_path)}
    env.pop("TRACKER_DB", None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def test_an_undone_promise_is_cancelled_and_an_id_given_again_wins(
    tracker: Any, frozen: None
) -> None:
    build(tracker)
    tracker.ok("case", "promise", "1", "Call back", "--due", "2026-03-03 10:00")
    made = parsed(ics(tracker))
    (uid,) = [u for u in made if u.startswith("promise-3.")]
    tracker.ok("undo")
    undone = parsed(ics(tracker))
    assert undone[uid]["status"] == "CANCELLED" and undone[uid]["alarms"] == 0
    assert undone[uid]["sequence"] > made[uid]["sequence"]
    assert undone[uid]["summary"] == "Undone: American Express promised (case 1): Call back"
    calendar = reimport(reimport({}, ics(tracker)), ics(tracker))
    assert "promise-3" not in alarms(calendar)
    # A new promise: SQLite may hand out id 3 again, PostgreSQL never does. Either way the
    # file holds each UID once, and the new promise is the one with the alarm.
    tracker.ok("case", "promise", "2", "Post the form", "--due", "2026-03-06 10:00")
    again = ics(tracker)
    assert again.count(b"BEGIN:VEVENT") == len(parsed(again))
    calendar = reimport(calendar, again)
    new = [u for u, e in parsed(again).items() if e["summary"].endswith("Post the form")]
    (new_uid,) = new
    assert calendar[new_uid]["status"] == "CONFIRMED" and calendar[new_uid]["alarms"] == 1


def test_an_item_ended_long_before_the_last_change_is_left_out(tracker: Any) -> None:
    with time_machine.travel(T0, tick=False):
        build(tracker)
        tracker.ok("promise", "kept", "1")  # due 2026-03-16
        assert "promise-1" in [u.split(".")[0] for u in parsed(ics(tracker))]
    # The store's last change 31 days after the due time: the kept promise is left out
    # (its alarm rang long ago), whenever the file is exported; --since brings it back.
    with time_machine.travel(datetime(2026, 4, 16, 9, 1, tzinfo=UTC), tick=False):
        tracker.ok("case", "note", "2", "Still waiting")
    for moment in (datetime(2026, 4, 17, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)):
        with time_machine.travel(moment, tick=False):
            kinds = sorted(u.split(".")[0] for u in parsed(ics(tracker)))
            assert kinds == ["follow-up-1", "promise-2"]
            everything = parsed(ics(tracker, "--since", "2026-03-01"))
            assert sorted(u.split(".")[0] for u in everything) == [
                "follow-up-1", "promise-1", "promise-2",
            ]  # fmt: skip
