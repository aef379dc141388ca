"""Advice: the next step at a rung, and which contact point of the directory to use.

One place answers "what should I do now, and where": the lines `case open` and
`case escalate` print, the suggestion `tracker due` gives a crossed threshold, and the
next step in a reminder. It reads the directory (tracker.directory) and the policies'
crossings (tracker.policy); it never writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.directory import (
    case_abroad,
    case_region,
    display_value,
    find_organization,
    format_phone,
)
from tracker.models import Case, ContactPoint
from tracker.policy import DISCLAIMER, Crossing
from tracker.vocabulary import CALL_CHECKLIST, CHANNEL, LEVEL, REGULATORS, Regulator, next_level


class StepCache(dict[tuple[int | None, str, str, str, bool], str]):
    """contact_step's answers by (organization, category, level, action, abroad), and the
    directory's contact points, read once: a due list of thousands of cases at a few
    organizations asks the directory the same few questions (186 of them at 100k cases,
    each one or two queries when each asked the database)."""

    def __init__(self) -> None:
        super().__init__()
        self._points: dict[int, list[ContactPoint]] | None = None

    def points(self, session: Session, organization_id: int) -> list[ContactPoint]:
        """The organization's contact points in the directory's order (position, id)."""
        if self._points is None:
            self._points = {}
            for point in session.scalars(
                select(ContactPoint).order_by(ContactPoint.position, ContactPoint.id)
            ):
                self._points.setdefault(point.organization_id, []).append(point)
        return self._points.get(organization_id, [])


# --------------------------------------------------------------------------- jurisdiction


def regulator_for(country: str | None) -> Regulator | None:
    """The consumer complaint body of a country (the CFPB, the Financial Ombudsman Service)."""
    return REGULATORS.get(country) if country else None


def level_action(level: str, country: str | None = None) -> str:
    """What to do to reach `level`; the last rung names the country's body when known."""
    regulator = regulator_for(country) if level == "regulator" else None
    return regulator.action if regulator is not None else LEVEL[level].action


def _regulator_points(session: Session, regulator: Regulator) -> list[ContactPoint]:
    """The regulator's own directory entry (examples/directory/), regulator rung first."""
    org = find_organization(session, regulator.directory_name)
    if org is None:
        return []
    points = sorted(org.contact_points, key=lambda p: (p.level != "regulator", p.position, p.id))
    return points


def _regulator_words(regulator: Regulator) -> str:
    """'take the complaint to the Financial Ombudsman Service: https://... or call ...'."""
    text = f"{regulator.action}: {regulator.website}"
    if regulator.phone:
        text += f" or call {format_phone(regulator.phone)}"
    return text


# --------------------------------------------------------------------------- which contact point


def _candidates(
    session: Session,
    organization_id: int | None,
    category: str,
    level: str,
    steps: StepCache | None = None,
) -> list[ContactPoint]:
    """Points at `level` serving the category: exact category first, then "any"."""
    if steps is not None and organization_id is not None:
        points = [p for p in steps.points(session, organization_id) if p.level == level]
    else:
        points = list(
            session.scalars(
                select(ContactPoint)
                .where(ContactPoint.organization_id == organization_id, ContactPoint.level == level)
                .order_by(ContactPoint.position, ContactPoint.id)
            )
        )
    exact = [p for p in points if category in p.categories.split()]
    general = [p for p in points if p not in exact and "any" in p.categories.split()]
    return exact + general


def _from_abroad(point: ContactPoint) -> bool:
    return bool(point.collect_calls or (point.region and point.region.lower() == "abroad"))


def _suitable(
    session: Session,
    organization_id: int | None,
    category: str,
    abroad: bool,
    level: str,
    steps: StepCache | None = None,
) -> list[ContactPoint]:
    found = _candidates(session, organization_id, category, level, steps)
    if not found and level == "supervisor":
        # The guide (3.5): you reach a supervisor by asking for one on the usual line.
        frontline = _candidates(session, organization_id, category, "frontline", steps)
        found = [p for p in frontline if p.kind == "phone"] or frontline
    if found and abroad:
        # From abroad a toll-free line may not connect: the international (collect) line
        # first, at every rung.
        found = [p for p in found if _from_abroad(p)] + [p for p in found if not _from_abroad(p)]
    return found


