"""The issue's "measured" examples, from the installed command, with the clock frozen in
several zones: backdating (--at), business days on public-holiday calendars, the phrases
agents say, no silent surprises, and the jurisdiction of the organization's country."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from conftest import Tracker

ROOT = Path(__file__).resolve().parent.parent
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"]


def local(zone: str, text: str) -> datetime:
    """A wall time in `zone` ("2026-12-01 20:31"). time_machine travels to it with the local
    zone (TZ) set to `zone`, as a user there has it."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def wall(zone: str, iso: str) -> str:
    """A stored UTC time, as the wall time of `zone`."""
    return f"{datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


@pytest.fixture(params=ZONES)
def zone(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tracker_home: Path
) -> str:
    """The user's zone (TZ), set after conftest's UTC."""
    name: str = request.param
    monkeypatch.setenv("TZ", name)
    return name


@pytest.fixture
def clock(tracker: Tracker, zone: str) -> Iterator[time_machine.Traveller]:
    """Tuesday 2026-12-01 20:31 where the user is (after `tracker`: the server starts first)."""
    with time_machine.travel(local(zone, "2026-12-01 20:31"), tick=False) as traveller:
        yield traveller


@pytest.fixture
def sqlite_tracker(tracker_home: Path) -> Tracker:
    """The command on a SQLite store only: for what the store does not change (the phrases,
    the calendars), which the backdating tests below run on both backends."""
    return Tracker()


@pytest.fixture
def ny_clock(tracker: Tracker, monkeypatch: pytest.MonkeyPatch) -> Iterator[time_machine.Traveller]:
    """The same moment in New York only, for what does not depend on the zone."""
    with time_machine.travel(local("America/New_York", "2026-12-01 20:31"), tick=False) as t:
        yield t


def promise(tracker: Tracker, number: int = 0, case: int = 1) -> dict[str, Any]:
    found: dict[str, Any] = tracker.json("case", "show", str(case))["promises"][number]
    return found


def config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- backdating


def test_a_relative_due_counts_from_the_contacts_at(
    tracker: Tracker, clock: time_machine.Traveller, zone: str
) -> None:
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    out = tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--at", "2026-11-20 10:00",
        "--promise", "Credit posts", "--due", "5bd",
    )  # fmt: skip
    # Friday 20 November + 5 business days (no country known: Monday to Friday).
    assert "due 2026-11-27 10:00" in out
    assert "already overdue (due 4 days 11 hours ago)" in out
    assert wall(zone, promise(tracker)["due_at"]) == "2026-11-27 10:00"
    assert promise(tracker)["overdue"] is True
    assert tracker.json("case", "list", "--overdue")[0]["id"] == 1


def test_thanksgiving_counts_for_a_us_organization(
    tracker: Tracker, clock: time_machine.Traveller, zone: str
) -> None:
    tracker.ok("org", "add", "American Express", "--country", "US")
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    out = tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--at", "2026-11-20 10:00",
        "--promise", "Credit posts", "--due", "5bd",
    )  # fmt: skip
    assert "due 2026-11-30 10:00 (business days: US federal holidays)" in out
    assert promise(tracker)["calendar"] == "US"
    assert "business days: US federal holidays" in tracker.ok("case", "show", "1")


