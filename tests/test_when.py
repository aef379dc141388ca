"""Tests for tracker.when: every `WHEN` and `DUR` form, time zones, DST gaps and folds."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import helpers
import pytest

from tracker.errors import UsageError
from tracker.when import (
    Calendar,
    WhenError,
    add_business_days,
    calendar_for,
    format_local,
    humanize_delta,
    local_zone,
    parse_date,
    parse_duration,
    parse_when,
    to_iso_utc,
)

LISBON = ZoneInfo("Europe/Lisbon")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
CAIRO = ZoneInfo("Africa/Cairo")

# Thursday 2026-11-26 15:45:30 in Lisbon (WET, UTC+0 in winter): the shared NOW's day, at a
# time of day with minutes and seconds.
NOW = helpers.NOW.replace(hour=15, minute=45, second=30)


def at(
    y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, tz: tzinfo = LISBON
) -> datetime:
    """The UTC instant of a local wall time (unambiguous ones only)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=tz).astimezone(UTC)


def when(text: str, now: datetime = NOW, tz: tzinfo = LISBON) -> datetime:
    result = parse_when(text, now=now, tz=tz)
    assert result.tzinfo is UTC
    return result


# --------------------------------------------------------------------------- now, days


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("NOW", NOW),
        ("  now  ", NOW),
        ("today", at(2026, 11, 26, 9)),
        ("tomorrow", at(2026, 11, 27, 9)),
        ("yesterday", at(2026, 11, 25, 9)),
        ("Tomorrow", at(2026, 11, 27, 9)),
        ("  TODAY\t", at(2026, 11, 26, 9)),
    ],
)
def test_named_days(text: str, expected: datetime) -> None:
    assert when(text) == expected


@pytest.mark.parametrize(
    ("text", "expected_day"),
    [
        # NOW is a Thursday: a bare weekday is the next such day strictly after today.
        ("fri", 27),
        ("friday", 27),
        ("sat", 28),
        ("saturday", 28),
        ("sun", 29),
        ("sunday", 29),
        ("mon", 30),
        ("monday", 30),
        ("tue", 1),
        ("tues", 1),
        ("tuesday", 1),
        ("wed", 2),
        ("wednesday", 2),
        ("thu", 3),
        ("thur", 3),
        ("thurs", 3),
        ("thursday", 3),
        ("next monday", 30),
        ("next mon", 30),
        ("next thursday", 3),
        ("next fri", 27),
        ("Next   Friday", 27),
        ("FRI", 27),
    ],
)
def test_weekdays_are_strictly_after_today(text: str, expected_day: int) -> None:
    month = 11 if expected_day >= 26 else 12
    assert when(text) == at(2026, month, expected_day, 9)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("last thu", date(2026, 11, 19)),
        ("last wednesday", date(2026, 11, 25)),
        ("last fri", date(2026, 11, 20)),
        ("last sunday", date(2026, 11, 22)),
    ],
)
def test_last_weekday_is_strictly_before_today(text: str, expected: date) -> None:
    assert when(text) == at(expected.year, expected.month, expected.day, 9)


def test_today_is_the_local_date_not_the_utc_date() -> None:
    late = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # already the 27th in Tokyo
    assert when("today", now=late, tz=TOKYO) == at(2026, 11, 27, 9, tz=TOKYO)
    assert when("tomorrow", now=late, tz=TOKYO) == at(2026, 11, 28, 9, tz=TOKYO)
    assert when("today", now=late, tz=NEW_YORK) == at(2026, 11, 26, 9, tz=NEW_YORK)


# --------------------------------------------------------------------------- ISO


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", at(2026, 12, 1, 9)),
        ("2026-12-1", at(2026, 12, 1, 9)),
        ("2026-12-01 14:30", at(2026, 12, 1, 14, 30)),
        ("2026-12-01T14:30", at(2026, 12, 1, 14, 30)),
        ("2026-12-01t14:30", at(2026, 12, 1, 14, 30)),
        ("2026-12-01 14:30:15", at(2026, 12, 1, 14, 30, 15)),
        ("2026-12-01T14:30:15", at(2026, 12, 1, 14, 30, 15)),
        ("2026-12-01 9am", at(2026, 12, 1, 9)),
        ("2026-12-01 at 5:30pm", at(2026, 12, 1, 17, 30)),
        ("2026-07-01 14:30", datetime(2026, 7, 1, 13, 30, tzinfo=UTC)),  # summer time, +01:00
    ],
)
def test_iso_local(text: str, expected: datetime) -> None:
    assert when(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T14:30Z", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01T14:30z", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01 14:30Z", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01 14:30 UTC", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01T14:30+01:00", datetime(2026, 12, 1, 13, 30, tzinfo=UTC)),
        ("2026-12-01 14:30+01:00", datetime(2026, 12, 1, 13, 30, tzinfo=UTC)),
        ("2026-12-01 14:30 +01:00", datetime(2026, 12, 1, 13, 30, tzinfo=UTC)),
        ("2026-12-01T14:30:00-05:00", datetime(2026, 12, 1, 19, 30, tzinfo=UTC)),
        ("2026-12-01T14:30+0530", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01T14:30+05", datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2026-12-01T00:30+02:00", datetime(2026, 11, 30, 22, 30, tzinfo=UTC)),
        ("2026-12-01T13:30:00+00:00", datetime(2026, 12, 1, 13, 30, tzinfo=UTC)),
        ("2026-12-01T13:30:00.250+00:00", datetime(2026, 12, 1, 13, 30, 0, 250000, UTC)),
        ("2026-12-01 9am+01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("tomorrow 14:30Z", datetime(2026, 11, 27, 14, 30, tzinfo=UTC)),
    ],
)
def test_iso_with_offset_ignores_the_local_zone(text: str, expected: datetime) -> None:
    assert when(text) == expected
    assert when(text.replace("tomorrow", "2026-11-27"), tz=NEW_YORK) == expected


