"""What is due: the one computation behind `tracker due` and the reminder daemon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from tracker.models import ACTIVE_STATUSES, Case, FollowUp, Organization, Promise


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

    def overdue(self, now: datetime) -> bool:
        return self.due_at < now


def _active_case() -> ColumnElement[bool]:
    return Case.status.in_(ACTIVE_STATUSES)


def due_items(session: Session, now: datetime, within: timedelta = timedelta(0)) -> list[DueItem]:
    """Pending follow-ups and promises due by now + within, on active cases, soonest first."""
    horizon = now + within
    items: list[DueItem] = []
    follow_ups = session.execute(
        select(FollowUp, Case.title, Organization.name)
        .join(Case, FollowUp.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(FollowUp.status == "pending", FollowUp.due_at <= horizon, _active_case())
    )
    for follow_up, title, org in follow_ups:
        items.append(
            DueItem(
                kind="follow_up",
                case_id=follow_up.case_id,
                case_title=title,
                organization=org,
                due_at=follow_up.due_at,
                text=follow_up.text or "check on the case",
                item_id=follow_up.id,
            )
        )
    promises = session.execute(
        select(Promise, Case.title, Organization.name)
        .join(Case, Promise.case_id == Case.id)
        .outerjoin(Organization, Case.organization_id == Organization.id)
        .where(Promise.status == "pending", Promise.due_at <= horizon, _active_case())
    )
    for promise, title, org in promises:
        items.append(
            DueItem(
                kind="promise" if promise.promised_by == "company" else "my_promise",
                case_id=promise.case_id,
                case_title=title,
                organization=org,
                due_at=promise.due_at,
                text=promise.text,
                item_id=promise.id,
            )
        )
    items.sort(key=lambda item: (item.due_at, item.case_id, item.kind))
    return items
