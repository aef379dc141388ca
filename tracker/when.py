"""Turn what the user types for a time (`WHEN`) or a length of time (`DUR`) into values.

Every time the CLI stores is an aware UTC ``datetime``; every time the user types is read in
the local time zone (:func:`local_zone`).  This module is imported by every command, so it
imports only ``datetime`` and ``os`` at the top: ``re`` and ``zoneinfo`` are imported, and the
patterns compiled, on first use.

`WHEN` forms (case-insensitive, surrounding and repeated whitespace ignored):

* ``now``.
* ISO dates and date-times: ``2026-12-01``, ``2026-12-01 14:30``, ``2026-12-01T14:30:05``,
  optionally with an offset: ``2026-12-01T14:30+01:00``, ``2026-12-01 14:30Z``,
  ``2026-12-01 14:30 UTC``, ``...+0100``.  :func:`to_iso_utc` output reads back unchanged.
* Days: ``today``, ``tomorrow``, ``yesterday``; weekday names, full or short (``fri``,
  ``friday``, ``thu``, ``thurs``...).  A bare weekday and ``next <weekday>`` both mean the next
  such day strictly after today (on a Friday, ``fri`` is a week away); ``last <weekday>`` is
  the latest such day strictly before today.
* ``eod``: today at 17:00 local, the end of the business day (even if that has passed).
  ``eow``: this week's Friday at 17:00 local, or next week's once that has passed (so on
  Saturday and Sunday it is the coming Friday).  ``eom``: the last day of this month at 17:00
  local.  These carry their own time of day and take no time suffix.
* Relative: ``3d``, ``2w``, ``4h``, ``30min``, ``30m``, ``90s``, ``1h30m``, ``+3d``, ``-3d``,
  ``in 3 days``, ``in an hour``, ``3 days ago``, ``2 hours from now``.  These are added to
  *now* exactly (``3d`` is 72 hours later, whatever daylight saving time does meanwhile).
  Decimals are allowed (``1.5h``).
* Business days: ``10bd``, ``in 10 business days``, ``-2bd``, ``3 workdays ago``: skips
  Saturdays and Sundays (not public holidays) and keeps the current local time of day.
* A time of day, after (or before) any day form, optionally after ``at``: ``tomorrow 9am``,
  ``fri 14:00``, ``next monday at 9:30am``, ``today 5:30pm``, ``2026-12-01 9am``, ``10bd 9am``,
  ``in 3 days 9am``, ``2 days ago 15:00``, ``9am tomorrow``, ``noon``.  A time alone means
  today.  24-hour times need a colon (``14:00``); 12-hour times need am/pm (``9am``).  A time
  of day may carry an offset (``tomorrow 01:30+01:00``).  Relative hours, minutes and seconds
  cannot take a time of day.
* A day without a time of day means 09:00 local.

A local wall time that the user typed and that does not exist (it falls in the gap when the
clocks go forward) or is ambiguous (it happens twice when they go back) is a
:class:`WhenError` saying so.  A wall time the user did not type (the default 09:00, the 17:00
of ``eod``/``eow``/``eom``, the time of day ``10bd`` keeps) is resolved instead: a time in a
gap moves forward by the length of the gap, an ambiguous time takes its first occurrence.

`DUR` forms: ``15m``, ``45min``, ``90s``, ``2h``, ``1h30m``, ``1h 30m``, ``1.5h``, ``1d``,
``2w``, ``2 hours 30 minutes``.  Zero, negative and unitless amounts are errors.

Naive ``datetime`` values given to this module (``now``, :func:`format_local`,
:func:`to_iso_utc`) are taken to be UTC, which is how the store keeps them.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from tracker.errors import UsageError

__all__ = [
    "WhenError",
    "add_business_days",
    "format_local",
    "humanize_delta",
    "local_zone",
    "parse_date",
    "parse_duration",
    "parse_when",
    "to_iso_utc",
]


class WhenError(UsageError):
    """The user's time, date or duration cannot be read. Exit 2."""


