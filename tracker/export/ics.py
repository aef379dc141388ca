"""`tracker export ics`: pending follow-ups and promises as an iCalendar file, with alarms."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.due import pending_items
from tracker.export.json import encode_value
from tracker.models import Change
from tracker.when import to_iso_utc


@dataclass(frozen=True)
class CalendarItem:
    """A pending follow-up or promise, as a calendar event."""

    kind: str  # "follow-up" or "promise" (the UID's prefix, so never renamed)
    item_id: int
    case_id: int
    case_title: str
    organization: str | None
    due_at: datetime
    text: str
    promised_by: str | None
    modified_at: datetime

    def uid(self, store_key: str) -> str:
        # Stable across exports (and across an export/import move, which keeps ids and
        # the first change), so a calendar updates the event instead of adding another.
        return f"{self.kind}-{self.item_id}.{store_key}@tracker.local"

    @property
    def summary(self) -> str:
        org = self.organization or "the company"
        where = f"case {self.case_id}"
        if self.kind == "follow-up":
            return f"Follow up with {org} ({where}): {self.text}"
        if self.promised_by == "me":
            return f"You promised {org} ({where}): {self.text}"
        return f"{org} promised ({where}): {self.text}"

    @property
    def description(self) -> str:
        what = "Follow-up" if self.kind == "follow-up" else f"Promise {self.item_id}"
        lines = [f"Case {self.case_id}: {self.case_title}"]
        if self.organization:
            lines.append(f"Organization: {self.organization}")
        lines.append(f"{what} due {to_iso_utc(self.due_at)}")
        lines.append(f"tracker case show {self.case_id}")
        return "\n".join(lines)


def store_key(session: Session) -> str:
    """A short id for this store's history: a hash of its first change.

    An export/import carries the changes over, so the moved store keeps the key (and the
    calendar UIDs built on it); two stores started apart get different keys.
    """
    first = session.execute(select(Change.id, Change.at).order_by(Change.id).limit(1)).first()
    seed = "empty" if first is None else f"{first.id}:{encode_value('datetime', first.at)}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


# A DueItem's kind -> the calendar item's kind and who made the promise. Both kinds of
# promise are "promise" here: the UIDs and the order of the events stay as they were.
_KINDS = {
    "follow_up": ("follow-up", None),
    "promise": ("promise", "company"),
    "my_promise": ("promise", "me"),
}


def calendar_items(
    session: Session, *, case_id: int | None = None, since: datetime | None = None
) -> list[CalendarItem]:
    """Pending follow-ups and pending promises on active cases, due at or after `since`.

    The items are `tracker due`'s own (tracker.due.pending_items, without thresholds),
    ordered by due time, kind and id.
    """
    items: list[CalendarItem] = []
    for due in pending_items(session, None, case_id=case_id, thresholds=False):
        if since is not None and due.due_at < since:
            continue
        kind, promised_by = _KINDS[due.kind]
        # A follow-up's or promise's item always has both (only thresholds lack them).
        assert due.item_id is not None and due.modified_at is not None
        items.append(
            CalendarItem(
                kind=kind,
                item_id=due.item_id,
                case_id=due.case_id,
                case_title=due.case_title,
                organization=due.organization,
                due_at=due.due_at,
                text=due.text,
                promised_by=promised_by,
                modified_at=due.modified_at,
            )
        )
    items.sort(key=lambda item: (item.due_at, item.kind, item.item_id))
    return items


EVENT_LENGTH = timedelta(minutes=15)


def _end(start: datetime) -> datetime:
    # A due time at the end of the calendar (9999-12-31 23:59) has no 15 minutes after it.
    try:
        return (start + EVENT_LENGTH).astimezone(UTC)
    except OverflowError:
        return start.astimezone(UTC)


def render_ics(items: Sequence[CalendarItem], key: str) -> bytes:
    """An RFC 5545 calendar: one VEVENT per item, with a DISPLAY alarm at the due time.

    VEVENT rather than VTODO: every calendar imports events, few show tasks, and an
    event's alarm is what gets the user's attention. Times are UTC; DTSTAMP is the item's
    last change, so an unchanged item exports byte for byte the same.
    """
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//tracker//export ics//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "tracker: follow-ups and promises")
    for item in items:
        event = icalendar.Event()
        event.add("uid", item.uid(key))
        event.add("dtstamp", item.modified_at.astimezone(UTC))
        event.add("dtstart", item.due_at.astimezone(UTC))
        event.add("dtend", _end(item.due_at))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("transp", "TRANSPARENT")
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", item.summary)
        alarm.add("trigger", timedelta(0))
        event.add_component(alarm)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def write_ics(
    session: Session,
    stream: BinaryIO,
    *,
    case_id: int | None = None,
    since: datetime | None = None,
) -> int:
    items = calendar_items(session, case_id=case_id, since=since)
    stream.write(render_ics(items, store_key(session)))
    return len(items)
