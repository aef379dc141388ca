"""The transcript parser (tracker.transcript) on each format it reads: who the agents and the
bots are, when the chat was, how long, the reference numbers and the promises with their
due times on a calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tracker.errors import UsageError
from tracker.transcript import due_of, html_to_text, parse, place
from tracker.when import WEEKDAYS, calendar_for

FILES = Path(__file__).parent / "transcripts"
NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def read(name: str) -> str:
    return (FILES / name).read_text(encoding="utf-8")


def test_timestamped_lines_with_a_title_date() -> None:
    found = parse(read("timestamped.txt"))
    assert found.agents == ["Jessica"] and found.bots == []
    assert found.start == datetime(2026, 11, 24, 14, 2)
    assert found.end == datetime(2026, 11, 24, 14, 13)
    assert found.duration == timedelta(minutes=11)
    assert [(r.value, r.kind) for r in found.references] == [
        ("DSP-2026-99812", "dispute"),
        ("CHAT-5531", None),
    ]
    assert [(p.due, p.by) for p in found.promises] == [
        ("7-10 business days", "company"),
        ("friday", "company"),
        ("monday", "me"),  # "I'll send the receipts by Monday": the user's own promise
    ]
    # The user's lines are not the agent's, and a message running over two lines is one.
    roles = {m.speaker: m.role for m in found.messages if m.speaker}
    assert roles == {"Jessica": "agent", "You": "user"}
    assert any("DSP-2026-99812" in m.text and m.speaker == "Jessica" for m in found.messages)


def test_seconds_and_no_brackets() -> None:
    text = (
        "2026-11-24 14:02:13 Sam (Northwind): Hi, how can I help?\n"
        "14:02:40 You: Where is my refund?\n"
        "14:05:01 Sam (Northwind): It will post within 2 business days. Ticket #A12345.\n"
    )
    found = parse(text)
    assert found.agents == ["Sam"]
    assert found.start == datetime(2026, 11, 24, 14, 2, 13)
    assert found.duration == timedelta(minutes=2, seconds=48)
    assert [r.value for r in found.references] == ["A12345"]
    assert [p.due for p in found.promises] == ["within 2 business days"]


def test_a_label_that_is_no_one_is_not_a_speaker() -> None:
    text = (
        "[09:00] Sam (Acme): Your case is open.\n"
        "Reference number: AB-12345\n"
        "[09:01] You: thanks\n"
        "Note: reply by email\n"
    )
    found = parse(text)
    assert found.agents == ["Sam"]
    assert [r.value for r in found.references] == ["AB-12345"]
    assert "Reference number: AB-12345" in found.messages[0].text  # runs on from Sam's line


def test_speaker_lines_under_a_header() -> None:
    found = parse(read("header.txt"))
    assert found.agents == ["Marcus"]  # "Agent:" named in "you're chatting with Marcus"
    assert found.generic_agent
    assert found.start == datetime(2026, 11, 24, 14, 2)
    assert found.end == datetime(2026, 11, 24, 14, 31)
    assert found.duration == timedelta(minutes=29)
    assert [r.value for r in found.references] == ["44718235"]
    assert [(p.text, p.due) for p in found.promises] == [
        ("A replacement card will arrive by Friday.", "friday"),
        ("We'll call you back within 48 hours.", "within 48 hours"),
    ]


def test_a_bot_handing_over_to_an_agent() -> None:
    found = parse(read("handover.txt"), order="DMY")
    assert found.bots == ["Virtual Assistant"]
    assert found.agents == ["Priya"] and found.handed_over
    assert found.agent_id == "PR-2231"
    assert found.start == datetime(2026, 11, 3, 14, 2)
    assert found.duration == timedelta(minutes=9)
    assert [r.value for r in found.references] == ["D-4471-2026"]
    assert [p.due for p in found.promises] == ["3-5 business days"]
    # The same file in month-first order is 11 March.
    assert parse(read("handover.txt"), order="MDY").start == datetime(2026, 3, 11, 14, 2)


def test_an_ambiguous_date_is_refused_not_guessed() -> None:
    with pytest.raises(UsageError, match="could be 3 November or 11 March; set date_order"):
        parse(read("handover.txt"), order=None)


def test_a_date_the_file_proves_wins_over_the_users_order() -> None:
    text = "13/11/2026 10:00 You: hello\n03/11/2026 10:05 Agent: hi\n"
    assert parse(text, order="MDY").start == datetime(2026, 11, 13, 10, 0)
    with pytest.raises(UsageError, match="both day-first and month-first"):
        parse("13/11/2026 10:00 You: a\n11/13/2026 10:05 Agent: b\n")


def test_html_transcript() -> None:
    html = read("handover-html.html")
    assert "5555" not in html_to_text(html)  # scripts and styles are not text
    found = parse(html)
    assert found.bots == ["Contoso Bot"] and found.agents == ["Daniel"]
    assert found.start == datetime(2026, 11, 24, 14, 2)
    assert found.end == datetime(2026, 11, 24, 14, 24)
    assert [(r.value, r.kind) for r in found.references] == [("RF-88213", "claim")]
    assert [p.due for p in found.promises] == ["within 14 days"]


def test_an_emailed_transcript_takes_the_day_it_was_sent() -> None:
    found = parse(read("emailed.eml"))
    assert found.agents == ["Jessica"]  # "Alex Doe" is the other one, who did not greet
    assert found.start == datetime(2026, 11, 24, 14, 2)  # "Jessica (2:02 PM)", Date: 24 Nov
    assert found.duration == timedelta(minutes=7)
    assert [(r.value, r.kind) for r in found.references] == [("CMP-77120", "complaint")]
    assert [p.due for p in found.promises] == ["within 2 business days"]
    assert not any(m.speaker in ("From", "Subject", "Date") for m in found.messages)


def test_an_encoded_email_is_refused_not_stored_unmasked() -> None:
    encoded = read("emailed.eml").replace("8bit", "quoted-printable")
    with pytest.raises(UsageError, match=r"encoded email \(text/plain, quoted-printable\)"):
        parse(encoded)


def test_times_without_a_date() -> None:
    text = "[23:50] Agent: Hi, my name is Lee. How can I help?\n[00:10] You: Thanks, bye\n"
    found = parse(text)
    assert found.start is None and found.first_clock == time(23, 50)
    assert found.duration == timedelta(minutes=20)  # past midnight
    assert found.agents == ["Lee"]
    with pytest.raises(UsageError, match=r"gives times .23:50. but no date; .*--at"):
        place(found, zone=UTC, calendar=WEEKDAYS, order=None, now=NOW)
    placed = place(
        found,
        zone=UTC,
        calendar=WEEKDAYS,
        order=None,
        at=datetime(2026, 11, 20, 23, 50, tzinfo=UTC),
        now=NOW,
    )
    assert placed.at == datetime(2026, 11, 20, 23, 50, tzinfo=UTC)
    assert placed.end == datetime(2026, 11, 21, 0, 10, tzinfo=UTC)


def test_a_header_that_says_today() -> None:
    found = parse(
        "Chat started today 09:15\nYou: hi\nAgent: hello\nChat ended 09:20\n",
        today=date(2026, 11, 26),
    )
    assert found.start == datetime(2026, 11, 26, 9, 15)
    assert found.duration == timedelta(minutes=5)


def test_the_users_name_is_not_an_agent() -> None:
    text = "Jessica: Hi, thanks for contacting us!\nAlex Doe: my card was charged twice\n"
    assert parse(text).agents == ["Jessica"]  # two names: the one who greets is the agent
    assert parse(text, me=["Alex Doe"]).agents == ["Jessica"]
    unclear = parse("Jo: hello\nSam: hello\n")
    assert unclear.agents == [] and unclear.unplaced == ["Jo", "Sam"]


def test_promises_are_placed_on_the_zone_and_the_calendar() -> None:
    found = parse(read("timestamped.txt"))
    placed = place(found, zone=LONDON, calendar=calendar_for("GB"), order="DMY", now=NOW)
    assert placed.at == datetime(2026, 11, 24, 14, 2, tzinfo=UTC)  # London is UTC in November
    credit, letter, receipts = placed.promises
    # 7-10 business days from 14:09 on Tue 24 Nov: from Thu 3 Dec, due Tue 8 Dec.
    assert credit.window_start == datetime(2026, 12, 3, 14, 9, tzinfo=UTC)
    assert credit.due == datetime(2026, 12, 8, 14, 9, tzinfo=UTC) and credit.business_days
    assert letter.due == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # that Friday
    assert receipts.by == "me" and receipts.due == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    # --at moves the whole chat, and the promises with it.
    moved = place(
        found,
        zone=LONDON,
        calendar=WEEKDAYS,
        order=None,
        at=datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
        now=NOW,
    )
    assert moved.end == datetime(2026, 11, 10, 9, 11, tzinfo=UTC)
    assert moved.promises[0].said == datetime(2026, 11, 10, 9, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sentence", "due"),
    [
        ("You will receive a credit within 7-10 business days.", "7-10 business days"),
        ("We'll call you back within 48 hours.", "within 48 hours"),
        ("A replacement card will arrive by Friday.", "friday"),
        ("The refund should post in two weeks.", "in 2 weeks"),
        ("You'll get a letter by the end of the week.", "eow"),
        ("It will be sent by December 4th.", "december 4th"),
        ("We will review it by next Monday.", "next monday"),
        ("Expect an email tomorrow.", "tomorrow"),
        ("You received a credit 3 days ago.", None),  # a report, not a promise
        ("The charge was on Friday.", None),
        ("We will look into it.", None),  # a promise without a time
    ],
)
def test_due_phrases(sentence: str, due: str | None) -> None:
    assert due_of(sentence) == due
