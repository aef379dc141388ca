"""The case lifecycle: open, note, contact, reference, promise, follow-up, escalate,
resolve, reopen, close; and the queries the views read.

Each function takes the session of a transaction the caller framed and never commits.
Every change to a case writes one event in that transaction (tracker.history), and one
command's events share a Change, which is what `tracker undo` reverts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from tracker.directory import (
    case_abroad,
    case_calendar,
    case_region,
    ensure_organization,
    find_organization,
    organization_key,
    region_of,
)
from tracker.errors import CaseNotActive, Conflict, NotFound, UsageError
from tracker.history import (
    PROMISE_STATE_FIELDS,
    ChangeLog,
    Contacted,
    Escalated,
    FollowUpSet,
    NoteAdded,
    Opened,
    PromiseMade,
    PromiseMarked,
    ReferenceAdded,
    Resolved,
    StatusChanged,
    begin_change,
)
from tracker.models import (
    Case,
    Event,
    FollowUp,
    Interaction,
    Note,
    Organization,
    Promise,
    Reference,
    Tag,
    utcnow,
)
from tracker.redact import Masker, redact
from tracker.tags import has_tags, parse_tags
from tracker.values import MAX_TITLE, choice, optional_text, reference, required_text
from tracker.vocabulary import (
    ACTIVE_STATUSES,
    CATEGORIES,
    CHANNEL,
    CHANNELS,
    DIRECTIONS,
    FOLLOW_UP_TEXT,
    LEVELS,
    PROMISE_PARTIES,
    REFERENCE_KINDS,
    STATUSES,
    next_level,
)
from tracker.when import Calendar, calendar_for, format_local

# A contact's --at may run this far ahead of the clock (a slightly fast watch), no more.
FUTURE_SLACK = timedelta(minutes=5)

__all__ = ["case_abroad", "case_calendar", "case_region"]  # the case's jurisdiction, for views


def event_time(at: datetime | None, now: datetime, what: str) -> datetime:
    """When something happened: ``at`` (given after the fact), else now. Not in the future."""
    if at is None:
        return now
    if at > now + FUTURE_SLACK:
        raise UsageError(f"the time {format_local(at)} of {what} is in the future")
    return at


def calendar_for_organization(session: Session, name: str | None) -> Calendar:
    """The business-day calendar a case at organization `name` would use (before it exists)."""
    org = find_organization(session, name) if name else None
    return calendar_for(*region_of(org.country if org else None, org.subdivision if org else None))


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


def _require_active(case: Case, action: str) -> None:
    if case.status not in ACTIVE_STATUSES:
        raise CaseNotActive(case.id, case.status, action)


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
    refs_not_cards: bool = False,
    note: str | None = None,
    follow_up: datetime | None = None,
    abroad: bool | None = None,
    policy: str | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Case:
    """Open a case; ``at``: when it began (the letter sent, the first call), if earlier."""
    title = required_text(title, "the title", masker, limit=MAX_TITLE)
    category = choice(category, CATEGORIES, "category")
    if amount is None and currency is not None:
        raise UsageError("a currency needs an amount")
    log = begin_change(session, f"case open {title}", now=now)
    opened_at = event_time(at, log.now, "the opening")
    org = None
    org_created = False
    if organization is not None:
        org, org_created = ensure_organization(session, organization, masker, now=log.now)
    case = Case(
        title=title,
        organization=org,
        category=category,
        status="open",
        escalation_level="frontline",
        policy=policy,
        abroad=abroad,
        opened_at=opened_at,
        updated_at=log.now,
        last_activity_at=log.now,
        account_last4=account_last4,
        amount=amount,
        currency=currency,
        merchant=optional_text(merchant, masker, what="the merchant"),
        transaction_date=transaction_date,
    )
    session.add(case)
    session.flush()
    log.record(
        case,
        Opened(
            created=("cases", case.id),
            organization=org.name if org else None,
            created_organization=org.id if org_created and org else None,
            category=category,
        ),
        f"Opened: {title}",
        snapshot={},
        at=opened_at,
    )
    log.snapshot(case)
    for ref in refs:
        add_reference(session, case, ref, not_a_card=refs_not_cards, log=log, at=opened_at)
    if note is not None:
        add_note(session, case, note, masker=masker, log=log, at=opened_at)
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
    at: datetime | None = None,
    now: datetime | None = None,
) -> Note:
    """Notes are allowed on any case, closed ones included: they never lose a word.

    ``at``: when it was written down (a note from paper), if earlier than now."""
    cleaned = body.replace("\x00", "").strip("\n")
    if not cleaned.strip():
        raise UsageError("the note is empty; nothing was saved")
    cleaned = masker(cleaned, "the note")
    log = log or begin_change(session, f"case note {case.id}", now=now)
    written = event_time(at, log.now, "the note")
    note = Note(case_id=case.id, body=cleaned, created_at=written)
    session.add(note)
    session.flush()
    first_line = cleaned.strip().splitlines()[0]
    log.record(case, NoteAdded(created=("notes", note.id)), first_line[:200], at=written)
    log.touch(case)
    return note


# --------------------------------------------------------------------------- interactions


def add_reference(
    session: Session,
    case: Case,
    value: str,
    *,
    kind: str = "other",
    not_a_card: bool = False,
    interaction: Interaction | None = None,
    log: ChangeLog | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Reference | None:
    """Record a reference number exactly as given; one already on the case (the same text)
    is not added twice (returns None). One that looks like card data is refused
    (CardLikeReference) unless `not_a_card` says the user checked it."""
    value = reference(value, not_a_card=not_a_card)
    kind = choice(kind, REFERENCE_KINDS, "reference kind")
    existing = session.scalars(
        select(Reference).where(Reference.case_id == case.id, Reference.value == value)
    ).one_or_none()
    if existing is not None:
        return None
    log = log or begin_change(session, f"case ref {case.id} {value}", now=now)
    given = interaction.at if interaction else event_time(at, log.now, "the reference")
    ref = Reference(
        case_id=case.id,
        value=value,
        kind=kind,
        interaction_id=interaction.id if interaction else None,
        created_at=log.now if interaction else given,
    )
    session.add(ref)
    session.flush()
    # Given during a contact logged after the fact: the history puts it at the contact's time.
    log.record(
        case,
        ReferenceAdded(
            created=("reference_numbers", ref.id),
            reference=value,
            kind=kind,
            kept_as_typed=True if not_a_card and redact(value).changed else None,
        ),
        f"Reference {value} ({kind})",
        at=given,
    )
    log.touch(case)
    return ref


@dataclass(frozen=True)
class NewPromise:
    """A promise made during a contact (one of several, as a transcript can hold)."""

    text: str
    due: datetime
    promised_by: str = "company"
    window_start: datetime | None = None
    calendar: str | None = None


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
    refs_not_cards: bool = False,
    summary: str | None = None,
    promise: str | None = None,
    promise_due: datetime | None = None,
    promised_by: str = "company",
    promise_window_start: datetime | None = None,
    promise_calendar: str | None = None,
    now: datetime | None = None,
    promises: Sequence[NewPromise] = (),
    ref_kinds: Mapping[str, str] | None = None,
    command: str | None = None,
    log: ChangeLog | None = None,
) -> Interaction:
    """Record one contact, its reference numbers and the promises made in it.

    ``promises``: more promises besides ``promise`` (a transcript's); ``ref_kinds``: the
    kind of a reference number given, by its value (default: the channel's, a call
    reference for a phone call); ``command`` names the change in the history (undo says
    it); ``log``: the change it is part of (another write of the same command, an
    attachment or `tracker log`'s follow-up, follows it).
    """
    channel = choice(channel, CHANNELS, "channel")
    direction = choice(direction, DIRECTIONS, "direction")
    if (promise is None) != (promise_due is None):
        raise UsageError("a promise needs a due time, and a due time a promise")
    now = now or utcnow()
    at = at or now
    if at > now + FUTURE_SLACK:
        raise UsageError(
            f"the contact time {format_local(at)} is in the future; give when it happened"
        )
    _require_active(case, "log a contact")
    log = log or begin_change(session, command or f"case contact {case.id} ({channel})", now=now)
    interaction = Interaction(
        case_id=case.id,
        at=at,
        channel=channel,
        direction=direction,
        via=optional_text(via, masker, what="the number or address", limit=500),
        agent_name=optional_text(agent_name, masker, what="the agent's name", limit=200),
        agent_id=optional_text(agent_id, masker, what="the agent's id", limit=100),
        duration_seconds=int(duration.total_seconds()) if duration else None,
        summary=optional_text(summary, masker, what="the summary"),
        created_at=log.now,
    )
    session.add(interaction)
    session.flush()
    # Masked once here, so the masker counts each card once and the event shows no card.
    # Checked before anything is written: a card-like one refuses the whole contact.
    ref_values = [reference(ref, not_a_card=refs_not_cards) for ref in refs]
    log.record(
        case,
        Contacted(
            created=("interactions", interaction.id),
            channel=channel,
            direction=direction,
            agent=interaction.agent_name,
            reference=", ".join(ref_values) or None,
        ),
        contact_headline(interaction),
        at=at,
    )
    for ref in ref_values:
        add_reference(
            session,
            case,
            ref,
            kind=(ref_kinds or {}).get(ref, CHANNEL[channel].reference_kind),
            not_a_card=refs_not_cards,
            interaction=interaction,
            log=log,
        )
    made = list(promises)
    if promise is not None and promise_due is not None:
        made.insert(
            0, NewPromise(promise, promise_due, promised_by, promise_window_start, promise_calendar)
        )
    for new in made:
        make_promise(
            session,
            case,
            new.text,
            new.due,
            masker=masker,
            promised_by=new.promised_by,
            interaction=interaction,
            log=log,
            window_start=new.window_start,
            calendar=new.calendar,
        )
    log.touch(case)
    if case.last_interaction_at is None or at > case.last_interaction_at:
        case.last_interaction_at = at
    case.last_activity_at = max(case.last_activity_at, at)
    return interaction


def contact_headline(interaction: Interaction) -> str:
    """The timeline's line for a contact: 'Phone call to the company with Jen (id 4471): ...'."""
    who = f" with {interaction.agent_name}" if interaction.agent_name else ""
    if interaction.agent_id:
        who += f" (id {interaction.agent_id})"
    arrow = "to" if interaction.direction == "out" else "from"
    headline = f"{CHANNEL[interaction.channel].label} {arrow} the company{who}"
    if interaction.summary:
        headline += f": {interaction.summary}"
    return headline[:500]


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
    window_start: datetime | None = None,
    calendar: str | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Promise:
    """Record a promise due at ``due`` (a window's end; ``window_start`` its start).

    ``at``: when it was promised, if earlier than now (a contact's time, when made in one);
    ``calendar``: the key of the holiday calendar its business days were counted on.
    """
    text = required_text(text, "the promise", masker, limit=2000)
    promised_by = choice(promised_by, PROMISE_PARTIES, "promiser")
    _require_active(case, "record a promise")
    log = log or begin_change(session, f"case promise {case.id}", now=now)
    made = interaction.at if interaction else event_time(at, log.now, "the promise")
    if window_start is not None and window_start > due:
        raise UsageError("a promise's window must start before it is due")
    promise = Promise(
        case_id=case.id,
        interaction_id=interaction.id if interaction else None,
        text=text,
        promised_by=promised_by,
        due_at=due,
        window_start=window_start,
        calendar=calendar,
        status="pending",
        created_at=log.now if interaction else made,
    )
    session.add(promise)
    session.flush()
    who = "The company" if promised_by == "company" else "I"
    log.record(
        case,
        PromiseMade(
            created=("promises", promise.id),
            promise_id=promise.id,
            due_at=due,
            promise_status="pending",
            promised_by=promised_by,
        ),
        f"{who} promised: {text}",
        at=made,
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
    before = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name in PROMISE_STATE_FIELDS
        for value in [getattr(promise, name)]
    }
    log.record(
        case,
        PromiseMarked(
            promise_id=promise.id,
            promise_before=before,
            due_at=promise.due_at,
            promise_status=new,
            promised_by=promise.promised_by,
        ),
        f"Promise {promise.id} {new}: {promise.text}",
        type_=f"promise_{new}",
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
        text=optional_text(text, masker, what="the follow-up"),
        status="pending",
        created_at=log.now,
    )
    session.add(follow_up)
    session.flush()
    log.record(
        case,
        FollowUpSet(created=("follow_ups", follow_up.id), follow_up_id=follow_up.id, due_at=due),
        f"Follow-up: {follow_up.text or FOLLOW_UP_TEXT}",
    )
    log.touch(case)
    return follow_up


# --------------------------------------------------------------------------- lifecycle


def escalate(
    session: Session,
    case: Case,
    *,
    masker: Masker,
    to: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
    log: ChangeLog | None = None,
) -> Case:
    """Escalate; ``at``: when it happened (the complaint letter sent), if earlier. The
    escalation clocks (the FCA's 8 weeks, the CFPB's 15 days) start then."""
    _require_active(case, "escalate it")
    if to is None:
        target = next_level(case.escalation_level)
        if target is None:
            raise Conflict(f"case {case.id} is already at the last level (regulator)")
    else:
        target = choice(to, LEVELS, "escalation level")
        if target == "frontline":
            raise UsageError("an escalation moves up: choose supervisor, complaint or regulator")
        if LEVELS.index(target) <= LEVELS.index(case.escalation_level):
            raise Conflict(f"case {case.id} is already at {case.escalation_level}")
    log = log or begin_change(session, f"case escalate {case.id} to {target}", now=now)
    when = _lifecycle_time(case, at, log.now, "the escalation")
    if case.escalated_at is not None and when < case.escalated_at:
        raise UsageError(
            f"the escalation at {format_local(when)} is before the last one "
            f"({format_local(case.escalated_at)})"
        )
    reason = optional_text(note, masker, what="the reason")
    summary = f"Escalated from {case.escalation_level} to {target}"
    if reason:
        summary += f": {reason}"
    log.record(
        case,
        Escalated(level=target, previous_level=case.escalation_level, reason=reason),
        summary,
        at=when,
    )
    case.escalation_level = target
    case.status = "escalated"
    case.escalated_at = when
    log.touch(case)
    if reason:
        add_note(session, case, reason, masker=masker, log=log, at=when)
    return case


def resolve(
    session: Session,
    case: Case,
    *,
    masker: Masker,
    outcome: str | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Case:
    if case.status == "resolved":
        raise Conflict(f"case {case.id} is already resolved")
    if case.status == "closed":
        raise CaseNotActive(case.id, case.status)
    log = begin_change(session, f"case resolve {case.id}", now=now)
    when = _lifecycle_time(case, at, log.now, "the resolution")
    text = optional_text(outcome, masker, what="the outcome")
    log.record(case, Resolved(outcome=text), f"Resolved: {text}" if text else "Resolved", at=when)
    case.status = "resolved"
    case.resolved_at = when
    case.outcome = text
    log.touch(case)
    return case


def reopen(
    session: Session, case: Case, *, at: datetime | None = None, now: datetime | None = None
) -> Case:
    if case.status in ACTIVE_STATUSES:
        raise Conflict(f"case {case.id} is already {case.status}")
    log = begin_change(session, f"case reopen {case.id}", now=now)
    when = _lifecycle_time(case, at, log.now, "the reopening")
    log.record(
        case,
        StatusChanged(previous_status=case.status),
        f"Reopened (was {case.status})",
        type_="reopened",
        at=when,
    )
    case.status = "open"
    case.resolved_at = None
    case.closed_at = None
    # The outcome belonged to the resolution being reopened; the history keeps it.
    case.outcome = None
    log.touch(case)
    settle_status(case, session)
    return case


def close(
    session: Session, case: Case, *, at: datetime | None = None, now: datetime | None = None
) -> Case:
    if case.status == "closed":
        raise Conflict(f"case {case.id} is already closed")
    log = begin_change(session, f"case close {case.id}", now=now)
    when = _lifecycle_time(case, at, log.now, "the closing")
    log.record(case, StatusChanged(previous_status=case.status), "Closed", type_="closed", at=when)
    case.status = "closed"
    case.closed_at = when
    log.touch(case)
    return case


def _lifecycle_time(case: Case, at: datetime | None, now: datetime, what: str) -> datetime:
    """When a step of the case's life happened: not in the future, not before its opening."""
    when = event_time(at, now, what)
    if when < case.opened_at:
        raise UsageError(
            f"the time {format_local(when)} of {what} is before the case was opened "
            f"({format_local(case.opened_at)})"
        )
    return when


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None  # None: active cases; "all": every case
    organization: str | None = None
    category: str | None = None
    overdue: bool = False
    limit: int | None = None
    tags: tuple[str, ...] = ()  # only cases with every one of these


@dataclass(frozen=True, slots=True)
class CaseLine:
    """A case as `case list` shows it: its columns, its organization's name and its tags,
    read as plain rows (a list of every active case builds no ORM object)."""

    id: int
    title: str
    organization: str | None
    category: str
    status: str
    escalation_level: str
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    last_activity_at: datetime
    account_last4: str | None
    amount: Decimal | None
    currency: str | None
    merchant: str | None
    transaction_date: date | None
    outcome: str | None
    tags: tuple[str, ...] = ()


_LINE_COLUMNS = (
    Case.id,
    Case.title,
    Organization.name,
    Case.category,
    Case.status,
    Case.escalation_level,
    Case.opened_at,
    Case.resolved_at,
    Case.closed_at,
    Case.last_activity_at,
    Case.account_last4,
    Case.amount,
    Case.currency,
    Case.merchant,
    Case.transaction_date,
    Case.outcome,
)


def list_cases(session: Session, flt: CaseFilter, *, now: datetime | None = None) -> list[CaseLine]:
    now = now or utcnow()
    stmt = select(*_LINE_COLUMNS).outerjoin(Organization, Case.organization_id == Organization.id)
    if flt.status is None:
        stmt = stmt.where(Case.status.in_(ACTIVE_STATUSES))
    elif flt.status != "all":
        stmt = stmt.where(Case.status == choice(flt.status, STATUSES, "status"))
    if flt.organization:
        stmt = stmt.where(Organization.name_key == organization_key(flt.organization))
    if flt.category:
        stmt = stmt.where(Case.category == choice(flt.category, CATEGORIES, "category"))
    if flt.overdue:
        stmt = stmt.where(exists().where(Promise.case_id == Case.id, Promise.overdue_at(now)))
    if flt.tags:
        stmt = stmt.where(has_tags(parse_tags(flt.tags)))
    stmt = stmt.order_by(Case.last_activity_at.desc(), Case.id.desc())
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    # Plain rows through the connection: the ORM's loading path (and the identity map a
    # read's end walks) cost more than the query for a list of every active case.
    session.flush()  # the connection does not autoflush as session.execute does
    rows = session.connection().execute(stmt).all()
    tags = _tags_of(session, [row[0] for row in rows])
    return [CaseLine(*row, tags=tags.get(row[0], ())) for row in rows]  # type: ignore[call-arg]


def _tags_of(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The tags of these cases, in order, by case id (no query when the store has none)."""
    if not case_ids or not session.scalar(select(exists().select_from(Tag))):
        return {}
    found: dict[int, list[str]] = {}
    connection = session.connection()
    for start in range(0, len(case_ids), _IDS_PER_QUERY):
        chunk = case_ids[start : start + _IDS_PER_QUERY]
        for case_id, tag in connection.execute(
            select(Tag.case_id, Tag.tag).where(Tag.case_id.in_(chunk)).order_by(Tag.tag)
        ):
            found.setdefault(case_id, []).append(tag)
    return {case_id: tuple(tags) for case_id, tags in found.items()}


def active_cases_of(session: Session, organization: str) -> list[Case]:
    """The organization's active cases, the latest active first (`tracker log` picks it)."""
    return list(
        session.scalars(
            select(Case)
            .join(Organization, Case.organization_id == Organization.id)
            .where(
                Organization.name_key == organization_key(organization),
                Case.status.in_(ACTIVE_STATUSES),
            )
            .order_by(Case.last_activity_at.desc(), Case.id.desc())
        )
    )


def load_case_detail(session: Session, case_id: int) -> Case:
    case = session.scalars(
        select(Case)
        .where(Case.id == case_id)
        .options(
            # The rows that are one per case or per event ride on their queries; each
            # list is one query more.
            joinedload(Case.organization),
            selectinload(Case.interactions),
            selectinload(Case.references),
            selectinload(Case.promises),
            selectinload(Case.follow_ups),
            selectinload(Case.notes),
            selectinload(Case.tags),
            selectinload(Case.attachments),
            selectinload(Case.events).joinedload(Event.change),
        )
    ).one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


# Case ids per IN (...): each is a bound parameter, and some SQLite builds allow 32766 at most.
_IDS_PER_QUERY = 500


def overdue_counts(
    session: Session,
    case_ids: Sequence[int],
    now: datetime,
    *,
    statuses: Sequence[str] | None = None,
) -> dict[int, int]:
    """How many pending promises are past due, per case. `statuses`: the statuses every one
    of `case_ids` has, when the list is known to be of those only (`case list`: the active
    statuses), which lets a long list count from its cases."""
    if not case_ids:
        return {}
    session.flush()  # plain rows through the connection, below: it does not autoflush
    if len(case_ids) > _IDS_PER_QUERY:
        wanted = set(case_ids)
        stmt = select(Promise.case_id, func.count())
        if statuses is not None:
            # Every active case (`case list`): the overdue promises of the active cases,
            # read from the cases' status index and by each case's promises. The unary plus
            # keeps SQLite off the promises' status index, which holds every pending promise
            # left on resolved cases too (49,782 promises read for 4,509 at 100k cases);
            # tests/test_query_plans.py pins the plan. (A CROSS JOIN form of the same went
            # quadratic.)
            stmt = stmt.join(Case, Promise.case_id == Case.id).where(
                Case.status.in_(statuses),
                _unindexed(Promise.status.expression) == "pending",
                Promise.due_at < now,
            )
        else:
            # Any status (`case list --status all`): every overdue promise of the store, once.
            stmt = stmt.where(Promise.overdue_at(now))
        rows = session.connection().execute(stmt.group_by(Promise.case_id))
        return {case_id: count for case_id, count in rows if case_id in wanted}
    # A page of cases: their promises by the case_id index, counted here. With the status
    # in the query SQLite picks the status index and reads every overdue promise of the
    # store (50k of them in a store of 100k cases) to count those of 50 cases.
    counts: dict[int, int] = {}
    for case_id, status, due_at in session.connection().execute(
        select(Promise.case_id, Promise.status, Promise.due_at).where(Promise.case_id.in_(case_ids))
    ):
        if Promise.overdue_rule(status, due_at, now):
            counts[case_id] = counts.get(case_id, 0) + 1
    return counts


class _Unindexed(ColumnElement[str]):
    """`+column` on SQLite: the same value, which its planner cannot look up by an index on
    the column. PostgreSQL (no unary plus on text; it plans by statistics) gets the column."""

    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (declared so on the base)
        ("column", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, column: ColumnElement[str]) -> None:
        self.column = column
        self.type = column.type


@compiles(_Unindexed)
def _unindexed_default(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)


def _unindexed(column: ColumnElement[str]) -> ColumnElement[str]:
    return _Unindexed(column)