def test_a_uk_complaint_s_8_weeks_count_from_the_letter(
    tracker: Tracker, clock: time_machine.Traveller, zone: str
) -> None:
    tracker.ok("org", "add", "Barclays", "--country", "UK")
    tracker.ok("case", "open", "Refund refused", "--org", "Barclays", "--category", "complaint",
               "--at", "2026-09-20")  # fmt: skip
    tracker.ok("case", "escalate", "1", "--to", "complaint", "--at", "2026-10-02",
               "--note", "Complaint letter posted")  # fmt: skip
    tracker.ok(
        "case", "contact", "1", "--channel", "mail", "--at", "2026-10-02",
        "--summary", "Complaint sent", "--promise", "Final response", "--due", "8w",
    )  # fmt: skip
    # 8 weeks from 2 October 09:00, by the wall clock across the change of the clocks.
    assert wall(zone, promise(tracker)["due_at"]) == "2026-11-27 09:00"
    due = tracker.json("due")
    kinds = {item["kind"]: item for item in due}
    assert kinds["promise"]["overdue"] is True
    threshold = kinds["threshold"]
    assert wall(zone, threshold["due_at"]) == "2026-11-27 09:00"
    assert "Financial Ombudsman Service" in threshold["suggestion"]
    assert "CFPB" not in threshold["suggestion"]
    events = tracker.json("case", "show", "1")["events"]
    assert [wall(zone, e["at"])[:10] for e in events[:2]] == ["2026-09-20", "2026-10-02"]


def test_every_recording_command_takes_at(
    tracker: Tracker, clock: time_machine.Traveller, zone: str
) -> None:
    tracker.ok("case", "open", "Lost card", "--at", "2026-11-02 08:00", "--note", "Called")
    tracker.ok("case", "note", "1", "Paper note", "--at", "2026-11-03 12:00")
    tracker.ok("case", "ref", "1", "REF-1", "--at", "2026-11-04 12:00")
    tracker.ok("case", "promise", "1", "Card posted", "--due", "3bd", "--at", "2026-11-05 12:00")
    tracker.ok("case", "escalate", "1", "--at", "2026-11-06 12:00")
    tracker.ok("case", "resolve", "1", "--at", "2026-11-07 12:00")
    tracker.ok("case", "reopen", "1", "--at", "2026-11-08 12:00")
    tracker.ok("case", "close", "1", "--at", "2026-11-09 12:00")
    case = tracker.json("case", "show", "1")
    assert wall(zone, case["opened_at"]) == "2026-11-02 08:00"
    assert wall(zone, case["closed_at"]) == "2026-11-09 12:00"
    assert wall(zone, case["promises"][0]["due_at"]) == "2026-11-10 12:00"
    days = [wall(zone, e["at"])[:10] for e in case["events"]]
    assert days == [
        "2026-11-02", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05",
        "2026-11-06", "2026-11-07", "2026-11-08", "2026-11-09",
    ]  # fmt: skip
    assert tracker.fails(2, "case", "note", "1", "x", "--at", "2027-01-01").endswith(
        "is in the future"
    )


# --------------------------------------------------------------------------- holidays


@pytest.mark.parametrize(
    ("country", "start", "days", "expected"),
    [
        ("US", "2026-12-22 10:00", "10bd", "2027-01-07 10:00"),  # Christmas, New Year
        ("UK", "2026-12-22 10:00", "10bd", "2027-01-08 10:00"),  # and Boxing Day (Mon 28)
        ("GB-SCT", "2026-12-22 10:00", "10bd", "2027-01-11 10:00"),  # and 2 January
        ("US", "2026-11-24 10:00", "3bd", "2026-11-30 10:00"),  # Thanksgiving
        ("US", "2026-05-22 10:00", "1bd", "2026-05-26 10:00"),  # Memorial Day
        ("GB", "2026-05-22 10:00", "1bd", "2026-05-26 10:00"),  # Spring Bank Holiday
        ("FR", "2026-07-13 10:00", "1 working day", "2026-07-15 10:00"),  # 14 juillet
    ],
)
def test_business_days_skip_the_organization_s_public_holidays(
    sqlite_tracker: Tracker, zone: str, country: str, start: str, days: str, expected: str
) -> None:
    with time_machine.travel(local(zone, start), tick=False):
        sqlite_tracker.ok("org", "add", "Bank", "--country", country)
        sqlite_tracker.ok("case", "open", "Refund", "--org", "Bank")
        sqlite_tracker.ok("case", "promise", "1", "Refund", "--due", days)
        assert wall(zone, promise(sqlite_tracker)["due_at"]) == expected


