"""Contacts, references, promises, follow-ups, escalation, resolution, `tracker due` and
card masking, through the real CLI (issue 3)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from conftest import Tracker
from sqlalchemy import create_engine, inspect, text

from tracker.redact import luhn_valid


@pytest.fixture
def case1(tracker: Tracker, clock: time_machine.Traveller) -> Tracker:
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    return tracker


def show(tracker: Tracker, case_id: int = 1) -> dict[str, Any]:
    data: dict[str, Any] = tracker.json("case", "show", str(case_id))
    return data


def status(tracker: Tracker, case_id: int = 1) -> str:
    return str(show(tracker, case_id)["status"])


def last_event(tracker: Tracker, case_id: int = 1) -> dict[str, Any]:
    event: dict[str, Any] = show(tracker, case_id)["events"][-1]
    return event


# --------------------------------------------------------------------------- case contact


def test_contact_records_everything_in_one_go(
    case1: Tracker, clock: time_machine.Traveller
) -> None:
    out = case1.ok(
        "case", "contact", "1", "--channel", "phone", "--at", "2026-11-26 10:15",
        "--direction", "in", "--via", "1-800-528-2122", "--agent", "Maria",
        "--agent-id", "4471", "--duration", "23m", "--ref", "CALL-88812", "--ref", "DSP-9",
        "--summary", "Dispute opened; charge removed pending review",
        "--promise", "Provisional credit posts", "--due", "10bd", "--promised-by", "company",
    )  # fmt: skip

    assert out == (
        "Logged interaction 1 on case 1 (phone).\n"
        # 10 business days from the call (--at), not from when it was typed in.
        "Promise 1 recorded, due 2026-12-10 10:15 (business days: Monday to Friday, no public "
        "holidays); case 1 is waiting.\n"
    )
    case = show(case1)
    assert case["interactions"] == [
        {
            "id": 1,
            "at": "2026-11-26T10:15:00+00:00",
            "channel": "phone",
            "direction": "in",
            "via": "1-800-528-2122",
            "agent": "Maria",
            "agent_id": "4471",
            "duration_seconds": 1380,
            "summary": "Dispute opened; charge removed pending review",
            "reference_values": ["CALL-88812", "DSP-9"],
            "draft": False,
        }
    ]
    assert [(r["value"], r["kind"], r["interaction_id"]) for r in case["references"]] == [
        ("CALL-88812", "call", 1),
        ("DSP-9", "call", 1),
    ]
    [promise] = case["promises"]
    assert promise["text"] == "Provisional credit posts"
    assert promise["promised_by"] == "company"
    assert promise["due_at"] == "2026-12-10T10:15:00+00:00"
    assert (promise["status"], promise["overdue"], promise["interaction_id"]) == (
        "pending",
        False,
        1,
    )
    interaction = next(e for e in case["events"] if e["type"] == "interaction")
    assert interaction["at"] == "2026-11-26T10:15:00+00:00"
    assert interaction["channel"] == "phone"
    assert interaction["agent"] == "Maria"
    assert interaction["reference"] == "CALL-88812, DSP-9"
    assert interaction["summary"] == (
        "Phone from the company with Maria (id 4471): Dispute opened; charge removed pending review"
    )
    types = [e["type"] for e in case["events"]]
    assert types.count("reference_added") == 2 and types.count("promise_made") == 1
    assert case["status"] == "waiting"


def test_contact_defaults_to_now_and_outgoing(case1: Tracker) -> None:
    case1.ok("case", "contact", "1", "--channel", "chat")

    [interaction] = show(case1)["interactions"]
    assert interaction["at"] == "2026-11-26T14:00:00+00:00"
    assert interaction["direction"] == "out"
    assert status(case1) == "open"


def test_contact_my_own_promise_does_not_make_the_case_wait(case1: Tracker) -> None:
    case1.ok(
        "case", "contact", "1", "--channel", "email", "--promise", "Send receipts",
        "--due", "fri", "--promised-by", "me",
    )  # fmt: skip

    assert show(case1)["promises"][0]["promised_by"] == "me"
    assert status(case1) == "open"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("--channel", "fax"),
            2,
            "Error: Invalid value for '--channel': unknown channel 'fax'; choose one of: phone, "
            "chat, mail, app, email, social, web, in_person",
        ),
        (("--channel", "phone", "--due", "3d"), 2, "Error: --promise and --due go together"),
        (("--channel", "phone", "--promise", "x"), 2, "Error: --promise and --due go together"),
        (
            ("--channel", "phone", "--promised-by", "me"),
            2,
            "Error: --promised-by goes with --promise",
        ),
        (
            ("--channel", "phone", "--promise", "x", "--due", "whenever"),
            2,
            "Error: Invalid value for '--due': cannot read 'whenever' as a time",
        ),
        (
            ("--channel", "phone", "--promise", " ", "--due", "3d"),
            2,
            "Error: the promise must not be empty",
        ),
        (
            ("--channel", "phone", "--at", "tomorrow 9am"),
            2,
            "Error: the contact time 2026-11-27 09:00 is in the future; --at says when it happened",
        ),
        (
            ("--channel", "phone", "--duration", "0m"),
            2,
            "Error: Invalid value for '--duration': duration '0m' must be more than zero",
        ),
        (("--channel", "phone", "--ref", ""), 2, "Error: the reference number must not be empty"),
        (("--channel", "phone", "--direction", "up"), 2, "Error: Invalid value for '--direction'"),
    ],
)
def test_contact_refuses_bad_input(
    case1: Tracker, args: tuple[str, ...], code: int, message: str
) -> None:
    before = show(case1)

    assert case1.fails(code, "case", "contact", "1", *args).startswith(message)

    assert show(case1) == before


def test_contact_on_unknown_case(case1: Tracker) -> None:
    assert case1.fails(1, "case", "contact", "9", "--channel", "phone") == "Error: no case 9"


@pytest.mark.parametrize("end", ["resolve", "close"])
def test_a_resolved_or_closed_case_refuses_interactions_until_reopened(
    case1: Tracker, end: str
) -> None:
    case1.ok("case", end, "1")
    state = "resolved" if end == "resolve" else "closed"
    before = show(case1)

    refusals = {
        ("case", "contact", "1", "--channel", "phone"): "log a contact",
        ("case", "promise", "1", "x", "--due", "3d"): "record a promise",
        ("case", "follow-up", "1", "3d"): "set a follow-up",
        ("case", "escalate", "1"): "escalate it",
    }
    for args, action in refusals.items():
        assert case1.fails(1, *args) == (
            f"Error: case 1 is {state}; reopen it first (tracker case reopen 1) to {action}"
        )
    assert show(case1) == before

    case1.ok("case", "note", "1", "notes are always welcome")
    assert case1.ok("case", "reopen", "1") == "Case 1 reopened (open).\n"
    case1.ok("case", "contact", "1", "--channel", "phone")
    assert len(show(case1)["interactions"]) == 1


# --------------------------------------------------------------------------- ref, promise


def test_ref_adds_a_reference_once(case1: Tracker) -> None:
    assert case1.ok("case", "ref", "1", "DSP-2026-99812", "--kind", "dispute") == (
        "Added reference DSP-2026-99812 (dispute) to case 1.\n"
    )
    assert case1.ok("case", "ref", "1", "DSP-2026-99812") == (
        "Case 1 already has reference DSP-2026-99812.\n"
    )

    case = show(case1)
    assert [(r["value"], r["kind"]) for r in case["references"]] == [("DSP-2026-99812", "dispute")]
    event = case["events"][-1]
    assert (event["type"], event["reference"], event["kind"]) == (
        "reference_added",
        "DSP-2026-99812",
        "dispute",
    )


def test_ref_bad_kind(case1: Tracker) -> None:
    assert case1.fails(2, "case", "ref", "1", "X-1", "--kind", "ticket").startswith(
        "Error: Invalid value for '--kind'"
    )


def test_promise_by_the_company_makes_the_case_wait(case1: Tracker) -> None:
    out = case1.ok("case", "promise", "1", "Written acknowledgement", "--due", "in 30 days")

    assert out == "Promise 1 on case 1, due 2026-12-26 14:00; case 1 is waiting.\n"
    event = last_event(case1)
    assert (event["type"], event["due_at"], event["promise_status"]) == (
        "promise_made",
        "2026-12-26T14:00:00+00:00",
        "pending",
    )
    assert status(case1) == "waiting"


def test_promise_by_me_leaves_the_case_open(case1: Tracker) -> None:
    case1.ok("case", "promise", "1", "Send the receipts", "--due", "fri", "--by", "me")

    assert show(case1)["promises"][0]["due_at"] == "2026-11-27T09:00:00+00:00"
    assert status(case1) == "open"


def test_promise_bad_due(case1: Tracker) -> None:
    assert case1.fails(2, "case", "promise", "1", "x", "--due", "soonish").startswith(
        "Error: Invalid value for '--due': cannot read 'soonish' as a time"
    )
    assert case1.fails(2, "case", "promise", "1", "x").startswith("Error: Missing option '--due'")


def test_follow_up(case1: Tracker) -> None:
    out = case1.ok("case", "follow-up", "1", "next monday 9am", "Check the statement")

    assert out == "Follow-up 1 on case 1 at 2026-11-30 09:00.\n"
    [follow_up] = show(case1)["follow_ups"]
    assert (follow_up["due_at"], follow_up["text"], follow_up["status"]) == (
        "2026-11-30T09:00:00+00:00",
        "Check the statement",
        "pending",
    )
    assert last_event(case1)["type"] == "follow_up_set"
    assert status(case1) == "open"


def test_follow_up_bad_time(case1: Tracker) -> None:
    assert case1.fails(2, "case", "follow-up", "1", "later").startswith(
        "Error: Invalid value for 'WHEN': cannot read 'later' as a time"
    )


# --------------------------------------------------------------------------- promise kept, broken


def test_promise_kept_broken_cancel_and_the_waiting_rule(case1: Tracker) -> None:
    case1.ok("case", "promise", "1", "Credit", "--due", "3d")
    case1.ok("case", "promise", "1", "Letter", "--due", "5d")
    case1.ok("case", "promise", "1", "My receipts", "--due", "2d", "--by", "me")
    assert status(case1) == "waiting"

    assert case1.ok("promise", "kept", "1") == "Promise 1 marked kept; case 1 is waiting.\n"
    assert case1.ok("promise", "broken", "3") == "Promise 3 marked broken; case 1 is waiting.\n"
    assert case1.ok("promise", "cancel", "2") == "Promise 2 marked cancelled; case 1 is open.\n"

    case = show(case1)
    assert [(p["id"], p["status"]) for p in case["promises"]] == [
        (1, "kept"),
        (2, "cancelled"),
        (3, "broken"),
    ]
    assert all(p["status_at"] == "2026-11-26T14:00:00+00:00" for p in case["promises"])
    assert [e["type"] for e in case["events"][-3:]] == [
        "promise_kept",
        "promise_broken",
        "promise_cancelled",
    ]
    assert case["promise_counts"] == {
        "pending": 0,
        "overdue": 0,
        "kept": 1,
        "broken": 1,
        "cancelled": 1,
    }
    assert "Promises      0 pending (0 overdue), 1 kept, 1 broken, 1 cancelled" in case1.ok(
        "case", "show", "1"
    )


def test_a_broken_promise_can_still_be_kept(case1: Tracker) -> None:
    case1.ok("case", "promise", "1", "Credit", "--due", "3d")
    case1.ok("promise", "broken", "1")

    case1.ok("promise", "kept", "1")

    assert show(case1)["promises"][0]["status"] == "kept"
    assert case1.fails(1, "promise", "kept", "1") == "Error: promise 1 is already kept"


def test_unknown_promise(case1: Tracker) -> None:
    for verb in ("kept", "broken", "cancel"):
        assert case1.fails(1, "promise", verb, "99") == "Error: no promise 99"


# --------------------------------------------------------------------------- lifecycle


def test_escalate_moves_one_level_up_at_a_time(case1: Tracker) -> None:
    for level in ("supervisor", "complaint", "regulator"):
        assert case1.ok("case", "escalate", "1") == f"Case 1 escalated to {level}.\n"
        case = show(case1)
        assert (case["status"], case["escalation_level"]) == ("escalated", level)
        assert case["events"][-1]["type"] == "escalated"
        assert case["events"][-1]["level"] == level

    assert case1.fails(1, "case", "escalate", "1") == (
        "Error: case 1 is already at the last level (regulator)"
    )


def test_escalate_to_a_level_with_a_note(case1: Tracker) -> None:
    case1.ok("case", "escalate", "1", "--to", "complaint", "--note", "Third call, no credit")

    case = show(case1)
    assert case["escalation_level"] == "complaint"
    assert [n["body"] for n in case["notes"]] == ["Third call, no credit"]
    assert case["events"][-2]["summary"] == (
        "Escalated from frontline to complaint: Third call, no credit"
    )
    assert case1.fails(1, "case", "escalate", "1", "--to", "supervisor") == (
        "Error: case 1 is already at complaint"
    )
    assert case1.fails(2, "case", "escalate", "1", "--to", "ceo").startswith(
        "Error: Invalid value for '--to'"
    )


def test_an_escalated_case_stays_escalated_when_promises_settle(case1: Tracker) -> None:
    case1.ok("case", "promise", "1", "Callback", "--due", "1d")
    case1.ok("case", "escalate", "1")

    case1.ok("promise", "kept", "1")

    assert status(case1) == "escalated"


def test_resolve_sets_the_resolution_time_and_outcome(
    case1: Tracker, clock: time_machine.Traveller
) -> None:
    clock.shift(timedelta(days=3))

    assert case1.ok("case", "resolve", "1", "--outcome", "Credit of 129.99 posted") == (
        "Case 1 resolved.\n"
    )

    case = show(case1)
    assert case["status"] == "resolved"
    assert case["resolved_at"] == "2026-11-29T14:00:00+00:00"
    assert case["outcome"] == "Credit of 129.99 posted"
    assert case["events"][-1]["summary"] == "Resolved: Credit of 129.99 posted"
    assert case1.fails(1, "case", "resolve", "1") == "Error: case 1 is already resolved"


def test_reopen_returns_to_open_or_waiting(case1: Tracker) -> None:
    case1.ok("case", "resolve", "1", "--outcome", "Done")
    case1.ok("case", "reopen", "1")
    case = show(case1)
    assert (case["status"], case["resolved_at"], case["outcome"]) == ("open", None, None)
    assert case["events"][-1]["type"] == "reopened"

    case1.ok("case", "promise", "1", "Callback", "--due", "1d")
    case1.ok("case", "close", "1")
    assert case1.ok("case", "reopen", "1") == "Case 1 reopened (waiting).\n"
    assert show(case1)["closed_at"] is None
    assert case1.fails(1, "case", "reopen", "1") == "Error: case 1 is already waiting"


def test_close(case1: Tracker) -> None:
    case1.ok("case", "resolve", "1")

    assert case1.ok("case", "close", "1") == "Case 1 closed.\n"

    case = show(case1)
    assert (case["status"], case["closed_at"]) == ("closed", "2026-11-26T14:00:00+00:00")
    assert case["events"][-1]["type"] == "closed"
    assert case1.fails(1, "case", "close", "1") == "Error: case 1 is already closed"
    assert case1.fails(1, "case", "resolve", "1") == (
        "Error: case 1 is closed; reopen it first (tracker case reopen 1)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("case", "ref", "5", "R"),
        ("case", "promise", "5", "x", "--due", "1d"),
        ("case", "follow-up", "5", "1d"),
        ("case", "escalate", "5"),
        ("case", "resolve", "5"),
        ("case", "reopen", "5"),
        ("case", "close", "5"),
    ],
)
def test_commands_on_an_unknown_case(case1: Tracker, args: tuple[str, ...]) -> None:
    assert case1.fails(1, *args) == "Error: no case 5"


# --------------------------------------------------------------------------- overdue and due


def test_a_pending_promise_past_due_is_overdue(
    case1: Tracker, clock: time_machine.Traveller
) -> None:
    case1.ok("case", "promise", "1", "Callback", "--due", "tomorrow 9am")
    assert show(case1)["promises"][0]["overdue"] is False

    clock.shift(timedelta(days=2))

    case = show(case1)
    assert case["promises"][0]["overdue"] is True
    assert case["promises"][0]["status"] == "pending"
    assert case["overdue_promise_count"] == case["overdue_promises"] == 1
    assert case["promise_counts"]["overdue"] == 1
    text = case1.ok("case", "show", "1")
    assert "#1  OVERDUE  company  due 2026-11-27 09:00 (1 day 5 hours overdue)  Callback" in text
    assert "1 pending (1 overdue)" in text

    case1.ok("promise", "broken", "1")
    case = show(case1)
    assert case["promises"][0]["overdue"] is False
    assert case["promise_counts"]["broken"] == 1
    assert case["events"][-1]["type"] == "promise_broken"


def test_due_lists_follow_ups_and_promises_soonest_first(
    tracker: Tracker, clock: time_machine.Traveller
) -> None:
    tracker.ok("case", "open", "Disputed charge at ACME Hardware", "--org", "American Express")
    tracker.ok("case", "open", "Lost card")
    tracker.ok("case", "promise", "1", "Provisional credit", "--due", "tomorrow 9am")
    tracker.ok("case", "promise", "2", "Send police report", "--due", "3d", "--by", "me")
    tracker.ok("case", "follow-up", "1", "2d", "Check statement")
    tracker.ok("case", "follow-up", "2", "20d", "Far away")
    clock.shift(timedelta(days=1, hours=1))  # 2026-11-27 15:00: the credit is 6 hours late

    items = tracker.json("due")

    assert [(i["kind"], i["case_id"], i["id"], i["overdue"]) for i in items] == [
        ("promise", 1, 1, True),
        ("follow_up", 1, 1, False),
        ("my_promise", 2, 2, False),
    ]
    assert items[0] == {
        "kind": "promise",
        "case_id": 1,
        "case_title": "Disputed charge at ACME Hardware",
        "organization": "American Express",
        "due_at": "2026-11-27T09:00:00+00:00",
        "overdue": True,
        "text": "Provisional credit",
        "id": 1,
        "suggestion": None,
    }
    lines = tracker.ok("due").splitlines()
    assert lines[0] == "DUE AT\tDUE\tCASE\tTITLE\tKIND\tWHAT"
    assert lines[1] == (
        "2026-11-27 09:00\t6 hours overdue\t1\tDisputed charge at ACME Hardware\t"
        "company promise\tProvisional credit"
    )
    assert lines[2].split("\t")[1:2] == ["in 23 hours"]
    assert lines[3].split("\t")[4] == "my promise"
    later = [i["text"] for i in tracker.json("due", "--within", "30d") if i["kind"] != "threshold"]
    assert later[-1] == "Far away"
    assert [i["id"] for i in tracker.json("due", "--within", "1m")] == [1]


def test_due_skips_settled_promises_and_inactive_cases(
    case1: Tracker, clock: time_machine.Traveller
) -> None:
    case1.ok("case", "promise", "1", "Kept one", "--due", "1d")
    case1.ok("case", "promise", "1", "Pending one", "--due", "1d")
    case1.ok("promise", "kept", "1")
    assert [i["text"] for i in case1.json("due")] == ["Pending one"]

    case1.ok("case", "resolve", "1")

    assert case1.json("due") == []
    assert case1.ok("due") == "Nothing due.\n"


def test_due_is_aligned_on_a_terminal(
    case1: Tracker, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    case1.ok("case", "follow-up", "1", "1d", "Call again")
    monkeypatch.setattr("tracker.views.base.stdout_is_tty", lambda: True)

    assert case1.ok("due") == (
        "DUE AT            DUE       CASE  TITLE            KIND       WHAT\n"
        "2026-11-27 14:00  in 1 day  1     Disputed charge  follow-up  Call again\n"
    )


def test_due_bad_within(case1: Tracker) -> None:
    assert case1.fails(2, "due", "--within", "soon").startswith(
        "Error: Invalid value for '--within'"
    )


# --------------------------------------------------------------------------- card masking

CARD = "5500 0055 5555 5559"
CARD_DIGITS = CARD.replace(" ", "")
MASKED = "•••• 5559"
CARD_WARNING = (
    "Warning: masked a card number ending 5559 in {where} (only the last 4 digits are kept)"
)


def test_the_test_card_is_a_card() -> None:
    assert luhn_valid(CARD_DIGITS)


SETUP = ("case", "open", "Case for masking")
# field -> (command, the words the warning uses for where the card was)
FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "title": (("case", "open", f"Charge on {CARD}"), "the title"),
    "organization": (("case", "open", "x", "--org", f"Bank {CARD}"), "the organization name"),
    "merchant": (
        ("case", "open", "x", "--amount", "5", "--merchant", f"Shop {CARD}"),
        "the merchant",
    ),
    "open --note": (("case", "open", "x", "--note", f"card {CARD}"), "the note"),
    "follow-up text": (("case", "follow-up", "1", "1d", f"check {CARD}"), "the follow-up"),
    "note": (("case", "note", "1", f"my card is {CARD}"), "the note"),
    "contact --via": (
        ("case", "contact", "1", "--channel", "phone", "--via", CARD),
        "the number or address",
    ),
    "contact --agent": (
        ("case", "contact", "1", "--channel", "phone", "--agent", f"M {CARD}"),
        "the agent's name",
    ),
    "contact --agent-id": (
        ("case", "contact", "1", "--channel", "phone", "--agent-id", CARD),
        "the agent's id",
    ),
    "contact --summary": (
        ("case", "contact", "1", "--channel", "chat", "--summary", f"s {CARD}"),
        "the summary",
    ),
    "contact --promise": (
        ("case", "contact", "1", "--channel", "web", "--due", "1d", "--promise", CARD),
        "the promise",
    ),
    "promise": (("case", "promise", "1", f"new card {CARD}", "--due", "1d"), "the promise"),
    "escalate --note": (("case", "escalate", "1", "--note", f"read {CARD} aloud"), "the reason"),
    "resolve --outcome": (("case", "resolve", "1", "--outcome", f"new card {CARD}"), "the outcome"),
}
# A reference number is never masked (that would destroy it): one that looks like a card is
# refused, and kept as typed only when the user says it is not a card.
REFERENCES: dict[str, tuple[str, ...]] = {
    "open --ref": ("case", "open", "x", "--ref", CARD),
    "contact --ref": ("case", "contact", "1", "--channel", "phone", "--ref", f"R{CARD}"),
    "ref": ("case", "ref", "1", CARD.replace(" ", "-")),
}


def _card_in_store(db_url: str, home: Path) -> list[str]:
    """Where the card's digits can be found: raw SQLite files, or any text cell."""
    found = []
    needles = [CARD_DIGITS[:12].encode(), CARD[:14].encode(), CARD.replace(" ", "-")[:14].encode()]
    if db_url.startswith("sqlite"):
        for path in sorted(home.glob("tracker.db*")):
            raw = path.read_bytes()
            found += [f"{path.name}: {n!r}" for n in needles if n in raw]
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f"SELECT * FROM {table}")):
                    cells = " ".join(str(cell) for cell in row)
                    if CARD_DIGITS[:12] in cells.replace(" ", "").replace("-", ""):
                        found.append(f"{table}: {cells}")
    finally:
        engine.dispose()
    return found