@pytest.mark.parametrize(
    "dt",
    [
        datetime(2026, 12, 1, 13, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ],
)
def test_to_iso_utc_output_reads_back(dt: datetime) -> None:
    for tz in (LISBON, NEW_YORK, TOKYO):
        assert when(to_iso_utc(dt), tz=tz) == dt


# --------------------------------------------------------------------------- times of day


@pytest.mark.parametrize(
    ("text", "hour", "minute"),
    [
        ("tomorrow 9am", 9, 0),
        ("tomorrow 9 am", 9, 0),
        ("tomorrow 9AM", 9, 0),
        ("tomorrow 9a.m.", 9, 0),
        ("tomorrow 9 p.m.", 21, 0),
        ("tomorrow 9pm", 21, 0),
        ("tomorrow 9:15am", 9, 15),
        ("tomorrow 5:30pm", 17, 30),
        ("tomorrow 12am", 0, 0),
        ("tomorrow 12:30am", 0, 30),
        ("tomorrow 12pm", 12, 0),
        ("tomorrow 12:45pm", 12, 45),
        ("tomorrow 14:00", 14, 0),
        ("tomorrow 7:05", 7, 5),
        ("tomorrow 00:00", 0, 0),
        ("tomorrow 23:59", 23, 59),
        ("tomorrow noon", 12, 0),
        ("tomorrow at 9am", 9, 0),
        ("tomorrow at 14:00", 14, 0),
        ("9am tomorrow", 9, 0),
        ("9 am tomorrow", 9, 0),
        ("14:00 tomorrow", 14, 0),
        ("at 9am tomorrow", 9, 0),
    ],
)
def test_time_suffix(text: str, hour: int, minute: int) -> None:
    assert when(text) == at(2026, 11, 27, hour, minute)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fri 14:00", at(2026, 11, 27, 14)),
        ("friday 2pm", at(2026, 11, 27, 14)),
        ("next monday 9am", at(2026, 11, 30, 9)),
        ("next monday at 9:30", at(2026, 11, 30, 9, 30)),
        ("today 5:30pm", at(2026, 11, 26, 17, 30)),
        ("today 8am", at(2026, 11, 26, 8)),  # already past: allowed, for logging calls
        ("yesterday 3pm", at(2026, 11, 25, 15)),
        ("last fri 10:00", at(2026, 11, 20, 10)),
        ("9am", at(2026, 11, 26, 9)),
        ("at 9am", at(2026, 11, 26, 9)),
        ("14:30", at(2026, 11, 26, 14, 30)),
        ("noon", at(2026, 11, 26, 12)),
        ("  Next  Monday   9AM ", at(2026, 11, 30, 9)),
    ],
)
def test_days_with_times(text: str, expected: datetime) -> None:
    assert when(text) == expected


# --------------------------------------------------------------------------- eod, eow, eom


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        (NOW, "eod", at(2026, 11, 26, 17)),
        (NOW, "EOD", at(2026, 11, 26, 17)),
        (at(2026, 11, 26, 18), "eod", at(2026, 11, 27, 17)),  # past: the next business day's
        (at(2026, 11, 27, 18), "eod", at(2026, 11, 30, 17)),  # Friday evening -> Monday
        (at(2026, 11, 28, 10), "eod", at(2026, 11, 30, 17)),  # Saturday -> Monday
        (at(2026, 11, 26, 17), "eod", at(2026, 11, 26, 17)),  # exactly 17:00: not past yet
        (NOW, "eow", at(2026, 11, 27, 17)),  # Thursday -> tomorrow
        (at(2026, 11, 23, 8), "eow", at(2026, 11, 27, 17)),  # Monday
        (at(2026, 11, 27, 16, 59), "eow", at(2026, 11, 27, 17)),  # Friday before 17:00
        (at(2026, 11, 27, 17), "eow", at(2026, 11, 27, 17)),  # exactly 17:00: not past yet
        (at(2026, 11, 27, 17, 0, 1), "eow", at(2026, 12, 4, 17)),  # Friday after 17:00
        (at(2026, 11, 28, 10), "eow", at(2026, 12, 4, 17)),  # Saturday
        (at(2026, 11, 29, 10), "eow", at(2026, 12, 4, 17)),  # Sunday
        (NOW, "eom", at(2026, 11, 30, 17)),
        (at(2026, 12, 1, 10), "eom", at(2026, 12, 31, 17)),
        (at(2026, 2, 3, 10), "eom", at(2026, 2, 28, 17)),
        (at(2028, 2, 3, 10), "eom", at(2028, 2, 29, 17)),  # leap year
        (at(2100, 2, 3, 10), "eom", at(2100, 2, 28, 17)),  # not a leap year
        (at(2000, 2, 3, 10), "eom", at(2000, 2, 29, 17)),  # leap year
        (at(2026, 4, 30, 20), "eom", at(2026, 5, 31, 17)),  # past: next month's end
        (at(2026, 4, 30, 16), "eom", at(2026, 4, 30, 17)),
        (at(2026, 7, 10, 10), "eom", datetime(2026, 7, 31, 16, tzinfo=UTC)),  # summer time
    ],
)
def test_end_of(now: datetime, text: str, expected: datetime) -> None:
    assert when(text, now=now) == expected


def test_end_of_uses_the_local_date() -> None:
    # 2026-11-30 23:30 UTC is already 1 December in Tokyo: eom is the end of December there.
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert when("eom", now=late, tz=TOKYO) == at(2026, 12, 31, 17, tz=TOKYO)
    # 18:30 on 30 November in New York: this month's end has passed.
    assert when("eom", now=late, tz=NEW_YORK) == at(2026, 12, 31, 17, tz=NEW_YORK)
    assert when("eom", now=late - timedelta(hours=2), tz=NEW_YORK) == at(
        2026, 11, 30, 17, tz=NEW_YORK
    )


