"""Case services: open, note, contact, reference, promise, follow-up, escalate, resolve, undo.

Each function takes the session of a transaction the caller framed and never commits.
Every change to a case writes one event in that transaction; one command's events share a
Change, which is what `tracker undo` reverts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, select
from sqlalchemy.orm import Session, selectinload

from tracker.errors import Conflict, NotFound, UsageError
from tracker.models import (
    ACTIVE_STATUSES,
    CATEGORIES,
    CHANNELS,
    DIRECTIONS,
    LEVELS,
    PROMISE_PARTIES,
    REFERENCE_KINDS,
    STATUSES,
    Case,
    Change,
    ContactPoint,
    Event,
    FollowUp,
    Interaction,
    Note,
    Organization,
    Promise,
    Reference,
    Reminder,
    utcnow,
)
from tracker.redact import Masker
from tracker.when import format_local

# The case fields a change can alter; undo puts them back from the first event's snapshot.
CASE_STATE_FIELDS = (
    "status",
    "escalation_level",
    "escalated_at",
    "resolved_at",
    "closed_at",
    "outcome",
    "updated_at",
    "last_activity_at",
    "last_interaction_at",
)
PROMISE_STATE_FIELDS = ("status", "status_at")
# What a follow-up set without text reminds of.
FOLLOW_UP_TEXT = "check on the case"
MAX_TITLE = 500
# A contact's --at may run this far ahead of the clock (a slightly fast watch), no more.
FUTURE_SLACK = timedelta(minutes=5)


# --------------------------------------------------------------------------- validation


def choice(value: str, allowed: Sequence[str], what: str) -> str:
    normalized = value.strip().lower().replace("-", "_")
    if normalized not in allowed:
        raise UsageError(f"unknown {what} '{value}'; choose one of: {', '.join(allowed)}")
    return normalized


def parse_amount(text: str) -> Decimal:
    cleaned = text.strip().replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise UsageError(f"invalid amount '{text}': give a number such as 129.99") from None
    if not amount.is_finite():
        raise UsageError(f"invalid amount '{text}': give a number such as 129.99")
    if amount <= 0:
        raise UsageError(f"invalid amount '{text}': give the amount as a positive number")
    if amount.as_tuple().exponent < -4 or abs(amount) >= Decimal("1e15"):  # type: ignore[operator]
        raise UsageError(f"invalid amount '{text}': at most 4 decimals and 15 digits")
    return amount


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise UsageError(f"invalid currency '{text}': give a 3-letter ISO code such as USD")
    return code


def parse_last4(text: str) -> str:
    digits = text.strip()
    if len(digits) != 4 or not digits.isascii() or not digits.isdigit():
        raise UsageError(
            f"invalid account '{text}': give only the last 4 digits of the card or account"
        )
    return digits


def _text(value: str, what: str, masker: Masker, *, limit: int | None = None) -> str:
    cleaned = value.replace("\x00", "").strip()
    if not cleaned:
        raise UsageError(f"{what} must not be empty")
    if limit is not None and len(cleaned) > limit:
        raise UsageError(f"{what} is too long ({len(cleaned)} characters; at most {limit})")
    return masker(cleaned)


def _optional_text(
    value: str | None, masker: Masker, *, what: str = "", limit: int | None = None
) -> str | None:
    if value is None:
        return None
    cleaned = value.replace("\x00", "").strip()
    if limit is not None and len(cleaned) > limit:
        # The column's size: PostgreSQL would refuse it, and a SQLite store must stay movable.
        raise UsageError(f"{what} is too long ({len(cleaned)} characters; at most {limit})")
    return masker(cleaned) if cleaned else None


# --------------------------------------------------------------------------- history


@dataclass
class ChangeLog:
    """The events of one command. Snapshots the case before its first event, for undo."""

    session: Session
    change: Change
    now: datetime
    _snapshotted: set[int] = field(default_factory=set)

    def snapshot(self, case: Case) -> dict[str, Any] | None:
        if case.id in self._snapshotted:
            return None
        self._snapshotted.add(case.id)
        return {name: _jsonable(getattr(case, name)) for name in CASE_STATE_FIELDS}

    def record(
        self,
        case: Case,
        type_: str,
        summary: str,
        *,
        at: datetime | None = None,
        created: tuple[str, int] | None = None,
        snapshot: dict[str, Any] | None = None,
        **details: Any,
    ) -> Event:
        """Append one event; call it before changing the case so the snapshot is the old state."""
        data: dict[str, Any] = {k: _jsonable(v) for k, v in details.items() if v is not None}
        before = snapshot if snapshot is not None else self.snapshot(case)
        if before is not None:
            data["case_before"] = before
        if created is not None:
            data["created"] = list(created)
        event = Event(
            change=self.change,
            case_id=case.id,
            at=at or self.now,
            type=type_,
            summary=summary,
            data=data,
        )
        self.session.add(event)
        return event

    def touch(self, case: Case) -> None:
        case.updated_at = self.now
        case.last_activity_at = max(case.last_activity_at, self.now)


def begin_change(
    session: Session, command: str, *, now: datetime | None = None, undoable: bool = True
) -> ChangeLog:
    now = now or utcnow()
    change = Change(at=now, command=command[:200], undoable=undoable)
    session.add(change)
    session.flush()
    return ChangeLog(session=session, change=change, now=now)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def _from_json(name: str, value: Any) -> Any:
    if value is not None and name.endswith("_at"):
        return datetime.fromisoformat(value)
    return value


# --------------------------------------------------------------------------- lookups


def get_case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    """The case, or NotFound. for_update locks the row on PostgreSQL (SQLite locks the store)."""
    stmt = select(Case).where(Case.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    case = session.scalars(stmt).one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def organization_key(name: str) -> str:
    """How organizations are matched: ignoring case and runs of white space."""
    return " ".join(name.split()).casefold()


def find_organization(session: Session, name: str) -> Organization | None:
    key = organization_key(name)
    return session.scalars(select(Organization).where(Organization.name_key == key)).one_or_none()


def get_or_create_organization(
    session: Session, name: str, masker: Masker
) -> tuple[Organization, bool]:
    cleaned = _text(name, "the organization name", masker, limit=200)
    found = find_organization(session, cleaned)
    if found is not None:
        return found, False
    org = Organization(name=cleaned, name_key=organization_key(cleaned))
    session.add(org)
    session.flush()
    return org, True


def _require_active(case: Case, action: str) -> None:
    if case.status not in ACTIVE_STATUSES:
        raise Conflict(
            f"case {case.id} is {case.status}; reopen it first (tracker case reopen {case.id}) "
            f"to {action}"
        )


# --------------------------------------------------------------------------- status rule


def settle_status(case: Case, session: Session) -> None:
    """An open case with a pending company promise is waiting on the company, and back."""
    if case.status not in ("open", "waiting"):
        return
    session.flush()
    pending = session.scalar(
        select(
            exists().where(
                Promise.case_id == case.id,
                Promise.status == "pending",
                Promise.promised_by == "company",
            )
        )
    )
    case.status = "waiting" if pending else "open"


# --------------------------------------------------------------------------- case open / note


def open_case(
    session: Session,
    *,
    title: str,
    masker: Masker,
    organization: str | None = None,
    category: str = "other",
    account_last4: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    merchant: str | None = None,
    transaction_date: date | None = None,
    refs: Iterable[str] = (),
    note: str | None = None,
    follow_up: datetime | None = None,
    now: datetime | None = None,
) -> Case:
    title = _text(title, "the title", masker, limit=MAX_TITLE)
    category = choice(category, CATEGORIES, "category")
    if amount is None and currency is not None:
        raise UsageError("--currency needs --amount")
    log = begin_change(session, f"case open {title}", now=now)
    org = None
    org_created = False
    if organization is not None:
        org, org_created = get_or_create_organization(session, organization, masker)
    case = Case(
        title=title,
        organization=org,
        category=category,
        status="open",
        escalation_level="frontline",
        opened_at=log.now,
        updated_at=log.now,
        last_activity_at=log.now,
        account_last4=account_last4,
        amount=amount,
        currency=currency,
        merchant=_optional_text(merchant, masker),
        transaction_date=transaction_date,
    )
    session.add(case)
    session.flush()
    log.record(
        case,
        "opened",
        f"Opened: {title}",
        snapshot={},
        created=("cases", case.id),
        organization=org.name if org else None,
        created_organization=org.id if org_created and org else None,
        category=category,
    )
    log.snapshot(case)
    for ref in refs:
        add_reference(session, case, ref, masker=masker, log=log)
    if note is not None:
        add_note(session, case, note, masker=masker, log=log)
    if follow_up is not None:
        set_follow_up(session, case, follow_up, None, masker=masker, log=log)
    return case


def add_note(
    session: Session,
    case: Case,
    body: str,
    *,
    masker: Masker,
    log: ChangeLog | None = None,
    now: datetime | None = None,
) -> Note:
    """Notes are allowed on any case, closed ones included: they never lose a word."""
    cleaned = body.replace("\x00", "").strip("\n")
    if not cleaned.strip():
        raise UsageError("the note is empty; nothing was saved")
    cleaned = masker(cleaned)
    log = log or begin_change(session, f"case note {case.id}", now=now)
    note = Note(case_id=case.id, body=cleaned, created_at=log.now)
    session.add(note)
    session.flush()
    first_line = cleaned.strip().splitlines()[0]
    log.record(case, "note", first_line[:200], created=("notes", note.id))
    log.touch(case)
    return note


# --------------------------------------------------------------------------- interactions


def add_reference(
    session: Session,
    case: Case,
    value: str,
    *,
    masker: Masker,
    kind: str = "other",
    interaction: Interaction | None = None,
    log: ChangeLog | None = None,
    now: datetime | None = None,
) -> Reference | None:
    """Record a reference number; one already on the case is not added twice (returns None)."""
    value = _text(value, "the reference number", masker, limit=200)
    kind = choice(kind, REFERENCE_KINDS, "reference kind")
    existing = session.scalars(
        select(Reference).where(Reference.case_id == case.id, Reference.value == value)
    ).one_or_none()
    if existing is not None:
        return None
    log = log or begin_change(session, f"case ref {case.id} {value}", now=now)
    ref = Reference(
        case_id=case.id,
        value=value,
        kind=kind,
        interaction_id=interaction.id if interaction else None,
        created_at=log.now,
    )
    session.add(ref)
    session.flush()
    # Given during a contact logged after the fact: the history puts it at the contact's time.
    log.record(
        case,
        "reference_added",
        f"Reference {value} ({kind})",
        at=interaction.at if interaction else None,
        created=("reference_numbers", ref.id),
        reference=value,
        kind=kind,
    )
    log.touch(case)
    return ref


def log_interaction(
    session: Session,
    case: Case,
    *,
    channel: str,
    masker: Masker,
    at: datetime | None = None,
    direction: str = "out",
    via: str | None = None,
    agent_name: str | None = None,
    agent_id: str | None = None,
    duration: timedelta | None = None,
    refs: Iterable[str] = (),
    summary: str | None = None,
    promise: str | None = None,
    promise_due: datetime | None = None,
    promised_by: str = "company",
    now: datetime | None = None,
) -> Interaction:
    channel = choice(channel, CHANNELS, "channel")
    direction = choice(direction, DIRECTIONS, "direction")
    if (promise is None) != (promise_due is None):
        raise UsageError("--promise and --due go together")
    now = now or utcnow()
    at = at or now
    if at > now + FUTURE_SLACK:
        raise UsageError(
            f"the contact time {format_local(at)} is in the future; --at says when it happened"
        )
    _require_active(case, "log a contact")
    log = begin_change(session, f"case contact {case.id} --channel {channel}", now=now)
    interaction = Interaction(
        case_id=case.id,
        at=at,
        channel=channel,
        direction=direction,
        via=_optional_text(via, masker, what="--via", limit=500),
        agent_name=_optional_text(agent_name, masker, what="--agent", limit=200),
        agent_id=_optional_text(agent_id, masker, what="--agent-id", limit=100),
        duration_seconds=int(duration.total_seconds()) if duration else None,
        summary=_optional_text(summary, masker),
        created_at=log.now,
    )
    session.add(interaction)
    session.flush()
    who = f" with {interaction.agent_name}" if interaction.agent_name else ""
    if interaction.agent_id:
        who += f" (id {interaction.agent_id})"
    arrow = "to" if direction == "out" else "from"
    headline = f"{channel.replace('_', ' ').capitalize()} {arrow} the company{who}"
    if interaction.summary:
        headline += f": {interaction.summary}"
    # Masked once here, so the masker counts each card once and the event shows no card.
    ref_values = [_text(ref, "the reference number", masker, limit=200) for ref in refs]
    log.record(
        case,
        "interaction",
        headline[:500],
        at=at,
        created=("interactions", interaction.id),
        channel=channel,
        direction=direction,
        agent=interaction.agent_name,
        reference=", ".join(ref_values) or None,
    )
    for ref in ref_values:
        add_reference(
            session,
            case,
            ref,
            masker=masker,
            kind="call" if channel == "phone" else "other",
            interaction=interaction,
            log=log,
        )
    if promise is not None and promise_due is not None:
        make_promise(
            session,
            case,
            promise,
            promise_due,
            masker=masker,
            promised_by=promised_by,
            interaction=interaction,
            log=log,
        )
    log.touch(case)
    if case.last_interaction_at is None or at > case.last_interaction_at:
        case.last_interaction_at = at
    case.last_activity_at = max(case.last_activity_at, at)
    return interaction


def make_promise(
    session: Session,
    case: Case,
    text: str,
    due: datetime,
    *,
    masker: Masker,
    promised_by: str = "company",
    interaction: Interaction | None = None,
    log: ChangeLog | None = None,
    now: datetime | None = None,
) -> Promise:
    text = _text(text, "the promise", masker, limit=2000)
    promised_by = choice(promised_by, PROMISE_PARTIES, "promiser (--by)")
    _require_active(case, "record a promise")
    log = log or begin_change(session, f"case promise {case.id}", now=now)
    promise = Promise(
        case_id=case.id,
        interaction_id=interaction.id if interaction else None,
        text=text,
        promised_by=promised_by,
        due_at=due,
        status="pending",
        created_at=log.now,
    )
    session.add(promise)
    session.flush()
    who = "The company" if promised_by == "company" else "I"
    log.record(
        case,
        "promise_made",
        f"{who} promised: {text}",
        at=interaction.at if interaction else None,
        created=("promises", promise.id),
        promise_id=promise.id,
        due_at=due,
        promise_status="pending",
        promised_by=promised_by,
    )
    log.touch(case)
    settle_status(case, session)
    return promise


def get_promise(session: Session, promise_id: int, *, for_update: bool = False) -> Promise:
    stmt = select(Promise).where(Promise.id == promise_id)
    if for_update:
        stmt = stmt.with_for_update()
    promise = session.scalars(stmt).one_or_none()
    if promise is None:
        raise NotFound(f"no promise {promise_id}")
    return promise


def set_promise_status(
    session: Session, promise_id: int, status: str, *, now: datetime | None = None
) -> Promise:
    """Mark a promise kept, broken or cancelled (a promise can be re-marked, e.g. broken->kept)."""
    verb = {"kept": "kept", "broken": "broken", "cancel": "cancelled", "cancelled": "cancelled"}
    if status not in verb:
        raise UsageError(f"unknown promise state '{status}'; choose kept, broken or cancel")
    new = verb[status]
    promise = get_promise(session, promise_id, for_update=True)
    if promise.status == new:
        raise Conflict(f"promise {promise_id} is already {new}")
    case = get_case(session, promise.case_id, for_update=True)
    log = begin_change(session, f"promise {status} {promise_id}", now=now)
    before = {name: _jsonable(getattr(promise, name)) for name in PROMISE_STATE_FIELDS}
    log.record(
        case,
        f"promise_{new}",
        f"Promise {promise.id} {new}: {promise.text}",
        promise_id=promise.id,
        promise_before=before,
        due_at=promise.due_at,
        promise_status=new,
        promised_by=promise.promised_by,
    )
    promise.status = new
    promise.status_at = log.now
    log.touch(case)
    settle_status(case, session)
    return promise


def set_follow_up(
    session: Session,
    case: Case,
    due: datetime,
    text: str | None,
    *,
    masker: Masker,
    log: ChangeLog | None = None,
    now: datetime | None = None,
) -> FollowUp:
    _require_active(case, "set a follow-up")
    log = log or begin_change(session, f"case follow-up {case.id}", now=now)
    follow_up = FollowUp(
        case_id=case.id,
        due_at=due,
        text=_optional_text(text, masker),
        status="pending",
        created_at=log.now,
    )
    session.add(follow_up)
    session.flush()
    log.record(
        case,
        "follow_up_set",
        f"Follow-up: {follow_up.text or FOLLOW_UP_TEXT}",
        created=("follow_ups", follow_up.id),
        follow_up_id=follow_up.id,
        due_at=due,
    )
    log.touch(case)
    return follow_up


# --------------------------------------------------------------------------- lifecycle


def next_level(level: str) -> str | None:
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def escalate(
    session: Session,
    case: Case,
    *,
    masker: Masker,
    to: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Case:
    _require_active(case, "escalate it")
    if to is None:
        target = next_level(case.escalation_level)
        if target is None:
            raise Conflict(f"case {case.id} is already at the last level (regulator)")
    else:
        target = choice(to, LEVELS, "escalation level")
        if target == "frontline":
            raise UsageError("escalate moves up: choose supervisor, complaint or regulator")
        if LEVELS.index(target) <= LEVELS.index(case.escalation_level):
            raise Conflict(f"case {case.id} is already at {case.escalation_level}")
    log = begin_change(session, f"case escalate {case.id} --to {target}", now=now)
    reason = _optional_text(note, masker)
    summary = f"Escalated from {case.escalation_level} to {target}"
    if reason:
        summary += f": {reason}"
    log.record(case, "escalated", summary, level=target, previous_level=case.escalation_level)
    case.escalation_level = target
    case.status = "escalated"
    case.escalated_at = log.now
    log.touch(case)
    if reason:
        add_note(session, case, reason, masker=masker, log=log)
    return case


def resolve(
    session: Session,
    case: Case,
    *,
    masker: Masker,
    outcome: str | None = None,
    now: datetime | None = None,
) -> Case:
    if case.status == "resolved":
        raise Conflict(f"case {case.id} is already resolved")
    if case.status == "closed":
        raise Conflict(f"case {case.id} is closed; reopen it first (tracker case reopen {case.id})")
    log = begin_change(session, f"case resolve {case.id}", now=now)
    text = _optional_text(outcome, masker)
    log.record(case, "resolved", f"Resolved: {text}" if text else "Resolved", outcome=text)
    case.status = "resolved"
    case.resolved_at = log.now
    case.outcome = text
    log.touch(case)
    return case


def reopen(session: Session, case: Case, *, now: datetime | None = None) -> Case:
    if case.status in ACTIVE_STATUSES:
        raise Conflict(f"case {case.id} is already {case.status}")
    log = begin_change(session, f"case reopen {case.id}", now=now)
    log.record(case, "reopened", f"Reopened (was {case.status})", previous_status=case.status)
    case.status = "open"
    case.resolved_at = None
    case.closed_at = None
    # The outcome belonged to the resolution being reopened; the history keeps it.
    case.outcome = None
    log.touch(case)
    settle_status(case, session)
    return case


def close(session: Session, case: Case, *, now: datetime | None = None) -> Case:
    if case.status == "closed":
        raise Conflict(f"case {case.id} is already closed")
    log = begin_change(session, f"case close {case.id}", now=now)
    log.record(case, "closed", "Closed", previous_status=case.status)
    case.status = "closed"
    case.closed_at = log.now
    log.touch(case)
    return case


# --------------------------------------------------------------------------- undo

_UNDO_TABLES: dict[str, type[Any]] = {
    "cases": Case,
    "notes": Note,
    "interactions": Interaction,
    "reference_numbers": Reference,
    "promises": Promise,
    "follow_ups": FollowUp,
}


def undo(session: Session, *, now: datetime | None = None) -> str:
    """Revert the last undoable change, in this transaction; returns what was reverted.

    The answer reads "case 3: Opened: ... (with 1 reference)"; the `undone` event written
    in case 3's own timeline leaves out the "case 3: ".
    """
    change = session.scalars(
        select(Change)
        .where(Change.undoable.is_(True), Change.reverted_by_id.is_(None))
        .order_by(Change.id.desc())
        .limit(1)
        .with_for_update()
    ).one_or_none()
    if change is None:
        raise Conflict("nothing to undo")
    events = list(
        session.scalars(select(Event).where(Event.change_id == change.id).order_by(Event.id))
    )
    case_ids = list(dict.fromkeys(e.case_id for e in events if e.case_id is not None))
    snapshots: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.case_id is not None and "case_before" in event.data:
            snapshots.setdefault(event.case_id, event.data["case_before"])
    removed_orgs: list[str] = []
    for event in reversed(events):
        data = event.data
        if "promise_before" in data:
            promise = session.get(Promise, data["promise_id"])
            if promise is not None:
                for name, value in data["promise_before"].items():
                    setattr(promise, name, _from_json(name, value))
        created = data.get("created")
        if created:
            table, row_id = created
            session.execute(delete(_UNDO_TABLES[table]).where(_UNDO_TABLES[table].id == row_id))
            _forget_reminders(session, table, row_id)
        org_id = data.get("created_organization")
        if org_id is not None:
            removed = _remove_unused_organization(session, org_id)
            if removed is not None:
                removed_orgs.append(removed)
    what = _describe(change, events, removed_orgs)
    # Flush first: expiring drops unflushed changes (the promise states set above), and the
    # rows removed with SQL DELETE must not linger in the session.
    session.flush()
    session.expire_all()
    log = begin_change(session, "undo", now=now, undoable=False)
    change.reverted_by_id = log.change.id
    recorded = False
    for case_id in case_ids:
        case = session.get(Case, case_id)
        if case is None:
            continue
        for name, value in snapshots.get(case_id, {}).items():
            setattr(case, name, _from_json(name, value))
        log.record(case, "undone", f"Undid: {what}", snapshot={}, reverted_change=change.id)
        recorded = True
    prefix = f"case {case_ids[0]}: " if case_ids else ""
    if not recorded:
        # The undo removed the case itself; the history of that keeps no case.
        session.add(
            Event(
                change=log.change,
                case_id=None,
                at=log.now,
                type="undone",
                summary=f"Undid {prefix}{what}",
                data={"reverted_change": change.id},
            )
        )
    return prefix + what


def _forget_reminders(session: Session, table: str, row_id: int) -> None:
    """Drop the reminder claims of a removed follow-up or promise.

    SQLite hands a removed row's id to the next row, and a stale claim on "follow_up:7"
    would keep the new follow-up 7 from ever firing.
    """
    if table == "follow_ups":
        session.execute(delete(Reminder).where(Reminder.key == f"follow_up:{row_id}"))
    elif table == "promises":
        session.execute(delete(Reminder).where(Reminder.key.startswith(f"promise:{row_id}:")))


def _remove_unused_organization(session: Session, org_id: int) -> str | None:
    """Remove an organization a command created on the fly, unless something uses it now."""
    session.flush()
    org = session.get(Organization, org_id)
    if org is None:
        return None
    if any(
        session.scalar(select(exists().where(column == org_id)))
        for column in (Case.organization_id, ContactPoint.organization_id)
    ):
        return None
    name = org.name
    session.delete(org)
    session.flush()
    return name


_TABLE_NOUNS = {
    "notes": ("note", "notes"),
    "interactions": ("contact", "contacts"),
    "reference_numbers": ("reference", "references"),
    "promises": ("promise", "promises"),
    "follow_ups": ("follow-up", "follow-ups"),
}


def _describe(change: Change, events: Sequence[Event], removed_orgs: Sequence[str]) -> str:
    """The first event's summary, then what else the same command added."""
    if not events:
        return change.command
    counts: dict[str, int] = {}
    for event in events[1:]:
        created = event.data.get("created")
        if created and created[0] in _TABLE_NOUNS:
            counts[created[0]] = counts.get(created[0], 0) + 1
    extras = [
        f"{count} {_TABLE_NOUNS[table][0 if count == 1 else 1]}" for table, count in counts.items()
    ]
    extras += [f"the new organization {name}" for name in removed_orgs]
    # A note's event is just its first line; say what it was.
    text = f"Note: {events[0].summary}" if events[0].type == "note" else events[0].summary
    if extras:
        text += f" (with {_join(extras)})"
    return text


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None  # None: active cases; "all": every case
    organization: str | None = None
    category: str | None = None
    overdue: bool = False
    limit: int | None = None


