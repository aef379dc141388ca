"""`tracker case ...`: parse, call one service in one transaction, print."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from decimal import Decimal

import click
from click.core import ParameterSource

from tracker import cases as svc
from tracker.advice import case_advice
from tracker.cli.common import (
    CASE_ID,
    DATE,
    DURATION,
    MAX_ID,
    WHEN,
    ChoiceType,
    ValidatedType,
    case_change,
    masked_change,
    not_a_card_option,
    output_option,
    store,
    view_option,
)
from tracker.errors import UsageError
from tracker.files import open_output
from tracker.letter import KINDS as LETTER_KINDS
from tracker.letter import render_letter
from tracker.models import utcnow
from tracker.values import parse_amount, parse_currency, parse_last4
from tracker.views import View
from tracker.vocabulary import CATEGORIES, CHANNELS, LEVELS, REFERENCE_KINDS, STATUSES
from tracker.when import format_local, local_zone

CATEGORY = ChoiceType("category", CATEGORIES)
CHANNEL = ChoiceType("channel", CHANNELS)


@click.group()
def case() -> None:
    """Cases: one problem with one organization, from opening to resolution.

    \b
    Examples:
      tracker case open "Card lost in Lisbon" --org "American Express" --category lost_stolen
      tracker case note 1 "Statement shows the charge twice."
      tracker case list --status all
      tracker case show 1
    """


@case.command("open")
@click.argument("title")
@click.option("--org", "organization", metavar="NAME", help="The organization (created if new).")
@click.option(
    "--category",
    type=CATEGORY,
    default="other",
    show_default=True,
    help="Why you contact them: " + ", ".join(CATEGORIES) + ".",
)
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
@click.option("--merchant", metavar="TEXT", help="The merchant of the disputed transaction.")
@click.option("--txn-date", "txn_date", type=DATE, help="The transaction date, e.g. 2026-11-02.")
@click.option(
    "--ref",
    "refs",
    multiple=True,
    metavar="REF",
    help="A reference number the organization gave (repeatable).",
)
@not_a_card_option
@click.option("--note", metavar="TEXT", help="A first note.")
@click.option(
    "--follow-up",
    "follow_up",
    type=WHEN,
    metavar="WHEN",
    help="Remind me then, e.g. 'tomorrow 9am' or 3d.",
)
@view_option
def open_(
    title: str,
    organization: str | None,
    category: str,
    account: str | None,
    amount: Decimal | None,
    currency: str | None,
    merchant: str | None,
    txn_date: date | None,
    refs: tuple[str, ...],
    not_a_card: bool,
    note: str | None,
    follow_up: datetime | None,
    view: View,
) -> None:
    """Open a case.

    \b
    Examples:
      tracker case open "Disputed charge at ACME Hardware" --org "American Express" \\
          --category dispute --account 1005 --amount 129.99 --currency USD \\
          --merchant "ACME Hardware" --txn-date 2026-11-02 --ref D-4471
      tracker case open "Card lost in Lisbon" --org "American Express" --category lost_stolen
    """
    if currency is not None and amount is None:
        raise UsageError("--currency needs --amount")
    with masked_change() as (session, masker):
        opened = svc.open_case(
            session,
            title=title,
            masker=masker,
            organization=organization,
            category=category,
            account_last4=account,
            amount=amount,
            currency=currency,
            merchant=merchant,
            transaction_date=txn_date,
            refs=refs,
            refs_not_cards=not_a_card,
            note=note,
            follow_up=follow_up,
        )
        case_id = opened.id
    now = utcnow()
    with store().read() as session:
        detail = svc.load_case_detail(session, case_id)
        view.case_opened(detail, now, case_advice(session, detail, moment="open"))


EDITOR_HINT = "# Write the note above this line; this line is not saved."


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _read_note(text: str | None) -> str:
    if text is not None and text != "-":
        return text
    if text == "-" or not _stdin_is_tty():
        # Bytes, decoded leniently: a note piped from a file in another encoding is kept
        # (with U+FFFD for what is not UTF-8) rather than lost to a decoding error.
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:
            return sys.stdin.read()
        return str(buffer.read().decode("utf-8", errors="replace"))
    edited = click.edit(f"\n{EDITOR_HINT}\n")
    if edited is None:
        return ""
    # Only the hint goes: a note may well have lines starting with "#" ("#4471 called").
    return "\n".join(line for line in edited.splitlines() if line.strip() != EDITOR_HINT)


@case.command("note")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("text", required=False)
def note(case_id: int, text: str | None) -> None:
    """Add a note to a case.

    TEXT "-" or omitted with a pipe on stdin: the note is read from stdin; omitted on a
    terminal: $EDITOR opens.

    \b
    Examples:
      tracker case note 1 "Statement shows the charge twice."
      echo "Second note from a pipe" | tracker case note 1
      tracker case note 1          # opens $EDITOR
    """
    body = _read_note(text)
    with case_change(case_id) as (session, found, masker):
        note_id = svc.add_note(session, found, body, masker=masker).id
    click.echo(f"Added note {note_id} to case {case_id}.")


@case.command("list")
@click.option(
    "--status",
    type=ChoiceType("status", (*STATUSES, "all")),
    help="Only this status, or all (default: open, waiting and escalated).",
)
@click.option("--org", "organization", metavar="NAME", help="Only this organization's cases.")
@click.option("--category", type=CATEGORY, help="Only this category.")
@click.option("--overdue", is_flag=True, help="Only cases with a promise past its due time.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="At most N cases.",
)
@view_option
def list_(
    status: str | None,
    organization: str | None,
    category: str | None,
    overdue: bool,
    limit: int | None,
    view: View,
) -> None:
    """List cases, most recent activity first.

    \b
    Examples:
      tracker case list
      tracker case list --status all --org "American Express"
      tracker case list --overdue --json
    """
    if limit is not None:
        limit = min(limit, MAX_ID)  # a limit past any store's size is no limit
    flt = svc.CaseFilter(
        status=status,
        organization=organization,
        category=category,
        overdue=overdue,
        limit=limit,
    )
    if organization or category or overdue or status not in (None, "all"):
        empty = "No cases match."
    elif status is None:
        empty = "No active cases (--status all shows resolved and closed ones)."
    else:
        empty = "No cases."
    now = utcnow()
    with store().read() as session:
        found = svc.list_cases(session, flt, now=now)
        view.case_list(found, svc.overdue_counts(session, [c.id for c in found], now), empty)


@case.command("show")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@view_option
def show(case_id: int, view: View) -> None:
    """Show a case and its timeline.

    \b
    Examples:
      tracker case show 1
      tracker case show 1 --json
    """
    now = utcnow()
    with store().read() as session:
        view.case_detail(svc.load_case_detail(session, case_id), now)


@case.command("contact")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--channel", type=CHANNEL, required=True, help=", ".join(CHANNELS) + ".")
@click.option("--at", type=WHEN, help="When it happened (default: now), e.g. '2 days ago'.")
@click.option(
    "--direction",
    type=click.Choice(["out", "in"]),
    default="out",
    show_default=True,
    help="out: you contacted them; in: they contacted you.",
)
@click.option("--via", metavar="NUMBER_OR_ADDRESS", help="The number, address or URL used.")
@click.option("--agent", metavar="NAME", help="The agent's name.")
@click.option("--agent-id", "agent_id", metavar="ID", help="The agent's id or badge number.")
@click.option("--duration", type=DURATION, metavar="DUR", help="How long, e.g. 23m or 1h10m.")
@click.option(
    "--ref", "refs", multiple=True, metavar="REF", help="A reference number given (repeatable)."
)
@not_a_card_option
@click.option("--summary", metavar="TEXT", help="What was discussed and agreed.")
@click.option("--promise", metavar="TEXT", help="An action promised (needs --due).")
@click.option("--due", type=WHEN, metavar="WHEN", help="When the promise is due, e.g. 10bd.")
@click.option(
    "--promised-by",
    "promised_by",
    type=click.Choice(["company", "me"]),
    default="company",
    show_default=True,
    help="Who made the promise.",
)
def contact(
    case_id: int,
    channel: str,
    at: datetime | None,
    direction: str,
    via: str | None,
    agent: str | None,
    agent_id: str | None,
    duration: timedelta | None,
    refs: tuple[str, ...],
    not_a_card: bool,
    summary: str | None,
    promise: str | None,
    due: datetime | None,
    promised_by: str,
) -> None:
    """Record one interaction: a call, chat, letter or message, with all it produced.

    \b
    Examples:
      tracker case contact 1 --channel phone --via 1-800-528-2122 --agent "Maria" \\
          --agent-id 4471 --duration 23m --ref CALL-88812 \\
          --summary "Dispute opened; charge removed pending review" \\
          --promise "Provisional credit posts to the account" --due 10bd
      tracker case contact 1 --channel chat --at "yesterday 14:00" --summary "No news"
    """
    source = click.get_current_context().get_parameter_source("promised_by")
    if promise is None and source is not ParameterSource.DEFAULT:
        raise click.UsageError("--promised-by goes with --promise")
    if (promise is None) != (due is None):
        raise UsageError("--promise and --due go together")
    if at is not None and at > utcnow() + svc.FUTURE_SLACK:
        raise UsageError(
            f"the contact time {format_local(at)} is in the future; --at says when it happened"
        )
    with case_change(case_id) as (session, found, masker):
        logged = svc.log_interaction(
            session,
            found,
            channel=channel,
            masker=masker,
            at=at,
            direction=direction,
            via=via,
            agent_name=agent,
            agent_id=agent_id,
            duration=duration,
            refs=refs,
            refs_not_cards=not_a_card,
            summary=summary,
            promise=promise,
            promise_due=due,
            promised_by=promised_by,
        )
        interaction_id = logged.id
        made = [(p.id, p.due_at) for p in found.promises if p.interaction_id == interaction_id]
        status = found.status
    click.echo(f"Logged interaction {interaction_id} on case {case_id} ({channel}).")
    for promise_id, due_at in made:
        click.echo(
            f"Promise {promise_id} recorded, due {format_local(due_at)}; "
            f"case {case_id} is {status}."
        )


@case.command("ref")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("ref")
@click.option(
    "--kind",
    type=click.Choice(REFERENCE_KINDS),
    default="other",
    show_default=True,
    help="What the number refers to.",
)
@not_a_card_option
def ref(case_id: int, ref: str, kind: str, not_a_card: bool) -> None:
    """Add a reference number to a case, exactly as given.

    A reference number is never masked: one that looks like a card number or a security
    code is refused (nothing is saved) unless --not-a-card says it is not one.

    \b
    Examples:
      tracker case ref 1 DSP-2026-99812 --kind dispute
      tracker case ref 1 "4929 1234 5678 9012" --kind claim --not-a-card
    """
    with case_change(case_id) as (session, found, _):
        added = svc.add_reference(session, found, ref, kind=kind, not_a_card=not_a_card)
        value = added.value if added else ref.strip()
    if added is None:
        click.echo(f"Case {case_id} already has reference {value}.")
    else:
        click.echo(f"Added reference {value} ({kind}) to case {case_id}.")


@case.command("promise")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("text")
@click.option("--due", type=WHEN, required=True, metavar="WHEN", help="When it is due.")
@click.option(
    "--by",
    "by",
    type=click.Choice(["company", "me"]),
    default="company",
    show_default=True,
    help="Who promised it.",
)
def promise_(case_id: int, text: str, due: datetime, by: str) -> None:
    """Record a promise: an action someone committed to, with a due time.

    \b
    Examples:
      tracker case promise 1 "Written acknowledgement of the dispute" --due "in 30 days"
      tracker case promise 1 "Send the receipts" --due fri --by me
    """
    with case_change(case_id) as (session, found, masker):
        made = svc.make_promise(session, found, text, due, masker=masker, promised_by=by)
        promise_id, status = made.id, found.status
    click.echo(
        f"Promise {promise_id} on case {case_id}, due {format_local(due)}; "
        f"case {case_id} is {status}."
    )


@case.command("follow-up")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("when", type=WHEN)
@click.argument("text", required=False)
def follow_up(case_id: int, when: datetime, text: str | None) -> None:
    """Set a follow-up: a reminder to check on the case.

    \b
    Examples:
      tracker case follow-up 1 "next monday 9am" "Check the statement for the credit"
      tracker case follow-up 1 3d
    """
    with case_change(case_id) as (session, found, masker):
        follow_up_id = svc.set_follow_up(session, found, when, text, masker=masker).id
    click.echo(f"Follow-up {follow_up_id} on case {case_id} at {format_local(when)}.")


@case.command("escalate")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option(
    "--to",
    "to",
    type=click.Choice([lvl for lvl in LEVELS if lvl != "frontline"]),
    help="The level (default: the next one up).",
)
@click.option("--note", metavar="TEXT", help="Why, or what happened.")
def escalate(case_id: int, to: str | None, note: str | None) -> None:
    """Escalate: frontline -> supervisor -> complaint -> regulator.

    \b
    Examples:
      tracker case escalate 1 --to supervisor --note "Asked for a supervisor, callback promised"
      tracker case escalate 1
    """
    with case_change(case_id) as (session, found, masker):
        svc.escalate(session, found, masker=masker, to=to, note=note)
        level = found.escalation_level
    click.echo(f"Case {case_id} escalated to {level}.")
    with store().read() as session:
        advice = case_advice(session, svc.get_case(session, case_id), moment="escalate")
    if advice:
        click.echo(advice)


@case.command("resolve")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--outcome", metavar="TEXT", help="How it ended.")
def resolve(case_id: int, outcome: str | None) -> None:
    """Mark a case resolved.

    \b
    Example:
      tracker case resolve 1 --outcome "Credit of 129.99 posted"
    """
    with case_change(case_id) as (session, found, masker):
        svc.resolve(session, found, masker=masker, outcome=outcome)
    click.echo(f"Case {case_id} resolved.")


@case.command("reopen")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
def reopen(case_id: int) -> None:
    """Reopen a resolved or closed case.

    \b
    Example:
      tracker case reopen 1
    """
    with case_change(case_id) as (session, found, _):
        svc.reopen(session, found)
        status = found.status
    click.echo(f"Case {case_id} reopened ({status}).")


@case.command("close")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
def close(case_id: int) -> None:
    """Close a case (no more contacts until it is reopened).

    \b
    Example:
      tracker case close 1
    """
    with case_change(case_id) as (session, found, _):
        svc.close(session, found)
    click.echo(f"Case {case_id} closed.")


@case.command("letter")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option(
    "--kind",
    type=click.Choice(LETTER_KINDS),
    default="complaint",
    show_default=True,
    help="A formal complaint, or a billing-error notice (FCBA).",
)
@output_option("Write to FILE (.md for Markdown, .txt for plain text); default stdout.")
def letter(case_id: int, kind: str, output: str) -> None:
    """Write a ready-to-send letter from the case history.

    \b
    Examples:
      tracker case letter 1 --kind billing-error -o letter.md
      tracker case letter 1 --kind complaint
    """
    now = utcnow()
    plain = output.endswith(".txt")
    with store().read() as session:
        text = render_letter(session, case_id, kind=kind, now=now, tz=local_zone(), plain=plain)
    with open_output(output) as stream:
        stream.write(text.encode("utf-8"))
    if output != "-":
        click.echo(f"Wrote the {kind} letter for case {case_id} to {output}.", err=True)
