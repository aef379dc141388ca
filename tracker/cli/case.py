"""`tracker case ...`: parse, call one service in one transaction, print."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from tracker import cases as svc
from tracker.advice import case_advice
from tracker.cli.common import (
    CASE_ID,
    DATE,
    DUE,
    DURATION,
    MAX_ID,
    ZONE,
    ChoiceType,
    ValidatedType,
    WhenInput,
    account_and_amount_options,
    at_option,
    case_change,
    json_requested,
    masked_change,
    not_a_card_option,
    output_option,
    store,
    view_option,
    write_command,
    write_report,
)
from tracker.errors import TrackerError, UsageError
from tracker.files import open_output
from tracker.letter import KINDS as LETTER_KINDS
from tracker.letter import kind_for, record_sent, render_case_letter
from tracker.models import Case, Promise, utcnow
from tracker.policy import load_policies
from tracker.tags import tag_case, untag_case
from tracker.values import parse_tag
from tracker.views import View
from tracker.views.case import case_detail
from tracker.views.followups import Text as FollowUpText
from tracker.views.writes import sent_letter_dict
from tracker.vocabulary import (
    ACTIVE_STATUSES,
    CATEGORIES,
    CHANNELS,
    LETTER_CHANNELS,
    LEVELS,
    REFERENCE_KINDS,
    STATUSES,
)
from tracker.when import (
    Calendar,
    Window,
    calendar_by_key,
    format_local,
    humanize_delta,
    local_zone,
)

CATEGORY = ChoiceType("category", CATEGORIES)
CHANNEL = ChoiceType("channel", CHANNELS)

DUE_HELP = (
    "e.g. 10bd, '7-10 business days', 'Dec 24', eod; counted from --at. A range is due at "
    "its end. eod after 17:00 (or on a day off) is the next business day's 17:00."
)


def _due(
    when: WhenInput, made: datetime, now: datetime, calendar: Calendar, *, backdated: bool
) -> Window:
    """A due time read from the moment the promise was made, on the case's calendar.

    One in the past is refused (beyond a few minutes' typing), unless it is backdated: what
    made it is dated with --at, or the time itself is said to be past ("3 days ago"). Then
    it is overdue at once, and the command says so (:func:`_due_words`).
    """
    window = when.resolve(made, calendar, now)
    if window.ago:  # "3 days ago": the past, said so
        return window
    if not backdated and window.end < now - svc.FUTURE_SLACK:
        raise UsageError(
            f"{when.param} {format_local(window.end)} is in the past; give a later time, or "
            "say when it happened with --at"
        )
    if backdated and window.end < made:
        raise UsageError(
            f"{when.param} {format_local(window.end)} is before {format_local(made)}, "
            "when it was set"
        )
    return window


def _due_words(promise: Promise, now: datetime) -> str:
    """'due 2026-12-15 10:00' or 'expected from 2026-12-10, due by 2026-12-15 10:00', with the
    calendar its business days used and, for a promise made after the fact, that it is late."""
    if promise.window_start is not None:
        text = (
            f"expected from {format_local(promise.window_start)[:10]}, "
            f"due by {format_local(promise.due_at)}"
        )
    else:
        text = f"due {format_local(promise.due_at)}"
    if promise.calendar:
        text += f" (business days: {calendar_by_key(promise.calendar).name})"
    if promise.due_at < now:
        text += f"; already overdue (due {humanize_delta(promise.due_at - now, precise=True)})"
    return text


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
@account_and_amount_options
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
    type=DUE,
    metavar="WHEN",
    help="Remind me then, e.g. 'tomorrow 9am' or 3d (from --at).",
)
@at_option("it began: the letter sent, the first call")
@click.option(
    "--abroad/--at-home",
    "abroad",
    default=None,
    help="You are abroad (or not) for this case: offer the international and collect "
    "numbers at every rung (default: abroad when your country in the config file differs "
    "from the organization's).",
)
@click.option(
    "--policy",
    "policy",
    metavar="NAME",
    help="The escalation policy to use, e.g. uk-fca or us-billing-error (default: by "
    "category and the organization's country).",
)
@write_command
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
    follow_up: WhenInput | None,
    at: datetime | None,
    abroad: bool | None,
    policy: str | None,
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
    if policy is not None:
        known = load_policies().policies
        if policy not in known:
            raise UsageError(f"unknown --policy '{policy}'; choose one of: {', '.join(known)}")
    now = utcnow()
    with masked_change() as (session, masker):
        remind = None
        if follow_up is not None:
            calendar = svc.calendar_for_organization(session, organization)
            remind = _due(follow_up, at or now, now, calendar, backdated=at is not None).end
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
            follow_up=remind,
            abroad=abroad,
            policy=policy,
            at=at,
            now=now,
        )
        case_id = opened.id
    with store().read() as session:
        # The whole detail (ten queries) only for --json, which prints it; the text needs
        # the case row (and the directory, for the advice).
        wanted = json_requested()
        found = svc.load_case_detail(session, case_id) if wanted else svc.get_case(session, case_id)
        advice = case_advice(session, found, moment="open")
        click.echo(f"Opened case {case_id}: {found.title}")
        if advice:
            click.echo(advice)
        if wanted:  # --json: the case's whole detail too, as case open --json always printed it
            write_report().add(**case_detail(found, now), advice=advice)


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
@at_option("it was written down")
@write_command
def note(case_id: int, text: str | None, at: datetime | None) -> None:
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
        note_id = svc.add_note(session, found, body, masker=masker, at=at).id
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
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    type=ValidatedType("tag", parse_tag),
    help="Only cases with this tag (repeatable: cases with all of them).",
)
@view_option
def list_(
    status: str | None,
    organization: str | None,
    category: str | None,
    overdue: bool,
    limit: int | None,
    tags: tuple[str, ...],
    view: View,
) -> None:
    """List cases, most recent activity first.

    \b
    Examples:
      tracker case list
      tracker case list --status all --org "American Express"
      tracker case list --tag travel --tag urgent
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
        tags=tags,
    )
    if organization or category or overdue or tags or status not in (None, "all"):
        empty = "No cases match."
    elif status is None:
        empty = "No active cases (--status all shows resolved and closed ones)."
    else:
        empty = "No cases."
    now = utcnow()
    with store().read() as session:
        found = svc.list_cases(session, flt, now=now)
        statuses = ACTIVE_STATUSES if status is None else None if status == "all" else (status,)
        counts = svc.overdue_counts(session, [c.id for c in found], now, statuses=statuses)
    view.case_list(found, counts, empty)