def overdue_promise_clause(now: datetime) -> Any:
    return and_(Promise.status == "pending", Promise.due_at < now)


def list_cases(session: Session, flt: CaseFilter, *, now: datetime | None = None) -> list[Case]:
    now = now or utcnow()
    stmt: Select[Case] = select(Case).options(selectinload(Case.organization))
    if flt.status is None:
        stmt = stmt.where(Case.status.in_(ACTIVE_STATUSES))
    elif flt.status != "all":
        stmt = stmt.where(Case.status == choice(flt.status, STATUSES, "status"))
    if flt.organization:
        stmt = stmt.join(Organization, Case.organization_id == Organization.id).where(
            Organization.name_key == organization_key(flt.organization)
        )
    if flt.category:
        stmt = stmt.where(Case.category == choice(flt.category, CATEGORIES, "category"))
    if flt.overdue:
        stmt = stmt.where(exists().where(Promise.case_id == Case.id, overdue_promise_clause(now)))
    stmt = stmt.order_by(Case.last_activity_at.desc(), Case.id.desc())
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    return list(session.scalars(stmt))


def load_case_detail(session: Session, case_id: int) -> Case:
    case = session.scalars(
        select(Case)
        .where(Case.id == case_id)
        .options(
            selectinload(Case.organization),
            selectinload(Case.interactions),
            selectinload(Case.references),
            selectinload(Case.promises),
            selectinload(Case.follow_ups),
            selectinload(Case.notes),
            selectinload(Case.events).selectinload(Event.change),
        )
    ).one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


