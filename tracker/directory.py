"""The directory: which contact point of an organization suits a case's category and level."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Case, ContactPoint


def _serves(point: ContactPoint, category: str) -> bool:
    served = point.categories.split()
    return "any" in served or category in served


def suggested_contact(
    session: Session, case: Case, level: str | None = None
) -> ContactPoint | None:
    """The best contact point for the case at `level` (default: its current level), or None.

    Prefers a point for exactly that level and category, then one for any category; the
    directory's own order (position) breaks ties.
    """
    if case.organization_id is None:
        return None
    level = level or case.escalation_level
    points = session.scalars(
        select(ContactPoint)
        .where(ContactPoint.organization_id == case.organization_id, ContactPoint.level == level)
        .order_by(ContactPoint.position, ContactPoint.id)
    ).all()
    exact = [p for p in points if case.category in p.categories.split()]
    if exact:
        return exact[0]
    general = [p for p in points if _serves(p, case.category)]
    return general[0] if general else None


def describe_contact(point: ContactPoint) -> str:
    """'call +1 800-528-2122 (Card Member Services, US, 24/7)'."""
    verb = {
        "phone": "call",
        "mail": "write to",
        "chat": "chat at",
        "app": "message in",
        "web": "go to",
        "email": "email",
        "social": "message",
    }.get(point.kind, "contact")
    details = [d for d in (point.label, point.region, point.hours) if d]
    if point.collect_calls:
        details.append("collect calls accepted")
    value = " ".join(point.value.split())
    return f"{verb} {value}" + (f" ({', '.join(details)})" if details else "")


def suggestion_text(session: Session, case_id: int, *, moment: str = "open") -> str | None:
    """What to print after `case open` / `case escalate`, when the directory knows a point."""
    case = session.get(Case, case_id)
    if case is None:
        return None
    point = suggested_contact(session, case)
    if point is None:
        return None
    return f"Next: {describe_contact(point)}."