def suggested_contact(
    session: Session, case: Case, level: str | None = None
) -> ContactPoint | None:
    """The best contact point for the case at `level` (default: its current level), or None.

    Prefers a point for exactly that level and category, then one for any category; the
    directory's own order (position) breaks ties. A supervisor is reached through the
    frontline phone lines when the directory names no supervisor line.
    """
    return _suggested(
        session,
        case.organization_id,
        case.category,
        case_abroad(case),
        level or case.escalation_level,
    )


def _suggested(
    session: Session,
    organization_id: int | None,
    category: str,
    abroad: bool,
    level: str,
    steps: StepCache | None = None,
) -> ContactPoint | None:
    if organization_id is None:
        return None
    found = _suitable(session, organization_id, category, abroad, level, steps)
    return found[0] if found else None


def number_to_call(session: Session, case: Case) -> ContactPoint | None:
    """The phone line to dial for the case at its level (abroad: the collect line first),
    or None when the directory has no phone for it."""
    if case.organization_id is None:
        return None
    found = _suitable(
        session, case.organization_id, case.category, case_abroad(case), case.escalation_level
    )
    return next((p for p in found if p.kind == "phone"), None)


def point_details(point: ContactPoint, *, label: bool = True, hours: bool = True) -> list[str]:
    details = []
    if label and point.label and point.level != "regulator":
        details.append(point.label)
    if point.region:
        details.append("from abroad" if point.region.lower() == "abroad" else point.region)
    if hours and point.hours:
        details.append(point.hours)
    if point.collect_calls:
        details.append("collect calls accepted")
    return details


def _with_details(text: str, details: Sequence[str]) -> str:
    return f"{text} ({', '.join(details)})" if details else text


def describe_contact(point: ContactPoint) -> str:
    """'call +1 800-528-2122 (Card Member Services, US, 24/7)'."""
    if point.level == "regulator" and point.label:
        head = f"file a complaint with the regulator, {point.label}, at {display_value(point)}"
    else:
        verb = CHANNEL[point.kind].contact_verb if point.kind in CHANNEL else None
        head = f"{verb or 'contact'} {display_value(point)}"
    return _with_details(head, point_details(point))


def _alternative(points: Sequence[ContactPoint], primary: ContactPoint) -> ContactPoint | None:
    """A second way in: the same line from another region, or a phone behind a chat."""
    phones = [p for p in points if p.kind == "phone" and p is not primary]
    if primary.kind == "phone":
        return next((p for p in phones if p.region != primary.region), None)
    return phones[0] if phones else None


def _from(region: str | None) -> str:
    if region is None:
        return "or"
    return "or, from abroad," if region.lower() == "abroad" else f"or, from {region},"


def _ways(points: Sequence[ContactPoint], *, urgent: bool) -> str:
    """One sentence: the first point, and a second way in if there is one."""
    primary = points[0]
    alt = _alternative(points, primary)
    if primary.kind == "phone":
        if urgent:
            head = "Call now" + (f", {primary.hours}" if primary.hours else "") + ": "
            first = _with_details(
                format_phone(primary.value), point_details(primary, label=False, hours=False)
            )
        else:
            head = "Call "
            first = _with_details(format_phone(primary.value), point_details(primary, label=False))
        text = head + first
        if alt is not None:
            extra = ["collect calls accepted"] if alt.collect_calls else []
            text += f" {_from(alt.region)} " + _with_details(format_phone(alt.value), extra)
        return text + "."
    text = describe_contact(primary)
    text = text[0].upper() + text[1:]
    if alt is not None:
        text += "; or call " + _with_details(
            format_phone(alt.value), point_details(alt, label=False)
        )
    return text + "."