# --------------------------------------------------------------------------- relative


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("3d", timedelta(days=3)),
        ("3 d", timedelta(days=3)),
        ("+3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("4h", timedelta(hours=4)),
        ("30min", timedelta(minutes=30)),
        ("30m", timedelta(minutes=30)),
        ("30 mins", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("90 sec", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("0d", timedelta(0)),
        ("in 3 days", timedelta(days=3)),
        ("in 1 day", timedelta(days=1)),
        ("in 2 weeks", timedelta(weeks=2)),
        ("in 2 wks", timedelta(weeks=2)),
        ("in 4 hours", timedelta(hours=4)),
        ("in 4 hrs", timedelta(hours=4)),
        ("in 1 hour", timedelta(hours=1)),
        ("in 45 minutes", timedelta(minutes=45)),
        ("in 10 seconds", timedelta(seconds=10)),
        ("in an hour", timedelta(hours=1)),
        ("in a day", timedelta(days=1)),
        ("in 1 hour 30 minutes", timedelta(hours=1, minutes=30)),
        ("In 3 Days", timedelta(days=3)),
        ("3 days from now", timedelta(days=3)),
        ("3 days", timedelta(days=3)),
        ("-3d", -timedelta(days=3)),
        ("-2d", -timedelta(days=2)),
        ("-90m", -timedelta(minutes=90)),
        ("-1h30m", -timedelta(hours=1, minutes=30)),
        ("3 days ago", -timedelta(days=3)),
        ("2 days ago", -timedelta(days=2)),
        ("3d ago", -timedelta(days=3)),
        ("an hour ago", -timedelta(hours=1)),
        ("1 week ago", -timedelta(weeks=1)),
        ("20 minutes ago", -timedelta(minutes=20)),
    ],
)
def test_relative_is_added_to_now_exactly(text: str, delta: timedelta) -> None:
    assert when(text) == NOW + delta


def test_relative_days_keep_the_wall_clock_across_a_dst_change() -> None:
    # Friday 2026-03-27 10:00 in Lisbon; the clocks go forward on Sunday the 29th.
    now = at(2026, 3, 27, 10)
    assert when("3d", now=now) == at(2026, 3, 30, 10)
    assert when("3d", now=now) == now + timedelta(hours=71)
    assert when("in 3 days 10:00", now=now) == at(2026, 3, 30, 10)
    assert when("1w", now=now) == at(2026, 4, 3, 10)
    # Hours are exact: 72 hours later is 11:00 by the clock.
    assert when("72h", now=now) == now + timedelta(hours=72)
    assert when("72h", now=now).astimezone(LISBON).hour == 11
    # Fractions are exact too; days and hours together: days on the calendar, then hours.
    assert when("1.5d", now=now) == now + timedelta(hours=36)
    assert when("3d 2h", now=now) == at(2026, 3, 30, 12)
    # And back: 8 weeks before a date in summer time keeps 10:00 in winter time.
    summer = at(2026, 5, 15, 10)
    assert when("-8w", now=summer) == at(2026, 3, 20, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 3 days 9am", at(2026, 11, 29, 9)),
        ("in 3 days at 9am", at(2026, 11, 29, 9)),
        ("3d 14:00", at(2026, 11, 29, 14)),
        ("in 2 weeks 10:00", at(2026, 12, 10, 10)),
        ("in 1 week 2 days 9am", at(2026, 12, 5, 9)),
        ("2 days ago 15:00", at(2026, 11, 24, 15)),
        ("2 days ago at 3pm", at(2026, 11, 24, 15)),
        ("-2d 9am", at(2026, 11, 24, 9)),
        ("9am in 3 days", at(2026, 11, 29, 9)),
    ],
)
def test_relative_days_with_time(text: str, expected: datetime) -> None:
    assert when(text) == expected


# --------------------------------------------------------------------------- business days


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # NOW is Thursday 2026-11-26 15:45:30; business days keep the time of day.
        ("10bd", at(2026, 12, 10, 15, 45, 30)),
        ("10BD", at(2026, 12, 10, 15, 45, 30)),
        ("10 bd", at(2026, 12, 10, 15, 45, 30)),
        ("1bd", at(2026, 11, 27, 15, 45, 30)),
        ("2bd", at(2026, 11, 30, 15, 45, 30)),
        ("in 10 business days", at(2026, 12, 10, 15, 45, 30)),
        ("in 1 business day", at(2026, 11, 27, 15, 45, 30)),
        ("in 3 workdays", at(2026, 12, 1, 15, 45, 30)),
        ("+5bd", at(2026, 12, 3, 15, 45, 30)),
        ("-4bd", at(2026, 11, 20, 15, 45, 30)),
        ("3 business days ago", at(2026, 11, 23, 15, 45, 30)),
        ("10bd 9am", at(2026, 12, 10, 9)),
        ("10bd at 17:00", at(2026, 12, 10, 17)),
        ("in 10 business days 9am", at(2026, 12, 10, 9)),
        ("2bd ago 10:00", at(2026, 11, 24, 10)),
    ],
)
def test_business_days(text: str, expected: datetime) -> None:
    assert when(text) == expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 11, 26), 10, date(2026, 12, 10)),  # Thursday -> Thursday, two weekends
        (date(2026, 11, 26), 0, date(2026, 11, 26)),
        (date(2026, 11, 26), 1, date(2026, 11, 27)),
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday -> Monday
        (date(2026, 11, 28), 1, date(2026, 11, 30)),  # Saturday -> Monday
        (date(2026, 11, 29), 1, date(2026, 11, 30)),  # Sunday -> Monday
        (date(2026, 11, 28), 0, date(2026, 11, 28)),  # zero leaves a weekend day alone
        (date(2026, 11, 30), 4, date(2026, 12, 4)),  # Monday -> Friday
        (date(2026, 11, 30), 5, date(2026, 12, 7)),  # Monday -> next Monday
        (date(2026, 11, 28), 5, date(2026, 12, 4)),  # Saturday -> next Friday
        (date(2026, 11, 30), -1, date(2026, 11, 27)),  # Monday -> Friday
        (date(2026, 11, 29), -1, date(2026, 11, 27)),  # Sunday -> Friday
        (date(2026, 11, 28), -1, date(2026, 11, 27)),  # Saturday -> Friday
        (date(2026, 12, 10), -10, date(2026, 11, 26)),
        (date(2026, 12, 31), 1, date(2027, 1, 1)),  # holidays are not known
        (date(2026, 1, 1), 260, date(2026, 12, 31)),
    ],
)
def test_add_business_days(start: date, n: int, expected: date) -> None:
    assert add_business_days(start, n) == expected


def _step_business_days(start: date, n: int) -> date:
    day, step = start, (1 if n > 0 else -1)
    for _ in range(abs(n)):
        day += timedelta(days=step)
        while day.weekday() >= 5:
            day += timedelta(days=step)
    return day


def test_add_business_days_matches_stepping_day_by_day() -> None:
    for offset in range(14):
        start = date(2026, 11, 23) + timedelta(days=offset)
        for n in range(-30, 31):
            expected = start if n == 0 else _step_business_days(start, n)
            assert add_business_days(start, n) == expected, (start, n)
            if n:
                assert add_business_days(start, n).weekday() < 5