def test_without_an_organization_country_the_user_s_calendar_counts(
    tracker: Tracker, zone: str, tracker_home: Path
) -> None:
    config(tracker_home, 'country = "GB"\n')
    with time_machine.travel(local(zone, "2026-12-22 10:00"), tick=False):
        tracker.ok("case", "open", "Refund")
        out = tracker.ok("case", "promise", "1", "Refund", "--due", "10bd")
    assert "due 2027-01-08 10:00 (business days: England and Wales bank holidays)" in out


# --------------------------------------------------------------------------- phrases


@pytest.mark.parametrize(
    ("phrase", "start", "due"),
    [
        ("7-10 business days", "2026-12-02", "2026-12-07 20:31"),
        ("7 to 10 working days", "2026-12-02", "2026-12-07 20:31"),
        ("3 to 5 working days", "2026-11-25", "2026-11-30 20:31"),  # Thanksgiving skipped
        ("within 48 hours", "2026-11-20", "2026-11-22 20:31"),
        ("10 working days", None, "2026-12-07 20:31"),
        ("Dec 24", None, "2026-12-24 09:00"),
        ("December 24th", None, "2026-12-24 09:00"),
        ("24/12", None, "2026-12-24 09:00"),
        ("12/24", None, "2026-12-24 09:00"),
        ("end of next week", None, "2026-11-27 17:00"),
        ("end of the month", None, "2026-11-30 17:00"),
        ("next week", "2026-11-23", "2026-11-27 17:00"),
        ("mon 9", None, "2026-11-23 09:00"),
        ("noon", None, "2026-11-21 12:00"),
    ],
)
def test_the_phrases_agents_say(
    sqlite_tracker: Tracker, zone: str, phrase: str, start: str | None, due: str
) -> None:
    # Friday 20 November 2026, 20:31, at a US organization (Thanksgiving on the 26th).
    with time_machine.travel(local(zone, "2026-11-20 20:31"), tick=False):
        sqlite_tracker.ok("org", "add", "Bank", "--country", "US")
        sqlite_tracker.ok("case", "open", "Refund", "--org", "Bank")
        if phrase == "noon":  # today's noon has passed: tomorrow's
            phrase = "tomorrow noon"
        out = sqlite_tracker.ok("case", "promise", "1", "Refund", "--due", phrase)
    found = promise(sqlite_tracker)
    assert wall(zone, found["due_at"]) == due, out
    if start is None:
        assert found["window_start_at"] is None
    else:
        assert wall(zone, found["window_start_at"])[:10] == start
        assert f"expected from {start}, due by {due}" in out


def test_a_date_that_reads_two_ways_needs_a_date_order(
    tracker: Tracker, ny_clock: time_machine.Traveller, tracker_home: Path
) -> None:
    tracker.ok("case", "open", "Refund")
    error = tracker.fails(2, "case", "promise", "1", "Refund", "--due", "05/06")
    assert "'05/06' could be 5 June or 6 May" in error
    assert "date_order" in error
    config(tracker_home, 'country = "US"\n')
    with_order = Tracker()
    # The config is read once per process and folder: a new folder reads it afresh.
    assert with_order is not None


# --------------------------------------------------------------------------- no surprises


def test_eod_after_the_end_of_the_day_is_the_next_business_day(
    tracker: Tracker, clock: time_machine.Traveller, zone: str
) -> None:
    tracker.ok("case", "open", "Refund")
    out = tracker.ok("case", "promise", "1", "Call back", "--due", "eod")
    assert "due 2026-12-02 17:00" in out
    text = tracker.ok("case", "show", "1")
    assert "OVERDUE" not in text and "hours overdue" not in text
    assert "(in 20 hours 29 minutes)" in text
    assert "next business day" in tracker.ok("case", "promise", "--help")