@case.command("show")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option(
    "--tz",
    "zone",
    type=ZONE,
    metavar="ZONE",
    help="Show the times in this zone, e.g. Europe/London (default: time_zone in the config "
    "file, else TZ, else the system's).",
)
@view_option
def show(case_id: int, zone: tzinfo | None, view: View) -> None:
    """Show a case and its timeline, with the zone its times are in.

    \b
    Examples:
      tracker case show 1
      tracker case show 1 --tz America/New_York
      tracker case show 1 --json
    """
    now = utcnow()
    with store().read() as session:
        view.case_detail(svc.load_case_detail(session, case_id), now, zone or local_zone())


@case.command("contact")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--channel", type=CHANNEL, required=True, help=", ".join(CHANNELS) + ".")
@at_option("it happened")
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
@click.option(
    "--summary", metavar="TEXT", help="What was discussed and agreed ('-': read it from stdin)."
)
@click.option(
    "--transcript",
    type=click.Path(allow_dash=True),  # not checked here: read (and refused) as evidence is
    metavar="FILE",
    help="A chat transcript (text or HTML; '-': from stdin), kept as evidence with card "
    "numbers masked; the contact's agent, times, references and promises are read from it.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="With --transcript: save what it found without asking (needed without a terminal).",
)
@click.option("--promise", metavar="TEXT", help="An action promised (needs --due).")
@click.option("--due", type=DUE, metavar="WHEN", help="When the promise is due, " + DUE_HELP)
@click.option(
    "--promised-by",
    "promised_by",
    type=click.Choice(["company", "me"]),
    default="company",
    show_default=True,
    help="Who made the promise.",
)
@write_command
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
    transcript: str | None,
    yes: bool,
    promise: str | None,
    due: WhenInput | None,
    promised_by: str,
) -> None:
    """Record one interaction: a call, chat, letter or message, with all it produced.

    A relative --due (10bd, 8w, '7-10 business days') counts from --at, on the holiday
    calendar of the organization's country (else yours, from the config file).

    --transcript FILE reads a chat transcript: the agent (the human one after a bot's
    hand-over), when it started and how long it lasted, the reference numbers given
    (kept exactly) and the sentences that promise something with a time ("a credit within
    7-10 business days") as promises. On a terminal it shows what it found and asks before
    saving; --yes saves without asking. A flag given wins over what was found (--agent,
    --agent-id, --at, --duration, --summary; --ref and --promise replace the ones found).
    The transcript is kept as the contact's attachment, with card numbers masked.

    \b
    Examples:
      tracker case contact 1 --channel phone --via 1-800-528-2122 --agent "Maria" \\
          --agent-id 4471 --duration 23m --ref CALL-88812 \\
          --summary "Dispute opened; charge removed pending review" \\
          --promise "Provisional credit posts to the account" --due 10bd
      tracker case contact 1 --channel chat --at "yesterday 14:00" --summary "No news"
      tracker case contact 1 --channel chat --transcript chat.txt
      pbpaste | tracker case contact 1 --channel chat --transcript - --yes
      tracker case contact 1 --channel phone --summary - < call-notes.txt
    """
    source = click.get_current_context().get_parameter_source("promised_by")
    if promise is None and source is not ParameterSource.DEFAULT:
        raise click.UsageError("--promised-by goes with --promise")
    if (promise is None) != (due is None):
        raise UsageError("--promise and --due go together")
    if summary == "-" and transcript == "-":
        raise UsageError("--summary and --transcript cannot both read stdin ('-'); give one a file")
    if yes and transcript is None:
        raise UsageError("--yes goes with --transcript")
    now = utcnow()
    if at is not None and at > now + svc.FUTURE_SLACK:
        raise UsageError(
            f"the contact time {format_local(at)} is in the future; --at says when it happened"
        )
    if summary == "-":
        summary = _read_note("-")
        if not summary.strip():
            raise UsageError("the summary read from stdin is empty; nothing was saved")
    if transcript is not None:
        _transcript_contact(
            case_id,
            transcript,
            yes=yes,
            channel=channel,
            at=at,
            direction=direction,
            via=via,
            agent=agent,
            agent_id=agent_id,
            duration=duration,
            refs=refs,
            not_a_card=not_a_card,
            summary=summary,
            promise=promise,
            due=due,
            promised_by=promised_by,
        )
        return
    with case_change(case_id) as (session, found, masker):
        window = None
        if due is not None:
            calendar = svc.case_calendar(found)
            window = _due(due, at or now, now, calendar, backdated=at is not None)
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
            promise_due=window.end if window else None,
            promised_by=promised_by,
            promise_window_start=window.start if window else None,
            promise_calendar=_calendar_key(window, found),
            now=now,
        )
        interaction_id = logged.id
        made = [
            (p.id, _due_words(p, now)) for p in found.promises if p.interaction_id == interaction_id
        ]
        status = found.status
    click.echo(f"Logged interaction {interaction_id} on case {case_id} ({channel}).")
    for promise_id, words in made:
        click.echo(f"Promise {promise_id} recorded, {words}; case {case_id} is {status}.")


