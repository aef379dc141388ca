"""A corpus of the phrasings agents and users say, with what each must mean (or why it is
refused), read in four zones; and how fast the strict grammar reads them.

The moment is Friday 20 November 2026, 20:31 where the user is; the organization is in the
US (Thanksgiving is Thursday 26 November); no date order is configured unless a case says so.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tracker.when import WhenError, calendar_for, parse_window

ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"]
NOW = "2026-11-20 20:31"  # a Friday evening

# (phrase, due as a wall time, window start day or None)
ACCEPTED: list[tuple[str, str, str | None]] = [
    ("now", "2026-11-20 20:31", None),
    ("tomorrow", "2026-11-21 09:00", None),
    ("tomorrow 9am", "2026-11-21 09:00", None),
    ("tomorrow at 14:30", "2026-11-21 14:30", None),
    ("tomorrow noon", "2026-11-21 12:00", None),
    ("mon", "2026-11-23 09:00", None),
    ("monday", "2026-11-23 09:00", None),
    ("next monday", "2026-11-23 09:00", None),
    ("mon 9", "2026-11-23 09:00", None),
    ("monday 2", "2026-11-23 14:00", None),
    ("mon 10:30", "2026-11-23 10:30", None),
    ("fri 2pm", "2026-11-27 14:00", None),
    ("by fri", "2026-11-27 09:00", None),
    ("on tuesday", "2026-11-24 09:00", None),
    ("last fri", "2026-11-13 09:00", None),
    ("2026-12-01", "2026-12-01 09:00", None),
    ("2026-12-01 14:30", "2026-12-01 14:30", None),
    ("Dec 24", "2026-12-24 09:00", None),
    ("dec 24", "2026-12-24 09:00", None),
    ("Dec. 24", "2026-12-24 09:00", None),
    ("December 24th", "2026-12-24 09:00", None),
    ("December 24, 2026", "2026-12-24 09:00", None),
    ("24 Dec", "2026-12-24 09:00", None),
    ("24th of December", "2026-12-24 09:00", None),
    ("the 24th of December 2026", "2026-12-24 09:00", None),
    ("on Dec 24 at 3pm", "2026-12-24 15:00", None),
    ("dec 24 9", "2026-12-24 09:00", None),
    ("Jan 5", "2027-01-05 09:00", None),  # the next one
    ("sept 1", "2027-09-01 09:00", None),
    ("24/12", "2026-12-24 09:00", None),
    ("12/24", "2026-12-24 09:00", None),
    ("24.12.2026", "2026-12-24 09:00", None),
    ("2026/12/24", "2026-12-24 09:00", None),
    ("thu 24 dec", "2026-12-24 09:00", None),
    ("eod", "2026-11-23 17:00", None),  # after 17:00 on a Friday: Monday's
    ("end of day", "2026-11-23 17:00", None),
    ("end of the day", "2026-11-23 17:00", None),
    ("cob", "2026-11-23 17:00", None),
    ("close of business", "2026-11-23 17:00", None),
    ("eow", "2026-11-27 17:00", None),
    ("end of the week", "2026-11-27 17:00", None),
    ("end of next week", "2026-11-27 17:00", None),
    ("eom", "2026-11-30 17:00", None),
    ("end of the month", "2026-11-30 17:00", None),
    ("end of next month", "2026-12-31 17:00", None),
    ("next week", "2026-11-27 17:00", "2026-11-23"),
    ("next month", "2026-12-31 17:00", "2026-12-01"),
    ("3d", "2026-11-23 20:31", None),
    ("in 3 days", "2026-11-23 20:31", None),
    ("2w", "2026-12-04 20:31", None),
    ("in 2 weeks", "2026-12-04 20:31", None),
    ("in an hour", "2026-11-20 21:31", None),
    ("48h", "2026-11-22 20:31", None),
    ("in 90 minutes", "2026-11-20 22:01", None),
    ("10bd", "2026-12-07 20:31", None),
    ("10 business days", "2026-12-07 20:31", None),
    ("10 working days", "2026-12-07 20:31", None),
    ("in 5 work days", "2026-11-30 20:31", None),
    ("3 workdays", "2026-11-25 20:31", None),
    ("10bd 9am", "2026-12-07 09:00", None),
    ("7-10 business days", "2026-12-07 20:31", "2026-12-02"),
    ("7 to 10 business days", "2026-12-07 20:31", "2026-12-02"),
    ("7–10 working days", "2026-12-07 20:31", "2026-12-02"),
    ("3 to 5 working days", "2026-11-30 20:31", "2026-11-25"),
    ("between 3 and 5 working days", "2026-11-30 20:31", "2026-11-25"),
    ("in 7-10 days", "2026-11-30 20:31", "2026-11-27"),
    ("2-3 weeks", "2026-12-11 20:31", "2026-12-04"),
    ("24-48 hours", "2026-11-22 20:31", "2026-11-21"),
    ("within 48 hours", "2026-11-22 20:31", "2026-11-20"),
    ("within 3 business days", "2026-11-25 20:31", "2026-11-20"),
    ("within a week", "2026-11-27 20:31", "2026-11-20"),
]

# (phrase, what the refusal says)
REFUSED: list[tuple[str, str]] = [
    ("05/06", "could be 5 June or 6 May"),
    ("03/04/2027", "could be 3 April or 4 March"),
    ("12/24/26", "write the year in full"),
    ("midnight", "could be the start or the end of a day"),
    ("mon 7", "could be 7am or 7pm"),
    ("tomorrow 19", "alone is not a time"),
    ("10-7 business days", "from the smaller number to the larger"),
    ("5-10 minutes", "not a promise's window"),
    ("mon 9 dec", "is a Wednesday, not a Monday"),
    ("Feb 30", "February"),
    ("13/13", "the month must be in 1..12"),
    ("asap", "cannot read"),
    ("soon", "cannot read"),
    ("in a bit", "cannot read"),
    ("next fortnight", "cannot read"),
    ("1 month", "cannot read"),
    ("the day after tomorrow", "cannot read"),
    ("christmas", "cannot read"),
]


def _local(zone: str, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def _read(phrase: str, zone: str, order: str | None = None) -> tuple[str, str | None]:
    tz = ZoneInfo(zone)
    found = parse_window(phrase, _local(zone, NOW), tz, calendar=calendar_for("US"), order=order)
    start = f"{found.start.astimezone(tz):%Y-%m-%d}" if found.start else None
    return f"{found.end.astimezone(tz):%Y-%m-%d %H:%M}", start


def test_the_corpus_is_large_enough() -> None:
    assert len(ACCEPTED) + len(REFUSED) >= 60
    assert len({p for p, *_ in ACCEPTED} | {p for p, _ in REFUSED}) == len(ACCEPTED) + len(REFUSED)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("phrase", "due", "start"), ACCEPTED, ids=[p for p, *_ in ACCEPTED])
def test_each_phrase_means_what_people_mean(
    zone: str, phrase: str, due: str, start: str | None
) -> None:
    assert _read(phrase, zone) == (due, start)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(("phrase", "why"), REFUSED, ids=[p for p, _ in REFUSED])
def test_what_could_be_guessed_wrong_is_refused_saying_why(
    zone: str, phrase: str, why: str
) -> None:
    with pytest.raises(WhenError) as info:
        _read(phrase, zone)
    assert why in str(info.value)


@pytest.mark.parametrize(
    ("phrase", "order", "due"),
    [
        ("05/06", "DMY", "2027-06-05 09:00"),
        ("05/06", "MDY", "2027-05-06 09:00"),
        ("05/06", "YMD", "2027-05-06 09:00"),  # day and month in a year-first country: M/D
        ("03/04/2027", "DMY", "2027-04-03 09:00"),
        ("03/04/2027", "MDY", "2027-03-04 09:00"),
    ],
)
def test_a_date_order_settles_a_date_that_reads_two_ways(phrase: str, order: str, due: str) -> None:
    assert _read(phrase, "Europe/London", order)[0] == due


def test_in_day_month_order_a_month_day_date_is_refused_not_flipped() -> None:
    with pytest.raises(WhenError, match=r"in day/month order \(DMY\): the month must be"):
        _read("12/24", "Europe/London", "DMY")


def test_a_date_in_the_past_reads_backwards_for_a_time_something_happened() -> None:
    tz = ZoneInfo("Europe/London")
    found = parse_window("Dec 24", _local("Europe/London", "2027-01-03 10:00"), tz, past=True)
    assert f"{found.end.astimezone(tz):%Y-%m-%d}" == "2026-12-24"


def test_the_grammar_stays_fast() -> None:
    phrases = [p for p, *_ in ACCEPTED]
    tz = ZoneInfo("Europe/London")
    now = _local("Europe/London", NOW)
    calendar = calendar_for("US")
    for phrase in phrases:  # the first reading imports and compiles what it needs
        parse_window(phrase, now, tz, calendar=calendar)
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for phrase in phrases:
            parse_window(phrase, now, tz, calendar=calendar)
    per_phrase = (time.perf_counter() - start) / (rounds * len(phrases))
    assert per_phrase < 0.0005, f"{per_phrase * 1e6:.0f} µs a phrase"
