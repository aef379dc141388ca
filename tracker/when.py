"""Turn what the user types for a time (`WHEN`) or a length of time (`DUR`) into values.

Every time the CLI stores is an aware UTC ``datetime``; every time the user types is read in
the local time zone (:func:`local_zone`).  This module is imported by every command, so it
imports only ``datetime``, ``os`` and ``bisect`` (and the project's config) at the top: ``re`` and
``zoneinfo`` are imported, and the patterns compiled, on first use; ``holidays`` only when a
business day is counted on a public-holiday calendar, ``dateutil`` only for a month name or a
POSIX ``TZ`` rule, ``tzlocal`` only when the system zone is not a plain zoneinfo link.

`WHEN` forms (case-insensitive, surrounding and repeated whitespace ignored; a leading ``by``
or ``on`` is ignored: ``by fri``, ``on Dec 24``):

* ``now``.
* ISO dates and date-times: ``2026-12-01``, ``2026-12-01 14:30``, ``2026-12-01T14:30:05``,
  optionally with an offset: ``2026-12-01T14:30+01:00``, ``2026-12-01 14:30Z``,
  ``2026-12-01 14:30 UTC``, ``...+0100``.  :func:`to_iso_utc` output reads back unchanged.
* Month names (read through ``dateutil``): ``Dec 24``, ``December 24th``, ``24 Dec``,
  ``24th of December 2026``, ``Dec 24, 2026``.  Without a year: the next such day from today
  on (the latest one up to today for a time in the past, ``--at``).
* Day-month numbers: ``24/12``, ``12/24``, ``24.12.2026``, ``2026/12/24``, in the date order
  of the config file or the user's country (DMY, MDY, YMD).  Without one, a date that reads
  two ways (``05/06``) is refused, saying so; ``24/12`` and ``12/24`` read one way only.  A
  two-digit year is refused.
* Days: ``today``, ``tomorrow``, ``yesterday``; weekday names, full or short (``fri``,
  ``friday``, ``thu``, ``thurs``...).  A bare weekday and ``next <weekday>`` both mean the next
  such day strictly after today (on a Friday, ``fri`` is a week away); ``last <weekday>`` is
  the latest such day strictly before today.  ``mon 9 dec``: the weekday must match.
* Ends: ``eod`` (also ``end of day``, ``end of the day``, ``cob``, ``close of business``):
  17:00 today, or the next business day's 17:00 once today's has passed or today is not a
  business day.  ``eow`` (``end of the week``, ``end of this week``): Friday 17:00, next
  week's once that has passed.  ``end of next week``: next week's Friday 17:00.  ``eom``
  (``end of the month``, ``end of this month``): the last day of the month at 17:00, next
  month's once that has passed; ``end of next month``.  These carry their own time of day.
* Periods, which are windows due at their end: ``next week`` (Monday 09:00 to Friday 17:00),
  ``next month`` (the 1st 09:00 to the last day 17:00).
* Relative: ``3d``, ``2w``, ``4h``, ``30min``, ``30m``, ``90s``, ``1h30m``, ``+3d``, ``-3d``,
  ``in 3 days``, ``in an hour``, ``3 days ago``, ``2 hours from now``.  Whole days and weeks
  move on the calendar and keep the wall-clock time across a daylight-saving change (as
  business days do); hours, minutes, seconds and fractions are exact.
* Business days: ``10bd``, ``10 business days``, ``10 working days``, ``-2bd``, ``3 workdays
  ago``: skip the weekend and the public holidays of a :class:`Calendar`, and keep the time of
  day.
* Ranges, windows due at their end (the start is kept): ``7-10 business days``, ``7 to 10
  working days``, ``3-5 days``, ``in 2 to 3 weeks``, ``between 3 and 5 working days``,
  ``within 48 hours`` (from the moment itself).
* A time of day, after (or before) any day form, optionally after ``at``: ``tomorrow 9am``,
  ``fri 14:00``, ``next monday at 9:30am``, ``today 5:30pm``, ``2026-12-01 9am``, ``10bd 9am``,
  ``in 3 days 9am``, ``2 days ago 15:00``, ``9am tomorrow``, ``noon``.  A time alone means
  today.  24-hour times need a colon (``14:00``); 12-hour times need am/pm (``9am``), except a
  bare hour after a day word in business hours: ``mon 9`` is 09:00, ``fri 2`` is 14:00
  (8-11 morning, 12 noon, 1-6 afternoon; other bare hours are refused).  ``midnight`` is
  refused (which one?).  A time of day may carry an offset (``tomorrow 01:30+01:00``).
* A day without a time of day means 09:00 local.

A local wall time that the user typed and that does not exist (it falls in the gap when the
clocks go forward) or is ambiguous (it happens twice when they go back) is a
:class:`WhenError` saying so.  A wall time the user did not type (the default 09:00, the 17:00
of the ends, the time of day ``10bd`` or ``3d`` keeps) is resolved instead: a time in a gap
moves forward by the length of the gap, an ambiguous time takes its first occurrence.

`DUR` forms: ``15m``, ``45min``, ``90s``, ``2h``, ``1h30m``, ``1h 30m``, ``1.5h``, ``1d``,
``2w``, ``2 hours 30 minutes``.  Zero, negative and unitless amounts are errors.

Naive ``datetime`` values given to this module (``now``, :func:`format_local`,
:func:`to_iso_utc`) are taken to be UTC, which is how the store keeps them.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from tracker.config import cache_dir, settings
from tracker.errors import UsageError
from tracker.values import DATE_ORDERS

if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DATE_ORDERS",
    "WEEKDAYS",
    "Calendar",
    "WhenError",
    "Window",
    "add_business_days",
    "calendar_by_key",
    "calendar_for",
    "format_local",
    "humanize_delta",
    "local_zone",
    "parse_date",
    "parse_duration",
    "parse_when",
    "parse_window",
    "to_iso_utc",
    "zone_label",
    "zone_named",
]


class WhenError(UsageError):
    """The user's time, date or duration cannot be read. Exit 2."""


WHEN_HINT = "try 2026-12-01, Dec 24, tomorrow 9am, fri, in 3 days, 10bd, 7-10 business days, eom"
DUR_HINT = "try 15m, 45min, 90s, 2h, 1h30m, 1h 30m, 1d"

DEFAULT_TIME = time(9, 0)  # a day without a time of day
END_OF_DAY = time(17, 0)  # the ends (eod, eow, eom): the end of the business day

_MAX_INPUT = 100  # longer input is refused before any pattern sees it
_MAX_DAYS = 36525  # no customer-service case spans a century

