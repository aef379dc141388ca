"""Reminder occurrences: which exist, when each is ready, its text, and showing it once.

An *occurrence* is one thing to show once, named by a key: ``follow_up:12``,
``promise:3:due``, ``promise:3:overdue``, ``threshold:1:open-30d:20261201T090000Z`` (a
threshold's key carries the instant it was crossed, so a threshold that is crossed again
later, say after a new contact restarted its count, is a new occurrence).

Shown means someone could see it: a notifier reports success (the desktop notifier when the
notification server answered with its id, a command on exit 0, the console when the write
succeeded) or raises NotifyError. Before anything is claimed the pass asks the notifier
whether it can show anything at all (``check``): with no session bus, say, nothing is
claimed and the pass reports how many reminders it kept for later.

Exactly once: an occurrence is *claimed* in the ``reminders`` table before it is shown
(insert the key, which is unique; or take over a claim that was released after a failure and
whose retry time has come, or whose claimant let its lease run out without recording it
shown: it died), in short write transactions of at most CLAIM_CHUNK cases. Only the claimant shows
it; then, in one short write transaction right after the notifier returns, it records
``shown_at`` and the notification server's id (``notification_id``) and writes the case's
history. A failure releases the claim with a retry time (backoff). A second daemon, a daemon
restart or `remind check` beside the daemon finds the claim and shows nothing.

What is left: a crash (kill -9, power loss) after the notifier returned and before that
record was written. The claim then stays unshown; whoever takes it over cannot know whether
the notification reached the screen, so it shows it again with "(repeat)" in its title. A
claim released after a failure was certainly not shown, and is shown again without it.

Time: every instant is the wall clock's. A claim or a retry time more than CLOCK_SLACK ahead
of the reader's clock means that the clock went back (or another machine's runs ahead): it
counts as ready now, so that a backward jump never parks a reminder for the size of the jump.

What exists is computed from the store by tracker.due (the same computation as `tracker due`);
the functions here take `now` and never read the clock themselves, except run_pass's default.
The daemon's pass computes only the cases that woke it, one case at a time (flat memory on a
store of any size); `remind check` computes everything due at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import func, insert, select, update
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
from tracker.models import Case, Change, Event, FollowUp, Reminder, utcnow
from tracker.notify import Notifier, NotifyError, mask_secrets
from tracker.policy import Policies
from tracker.redact import mask
from tracker.vocabulary import ACTIVE_STATUSES
from tracker.when import humanize_delta

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=10)
CLOCK_SLACK = MAX_RETRY + DEFAULT_LEASE  # further ahead than this: the clock went back
DIGEST_AT = 5  # more notifications than this in one pass: one digest instead
CLAIM_CHUNK = 50  # cases per claiming write transaction
RECORD_CHUNK = 50  # occurrences per write transaction recording a digest shown
_KEY_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit

# How strongly an occurrence's next step speaks, to pick one for a coalesced notification.
_STEP_RANK = {"threshold": 4, "promise_overdue": 3, "promise_due": 2, "follow_up": 1}
_HEADLINES = {"follow_up": "follow-up due", "threshold": "time to escalate"}
REPEAT = " (repeat)"


def owner_id() -> str:
    """Who claims: host and process, as the reminders table's claimed_by."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- write timing