def _step_on_calendar(calendar: Calendar, start: date, n: int) -> date:
    """The definition: one day at a time, skipping every day that is no business day."""
    day, step = start, (1 if n > 0 else -1)
    for _ in range(abs(n)):
        day += timedelta(days=step)
        while not calendar.is_business_day(day):
            day += timedelta(days=step)
    return day


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # 30 business days from a Saturday pass Martin Luther King Day and Presidents' Day:
        # the second holiday was counted twice (Feb 19).
        (date(2025, 1, 4), 30, date(2025, 2, 18)),
        # One back from New Year's Day (a holiday) is the business day before it (Dec 30).
        (date(2025, 1, 1), -1, date(2024, 12, 31)),
        # Back from a Saturday across New Year's Day, which was returned itself.
        (date(2025, 1, 4), -3, date(2024, 12, 31)),
        (date(2025, 1, 1), 1, date(2025, 1, 2)),
        (date(2024, 12, 24), 1, date(2024, 12, 26)),  # over Christmas Day
        (date(2024, 12, 26), -1, date(2024, 12, 24)),
    ],
)
def test_business_days_on_a_holiday_calendar(start: date, n: int, expected: date) -> None:
    assert calendar_for("US").add(start, n) == expected


@pytest.mark.parametrize("region", [("US", None), ("GB", "SCT"), ("DE", "BY"), ("NZ", None)])
def test_business_days_on_a_holiday_calendar_match_stepping_day_by_day(
    region: tuple[str, str | None],
) -> None:
    calendar = calendar_for(*region)
    for offset in range(0, 400, 3):  # every weekday, weekend day and holiday of a year
        start = date(2024, 12, 1) + timedelta(days=offset)
        for n in (1, 2, 3, 5, 10, 30, 90, -1, -2, -3, -10, -30):
            got = calendar.add(start, n)
            assert got == _step_on_calendar(calendar, start, n), (region, start, n)
            assert calendar.is_business_day(got)


# --------------------------------------------------------------------------- DST gaps and folds


@pytest.mark.parametrize(
    ("text", "tz", "message"),
    [
        (
            "2026-03-29 01:30",
            LISBON,
            "2026-03-29 01:30 does not exist in Europe/Lisbon "
            "(the clocks skip it for daylight saving time)",
        ),
        (
            "2026-03-29T01:00",
            LISBON,
            "2026-03-29 01:00 does not exist in Europe/Lisbon "
            "(the clocks skip it for daylight saving time)",
        ),
        (
            "2026-03-29 1:59:30am",
            LISBON,
            "2026-03-29 01:59:30 does not exist in Europe/Lisbon "
            "(the clocks skip it for daylight saving time)",
        ),
        (
            "2026-03-08 02:30",
            NEW_YORK,
            "2026-03-08 02:30 does not exist in America/New_York "
            "(the clocks skip it for daylight saving time)",
        ),
        (
            "2026-03-08 2:30am",
            NEW_YORK,
            "2026-03-08 02:30 does not exist in America/New_York "
            "(the clocks skip it for daylight saving time)",
        ),
        (
            "2024-04-26 00:30",  # Cairo skips midnight on a Friday
            CAIRO,
            "2024-04-26 00:30 does not exist in Africa/Cairo "
            "(the clocks skip it for daylight saving time)",
        ),
    ],
)
def test_gap_is_an_error(text: str, tz: tzinfo, message: str) -> None:
    with pytest.raises(WhenError) as info:
        when(text, tz=tz)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "tz", "shown", "first", "second"),
    [
        ("2026-10-25 01:30", LISBON, "2026-10-25 01:30", "+01:00", "+00:00"),
        ("2026-10-25T01:00", LISBON, "2026-10-25 01:00", "+01:00", "+00:00"),
        ("2026-11-01 01:30", NEW_YORK, "2026-11-01 01:30", "-04:00", "-05:00"),
        ("2026-11-01 1:30am", NEW_YORK, "2026-11-01 01:30", "-04:00", "-05:00"),
        ("2024-10-31 23:30", CAIRO, "2024-10-31 23:30", "+03:00", "+02:00"),
    ],
)
def test_fold_is_an_error_that_suggests_offsets(
    text: str, tz: tzinfo, shown: str, first: str, second: str
) -> None:
    with pytest.raises(WhenError) as info:
        when(text, tz=tz)
    message = str(info.value)
    name = getattr(tz, "key", "")
    assert message.startswith(
        f"{shown} is ambiguous in {name} (it happens twice when the clocks go back); "
        f"give an offset, e.g. {shown}{first}"
    )
    assert f"{shown}{second}" in message
    # The suggested spellings are accepted and are an hour apart.
    one, two = when(f"{shown}{first}", tz=tz), when(f"{shown}{second}", tz=tz)
    assert two - one == timedelta(hours=1)
    assert one.astimezone(tz).replace(tzinfo=None) == datetime.fromisoformat(shown)