_WEEKDAYS = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "weds": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# unit word -> canonical unit; "bd" is business days
_UNITS = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "w": "w",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
    "bd": "bd",
    "bds": "bd",
    "business day": "bd",
    "business days": "bd",
    "working day": "bd",
    "working days": "bd",
    "work day": "bd",
    "work days": "bd",
    "workday": "bd",
    "workdays": "bd",
}
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Phrases that name an end: (which end, how many periods ahead).
_ENDS = {
    "eod": ("day", 0),
    "eob": ("day", 0),
    "cob": ("day", 0),
    "end of day": ("day", 0),
    "end of the day": ("day", 0),
    "end of business": ("day", 0),
    "close of business": ("day", 0),
    "end of today": ("day", 0),
    "eow": ("week", 0),
    "end of week": ("week", 0),
    "end of the week": ("week", 0),
    "end of this week": ("week", 0),
    "end of next week": ("week", 1),
    "eom": ("month", 0),
    "end of month": ("month", 0),
    "end of the month": ("month", 0),
    "end of this month": ("month", 0),
    "end of next month": ("month", 1),
}
_PERIODS = ("next week", "next month")


# --------------------------------------------------------------------------- patterns


class _Patterns:
    """The compiled patterns (see :func:`_pat`)."""

    def __init__(self) -> None:
        import re

        units = "|".join(sorted((u.replace(" ", r"\s*") for u in _UNITS), key=len, reverse=True))
        # "3d", "3 days", "1.5h", "an hour"; "a" needs a space ("am" is not "a minute")
        number = r"(?:(?P<n>\d+(?:\.\d+)?|\.\d+)\s*|(?P<a>an?)\s+)"
        term = rf"{number}(?P<unit>{units})(?![a-z])"
        terms = re.sub(r"\(\?P<\w+>", "(?:", rf"{term}(?:\s*{term})*")
        self.iso_t = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})t(?=\d)")
        self.date = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
        self.time = re.compile(
            r"(?:(?P<h>\d{1,2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,6}))?)?)?"
            r"\s*(?P<ap>a\.?m\.?|p\.?m\.?)?|(?P<noon>noon|midday))"
            r"(?:\s*(?P<off>z|utc|[+-]\d{2}(?::?\d{2})?))?"
        )
        self.relative = re.compile(
            rf"(?:(?P<in>in)\s+)?(?P<sign>[+-])?(?P<terms>{terms})"
            r"(?:\s+(?P<ago>ago|from\s+now))?"
        )
        self.term = re.compile(term)
        self.duration = re.compile(rf"(?P<sign>[+-])?\s*(?P<terms>{terms})")
        self.range = re.compile(
            r"(?:in\s+|between\s+(?=\d+\s+and\s))?(?P<lo>\d+)\s*(?:-|–|—|to|and)\s*(?P<hi>\d+)"
            rf"\s*(?P<unit>{units})(?![a-z])"
        )
        self.within = re.compile(rf"within\s+(?P<terms>{terms})")
        ordinal = r"(?:st|nd|rd|th)?"
        month = r"(?P<mon>[a-z]{3,9})\.?"
        year = r"(?:,?\s*(?P<y>\d{4}))?"
        self.month_day = re.compile(rf"{month}\s+(?P<d>\d{{1,2}}){ordinal}{year}")
        self.day_month = re.compile(
            rf"(?:the\s+)?(?P<d>\d{{1,2}}){ordinal}\s+(?:of\s+)?{month}{year}"
        )
        # "the 15th": a day of the month alone (the ordinal's ending is required).
        self.month_ordinal = re.compile(r"(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)")
        self.numeric = re.compile(
            r"(?P<a>\d{1,4})(?P<sep>[/.])(?P<b>\d{1,2})(?:(?P=sep)(?P<c>\d{1,4}))?"
        )
        self.bare_hour = re.compile(r"\d{1,2}")


_patterns: _Patterns | None = None


def _pat() -> _Patterns:
    """The patterns, compiled on first use (``re`` is not imported when this module is)."""
    global _patterns
    if _patterns is None:
        _patterns = _Patterns()
    return _patterns


# --------------------------------------------------------------------------- time zones


def _posix_rule(text: str) -> bool:
    """Whether `text` looks like a POSIX TZ rule: a name (or <+03>), then an offset."""
    import re

    return (
        re.fullmatch(r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]+>)[+-]?\d{1,2}(?::\d{2}){0,2}.*", text)
        is not None
    )


def _zone_from_tz(value: str) -> tzinfo | None:
    """The zone a ``TZ`` value names: a zone key, a zoneinfo path, or a POSIX rule."""
    from zoneinfo import ZoneInfo

    marker = "zoneinfo/"
    key = value[1:] if value.startswith(":") else value
    if not key:
        return UTC
    if key.startswith("/") and marker in key:  # TZ=/usr/share/zoneinfo/Europe/Lisbon
        key = key[key.rindex(marker) + len(marker) :]
    try:
        return ZoneInfo(key)
    except (ValueError, LookupError, OSError):
        pass
    if _posix_rule(key):
        # A POSIX rule such as CET-1CEST,M3.5.0,M10.5.0/3: tzlocal refuses these, dateutil
        # reads them (with their daylight-saving rules).
        from dateutil.tz import tzstr

        try:
            return tzstr(key)  # type: ignore[no-any-return]
        except (ValueError, TypeError, IndexError):
            return None
    return None


def _system_zone() -> tzinfo:
    """The machine's zone: the /etc/localtime link, else tzlocal, else the C library, else UTC."""
    from zoneinfo import ZoneInfo

    marker = "zoneinfo/"
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if marker in target:
        try:
            return ZoneInfo(target[target.rindex(marker) + len(marker) :])
        except (ValueError, LookupError, OSError):
            pass
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh)
    except (ValueError, OSError):
        pass
    try:
        import tzlocal

        return tzlocal.get_localzone()
    except Exception:  # any failure of the lookup: the C library's answer
        pass
    try:
        return datetime.now().astimezone().tzinfo or UTC
    except (ValueError, OSError, OverflowError):  # pragma: no cover - broken C library
        return UTC


def zone_named(name: str) -> tzinfo:
    """The zone ``name`` (``Europe/London``, ``UTC``, a POSIX rule); WhenError if unknown."""
    zone = _zone_from_tz(name.strip()) if name.strip() else None
    if zone is None:
        raise WhenError(f"unknown time zone '{name}'; use a name such as Europe/London")
    return zone


def local_zone() -> tzinfo:
    """The local time zone, looked up afresh on each call (cheap: zones are cached by key).

    In order: ``time_zone`` in the config file; the ``TZ`` environment variable (a zone name
    such as ``Europe/Lisbon``, also ``:Europe/Lisbon`` and a zoneinfo path; a POSIX rule such
    as ``CET-1CEST,M3.5.0,M10.5.0/3``; an empty ``TZ`` means UTC, as for the C library); else
    the system's zone (:func:`_system_zone`).  A ``TZ`` that names nothing (a typo) is passed
    over for the system's zone.
    """
    configured = settings().time_zone
    if configured:
        zone = _zone_from_tz(configured)
        if zone is not None:
            return zone
    env = os.environ.get("TZ")
    if env is not None:
        if env not in _TZ_CACHE:
            _TZ_CACHE[env] = _zone_from_tz(env)
        cached = _TZ_CACHE[env]
        if cached is not None:
            return cached
    return _system_zone()