@dataclass
class WriteStats:
    """How long this process's reminder write transactions held the store (seconds)."""

    count: int = 0
    longest: float = 0.0
    total: float = 0.0
    last_hold: float = 0.0
    last_end: float = float("-inf")
    holds: list[float] = field(default_factory=list)  # the first 100,000

    def add(self, seconds: float, end: float) -> None:
        self.count += 1
        self.total += seconds
        self.longest = max(self.longest, seconds)
        self.last_hold, self.last_end = seconds, end
        if len(self.holds) < 100_000:
            self.holds.append(seconds)

    def percentile(self, share: float) -> float:
        if not self.holds:
            return 0.0
        ordered = sorted(self.holds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


WRITES = WriteStats()
# Between two write transactions the store is left free at least as long as the last one
# held it (within these bounds): SQLite's busy handler is not fair, and a CLI command waiting
# for the lock polls it every 1-100 ms, so transactions back to back (a catch-up) could
# starve it past its busy timeout.
MIN_GAP, MAX_GAP = 0.001, 0.1


@contextlib.contextmanager
def timed_write(store: Store) -> Iterator[Session]:
    """store.write(), timed from the moment it holds the write lock (after BEGIN IMMEDIATE
    returned, on SQLite) to the end of its commit; after a gap since the last one."""
    gap = min(MAX_GAP, max(MIN_GAP, WRITES.last_hold)) - (time.perf_counter() - WRITES.last_end)
    if gap > 0:
        time.sleep(gap)
    started: float | None = None
    try:
        with store.write() as session:
            session.connection()
            started = time.perf_counter()
            yield session
    finally:
        if started is not None:
            end = time.perf_counter()
            WRITES.add(end - started, end)


# --------------------------------------------------------------------------- claims


@dataclass(frozen=True, slots=True)
class ClaimState:
    claimed_at: datetime
    shown_at: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    last_error: str | None
    claimed_by: str = ""
    id: int = 0

    def ready_at(
        self, due_at: datetime, lease: timedelta, now: datetime | None = None
    ) -> datetime | None:
        """When the occurrence can be claimed again (None: it was shown). With `now`, a time
        stamped by a clock that has gone back since counts as ready now."""
        if self.shown_at is not None:
            return None
        at = self.next_attempt_at if self.next_attempt_at is not None else self.claimed_at + lease
        if now is not None and at > now + CLOCK_SLACK:
            at = now
        return max(due_at, at)

    @property
    def maybe_shown(self) -> bool:
        """Taken over without a release: its claimant may have shown it before it died."""
        return self.shown_at is None and self.next_attempt_at is None


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
                Reminder.claimed_by,
                Reminder.id,
            ).where(Reminder.key.in_(keys[start : start + _KEY_CHUNK]))
        )
        for key, claimed_at, shown_at, next_attempt_at, attempts, error, by, row_id in rows:
            states[key] = ClaimState(
                claimed_at, shown_at, next_attempt_at, attempts, error, by, row_id
            )
    return states