# Case ids per IN (...): each is a bound parameter, and some SQLite builds allow 32766 at most.
_IDS_PER_QUERY = 500


def overdue_counts(session: Session, case_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """How many pending promises are past due, per case."""
    if not case_ids:
        return {}
    if len(case_ids) > _IDS_PER_QUERY:
        # A long list (`case list --status all`): every overdue promise of the store, once.
        wanted = set(case_ids)
        rows = session.execute(
            select(Promise.case_id, func.count())
            .where(overdue_promise_clause(now))
            .group_by(Promise.case_id)
        )
        return {case_id: count for case_id, count in rows if case_id in wanted}
    # A page of cases: their promises by the case_id index, counted here. With the status
    # in the query SQLite picks the status index and reads every overdue promise of the
    # store (50k of them in a store of 100k cases) to count those of 50 cases.
    counts: dict[int, int] = {}
    for case_id, status, due_at in session.execute(
        select(Promise.case_id, Promise.status, Promise.due_at).where(Promise.case_id.in_(case_ids))
    ):
        if status == "pending" and due_at < now:
            counts[case_id] = counts.get(case_id, 0) + 1
    return counts


def was_undone(event: Event) -> bool:
    """Whether `tracker undo` later reverted the command that wrote this event."""
    return event.change.reverted_by_id is not None


def is_overdue(promise: Promise, now: datetime) -> bool:
    return promise.status == "pending" and promise.due_at < now


def promise_state(promise: Promise, now: datetime) -> str:
    """pending, overdue (computed), kept, broken or cancelled."""
    return "overdue" if is_overdue(promise, now) else promise.status