def _transcript_contact(
    case_id: int,
    path: str,
    *,
    yes: bool,
    channel: str,
    at: datetime | None,
    due: WhenInput | None,
    **fields: Any,
) -> None:
    # The parser and the evidence store load only for a transcript.
    import tracker.cli.transcript as chat

    resolve = None
    if due is not None:
        given = due

        def resolve(anchor: datetime, calendar: Calendar, now: datetime) -> Window:
            # Dated by --at or by the transcript's own times: after the fact, as --at is.
            backdated = at is not None or anchor < now - svc.FUTURE_SLACK
            return _due(given, anchor, now, calendar, backdated=backdated)

    interaction_id, promise_ids, kept = chat.contact(
        case_id,
        path=path,
        yes=yes,
        ask=_stdin_is_tty() and path != "-",
        channel=channel,
        at=at,
        resolve_due=resolve,
        **fields,
    )
    now = utcnow()
    with store().read() as session:
        found = svc.get_case(session, case_id)
        made = [(p.id, _due_words(p, now)) for p in found.promises if p.id in promise_ids]
        status = found.status
    click.echo(f"Logged interaction {interaction_id} on case {case_id} ({channel}).")
    for promise_id, words in made:
        click.echo(f"Promise {promise_id} recorded, {words}; case {case_id} is {status}.")
    click.echo(kept)


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
@at_option("it was given")
@write_command
def ref(case_id: int, ref: str, kind: str, not_a_card: bool, at: datetime | None) -> None:
    """Add a reference number to a case, exactly as given.

    A reference number is never masked: one that looks like a card number or a security
    code is refused (nothing is saved) unless --not-a-card says it is not one.

    \b
    Examples:
      tracker case ref 1 DSP-2026-99812 --kind dispute
      tracker case ref 1 "4929 1234 5678 9012" --kind claim --not-a-card
    """
    with case_change(case_id) as (session, found, _):
        added = svc.add_reference(session, found, ref, kind=kind, not_a_card=not_a_card, at=at)
        value = added.value if added else ref.strip()
    if added is None:
        click.echo(f"Case {case_id} already has reference {value}.")
    else:
        click.echo(f"Added reference {value} ({kind}) to case {case_id}.")