def _take_over(
    session: Session, state: ClaimState, *, due_at: datetime, owner: str, now: datetime
) -> bool:
    """Compare and swap on the claim's attempts: of two claimants racing, one matches."""
    result = session.execute(
        update(Reminder)
        .where(
            Reminder.id == state.id,
            Reminder.attempts == state.attempts,
            Reminder.shown_at.is_(None),
        )
        .values(
            claimed_at=now,
            claimed_by=owner,
            attempts=state.attempts + 1,
            next_attempt_at=None,
            due_at=due_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


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
    claimant died). The caller shows it, then calls mark_shown (or release).
    """
    state = claim_states(session, [key]).get(key)
    if state is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(Reminder).values(_new_claim(key, case_id, kind, due_at, owner, now))
                )
        except IntegrityError:  # another claimant inserted it first (PostgreSQL)
            return False
        return True
    ready = state.ready_at(due_at, lease, now)
    if ready is None or ready > now:
        return False
    return _take_over(session, state, due_at=due_at, owner=owner, now=now)


def _new_claim(
    key: str, case_id: int | None, kind: str, due_at: datetime, owner: str, now: datetime
) -> dict[str, object]:
    return {
        "key": key,
        "case_id": case_id,
        "kind": kind,
        "due_at": due_at,
        "claimed_at": now,
        "claimed_by": owner,
        "attempts": 1,
    }


def mark_shown(
    session: Session, key: str, *, now: datetime, notification_id: str | None = None
) -> bool:
    """Record that the claimed occurrence was shown: nobody shows it again. False if it was
    recorded shown already (by another claimant that took it over meanwhile)."""
    result = session.execute(
        update(Reminder)
        .where(Reminder.key == key, Reminder.shown_at.is_(None))
        .values(
            shown_at=now,
            next_attempt_at=None,
            last_error=None,
            notification_id=notification_id[:100] if notification_id else None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release(
    session: Session,
    key: str,
    *,
    error: str,
    now: datetime,
    retry_at: datetime,
    owner: str | None = None,
) -> None:
    """Give a claim back after a failure to show it; it may be claimed again at retry_at.
    With `owner`, only a claim that owner still holds."""
    conditions = [Reminder.key == key, Reminder.shown_at.is_(None)]
    if owner is not None:
        conditions.append(Reminder.claimed_by == owner)
    session.execute(
        update(Reminder)
        .where(*conditions)
        .values(next_attempt_at=max(retry_at, now), last_error=mask_secrets(error)[:1000])
        .execution_options(synchronize_session=False)
    )


def backoff(attempts: int, first: timedelta = FIRST_RETRY) -> timedelta:
    """The wait before the next try after `attempts` failed ones: first, 2x, 4x ... capped."""
    doublings = min(max(attempts - 1, 0), 20)  # 2**20 * 30 s is past any cap already
    return min(first * (1 << doublings), max(MAX_RETRY, first))


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
    now: datetime | None = None,
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
        ready = state.ready_at(occurrence.due_at, lease, now)
        if ready is not None:
            result.append(Upcoming(ready, occurrence, state.attempts, state.last_error))
    result.sort(key=lambda u: (u.at, u.occurrence.key))
    return result


def next_ready_at(
    session: Session, policies: Policies, *, lease: timedelta = DEFAULT_LEASE
) -> datetime | None:
    """When the next occurrence is ready (None: nothing pending)."""
    pending = upcoming(session, policies, lease=lease)
    return pending[0].at if pending else None


@dataclass(slots=True)
class CaseDue:
    """One case's occurrences ready at `now` (with their claims), and when the next one of
    the rest is ready (None: nothing more, or not computed)."""

    case_id: int
    ready: list[Occurrence]
    states: dict[str, ClaimState]
    next_at: datetime | None


def case_due(
    session: Session, policies: Policies, case_id: int, *, now: datetime, lease: timedelta
) -> CaseDue:
    """What of one case is ready now, and when its next occurrence is (all of its items)."""
    found = occurrences(pending_items(session, None, policies=policies, case_id=case_id))
    return _split(case_id, found, claim_states(session, [o.key for o in found]), now, lease)


def _split(
    case_id: int,
    found: Sequence[Occurrence],
    states: dict[str, ClaimState],
    now: datetime,
    lease: timedelta,
) -> CaseDue:
    ready: list[Occurrence] = []
    next_at: datetime | None = None
    for occurrence in found:
        state = states.get(occurrence.key)
        at = occurrence.due_at if state is None else state.ready_at(occurrence.due_at, lease, now)
        if at is None:
            continue
        if at <= now:
            ready.append(occurrence)
        elif next_at is None or at < next_at:
            next_at = at
    kept = {o.key: states[o.key] for o in ready if o.key in states}
    return CaseDue(case_id, ready, kept, next_at)


def all_due(
    session: Session, policies: Policies, *, now: datetime, lease: timedelta
) -> list[CaseDue]:
    """Every case with something ready now, computed at once (`remind check`: one process,
    one pass; the daemon computes case by case). next_at is not computed (None)."""
    found = occurrences(pending_items(session, now, policies=policies))
    states = claim_states(session, [o.key for o in found])
    by_case: dict[int, list[Occurrence]] = {}
    for occurrence in found:
        by_case.setdefault(occurrence.case_id, []).append(occurrence)
    result = []
    for case_id, group in by_case.items():
        due = _split(case_id, group, states, now, lease)
        due.next_at = None
        if due.ready:
            result.append(due)
    return result


def active_case_ids(session: Session) -> list[int]:
    """Every active case's id, in order (the daemon's first scan goes through them)."""
    return list(
        session.scalars(select(Case.id).where(Case.status.in_(ACTIVE_STATUSES)).order_by(Case.id))
    )


# --------------------------------------------------------------------------- text


@dataclass(frozen=True)
class Notice:
    """One notification: the occurrences of one case shown together, or a digest."""

    case_id: int | None  # None: a digest of several cases
    title: str
    body: str
    occurrences: tuple[Occurrence, ...]
    lines: tuple[str, ...]  # what each occurrence says, for the case's history
    repeat: bool = False


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


def _told(group: Sequence[Occurrence]) -> list[Occurrence]:
    """A promise both due and overdue (the daemon was down) is told once, as overdue."""
    overdue = {o.item.item_id for o in group if o.kind == "promise_overdue"}
    return [o for o in group if not (o.kind == "promise_due" and o.item.item_id in overdue)]


def compose(
    session: Session,
    group: Sequence[Occurrence],
    now: datetime,
    steps: StepCache | None = None,
    *,
    repeat: bool = False,
) -> Notice:
    """One notification for the occurrences of one case (several are coalesced)."""
    first = group[0].item
    case = session.get(Case, first.case_id)
    lines = tuple(mask(describe(o, now)) for o in group)
    told_keys = {o.key for o in _told(group)}
    told = [(o, line) for o, line in zip(group, lines, strict=True) if o.key in told_keys]
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
        title=mask(f"{org}: {headline}") + (REPEAT if repeat else ""),
        body=mask(" ".join(body.split())),
        occurrences=tuple(group),
        lines=lines,
        repeat=repeat,
    )


# What a digest counts, by what each told occurrence is: (one, many).
_DIGEST_WORDS = {
    "follow-up due": ("follow-up due", "follow-ups due"),
    "promise due": ("promise due", "promises due"),
    "promise overdue": ("promise overdue", "promises overdue"),
    "time to escalate": ("escalation threshold crossed", "escalation thresholds crossed"),
    "your promise due": ("promise of yours due", "promises of yours due"),
    "your promise overdue": ("promise of yours overdue", "promises of yours overdue"),
}
_DIGEST_PARTS = 3  # kinds-at-organizations named in a digest before "and N more"


@dataclass
class Digest:
    """The counts a digest summarises, gathered case by case (nothing else is kept)."""

    reminders: int = 0
    cases: int = 0
    repeats: int = 0
    parts: Counter[tuple[str, str | None]] = field(default_factory=Counter)

    def add(self, group: Sequence[Occurrence], now: datetime, *, repeats: int = 0) -> None:
        told = _told(group)
        self.cases += 1
        self.reminders += len(told)
        self.repeats += repeats
        for occurrence in told:
            what = _headline(occurrence, now)
            if occurrence.item.kind == "my_promise":
                what = f"your {what}"
            self.parts[(what, occurrence.item.organization)] += 1

    def notice(self) -> Notice:
        """'12 reminders on 7 cases' — '3 promises overdue at American Express; ...'."""
        ranked = sorted(self.parts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
        phrases = []
        for (what, org), count in ranked[:_DIGEST_PARTS]:
            one, many = _DIGEST_WORDS[what]
            phrase = f"{count} {one if count == 1 else many}"
            phrases.append(f"{phrase} at {org}" if org else phrase)
        rest = sum(count for _, count in ranked[_DIGEST_PARTS:])
        if rest:
            phrases.append(f"and {rest} more")
        body = "; ".join(phrases) + ". Run `tracker due` for the list."
        if self.repeats:
            body += (
                f" {self.repeats} of them may have been shown already, just before the "
                "daemon stopped."
            )
        cases = "case" if self.cases == 1 else "cases"
        title = f"{self.reminders} reminders on {self.cases} {cases}"
        return Notice(
            case_id=None,
            title=mask(title) + (REPEAT if self.repeats else ""),
            body=mask(body[:1].upper() + body[1:]),
            occurrences=(),
            lines=(),
            repeat=bool(self.repeats),
        )


# --------------------------------------------------------------------------- one pass


@dataclass
class PassReport:
    shown: list[Notice] = field(default_factory=list)
    failed: list[tuple[Notice, str, datetime]] = field(default_factory=list)  # + retry time
    kept: int = 0  # reminders due and not shown: kept for later
    unavailable: str | None = None  # why the notifier could show nothing
    digest: Notice | None = None  # when one digest stood for every case due
    digest_occurrences: int = 0  # recorded shown through the digest

    @property
    def error(self) -> str | None:
        """Why reminders were kept (the first reason), or None if every due one was shown."""
        if not self.kept:
            return None
        if self.unavailable:
            return self.unavailable
        return self.failed[0][1] if self.failed else "the store was busy"


def change_counter(session: Session) -> int:
    """The store's change counter: every command adds a row to `changes`."""
    return session.scalar(select(func.max(Change.id))) or 0


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _claim_ready(
    session: Session, dues: Sequence[CaseDue], *, owner: str, now: datetime, lease: timedelta
) -> dict[str, bool]:
    """Claim every ready occurrence of `dues`: granted key -> whether it may be a repeat.

    Keys never claimed before, nearly all of them, are inserted in one statement."""
    fresh = [o for d in dues for o in d.ready if o.key not in d.states]
    granted: dict[str, bool] = {}
    if fresh:
        try:
            with session.begin_nested():
                session.execute(
                    insert(Reminder),
                    [_new_claim(o.key, o.case_id, o.kind, o.due_at, owner, now) for o in fresh],
                )
            granted.update((o.key, False) for o in fresh)
        except IntegrityError:  # another claimant got one of them first: one by one
            for o in fresh:
                if claim(session, o.key, case_id=o.case_id, kind=o.kind, due_at=o.due_at,
                         owner=owner, now=now, lease=lease):  # fmt: skip
                    granted[o.key] = False
    for due in dues:
        for occurrence in due.ready:
            state = due.states.get(occurrence.key)
            if state is not None and _take_over(
                session, state, due_at=occurrence.due_at, owner=owner, now=now
            ):
                granted[occurrence.key] = state.maybe_shown
    return granted