def _have_ready(case: Case) -> list[str]:
    """The guide's checklist (1.2), filled in from the case. Never a security code or PIN."""
    items = [
        f"card ending {case.account_last4}"
        if case.account_last4
        else "the card's last 4 digits (from a statement or the app)"
    ]
    if case.category == "dispute" or case.merchant or case.amount is not None:
        parts = [
            case.transaction_date.isoformat() if case.transaction_date else None,
            case.merchant,
            f"{case.amount} {case.currency or ''}".strip() if case.amount is not None else None,
        ]
        known = [p for p in parts if p]
        items.append(
            f"the transaction ({', '.join(known)})"
            if known
            else "the transaction's date, merchant and amount"
        )
    refs = [r.value for r in case.references]
    if refs:
        items.append(f"earlier reference numbers ({', '.join(refs)})")
    return items


def call_checklist(case: Case) -> list[str]:
    """What to have ready for a call on the case: its category's checklist (the guide, 1.2),
    with the case's own facts filled in. Never a security code or a PIN."""
    facts = _have_ready(case)
    filled = {
        "last4": facts[0],
        "transaction": next((f for f in facts if f.startswith("the transaction")), None),
        "references": next((f for f in facts if f.startswith("earlier reference")), None),
    }
    items = []
    for item in CALL_CHECKLIST.get(case.category, CALL_CHECKLIST["other"]):
        shown = filled.get(item, item)
        if item == "transaction" and shown is None:
            shown = "the transaction's date, merchant and amount"
        if shown is not None:
            items.append(shown)
    return items