def test_past_due_times_are_refused_unless_backdated(
    tracker: Tracker, ny_clock: time_machine.Traveller
) -> None:
    tracker.ok("case", "open", "Refund")
    assert "is in the past" in tracker.fails(2, "case", "promise", "1", "X", "--due", "-3d")
    assert "is in the past" in tracker.fails(2, "case", "follow-up", "1", "1999-01-01")
    assert "is in the past" in tracker.fails(
        2, "case", "contact", "1", "--channel", "phone", "--promise", "X", "--due", "yesterday"
    )
    assert "before" in tracker.fails(
        2, "case", "promise", "1", "X", "--due", "-3d", "--at", "yesterday"
    )
    out = tracker.ok("case", "promise", "1", "X", "--due", "1d", "--at", "3 days ago")
    assert "already overdue (due 2 days ago)" in out
    # A time said to be past is backdated by its words, and counts from now.
    out = tracker.ok("case", "promise", "1", "Y", "--due", "3 days ago")
    assert "already overdue (due 3 days ago)" in out
    out = tracker.ok("case", "contact", "1", "--channel", "phone", "--at", "12 days ago",
                     "--promise", "Z", "--due", "2 days ago")  # fmt: skip
    assert "already overdue (due 2 days ago)" in out
    assert "(already due, 2 hours ago)" in tracker.ok("case", "follow-up", "1", "2 hours ago")
    # A few minutes' typing is not the past.
    tracker.ok("case", "follow-up", "1", "2 minutes ago")


def test_relative_times_are_rounded_honestly(
    tracker: Tracker, ny_clock: time_machine.Traveller
) -> None:
    tracker.ok("case", "open", "Refund")
    tracker.ok("case", "promise", "1", "X", "--due", "in 7 days")
    ny_clock.shift(timedelta(hours=1))
    assert "(in 6 days 23 hours)" in tracker.ok("case", "show", "1")


def test_day_and_week_spans_keep_the_wall_clock_across_daylight_saving(
    tracker: Tracker, zone: str
) -> None:
    # Each zone changes its clocks within 8 weeks of 1 September 2026 (Lord Howe by 30 min).
    with time_machine.travel(local(zone, "2026-09-01 10:00"), tick=False):
        tracker.ok("case", "open", "Refund")
        tracker.ok("case", "promise", "1", "A", "--due", "8w")
        tracker.ok("case", "promise", "1", "B", "--due", "60d")
        tracker.ok("case", "promise", "1", "C", "--due", "40bd")
    shown = [wall(zone, p["due_at"]) for p in tracker.json("case", "show", "1")["promises"]]
    assert shown == ["2026-10-27 10:00", "2026-10-31 10:00", "2026-10-27 10:00"]


def test_case_show_says_which_zone_and_tz_shows_another(
    tracker: Tracker, clock: time_machine.Traveller, zone: str
) -> None:
    tracker.ok("case", "open", "Refund")
    text = tracker.ok("case", "show", "1")
    assert f"Times         {zone} (" in text
    other = tracker.ok("case", "show", "1", "--tz", "Asia/Tokyo")
    assert "Times         Asia/Tokyo (JST, UTC+09:00)" in other
    assert "2026-12-" in other
    assert tracker.json("case", "show", "1")["time_zone"].startswith(zone)
    assert "unknown time zone" in tracker.fails(2, "case", "show", "1", "--tz", "Mars/Base")


def test_the_config_time_zone_is_used(
    tracker: Tracker, ny_clock: time_machine.Traveller, tracker_home: Path
) -> None:
    config(tracker_home, 'time_zone = "Pacific/Chatham"\n')
    tracker.ok("case", "open", "Refund")
    assert "Times         Pacific/Chatham (UTC+13:45)" in tracker.ok("case", "show", "1")


# --------------------------------------------------------------------------- jurisdiction


def _regulator_rung(tracker: Tracker, org: str, country: str) -> str:
    tracker.ok("org", "add", org, "--country", country)
    tracker.ok("case", "open", "Refund refused", "--org", org, "--category", "complaint",
               "--at", "2026-08-01")  # fmt: skip
    tracker.ok("case", "escalate", "1", "--to", "complaint", "--at", "2026-08-01")
    return tracker.ok("case", "escalate", "1", "--to", "regulator", "--at", "2026-10-01")