Schedule = Callable[[int, datetime | None], None]
"""Told, for each case a pass computed, when its next occurrence is ready (None: nothing)."""


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


class _Moved(Exception):
    """The store changed between computing a chunk and claiming it: compute it again."""


@dataclass
class _Held:
    """A case's claimed occurrences, waiting to be shown."""

    due: CaseDue
    claimed: list[Occurrence]
    repeats: int
    next_at: datetime | None  # when to look at the case again once these are shown


def run_pass(
    store: Store,
    notifier: Notifier,
    *,
    policies: Policies,
    owner: str | None = None,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    first_retry: timedelta = FIRST_RETRY,
    digest: int = DIGEST_AT,
    cases: Sequence[int] | None = None,
    schedule: Schedule | None = None,
    unavailable_retry: timedelta | None = None,
    interrupted: Callable[[], bool] | None = None,
) -> PassReport:
    """Show what is ready at `now`: claim, show (one notification per case, or one digest
    when more than `digest` cases are due; 0: never a digest), record, in short transactions.

    `cases`: only these cases, each computed whole, CLAIM_CHUNK at a time (the daemon, told
    through `schedule` when each case's next occurrence is ready); None: everything due,
    computed at once (`remind check`). When the notifier can show nothing (its check fails)
    nothing is claimed: the report says why and how many were kept, and `schedule` is told
    to look again after `unavailable_retry` (default: first_retry). `interrupted` is asked
    before each chunk: when it says so, the cases not yet computed are left for later (what
    is claimed already is still shown and recorded).
    """
    now = now or utcnow()
    owner = owner or owner_id()
    report = PassReport()
    check = getattr(notifier, "check", None)  # a notifier without one is always available
    try:
        if check is not None:
            check()
    except NotifyError as exc:
        report.unavailable = mask(str(exc))

    def tell(case_id: int, at: datetime | None) -> None:
        if schedule is not None:
            schedule(case_id, at)

    def compute(chunk: Sequence[int] | None) -> tuple[int, list[CaseDue]]:
        with store.read() as session:
            counter = change_counter(session)
            if chunk is None:
                return counter, all_due(session, policies, now=now, lease=lease)
            return counter, [case_due(session, policies, c, now=now, lease=lease) for c in chunk]

    def claim_cases(dues: list[CaseDue], counter: int) -> dict[str, bool]:
        # Claimed only as computed: if a command changed the store since (an undo, say),
        # the cases are computed again first.
        ids = [d.case_id for d in dues]
        for _ in range(3):
            try:
                with timed_write(store) as session:
                    if change_counter(session) != counter:
                        raise _Moved
                    return _claim_ready(session, dues, owner=owner, now=now, lease=lease)
            except _Moved:
                counter, fresh = compute(ids)
                refresh(dues, fresh)
        with timed_write(store) as session:  # still moving: claim what this transaction sees
            fresh = [case_due(session, policies, c, now=now, lease=lease) for c in ids]
            refresh(dues, fresh)
            return _claim_ready(session, dues, owner=owner, now=now, lease=lease)

    def refresh(dues: list[CaseDue], fresh: list[CaseDue]) -> None:
        dues[:] = [d for d in fresh if d.ready]
        for due in fresh:
            if not due.ready:
                tell(due.case_id, due.next_at)

    def held(due: CaseDue, granted: dict[str, bool]) -> _Held | None:
        claimed = [o for o in due.ready if o.key in granted]
        later = due.next_at
        if len(claimed) < len(due.ready):  # another claimant holds the rest: look later
            later = _min(later, now + lease)
        if not claimed:
            tell(due.case_id, later)
            return None
        return _Held(due, claimed, sum(granted[o.key] for o in claimed), later)

    # Up to `digest` cases are held unclaimed, and each is claimed right before it is shown
    # (a crash leaves at most the one in flight claimed); past that, every case is claimed
    # a chunk at a time and the digest shows them all.
    waiting: list[tuple[CaseDue, int]] = []  # ready, not claimed yet; the counter then
    summary = Digest()
    digesting = False
    if cases is None:
        counter, everything = compute(None)
        batches: Iterator[tuple[int, list[CaseDue]]] = (
            (counter, everything[i : i + CLAIM_CHUNK])
            for i in range(0, len(everything), CLAIM_CHUNK)
        )
    else:
        batches = (compute(chunk) for chunk in _chunks(cases, CLAIM_CHUNK))
    for counter, found in batches:
        if interrupted is not None and interrupted():
            break
        dues = [d for d in found if d.ready]
        for due in found:
            if not due.ready:
                tell(due.case_id, due.next_at)
        if not dues:
            continue
        if report.unavailable is not None:
            for due in dues:
                report.kept += len(_told(due.ready))
                tell(due.case_id, _min(due.next_at, now + (unavailable_retry or first_retry)))
            continue
        if not digesting:
            if not digest or len(waiting) + len(dues) <= digest:
                waiting += [(d, counter) for d in dues]
                continue
            digesting = True
            dues = [d for d, _ in waiting] + dues
            counter = min([c for _, c in waiting] + [counter])
            waiting = []
        granted = claim_cases(dues, counter)
        for due in dues:
            case = held(due, granted)
            if case is not None:
                summary.add(case.claimed, now, repeats=case.repeats)
                tell(due.case_id, case.next_at)
    if digesting:
        _show_digest(
            store, notifier, summary, report, owner=owner, now=now, first_retry=first_retry
        )
        return report
    for due, counter in waiting:
        if report.unavailable is not None:  # it stopped working on the way: the rest are kept
            report.kept += len(_told(due.ready))
            tell(due.case_id, _min(due.next_at, now + (unavailable_retry or first_retry)))
            continue
        one = [due]
        granted = claim_cases(one, counter)
        case = held(one[0], granted) if one else None
        if case is not None:
            _show_each(store, notifier, [case], report, owner=owner, now=now,
                       first_retry=first_retry, tell=tell)  # fmt: skip
    return report


