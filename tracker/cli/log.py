"""`tracker log "TEXT"`: one line in the user's words, read (tracker.quicklog) and saved."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import cases as svc
from tracker.cli.case import CHANNEL, _due, _due_words
from tracker.cli.common import (
    CASE_ID,
    WHEN,
    WhenInput,
    at_option,
    case_change,
    json_requested,
    not_a_card_option,
    store,
    write_command,
)
from tracker.errors import UsageError
from tracker.history import begin_change
from tracker.models import Case, Organization, utcnow
from tracker.quicklog import Understood, understand, words
from tracker.redact import mask
from tracker.values import reference
from tracker.when import WhenError, Window, format_local


@dataclass
class _Plan:
    """What will be saved: the parts read, on the case chosen, with their times resolved."""

    case_id: int
    at: datetime | None
    case_words: str
    understood: Understood
    promises: list[Window]
    follow_up: Window | None


@click.command()
@click.argument("text")
@click.option(
    "--case",
    "case_id",
    type=CASE_ID,
    metavar="CASE",
    help="The case (default: the latest active case of the organization the line names).",
)
@click.option(
    "--channel",
    type=CHANNEL,
    help="The channel, when the line does not say it ('called', 'chatted with', ...).",
)
@at_option("it happened")
@not_a_card_option
@click.option("--yes", "-y", "yes", is_flag=True, help="Save without asking.")
@write_command
def log(
    text: str,
    case_id: int | None,
    channel: str | None,
    at: datetime | None,
    not_a_card: bool,
    yes: bool,
) -> None:
    """Record a contact from one line in your own words.

    The line says who you contacted and how ("called amex", "chatted with American
    Express", "amex called me"), whom you spoke to ("spoke to Jen (id 4471)"), the
    reference numbers ("ref ABC-12345", "case number 55"), what was promised and by when
    ("credit in 7-10 business days", "I will send the receipt by Friday"), a follow-up
    ("call back if nothing by the 15th") and how long it took ("23 min call"). Shows what
    it understood, field by field, and asks before saving (--yes: without asking). What it
    cannot read for sure (a time, which case) it refuses, naming the part; the whole line
    is kept as the contact's summary, card numbers masked.

    \b
    Examples:
      tracker log "called amex, spoke to Jen (id 4471), ref ABC-12345, credit in 7-10 business days, call back if nothing by the 15th"
      tracker log "amex called me back, refund by Friday" --yes
      tracker log --case 2 --channel chat "agent Maria, ticket 5512, new card within 5 days"
    """  # noqa: E501
    now = utcnow()
    if at is not None and at > now + svc.FUTURE_SLACK:
        raise UsageError(f"the contact time {format_local(at)} is in the future; --at says when")
    plan = _plan(text, case_id, channel, at, now)
    for value, _kind in plan.understood.references:
        # A card-like one is refused before anything is shown (the preview would print it).
        reference(value, not_a_card=not_a_card)
    to_err = json_requested()
    for line in _preview(plan, now):
        click.echo(line, err=to_err)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask on: add --yes to save it without asking")
        if not click.confirm("Save it?", default=True, err=True):
            click.echo("Nothing saved.", err=True)
            return
    _save(plan, not_a_card, now)


def _plan(
    text: str, case_id: int | None, channel: str | None, at: datetime | None, now: datetime
) -> _Plan:
    with store().read() as session:
        names = list(session.scalars(select(Organization.name)))
        understood = understand(text, names)
        if channel is not None:
            if understood.channel is not None and understood.channel != channel:
                raise UsageError(
                    f"the line says {understood.channel}, but --channel says {channel}"
                )
            understood.channel = channel
        if understood.channel is None:
            raise UsageError(
                "which channel? the line has no word for one ('called', 'chatted with', "
                "'emailed', 'wrote to', 'amex called me'); add one, or give --channel"
            )
        case, note = _case(session, understood, case_id)
        at = _contact_time(understood, at, now)
        anchor = at or now
        calendar = svc.case_calendar(case)
        backdated = at is not None
        promises = [
            _due(
                WhenInput(p.when, f"the promise '{p.text}'"),
                anchor,
                now,
                calendar,
                backdated=backdated,
            )
            for p in understood.promises
        ]
        follow = None
        if understood.follow_up is not None:
            follow = _due(
                WhenInput(understood.follow_up.when, "the follow-up"),
                anchor,
                now,
                calendar,
                backdated=False,
            )
        org = case.organization.name if case.organization else "no organization"
        words_ = f"{case.id}: {case.title} ({org}){note}"
        return _Plan(case.id, at, words_, understood, promises, follow)


def _contact_time(understood: Understood, at: datetime | None, now: datetime) -> datetime | None:
    """When the contact was: --at, or the time the line says ("called amex yesterday")."""
    if understood.at is None:
        return at
    if at is not None:
        raise UsageError(f"the line says when ({understood.at}) and so does --at; give one")
    try:
        said = WHEN.parse(understood.at)
    except WhenError as exc:
        raise UsageError(f"the time of the contact: {exc}") from None
    if said > now + svc.FUTURE_SLACK:
        raise UsageError(
            f"the contact time {format_local(said)} ('{understood.at}') is in the future"
        )
    return said


def _case(session: Session, understood: Understood, case_id: int | None) -> tuple[Case, str]:
    """The case the line is about: --case, else the latest active one of its organization."""
    org = understood.organization
    if case_id is not None:
        case = svc.get_case(session, case_id)
        if org is not None and (case.organization is None or case.organization.name != org):
            theirs = case.organization.name if case.organization else "no organization"
            raise UsageError(f"the line names {org}, but case {case_id} is with {theirs}")
        return case, ""
    if org is None:
        raise UsageError(
            "which case? the line names no organization of the directory (e.g. 'called "
            "amex'); name one, or give --case N"
        )
    active = svc.active_cases_of(session, org)
    if not active:
        raise UsageError(
            f"{org} has no active case; open one (tracker case open TITLE --org "
            f'"{org}") or give --case N'
        )
    note = f"; the latest of {len(active)} active {org} cases" if len(active) > 1 else ""
    return active[0], note


def _preview(plan: _Plan, now: datetime) -> list[str]:
    u = plan.understood
    label = words().labels
    width = max(len(v) for v in label.values()) + 2
    rows: list[tuple[str, str]] = [("case", plan.case_words)]
    who = "you contacted them" if u.direction == "out" else "they contacted you"
    rows.append(("channel", f"{u.channel} ({who})"))
    if u.agent:
        rows.append(("agent", u.agent))
    if u.agent_id:
        rows.append(("agent_id", u.agent_id))
    for value, kind in u.references:
        rows.append(("reference", f"{value} ({kind})"))
    for part, window in zip(u.promises, plan.promises, strict=True):
        who = "the company" if part.promised_by == "company" else "you"
        rows.append(("promise", f"{part.text} (by {who}), {_window_words(window)}"))
    if u.follow_up is not None and plan.follow_up is not None:
        rows.append(("follow_up", f"{format_local(plan.follow_up.end)}: {u.follow_up.text}"))
    if u.duration:
        rows.append(("duration", f"{int(u.duration.total_seconds()) // 60} min"))
    rows.append(("summary", u.summary))
    # Shown as it will be stored: masked (a reference is refused, never masked, on saving).
    return [
        f"{label[key]:<{width}}{value if key == 'reference' else mask(value)}"
        for key, value in rows
    ]


def _window_words(window: Window) -> str:
    if window.start is not None:
        return f"expected from {format_local(window.start)[:10]}, due by {format_local(window.end)}"
    return f"due {format_local(window.end)}"


def _save(plan: _Plan, not_a_card: bool, now: datetime) -> None:
    u = plan.understood
    assert u.channel is not None
    with case_change(plan.case_id) as (session, case, masker):
        change = begin_change(session, f"log {plan.case_id}", now=now)
        interaction = svc.log_interaction(
            session,
            case,
            channel=u.channel,
            masker=masker,
            at=plan.at,
            direction=u.direction,
            agent_name=u.agent,
            agent_id=u.agent_id,
            duration=u.duration,
            refs=[value for value, _ in u.references],
            ref_kinds={
                reference(value, not_a_card=not_a_card): kind for value, kind in u.references
            },
            refs_not_cards=not_a_card,
            summary=u.summary,
            now=now,
            log=change,
        )
        calendar = svc.case_calendar(case)
        made = []
        for part, window in zip(u.promises, plan.promises, strict=True):
            promise = svc.make_promise(
                session,
                case,
                part.text,
                window.end,
                masker=masker,
                promised_by=part.promised_by,
                interaction=interaction,
                log=change,
                window_start=window.start,
                calendar=calendar.key if window.business_days else None,
            )
            made.append((promise.id, _due_words(promise, now)))
        follow = None
        if u.follow_up is not None and plan.follow_up is not None:
            added = svc.set_follow_up(
                session, case, plan.follow_up.end, u.follow_up.text, masker=masker, log=change
            )
            follow = (added.id, format_local(added.due_at))
        interaction_id, status = interaction.id, case.status
    click.echo(f"Logged interaction {interaction_id} on case {plan.case_id} ({u.channel}).")
    for promise_id, due_words in made:
        click.echo(f"Promise {promise_id} recorded, {due_words}; case {plan.case_id} is {status}.")
    if follow is not None:
        click.echo(f"Follow-up {follow[0]} set for {follow[1]}.")