WHEN_HINT = "try 2026-12-01, 2026-12-01 14:30, tomorrow 9am, fri, in 3 days, 10bd, eom"
DUR_HINT = "try 15m, 45min, 90s, 2h, 1h30m, 1h 30m, 1d"

DEFAULT_TIME = time(9, 0)  # a day without a time of day
END_OF_DAY = time(17, 0)  # eod, eow, eom: the end of the business day

_MAX_INPUT = 100  # longer input is refused before any pattern sees it

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
            r"\s*(?P<ap>a\.?m\.?|p\.?m\.?)?|(?P<noon>noon))"
            r"(?:\s*(?P<off>z|utc|[+-]\d{2}(?::?\d{2})?))?"
        )
        self.relative = re.compile(
            rf"(?:(?P<in>in)\s+)?(?P<sign>[+-])?(?P<terms>{terms})"
            r"(?:\s+(?P<ago>ago|from\s+now))?"
        )
        self.term = re.compile(term)
        self.duration = re.compile(rf"(?P<sign>[+-])?\s*(?P<terms>{terms})")


_patterns: _Patterns | None = None


def _pat() -> _Patterns:
    """The patterns, compiled on first use (``re`` is not imported when this module is)."""
    global _patterns
    if _patterns is None:
        _patterns = _Patterns()
    return _patterns


# --------------------------------------------------------------------------- time zones


def local_zone() -> tzinfo:
    """The local time zone, looked up afresh on each call (cheap: zones are cached by key).

    In order: the ``TZ`` environment variable if it names a zone (``Europe/Lisbon``, also
    ``:Europe/Lisbon``; an empty ``TZ`` means UTC, as for the C library); else the zone whose
    name ``/etc/localtime`` links to (``.../zoneinfo/Europe/Lisbon``); else ``/etc/localtime``
    read as a zone file; else the C library's current offset (a fixed offset, no daylight
    saving time rules); else UTC.  A ``TZ`` that is not a zone name (a POSIX rule such as
    ``CET-1CEST,M3.5.0,M10.5.0/3``, a typo) is passed over.
    """
    from zoneinfo import ZoneInfo

    marker = "zoneinfo/"
    env = os.environ.get("TZ")
    if env is not None:
        key = env[1:] if env.startswith(":") else env
        if not key:
            return UTC
        if key.startswith("/") and marker in key:  # TZ=/usr/share/zoneinfo/Europe/Lisbon
            key = key[key.rindex(marker) + len(marker) :]
        try:
            return ZoneInfo(key)
        except (ValueError, LookupError, OSError):
            pass
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
        return datetime.now().astimezone().tzinfo or UTC
    except (ValueError, OSError, OverflowError):  # pragma: no cover - broken C library
        return UTC


def _zone_name(tz: tzinfo) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    if tz is UTC:
        return "UTC"
    return "the local time zone"


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
    if first == second or not strict:
        return first
    back0 = first.astimezone(tz)
    back1 = second.astimezone(tz)
    name = _zone_name(tz)
    if back0.replace(tzinfo=None) != wall:
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


def add_business_days(start: date, n: int) -> date:
    """``start`` moved by ``n`` business days (Monday to Friday; holidays are not known).

    ``n == 0`` returns ``start`` unchanged.  From a weekend day, one business day forward is
    Monday and one back is Friday.
    """
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


def _parse_time(text: str) -> _TimeOfDay | None:
    """``14:30``, ``9am``, ``5:30 pm``, ``noon``, ``14:30:05.5+01:00``; None if not a time."""
    m = _pat().time.fullmatch(text)
    if m is None:
        return None
    if m["noon"]:
        value = time(12, 0)
    else:
        if m["mi"] is None and m["ap"] is None:  # "14" alone is not a time
            return None
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