def _show_each(
    store: Store,
    notifier: Notifier,
    held: Sequence[_Held],
    report: PassReport,
    *,
    owner: str,
    now: datetime,
    first_retry: timedelta,
    tell: Schedule,
) -> None:
    """One notification per case: compose, show, and record it at once (or release it)."""
    steps = StepCache()
    unavailable: str | None = None
    for case in held:
        due, claimed = case.due, case.claimed
        with store.read() as session:
            notice = compose(session, claimed, now, steps, repeat=bool(case.repeats))
        error = unavailable
        if error is None:
            try:
                receipt = notifier.notify(notice.title, notice.body)
            except NotifyError as exc:
                error = mask(str(exc))  # a command's stderr may echo what it was given
                if exc.unavailable:  # the next ones would fail the same way: not tried
                    unavailable = report.unavailable = error
            else:
                report.shown.append(notice)
                record = partial(record_shown, notice=notice, now=now, notification_id=receipt)
                if _write(store, record, f"record the reminder shown for case {notice.case_id}"):
                    tell(due.case_id, case.next_at)
                else:  # not recorded (the store is busy): it may show again after its lease
                    tell(due.case_id, _min(case.next_at, now + DEFAULT_LEASE))
                continue
        attempts = max(
            due.states[o.key].attempts + 1 if o.key in due.states else 1 for o in claimed
        )
        retry_at = now + backoff(attempts, first_retry)
        give_back = partial(
            release_all, notice=notice, error=error, now=now, retry_at=retry_at, owner=owner
        )
        _write(store, give_back, f"release the reminder for case {notice.case_id}")
        report.failed.append((notice, error, retry_at))
        report.kept += len(_told(claimed))
        tell(due.case_id, _min(case.next_at, retry_at))