def test_a_card_number_typed_into_any_field_is_masked_and_the_user_told_once(
    tracker: Tracker, clock: object, db_url: str, tracker_home: Path
) -> None:
    # One store for all fields (a store per field costs a database each on PostgreSQL);
    # the resolve comes last since it ends case 1.
    tracker.ok(*SETUP)
    for field, args in REFERENCES.items():
        before = tracker.ok("case", "show", "1", "--json")
        message = tracker.fails(2, *args)
        assert "looks like card data (" in message and "ending 5559" in message, field
        assert "--not-a-card" in message and CARD_DIGITS[:8] not in message, message
        assert tracker.ok("case", "show", "1", "--json") == before, field
        assert _card_in_store(db_url, tracker_home) == [], field
    for field, (args, where) in FIELDS.items():
        result = tracker(*args)

        assert result.exit_code == 0, (field, result.stderr)
        warning = CARD_WARNING.format(where=where)
        assert result.stderr.splitlines() == [warning], field
        assert CARD not in result.stdout, field
        assert _card_in_store(db_url, tracker_home) == [], field
    for case in tracker.json("case", "list", "--status", "all"):
        assert CARD not in tracker.ok("case", "show", str(case["id"]))
    shown = tracker.ok("case", "show", "1", "--json")
    assert shown.count(MASKED) >= 12


