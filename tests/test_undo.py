"""`tracker undo`: every command's change reverts exactly, in one go, and is recorded."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from conftest import Tracker
from helpers import NOW
from sqlalchemy import create_engine, text

DATA_TABLES = (
    "organizations",
    "cases",
    "interactions",
    "reference_numbers",
    "promises",
    "follow_ups",
    "notes",
)


def query(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def data_counts(db_url: str) -> dict[str, int]:
    return {t: query(db_url, f"SELECT count(*) FROM {t}")[0][0] for t in DATA_TABLES}


def state(tracker: Tracker, case_id: int) -> dict[str, Any] | None:
    """`case show --json` without the history (which undo appends to), or None."""
    result = tracker("case", "show", str(case_id), "--json")
    if result.exit_code == 1 and result.stderr == f"Error: no case {case_id}\n":
        return None
    assert result.exit_code == 0, result.stderr
    shown: dict[str, Any] = json.loads(result.stdout)
    del shown["events"]
    return shown


def events(tracker: Tracker, case_id: int = 1) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tracker.json("case", "show", str(case_id))["events"]
    return found


@dataclass(frozen=True)
class Scenario:
    setup: tuple[tuple[str, ...], ...]
    command: tuple[str, ...]
    reverted: str  # what `tracker undo` says it reverted, after "Undid case N: "
    case_id: int = 1


OPEN = ("case", "open", "Disputed charge", "--org", "American Express")
PROMISE = ("case", "promise", "1", "Callback", "--due", "2d")
FOLLOW_UP = ("case", "follow-up", "1", "1d", "Check")
SCENARIOS = {
    "open, creating its organization": Scenario(
        setup=(OPEN,),
        command=tuple(
            shlex.split(
                'case open "Lost card" --org "Brand New Bank" --category lost_stolen '
                "--amount 5 --ref R-1 --note first --follow-up 3d"
            )
        ),
        reverted=(
            "Opened: Lost card (with 1 reference, 1 note, 1 follow-up and the new "
            "organization Brand New Bank)"
        ),
        case_id=2,
    ),
    "open, with a known organization": Scenario(
        setup=(OPEN,),
        command=("case", "open", "Second", "--org", "AMERICAN EXPRESS"),
        reverted="Opened: Second",
        case_id=2,
    ),
    "note": Scenario(
        setup=(OPEN,), command=("case", "note", "1", "A note\nline 2"), reverted="Note: A note"
    ),
    "contact with refs and a promise": Scenario(
        setup=(OPEN,),
        command=tuple(
            shlex.split(
                'case contact 1 --channel phone --at "2026-11-25 10:00" --agent Maria '
                "--ref CALL-1 --ref DSP-2 --summary talked --promise Credit --due 10bd"
            )
        ),
        reverted="Phone to the company with Maria: talked (with 2 references and 1 promise)",
    ),
    "ref": Scenario(
        setup=(OPEN,),
        command=("case", "ref", "1", "X-1", "--kind", "dispute"),
        reverted="Reference X-1 (dispute)",
    ),
    "promise": Scenario(setup=(OPEN,), command=PROMISE, reverted="The company promised: Callback"),
    "follow-up": Scenario(
        setup=(OPEN,),
        command=("case", "follow-up", "1", "1d", "Check"),
        reverted="Follow-up: Check",
    ),
    "promise kept": Scenario(
        setup=(OPEN, PROMISE), command=("promise", "kept", "1"), reverted="Promise 1 kept: Callback"
    ),
    "promise broken": Scenario(
        setup=(OPEN, PROMISE),
        command=("promise", "broken", "1"),
        reverted="Promise 1 broken: Callback",
    ),
    "promise cancel": Scenario(
        setup=(OPEN, PROMISE),
        command=("promise", "cancel", "1"),
        reverted="Promise 1 cancelled: Callback",
    ),
    "escalate with a note": Scenario(
        setup=(OPEN, PROMISE),
        command=("case", "escalate", "1", "--note", "No callback"),
        reverted="Escalated from frontline to supervisor: No callback (with 1 note)",
    ),
    "escalate again": Scenario(
        setup=(OPEN, ("case", "escalate", "1")),
        command=("case", "escalate", "1", "--to", "regulator"),
        reverted="Escalated from supervisor to regulator",
    ),
    "resolve": Scenario(
        setup=(OPEN, PROMISE),
        command=("case", "resolve", "1", "--outcome", "Credit posted"),
        reverted="Resolved: Credit posted",
    ),
    "reopen": Scenario(
        setup=(OPEN, PROMISE, ("case", "resolve", "1", "--outcome", "Credit posted")),
        command=("case", "reopen", "1"),
        reverted="Reopened (was resolved)",
    ),
    "close": Scenario(
        setup=(OPEN, ("case", "escalate", "1")), command=("case", "close", "1"), reverted="Closed"
    ),
    "follow-up done": Scenario(
        setup=(OPEN, FOLLOW_UP),
        command=("follow-up", "done", "1"),
        reverted="Follow-up 1 done: Check",
    ),
    "follow-up cancel": Scenario(
        setup=(OPEN, FOLLOW_UP),
        command=("follow-up", "cancel", "1"),
        reverted="Follow-up 1 cancelled: Check",
    ),
    "follow-up snooze": Scenario(
        setup=(OPEN, FOLLOW_UP),
        command=("follow-up", "snooze", "1", "2026-11-30 09:00"),
        reverted="Follow-up 1 snoozed from 2026-11-27 15:00 to 2026-11-30 09:00: Check",
    ),
    "tag": Scenario(
        setup=(OPEN,),
        command=("case", "tag", "1", "travel", "urgent"),
        reverted="Tagged travel (with 1 tag)",
    ),
    "untag": Scenario(
        setup=(OPEN, ("case", "tag", "1", "travel")),
        command=("case", "untag", "1", "travel"),
        reverted="Untagged travel",
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_undo_restores_exactly_the_state_before_and_says_so(
    tracker: Tracker, clock: time_machine.Traveller, db_url: str, name: str
) -> None:
    scenario = SCENARIOS[name]
    for args in scenario.setup:
        tracker.ok(*args)
        clock.shift(timedelta(hours=1))
    before = state(tracker, scenario.case_id)
    before_case1 = state(tracker, 1)
    counts = data_counts(db_url)
    kept = {e["id"] for e in events(tracker)}
    tracker.ok(*scenario.command)
    clock.shift(timedelta(hours=1))
    assert state(tracker, scenario.case_id) != before
    added = {e["id"] for e in events(tracker)} - kept

    out = tracker.ok("undo")

    assert out == f"Undid case {scenario.case_id}: {scenario.reverted}\n"
    assert state(tracker, scenario.case_id) == before
    assert state(tracker, 1) == before_case1
    assert data_counts(db_url) == counts
    if scenario.case_id == 1:
        # The history keeps the undone events, marked, and the undo itself.
        history = events(tracker)
        assert {e["id"] for e in history if e["undone"]} == added
        assert len(history) == len(kept) + len(added) + 1
        assert history[-1]["type"] == "undone"
        assert history[-1]["summary"] == f"Undid: {scenario.reverted}"
        undone_at = NOW + timedelta(hours=len(scenario.setup) + 1)
        assert history[-1]["at"] == undone_at.isoformat()


def test_undo_with_nothing_to_undo(tracker: Tracker, clock: object) -> None:
    assert tracker.fails(1, "undo") == "Error: nothing to undo"

    tracker.ok("case", "open", "x")
    tracker.ok("undo")

    assert tracker.fails(1, "undo") == "Error: nothing to undo"


def test_undo_twice_reverts_two_changes_last_first(
    tracker: Tracker, clock: time_machine.Traveller
) -> None:
    tracker.ok("case", "open", "one")
    tracker.ok("case", "open", "two")
    tracker.ok("case", "note", "2", "on two")
    tracker.ok("case", "note", "1", "on one")

    assert tracker.ok("undo") == "Undid case 1: Note: on one\n"
    assert tracker.ok("undo") == "Undid case 2: Note: on two\n"

    assert state(tracker, 1)["notes"] == []  # type: ignore[index]
    assert state(tracker, 2)["notes"] == []  # type: ignore[index]
    assert tracker.ok("undo") == "Undid case 2: Opened: two\n"
    assert tracker.ok("undo") == "Undid case 1: Opened: one\n"
    assert tracker.json("case", "list", "--status", "all") == []
    assert tracker.fails(1, "undo") == "Error: nothing to undo"


def test_the_undo_itself_is_recorded_and_not_undone_again(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("case", "open", "x")
    tracker.ok("case", "note", "1", "keep me")
    tracker.ok("case", "note", "1", "drop me")

    tracker.ok("undo")

    changes = query(db_url, "SELECT id, command, undoable, reverted_by_id FROM changes ORDER BY id")
    assert [(c[1], bool(c[2]), c[3]) for c in changes] == [
        ("case open x", True, None),
        ("case note 1", True, None),
        ("case note 1", True, 4),
        ("undo", False, None),
    ]
    assert tracker.ok("undo") == "Undid case 1: Note: keep me\n"


def test_an_undone_open_leaves_a_record_without_a_case(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("case", "open", "Gone soon", "--org", "New Org")

    tracker.ok("undo")

    rows = query(db_url, "SELECT case_id, type, summary FROM events")
    assert rows == [
        (None, "undone", "Undid case 1: Opened: Gone soon (with the new organization New Org)")
    ]


def test_undone_events_are_marked_in_the_readable_timeline(tracker: Tracker, clock: object) -> None:
    tracker.ok("case", "open", "x")
    tracker.ok("case", "close", "1")
    tracker.ok("undo")

    timeline = tracker.ok("case", "show", "1").split("Timeline\n")[1]

    assert timeline == (
        "  2026-11-26 14:00  opened           Opened: x\n"
        "  2026-11-26 14:00  closed (undone)  Closed\n"
        "  2026-11-26 14:00  undone           Undid: Closed\n"
    )


def test_a_failed_command_is_not_what_undo_reverts(tracker: Tracker, clock: object) -> None:
    tracker.ok("case", "open", "x")
    tracker.ok("case", "ref", "1", "R-1")
    tracker.ok("case", "close", "1")
    tracker.fails(1, "case", "contact", "1", "--channel", "phone")
    tracker.ok("case", "ref", "1", "R-1")  # already there: no change

    assert tracker.ok("undo") == "Undid case 1: Closed\n"
    assert tracker.ok("undo") == "Undid case 1: Reference R-1 (other)\n"


def test_undo_puts_back_the_waiting_status(tracker: Tracker, clock: object) -> None:
    tracker.ok("case", "open", "x")
    tracker.ok("case", "promise", "1", "Callback", "--due", "1d")
    tracker.ok("promise", "cancel", "1")
    assert state(tracker, 1)["status"] == "open"  # type: ignore[index]

    tracker.ok("undo")

    shown = state(tracker, 1)
    assert shown is not None
    assert shown["status"] == "waiting"
    assert (shown["promises"][0]["status"], shown["promises"][0]["status_at"]) == ("pending", None)


# --------------------------------------------------------------------------- what undo trusts


def _edit_event(db_url: str, event_id: int, data: dict[str, Any]) -> None:
    """Rewrite an event's data in place: what an old import or a hand edit could leave."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE events SET data = :data WHERE id = :id"),
                {"data": json.dumps(data), "id": event_id},
            )
    finally:
        engine.dispose()


