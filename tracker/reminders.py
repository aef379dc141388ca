"""Reminder occurrences: which exist, when each is ready, its text, and showing it once.

An *occurrence* is one thing to show once, named by a key: ``follow_up:12``,
``promise:3:due``, ``promise:3:overdue``, ``threshold:1:open-30d:20261201T090000Z`` (a
threshold's key carries the instant it was crossed, so a threshold that is crossed again
later, say after a new contact restarted its count, is a new occurrence).

Exactly once: before an occurrence is shown it is *claimed* in the ``reminders`` table
(insert the key, which is unique; or take over a claim that was released after a failure and
is due for a retry, or whose lease ran out without it being shown), in a short write
transaction. Only the claimant shows it; then it sets ``shown_at``. A second daemon, a daemon
restart or `remind check` beside the daemon finds the claim and shows nothing. A crash between
showing and recording leaves a claim whose lease expires, so the occurrence can repeat at most
once.

What exists is computed from the store by tracker.due (the same computation as `tracker due`);
the functions here take `now` and never read the clock themselves, except run_pass's default.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.advice import (
    MY_PROMISE_STEP,
    StepCache,
    follow_up_step,
    promise_step,
    threshold_step,
)
from tracker.db import Store
from tracker.due import DueItem, pending_items
from tracker.errors import TrackerError
from tracker.history import ReminderShown, begin_change
from tracker.models import Case, Change, FollowUp, Reminder, utcnow
from tracker.notify import Notifier, NotifyError
from tracker.policy import Policies
from tracker.redact import mask
from tracker.when import humanize_delta

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=10)
_KEY_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit

# How strongly an occurrence's next step speaks, to pick one for a coalesced notification.
_STEP_RANK = {"threshold": 4, "promise_overdue": 3, "promise_due": 2, "follow_up": 1}
_HEADLINES = {"follow_up": "follow-up due", "threshold": "time to escalate"}


def owner_id() -> str:
    """Who claims: host and process, as the reminders table's claimed_by."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- claims