_TZ_CACHE: dict[str, tzinfo | None] = {}


def _zone_name(tz: tzinfo) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    if tz is UTC:
        return "UTC"
    posix = getattr(tz, "_s", None)  # dateutil's tzstr keeps the rule it read
    if isinstance(posix, str) and posix:
        return posix
    return "the local time zone"


def zone_label(tz: tzinfo, at: datetime) -> str:
    """``Europe/London (GMT, UTC+00:00)``: the zone's name, abbreviation and offset at ``at``."""
    local = _as_utc(at).astimezone(tz)
    offset = "UTC" + _fmt_offset(local.utcoffset())
    abbrev = local.tzname()
    name = _zone_name(tz)
    if name in ("UTC", "Etc/UTC", "Etc/Universal", "Universal", "Zulu") and not local.utcoffset():
        return name
    if name == "the local time zone":
        name = "local time"
    parts = [p for p in (abbrev, offset) if p and p != name]
    if abbrev and abbrev[0] in "+-":  # zones with no abbreviation print the offset
        parts = [offset]
    return f"{name} ({', '.join(dict.fromkeys(parts))})" if parts else name


def _fmt_wall(wall: datetime) -> str:
    text = f"{wall:%Y-%m-%d %H:%M}"
    if wall.second or wall.microsecond:
        text += f":{wall.second:02d}"
    return text