def test_gap_and_fold_in_relative_days_with_explicit_times() -> None:
    friday = at(2026, 3, 6, 12, tz=NEW_YORK)
    with pytest.raises(WhenError, match="does not exist in America/New_York"):
        when("sun 2:30am", now=friday, tz=NEW_YORK)
    with pytest.raises(WhenError, match="does not exist in America/New_York"):
        when("in 2 days 2:30am", now=friday, tz=NEW_YORK)
    friday = at(2026, 10, 30, 12, tz=NEW_YORK)
    with pytest.raises(WhenError, match="is ambiguous in America/New_York"):
        when("sun 1:30am", now=friday, tz=NEW_YORK)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        # The hours either side of a transition are fine.
        ("2026-03-29 00:59", LISBON, datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
        ("2026-03-29 02:00", LISBON, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        ("2026-03-29 02:30", LISBON, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        ("2026-10-25 00:59", LISBON, datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),
        ("2026-10-25 02:00", LISBON, datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),
        ("2026-03-08 01:59", NEW_YORK, datetime(2026, 3, 8, 6, 59, tzinfo=UTC)),
        ("2026-03-08 03:00", NEW_YORK, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        ("2026-11-01 00:59", NEW_YORK, datetime(2026, 11, 1, 4, 59, tzinfo=UTC)),
        ("2026-11-01 02:00", NEW_YORK, datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
        # Dates alone (09:00) on transition days.
        ("2026-03-29", LISBON, datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),
        ("2026-10-25", LISBON, datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),
        ("2026-03-08", NEW_YORK, datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
        ("2026-11-01", NEW_YORK, datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),
        # An offset settles a fold, and makes a gap time an ordinary instant.
        ("2026-10-25 01:30+01:00", LISBON, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25 01:30+00:00", LISBON, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        ("2026-11-01 01:30-04:00", NEW_YORK, datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("2026-11-01 01:30-05:00", NEW_YORK, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        ("2026-03-29 01:30Z", LISBON, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_around_transitions(text: str, tz: tzinfo, expected: datetime) -> None:
    assert when(text, tz=tz) == expected


def test_implicit_wall_times_are_resolved_not_refused() -> None:
    # Cairo's clocks go forward at midnight on Friday 2024-04-26 and back at midnight on
    # Thursday 2024-10-31: business days that keep 00:30 / 23:30 land in the gap / fold.
    thursday_0030 = at(2024, 4, 25, 0, 30, tz=CAIRO)  # Thursday 00:30
    assert thursday_0030.astimezone(CAIRO).weekday() == 3
    # A gap time moves forward by the gap: 00:30 -> 01:30 summer time.
    assert when("1bd", now=thursday_0030, tz=CAIRO) == datetime(2024, 4, 25, 22, 30, tzinfo=UTC)
    # An ambiguous time takes the first occurrence (summer time, +03:00).
    wednesday_2330 = at(2024, 10, 30, 23, 30, tz=CAIRO)
    assert when("1bd", now=wednesday_2330, tz=CAIRO) == datetime(2024, 10, 31, 20, 30, tzinfo=UTC)
    # The same wall times typed out are errors.
    with pytest.raises(WhenError, match="does not exist"):
        when("1bd 00:30", now=thursday_0030, tz=CAIRO)
    with pytest.raises(WhenError, match="ambiguous"):
        when("1bd 23:30", now=wednesday_2330, tz=CAIRO)


# --------------------------------------------------------------------------- other zones


def test_fixed_offset_and_utc_zones() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert when("tomorrow 9am", tz=plus2) == datetime(2026, 11, 27, 7, tzinfo=UTC)
    assert when("tomorrow 9am", tz=UTC) == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert when("2026-12-01 14:30", tz=NEW_YORK) == datetime(2026, 12, 1, 19, 30, tzinfo=UTC)


def test_naive_now_is_utc_and_aware_now_in_any_zone_is_converted() -> None:
    assert when("3d", now=NOW.replace(tzinfo=None)) == NOW + timedelta(days=3)
    assert when("now", now=NOW.astimezone(TOKYO)) == NOW
    assert when("now", now=NOW.astimezone(TOKYO)).tzinfo is UTC


def test_default_now_is_the_clock() -> None:
    before = datetime.now(UTC)
    result = parse_when("now", tz=LISBON)
    assert before <= result <= datetime.now(UTC)
    assert result.tzinfo is UTC


# --------------------------------------------------------------------------- bad input


GENERIC = "try 2026-12-01, Dec 24, tomorrow 9am, fri, in 3 days, 10bd, 7-10 business days, eom"


@pytest.mark.parametrize(
    "text",
    [
        "blursday",
        "Blursday",
        "next",
        "next blursday",
        "last",
        "in",
        "ago",
        "3",
        "in 3",
        "2026",
        "2026-12",
        "2026-12-01 14",
        "2026-12-01+01:00",
        "in -3 days",
        "in +3 days",
        "-3 days ago",
        "in 3 days ago",
        "1 month",
        "in 2 months",
        "3 dayz",
        "3ds",
        "next fortnight",
        "friday friday",
        "tomorrow 9am 10am",
        "at",
        "9am blursday",
        "am",
        "pm",
        "as",
        "ah",
        "an",
        "in a",
    ],
)
def test_unreadable_when(text: str) -> None:
    with pytest.raises(WhenError) as info:
        when(text)
    assert str(info.value) == f"cannot read '{text}' as a time; {GENERIC}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a time is needed; " + GENERIC),
        ("   ", "a time is needed; " + GENERIC),
        ("2026-13-40", "invalid date '2026-13-40': month must be in 1..12"),
        ("2026-00-10", "invalid date '2026-00-10': month must be in 1..12"),
        ("2026-02-30", "invalid date '2026-02-30': February 2026 has 28 days"),
        ("2026-02-29", "invalid date '2026-02-29': February 2026 has 28 days"),
        ("2026-04-31 9am", "invalid date '2026-04-31': April 2026 has 30 days"),
        ("2026-12-00", "invalid date '2026-12-00': December 2026 has 31 days"),
        ("0000-01-01", "invalid date '0000-01-01': year must be in 1..9999"),
        ("tomorrow 25:00", "invalid time '25:00': the hour must be in 0..23"),
        ("tomorrow 19", "'19' alone is not a time; write 19:00"),
        ("mon 7", "'7' alone could be 7am or 7pm; write 7am, 7pm or 07:00"),
        ("midnight", "'midnight' could be the start or the end of a day; write 00:00 or 23:59"),
        ("tomorrow 24:00", "invalid time '24:00': the hour must be in 0..23"),
        ("tomorrow 12:60", "invalid time '12:60': the minutes must be in 0..59"),
        ("tomorrow 23:59:60", "invalid time '23:59:60': the seconds must be in 0..59"),
        ("tomorrow 13pm", "invalid time '13pm': the hour must be in 1..12 with am/pm"),
        ("tomorrow 0am", "invalid time '0am': the hour must be in 1..12 with am/pm"),
        ("2026-12-01 14:30+25:00", "invalid offset '+25:00': use +HH:MM, e.g. +01:00"),
        ("2026-12-01 14:30+01:60", "invalid offset '+01:60': use +HH:MM, e.g. +01:00"),
        ("eod 9am", "'eod' already has a time of day; drop the time, e.g. 'eod'"),
        ("eow 9am", "'eow' already has a time of day; drop the time, e.g. 'eow'"),
        ("eom at 9am", "'eom' already has a time of day; drop the time, e.g. 'eom'"),
        ("now 9am", "'now' already has a time of day; drop the time, e.g. 'now'"),
        (
            "in 4 hours 9am",
            "'in 4 hours' cannot take a time of day; a time of day goes with whole days, "
            "e.g. 'in 3 days 9am' or '10bd 9am'",
        ),
        (
            "30m 9am",
            "'30m' cannot take a time of day; a time of day goes with whole days, "
            "e.g. 'in 3 days 9am' or '10bd 9am'",
        ),
        (
            "1.5d 9am",
            "'1.5d' cannot take a time of day; a time of day goes with whole days, "
            "e.g. 'in 3 days 9am' or '10bd 9am'",
        ),
        ("1.5bd", "business days must be a whole number in '1.5bd', e.g. 10bd"),
        (
            "1bd 2h",
            "cannot mix business days with other units in '1bd 2h'; e.g. 10bd or 10bd 9am",
        ),
        ("99999999999d", "'99999999999d' is out of range; " + GENERIC),
        ("9999999bd", "'9999999bd' is out of range; " + GENERIC),
        ("9999-12-31 23:59-05:00", "'9999-12-31 23:59-05:00' is out of range; " + GENERIC),
    ],
)
def test_when_error_messages(text: str, message: str) -> None:
    with pytest.raises(WhenError) as info:
        when(text)
    assert str(info.value) == message


def test_very_long_input_is_refused_quickly() -> None:
    with pytest.raises(WhenError, match="too long"):
        when("in " + "1h " * 500)


def test_when_error_is_a_usage_error() -> None:
    assert issubclass(WhenError, UsageError)
    with pytest.raises(UsageError) as info:
        when("blursday")
    assert info.value.exit_code == 2


# --------------------------------------------------------------------------- parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        (" 2026-12-01 ", date(2026, 12, 1)),
        ("2026-1-5", date(2026, 1, 5)),
        ("2028-02-29", date(2028, 2, 29)),
        ("2026-12-31", date(2026, 12, 31)),
        ("0001-01-01", date(1, 1, 1)),
        ("9999-12-31", date(9999, 12, 31)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13-40", "invalid date '2026-13-40': month must be in 1..12"),
        ("2026-02-30", "invalid date '2026-02-30': February 2026 has 28 days"),
        ("2026-02-29", "invalid date '2026-02-29': February 2026 has 28 days"),
        ("2100-02-29", "invalid date '2100-02-29': February 2100 has 28 days"),
        ("2026-06-31", "invalid date '2026-06-31': June 2026 has 30 days"),
        ("0000-06-01", "invalid date '0000-06-01': year must be in 1..9999"),
        ("tomorrow", "cannot read 'tomorrow' as a date; use YYYY-MM-DD, e.g. 2026-12-01"),
        ("", "cannot read '' as a date; use YYYY-MM-DD, e.g. 2026-12-01"),
        (
            "2026-12-01 14:30",
            "cannot read '2026-12-01 14:30' as a date; use YYYY-MM-DD, e.g. 2026-12-01",
        ),
        ("01/12/2026", "cannot read '01/12/2026' as a date; use YYYY-MM-DD, e.g. 2026-12-01"),
        ("20261201", "cannot read '20261201' as a date; use YYYY-MM-DD, e.g. 2026-12-01"),
    ],
)
def test_parse_date_errors(text: str, message: str) -> None:
    with pytest.raises(WhenError) as info:
        parse_date(text)
    assert str(info.value) == message


# --------------------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2h", timedelta(hours=2)),
        ("45min", timedelta(minutes=45)),
        ("45 mins", timedelta(minutes=45)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        (".5h", timedelta(minutes=30)),
        ("2 hours 30 minutes", timedelta(hours=2, minutes=30)),
        ("an hour", timedelta(hours=1)),
        ("+15m", timedelta(minutes=15)),
        ("  15M ", timedelta(minutes=15)),
        ("1H30M", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


DUR_HINT = "try 15m, 45min, 90s, 2h, 1h30m, 1h 30m, 1d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0m", f"duration '0m' must be more than zero; {DUR_HINT}"),
        ("0h0m", f"duration '0h0m' must be more than zero; {DUR_HINT}"),
        ("-15m", f"duration '-15m' must be more than zero; {DUR_HINT}"),
        ("15", f"duration '15' needs a unit; {DUR_HINT}"),
        ("1.5", f"duration '1.5' needs a unit; {DUR_HINT}"),
        ("abc", f"cannot read 'abc' as a duration; {DUR_HINT}"),
        ("15 parsecs", f"cannot read '15 parsecs' as a duration; {DUR_HINT}"),
        ("1 month", f"cannot read '1 month' as a duration; {DUR_HINT}"),
        ("in 15m", f"cannot read 'in 15m' as a duration; {DUR_HINT}"),
        ("15m ago", f"cannot read '15m ago' as a duration; {DUR_HINT}"),
        ("h", f"cannot read 'h' as a duration; {DUR_HINT}"),
        ("am", f"cannot read 'am' as a duration; {DUR_HINT}"),
        ("ah", f"cannot read 'ah' as a duration; {DUR_HINT}"),
        ("", f"a duration is needed; {DUR_HINT}"),
        ("  ", f"a duration is needed; {DUR_HINT}"),
        ("2bd", f"business days are not a duration in '2bd'; {DUR_HINT}"),
        ("99999999999d", "duration '99999999999d' is too long"),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(WhenError) as info:
        parse_duration(text)
    assert str(info.value) == message


# --------------------------------------------------------------------------- humanize_delta


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=3), "in 3 days"),
        (timedelta(days=3, hours=23, minutes=59), "in 3 days"),
        (timedelta(days=1), "in 1 day"),
        (timedelta(days=45), "in 45 days"),
        (timedelta(hours=23, minutes=59), "in 23 hours"),
        (timedelta(hours=5), "in 5 hours"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(minutes=90), "in 1 hour"),
        (timedelta(minutes=59, seconds=59), "in 59 minutes"),
        (timedelta(minutes=12), "in 12 minutes"),
        (timedelta(minutes=12, seconds=59), "in 12 minutes"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(seconds=59), "in 1 minute"),
        (timedelta(seconds=1), "in 1 minute"),
        (timedelta(microseconds=1), "in 1 minute"),
        (timedelta(0), "just now"),
        (timedelta(seconds=-1), "just now"),
        (timedelta(seconds=-59), "just now"),
        (timedelta(seconds=-60), "1 minute ago"),
        (timedelta(minutes=-12), "12 minutes ago"),
        (timedelta(hours=-1), "1 hour ago"),
        (timedelta(hours=-5, minutes=-30), "5 hours ago"),
        (timedelta(days=-1), "1 day ago"),
        (timedelta(days=-2), "2 days ago"),
        (timedelta(days=-2, hours=-23), "2 days ago"),
    ],
)
def test_humanize_delta(delta: timedelta, expected: str) -> None:
    assert humanize_delta(delta) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=3), "in 3 days"),
        (timedelta(days=3, hours=23, minutes=59), "in 4 days"),
        (timedelta(days=6, hours=23), "in 6 days 23 hours"),
        (timedelta(days=6, hours=23, minutes=40), "in 7 days"),
        (timedelta(days=6, hours=23, minutes=59), "in 7 days"),
        (timedelta(days=2, hours=5, minutes=10), "in 2 days 5 hours"),
        (timedelta(days=7, hours=11), "in 7 days"),
        (timedelta(days=7, hours=13), "in 8 days"),
        (timedelta(days=1), "in 1 day"),
        (timedelta(days=45), "in 45 days"),
        (timedelta(hours=23, minutes=59), "in 23 hours 59 minutes"),
        (timedelta(hours=23, minutes=59, seconds=40), "in 1 day"),
        (timedelta(hours=5), "in 5 hours"),
        (timedelta(hours=1), "in 1 hour"),
        (timedelta(minutes=90), "in 1 hour 30 minutes"),
        (timedelta(minutes=59, seconds=59), "in 1 hour"),
        (timedelta(minutes=59, seconds=29), "in 59 minutes"),
        (timedelta(minutes=12), "in 12 minutes"),
        (timedelta(minutes=12, seconds=59), "in 13 minutes"),
        (timedelta(minutes=12, seconds=29), "in 12 minutes"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(seconds=59), "in 1 minute"),
        (timedelta(seconds=1), "in 1 minute"),
        (timedelta(microseconds=1), "in 1 minute"),
        (timedelta(0), "just now"),
        (timedelta(seconds=-1), "just now"),
        (timedelta(seconds=-59), "just now"),
        (timedelta(seconds=-60), "1 minute ago"),
        (timedelta(minutes=-12), "12 minutes ago"),
        (timedelta(hours=-1), "1 hour ago"),
        (timedelta(hours=-5, minutes=-30), "5 hours 30 minutes ago"),
        (timedelta(hours=-3, minutes=-29), "3 hours 29 minutes ago"),
        (timedelta(days=-1), "1 day ago"),
        (timedelta(days=-2), "2 days ago"),
        (timedelta(days=-2, hours=-23), "2 days 23 hours ago"),
        (timedelta(days=-30, hours=-2), "30 days ago"),
    ],
)
def test_humanize_delta_precise(delta: timedelta, expected: str) -> None:
    # Rounded to the nearest smaller unit and said in two: never "in 6 days" for 6 d 23 h.
    assert humanize_delta(delta, precise=True) == expected