def test_undo_refuses_a_change_whose_event_names_a_row_of_another_case(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("case", "open", "Mine", "--note", "keep me")
    tracker.ok("case", "open", "Other")
    (opened,) = query(db_url, "SELECT id, data FROM events WHERE case_id = 2")
    data = opened[1] if isinstance(opened[1], dict) else json.loads(opened[1])
    _edit_event(db_url, opened[0], {**data, "created": ["cases", 1]})
    counts = data_counts(db_url)

    assert tracker.fails(1, "undo") == (
        f"Error: cannot undo change 2 (case open Other): its event {opened[0]} names cases 1, "
        "which is not on case 2; nothing was undone"
    )
    assert data_counts(db_url) == counts
    assert state(tracker, 1)["notes"][0]["body"] == "keep me"  # type: ignore[index]


def test_undo_refuses_a_snapshot_that_is_not_case_state(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("case", "open", "Mine", "--amount", "12.50")
    tracker.ok("case", "close", "1")
    (closed,) = query(db_url, "SELECT id, data FROM events WHERE type = 'closed'")
    data = closed[1] if isinstance(closed[1], dict) else json.loads(closed[1])
    data["case_before"]["amount"] = "4111 1111 1111 1111"
    _edit_event(db_url, closed[0], data)

    assert tracker.fails(1, "undo") == (
        f"Error: cannot undo change 2: its event {closed[0]} (closed) does not fit its type "
        '(case_before names "amount", which is not case state); nothing was undone'
    )
    assert state(tracker, 1)["amount"] == "12.50"  # type: ignore[index]


def test_undo_never_reverts_a_change_an_import_brought(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    """The changes an import added carry another store's payloads: undo passes over them
    (here one listed in an import record whose own change is gone from the undo stack)."""
    tracker.ok("case", "open", "Mine")
    tracker.ok("case", "note", "1", "as if imported")
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            record = conn.execute(
                text(
                    "INSERT INTO changes (at, command, undoable) "
                    "VALUES (:at, 'import json x.json', false) RETURNING id"
                ),
                {"at": NOW.isoformat()},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO events (change_id, case_id, at, type, summary, data) "
                    "VALUES (:change, NULL, :at, 'imported', 'Imported 1 row from x.json', :data)"
                ),
                {"change": record, "at": NOW.isoformat(), "data": json.dumps(
                    {"source": "x.json", "rows": {"changes": [[2, 2]]}}
                )},
            )  # fmt: skip
    finally:
        engine.dispose()

    assert tracker.ok("undo") == "Undid case 1: Opened: Mine\n"