def _parse_terms(text: str) -> list[_Term]:
    terms: list[_Term] = []
    for m in _pat().term.finditer(text):
        amount = 1.0 if m["a"] else float(m["n"])
        unit = _UNITS[" ".join(m["unit"].replace("business", "business ").split())]
        terms.append(_Term(amount, unit))
    return terms


def _seconds(terms: list[_Term]) -> float:
    return sum(t.amount * _UNIT_SECONDS[t.unit] for t in terms)


class _Relative:
    __slots__ = ("sign", "terms")

    def __init__(self, terms: list[_Term], sign: int) -> None:
        self.terms = terms
        self.sign = sign  # +1 or -1


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
    return _Relative(terms, sign)


def _parse_day(text: str, today: date) -> date | None:
    """A day without a time of day: today, fri, next mon, last fri, 2026-12-01."""
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text == "yesterday":
        return today - timedelta(days=1)
    word, _, rest = text.partition(" ")
    if rest and word in ("next", "last"):
        target = _WEEKDAYS.get(rest)
        if target is None:
            return None
        if word == "next":
            return today + timedelta(days=(target - today.weekday()) % 7 or 7)
        return today - timedelta(days=(today.weekday() - target) % 7 or 7)
    target = _WEEKDAYS.get(text)
    if target is not None:
        return today + timedelta(days=(target - today.weekday()) % 7 or 7)
    m = _pat().date.fullmatch(text)
    if m is not None:
        return _make_date(int(m[1]), int(m[2]), int(m[3]), text)
    return None


def _end_of(word: str, now: datetime, tz: tzinfo) -> datetime:
    today = now.astimezone(tz).date()
    if word == "eod":
        day = today
    elif word == "eom":
        day = today.replace(day=_days_in_month(today.year, today.month))
    else:  # eow
        day = today + timedelta(days=(4 - today.weekday()) % 7)
        if _localize(datetime.combine(day, END_OF_DAY), tz, strict=False) < now:
            day += timedelta(days=7)
    return _localize(datetime.combine(day, END_OF_DAY), tz, strict=False)