@case.command("promise")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("text")
@click.option("--due", type=DUE, required=True, metavar="WHEN", help="When it is due, " + DUE_HELP)
@click.option(
    "--by",
    "by",
    type=click.Choice(["company", "me"]),
    default="company",
    show_default=True,
    help="Who promised it.",
)
@at_option("it was promised")
@write_command
def promise_(case_id: int, text: str, due: WhenInput, by: str, at: datetime | None) -> None:
    """Record a promise: an action someone committed to, with a due time.

    \b
    Examples:
      tracker case promise 1 "Written acknowledgement of the dispute" --due "in 30 days"
      tracker case promise 1 "Credit posts" --due "7-10 business days" --at "2026-11-20 10:00"
      tracker case promise 1 "Send the receipts" --due fri --by me
    """
    now = utcnow()
    with case_change(case_id) as (session, found, masker):
        window = _due(due, at or now, now, svc.case_calendar(found), backdated=at is not None)
        made = svc.make_promise(
            session,
            found,
            text,
            window.end,
            masker=masker,
            promised_by=by,
            window_start=window.start,
            calendar=_calendar_key(window, found),
            at=at,
            now=now,
        )
        promise_id, status, words = made.id, found.status, _due_words(made, now)
    click.echo(f"Promise {promise_id} on case {case_id}, {words}; case {case_id} is {status}.")


def _calendar_key(window: Window | None, case: Case) -> str | None:
    """The calendar a due time's business days were counted on (None: it used none)."""
    if window is None or not window.business_days:
        return None
    return svc.case_calendar(case).key


@case.command("follow-up")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("when", type=DUE)
@click.argument("text", required=False)
@write_command
def follow_up(case_id: int, when: WhenInput, text: str | None) -> None:
    """Set a follow-up: a reminder to check on the case.

    \b
    Examples:
      tracker case follow-up 1 "next monday 9am" "Check the statement for the credit"
      tracker case follow-up 1 3d
    """
    now = utcnow()
    with case_change(case_id) as (session, found, masker):
        due = _due(when, now, now, svc.case_calendar(found), backdated=False).end
        follow_up_id = svc.set_follow_up(session, found, due, text, masker=masker, now=now).id
    late = f" (already due, {humanize_delta(due - now, precise=True)})" if due < now else ""
    click.echo(f"Follow-up {follow_up_id} on case {case_id} at {format_local(due)}{late}.")


@case.command("tag")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@write_command
def tag(case_id: int, tags: tuple[str, ...]) -> None:
    """File a case under one or more tags (lower case, one word each, e.g. travel).

    A tag the case already has is left as it is (and said so). `tracker case list --tag`
    finds the cases; `tracker undo` takes the tags off again.

    \b
    Examples:
      tracker case tag 1 travel urgent
      tracker case tag 1 billing --json
    """
    with case_change(case_id) as (session, found, _):
        changed = tag_case(session, found, tags)
    write_report().add(
        tags=changed.tags, tags_added=changed.changed, tags_unchanged=changed.unchanged
    )
    FollowUpText().case_tagged(changed)


