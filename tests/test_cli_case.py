"""`tracker case open|note|list|show`: the case store, through the real CLI (issue 2)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click
import pytest
import time_machine
from conftest import Tracker
from sqlalchemy import create_engine, text

from tracker.vocabulary import CATEGORIES

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
CASE_KEYS = {
    "id",
    "title",
    "organization",
    "category",
    "status",
    "escalation_level",
    "opened_at",
    "resolved_at",
    "account_last4",
    "amount",
    "currency",
    "merchant",
    "transaction_date",
}
TABLES = (
    "organizations",
    "cases",
    "interactions",
    "reference_numbers",
    "promises",
    "follow_ups",
    "notes",
    "changes",
    "events",
)
DISPUTE = (
    "case",
    "open",
    "Disputed charge at ACME Hardware",
    "--org",
    "American Express",
    "--category",
    "dispute",
    "--account",
    "1005",
    "--amount",
    "129.99",
    "--currency",
    "usd",
    "--merchant",
    "ACME Hardware",
    "--txn-date",
    "2026-11-02",
    "--ref",
    "D-4471",
)


def row_counts(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- case open


def test_open_records_every_detail_and_says_so(tracker: Tracker, clock: object) -> None:
    assert tracker.ok(*DISPUTE) == "Opened case 1: Disputed charge at ACME Hardware\n"

    case = tracker.json("case", "show", "1")
    assert case["title"] == "Disputed charge at ACME Hardware"
    assert case["organization"] == "American Express"
    assert case["category"] == "dispute"
    assert case["status"] == "open"
    assert case["escalation_level"] == "frontline"
    assert case["opened_at"] == "2026-11-26T14:00:00+00:00"
    assert case["resolved_at"] is None
    assert case["account_last4"] == "1005"
    assert case["amount"] == "129.99"
    assert case["currency"] == "USD"
    assert case["merchant"] == "ACME Hardware"
    assert case["transaction_date"] == "2026-11-02"
    assert [(r["value"], r["kind"]) for r in case["references"]] == [("D-4471", "other")]


def test_open_with_note_and_follow_up(tracker: Tracker, clock: object) -> None:
    tracker.ok(
        "case", "open", "Card lost in Lisbon", "--note", "Lost near the tram", "--follow-up", "3d"
    )

    case = tracker.json("case", "show", "1")
    assert [n["body"] for n in case["notes"]] == ["Lost near the tram"]
    assert [f["due_at"] for f in case["follow_ups"]] == ["2026-11-29T14:00:00+00:00"]
    assert case["organization"] is None
    assert case["category"] == "other"


def test_open_json_prints_the_case(tracker: Tracker, clock: object) -> None:
    case = tracker.json(*DISPUTE)

    assert case["id"] == 1
    assert set(case) >= CASE_KEYS
    assert [e["type"] for e in case["events"]] == ["opened", "reference_added"]


def test_amount_is_an_exact_decimal_string(tracker: Tracker, clock: object) -> None:
    tracker.ok("case", "open", "a", "--amount", "0.10")
    tracker.ok("case", "open", "b", "--amount", "1,234.5678")
    tracker.ok("case", "open", "c", "--amount", "10000000000000.01")

    amounts = {c["title"]: c["amount"] for c in tracker.json("case", "list")}
    assert amounts == {"a": "0.10", "b": "1234.5678", "c": "10000000000000.01"}


def test_organization_is_created_once_and_matched_case_insensitively(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("case", "open", "first", "--org", "American Express")
    tracker.ok("case", "open", "second", "--org", "american express")
    tracker.ok("case", "open", "third", "--org", "  AMERICAN EXPRESS ")

    assert {c["organization"] for c in tracker.json("case", "list")} == {"American Express"}
    assert row_counts(db_url)["organizations"] == 1


# --------------------------------------------------------------------------- errors


def test_show_unknown_case(tracker: Tracker, clock: object) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    assert tracker.fails(1, "case", "show", "999") == "Error: no case 999"
    assert tracker.fails(1, "case", "show", "999", "--json") == "Error: no case 999"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("case", "open", ""), "Error: the title must not be empty"),
        (("case", "open", "   "), "Error: the title must not be empty"),
        (
            ("case", "open", "x", "--amount", "abc"),
            "Error: Invalid value for '--amount': invalid amount 'abc': give a number such as "
            "129.99",
        ),
        (
            ("case", "open", "x", "--amount", "-5"),
            "Error: Invalid value for '--amount': invalid amount '-5': give the amount as a "
            "positive number",
        ),
        (
            ("case", "open", "x", "--category", "nonsense"),
            "Error: Invalid value for '--category': unknown category 'nonsense'; choose one of: "
            + ", ".join(CATEGORIES)
            + "",
        ),
        (
            ("case", "open", "x", "--txn-date", "2026-13-40"),
            "Error: Invalid value for '--txn-date': invalid date '2026-13-40'",
        ),
        (
            ("case", "open", "x", "--account", "12"),
            "Error: Invalid value for '--account': invalid account '12': give only the last 4 "
            "digits of the card or account",
        ),
        (
            ("case", "open", "x", "--account", "4111111111111111"),
            "Error: Invalid value for '--account': invalid account",
        ),
        (("case", "open", "x", "--currency", "USD"), "Error: --currency needs --amount"),
        (
            ("case", "open", "x", "--amount", "5", "--currency", "dollars"),
            "Error: Invalid value for '--currency': invalid currency 'dollars'",
        ),
        (
            ("case", "open", "x", "--follow-up", "someday"),
            "Error: Invalid value for '--follow-up': cannot read 'someday' as a time",
        ),
    ],
)
def test_open_refuses_bad_input_with_exit_2(
    tracker: Tracker, clock: object, db_url: str, args: tuple[str, ...], message: str
) -> None:
    tracker.ok("case", "open", "existing", "--org", "Amex")
    before = row_counts(db_url)

    assert tracker.fails(2, *args).startswith(message)

    assert row_counts(db_url) == before


def test_a_failure_after_the_first_write_leaves_nothing_behind(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("db", "upgrade")  # creates the store
    before = row_counts(db_url)

    assert (
        tracker.fails(2, "case", "open", "x", "--org", "New Org", "--ref", "R-1", "--ref", " ")
        == "Error: the reference number must not be empty"
    )
    assert (
        tracker.fails(2, "case", "open", "x", "--org", "New Org", "--note", "\n")
        == "Error: the note is empty; nothing was saved"
    )

    assert row_counts(db_url) == before
    assert tracker.json("case", "list", "--status", "all") == []


# --------------------------------------------------------------------------- case note


def test_note_from_the_argument(tracker: Tracker, clock: object) -> None:
    tracker.ok("case", "open", "x")

    assert tracker.ok("case", "note", "1", "Statement shows the charge twice.") == (
        "Added note 1 to case 1.\n"
    )

    notes = tracker.json("case", "show", "1")["notes"]
    assert notes == [
        {"id": 1, "at": "2026-11-26T14:00:00+00:00", "body": "Statement shows the charge twice."}
    ]


def test_note_from_a_pipe_keeps_every_line(tracker: Tracker, clock: object) -> None:
    tracker.ok("case", "open", "x")

    tracker.ok("case", "note", "1", input="Called at 9.\nAgent: Maria\n\n  indented line\n")
    tracker.ok("case", "note", "1", "-", input="from a dash\n")

    bodies = [n["body"] for n in tracker.json("case", "show", "1")["notes"]]
    assert bodies == ["Called at 9.\nAgent: Maria\n\n  indented line", "from a dash"]


def test_note_with_nothing_on_stdin_saves_nothing(
    tracker: Tracker, clock: object, db_url: str
) -> None:
    tracker.ok("case", "open", "x")
    before = row_counts(db_url)

    error = tracker.fails(2, "case", "note", "1", input="  \n\n")

    assert error == "Error: the note is empty; nothing was saved"
    assert row_counts(db_url) == before


@pytest.mark.inprocess
def test_note_opens_the_editor_on_a_terminal(
    tracker: Tracker, clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker.ok("case", "open", "x")
    monkeypatch.setattr("tracker.cli.case._stdin_is_tty", lambda: True)
    seen: list[str] = []

    def fake_edit(template: str) -> str:
        seen.append(template)
        return "#4471 is the agent's badge\nShe promised a callback\n" + template

    monkeypatch.setattr(click, "edit", fake_edit)

    tracker.ok("case", "note", "1")

    assert "Write the note above" in seen[0]
    body = tracker.json("case", "show", "1")["notes"][0]["body"]
    assert body == "#4471 is the agent's badge\nShe promised a callback"


def test_note_runs_the_real_editor_from_EDITOR(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Not frozen: the editor is a real process and click compares file times.
    tracker.ok("case", "open", "x")
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Typed in the editor\\n" > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setattr("tracker.cli.case._stdin_is_tty", lambda: True)

    tracker.ok("case", "note", "1")

    assert tracker.json("case", "show", "1")["notes"][0]["body"] == "Typed in the editor"


def test_note_left_unsaved_in_the_editor_saves_nothing(
    tracker: Tracker, clock: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker.ok("case", "open", "x")
    monkeypatch.setattr("tracker.cli.case._stdin_is_tty", lambda: True)
    monkeypatch.setattr(click, "edit", lambda template: None)

    assert tracker.fails(2, "case", "note", "1") == "Error: the note is empty; nothing was saved"
    assert tracker.json("case", "show", "1")["notes"] == []


def test_note_on_unknown_case(tracker: Tracker, clock: object) -> None:
    assert tracker.fails(1, "case", "note", "7", "hello") == "Error: no case 7"


# --------------------------------------------------------------------------- case list


def _open_three(tracker: Tracker, clock: time_machine.Traveller) -> None:
    tracker.ok(
        "case", "open", "Lost card", "--org", "American Express", "--category", "lost_stolen"
    )
    clock.shift(timedelta(hours=1))
    tracker.ok("case", "open", "Double charge", "--org", "Chase", "--category", "dispute")
    clock.shift(timedelta(hours=1))
    tracker.ok(
        "case", "open", "Points missing", "--org", "American Express", "--category", "rewards"
    )
    clock.shift(timedelta(hours=1))


def test_list_most_recent_activity_first(tracker: Tracker, clock: time_machine.Traveller) -> None:
    _open_three(tracker, clock)
    assert [c["id"] for c in tracker.json("case", "list")] == [3, 2, 1]

    tracker.ok("case", "note", "1", "any activity moves a case up")

    assert [c["id"] for c in tracker.json("case", "list")] == [1, 3, 2]


def test_list_json_has_every_case_key(tracker: Tracker, clock: time_machine.Traveller) -> None:
    tracker.ok(*DISPUTE)

    [case] = tracker.json("case", "list")

    assert set(case) >= CASE_KEYS
    assert case["amount"] == "129.99"
    for key in ("opened_at", "last_activity_at"):
        assert ISO_UTC.match(case[key]), case[key]


def test_list_filters(tracker: Tracker, clock: time_machine.Traveller) -> None:
    _open_three(tracker, clock)
    tracker.ok("case", "resolve", "2")

    def ids(*args: str) -> list[int]:
        return [c["id"] for c in tracker.json("case", "list", *args)]

    assert ids() == [3, 1]
    assert ids("--status", "all") == [2, 3, 1]
    assert ids("--status", "resolved") == [2]
    assert ids("--status", "OPEN") == [3, 1]
    assert ids("--org", "AMERICAN EXPRESS") == [3, 1]
    assert ids("--org", "chase", "--status", "all") == [2]
    assert ids("--org", "Nobody") == []
    assert ids("--category", "rewards") == [3]
    assert ids("--limit", "1") == [3]
    assert ids("--status", "all", "--limit", "2") == [2, 3]


def test_list_overdue_shows_cases_with_a_promise_past_due(
    tracker: Tracker, clock: time_machine.Traveller
) -> None:
    _open_three(tracker, clock)
    tracker.ok("case", "promise", "1", "Call back", "--due", "tomorrow 9am")
    tracker.ok("case", "promise", "3", "Send a letter", "--due", "in 5 days")

    assert tracker.json("case", "list", "--overdue") == []

    clock.shift(timedelta(days=2))
    [case] = tracker.json("case", "list", "--overdue")
    assert (case["id"], case["overdue_promise_count"]) == (1, 1)
    assert "Lost card [1 overdue]" in tracker.ok("case", "list")


def test_list_bad_filters_exit_2(tracker: Tracker, clock: object) -> None:
    assert tracker.fails(2, "case", "list", "--status", "bogus") == (
        "Error: Invalid value for '--status': unknown status 'bogus'; choose one of: open, "
        "waiting, escalated, resolved, closed, all (see 'tracker case list --help')"
    )
    assert tracker.fails(2, "case", "list", "--category", "bad").startswith(
        "Error: Invalid value for '--category': unknown category 'bad'"
    )
    assert tracker.fails(2, "case", "list", "--limit", "0").startswith(
        "Error: Invalid value for '--limit'"
    )


def test_list_is_tab_separated_in_a_pipe(tracker: Tracker, clock: time_machine.Traveller) -> None:
    _open_three(tracker, clock)

    lines = tracker.ok("case", "list").splitlines()

    assert lines[0] == "ID\tSTATUS\tLEVEL\tORGANIZATION\tCATEGORY\tLAST ACTIVITY\tTITLE"
    assert (
        lines[1]
        == "3\topen\tfrontline\tAmerican Express\trewards\t2026-11-26 16:00\tPoints missing"
    )
    assert len(lines) == 4


def test_list_is_an_aligned_table_on_a_terminal(
    tracker: Tracker, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_three(tracker, clock)
    monkeypatch.setattr("tracker.views.base.stdout_is_tty", lambda: True)

    out = tracker.ok("case", "list")

    assert out == (
        "ID  STATUS  LEVEL      ORGANIZATION      CATEGORY     LAST ACTIVITY     TITLE\n"
        "3   open    frontline  American Express  rewards      2026-11-26 16:00  Points missing\n"
        "2   open    frontline  Chase             dispute      2026-11-26 15:00  Double charge\n"
        "1   open    frontline  American Express  lost_stolen  2026-11-26 14:00  Lost card\n"
    )


def test_list_with_no_cases(tracker: Tracker, clock: object) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    result = tracker("case", "list")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No active cases" in result.stderr
    assert tracker.json("case", "list") == []


# --------------------------------------------------------------------------- case show


def test_show_json_has_every_section_and_iso_utc_times(
    tracker: Tracker, clock: time_machine.Traveller
) -> None:
    tracker.ok(*DISPUTE, "--note", "first note", "--follow-up", "mon 9am")
    clock.shift(timedelta(minutes=30))
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--agent", "Maria", "--ref", "CALL-1",
        "--promise", "Provisional credit", "--due", "10bd",
    )  # fmt: skip

    case = tracker.json("case", "show", "1")

    assert CASE_KEYS | {"interactions", "references", "promises", "follow_ups", "notes"} <= set(
        case
    )
    assert [e["type"] for e in case["events"]] == [
        "opened",
        "reference_added",
        "note",
        "follow_up_set",
        "interaction",
        "reference_added",
        "promise_made",
    ]
    ats = [e["at"] for e in case["events"]]
    assert ats == sorted(ats)
    assert all(ISO_UTC.match(at) for at in ats)
    for section in ("interactions", "references", "promises", "follow_ups", "notes"):
        assert len(case[section]) >= 1, section
    assert case["follow_ups"][0]["due_at"] == "2026-11-30T09:00:00+00:00"
    assert case["promises"][0]["due_at"] == "2026-12-10T14:30:00+00:00"
    for event in case["events"]:
        assert not {"case_before", "created", "promise_before"} & set(event)
        assert event["undone"] is False


def test_show_renders_the_case_and_its_timeline(
    tracker: Tracker, clock: time_machine.Traveller
) -> None:
    tracker.ok(*DISPUTE, "--note", "Charged twice\nsee statement")
    clock.shift(timedelta(hours=1))

    out = tracker.ok("case", "show", "1")

    assert out == (
        "Case 1: Disputed charge at ACME Hardware\n"
        "  Organization  American Express\n"
        "  Category      dispute\n"
        "  Status        open (level: frontline)\n"
        "  Times         UTC\n"
        "  Opened        2026-11-26 14:00\n"
        "  Account       ending 1005\n"
        "  Merchant      ACME Hardware\n"
        "  Amount        129.99 USD\n"
        "  Transaction   2026-11-02\n"
        "  References    D-4471 (other)\n"
        "\n"
        "Notes\n"
        "  2026-11-26 14:00  Charged twice\n"
        "                    see statement\n"
        "\n"
        "Timeline\n"
        "  2026-11-26 14:00  opened           Opened: Disputed charge at ACME Hardware\n"
        "  2026-11-26 14:00  reference added  Reference D-4471 (other)\n"
        "  2026-11-26 14:00  note             Charged twice\n"
    )