def claim(
    session: Session,
    key: str,
    *,
    case_id: int | None,
    kind: str,
    due_at: datetime,
    owner: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> bool:
    """Claim the occurrence `key` for `owner`; True if this caller may show it now.

    A new key is inserted. An existing one is taken over only if it was never shown and
    either it was released and its retry time has come, or its claim's lease ran out (the
    claimant died before showing it). The caller shows it, then calls mark_shown (or release).
    """
    existing = session.scalar(select(Reminder.id).where(Reminder.key == key))
    if existing is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(Reminder).values(
                        key=key,
                        case_id=case_id,
                        kind=kind,
                        due_at=due_at,
                        claimed_at=now,
                        claimed_by=owner,
                        attempts=1,
                    )
                )
        except IntegrityError:  # another claimant inserted it first (PostgreSQL)
            return False
        return True
    # One conditional UPDATE, so that of two claimants racing for it only one matches.
    result = session.execute(
        update(Reminder)
        .where(
            Reminder.id == existing,
            Reminder.shown_at.is_(None),
            or_(
                Reminder.next_attempt_at <= now,
                and_(Reminder.next_attempt_at.is_(None), Reminder.claimed_at <= now - lease),
            ),
        )
        .values(
            claimed_at=now,
            claimed_by=owner,
            attempts=Reminder.attempts + 1,
            next_attempt_at=None,
            due_at=due_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def mark_shown(session: Session, key: str, *, now: datetime) -> None:
    """Record that the claimed occurrence was shown: nobody shows it again."""
    session.execute(
        update(Reminder)
        .where(Reminder.key == key)
        .values(shown_at=now, next_attempt_at=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, key: str, *, error: str, now: datetime, retry_at: datetime) -> None:
    """Give a claim back after a failure to show it; it may be claimed again at retry_at."""
    session.execute(
        update(Reminder)
        .where(Reminder.key == key, Reminder.shown_at.is_(None))
        .values(next_attempt_at=max(retry_at, now), last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


def backoff(attempts: int, first: timedelta = FIRST_RETRY) -> timedelta:
    """The wait before the next try after `attempts` failed ones: first, 2x, 4x ... capped."""
    doublings = min(max(attempts - 1, 0), 20)  # 2**20 * 30 s is past any cap already
    return min(first * (1 << doublings), max(MAX_RETRY, first))


@dataclass(frozen=True, slots=True)
class ClaimState:
    claimed_at: datetime
    shown_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    last_error: str | None

    def ready_at(self, due_at: datetime, lease: timedelta) -> datetime | None:
        """When the occurrence can be claimed again (None: it was shown)."""
        if self.shown_at is not None:
            return None
        if self.next_attempt_at is not None:
            return max(due_at, self.next_attempt_at)
        return max(due_at, self.claimed_at + lease)


def claim_states(session: Session, keys: Sequence[str]) -> dict[str, ClaimState]:
    states: dict[str, ClaimState] = {}
    for start in range(0, len(keys), _KEY_CHUNK):
        rows = session.execute(
            select(
                Reminder.key,
                Reminder.claimed_at,
                Reminder.shown_at,
                Reminder.next_attempt_at,
                Reminder.attempts,
                Reminder.last_error,
            ).where(Reminder.key.in_(keys[start : start + _KEY_CHUNK]))
        )
        for key, claimed_at, shown_at, next_attempt_at, attempts, last_error in rows:
            states[key] = ClaimState(claimed_at, shown_at, next_attempt_at, attempts, last_error)
    return states


# --------------------------------------------------------------------------- occurrences


@dataclass(frozen=True, slots=True)
class Occurrence:
    key: str
    kind: str  # follow_up, promise_due, promise_overdue, threshold
    due_at: datetime
    item: DueItem

    @property
    def case_id(self) -> int:
        return self.item.case_id


def occurrences(items: Iterable[DueItem]) -> list[Occurrence]:
    """The occurrences of what is due: a promise has two (due, and overdue after the grace)."""
    found: list[Occurrence] = []
    for item in items:
        if item.kind == "follow_up":
            found.append(Occurrence(f"follow_up:{item.item_id}", "follow_up", item.due_at, item))
        elif item.kind in ("promise", "my_promise"):
            found.append(
                Occurrence(f"promise:{item.item_id}:due", "promise_due", item.due_at, item)
            )
            overdue = item.overdue_at or item.due_at
            found.append(
                Occurrence(f"promise:{item.item_id}:overdue", "promise_overdue", overdue, item)
            )
        elif item.kind == "threshold":
            stamp = item.due_at.strftime("%Y%m%dT%H%M%SZ")
            key = f"threshold:{item.case_id}:{item.rule}:{stamp}"
            found.append(Occurrence(key, "threshold", item.due_at, item))
    found.sort(key=lambda o: (o.due_at, o.key))
    return found


@dataclass(frozen=True, slots=True)
class Upcoming:
    """An occurrence not yet shown, and when it is ready to be (due, or its retry time)."""

    at: datetime
    occurrence: Occurrence
    attempts: int = 0
    last_error: str | None = None


def upcoming(
    session: Session,
    policies: Policies,
    *,
    lease: timedelta = DEFAULT_LEASE,
    horizon: datetime | None = None,
) -> list[Upcoming]:
    """Every occurrence not yet shown (due by `horizon`, if given), soonest ready first."""
    found = occurrences(pending_items(session, horizon, policies=policies))
    if horizon is not None:
        found = [o for o in found if o.due_at <= horizon]
    states = claim_states(session, [o.key for o in found])
    result: list[Upcoming] = []
    for occurrence in found:
        state = states.get(occurrence.key)
        if state is None:
            result.append(Upcoming(occurrence.due_at, occurrence))
            continue
        ready = state.ready_at(occurrence.due_at, lease)
        if ready is not None:
            result.append(Upcoming(ready, occurrence, state.attempts, state.last_error))
    result.sort(key=lambda u: (u.at, u.occurrence.key))
    return result


def next_ready_at(
    session: Session, policies: Policies, *, lease: timedelta = DEFAULT_LEASE
) -> datetime | None:
    """When the daemon should next wake up to fire something (None: nothing pending)."""
    pending = upcoming(session, policies, lease=lease)
    return pending[0].at if pending else None


# --------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Notice:
    """One notification: the occurrences of one case shown together."""

    case_id: int
    title: str
    body: str
    occurrences: tuple[Occurrence, ...]
    lines: tuple[str, ...]  # what each occurrence says, for the case's history


def _when(due_at: datetime, now: datetime) -> str:
    delta = humanize_delta(due_at - now)
    return "now" if delta == "just now" else delta


def _late(item: DueItem, now: datetime) -> bool:
    """Overdue by the one rule `case show` uses, and by more than the "now" it rounds to."""
    return item.overdue(now) and _when(item.due_at, now) != "now"


def describe(occurrence: Occurrence, now: datetime) -> str:
    """What is due and how late: 'Provisional credit is overdue (due 2 days ago)'."""
    item = occurrence.item
    when = _when(item.due_at, now)
    if occurrence.kind == "follow_up":
        return f"follow-up due {when}: {item.text}"
    if occurrence.kind == "threshold":
        return item.text if when == "now" else f"{item.text} (crossed {when})"
    mine = " (your promise)" if item.kind == "my_promise" else ""
    if _late(item, now):
        return f"{item.text}{mine} is overdue (due {when})"
    return f"{item.text}{mine} is due {when}"


def _headline(occurrence: Occurrence, now: datetime) -> str:
    if occurrence.kind in ("promise_due", "promise_overdue"):
        return "promise overdue" if _late(occurrence.item, now) else "promise due"
    return _HEADLINES[occurrence.kind]


def next_step(
    session: Session, occurrence: Occurrence, case: Case | None, steps: StepCache | None = None
) -> str | None:
    """What to do about it, with the directory's contact point for that rung when known."""
    item = occurrence.item
    if item.kind == "my_promise":
        return MY_PROMISE_STEP
    if case is None:
        return item.suggestion
    if occurrence.kind == "threshold":
        if item.suggestion is not None or item.crossing is None:
            return item.suggestion
        return threshold_step(session, case, item.crossing, steps)
    if occurrence.kind in ("promise_due", "promise_overdue"):
        return promise_step(
            session, case, overdue=occurrence.kind == "promise_overdue", steps=steps
        )
    return follow_up_step(session, case, steps)


def _strength(occurrence: Occurrence) -> tuple[int, datetime]:
    mine = occurrence.item.kind == "my_promise"  # my own promise needs no call to them
    return (0 if mine else _STEP_RANK[occurrence.kind], occurrence.due_at)


def compose(
    session: Session, group: Sequence[Occurrence], now: datetime, steps: StepCache | None = None
) -> Notice:
    """One notification for the occurrences of one case (several are coalesced)."""
    first = group[0].item
    case = session.get(Case, first.case_id)
    lines = tuple(mask(describe(o, now)) for o in group)
    # A promise both due and overdue (the daemon was down) is told once, as overdue.
    overdue = {o.item.item_id for o in group if o.kind == "promise_overdue"}
    told = [
        (o, line)
        for o, line in zip(group, lines, strict=True)
        if not (o.kind == "promise_due" and o.item.item_id in overdue)
    ]
    headline = _headline(told[0][0], now) if len(told) == 1 else f"{len(told)} reminders"
    strongest = max(group, key=_strength)
    step = next_step(session, strongest, case, steps)
    org = first.organization or f"Case {first.case_id}"
    what = "; ".join(line for _, line in told)
    body = f"{what[:1].upper()}{what[1:]} (case {first.case_id}: {first.case_title})."
    if step:
        body += f" Next step: {step.removesuffix('.')}."
    return Notice(
        case_id=first.case_id,
        title=mask(f"{org}: {headline}"),
        body=mask(" ".join(body.split())),
        occurrences=tuple(group),
        lines=lines,
    )


# --------------------------------------------------------------------------- one pass


@dataclass
class PassReport:
    shown: list[Notice] = field(default_factory=list)
    failed: list[tuple[Notice, str, datetime]] = field(default_factory=list)  # + retry time


def _ready(
    session: Session, policies: Policies, now: datetime, lease: timedelta
) -> list[Occurrence]:
    # Only what is due by now can be ready: occurrences further ahead are not computed.
    found = upcoming(session, policies, lease=lease, horizon=now)
    return [u.occurrence for u in found if u.at <= now]


def change_counter(session: Session) -> int:
    """The store's change counter: every command adds a row to `changes`."""
    return session.scalar(select(func.max(Change.id))) or 0


def claim_all(
    session: Session,
    found: Sequence[Occurrence],
    *,
    owner: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> list[Occurrence]:
    """Claim each occurrence (see claim); returns those this caller may show, in order.

    Keys never claimed before, nearly all of them, are inserted in one statement: one by
    one, a daemon starting on a store with thousands of overdue reminders spent 20 s here.
    """
    states = claim_states(session, [o.key for o in found])
    fresh = {o.key: o for o in found if o.key not in states}
    taken: set[str] = set()
    if fresh:
        rows = [
            {
                "key": o.key,
                "case_id": o.case_id,
                "kind": o.kind,
                "due_at": o.due_at,
                "claimed_at": now,
                "claimed_by": owner,
                "attempts": 1,
            }
            for o in fresh.values()
        ]
        try:
            with session.begin_nested():
                session.execute(insert(Reminder), rows)
            taken.update(fresh)
        except IntegrityError:  # another claimant got one of them first (PostgreSQL)
            fresh = {}
    for occurrence in found:
        if occurrence.key in fresh:
            continue
        if claim(
            session,
            occurrence.key,
            case_id=occurrence.case_id,
            kind=occurrence.kind,
            due_at=occurrence.due_at,
            owner=owner,
            now=now,
            lease=lease,
        ):
            taken.add(occurrence.key)
    return [o for o in found if o.key in taken]


def run_pass(
    store: Store,
    notifier: Notifier,
    *,
    policies: Policies,
    owner: str | None = None,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    first_retry: timedelta = FIRST_RETRY,
) -> PassReport:
    """Fire what is due at `now`: claim, show (one notification per case), record.

    The daemon's fire job and `remind check` both run this.
    """
    now = now or utcnow()
    owner = owner or owner_id()
    report = PassReport()
    with store.read() as session:
        counter = change_counter(session)
        ready = _ready(session, policies, now, lease)
        if not ready:
            return report
    with store.write() as session:
        # What a command changed meanwhile counts: computed again if the counter moved. (If
        # it did not, the answer is the same; claims made meanwhile are claim's business.)
        if change_counter(session) != counter:
            ready = _ready(session, policies, now, lease)
        claimed = claim_all(session, ready, owner=owner, now=now, lease=lease)
        groups: dict[int, list[Occurrence]] = {}
        for occurrence in claimed:
            groups.setdefault(occurrence.case_id, []).append(occurrence)
        steps: StepCache = {}
        notices = [compose(session, group, now, steps) for group in groups.values()]
        tries = {
            key: state.attempts
            for key, state in claim_states(session, [o.key for o in claimed]).items()
        }
    for notice in notices:
        try:
            notifier.notify(notice.title, notice.body)
        except NotifyError as exc:
            error = mask(str(exc))  # a command's stderr may echo what it was given
            attempts = max(tries.get(o.key, 1) for o in notice.occurrences)
            retry_at = now + backoff(attempts, first_retry)
            give_back = partial(release_all, notice=notice, error=error, now=now, retry_at=retry_at)
            _write(store, give_back, f"release the reminder for case {notice.case_id}")
            report.failed.append((notice, error, retry_at))
        else:
            # Not recorded (the store is busy): once the lease runs out it may show once more.
            record = partial(record_shown, notice=notice, now=now)
            _write(store, record, f"record the reminder shown for case {notice.case_id}")
            report.shown.append(notice)
    return report


def _write(store: Store, work: Callable[[Session], None], what: str) -> None:
    """One short write transaction; a busy store is logged, not raised: the pass goes on."""
    try:
        with store.write() as session:
            work(session)
    except TrackerError as exc:
        log.error("could not %s: %s", what, exc)


def release_all(
    session: Session, notice: Notice, *, error: str, now: datetime, retry_at: datetime
) -> None:
    for occurrence in notice.occurrences:
        release(session, occurrence.key, error=error, now=now, retry_at=retry_at)


def record_shown(session: Session, notice: Notice, now: datetime) -> None:
    """Mark the notice's occurrences shown and write them into the case's history."""
    for occurrence in notice.occurrences:
        mark_shown(session, occurrence.key, now=now)
    case = session.get(Case, notice.case_id)
    if case is None:  # undone meanwhile
        return
    change = begin_change(session, f"reminder case {case.id}", now=now, undoable=False)
    for occurrence, line in zip(notice.occurrences, notice.lines, strict=True):
        change.record(
            case,
            ReminderShown(key=occurrence.key, due_at=occurrence.due_at),
            f"Reminder shown: {line}",
            snapshot={},
        )
        if occurrence.kind == "follow_up" and occurrence.item.item_id is not None:
            follow_up = session.get(FollowUp, occurrence.item.item_id)
            if follow_up is not None and follow_up.status == "pending":
                follow_up.status = "fired"
