"""What is due: the one computation behind `tracker due` and the reminder daemon."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from tracker.models import ACTIVE_STATUSES, Case, FollowUp, Organization, Promise
from tracker.policy import (
    LEVEL_ACTIONS,
    CaseFacts,
    Crossing,
    Policies,
    action,
    broken_instant,
    crossings,
    load_policies,
    suggestion,
)


@dataclass(frozen=True)
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

    def overdue(self, now: datetime) -> bool:
        return self.due_at < now


def _active_case() -> ColumnElement[bool]:
    return Case.status.in_(ACTIVE_STATUSES)


def due_items(
    session: Session,
    now: datetime,
    within: timedelta = timedelta(0),
    *,
    policies: Policies | None = None,
) -> list[DueItem]:
    """Pending follow-ups and promises due, and thresholds crossed, by now + within, on active
    cases, soonest first. `policies` defaults to the built-in ones plus the user's file."""
    horizon = now + within
    return pending_items(session, horizon, policies=policies, suggest_until=horizon)


def pending_items(
    session: Session,
    horizon: datetime | None,
    *,
    policies: Policies | None = None,
    suggest_until: datetime | None = None,
) -> list[DueItem]:
    """Like due_items, up to `horizon` (None: however far ahead).

    Only thresholds crossed by `suggest_until` get their suggestion (it looks up the
    directory); the daemon asks for none, and makes those it shows from `crossing`.
    """
    policies = policies if policies is not None else load_policies()
    items = _follow_ups(session, horizon)
    items += _promises_and_thresholds(session, horizon, policies, suggest_until)
    items.sort(key=lambda item: (item.due_at, item.case_id, item.kind, item.rule or ""))
    return items


def _follow_ups(session: Session, horizon: datetime | None) -> list[DueItem]:
    stmt = (
        select(FollowUp, Case.title, Organization.name)
        .join(Case, FollowUp.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(FollowUp.status == "pending", _active_case())
    )
    if horizon is not None:
        stmt = stmt.where(FollowUp.due_at <= horizon)
    return [
        DueItem(
            kind="follow_up",
            case_id=follow_up.case_id,
            case_title=title,
            organization=org,
            due_at=follow_up.due_at,
            text=follow_up.text or "check on the case",
            item_id=follow_up.id,
        )
        for follow_up, title, org in session.execute(stmt)
    ]


def _promises_and_thresholds(
    session: Session,
    horizon: datetime | None,
    policies: Policies,
    suggest_until: datetime | None,
) -> list[DueItem]:
    cases = list(
        session.scalars(select(Case).where(_active_case()).options(selectinload(Case.organization)))
    )
    promises: dict[int, list[Promise]] = defaultdict(list)
    for promise in session.scalars(
        select(Promise)
        .join(Case, Promise.case_id == Case.id)
        .where(Promise.status.in_(("pending", "broken")), _active_case())
        .order_by(Promise.id)
    ):
        promises[promise.case_id].append(promise)

    items: list[DueItem] = []
    for case in cases:
        org = case.organization.name if case.organization else None
        policy = policies.for_case(case.category, case.policy)
        broken: list[datetime] = []
        for promise in promises.get(case.id, ()):
            if promise.promised_by == "company":
                instant = broken_instant(
                    promise.status, promise.due_at, promise.status_at, policy.promise_grace
                )
                if instant is not None:
                    broken.append(instant)
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
                    overdue_at=policy.promise_grace.after(promise.due_at),
                )
            )
        facts = CaseFacts(
            case_id=case.id,
            level=case.escalation_level,
            opened_at=case.opened_at,
            last_interaction_at=case.last_interaction_at,
            escalated_at=case.escalated_at,
            broken_at=tuple(sorted(broken)),
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
                        threshold_suggestion(session, case, crossing)
                        if suggest_until is not None and crossing.at <= suggest_until
                        else None
                    ),
                    rule=crossing.threshold.id,
                    crossing=crossing,
                )
            )
    return items


def threshold_suggestion(session: Session, case: Case, crossing: Crossing) -> str:
    """The next step a crossed threshold suggests, with the contact for its rung."""
    level = crossing.target or case.escalation_level
    return suggestion(crossing, contact_step(session, case, level, action(crossing)))


def contact_step(session: Session, case: Case, level: str, what: str) -> str:
    """'ask for a supervisor, call +1 800-528-2122', with the directory's point for `level`."""
    from tracker.directory import describe_contact, suggested_contact  # ~20 ms: when needed

    point = suggested_contact(session, case, level)
    if point is None:
        return what
    contact = describe_contact(point)
    if point.level == "regulator" and what == LEVEL_ACTIONS["regulator"]:
        return contact  # a regulator's entry says it all: "file a complaint with ..."
    return f"{what}, {contact}"
