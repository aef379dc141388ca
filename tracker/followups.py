"""Follow-ups have an end: done, cancelled, or snoozed to a later time; and `tracker snooze
CASE WHEN`, which brings back the reminders last shown for a case.

Each function takes the session of a transaction the caller framed and never commits; each
command is one change (tracker.history) that `tracker undo` reverts exactly: the follow-up's
status, status time, due time and snoozed-from time come back as they were.

Nothing here talks to the daemon. The daemon reads pending follow-ups through tracker.due
and notices every command through the change counter: a follow-up that is done or cancelled
is no longer pending, so it is no longer reminded; a snoozed one is pending at its new time,
and its reminder claim ("follow_up:ID", tracker.reminders) is dropped in the same
transaction, so it is shown again at that time, once.

`tracker snooze CASE WHEN` reads the case's history for the reminders shown last (one
notification's worth: the events of the newest `reminder_fired` change on the case). A
follow-up among them is snoozed; an overdue or due promise, or a crossed escalation
threshold, gets a follow-up at WHEN that says what it brings back ("Again: Credit posts
(promise 3) is overdue"), keyed by the reminder it repeats (FollowUp.again_of). Snoozing the
same reminders again moves that follow-up instead of adding another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker.cases import get_case, set_follow_up
from tracker.due import pending_items
from tracker.errors import CaseNotActive, Conflict, NotFound, UsageError
from tracker.history import (
    FOLLOW_UP_STATE_FIELDS,
    ChangeLog,
    FollowUpMarked,
    ReminderShown,
    begin_change,
    payload_of,
)
from tracker.models import Case, Event, FollowUp, Promise, Reminder
from tracker.policy import Policies
from tracker.redact import Masker
from tracker.vocabulary import ACTIVE_STATUSES, FOLLOW_UP_TEXT
from tracker.when import format_local

# How the commands name the end states, and the status each sets.
ENDS = {"done": "done", "cancel": "cancelled"}


def get_follow_up(session: Session, follow_up_id: int, *, for_update: bool = False) -> FollowUp:
    stmt = select(FollowUp).where(FollowUp.id == follow_up_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise NotFound(f"no follow-up {follow_up_id}")
    return found


def _locked(session: Session, follow_up_id: int) -> tuple[FollowUp, Case]:
    """The follow-up and its case, locked case first (the order every command locks in)."""
    case_id = session.scalar(select(FollowUp.case_id).where(FollowUp.id == follow_up_id))
    if case_id is None:
        raise NotFound(f"no follow-up {follow_up_id}")
    case = get_case(session, case_id, for_update=True)
    return get_follow_up(session, follow_up_id, for_update=True), case


def _state(follow_up: FollowUp) -> dict[str, str | None]:
    """What undo puts back (history.FOLLOW_UP_STATE_FIELDS), as JSON."""
    out: dict[str, str | None] = {}
    for name in FOLLOW_UP_STATE_FIELDS:
        value = getattr(follow_up, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _what(follow_up: FollowUp) -> str:
    return follow_up.text or FOLLOW_UP_TEXT


def finish(
    session: Session, follow_up_id: int, end: str, *, now: datetime | None = None
) -> FollowUp:
    """Mark a follow-up done or cancelled (`end`: done, cancel). A follow-up can be marked
    again the other way (done -> cancelled); marking it as it already is, is a Conflict."""
    if end not in ENDS:
        raise UsageError(f"unknown follow-up end '{end}'; choose done or cancel")
    status = ENDS[end]
    follow_up, case = _locked(session, follow_up_id)
    if follow_up.status == status:
        raise Conflict(f"follow-up {follow_up_id} is already {status}")
    log = begin_change(session, f"follow-up {end} {follow_up_id}", now=now)
    log.record(
        case,
        FollowUpMarked(
            follow_up_id=follow_up.id,
            follow_up_before=_state(follow_up),
            due_at=follow_up.due_at,
            follow_up_status=status,
        ),
        f"Follow-up {follow_up.id} {status}: {_what(follow_up)}",
        type_=f"follow_up_{status}",
    )
    follow_up.status = status
    follow_up.status_at = log.now
    log.touch(case)
    return follow_up


def _require_active(case: Case, action: str) -> None:
    if case.status not in ACTIVE_STATUSES:
        raise CaseNotActive(case.id, case.status, action)


def _check_later(until: datetime, now: datetime) -> None:
    if until <= now:
        raise UsageError(f"{format_local(until)} is not in the future; a snooze needs a later time")


def _move(log: ChangeLog, case: Case, follow_up: FollowUp, until: datetime) -> None:
    """Snooze: the follow-up is pending at `until`, and its reminder may be shown again."""
    if follow_up.status in ("done", "cancelled"):
        raise Conflict(
            f"follow-up {follow_up.id} is {follow_up.status}; there is nothing to snooze"
        )
    if follow_up.status == "pending" and follow_up.due_at == until:
        raise Conflict(f"follow-up {follow_up.id} is already due at {format_local(until)}")
    before = follow_up.due_at
    log.record(
        case,
        FollowUpMarked(
            follow_up_id=follow_up.id,
            follow_up_before=_state(follow_up),
            due_at=until,
            follow_up_status="pending",
            snoozed_from=before,
        ),
        f"Follow-up {follow_up.id} snoozed from {format_local(before)} to "
        f"{format_local(until)}: {_what(follow_up)}",
        type_="follow_up_snoozed",
    )
    follow_up.status = "pending"
    follow_up.due_at = until
    follow_up.snoozed_from = before
    follow_up.status_at = log.now
    # Its claim said "shown": without it, the daemon shows it again at its new time, once.
    log.session.execute(delete(Reminder).where(FollowUp.reminder_claims(follow_up.id)))
    log.touch(case)


def snooze(
    session: Session, follow_up_id: int, until: datetime, *, now: datetime | None = None
) -> FollowUp:
    """Move a pending (or fired) follow-up to `until`, which must be in the future."""
    follow_up, case = _locked(session, follow_up_id)
    _require_active(case, "snooze a follow-up")
    log = begin_change(session, f"follow-up snooze {follow_up_id}", now=now)
    _check_later(until, log.now)
    _move(log, case, follow_up, until)
    return follow_up


# --------------------------------------------------------------------------- snooze by case


@dataclass
class CaseSnooze:
    """What `tracker snooze CASE WHEN` did: the follow-ups it moved or set, and why it left
    the other reminders of that notification alone."""

    case_id: int
    until: datetime
    shown_at: datetime
    moved: list[FollowUp] = field(default_factory=list)
    added: list[FollowUp] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def follow_ups(self) -> list[FollowUp]:
        return self.moved + self.added


def last_shown(session: Session, case_id: int) -> tuple[datetime, list[str]] | None:
    """When the case's last reminders were shown, and their keys (one notification)."""
    change_id = session.scalar(
        select(Event.change_id)
        .where(Event.case_id == case_id, Event.type == ReminderShown.TYPES[0])
        .order_by(Event.id.desc())
        .limit(1)
    )
    if change_id is None:
        return None
    events = list(
        session.scalars(
            select(Event)
            .where(Event.change_id == change_id, Event.case_id == case_id)
            .order_by(Event.id)
        )
    )
    keys: list[str] = []
    for event in events:
        payload = payload_of(event)
        if isinstance(payload, ReminderShown) and payload.key not in keys:
            keys.append(payload.key)
    return events[0].at, keys