def _this_pass(owner: str, now: datetime) -> list[object]:
    """The claims this pass holds and has not recorded: made by `owner` at `now`."""
    return [
        Reminder.shown_at.is_(None),
        Reminder.next_attempt_at.is_(None),
        Reminder.claimed_by == owner,
        Reminder.claimed_at == now,
    ]


def _show_digest(
    store: Store,
    notifier: Notifier,
    summary: Digest,
    report: PassReport,
    *,
    owner: str,
    now: datetime,
    first_retry: timedelta,
) -> None:
    """One notification for every case due; each reminder recorded shown, in short
    transactions of RECORD_CHUNK occurrences (or released, if it could not be shown)."""
    notice = summary.notice()
    report.digest = notice
    try:
        receipt = notifier.notify(notice.title, notice.body)
    except NotifyError as exc:
        error = mask(str(exc))
        if exc.unavailable:
            report.unavailable = error
        retry_at = now + first_retry
        give_back = partial(_release_chunk, owner=owner, now=now, error=error, retry_at=retry_at)
        _in_chunks(store, give_back, "release the digest's reminders")
        report.failed.append((notice, error, retry_at))
        report.kept += summary.reminders
        return
    report.shown.append(notice)
    record = partial(_record_chunk, owner=owner, now=now, notice=notice, receipt=receipt)
    report.digest_occurrences = _in_chunks(store, record, "record the digest's reminders shown")