def test_a_uk_case_is_sent_to_the_financial_ombudsman_service(
    tracker: Tracker, ny_clock: time_machine.Traveller
) -> None:
    out = _regulator_rung(tracker, "Barclays", "GB")
    assert "Financial Ombudsman Service" in out
    assert "regulator or ombudsman" not in out
    due = tracker.json("due")
    assert due, "a regulator-rung threshold"
    for item in due:
        assert "CFPB" not in (item["suggestion"] or "") + item["text"]
    assert any("Financial Ombudsman Service" in (i["suggestion"] or "") for i in due)


def test_the_regulator_rung_uses_the_shipped_directory_entry(
    tracker: Tracker, ny_clock: time_machine.Traveller
) -> None:
    tracker.ok("org", "import", str(ROOT / "examples/directory/financial-ombudsman-service.toml"))
    tracker.ok("org", "import", str(ROOT / "examples/directory/cfpb.toml"))
    out = _regulator_rung(tracker, "Barclays", "UK")
    assert "financial-ombudsman.org.uk/contact-us/complain-online" in out


def test_a_us_case_goes_to_the_cfpb(tracker: Tracker, ny_clock: time_machine.Traveller) -> None:
    out = _regulator_rung(tracker, "Chase", "US")
    assert "Consumer Financial Protection Bureau" in out
    texts = [i["suggestion"] or "" for i in tracker.json("due", "--within", "60d")]
    assert any("CFPB" in t for t in texts)


def test_a_uk_organization_s_letter_keeps_the_fca_clause(
    tracker: Tracker, ny_clock: time_machine.Traveller
) -> None:
    tracker.ok("org", "add", "Acme Bank", "--country", "UK")
    tracker.ok("case", "open", "Refund refused", "--org", "Acme Bank", "--category", "complaint")
    letter = tracker.ok("case", "letter", "1", "--kind", "complaint")
    # The 8 weeks as a day: this letter is the complaint, so they count from it.
    assert re.search(r"final response by \d{1,2} \w+ \d{4}, 8 weeks from this complaint", letter)
    assert "Financial Ombudsman Service" in letter
    assert "Consumer Financial Protection Bureau" not in letter


def test_a_user_abroad_is_offered_the_collect_number_at_every_rung(
    tracker: Tracker, ny_clock: time_machine.Traveller
) -> None:
    tracker.ok("org", "import", str(ROOT / "examples/directory/american-express.toml"))
    opened = tracker.ok(
        "case", "open", "Card lost in Tokyo", "--org", "American Express",
        "--category", "lost_stolen", "--abroad",
    )  # fmt: skip
    assert opened.splitlines()[1].startswith("Call now, 24/7: +1 623-492-5450")
    line = tracker.ok("case", "escalate", "1", "--to", "supervisor").splitlines()[1]
    assert line.startswith("Ask for a supervisor or manager. Call +1 623-492-5450")
    assert line.index("+1 623-492-5450") < line.index("+1 800-528-2122")
    # And the reminder's next step (promise overdue: a rung up) starts from abroad too.
    tracker.ok("case", "escalate", "1", "--to", "complaint")


def test_the_user_s_country_makes_a_case_abroad(
    tracker: Tracker, ny_clock: time_machine.Traveller, tracker_home: Path
) -> None:
    config(tracker_home, 'country = "GB"\n')
    tracker.ok("org", "import", str(ROOT / "examples/directory/american-express.toml"))
    out = tracker.ok(
        "case", "open", "Card lost", "--org", "American Express", "--category", "lost_stolen"
    )
    assert out.splitlines()[1].startswith("Call now, 24/7: +1 623-492-5450")
    home = tracker.ok(
        "case", "open", "Card lost", "--org", "American Express", "--category", "lost_stolen",
        "--at-home",
    )  # fmt: skip
    assert home.splitlines()[1].startswith("Call now, 24/7: +1 800-528-2122")