def snooze_case(
    session: Session,
    case: Case,
    until: datetime,
    *,
    masker: Masker,
    policies: Policies,
    now: datetime | None = None,
) -> CaseSnooze:
    """Bring back the reminders last shown for `case` at `until` (see the module doc).

    Conflict when no reminder was ever shown for it, or none of those shown is still due.
    """
    _require_active(case, "snooze its reminders")
    shown = last_shown(session, case.id)
    if shown is None:
        raise Conflict(f"no reminder has been shown for case {case.id}; nothing to snooze")
    log = begin_change(session, f"snooze case {case.id}", now=now)
    _check_later(until, log.now)
    result = CaseSnooze(case.id, until, shown[0])
    thresholds: dict[str, str] | None = None
    for key in _told(shown[1]):
        kind, _, rest = key.partition(":")
        if kind == "follow_up":
            follow_up = session.get(FollowUp, int(rest), with_for_update=True)
            if follow_up is None or follow_up.case_id != case.id:
                result.skipped.append(f"follow-up {rest} is gone")
            elif follow_up.status in ("done", "cancelled"):
                result.skipped.append(f"follow-up {rest} is {follow_up.status}")
            else:
                _move(log, case, follow_up, until)
                result.moved.append(follow_up)
            continue
        if kind == "promise":
            promise = session.get(Promise, int(rest.split(":")[0]))
            if promise is None or promise.case_id != case.id:
                result.skipped.append(f"promise {rest.split(':')[0]} is gone")
                continue
            if promise.status != "pending":
                result.skipped.append(f"promise {promise.id} is {promise.status}")
                continue
            how = (
                "is overdue"
                if promise.is_overdue(log.now)
                else f"is due {format_local(promise.due_at)}"
            )
            text = f"Again: {promise.text} (promise {promise.id}) {how}"
        elif kind == "threshold":
            if thresholds is None:
                thresholds = _crossed(session, case.id, log.now, policies)
            rule = rest.split(":")[1] if ":" in rest else rest
            if rule not in thresholds:
                result.skipped.append(f"the threshold {rule} no longer applies")
                continue
            text = f"Again: {thresholds[rule]}"
        else:
            result.skipped.append(f"the reminder {key} is not one this version knows")
            continue
        again = _again(session, case.id, key, shown[0])
        if again is not None:
            _move(log, case, again, until)
            result.moved.append(again)
            continue
        follow_up = set_follow_up(session, case, until, text, masker=masker, log=log)
        follow_up.again_of = key
        result.added.append(follow_up)
    if not result.follow_ups:
        raise Conflict(
            f"nothing to snooze on case {case.id}: of the reminders shown at "
            f"{format_local(shown[0])}, {'; '.join(result.skipped)}"
        )
    return result


def _told(keys: list[str]) -> list[str]:
    """The keys, a promise both due and overdue once, as overdue (as the notice told it)."""
    return [
        key
        for key in keys
        if not (key.endswith(":due") and key.removesuffix(":due") + ":overdue" in keys)
    ]


def _again(session: Session, case_id: int, key: str, shown_at: datetime) -> FollowUp | None:
    """The follow-up an earlier snooze of these reminders set for `key`, if still pending."""
    return session.scalars(
        select(FollowUp)
        .where(
            FollowUp.case_id == case_id,
            FollowUp.again_of == key,
            FollowUp.status == "pending",
            FollowUp.created_at >= shown_at,
        )
        .order_by(FollowUp.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def _crossed(session: Session, case_id: int, now: datetime, policies: Policies) -> dict[str, str]:
    """The case's escalation thresholds crossed by now: rule id -> why."""
    items = pending_items(session, now, policies=policies, case_id=case_id)
    return {item.rule: item.text for item in items if item.kind == "threshold" and item.rule}