def _fmt_offset(offset: timedelta | None) -> str:
    if offset is None:  # pragma: no cover - aware datetimes always have one
        return "+00:00"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _localize(wall: datetime, tz: tzinfo, *, strict: bool) -> datetime:
    """The UTC instant of naive local ``wall`` in ``tz``.

    Gaps and folds are found by converting with ``fold=0`` and ``fold=1`` through UTC and
    back.  ``strict`` (the user typed this wall time) makes them errors; otherwise a gap time
    moves forward by the gap's length and an ambiguous time takes its first occurrence.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if not strict:
        return first
    back0 = first.astimezone(tz)
    back1 = second.astimezone(tz)
    if first == second and back0.replace(tzinfo=None) == wall:
        return first
    name = _zone_name(tz)
    if back0.replace(tzinfo=None) != wall and back1.replace(tzinfo=None) != wall:
        why = "the clocks skip it"
        if back0.dst() != back1.dst():
            why += " for daylight saving time"
        raise WhenError(f"{_fmt_wall(wall)} does not exist in {name} ({why})")
    shown = _fmt_wall(wall)
    raise WhenError(
        f"{shown} is ambiguous in {name} (it happens twice when the clocks go back); "
        f"give an offset, e.g. {shown}{_fmt_offset(back0.utcoffset())} for the first "
        f"or {shown}{_fmt_offset(back1.utcoffset())} for the second"
    )


def _as_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


# --------------------------------------------------------------------------- dates


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def _make_date(year: int, month: int, day: int, shown: str) -> date:
    if not 1 <= year <= 9999:
        raise WhenError(f"invalid date '{shown}': year must be in 1..9999")
    if not 1 <= month <= 12:
        raise WhenError(f"invalid date '{shown}': month must be in 1..12")
    last = _days_in_month(year, month)
    if not 1 <= day <= last:
        raise WhenError(f"invalid date '{shown}': {MONTHS[month - 1]} {year} has {last} days")
    return date(year, month, day)


def parse_date(text: str) -> date:
    """An ISO calendar date, ``YYYY-MM-DD`` (e.g. ``2026-12-01``), nothing else."""
    shown = text.strip()
    m = _pat().date.fullmatch(shown)
    if m is None:
        raise WhenError(f"cannot read '{shown}' as a date; use YYYY-MM-DD, e.g. 2026-12-01")
    return _make_date(int(m[1]), int(m[2]), int(m[3]), shown)


# --------------------------------------------------------------------------- calendars


def _weekday_add(start: date, n: int) -> date:
    """``start`` moved by ``n`` weekdays (Monday to Friday), in constant time."""
    if n == 0:
        return start
    weekday = start.weekday()
    if n > 0:
        if weekday >= 5:  # count from the Friday before
            start -= timedelta(days=weekday - 4)
            weekday = 4
        weeks, rest = divmod(n, 5)
        extra = 2 if weekday + rest > 4 else 0
        return start + timedelta(days=7 * weeks + rest + extra)
    if weekday >= 5:  # count from the Monday after
        start += timedelta(days=7 - weekday)
        weekday = 0
    weeks, rest = divmod(-n, 5)
    extra = 2 if weekday - rest < 0 else 0
    return start - timedelta(days=7 * weeks + rest + extra)


# The holidays package's calendar for a country without a subdivision is, for a few
# countries, only the days common to all its parts (the UK's lacks Easter Monday and the
# August bank holiday): the parts where most people live stand in for it.
_DEFAULT_SUBDIVISION = {"GB": "ENG"}
_CALENDAR_NAMES = {
    "US": "US federal holidays",
    "GB-ENG": "England and Wales bank holidays",
    "GB-WLS": "England and Wales bank holidays",
    "GB-SCT": "Scotland bank holidays",
    "GB-NIR": "Northern Ireland bank holidays",
}
_HOLIDAY_YEARS = range(1950, 2151)  # outside these, weekends only


class Calendar:
    """Business days: the days outside the weekend that are not public holidays.

    ``Calendar()`` (:data:`WEEKDAYS`) knows no holidays: Monday to Friday.  A country's
    calendar (``Calendar("US")``, ``Calendar("GB", "SCT")``) reads its public holidays and its
    weekend from the ``holidays`` package, imported on first use; the dates are cached in
    memory and in the cache folder (:func:`tracker.config.cache_dir`), per package version, so
    the import is paid once per machine and year.
    """

    def __init__(self, country: str | None = None, subdivision: str | None = None) -> None:
        self.country = country.upper() if country else None
        sub = subdivision.upper() if subdivision else None
        if self.country and sub is None:
            sub = _DEFAULT_SUBDIVISION.get(self.country)
        self.subdivision = sub if self.country else None
        self._years: dict[int, dict[date, str]] = {}
        # Per year: its holidays that fall on a business weekday, in order (and how many
        # days the year's table held when the list was made: a later block may add one).
        self._off_days: dict[int, tuple[int, list[date]]] = {}
        self._weekend: frozenset[int] | None = None if self.country else frozenset({5, 6})
        self._known: bool | None = None if self.country else False

    @property
    def key(self) -> str:
        """``US``, ``GB-ENG``; ``weekdays`` for no holidays (what a promise records)."""
        if not self.country:
            return "weekdays"
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country

    @property
    def name(self) -> str:
        """What `case show` says: "US federal holidays", "public holidays of FR"."""
        if not self.country:
            return "Monday to Friday, no public holidays"
        self._load(date.today().year)
        if not self._known:
            return f"Monday to Friday (no public-holiday calendar for {self.key})"
        return _CALENDAR_NAMES.get(self.key) or f"public holidays of {self.key}"

    def __repr__(self) -> str:
        return f"Calendar({self.key})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calendar) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    # ------------------------------------------------------------------ the holidays

    def _load(self, year: int) -> dict[date, str]:
        found = self._years.get(year)
        if found is not None:
            return found
        if not self.country or year not in _HOLIDAY_YEARS:
            self._years[year] = {}
            return self._years[year]
        first = year - year % 4  # a block of 4 years per lookup
        table = _holiday_table(self.key, self.country, self.subdivision, first)
        self._known = table.known
        self._weekend = table.weekend
        for offset in range(4):
            self._years[first + offset] = {}
        for day, name in table.days.items():
            self._years.setdefault(day.year, {})[day] = name
        return self._years[year]

    @property
    def weekend(self) -> frozenset[int]:
        if self._weekend is None:
            self._load(date.today().year)
        return self._weekend or frozenset({5, 6})

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on ``day``, or None."""
        return self._load(day.year).get(day)

    def is_business_day(self, day: date) -> bool:
        if day.weekday() in self.weekend:
            return False
        return self.holiday(day) is None

    def _holidays_passed(self, counted: date, day: date) -> int:
        """How many holidays on business weekdays a move from ``counted`` to ``day`` passes:
        after ``counted`` up to ``day`` forward, from ``day`` up to before ``counted`` back
        (``counted`` itself is where the count starts, ``day`` where it lands)."""
        # Forward the stretch is (counted, day]; back it is [day, counted).
        low, high, cut = (
            (counted, day, bisect_right) if counted <= day else (day, counted, bisect_left)
        )
        count = 0
        for year in range(low.year, high.year + 1):
            days = self._weekday_holidays(year)
            count += cut(days, high) - cut(days, low)
        return count

    def _weekday_holidays(self, year: int) -> list[date]:
        """The year's holidays that fall outside the weekend, in order."""
        table = self._load(year)
        made = self._off_days.get(year)
        if made is None or made[0] != len(table):
            weekend = self.weekend
            made = self._off_days[year] = (
                len(table),
                sorted(day for day in table if day.weekday() not in weekend),
            )
        return made[1]

    def add(self, start: date, n: int) -> date:
        """``start`` moved by ``n`` business days; from a day off, one forward is the next
        business day and one back the one before.  ``n == 0`` returns ``start``."""
        if n == 0:
            return start
        if abs(n) > _MAX_DAYS:
            raise OverflowError("too many business days")
        if self.weekend != frozenset({5, 6}):
            return self._step(start, n)
        day = _weekday_add(start, n)
        if not self.country:
            return day
        # `day` is n weekdays on; each holiday passed on the way is one business day short:
        # move on by that many weekdays, and count the holidays passed in that stretch.
        step = 1 if n > 0 else -1
        counted = start
        while True:
            missing = self._holidays_passed(counted, day)
            if not missing:
                return day
            counted, day = day, _weekday_add(day, step * missing)

    def _step(self, start: date, n: int) -> date:
        day, step = start, (1 if n > 0 else -1)
        for _ in range(abs(n)):
            day += timedelta(days=step)
            while not self.is_business_day(day):
                day += timedelta(days=step)
        return day

    def next_business_day(self, day: date) -> date:
        """``day`` itself if it is a business day, else the next one."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day


WEEKDAYS = Calendar()
_CALENDARS: dict[tuple[str | None, str | None], Calendar] = {}


def calendar_for(country: str | None, subdivision: str | None = None) -> Calendar:
    """The calendar of a country (and subdivision), one instance per process."""
    key = (country.upper() if country else None, subdivision.upper() if subdivision else None)
    if key[0] is None:
        return WEEKDAYS
    found = _CALENDARS.get(key)
    if found is None:
        found = _CALENDARS[key] = Calendar(*key)
    return found


def calendar_by_key(key: str) -> Calendar:
    """The calendar a :attr:`Calendar.key` names (``US``, ``GB-ENG``, ``weekdays``)."""
    if key == "weekdays" or not key:
        return WEEKDAYS
    country, _, subdivision = key.partition("-")
    return calendar_for(country, subdivision or None)


class _HolidayTable:
    __slots__ = ("days", "known", "weekend")

    def __init__(self, days: dict[date, str], weekend: frozenset[int], known: bool) -> None:
        self.days = days
        self.weekend = weekend
        self.known = known


def _holidays_version() -> str | None:
    """The installed holidays package's version, read without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec("holidays")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    version_file = os.path.join(os.path.dirname(spec.origin), "version.py")
    try:
        with open(version_file, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("__version__"):
                    return line.split("=", 1)[1].strip().strip("\"'")
    except OSError:
        return None
    return None


def _holiday_table(key: str, country: str, subdivision: str | None, first: int) -> _HolidayTable:
    """Four years of a country's holidays, from the disk cache or the holidays package."""
    import json

    version = _holidays_version()
    cache = None
    if version is not None:
        cache = os.path.join(os.fspath(cache_dir()), f"holidays-{version}-{key}-{first}.json")
        try:
            with open(cache, encoding="utf-8") as fh:
                return _table_from_json(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    table = _compute_holidays(country, subdivision, first)
    if cache is not None:
        _write_cache(cache, table)
    return table


_APART = False  # compute calendars in a child process (see compute_holidays_apart)


def compute_holidays_apart(apart: bool = True) -> None:
    """Compute a holiday calendar missing from the disk cache in a short-lived child process.

    For the daemon: the ``holidays`` package and the tables it builds take some 10 MB, which
    a long-running process would keep for good; a command that exits soon pays nothing by
    computing them itself. The child writes nothing; if it fails, the calendar is computed
    here after all.
    """
    global _APART
    _APART = apart


def _compute_holidays(country: str, subdivision: str | None, first: int) -> _HolidayTable:
    if _APART:
        table = _compute_in_child(country, subdivision, first)
        if table is not None:
            return table
    try:
        import holidays
    except ImportError:  # pragma: no cover - a dependency; weekends only without it
        return _HolidayTable({}, frozenset({5, 6}), False)
    try:
        found = holidays.country_holidays(
            country, subdiv=subdivision, years=range(first, first + 4)
        )
    except NotImplementedError:  # no calendar for that country or subdivision
        if subdivision is not None:
            return _compute_holidays(country, None, first)
        return _HolidayTable({}, frozenset({5, 6}), False)
    weekend = frozenset(getattr(found, "weekend", {5, 6}) or {5, 6})
    return _HolidayTable({d: str(n) for d, n in found.items()}, weekend, True)


def _compute_in_child(country: str, subdivision: str | None, first: int) -> _HolidayTable | None:
    import json
    import subprocess
    import sys

    code = "import sys; from tracker.when import _print_holidays; _print_holidays(*sys.argv[1:])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, country, subdivision or "", str(first)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return _table_from_json(json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return None


def _print_holidays(country: str, subdivision: str, first: str) -> None:
    """The child's side of _compute_in_child: the table as JSON on stdout."""
    import json

    table = _compute_holidays(country, subdivision or None, int(first))
    print(json.dumps(_table_to_json(table)))


def _table_to_json(table: _HolidayTable) -> dict[str, object]:
    return {
        "days": sorted((d.isoformat(), n) for d, n in table.days.items()),
        "weekend": sorted(table.weekend),
        "known": table.known,
    }


def _table_from_json(raw: dict[str, Any]) -> _HolidayTable:
    return _HolidayTable(
        {date.fromisoformat(d): str(n) for d, n in raw["days"]},
        frozenset(int(day) for day in raw["weekend"]),
        bool(raw["known"]),
    )


def _write_cache(path: str, table: _HolidayTable) -> None:
    import json

    data = _table_to_json(table)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(temp, path)
    except OSError:  # a cache that cannot be written is only slower
        pass


def add_business_days(start: date, n: int, calendar: Calendar | None = None) -> date:
    """``start`` moved by ``n`` business days of ``calendar`` (default: Monday to Friday).

    ``n == 0`` returns ``start`` unchanged.  From a weekend day, one business day forward is
    the next business day and one back the one before.
    """
    return (calendar or WEEKDAYS).add(start, n)


# --------------------------------------------------------------------------- parsing


class _TimeOfDay:
    __slots__ = ("offset", "value")

    def __init__(self, value: time, offset: timezone | None) -> None:
        self.value = value
        self.offset = offset


class _Term:
    __slots__ = ("amount", "exact", "unit")

    def __init__(self, amount: float, unit: str) -> None:
        self.amount = amount
        self.unit = unit  # a key of _UNIT_SECONDS, or "bd"
        self.exact = amount.is_integer()


class Window:
    """What a `WHEN` means: an instant (``start`` None) or a window due at its ``end``.

    ``business_days``: whether a business-day calendar decided it (so `case show` can say
    which).
    """

    __slots__ = ("ago", "business_days", "end", "start")

    def __init__(
        self,
        end: datetime,
        start: datetime | None = None,
        *,
        business_days: bool = False,
        ago: bool = False,
    ) -> None:
        self.end = end
        self.start = start
        self.business_days = business_days
        self.ago = ago  # "3 days ago": in the past, and said so

    def __repr__(self) -> str:
        return f"Window({self.start!r}, {self.end!r}, business_days={self.business_days})"


class _Context:
    """One parse: the moment, zone, calendar and date order it reads against."""

    __slots__ = ("calendar", "now", "order", "past", "today", "tz", "used_calendar")

    def __init__(
        self, now: datetime, tz: tzinfo, calendar: Calendar, order: str | None, past: bool
    ) -> None:
        self.now = now
        self.tz = tz
        self.calendar = calendar
        self.order = order
        self.past = past
        self.today = now.astimezone(tz).date()
        self.used_calendar = False

    def add_bd(self, start: date, n: int) -> date:
        self.used_calendar = True
        return self.calendar.add(start, n)


def _parse_time(text: str, *, bare: bool = False) -> _TimeOfDay | None:
    """``14:30``, ``9am``, ``5:30 pm``, ``noon``, ``14:30:05.5+01:00``; None if not a time.

    ``bare``: a lone hour is read in business hours (``9`` is 09:00, ``2`` is 14:00).
    """
    if text == "midnight":
        raise WhenError("'midnight' could be the start or the end of a day; write 00:00 or 23:59")
    m = _pat().time.fullmatch(text)
    if m is None:
        return None
    if m["noon"]:
        value = time(12, 0)
    else:
        if m["mi"] is None and m["ap"] is None:  # "14" alone is not a time
            if not bare or m["off"]:
                return None
            return _TimeOfDay(_business_hour(int(m["h"]), text), None)
        hour, minute = int(m["h"]), int(m["mi"] or 0)
        second = int(m["s"] or 0)
        micro = int((m["f"] or "0").ljust(6, "0"))
        if m["ap"]:
            if not 1 <= hour <= 12:
                raise WhenError(f"invalid time '{text}': the hour must be in 1..12 with am/pm")
            hour = hour % 12 + (12 if m["ap"].startswith("p") else 0)
        elif hour > 23:
            raise WhenError(f"invalid time '{text}': the hour must be in 0..23")
        if minute > 59:
            raise WhenError(f"invalid time '{text}': the minutes must be in 0..59")
        if second > 59:
            raise WhenError(f"invalid time '{text}': the seconds must be in 0..59")
        value = time(hour, minute, second, micro)
    offset = None
    if m["off"]:
        off = m["off"]
        if off in ("z", "utc"):
            offset = UTC
        else:
            digits = off[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            if hours > 23 or minutes > 59:
                raise WhenError(f"invalid offset '{off}': use +HH:MM, e.g. +01:00")
            delta = timedelta(hours=hours, minutes=minutes)
            offset = timezone(-delta if off[0] == "-" else delta)
    return _TimeOfDay(value, offset)


def _business_hour(hour: int, text: str) -> time:
    """A bare hour after a day word: 8-11 in the morning, 12 noon, 1-6 in the afternoon."""
    if 8 <= hour <= 12:
        return time(hour, 0)
    if 1 <= hour <= 6:
        return time(hour + 12, 0)
    raise WhenError(
        f"'{text}' alone could be {hour % 12 or 12}am or {hour % 12 or 12}pm; "
        f"write {hour % 12 or 12}am, {hour % 12 or 12}pm or {hour:02d}:00"
        if 0 < hour < 13
        else f"'{text}' alone is not a time; write {hour:02d}:00"
    )


def _parse_terms(text: str) -> list[_Term]:
    terms: list[_Term] = []
    for m in _pat().term.finditer(text):
        amount = 1.0 if m["a"] else float(m["n"])
        terms.append(_Term(amount, _unit(m["unit"])))
    return terms


def _unit(word: str) -> str:
    squeezed = "".join(word.split())
    for prefix in ("business", "working", "work"):
        if squeezed.startswith(prefix) and squeezed != prefix:
            squeezed = f"{prefix} {squeezed[len(prefix) :]}"
            break
    return _UNITS.get(squeezed, _UNITS.get(squeezed.replace(" ", ""), "d"))


def _seconds(terms: list[_Term]) -> float:
    return sum(t.amount * _UNIT_SECONDS[t.unit] for t in terms)


class _Relative:
    __slots__ = ("ago", "sign", "terms")

    def __init__(self, terms: list[_Term], sign: int, ago: bool = False) -> None:
        self.terms = terms
        self.sign = sign  # +1 or -1
        self.ago = ago  # said with "ago": before now, whatever moment it is read from


def _parse_relative(text: str) -> _Relative | None:
    m = _pat().relative.fullmatch(text)
    if m is None:
        return None
    if m["in"] and (m["ago"] or m["sign"]):
        return None
    if m["sign"] and m["ago"]:
        return None
    terms = _parse_terms(m["terms"])
    sign = -1 if (m["sign"] == "-" or m["ago"] == "ago") else 1
    if any(t.unit == "bd" for t in terms):
        if len(terms) != 1:
            raise WhenError(
                f"cannot mix business days with other units in '{text}'; e.g. 10bd or 10bd 9am"
            )
        if not terms[0].exact:
            raise WhenError(f"business days must be a whole number in '{text}', e.g. 10bd")
    return _Relative(terms, sign, ago=m["ago"] == "ago")


def _move(ctx: _Context, start: datetime, rel: _Relative) -> datetime:
    """``start`` moved by ``rel``: business days and whole days and weeks on the calendar,
    keeping the local wall-clock time; hours, minutes, seconds and fractions exactly."""
    if rel.terms[0].unit == "bd":
        local = start.astimezone(ctx.tz)
        moved = ctx.add_bd(local.date(), rel.sign * int(rel.terms[0].amount))
        return _localize(datetime.combine(moved, local.time().replace(tzinfo=None)), ctx.tz,
                         strict=False)  # fmt: skip
    days = 0
    exact = 0.0
    for term in rel.terms:
        if term.unit in ("d", "w") and term.exact:
            days += int(term.amount) * (7 if term.unit == "w" else 1)
        else:
            exact += term.amount * _UNIT_SECONDS[term.unit]
    if abs(days) > _MAX_DAYS * 3 or abs(exact) > _MAX_DAYS * 86400 * 3:
        raise OverflowError("too far")
    moved = start
    if days:
        local = start.astimezone(ctx.tz)
        wall = local.replace(tzinfo=None) + timedelta(days=rel.sign * days)
        moved = _localize(wall, ctx.tz, strict=False)
    return moved + rel.sign * timedelta(seconds=exact)


def _weekday_day(text: str, today: date) -> date | None:
    word, _, rest = text.partition(" ")
    if rest and word in ("next", "last", "this"):
        target = _WEEKDAYS.get(rest)
        if target is None:
            return None
        if word == "last":
            return today - timedelta(days=(today.weekday() - target) % 7 or 7)
        return today + timedelta(days=(target - today.weekday()) % 7 or 7)
    target = _WEEKDAYS.get(text)
    if target is not None:
        return today + timedelta(days=(target - today.weekday()) % 7 or 7)
    return None


def _month_number(word: str) -> int | None:
    if len(word) < 3 or not word.isalpha():
        return None
    from dateutil.parser import parserinfo

    number = parserinfo().month(word)
    return int(number) if number else None


def _year_for(ctx: _Context, month: int, day: int, shown: str) -> date:
    """The date of a day and month without a year: the next one from today (or, for a
    time in the past, the latest one up to today)."""
    year = ctx.today.year
    if month == 2 and day == 29:
        while _days_in_month(year, 2) != 29:
            year += -1 if ctx.past else 1
    candidate = _make_date(year, month, day, shown)
    if ctx.past and candidate > ctx.today:
        return _year_for_leap(month, day, year - 1, -1, shown)
    if not ctx.past and candidate < ctx.today:
        return _year_for_leap(month, day, year + 1, 1, shown)
    return candidate


def _year_for_leap(month: int, day: int, year: int, step: int, shown: str) -> date:
    while month == 2 and day == 29 and _days_in_month(year, 2) != 29:
        year += step
    return _make_date(year, month, day, shown)


def _named_date(ctx: _Context, text: str) -> date | None:
    """``Dec 24``, ``December 24th, 2026``, ``24 Dec``, ``24th of December``."""
    pat = _pat()
    m = pat.month_day.fullmatch(text) or pat.day_month.fullmatch(text)
    if m is None:
        return None
    month = _month_number(m["mon"])
    if month is None:
        return None
    day = int(m["d"])
    if m["y"]:
        return _make_date(int(m["y"]), month, day, text)
    if not 1 <= day <= 31:
        raise WhenError(f"invalid date '{text}': the day must be in 1..31")
    return _year_for(ctx, month, day, text)


def _day_of_month(ctx: _Context, text: str) -> date | None:
    """``the 15th``: the next 15th from today, today included (for a time in the past, the
    latest one up to today); a month without that day is skipped (the 31st)."""
    m = _pat().month_ordinal.fullmatch(text)
    if m is None:
        return None
    day = int(m["d"])
    if not 1 <= day <= 31:
        raise WhenError(f"invalid date '{text}': the day must be in 1..31")
    year, month = ctx.today.year, ctx.today.month
    step = -1 if ctx.past else 1
    for _ in range(13):
        if day <= _days_in_month(year, month):
            found = date(year, month, day)
            if (found <= ctx.today) if ctx.past else (found >= ctx.today):
                return found
        month += step
        if month == 0:
            year, month = year - 1, 12
        elif month == 13:
            year, month = year + 1, 1
    return None  # pragma: no cover - every day 1..31 comes within a year


def _numeric_date(ctx: _Context, text: str) -> date | None:
    """``24/12``, ``12/24``, ``24.12.2026``, ``2026/12/24``, read in the date order."""
    m = _pat().numeric.fullmatch(text)
    if m is None:
        return None
    a, b, c = m["a"], m["b"], m["c"]
    if len(a) == 4:  # year first: unambiguous
        if c is None or len(c) > 2:
            return None
        return _make_date(int(a), int(b), int(c), text)
    if len(a) == 3 or (c is not None and len(c) != 4):
        if c is not None and len(c) == 2:
            raise WhenError(f"cannot read '{text}': write the year in full, e.g. 2026")
        return None
    first, second = int(a), int(b)
    order = ctx.order
    if order is None:
        if first > 12 and second <= 12:
            day, month = first, second
        elif second > 12 and first <= 12:
            day, month = second, first
        elif first == second:
            day = month = first
        else:
            raise WhenError(
                f"'{text}' could be {_day_month(first, second)} or {_day_month(second, first)}; "
                "set date_order (DMY or MDY) or country in the config file, or write it as "
                "YYYY-MM-DD or with the month's name (Dec 24)"
            )
    elif order == "DMY":
        day, month = first, second
    else:  # MDY, and YMD's day-month dates
        month, day = first, second
    if not 1 <= month <= 12:
        reading = "day/month" if order == "DMY" else "month/day"
        why = f" in {reading} order ({order})" if order else ""
        raise WhenError(f"invalid date '{text}'{why}: the month must be in 1..12")
    if c is not None:
        return _make_date(int(c), month, day, text)
    if not 1 <= day <= 31:
        raise WhenError(f"invalid date '{text}': the day must be in 1..31")
    return _year_for(ctx, month, day, text)


def _day_month(day: int, month: int) -> str:
    return f"{day} {MONTHS[month - 1]}" if 1 <= month <= 12 else f"day {day} of month {month}"


def _parse_day(ctx: _Context, text: str) -> date | None:
    """A day without a time of day: today, fri, next mon, 2026-12-01, Dec 24, 24/12."""
    today = ctx.today
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text == "yesterday":
        return today - timedelta(days=1)
    day = _weekday_day(text, today)
    if day is not None:
        return day
    m = _pat().date.fullmatch(text)
    if m is not None:
        return _make_date(int(m[1]), int(m[2]), int(m[3]), text)
    if text[:1].isdigit():
        found = _numeric_date(ctx, text)
        if found is not None:
            return found
    found = _named_date(ctx, text) or _day_of_month(ctx, text)
    if found is not None:
        return found
    # "mon 9 dec", "monday, december 9": the weekday must agree with the date
    word, _, rest = text.partition(" ")
    target = _WEEKDAYS.get(word.rstrip(","))
    if target is not None and rest:
        found = _named_date(ctx, rest) or (_numeric_date(ctx, rest) if rest[:1].isdigit() else None)
        if found is not None:
            if found.weekday() != target:
                raise WhenError(
                    f"{found.day} {MONTHS[found.month - 1]} {found.year} is a "
                    f"{_WEEKDAY_NAMES[found.weekday()]}, not a {_WEEKDAY_NAMES[target]}"
                )
            return found
    return None


def _is_word_day(text: str) -> bool:
    """Whether a day part is written in words (a bare hour may follow it: ``mon 9``)."""
    return not _pat().date.fullmatch(text) and not text[:1].isdigit() and text[:1] not in "+-"


def _end_of(ctx: _Context, which: str, ahead: int) -> datetime:
    now, tz, today = ctx.now, ctx.tz, ctx.today

    def at_end(day: date) -> datetime:
        return _localize(datetime.combine(day, END_OF_DAY), tz, strict=False)

    if which == "day":
        ctx.used_calendar = True
        day = ctx.calendar.next_business_day(today)
        if at_end(day) < now:
            day = ctx.calendar.next_business_day(day + timedelta(days=1))
        return at_end(day)
    if which == "week":
        day = today + timedelta(days=(4 - today.weekday()) % 7)
        if ahead:
            monday = today + timedelta(days=7 - today.weekday())
            day = monday + timedelta(days=4)
        elif at_end(day) < now:
            day += timedelta(days=7)
        return at_end(day)
    year, month = today.year, today.month + ahead
    if month > 12:
        year, month = year + 1, month - 12
    day = date(year, month, _days_in_month(year, month))
    if not ahead and at_end(day) < now:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day = date(year, month, _days_in_month(year, month))
    return at_end(day)


def _period(ctx: _Context, text: str) -> Window:
    tz, today = ctx.tz, ctx.today
    if text == "next week":
        monday = today + timedelta(days=7 - today.weekday())
        first, last = monday, monday + timedelta(days=4)
    else:  # next month
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        first, last = date(year, month, 1), date(year, month, _days_in_month(year, month))
    start = _localize(datetime.combine(first, DEFAULT_TIME), tz, strict=False)
    end = _localize(datetime.combine(last, END_OF_DAY), tz, strict=False)
    return Window(end, start)


def _split_time(text: str) -> tuple[str | None, _TimeOfDay] | None:
    """Split ``[at] <time>``, ``<day> [at] <time>`` or ``[at] <time> <day>``.

    A time of day is at most three words (``5:30 pm +01:00``); the shortest that reads as a
    time wins.  Returns (day text or None, time of day), or None if there is no time of day.
    A bare hour (``mon 9``) is a time only after a day written in words.
    """
    words = text.split(" ")
    if words[0] == "at":
        words = words[1:]
    if not words:
        return None
    tod = _parse_time(" ".join(words))
    if tod is not None:
        return None, tod
    for k in range(1, min(3, len(words) - 1) + 1):
        rest = words[:-k]
        if rest[-1] == "at":
            rest = rest[:-1]
        day_text = " ".join(rest)
        tod = _parse_time(
            " ".join(words[-k:]), bare=k == 1 and bool(rest) and _is_word_day(day_text)
        )
        if tod is not None:
            return (day_text, tod) if rest else None
    for k in range(1, min(3, len(words) - 1) + 1):
        tod = _parse_time(" ".join(words[:k]))
        if tod is not None:
            return " ".join(words[k:]), tod
    return None


def _day_for_time(ctx: _Context, text: str) -> date | None:
    """The day part before (or after) a time of day: a day, or whole days or business days."""
    day = _parse_day(ctx, text)
    if day is not None:
        return day
    rel = _parse_relative(text)
    if rel is None:
        return None
    if rel.terms[0].unit == "bd":
        return ctx.add_bd(ctx.today, rel.sign * int(rel.terms[0].amount))
    if all(t.unit in ("d", "w") and t.exact for t in rel.terms):
        days = int(_seconds(rel.terms)) // 86400
        return ctx.today + timedelta(days=rel.sign * days)
    raise WhenError(
        f"'{text}' cannot take a time of day; a time of day goes with whole days, "
        "e.g. 'in 3 days 9am' or '10bd 9am'"
    )


def _range(ctx: _Context, text: str) -> Window | None:
    m = _pat().range.fullmatch(text)
    if m is None:
        return None
    low, high = int(m["lo"]), int(m["hi"])
    unit = _unit(m["unit"])
    if low >= high:
        raise WhenError(
            f"the range in '{text}' must run from the smaller number to the larger, "
            f"e.g. {min(low, high)}-{max(low, high) + (low == high)}"
        )
    if unit in ("s", "m"):
        raise WhenError(f"a range of seconds or minutes ('{text}') is not a promise's window")
    start = _move(ctx, ctx.now, _Relative([_Term(float(low), unit)], 1))
    end = _move(ctx, ctx.now, _Relative([_Term(float(high), unit)], 1))
    return Window(end, start)


def _window(ctx: _Context, text: str) -> Window | None:
    """``text`` is normalized (lower case, single spaces); ``ctx.now`` is UTC."""
    now, tz = ctx.now, ctx.tz
    if text == "now":
        return Window(now)
    end = _ENDS.get(text)
    if end is not None:
        return Window(_end_of(ctx, *end))
    if text in _PERIODS:
        return _period(ctx, text)
    if text[:1].isdigit() or text.startswith(("in ", "between ")):
        found = _range(ctx, text)
        if found is not None:
            return found
    if text.startswith("within "):
        m = _pat().within.fullmatch(text)
        if m is None:
            return None
        rel = _parse_relative(m["terms"])
        if rel is None:  # pragma: no cover - the same terms
            return None
        return Window(_move(ctx, now, rel), now)

    rel = _parse_relative(text)
    if rel is not None:
        return Window(_move(ctx, now, rel), ago=rel.ago)

    day = _parse_day(ctx, text)
    if day is not None:
        return Window(_localize(datetime.combine(day, DEFAULT_TIME), tz, strict=False))

    split = _split_time(text)
    if split is None:
        return None
    rest, tod = split
    if rest is not None and (rest in _ENDS or rest in _PERIODS or rest == "now"):
        raise WhenError(f"'{rest}' already has a time of day; drop the time, e.g. '{rest}'")
    timed_day = ctx.today if rest is None else _day_for_time(ctx, rest)
    if timed_day is None:
        return None
    wall = datetime.combine(timed_day, tod.value)
    if tod.offset is not None:
        return Window(wall.replace(tzinfo=tod.offset).astimezone(UTC))
    return Window(_localize(wall, tz, strict=True))


_MAX_DISTANCE = timedelta(days=_MAX_DAYS)


def parse_window(
    text: str,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    *,
    calendar: Calendar | None = None,
    order: str | None = None,
    past: bool = False,
) -> Window:
    """What `WHEN` ``text`` means, counted from ``now``: an instant, or a window due at its
    end (a range such as ``7-10 business days``, ``within 48 hours``, ``next week``).

    ``now`` defaults to the current time (a naive ``now`` is taken as UTC); ``tz`` to
    :func:`local_zone`; ``calendar`` (business days and ``eod``) to :data:`WEEKDAYS`;
    ``order`` (DMY, MDY, YMD) to none, so that a date that reads two ways is refused.
    ``past`` reads a date without a year as the latest one up to today (a time something
    happened).  Raises :class:`WhenError` for anything it cannot read.
    """
    shown = text.strip()
    if not shown:
        raise WhenError(f"a time is needed; {WHEN_HINT}")
    if len(shown) > _MAX_INPUT:
        raise WhenError(f"cannot read '{shown[:40]}...' as a time: too long; {WHEN_HINT}")
    norm = " ".join(shown.lower().split())
    norm = _pat().iso_t.sub(r"\1 ", norm)
    for prefix in ("by ", "on "):
        if norm.startswith(prefix) and len(norm) > len(prefix):
            norm = norm[len(prefix) :]
            break
    now_utc = datetime.now(UTC) if now is None else _as_utc(now)
    zone = local_zone() if tz is None else tz
    if order is not None and order not in DATE_ORDERS:
        raise WhenError(f"unknown date order '{order}'; choose one of: {', '.join(DATE_ORDERS)}")
    ctx = _Context(now_utc, zone, calendar or WEEKDAYS, order, past)
    try:
        result = _window(ctx, norm)
    except OverflowError:
        raise WhenError(f"'{shown}' is out of range; {WHEN_HINT}") from None
    if result is None:
        raise WhenError(f"cannot read '{shown}' as a time; {WHEN_HINT}")
    if abs(result.end - now_utc) > _MAX_DISTANCE:
        # Reminders, exports and policy arithmetic add days to due times; a date at the end
        # of the calendar would overflow there. No customer-service case spans a century.
        raise WhenError(f"'{shown}' is more than 100 years away; {WHEN_HINT}")
    result.business_days = ctx.used_calendar
    return result


def parse_when(
    text: str,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    *,
    calendar: Calendar | None = None,
    order: str | None = None,
    past: bool = False,
) -> datetime:
    """The aware UTC instant that `WHEN` ``text`` means (forms: see the module docstring);
    a window (``7-10 business days``) means its end.  Arguments: see :func:`parse_window`."""
    return parse_window(text, now, tz, calendar=calendar, order=order, past=past).end


def parse_duration(text: str) -> timedelta:
    """A positive length of time: ``15m``, ``1h30m``, ``1h 30m``, ``90s``, ``45min``, ``1d``."""
    shown = text.strip()
    norm = " ".join(shown.lower().split())
    if not norm:
        raise WhenError(f"a duration is needed; {DUR_HINT}")
    if len(norm) > _MAX_INPUT:
        raise WhenError(f"cannot read '{shown[:40]}...' as a duration: too long; {DUR_HINT}")
    m = _pat().duration.fullmatch(norm)
    if m is None:
        if norm.lstrip("+-").replace(".", "", 1).isdigit():
            raise WhenError(f"duration '{shown}' needs a unit; {DUR_HINT}")
        raise WhenError(f"cannot read '{shown}' as a duration; {DUR_HINT}")
    terms = _parse_terms(m["terms"])
    if any(t.unit == "bd" for t in terms):
        raise WhenError(f"business days are not a duration in '{shown}'; {DUR_HINT}")
    try:
        delta = timedelta(seconds=_seconds(terms))
    except OverflowError:
        raise WhenError(f"duration '{shown}' is too long") from None
    if m["sign"] == "-" or delta <= timedelta(0):
        raise WhenError(f"duration '{shown}' must be more than zero; {DUR_HINT}")
    return delta


# --------------------------------------------------------------------------- output


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def humanize_delta(delta: timedelta, *, precise: bool = False) -> str:
    """``delta`` (target minus now) in words.

    By default in its largest whole unit, rounded down (``in 3 days``, ``in 5 hours``,
    ``2 days ago``), as reminders say it.  ``precise`` rounds to the nearest of a smaller
    unit and says both: under an hour minutes (``in 13 minutes``); under a day hours and
    minutes (``in 5 hours 30 minutes``); under a week days and hours (``in 6 days 23
    hours``); after that whole days (``in 45 days``), so 6 days 23 hours 40 minutes is
    ``in 7 days``, never ``in 6 days``.  Anything in the future is at least ``in 1 minute``;
    zero and less than a minute ago are ``just now``.
    """
    if delta <= timedelta(0) and -delta < timedelta(minutes=1):
        return "just now"
    if not precise:
        seconds = int(abs(delta).total_seconds())
        if seconds >= 86400:
            text = _plural(seconds // 86400, "day")
        elif seconds >= 3600:
            text = _plural(seconds // 3600, "hour")
        else:
            text = _plural(max(seconds // 60, 1), "minute")
        return f"in {text}" if delta > timedelta(0) else f"{text} ago"
    minutes = max(round(abs(delta).total_seconds() / 60), 1)
    if minutes < 60:
        text = _plural(minutes, "minute")
    elif minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        text = _plural(hours, "hour") + (f" {_plural(rest, 'minute')}" if rest else "")
    else:
        hours = round(minutes / 60)
        days, rest = divmod(hours, 24)
        if days >= 7:
            text = _plural(round(minutes / 1440), "day")
        else:
            text = _plural(days, "day") + (f" {_plural(rest, 'hour')}" if rest else "")
    return f"in {text}" if delta > timedelta(0) else f"{text} ago"


def format_local(dt: datetime, tz: tzinfo | None = None) -> str:
    """``2026-12-01 14:30``: ``dt`` in ``tz`` (default :func:`local_zone`); naive means UTC."""
    local = _as_utc(dt).astimezone(local_zone() if tz is None else tz)
    return f"{local:%Y-%m-%d %H:%M}"


def to_iso_utc(dt: datetime) -> str:
    """``2026-12-01T13:30:00+00:00``: ``dt`` in UTC, whole seconds; naive means UTC."""
    return _as_utc(dt).replace(microsecond=0).isoformat()
