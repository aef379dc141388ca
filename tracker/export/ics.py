"""`tracker export ics`: follow-ups and promises as an iCalendar file that stays true.

Every follow-up and promise is an event with a UID of its own, stable across exports. A
pending one (on an active case) has an alarm at its due time. One that is no longer pending
(a promise kept, broken or cancelled, a follow-up done or cancelled, anything left on a
resolved or closed case, one whose making was undone) is emitted again with the same UID,
a higher SEQUENCE, ``STATUS:CANCELLED`` and no alarm, so that a calendar re-importing the
file drops the alarm it had (RFC 5545 3.8.7.4: the higher SEQUENCE wins). The SEQUENCE is
the id of the last change made to the item's case (the store's change counter, never the
clock), so the same store always gives the same file, any change that could touch an item
raises it, and an id that SQLite hands out again after an undo (a new promise 3 after the
old one was undone) comes with a higher SEQUENCE than the old one had.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import BinaryIO

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from tracker.export.json import encode_value
from tracker.models import Case, Change, Event, FollowUp, Organization, Promise
from tracker.vocabulary import ACTIVE_STATUSES, FOLLOW_UP_TEXT
from tracker.when import format_local, local_zone, zone_label

# An item's state -> the word its summary starts with once it is no longer pending.
_ENDED = {
    "kept": "Kept",
    "broken": "Broken",
    "cancelled": "Cancelled",
    "done": "Done",
    "fired": "Reminded",
    "resolved": "Case resolved",
    "closed": "Case closed",
    "undone": "Undone",
}


@dataclass(frozen=True)
class CalendarItem:
    """A follow-up or promise, as a calendar event."""

    kind: str  # "follow-up" or "promise" (the UID's prefix, so never renamed)
    item_id: int
    case_id: int
    case_title: str
    organization: str | None
    due_at: datetime
    text: str
    promised_by: str | None
    # "pending", or why it no longer is: kept, broken, cancelled, done (a follow-up marked
    # done), fired (a follow-up whose reminder was shown), resolved or closed (its case's
    # status), undone (its making was undone: only its history is left).
    state: str
    state_at: datetime | None  # when a promise was marked kept, broken or cancelled
    revision: int  # SEQUENCE: the id of the last change made to its case
    revised_at: datetime  # DTSTAMP and LAST-MODIFIED: the last of those changes

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def uid(self, store_key: str) -> str:
        # Stable across exports (and across an export/import move, which keeps ids and
        # the first change), so a calendar updates the event instead of adding another.
        return f"{self.kind}-{self.item_id}.{store_key}@tracker.local"

    @property
    def summary(self) -> str:
        org = self.organization or "the company"
        where = f"case {self.case_id}"
        if self.kind == "follow-up":
            text = f"Follow up with {org} ({where}): {self.text}"
        elif self.promised_by == "me":
            text = f"You promised {org} ({where}): {self.text}"
        else:
            text = f"{org} promised ({where}): {self.text}"
        return text if self.pending else f"{_ENDED[self.state]}: {text}"

    def description(self, zone: tzinfo) -> str:
        """In the user's zone, as `case show` writes times."""

        def local(value: datetime) -> str:
            return f"{format_local(value, zone)} {zone_label(zone, value)}"

        what = "Follow-up" if self.kind == "follow-up" else f"Promise {self.item_id}"
        lines = [f"Case {self.case_id}: {self.case_title}"]
        if self.organization:
            lines.append(f"Organization: {self.organization}")
        lines.append(f"{what} {'due' if self.pending else 'was due'} {local(self.due_at)}")
        if not self.pending:
            ended = _ENDED[self.state]
            if self.state_at is not None:
                ended += f" {local(self.state_at)}"
            lines.append(f"{ended}: no longer pending")
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


