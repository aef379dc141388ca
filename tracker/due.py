"""What is due: the one computation behind `tracker due` and the reminder daemon."""

from __future__ import annotations

from collections import defaultdict, namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Result, Select, and_, select
from sqlalchemy.orm import Session, object_session

from tracker.advice import StepCache, cached_threshold_step
from tracker.config import settings
from tracker.directory import abroad_of, region_of
from tracker.models import Case, Change, Event, FollowUp, Organization, Promise
from tracker.policy import (
    CaseFacts,
    Crossing,
    Policies,
    Policy,
    broken_instant,
    crossings,
    load_policies,
)
from tracker.vocabulary import ACTIVE_STATUSES, FOLLOW_UP_TEXT
from tracker.when import Calendar, calendar_for, local_zone


# slots: a large store has tens of thousands of these (and of the reminders' occurrences).
@dataclass(frozen=True, slots=True)
class DueItem:
    """One thing due on a case: a follow-up, a promise, or a crossed escalation threshold."""

    kind: str  # "follow_up", "promise" (the company's), "my_promise", "threshold"
    case_id: int
    case_title: str
    organization: str | None
    due_at: datetime
    text: str
    item_id: int | None = None  # the follow-up's or promise's id
    suggestion: str | None = None
    rule: str | None = None  # a threshold's id
    overdue_at: datetime | None = None  # a promise: when it counts as overdue (policy's grace)
    crossing: Crossing | None = field(default=None, compare=False, repr=False)
    # When the follow-up or promise last changed (the calendar's DTSTAMP).
    modified_at: datetime | None = None

    def overdue(self, now: datetime) -> bool:
        """Past its due time: for a promise, the one overdue rule (Promise.is_overdue)."""
        return Promise.overdue_rule("pending", self.due_at, now)


def _active_case(case_id: int | None = None) -> ColumnElement[bool]:
    active = Case.status.in_(ACTIVE_STATUSES)
    return active if case_id is None else and_(active, Case.id == case_id)


def due_items(
    session: Session,
    now: datetime,
    within: timedelta = timedelta(0),
    *,
    policies: Policies | None = None,
) -> list[DueItem]:
    """Pending follow-ups and promises due, and thresholds crossed, by now + within, on active
    cases, soonest first. `policies` defaults to the built-in ones plus the user's file."""
    try:
        horizon = now + within
    except OverflowError:  # `--within 9999999w`: as far as the calendar goes
        horizon = datetime.max.replace(tzinfo=UTC)
    return pending_items(session, horizon, policies=policies, suggest_until=horizon)


def pending_items(
    session: Session,
    horizon: datetime | None,
    *,
    policies: Policies | None = None,
    suggest_until: datetime | None = None,
    case_id: int | None = None,
    thresholds: bool = True,
) -> list[DueItem]:
    """Like due_items, up to `horizon` (None: however far ahead), of one case if given.

    Only thresholds crossed by `suggest_until` get their suggestion (it looks up the
    directory); the daemon asks for none, and makes those it shows from `crossing`.
    thresholds=False leaves them out (the calendar shows follow-ups and promises only).
    """
    policies = policies if policies is not None else load_policies()
    items = _follow_ups(session, horizon, case_id)
    items += _promises_and_thresholds(
        session, horizon, policies, suggest_until, case_id, thresholds
    )
    items.sort(key=lambda item: (item.due_at, item.case_id, item.kind, item.rule or ""))
    return items


# Both queries below start from the active cases (by their status index) and read their
# promises and follow-ups by case id; the status and due time are checked here. With those
# in the query, SQLite starts from the status index of promises or follow-ups instead, and
# reads every pending one left on resolved and closed cases too: a cost that grows with the
# whole history (50k promises in a store of 100k cases) where this one grows with the
# active cases only. tests/test_query_plans.py holds the plans to that.