# --------------------------------------------------------------------------- output


@pytest.mark.parametrize(
    ("dt", "tz", "expected"),
    [
        (datetime(2026, 12, 1, 13, 30, tzinfo=UTC), LISBON, "2026-12-01 13:30"),
        (datetime(2026, 7, 1, 13, 30, tzinfo=UTC), LISBON, "2026-07-01 14:30"),
        (datetime(2026, 12, 1, 13, 30, tzinfo=UTC), NEW_YORK, "2026-12-01 08:30"),
        (datetime(2026, 12, 1, 23, 30, tzinfo=UTC), TOKYO, "2026-12-02 08:30"),
        (datetime(2026, 12, 1, 13, 30, 59, 999999, tzinfo=UTC), UTC, "2026-12-01 13:30"),
        (datetime(2026, 12, 1, 13, 30), NEW_YORK, "2026-12-01 08:30"),  # naive = UTC
        (
            datetime(2026, 12, 1, 14, 30, tzinfo=timezone(timedelta(hours=1))),
            UTC,
            "2026-12-01 13:30",
        ),
    ],
)
def test_format_local(dt: datetime, tz: tzinfo, expected: str) -> None:
    assert format_local(dt, tz) == expected


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2026, 12, 1, 13, 30, tzinfo=UTC), "2026-12-01T13:30:00+00:00"),
        (
            datetime(2026, 12, 1, 14, 30, tzinfo=timezone(timedelta(hours=1))),
            "2026-12-01T13:30:00+00:00",
        ),
        (datetime(2026, 12, 1, 14, 30, tzinfo=LISBON), "2026-12-01T14:30:00+00:00"),
        (datetime(2026, 7, 1, 14, 30, tzinfo=LISBON), "2026-07-01T13:30:00+00:00"),
        (datetime(2026, 12, 1, 13, 30, 5, 999999, tzinfo=UTC), "2026-12-01T13:30:05+00:00"),
        (datetime(2026, 12, 1, 13, 30), "2026-12-01T13:30:00+00:00"),  # naive = UTC
    ],
)
def test_to_iso_utc(dt: datetime, expected: str) -> None:
    assert to_iso_utc(dt) == expected