def _revisions(session: Session, case_ids: set[int]) -> dict[int, tuple[int, datetime]]:
    """Each case's last change (the highest change id among its events) and its time.

    Both only grow: events are never deleted (an undo adds one), and change ids only rise."""
    found: dict[int, tuple[int, datetime]] = {}
    ordered = sorted(case_ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        last = (
            select(Event.case_id, func.max(Event.change_id).label("change_id"))
            .where(Event.case_id.in_(chunk))
            .group_by(Event.case_id)
            .subquery()
        )
        rows = session.execute(
            select(last.c.case_id, last.c.change_id, Change.at).join(
                Change, Change.id == last.c.change_id
            )
        )
        for case_id, change_id, at in rows:
            found[case_id] = (int(change_id), at)
    return found


# How long an item that is no longer pending stays in the file, counted back from the store's
# last change (stored data: the same store gives the same file, whenever it is exported).
ENDED_WINDOW = timedelta(days=30)


def _ended_from(session: Session) -> datetime:
    # The newest change, found by its id (the primary key): no scan of the whole log.
    last: datetime | None = session.scalar(select(Change.at).order_by(Change.id.desc()).limit(1))
    if last is None:
        return datetime.max.replace(tzinfo=UTC)
    return last - ENDED_WINDOW


def calendar_items(
    session: Session, *, case_id: int | None = None, since: datetime | None = None
) -> list[CalendarItem]:
    """The follow-ups and promises of the calendar (of one case), ordered by due time, kind
    and id: every pending one on an active case (`tracker due`'s own), and those no longer
    pending that were due at most ENDED_WINDOW before the store's last change (an older
    one's alarm rang long ago). With `since`: everything due at or after it."""
    where: list[ColumnElement[bool]] = [] if case_id is None else [Case.id == case_id]
    active = Case.status.in_(ACTIVE_STATUSES)
    lower = since if since is not None else _ended_from(session)
    if since is not None:
        where_promise = [*where, Promise.due_at >= since]
        where_follow_up = [*where, FollowUp.due_at >= since]
    else:
        where_promise = [*where, or_(and_(Promise.status == "pending", active),
                                     Promise.due_at >= lower)]  # fmt: skip
        where_follow_up = [*where, or_(and_(FollowUp.status == "pending", active),
                                       FollowUp.due_at >= lower)]  # fmt: skip
    found: list[_Row] = []
    for pid, cid, due_at, text, by, status, status_at, title, case_status, org in session.execute(
        select(
            Promise.id, Promise.case_id, Promise.due_at, Promise.text, Promise.promised_by,
            Promise.status, Promise.status_at, Case.title, Case.status, Organization.name,
        )
        .join(Case, Promise.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(*where_promise)
    ):  # fmt: skip
        found.append(
            _Row("promise", pid, cid, due_at, text, by, status, status_at, title, case_status, org)
        )
    for fid, cid, due_at, said, status, title, case_status, org in session.execute(
        select(
            FollowUp.id, FollowUp.case_id, FollowUp.due_at, FollowUp.text, FollowUp.status,
            Case.title, Case.status, Organization.name,
        )
        .join(Case, FollowUp.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(*where_follow_up)
    ):  # fmt: skip
        found.append(
            _Row("follow-up", fid, cid, due_at, said or FOLLOW_UP_TEXT, None, status, None,
                 title, case_status, org)
        )  # fmt: skip
    found += _undone(session, where, lower, {(r.kind, r.item_id) for r in found})
    revisions = _revisions(session, {row.case_id for row in found})
    items = [row.item(*revisions.get(row.case_id, (0, row.due_at))) for row in found]
    items.sort(key=lambda item: (item.due_at, item.kind, item.item_id))
    return items


# The event that made a promise or a follow-up, and its id's key in the event's data.
_MADE = {"promise_made": ("promise", "promise_id"), "follow_up_set": ("follow-up", "follow_up_id")}


def _undone(
    session: Session,
    where: list[ColumnElement[bool]],
    since: datetime,
    present: set[tuple[str, int]],
) -> list[_Row]:
    """Promises and follow-ups whose making was undone: the row is gone, the history (its
    event, whose change was reverted) is left. Their calendar events are cancelled too."""
    rows = session.execute(
        select(Event.type, Event.case_id, Event.summary, Event.data, Case.title, Case.status,
               Organization.name)
        .join(Change, Event.change_id == Change.id)
        .join(Case, Event.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(Event.type.in_(list(_MADE)), Change.reverted_by_id.is_not(None), *where)
        .order_by(Event.id)
    ).all()  # fmt: skip
    candidates: dict[tuple[str, int], _Row] = {}
    for event_type, case_id, summary, data, title, case_status, org in rows:
        kind, id_key = _MADE[event_type]
        try:
            item_id = int(data[id_key])
            due_at = datetime.fromisoformat(str(data["due_at"]))
        except (KeyError, TypeError, ValueError):
            continue
        if (kind, item_id) in present or due_at < since:
            continue
        text = summary.split(": ", 1)[1] if ": " in summary else summary
        by = data.get("promised_by") if kind == "promise" else None
        candidates[(kind, item_id)] = _Row(
            kind, item_id, case_id, due_at, text, by, "undone", None, title, case_status, org
        )
    if not candidates:
        return []
    # An id in use again (SQLite hands out the highest id again) belongs to its new item.
    for kind, table in (("promise", Promise), ("follow-up", FollowUp)):
        ids = [item_id for k, item_id in candidates if k == kind]
        for start in range(0, len(ids), 500):
            for (used,) in session.execute(
                select(table.id).where(table.id.in_(ids[start : start + 500]))
            ):
                candidates.pop((kind, used), None)
    return list(candidates.values())


@dataclass(frozen=True)
class _Row:
    kind: str
    item_id: int
    case_id: int
    due_at: datetime
    text: str
    promised_by: str | None
    status: str
    status_at: datetime | None
    case_title: str
    case_status: str
    organization: str | None

    def item(self, revision: int, revised_at: datetime) -> CalendarItem:
        state = self.status
        if state == "pending" and self.case_status not in ACTIVE_STATUSES:
            state = self.case_status
        return CalendarItem(
            kind=self.kind,
            item_id=self.item_id,
            case_id=self.case_id,
            case_title=self.case_title,
            organization=self.organization,
            due_at=self.due_at,
            text=self.text,
            promised_by=self.promised_by,
            state=state,
            state_at=self.status_at if self.status not in ("pending", "undone") else None,
            revision=revision,
            revised_at=revised_at,
        )


EVENT_LENGTH = timedelta(minutes=15)


def _end(start: datetime) -> datetime:
    # A due time at the end of the calendar (9999-12-31 23:59) has no 15 minutes after it.
    try:
        return (start + EVENT_LENGTH).astimezone(UTC)
    except OverflowError:
        return start.astimezone(UTC)


def render_ics(items: Sequence[CalendarItem], key: str, zone: tzinfo | None = None) -> bytes:
    """An RFC 5545 calendar: one VEVENT per item; a pending one has a DISPLAY alarm at its
    due time, one no longer pending is CANCELLED, without an alarm.

    VEVENT rather than VTODO: every calendar imports events, few show tasks, and an
    event's alarm is what gets the user's attention; a cancelled event is what every
    calendar drops or strikes through. Times are UTC; descriptions are in the user's zone.
    DTSTAMP is the last change to the item's case, so an unchanged store exports byte for
    byte the same.
    """
    import icalendar

    zone = zone or local_zone()
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//tracker//export ics//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "tracker: follow-ups and promises")
    for item in items:
        event = icalendar.Event()
        event.add("uid", item.uid(key))
        event.add("dtstamp", item.revised_at.astimezone(UTC))
        event.add("last-modified", item.revised_at.astimezone(UTC))
        event.add("sequence", item.revision)
        event.add("dtstart", item.due_at.astimezone(UTC))
        event.add("dtend", _end(item.due_at))
        event.add("summary", item.summary)
        event.add("description", item.description(zone))
        event.add("status", "CONFIRMED" if item.pending else "CANCELLED")
        event.add("transp", "TRANSPARENT")
        if item.pending:
            alarm = icalendar.Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", item.summary)
            alarm.add("trigger", timedelta(0))
            event.add_component(alarm)
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


@dataclass(frozen=True)
class IcsCounts:
    events: int
    cancelled: int


def write_ics(
    session: Session,
    stream: BinaryIO,
    *,
    case_id: int | None = None,
    since: datetime | None = None,
) -> IcsCounts:
    items = calendar_items(session, case_id=case_id, since=since)
    stream.write(render_ics(items, store_key(session)))
    return IcsCounts(len(items), sum(not item.pending for item in items))