def _in_chunks(store: Store, work: Callable[[Session], int], what: str) -> int:
    """Run `work` (which handles up to RECORD_CHUNK claims) in one short write transaction
    after another until it handles fewer; how many it handled in all. A busy store stops it:
    the rest are shown again once their lease runs out."""
    done = 0
    handled = [RECORD_CHUNK]

    def step(session: Session) -> None:
        handled[0] = work(session)

    while handled[0] == RECORD_CHUNK and _write(store, step, what):
        done += handled[0]
    return done


def _claimed_rows(
    session: Session, owner: str, now: datetime
) -> list[tuple[int, str, int | None, datetime]]:
    rows = session.execute(
        select(Reminder.id, Reminder.key, Reminder.case_id, Reminder.due_at)
        .where(*_this_pass(owner, now))  # type: ignore[arg-type]
        .order_by(Reminder.id)
        .limit(RECORD_CHUNK)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _release_chunk(
    session: Session, *, owner: str, now: datetime, error: str, retry_at: datetime
) -> int:
    rows = _claimed_rows(session, owner, now)
    if rows:
        session.execute(
            update(Reminder)
            .where(Reminder.id.in_([r[0] for r in rows]))
            .values(next_attempt_at=retry_at, last_error=mask_secrets(error)[:1000])
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def _record_chunk(
    session: Session, *, owner: str, now: datetime, notice: Notice, receipt: str | None
) -> int:
    """Mark up to RECORD_CHUNK of this pass's claims shown through the digest, with one
    history event each on its case (one change for the chunk), follow-ups fired."""
    rows = _claimed_rows(session, owner, now)
    if not rows:
        return 0
    session.execute(
        update(Reminder)
        .where(Reminder.id.in_([r[0] for r in rows]))
        .values(shown_at=now, notification_id=receipt[:100] if receipt else None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    case_ids = {r[2] for r in rows if r[2] is not None}
    alive = (
        set(session.scalars(select(Case.id).where(Case.id.in_(case_ids)))) if case_ids else set()
    )
    if alive:
        change = begin_change(session, "reminder digest", now=now, undoable=False)
        line = f"Reminder shown in a digest: {notice.title}"
        session.execute(
            insert(Event),
            [
                {
                    "change_id": change.change.id,
                    "case_id": case_id,
                    "at": now,
                    "type": "reminder_fired",
                    "summary": line,
                    "data": ReminderShown(key=key, due_at=due_at).to_json(),
                }
                for _, key, case_id, due_at in rows
                if case_id in alive
            ],
        )
    follow_ups = [int(key.split(":")[1]) for _, key, _, _ in rows if key.startswith("follow_up:")]
    if follow_ups:
        session.execute(
            update(FollowUp)
            .where(FollowUp.id.in_(follow_ups), FollowUp.status == "pending")
            .values(status="fired")
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def _write(store: Store, work: Callable[[Session], object], what: str) -> bool:
    """One short write transaction; a busy store is logged, not raised: the pass goes on.
    False if it failed."""
    try:
        with timed_write(store) as session:
            work(session)
    except TrackerError as exc:
        log.error("could not %s: %s", what, exc)
        return False
    return True


def release_all(
    session: Session,
    notice: Notice,
    *,
    error: str,
    now: datetime,
    retry_at: datetime,
    owner: str | None = None,
) -> None:
    for occurrence in notice.occurrences:
        release(session, occurrence.key, error=error, now=now, retry_at=retry_at, owner=owner)


def record_shown(
    session: Session, notice: Notice, now: datetime, notification_id: str | None = None
) -> None:
    """Mark the notice's occurrences shown and write them into the case's history."""
    shown = [
        (occurrence, line)
        for occurrence, line in zip(notice.occurrences, notice.lines, strict=True)
        if mark_shown(session, occurrence.key, now=now, notification_id=notification_id)
    ]
    case = session.get(Case, notice.case_id) if notice.case_id is not None else None
    if case is None or not shown:  # undone meanwhile, or recorded by another claimant
        return
    change = begin_change(session, f"reminder case {case.id}", now=now, undoable=False)
    for occurrence, line in shown:
        change.record(
            case,
            ReminderShown(key=occurrence.key, due_at=occurrence.due_at),
            f"Reminder shown: {line}" + (REPEAT if notice.repeat else ""),
            snapshot={},
        )
        if occurrence.kind == "follow_up" and occurrence.item.item_id is not None:
            follow_up = session.get(FollowUp, occurrence.item.item_id)
            if follow_up is not None and follow_up.status == "pending":
                follow_up.status = "fired"