def _follow_ups(session: Session, horizon: datetime | None, case_id: int | None) -> list[DueItem]:
    stmt = (
        select(
            FollowUp.id,
            FollowUp.case_id,
            FollowUp.due_at,
            FollowUp.text,
            FollowUp.status,
            FollowUp.created_at,
            FollowUp.status_at,
            Case.title,
            Organization.name,
        )
        .join(Case, FollowUp.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(_active_case(case_id))
    )
    return [
        DueItem(
            kind="follow_up",
            case_id=case_id,
            case_title=title,
            organization=org,
            due_at=due_at,
            text=text or FOLLOW_UP_TEXT,
            item_id=follow_up_id,
            modified_at=status_at or created_at,  # a snooze moved it: the calendar updates
        )
        for follow_up_id, case_id, due_at, text, status, created_at, status_at, title, org in (
            _rows(session, stmt)
        )
        if status == "pending" and (horizon is None or due_at <= horizon)
    ]


_Ts = TypeVarTuple("_Ts")


def _rows(session: Session, stmt: Select[*_Ts]) -> Result[*_Ts]:
    """Plain rows through the session's connection: the ORM's loading path built each row
    again for columns that need none of it. (Flushed first: the connection does not
    autoflush, and the daemon asks inside a transaction that may have written.)"""
    session.flush()
    return session.connection().execute(stmt)


# Plain rows, not ORM objects: the daemon computes this after every change, over every
# active case, and rows are cheaper to make and to hold than objects in an identity map.
_CASE_FACTS = (
    Case.id,
    Case.title,
    Organization.name.label("organization"),
    Case.organization_id,
    Organization.country.label("country"),
    Organization.subdivision.label("subdivision"),
    Case.abroad,
    Case.category,
    Case.policy,
    Case.escalation_level,
    Case.opened_at,
    Case.last_interaction_at,
    Case.escalated_at,
)
_PROMISE_FACTS = (
    Promise.id,
    Promise.case_id,
    Promise.text,
    Promise.promised_by,
    Promise.due_at,
    Promise.status,
    Promise.status_at,
    Promise.created_at,
)
# What the loop below reads of each row, many times over: a named tuple's fields are read
# ten times faster than a Row's attributes (1,020 cases and 3,268 promises at 10k cases).
_CaseFacts = namedtuple("_CaseFacts", [column.key for column in _CASE_FACTS])  # type: ignore[misc]
_PromiseFacts = namedtuple("_PromiseFacts", [column.key for column in _PROMISE_FACTS])  # type: ignore[misc]


def _notices_sent(session: Session, case_id: int | None) -> dict[int, datetime]:
    """When each active case's first billing-error notice was sent (`case letter --sent`;
    one that was undone was not): where the FCBA clocks start."""
    found: dict[int, datetime] = {}
    for row in session.execute(
        select(Event.case_id, Event.at, Event.data)
        .join(Change, Event.change_id == Change.id)
        .join(Case, Event.case_id == Case.id)
        .where(_active_case(case_id), Event.type == "letter_sent", Change.reverted_by_id.is_(None))
    ):
        if (row.data or {}).get("kind") == "billing-error" and row.case_id is not None:
            earlier = found.get(row.case_id)
            found[row.case_id] = row.at if earlier is None else min(earlier, row.at)
    return found


def _promises_and_thresholds(
    session: Session,
    horizon: datetime | None,
    policies: Policies,
    suggest_until: datetime | None,
    case_id: int | None = None,
    thresholds: bool = True,
) -> list[DueItem]:
    cases: list[Any] = list(
        map(
            _CaseFacts._make,
            _rows(
                session,
                select(*_CASE_FACTS)
                .outerjoin(Organization, Case.organization_id == Organization.id)
                .where(_active_case(case_id)),
            ),
        )
    )
    promises: dict[int, list[Any]] = defaultdict(list)
    promise_rows: Iterable[Any] = map(
        _PromiseFacts._make,
        _rows(
            session,
            select(*_PROMISE_FACTS)
            .join(Case, Promise.case_id == Case.id)
            .where(_active_case(case_id))
            .order_by(Promise.id),
        ),
    )
    for promise in promise_rows:
        if promise.status in ("pending", "broken"):
            promises[promise.case_id].append(promise)

    notices = _notices_sent(session, case_id) if thresholds else {}
    steps = StepCache()
    items: list[DueItem] = []
    zone = local_zone()  # once: a large store adds tens of thousands of spans
    mine = settings()  # and the config file's country, for the cases whose organization has none
    for case in cases:
        org = case.organization
        # The case's country (its organization's, else the user's) picks its policy, and
        # its holidays are the business days the policy's spans count.
        region = region_of(case.country, case.subdivision, mine=mine)
        country = region[0]
        calendar = calendar_for(*region)
        policy = policies.for_case(case.category, case.policy, country)
        for promise in promises.get(case.id, ()):
            if promise.status != "pending" or (horizon is not None and promise.due_at > horizon):
                continue
            items.append(
                DueItem(
                    kind="promise" if promise.promised_by == "company" else "my_promise",
                    case_id=case.id,
                    case_title=case.title,
                    organization=org,
                    due_at=promise.due_at,
                    text=promise.text,
                    item_id=promise.id,
                    overdue_at=policy.promise_grace.after(promise.due_at, calendar, zone),
                    modified_at=promise.status_at or promise.created_at,
                )
            )
        if not thresholds:
            continue
        facts = _facts(
            case,
            promises.get(case.id, ()),
            policy,
            calendar,
            notice_at=notices.get(case.id),
            zone=zone,
        )
        for crossing in crossings(facts, policy):
            if horizon is not None and crossing.at > horizon:
                break
            items.append(
                DueItem(
                    kind="threshold",
                    case_id=case.id,
                    case_title=case.title,
                    organization=org,
                    due_at=crossing.at,
                    text=crossing.threshold.why,
                    suggestion=(
                        cached_threshold_step(
                            session,
                            case.organization_id,
                            case.category,
                            case.escalation_level,
                            crossing,
                            steps,
                            country=country,
                            abroad=abroad_of(case.abroad, case.country, mine=mine),
                        )
                        if suggest_until is not None and crossing.at <= suggest_until
                        else None
                    ),
                    rule=crossing.threshold.id,
                    crossing=crossing,
                )
            )
    return items


def _facts(
    case: Any,
    promises: Iterable[Any],
    policy: Policy,
    calendar: Calendar,
    *,
    notice_at: datetime | None = None,
    zone: tzinfo | None = None,
) -> CaseFacts:
    """What the thresholds read of a case (a row of _CASE_FACTS or a Case) and its promises
    (rows of _PROMISE_FACTS or Promises): the one place a broken promise gets its time.
    `zone`: the local zone, looked up once by a caller doing many cases (None: each span
    looks it up)."""
    broken: list[datetime] = []
    for promise in promises:
        if promise.promised_by == "company":
            instant = broken_instant(
                promise.status,
                promise.due_at,
                promise.status_at,
                policy.promise_grace,
                calendar,
                zone,
            )
            if instant is not None:
                broken.append(instant)
    return CaseFacts(
        case_id=case.id,
        level=case.escalation_level,
        opened_at=case.opened_at,
        last_interaction_at=case.last_interaction_at,
        escalated_at=case.escalated_at,
        broken_at=tuple(sorted(broken)),
        calendar=calendar,
        notice_at=notice_at,
        zone=zone,
    )


def case_clocks(case: Case, policies: Policies) -> tuple[Policy, CaseFacts]:
    """The policy that applies to one case, whatever its status, and the facts its
    thresholds read: what the case file counts, as `tracker due` and the daemon do."""
    org = case.organization
    country_code = org.country if org is not None else None
    subdivision = org.subdivision if org is not None else None
    region = region_of(country_code, subdivision)
    country = region[0]
    calendar = calendar_for(*region)
    policy = policies.for_case(case.category, case.policy, country)
    session = object_session(case)
    notice_at = _notices_sent(session, case.id).get(case.id) if session is not None else None
    return policy, _facts(case, case.promises, policy, calendar, notice_at=notice_at)