def _split_time(text: str) -> tuple[str | None, _TimeOfDay] | None:
    """Split ``[at] <time>``, ``<day> [at] <time>`` or ``[at] <time> <day>``.

    A time of day is at most three words (``5:30 pm +01:00``); the shortest that reads as a
    time wins.  Returns (day text or None, time of day), or None if there is no time of day.
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
        tod = _parse_time(" ".join(words[-k:]))
        if tod is not None:
            rest = words[:-k]
            if rest[-1] == "at":
                rest = rest[:-1]
            return (" ".join(rest), tod) if rest else None
    for k in range(1, min(3, len(words) - 1) + 1):
        tod = _parse_time(" ".join(words[:k]))
        if tod is not None:
            return " ".join(words[k:]), tod
    return None


def _day_for_time(text: str, today: date) -> date | None:
    """The day part before (or after) a time of day: a day, or whole days or business days."""
    day = _parse_day(text, today)
    if day is not None:
        return day
    rel = _parse_relative(text)
    if rel is None:
        return None
    if rel.terms[0].unit == "bd":
        return add_business_days(today, rel.sign * int(rel.terms[0].amount))
    if all(t.unit in ("d", "w") and t.exact for t in rel.terms):
        days = int(_seconds(rel.terms)) // 86400
        return today + timedelta(days=rel.sign * days)
    raise WhenError(
        f"'{text}' cannot take a time of day; a time of day goes with whole days, "
        "e.g. 'in 3 days 9am' or '10bd 9am'"
    )


def _when(text: str, now: datetime, tz: tzinfo) -> datetime | None:
    """``text`` is normalized (lower case, single spaces); ``now`` is UTC."""
    if text == "now":
        return now
    if text in ("eod", "eow", "eom"):
        return _end_of(text, now, tz)
    local_now = now.astimezone(tz)
    today = local_now.date()

    rel = _parse_relative(text)
    if rel is not None:
        if rel.terms[0].unit == "bd":
            moved = add_business_days(today, rel.sign * int(rel.terms[0].amount))
            wall = datetime.combine(moved, local_now.time().replace(tzinfo=None))
            return _localize(wall, tz, strict=False)
        return now + rel.sign * timedelta(seconds=_seconds(rel.terms))

    day = _parse_day(text, today)
    if day is not None:
        return _localize(datetime.combine(day, DEFAULT_TIME), tz, strict=False)

    split = _split_time(text)
    if split is None:
        return None
    rest, tod = split
    if rest in ("eod", "eow", "eom", "now"):
        raise WhenError(f"'{rest}' already has a time of day; drop the time, e.g. '{rest}'")
    timed_day = today if rest is None else _day_for_time(rest, today)
    if timed_day is None:
        return None
    wall = datetime.combine(timed_day, tod.value)
    if tod.offset is not None:
        return wall.replace(tzinfo=tod.offset).astimezone(UTC)
    return _localize(wall, tz, strict=True)


_MAX_DISTANCE = timedelta(days=36525)


def parse_when(text: str, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """The aware UTC instant that `WHEN` ``text`` means (forms: see the module docstring).

    ``now`` defaults to the current time (a naive ``now`` is taken as UTC); ``tz`` defaults to
    :func:`local_zone`.  Raises :class:`WhenError` for anything it cannot read.
    """
    shown = text.strip()
    if not shown:
        raise WhenError(f"a time is needed; {WHEN_HINT}")
    if len(shown) > _MAX_INPUT:
        raise WhenError(f"cannot read '{shown[:40]}...' as a time: too long; {WHEN_HINT}")
    norm = " ".join(shown.lower().split())
    norm = _pat().iso_t.sub(r"\1 ", norm)
    now_utc = datetime.now(UTC) if now is None else _as_utc(now)
    zone = local_zone() if tz is None else tz
    try:
        result = _when(norm, now_utc, zone)
    except OverflowError:
        raise WhenError(f"'{shown}' is out of range; {WHEN_HINT}") from None
    if result is None:
        raise WhenError(f"cannot read '{shown}' as a time; {WHEN_HINT}")
    if abs(result - now_utc) > _MAX_DISTANCE:
        # Reminders, exports and policy arithmetic add days to due times; a date at the end
        # of the calendar would overflow there. No customer-service case spans a century.
        raise WhenError(f"'{shown}' is more than 100 years away; {WHEN_HINT}")
    return result


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


def humanize_delta(delta: timedelta) -> str:
    """``delta`` (target minus now) in its largest whole unit, rounded down.

    ``in 3 days``, ``in 5 hours``, ``in 12 minutes``, ``2 days ago``; anything in the future
    is at least ``in 1 minute``; zero and less than a minute ago are ``just now``.
    """
    if delta <= timedelta(0) and -delta < timedelta(minutes=1):
        return "just now"
    seconds = int(abs(delta).total_seconds())
    if seconds >= 86400:
        text = _plural(seconds // 86400, "day")
    elif seconds >= 3600:
        text = _plural(seconds // 3600, "hour")
    else:
        text = _plural(max(seconds // 60, 1), "minute")
    return f"in {text}" if delta > timedelta(0) else f"{text} ago"


def format_local(dt: datetime, tz: tzinfo | None = None) -> str:
    """``2026-12-01 14:30``: ``dt`` in ``tz`` (default :func:`local_zone`); naive means UTC."""
    local = _as_utc(dt).astimezone(local_zone() if tz is None else tz)
    return f"{local:%Y-%m-%d %H:%M}"


def to_iso_utc(dt: datetime) -> str:
    """``2026-12-01T13:30:00+00:00``: ``dt`` in UTC, whole seconds; naive means UTC."""
    return _as_utc(dt).replace(microsecond=0).isoformat()