def case_advice(session: Session, case: Case, *, moment: str = "open") -> str | None:
    """What to print after `case open` / `case escalate`, when the directory knows a point."""
    if case.organization_id is None:
        return None
    level = case.escalation_level
    points = _suitable(session, case.organization_id, case.category, case_abroad(case), level)
    regulator = regulator_for(case_region(case)[0])
    if not points and level == "regulator" and regulator is not None:
        points = _regulator_points(session, regulator)
        if not points:
            text = _regulator_words(regulator)
            return "\n".join(
                [
                    text[0].upper() + text[1:] + ".",
                    f"Draft the letter from the case history: tracker case letter {case.id}",
                ]
            )
    if not points:
        return None
    primary = points[0]
    lines: list[str] = []
    if level == "supervisor" and moment == "escalate":
        lines.append("Ask for a supervisor or manager. " + _ways(points, urgent=False))
    elif level == "complaint":
        lines.append(
            f"Put the complaint in writing, to: {display_value(primary)}."
            if primary.kind == "mail"
            else "Make a formal complaint: " + describe_contact(primary) + "."
        )
    elif level == "regulator":
        text = describe_contact(primary)
        if regulator is not None and primary.level != "regulator":
            text = f"{regulator.action}: {text}"
        lines.append(text[0].upper() + text[1:] + ".")
    else:
        lines.append(_ways(points, urgent=case.category == "lost_stolen"))
        if case.category in ("dispute", "complaint"):
            writing = _candidates(session, case.organization_id, case.category, "complaint")
            mail = next((p for p in writing if p.kind == "mail"), None)
            if mail is not None:
                lines.append(
                    f"In writing (formal complaints, supporting documents): {display_value(mail)}."
                )
    if level in ("complaint", "regulator"):
        draft = f"Draft the letter from the case history: tracker case letter {case.id}"
        if case.category == "dispute" and level == "complaint":
            draft += " --kind complaint (or --kind billing-error, for a billing-error notice)"
        lines.append(draft)
    else:
        lines.append("Have ready: " + "; ".join(_have_ready(case)) + ".")
        if primary.kind in ("phone", "chat", "app"):
            lines.append(
                "Ask for the agent's name and a reference number; record them with "
                f"tracker case contact {case.id} --channel {primary.kind} --agent NAME --ref REF"
            )
        lines.append("Never note your security code (CID/CVV) or PIN: the tracker keeps neither.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- next steps


def action(crossing: Crossing, country: str | None = None) -> str:
    """What a crossed threshold says to do: its own words, else its rung's (the last rung
    names the body of the case's country)."""
    if crossing.threshold.action is not None:
        return crossing.threshold.action
    if crossing.target is not None:
        return level_action(crossing.target, country)
    return "review the case"  # not reached: validation wants an action or a rung


def suggestion(crossing: Crossing, step: str) -> str:
    """The next step (with its contact), the rule behind it and the disclaimer, in one line."""
    rule = crossing.threshold.rule
    return f"{step} ({rule}). {DISCLAIMER}" if rule else f"{step}. {DISCLAIMER}"


def contact_step(
    session: Session, case: Case, level: str, what: str, steps: StepCache | None = None
) -> str:
    """'ask for a supervisor, call +1 800-528-2122', with the directory's point for `level`."""
    return _contact_step(
        session,
        case.organization_id,
        case.category,
        level,
        what,
        steps,
        country=case_region(case)[0],
        abroad=case_abroad(case),
    )


def _contact_step(
    session: Session,
    organization_id: int | None,
    category: str,
    level: str,
    what: str,
    steps: StepCache | None,
    *,
    country: str | None,
    abroad: bool,
) -> str:
    """contact_step for a case known by its facts (its organization's country, abroad)."""
    key = (organization_id, category, level, what, abroad)
    if steps is not None and key in steps:
        return steps[key]
    point = _suggested(session, organization_id, category, abroad, level, steps)
    regulator = regulator_for(country) if level == "regulator" else None
    if point is None and regulator is not None:
        points = _regulator_points(session, regulator)
        point = points[0] if points else None
        if point is None:
            words = _regulator_words(regulator)
            step = words if what == regulator.action else f"{what}: {words.split(': ', 1)[1]}"
            if steps is not None:
                steps[key] = step
            return step
    if point is None:
        step = what
    elif point.level == "regulator" and what in (
        LEVEL["regulator"].action,
        regulator and regulator.action,
    ):
        step = describe_contact(point)  # a regulator's entry says it all: "file a complaint ..."
    else:
        step = f"{what}, {describe_contact(point)}"
    if steps is not None:
        steps[key] = step
    return step


def threshold_step(
    session: Session, case: Case, crossing: Crossing, steps: StepCache | None = None
) -> str:
    """The next step a crossed threshold suggests, with the contact for its rung."""
    level = crossing.target or case.escalation_level
    what = action(crossing, case_region(case)[0])
    return suggestion(crossing, contact_step(session, case, level, what, steps))


def cached_threshold_step(
    session: Session,
    organization_id: int | None,
    category: str,
    level: str,
    crossing: Crossing,
    steps: StepCache,
    *,
    country: str | None = None,
    abroad: bool = False,
) -> str:
    """threshold_step for a case known by its facts (`country`: its region's, `abroad`: as
    case_abroad), without loading the case."""
    target = crossing.target or level
    what = action(crossing, country)
    step = _contact_step(
        session, organization_id, category, target, what, steps, country=country, abroad=abroad
    )
    return suggestion(crossing, step)


def promise_step(
    session: Session, case: Case, *, overdue: bool, steps: StepCache | None = None
) -> str:
    """After a company promise falls due: check it was done; once overdue, go a rung up."""
    level = case.escalation_level
    if overdue:
        level = next_level(level) or level
        what = level_action(level, case_region(case)[0])
        return contact_step(session, case, level, what, steps)
    return contact_step(session, case, level, "check that it was done", steps)


def follow_up_step(session: Session, case: Case, steps: StepCache | None = None) -> str:
    """A follow-up fell due: contact them at the case's rung."""
    level = case.escalation_level
    return contact_step(session, case, level, level_action(level, case_region(case)[0]), steps)


MY_PROMISE_STEP = "do what you promised, or tell them when you will"