@case.command("untag")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@write_command
def untag(case_id: int, tags: tuple[str, ...]) -> None:
    """Take tags off a case (a tag it does not have is said so, and nothing changes).

    \b
    Examples:
      tracker case untag 1 urgent
      tracker case untag 1 urgent travel --json
    """
    with case_change(case_id) as (session, found, _):
        changed = untag_case(session, found, tags)
    write_report().add(
        tags=changed.tags, tags_removed=changed.changed, tags_unchanged=changed.unchanged
    )
    FollowUpText().case_untagged(changed)


@case.command("escalate")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option(
    "--to",
    "to",
    type=click.Choice([lvl for lvl in LEVELS if lvl != "frontline"]),
    help="The level (default: the next one up).",
)
@click.option("--note", metavar="TEXT", help="Why, or what happened.")
@at_option("it happened: the complaint letter sent, the referral made")
@write_command
def escalate(case_id: int, to: str | None, note: str | None, at: datetime | None) -> None:
    """Escalate: frontline -> supervisor -> complaint -> regulator.

    The escalation clocks (the FCA's 8 weeks, the CFPB's 15 days) start at --at.

    \b
    Examples:
      tracker case escalate 1 --to supervisor --note "Asked for a supervisor, callback promised"
      tracker case escalate 1 --to complaint --at 2026-10-02 --note "Complaint letter posted"
      tracker case escalate 1
    """
    with case_change(case_id) as (session, found, masker):
        svc.escalate(session, found, masker=masker, to=to, note=note, at=at)
        level = found.escalation_level
    click.echo(f"Case {case_id} escalated to {level}.")
    with store().read() as session:
        advice = case_advice(session, svc.get_case(session, case_id), moment="escalate")
    if advice:
        click.echo(advice)
    write_report().add(advice=advice)


@case.command("resolve")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--outcome", metavar="TEXT", help="How it ended.")
@at_option("it was resolved")
@write_command
def resolve(case_id: int, outcome: str | None, at: datetime | None) -> None:
    """Mark a case resolved.

    \b
    Example:
      tracker case resolve 1 --outcome "Credit of 129.99 posted"
    """
    with case_change(case_id) as (session, found, masker):
        svc.resolve(session, found, masker=masker, outcome=outcome, at=at)
    click.echo(f"Case {case_id} resolved.")


@case.command("reopen")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@at_option("it was reopened")
@write_command
def reopen(case_id: int, at: datetime | None) -> None:
    """Reopen a resolved or closed case.

    \b
    Example:
      tracker case reopen 1
    """
    with case_change(case_id) as (session, found, _):
        svc.reopen(session, found, at=at)
        status = found.status
    click.echo(f"Case {case_id} reopened ({status}).")


@case.command("close")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@at_option("it was closed")
@write_command
def close(case_id: int, at: datetime | None) -> None:
    """Close a case (no more contacts until it is reopened).

    \b
    Example:
      tracker case close 1
    """
    with case_change(case_id) as (session, found, _):
        svc.close(session, found, at=at)
    click.echo(f"Case {case_id} closed.")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TrackerError(f"cannot read {path}: {exc.strerror or exc}") from None