def test_round_trip_through_format_local() -> None:
    for text in ("2026-12-01 14:30", "2026-07-01 09:05", "2026-03-29 02:30", "2026-10-25 02:00"):
        for tz in (LISBON, NEW_YORK, TOKYO):
            assert format_local(when(text, tz=tz), tz) == text


# --------------------------------------------------------------------------- local_zone


def test_local_zone_reads_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert local_zone() == ZoneInfo("America/New_York")
    assert parse_when("2026-12-01 9am", now=NOW) == datetime(2026, 12, 1, 14, tzinfo=UTC)
    assert format_local(datetime(2026, 12, 1, 14, tzinfo=UTC)) == "2026-12-01 09:00"
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # read afresh on every call
    assert local_zone() == TOKYO
    assert parse_when("2026-12-01 9am", now=NOW) == datetime(2026, 12, 1, 0, tzinfo=UTC)
    assert format_local(datetime(2026, 12, 1, 0, tzinfo=UTC)) == "2026-12-01 09:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (":Europe/Lisbon", LISBON),
        ("/usr/share/zoneinfo/Europe/Lisbon", LISBON),
        ("UTC", ZoneInfo("UTC")),
        ("", UTC),
    ],
)
def test_local_zone_tz_spellings(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tzinfo
) -> None:
    monkeypatch.setenv("TZ", value)
    assert local_zone() == expected


