"""Corrections: fixing an entry typed wrong, without losing what it said.

A case, a contact, a note or a promise is corrected in place (the row holds the current
value) and one ``corrected`` event records what changed from what to what
(tracker.history.Corrected); the event that first recorded the entry stays in the history,
shown as superseded while the correction stands. One correction is one change: `tracker
undo` puts every column back as it was.

A value equal to the current one is no change; a correction that changes nothing writes
nothing. Corrections refuse on a resolved or closed case, like the other writes; a note can
be corrected on any case, as a note can be added to any case (the old text stays in the
history: no word is lost).

A contact's *reference* is one of the reference numbers linked to it: correcting it
rewrites that number's row (its id, kind and every other reference stay), and a contact
that has none gets the number linked to it. A card-like number is refused, as everywhere.

Each function takes the session of a transaction the caller framed and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tracker.cases import (
    FUTURE_SLACK,
    add_note,
    add_reference,
    event_time,
    get_case,
    get_promise,
    settle_status,
)
from tracker.directory import MAX_NAME, ensure_organization, find_organization
from tracker.errors import CaseNotActive, Conflict, NotFound, UsageError
from tracker.history import (
    CORRECTION_TARGETS,
    ChangeLog,
    Corrected,
    PayloadError,
    begin_change,
    describe_changes,
    payload_of,
    row_key,
)
from tracker.models import Case, Event, Interaction, Note, Promise, Reference, Reminder
from tracker.redact import Masker, redact
from tracker.values import MAX_TITLE, choice, optional_text, reference, required_text
from tracker.vocabulary import ACTIVE_STATUSES, CATEGORIES, CHANNEL, CHANNELS, PROMISE_PARTIES
from tracker.when import format_local


@dataclass(frozen=True)
class Correction:
    """What a correction did: the entry, its case, the event written (None: nothing
    changed) and each field's old and new value."""

    target: str
    target_id: int
    case_id: int
    event_id: int | None = None
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Rows the same change added (a reference linked to a contact, the reason's note).
    added: dict[str, int] = field(default_factory=dict)


@dataclass
class _Edit:
    """One field to change: its name, the row and column it lives in, the new value; and
    how the old and new values are shown when the column holds something else (an id)."""

    name: str
    row: Any
    column: str
    new: Any
    shown_old: Any = None
    shown_new: Any = None
    shown: bool = False

    @property
    def old(self) -> Any:
        return getattr(self.row, self.column)


def _stored(value: Any) -> Any:
    """A column's value as a correction keeps it (JSON: times ISO in UTC, decimals text)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def _require_active(case: Case, action: str) -> None:
    if case.status not in ACTIVE_STATUSES:
        raise CaseNotActive(case.id, case.status, action)


def _original_event(session: Session, case: Case, target: str, target_id: int) -> int | None:
    """The event that recorded the entry (the one a correction supersedes)."""
    types = {"case": "opened", "contact": "interaction", "note": "note", "promise": "promise_made"}
    table = CORRECTION_TARGETS[target]
    for event in session.scalars(
        select(Event)
        .where(Event.case_id == case.id, Event.type == types[target])
        .order_by(Event.id)
    ):
        try:
            payload = payload_of(event)
        except PayloadError:
            continue
        if payload.created == (table, target_id):
            return event.id
    return None


def _record(
    session: Session,
    case: Case,
    target: str,
    target_id: int,
    edits: Sequence[_Edit],
    *,
    command: str,
    label: str,
    now: datetime | None = None,
    at: datetime | None = None,
    also: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> tuple[Correction, ChangeLog | None]:
    """Write the edits that change something, and the one event that says so.

    ``also``: changes the event shows that no edit writes (a reference row the caller adds).
    """
    wanted = [edit for edit in edits if _stored(edit.new) != _stored(edit.old)]
    if not wanted and not also:
        return Correction(target, target_id, case.id), None
    changes = {
        edit.name: (
            {"old": edit.shown_old, "new": edit.shown_new}
            if edit.shown
            else {"old": _stored(edit.old), "new": _stored(edit.new)}
        )
        for edit in wanted
    }
    changes.update(also or {})
    before: dict[str, dict[str, Any]] = {}
    for edit in wanted:
        key = row_key(edit.row.__tablename__, edit.row.id)
        before.setdefault(key, {})[edit.column] = _stored(edit.old)
    log = begin_change(session, command, now=now)
    reason = extra.get("reason")
    summary = f"Corrected {label}: {describe_changes(changes)}"
    if reason:
        summary += f" (why: {reason})"
    event = log.record(
        case,
        Corrected(
            target=target,
            target_id=target_id,
            changes=changes,
            before=before,
            supersedes=_original_event(session, case, target, target_id),
            **extra,
        ),
        summary[:500],
        at=at,
    )
    for edit in wanted:
        setattr(edit.row, edit.column, edit.new)
    log.touch(case)
    session.flush()
    return Correction(target, target_id, case.id, event.id, changes), log


# --------------------------------------------------------------------------- a case


def edit_case(
    session: Session,
    case: Case,
    *,
    masker: Masker,
    title: str | None = None,
    organization: str | None = None,
    category: str | None = None,
    account_last4: str | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    merchant: str | None = None,
    transaction_date: date | None = None,
    opened_at: datetime | None = None,
    now: datetime | None = None,
) -> Correction:
    """Correct a case's facts. Only the fields given change (UsageError if none is)."""
    given = (
        title,
        organization,
        category,
        account_last4,
        amount,
        currency,
        merchant,
        transaction_date,
        opened_at,
    )
    if all(value is None for value in given):
        raise UsageError("nothing to correct: give at least one new value")
    _require_active(case, "correct it")
    if currency is not None and amount is None and case.amount is None:
        raise UsageError("a currency needs an amount")
    edits: list[_Edit] = []
    if title is not None:
        new_title = required_text(title, "the title", masker, limit=MAX_TITLE)
        edits.append(_Edit("title", case, "title", new_title))
    created_org: int | None = None
    if organization is not None:
        cleaned = required_text(organization, "the organization name", masker, limit=MAX_NAME)
        org = find_organization(session, cleaned)
        if org is None or org.id != case.organization_id:
            if org is None:
                org, _ = ensure_organization(session, cleaned, masker, now=now)
                session.flush()
                created_org = org.id
            edits.append(
                _Edit(
                    "organization",
                    case,
                    "organization_id",
                    org.id,
                    shown_old=case.organization.name if case.organization else None,
                    shown_new=org.name,
                    shown=True,
                )
            )
    if category is not None:
        edits.append(_Edit("category", case, "category", choice(category, CATEGORIES, "category")))
    if account_last4 is not None:
        edits.append(_Edit("account_last4", case, "account_last4", account_last4))
    if amount is not None:
        edits.append(_Edit("amount", case, "amount", amount))
    if currency is not None:
        edits.append(_Edit("currency", case, "currency", currency))
    if merchant is not None:
        new_merchant = optional_text(merchant, masker, what="the merchant")
        edits.append(_Edit("merchant", case, "merchant", new_merchant))
    if transaction_date is not None:
        edits.append(_Edit("transaction_date", case, "transaction_date", transaction_date))
    if opened_at is not None:
        moment = now or datetime.now(UTC)
        when = event_time(opened_at, moment, "the opening")
        if case.escalated_at is not None and when > case.escalated_at:
            raise UsageError(
                f"the opening {format_local(when)} is after the case was escalated "
                f"({format_local(case.escalated_at)})"
            )
        edits.append(_Edit("opened_at", case, "opened_at", when))
    correction, _ = _record(
        session,
        case,
        "case",
        case.id,
        edits,
        command=f"case edit {case.id}",
        label=f"case {case.id}",
        now=now,
        created_organization=created_org,
    )
    return correction


# --------------------------------------------------------------------------- a contact


def get_interaction(session: Session, interaction_id: int) -> Interaction:
    found = session.get(Interaction, interaction_id)
    if found is None:
        raise NotFound(f"no contact {interaction_id}")
    return found


def edit_contact(
    session: Session,
    interaction_id: int,
    *,
    masker: Masker,
    agent: str | None = None,
    agent_id: str | None = None,
    summary: str | None = None,
    channel: str | None = None,
    at: datetime | None = None,
    duration: timedelta | None = None,
    ref: str | None = None,
    replace: str | None = None,
    not_a_card: bool = False,
    now: datetime | None = None,
) -> Correction:
    """Correct a contact. ``ref`` corrects its reference number: the one it has, or
    ``replace`` (the old number exactly) among several; a contact without one gets it."""
    if all(value is None for value in (agent, agent_id, summary, channel, at, duration, ref)):
        raise UsageError("nothing to correct: give at least one new value")
    if replace is not None and ref is None:
        raise UsageError("the reference to replace needs the new reference")
    interaction = get_interaction(session, interaction_id)
    case = get_case(session, interaction.case_id, for_update=True)
    _require_active(case, "correct a contact")
    moment = now or datetime.now(UTC)
    edits: list[_Edit] = []
    if agent is not None:
        new_agent = optional_text(agent, masker, what="the agent's name", limit=200)
        edits.append(_Edit("agent", interaction, "agent_name", new_agent))
    if agent_id is not None:
        new_id = optional_text(agent_id, masker, what="the agent's id", limit=100)
        edits.append(_Edit("agent_id", interaction, "agent_id", new_id))
    if summary is not None:
        new_summary = optional_text(summary, masker, what="the summary")
        edits.append(_Edit("summary", interaction, "summary", new_summary))
    if channel is not None:
        edits.append(_Edit("channel", interaction, "channel", choice(channel, CHANNELS, "channel")))
    if at is not None:
        if at > moment + FUTURE_SLACK:
            raise UsageError(
                f"the contact time {format_local(at)} is in the future; give when it happened"
            )
        edits.append(_Edit("at", interaction, "at", at))
    if duration is not None:
        seconds = int(duration.total_seconds())
        edits.append(_Edit("duration_seconds", interaction, "duration_seconds", seconds))
    added_ref: str | None = None
    if ref is not None:
        new_ref = reference(ref, not_a_card=not_a_card)
        edit = _reference_edit(session, case, interaction, new_ref, replace)
        if edit is None:
            added_ref = new_ref
        else:
            edits.append(edit)
    kept = True if not_a_card and ref is not None and redact(ref.strip()).changed else None
    correction, log = _record(
        session,
        case,
        "contact",
        interaction.id,
        edits,
        command=f"contact edit {interaction.id}",
        label=f"contact {interaction.id}",
        now=moment,
        also={"reference": {"old": None, "new": added_ref}} if added_ref else None,
        kept_as_typed=kept,
    )
    if log is not None and added_ref is not None:
        # Linked to the contact, with its own event: undo removes the row that names.
        added = add_reference(
            session,
            case,
            added_ref,
            kind=CHANNEL[interaction.channel].reference_kind,
            not_a_card=not_a_card,
            interaction=interaction,
            log=log,
        )
        if added is not None:
            correction.added["reference_numbers"] = added.id
    if correction.event_id is not None and at is not None:
        _settle_last_interaction(session, case)
    return correction


def _has_reference(session: Session, interaction: Interaction, *, ref_value: str) -> bool:
    return (
        session.scalar(
            select(Reference.id).where(
                Reference.case_id == interaction.case_id, Reference.value == ref_value
            )
        )
        is not None
    )


def _reference_edit(
    session: Session, case: Case, interaction: Interaction, new: str, replace: str | None
) -> _Edit | None:
    """The edit that rewrites the contact's reference to `new`; None when the contact has
    none (the caller links `new` to it). Conflict when another reference of the case is
    `new` already, or `replace` is not one of the contact's."""
    refs = list(
        session.scalars(
            select(Reference)
            .where(Reference.interaction_id == interaction.id)
            .order_by(Reference.id)
        )
    )
    if replace is not None:
        old = replace.strip()
        matching = [r for r in refs if r.value == old]
        if not matching:
            given = ", ".join(r.value for r in refs) or "none"
            raise Conflict(
                f"contact {interaction.id} has no reference '{old}' (its references: {given})"
            )
        target = matching[0]
    elif not refs:
        if _has_reference(session, interaction, ref_value=new):
            raise Conflict(f"case {case.id} already has reference {new}; nothing was changed")
        return None
    elif len(refs) == 1:
        target = refs[0]
    else:
        raise UsageError(
            f"contact {interaction.id} has {len(refs)} references "
            f"({', '.join(r.value for r in refs)}): say which one is wrong"
        )
    if target.value != new:
        clash = session.scalar(
            select(Reference.id).where(
                Reference.case_id == case.id, Reference.value == new, Reference.id != target.id
            )
        )
        if clash is not None:
            raise Conflict(f"case {case.id} already has reference {new}; nothing was changed")
    return _Edit("reference", target, "value", new)


def _settle_last_interaction(session: Session, case: Case) -> None:
    """The case's last contact time, after a contact's time was corrected."""
    session.flush()
    case.last_interaction_at = session.scalar(
        select(func.max(Interaction.at)).where(Interaction.case_id == case.id)
    )


# --------------------------------------------------------------------------- a note


def edit_note(
    session: Session, note_id: int, body: str, *, masker: Masker, now: datetime | None = None
) -> Correction:
    """Correct a note's text. Allowed on any case, as a note is (the old text stays)."""
    note = session.get(Note, note_id)
    if note is None:
        raise NotFound(f"no note {note_id}")
    case = get_case(session, note.case_id, for_update=True)
    cleaned = body.replace("\x00", "").strip("\n")
    if not cleaned.strip():
        raise UsageError("the note is empty; nothing was saved")
    cleaned = masker(cleaned, "the note")
    correction, _ = _record(
        session,
        case,
        "note",
        note.id,
        [_Edit("body", note, "body", cleaned)],
        command=f"note edit {note.id}",
        label=f"note {note.id}",
        now=now,
    )
    return correction


# --------------------------------------------------------------------------- a promise


def reschedule_promise(
    session: Session,
    promise_id: int,
    due: datetime,
    *,
    masker: Masker,
    window_start: datetime | None = None,
    calendar: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> Correction:
    """A pending promise is now due at `due` (a window's end; `window_start` its start).

    ``reason``, if given, is kept in the correction and added as a note. Its reminders
    start afresh: the claims of those already shown are dropped, so the new time fires.
    """
    promise = get_promise(session, promise_id, for_update=True)
    case = get_case(session, promise.case_id, for_update=True)
    _require_active(case, "reschedule a promise")
    if promise.status != "pending":
        raise Conflict(
            f"promise {promise_id} is {promise.status}; only a pending promise can be rescheduled"
        )
    if window_start is not None and window_start > due:
        raise UsageError("a promise's window must start before it is due")
    why = optional_text(reason, masker, what="the reason")
    moment = now or datetime.now(UTC)
    when = event_time(at, moment, "the rescheduling")
    edits = [
        _Edit("due_at", promise, "due_at", due),
        _Edit("window_start", promise, "window_start", window_start),
        _Edit("calendar", promise, "calendar", calendar),
    ]
    correction, log = _record(
        session,
        case,
        "promise",
        promise.id,
        edits,
        command=f"promise due {promise_id}",
        label=f"promise {promise.id}",
        now=moment,
        at=when,
        reason=why,
    )
    if log is None:
        return correction
    session.execute(delete(Reminder).where(Promise.reminder_claims(promise.id)))
    if why:
        note = add_note(session, case, why, masker=masker, log=log, at=when)
        correction.added["notes"] = note.id
    return correction


def change_promiser(
    session: Session, promise_id: int, who: str, *, now: datetime | None = None
) -> Correction:
    """Who made the promise: the company or me (the case's waiting status follows)."""
    who = choice(who, PROMISE_PARTIES, "promiser")
    promise = get_promise(session, promise_id, for_update=True)
    case = get_case(session, promise.case_id, for_update=True)
    _require_active(case, "correct a promise")
    correction, written = _record(
        session,
        case,
        "promise",
        promise.id,
        [_Edit("promised_by", promise, "promised_by", who)],
        command=f"promise by {promise_id} {who}",
        label=f"promise {promise.id}",
        now=now,
    )
    if written is not None:
        settle_status(case, session)
    return correction