def test_a_reference_the_user_says_is_not_a_card_is_kept_exactly(
    tracker: Tracker, clock: object
) -> None:
    tracker.ok(*SETUP)
    # Two references that end in the same four digits stay two references.
    first, second = "DSP 4532 1000 0203 0366", "DSP 4532 1000 1003 0366"
    for ref in (first, second):
        assert tracker.fails(2, "case", "ref", "1", ref).startswith("Error: the reference")
        assert tracker.ok("case", "ref", "1", ref, "--not-a-card") == (
            f"Added reference {ref} (other) to case 1.\n"
        )
    shown = tracker.json("case", "show", "1")
    assert [r["value"] for r in shown["references"]] == [first, second]
    added = [e for e in shown["events"] if e["type"] == "reference_added"]
    assert [e.get("kept_as_typed") for e in added] == [True, True]
    assert tracker.ok("case", "ref", "1", first, "--not-a-card") == (
        f"Case 1 already has reference {first}.\n"
    )


def test_a_note_from_stdin_is_masked(
    tracker: Tracker, clock: object, db_url: str, tracker_home: Path
) -> None:
    tracker.ok(*SETUP)

    result = tracker("case", "note", "1", input=f"line one\ncard {CARD}, CVV 123\n")

    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "Warning: masked a card number ending 5559 and a security code in the note "
        "(only the last 4 digits are kept)"
    ]
    assert show(tracker)["notes"][0]["body"] == f"line one\ncard {MASKED}, CVV •••"
    assert _card_in_store(db_url, tracker_home) == []


def test_several_cards_in_one_command_give_one_warning(
    tracker: Tracker, clock: object, db_url: str, tracker_home: Path
) -> None:
    tracker.ok("db", "upgrade")  # so that the store's creation is not announced below
    result = tracker(
        "case", "open", f"t {CARD}", "--org", f"o {CARD}", "--note", f"n {CARD}",
    )  # fmt: skip

    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "Warning: masked a card number ending 5559 in the title, a card number ending 5559 in "
        "the organization name and a card number ending 5559 in the note "
        "(only the last 4 digits are kept)"
    ]
    assert _card_in_store(db_url, tracker_home) == []


def test_a_command_without_card_numbers_warns_nothing(tracker: Tracker, clock: object) -> None:
    tracker.ok("db", "upgrade")  # so that the store's creation is not announced below
    result = tracker(
        "case", "open", "Order 1234 5678 9012 on 2026-11-02", "--ref", "1-800-528-2122"
    )

    assert result.exit_code == 0
    assert result.stderr == ""
    assert show(tracker)["title"] == "Order 1234 5678 9012 on 2026-11-02"