def test_local_zone_reads_a_posix_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    # tzlocal refuses a POSIX rule; dateutil reads it, daylight saving included.
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    zone = local_zone()
    assert datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset() == timedelta(hours=1)
    assert datetime(2026, 7, 15, 12, tzinfo=zone).utcoffset() == timedelta(hours=2)
    assert format_local(datetime(2026, 7, 15, 10, tzinfo=UTC)) == "2026-07-15 12:00"
    assert parse_when("2026-12-01 9am", now=NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    # The transition is where the rule says: the last Sunday of March at 02:00.
    with pytest.raises(WhenError, match="does not exist"):
        parse_when("2026-03-29 02:30", now=NOW)


def test_local_zone_prefers_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tracker_home: Path
) -> None:
    tracker_home.mkdir(parents=True, exist_ok=True)
    (tracker_home / "config.toml").write_text('time_zone = "Australia/Lord_Howe"\n')
    monkeypatch.setenv("TZ", "America/New_York")
    assert local_zone() == ZoneInfo("Australia/Lord_Howe")


@pytest.mark.parametrize(
    "value",
    ["Not/A_Zone", "America", "../etc/passwd", "/etc/localtime", "nonsense"],
)
def test_local_zone_ignores_a_tz_that_is_not_a_zone(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("TZ", raising=False)
    fallback = local_zone()
    monkeypatch.setenv("TZ", value)
    zone = local_zone()
    assert zone == fallback or zone.utcoffset(datetime(2026, 1, 1)) == fallback.utcoffset(
        datetime(2026, 1, 1)
    )


def test_local_zone_follows_the_etc_localtime_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(os, "readlink", lambda path: "../usr/share/zoneinfo/Europe/Lisbon")
    assert local_zone() == LISBON


def test_local_zone_reads_a_copied_etc_localtime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import builtins

    copy = tmp_path / "localtime"
    copy.write_bytes(_tzif_bytes("Asia/Tokyo"))
    real_open = builtins.open

    def fake_open(path: object, *args: object, **kwargs: object) -> object:
        if path == "/etc/localtime":
            path = copy
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    def no_link(path: str) -> str:
        raise OSError("not a symbolic link")

    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(os, "readlink", no_link)
    monkeypatch.setattr(builtins, "open", fake_open)
    zone = local_zone()
    assert zone.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=9)


def test_local_zone_last_resorts(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    from time import tzset

    import tracker.when

    def fail(*args: object, **kwargs: object) -> str:
        raise OSError("no such file")

    class BrokenClock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> BrokenClock:
            raise OSError("the C library cannot say")

    # No zone name anywhere: TZ is a POSIX rule (UTC+9 to the C library), and /etc/localtime
    # is neither a link nor readable. What is left is the C library's offset, a fixed one.
    monkeypatch.setenv("TZ", "XYZ-9")
    tzset()
    try:
        monkeypatch.setattr(os, "readlink", fail)
        monkeypatch.setattr(builtins, "open", fail)
        zone = local_zone()
        assert not isinstance(zone, ZoneInfo)
        assert zone.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=9)
        assert zone.utcoffset(datetime(2026, 7, 1)) == timedelta(hours=9)
        # And with no TZ and a C library that cannot say either: UTC.
        monkeypatch.setattr(tracker.when, "datetime", BrokenClock)
        monkeypatch.delenv("TZ")
        assert local_zone() is UTC
    finally:
        monkeypatch.setenv("TZ", "UTC")  # the C library's zone is the process's, not the test's
        tzset()


def _tzif_bytes(key: str) -> bytes:
    from importlib import resources

    try:
        return resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).read_bytes()
    except ModuleNotFoundError:  # pragma: no cover - no tzdata package: the system database
        return Path("/usr/share/zoneinfo", key).read_bytes()


# --------------------------------------------------------------------------- import cost


def test_import_is_light() -> None:
    # Every command has imported tracker.config (the store's location) before it reads a
    # time: what tracker.when adds to that is what it costs.
    code = (
        "import sys; import tracker.config; before = set(sys.modules); import tracker.when; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    ).stdout.split()
    assert "tracker.when" in out
    heavy = {"re", "zoneinfo", "typing", "dataclasses", "inspect", "calendar", "json"}
    assert not (heavy | {"holidays", "dateutil", "tzlocal"}) & set(out)
    assert set(out) <= {"tracker.when", "datetime", "_datetime", "math"}


def test_times_of_day_keep_the_date_default() -> None:
    # A day without a time means 09:00 local, whatever the current time of day.
    for hour in (0, 8, 9, 10, 23):
        now = at(2026, 11, 26, hour)
        assert when("tomorrow", now=now).astimezone(LISBON).time() == time(9, 0)


def test_the_daemon_computes_holiday_calendars_in_a_child_process(tmp_path: Path) -> None:
    # The daemon runs for months: the holidays package (some 10 MB) must not stay in it.
    # With compute_holidays_apart() a calendar missing from the disk cache is computed by a
    # child, and comes out the same as computed here.
    script = """
import sys
from datetime import date
from tracker.when import add_business_days, calendar_for, compute_holidays_apart
compute_holidays_apart()
england = calendar_for("GB", "ENG")
print(add_business_days(date(2026, 12, 22), 10, england), "holidays" in sys.modules)
"""
    env = {**os.environ, "TRACKER_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout == "2027-01-08 False\n", done.stderr
    # The child wrote nothing: the parent filled the disk cache (read next time without a child).
    assert list((tmp_path / "home" / "cache").glob("holidays-*.json"))


# --------------------------------------------------------------------------- the 15th


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the 15th", at(2026, 12, 15, 9)),  # the next 15th: December's (26 November now)
        ("15th", at(2026, 12, 15, 9)),
        ("by the 15th", at(2026, 12, 15, 9)),
        ("on the 1st", at(2026, 12, 1, 9)),
        ("the 26th", at(2026, 11, 26, 9)),  # today's date is today
        ("the 30th 2pm", at(2026, 11, 30, 14)),
        ("the 15th at 10:30", at(2026, 12, 15, 10, 30)),
    ],
)
def test_a_day_of_the_month_alone_is_the_next_one(text: str, expected: datetime) -> None:
    assert when(text) == expected


def test_a_day_of_the_month_skips_the_months_without_it() -> None:
    february = NOW.replace(month=2, day=1)
    assert when("the 30th", now=february) == at(2026, 3, 30, 9)
    assert parse_when("the 15th", now=NOW, tz=LISBON, past=True) == at(2026, 11, 15, 9)


@pytest.mark.parametrize("text", ["the 32nd", "the 0th"])
def test_a_day_of_the_month_past_31_is_refused(text: str) -> None:
    with pytest.raises(WhenError, match=r"the day must be in 1\.\.31"):
        parse_when(text, now=NOW)