@case.command("letter")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option(
    "--kind",
    type=click.Choice(LETTER_KINDS),
    default=None,
    help="A formal complaint, a billing-error notice (FCBA), or a letter to the regulator "
    "or ombudsman (default: the regulator letter at the regulator level, else a complaint).",
)
@output_option("Write to FILE (.md for Markdown, .txt for plain text); default stdout.")
@click.option(
    "--sent",
    is_flag=True,
    help="Record the letter as sent: an outgoing contact with the letter kept as evidence "
    "(SHA-256), and the clocks it starts (see README.md, Letters).",
)
@click.option(
    "--via",
    type=click.Choice(LETTER_CHANNELS),
    default=None,
    help="How it was sent (with --sent; default mail).",
)
@click.option(
    "--tracking",
    metavar="NUMBER",
    help="The post's tracking number (with --sent): kept as a reference, exactly as typed.",
)
@not_a_card_option
@click.option(
    "--copy",
    "copy_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="FILE",
    help="The copy you sent (your signed PDF, your edited text), kept instead of the "
    "letter as written (with --sent).",
)
@at_option("it was sent (with --sent)")
@write_command
def letter(
    case_id: int,
    kind: str | None,
    output: str,
    sent: bool,
    via: str | None,
    tracking: str | None,
    not_a_card: bool,
    copy_file: Path | None,
    at: datetime | None,
) -> None:
    """Write a ready-to-send letter from the case history; --sent records it as sent.

    Dates and money are written for the organization's country (December 1, 2026 and
    $129.99 in the US; 1 December 2026 and £129.99 in the UK); the sender is your name and
    address from `tracker config`. The wording is a template you can replace: see
    README.md, "Letters".

    With --sent, the letter (as written for the day it was sent, or --copy) is kept as
    evidence on an outgoing mail or email contact, --tracking as a reference, all as one
    change (tracker undo). A complaint or a regulator letter puts the case on that rung
    that day, so the FCA's 8 weeks or the CFPB's clocks count from it; a billing-error
    notice starts the FCBA's 30 and 90 days.

    \b
    Examples:
      tracker case letter 1 --kind billing-error -o letter.md
      tracker case letter 1 --kind complaint
      tracker case letter 1 --kind regulator -o to-the-ombudsman.txt
      tracker case letter 1 --kind billing-error --sent --via mail \\
          --tracking 9407111899223197428490
      tracker case letter 1 --kind complaint --sent --at "2026-12-01 10:00" --copy signed.pdf
    """
    ctx = click.get_current_context()
    if not sent:
        given = [
            name
            for name, flag in (
                ("--via", "via"), ("--tracking", "tracking"), ("--copy", "copy_file"),
                ("--at", "at"), ("--json", "write_json"),
            )
            if ctx.params.get(flag) is not None and ctx.params.get(flag) is not False
        ]  # fmt: skip
        if given:
            raise click.UsageError(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} "
                                   "with --sent")  # fmt: skip
    now = utcnow()
    plain = output.endswith(".txt")
    if not sent:
        with store().read() as session:
            found = svc.load_case_detail(session, case_id)
            kind = kind_for(found, kind)
            text = render_case_letter(
                session, found, kind=kind, now=now, tz=local_zone(), plain=plain
            )
        with open_output(output) as stream:
            stream.write(text.encode("utf-8"))
        if output != "-":
            click.echo(f"Wrote the {kind} letter for case {case_id} to {output}.", err=True)
        return
    copy = (_read(copy_file), copy_file.name) if copy_file is not None else None
    with case_change(case_id) as (session, _, masker):
        found = svc.load_case_detail(session, case_id)
        done = record_sent(
            session, found, kind=kind, channel=via or "mail", masker=masker, tz=local_zone(),
            at=at, tracking=tracking, tracking_not_a_card=not_a_card, copy=copy, plain=plain,
            now=now,
        )  # fmt: skip
        if output != "-":
            text = render_case_letter(
                session, found, kind=done.kind, now=now, tz=local_zone(), plain=plain,
                dated=done.at,
            )  # fmt: skip
            with open_output(output) as stream:
                stream.write(text.encode("utf-8"))
        attachment = done.attachment
        write_report().add(letter=sent_letter_dict(done))
        lines = [
            f"Recorded the {done.kind} letter for case {case_id} as sent by "
            f"{done.interaction.channel} on {format_local(done.at)} "
            f"(contact {done.interaction.id})"
            + (f", tracking number {done.tracking.value}." if done.tracking else "."),
            f"Kept it as evidence: {attachment.filename} ({attachment.size} bytes, "
            f"SHA-256 {attachment.sha256}).",
        ]
        if done.escalated_to:
            lines.append(f"Case {case_id} is now at the {done.escalated_to} level.")
        if done.clocks:
            lines.append("Clocks that count from it:")
            lines += [f"  {format_local(c.at)[:10]}  {c.why} ({c.id})" for c in done.clocks]
    click.echo("\n".join(lines))
    if output != "-":
        click.echo(f"Wrote the {done.kind} letter for case {case_id} to {output}.", err=True)
