"""Corrections: `case edit`, `contact edit`, `note edit`, `promise due`, `promise by`.

Parse, call one function of tracker.corrections in one transaction, print through the view.
`case edit` joins the `case` group and `promise due|by` the `promise` group when this module
loads (tracker.cli.EXTENSIONS); `contact` and `note` are groups of their own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import click

from tracker import cases as svc
from tracker import corrections
from tracker.cli.case import CATEGORY, CHANNEL, _due, _read_note, case
from tracker.cli.common import (
    CASE_ID,
    DATE,
    DUE,
    DURATION,
    PROMISE_ID,
    WHEN,
    IdType,
    ValidatedType,
    WhenInput,
    case_change,
    masked_change,
    not_a_card_option,
    write_command,
    write_report,
)
from tracker.cli.promise import promise
from tracker.errors import UsageError
from tracker.models import utcnow
from tracker.values import parse_amount, parse_currency, parse_last4
from tracker.views.corrections import correction_dict, correction_words

CONTACT_ID = IdType("contact")
NOTE_ID = IdType("note")


@case.command("edit")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--title", metavar="TEXT", help="The case's title.")
@click.option("--org", "organization", metavar="NAME", help="The organization (created if new).")
@click.option("--category", type=CATEGORY, help="Why you contact them.")
@click.option(
    "--account",
    "account",
    metavar="LAST4",
    type=ValidatedType("last4", parse_last4),
    help="The last 4 digits of the card or account (never the full number).",
)
@click.option(
    "--amount",
    type=ValidatedType("amount", parse_amount),
    metavar="DECIMAL",
    help="The disputed amount, e.g. 129.99.",
)
@click.option(
    "--currency",
    type=ValidatedType("currency", parse_currency),
    metavar="CODE",
    help="ISO currency code, e.g. USD.",
)
@click.option("--merchant", metavar="TEXT", help="The merchant ('' clears it).")
@click.option("--txn-date", "txn_date", type=DATE, help="The transaction date, e.g. 2026-11-02.")
@click.option(
    "--opened-at",
    "--at",
    "opened_at",
    type=WHEN,
    metavar="WHEN",
    help="When the case began (what `case open --at` set), e.g. '2026-11-20 10:00'.",
)
@write_command
def case_edit(
    case_id: int,
    title: str | None,
    organization: str | None,
    category: str | None,
    account: str | None,
    amount: Decimal | None,
    currency: str | None,
    merchant: str | None,
    txn_date: date | None,
    opened_at: datetime | None,
) -> None:
    """Correct a case's facts. Only what you give changes; the old values stay in the history.

    \b
    Examples:
      tracker case edit 1 --title "Disputed charge at ACME Hardware (twice)"
      tracker case edit 1 --amount 139.99 --currency USD --txn-date 2026-11-03
      tracker case edit 1 --org "Amex" --category dispute --opened-at "2026-11-20 10:00"
    """
    given = (title, organization, category, account, amount, currency, merchant, txn_date)
    if all(value is None for value in given) and opened_at is None:
        raise UsageError("give at least one value to correct (see 'tracker case edit --help')")
    with case_change(case_id) as (session, found, masker):
        done = corrections.edit_case(
            session,
            found,
            masker=masker,
            title=title,
            organization=organization,
            category=category,
            account_last4=account,
            amount=amount,
            currency=currency,
            merchant=merchant,
            transaction_date=txn_date,
            opened_at=opened_at,
        )
    _report(done)


@click.group()
def contact() -> None:
    """Correct a recorded contact (an interaction: a call, a chat, a letter).

    \b
    Examples:
      tracker contact edit 3 --agent Daniel --agent-id 4471
      tracker contact edit 3 --ref CALL-88812
    """


@contact.command("edit")
@click.argument("contact_id", type=CONTACT_ID, metavar="ID")
@click.option("--agent", metavar="NAME", help="The agent's name.")
@click.option("--agent-id", "agent_id", metavar="ID", help="The agent's id or badge number.")
@click.option("--summary", metavar="TEXT", help="What was discussed and agreed.")
@click.option("--channel", type=CHANNEL, help="How: phone, chat, mail, ...")
@click.option("--at", type=WHEN, metavar="WHEN", help="When it happened, e.g. 'yesterday 14:00'.")
@click.option("--duration", type=DURATION, metavar="DUR", help="How long, e.g. 23m or 1h10m.")
@click.option(
    "--ref",
    "ref",
    metavar="REF",
    help="The contact's reference number, as it really is: it replaces the one recorded "
    "(with several, name the wrong one with --replace); a contact without one gets it.",
)
@click.option(
    "--replace",
    "replace",
    metavar="OLD",
    help="The reference number --ref replaces, exactly as recorded.",
)
@not_a_card_option
@write_command
def contact_edit(
    contact_id: int,
    agent: str | None,
    agent_id: str | None,
    summary: str | None,
    channel: str | None,
    at: datetime | None,
    duration: timedelta | None,
    ref: str | None,
    replace: str | None,
    not_a_card: bool,
) -> None:
    """Correct a contact: its agent, agent id, reference number, summary, channel, time or
    duration. The old values stay in the history; every other reference number stays.

    The contact's ID is in `tracker case show CASE --json` (interactions) and is what
    `case contact` printed ("Logged interaction 3").

    \b
    Examples:
      tracker contact edit 3 --agent Daniel
      tracker contact edit 3 --ref CALL-88812                  # it had CALL-8812
      tracker contact edit 3 --ref D-4471 --replace D-4417     # one of several
      tracker contact edit 3 --summary "Charge removed pending review" --duration 25m
    """
    if replace is not None and ref is None:
        raise UsageError("--replace goes with --ref")
    if not_a_card and ref is None:
        raise UsageError("--not-a-card goes with --ref")
    given = (agent, agent_id, summary, channel, at, duration, ref)
    if all(value is None for value in given):
        raise UsageError("give at least one value to correct (see 'tracker contact edit --help')")
    now = utcnow()
    with masked_change() as (session, masker):
        done = corrections.edit_contact(
            session,
            contact_id,
            masker=masker,
            agent=agent,
            agent_id=agent_id,
            summary=summary,
            channel=channel,
            at=at,
            duration=duration,
            ref=ref,
            replace=replace,
            not_a_card=not_a_card,
            now=now,
        )
    _report(done)


@click.group()
def note() -> None:
    """Correct a note's text.

    \b
    Examples:
      tracker note edit 2 "Statement shows the charge twice, on 2 and 3 November."
      echo "The corrected text" | tracker note edit 2
    """


@note.command("edit")
@click.argument("note_id", type=NOTE_ID, metavar="ID")
@click.argument("text", required=False)
@write_command
def note_edit(note_id: int, text: str | None) -> None:
    """Replace a note's text; the old text stays in the history.

    TEXT "-" or omitted with a pipe on stdin: the text is read from stdin; omitted on a
    terminal: $EDITOR opens. A note can be corrected on any case, closed ones included.

    \b
    Examples:
      tracker note edit 2 "Statement shows the charge twice, on 2 and 3 November."
      echo "The corrected text" | tracker note edit 2
    """
    body = _read_note(text)
    with masked_change() as (session, masker):
        done = corrections.edit_note(session, note_id, body, masker=masker)
    _report(done)


@promise.command("due")
@click.argument("promise_id", type=PROMISE_ID, metavar="PROMISE_ID")
@click.argument("when", type=DUE, metavar="WHEN")
@click.option("--note", "reason", metavar="REASON", help="Why (kept with it, and as a note).")
@click.option(
    "--at",
    type=WHEN,
    metavar="WHEN",
    help="When you were told (default: now); a relative WHEN counts from it.",
)
@write_command
def promise_due(promise_id: int, when: WhenInput, reason: str | None, at: datetime | None) -> None:
    """Reschedule a pending promise: it is now due at WHEN.

    WHEN is read like `case promise --due`: 10bd, '7-10 business days' (a window, due at
    its end), 'Dec 24', eod; counted from now or --at.

    \b
    Examples:
      tracker promise due 1 10bd --note "Agent said the credit team is backlogged"
      tracker promise due 1 "7-10 business days" --at "yesterday 15:00"
    """
    now = utcnow()
    with masked_change() as (session, masker):
        found = svc.get_promise(session, promise_id)
        calendar = svc.case_calendar(found.case)
        window = _due(when, at or now, now, calendar, backdated=at is not None)
        done = corrections.reschedule_promise(
            session,
            promise_id,
            window.end,
            masker=masker,
            window_start=window.start,
            calendar=calendar.key if window.business_days else None,
            reason=reason,
            at=at,
            now=now,
        )
    _report(done)


@promise.command("by")
@click.argument("promise_id", type=PROMISE_ID, metavar="PROMISE_ID")
@click.argument("who", type=click.Choice(["company", "me"]), metavar="company|me")
@write_command
def promise_by(promise_id: int, who: str) -> None:
    """Correct who made a promise: the company or me.

    \b
    Examples:
      tracker promise by 2 me
      tracker promise by 2 company
    """
    with masked_change() as (session, _masker):
        done = corrections.change_promiser(session, promise_id, who)
    _report(done)


def _report(done: corrections.Correction) -> None:
    """What a correction says: its words, and for --json its fields' old and new values
    beside the write's shared shape (docs/json.md)."""
    write_report().add(correction=correction_dict(done))
    click.echo(correction_words(done))
