"""`case contact --transcript FILE`: a chat transcript read, shown, confirmed and kept.

Loaded only when --transcript is given (the parser and the evidence store are not on the
path of any other command). What the transcript says is worked out before anything is
written, outside any transaction: the question is asked with no store locked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import click

from tracker import cases as svc
from tracker import evidence
from tracker.cli.common import case_change, store, warn
from tracker.config import settings
from tracker.errors import CaseNotActive, UsageError
from tracker.history import begin_change
from tracker.models import Case, utcnow
from tracker.redact import Masker
from tracker.transcript import Capture, Transcript, looks_like_html, parse, place
from tracker.values import reference, size_in_words
from tracker.views.transcript import findings
from tracker.vocabulary import ACTIVE_STATUSES
from tracker.when import Calendar, Window, format_local, local_zone

STDIN_NAME = "transcript.txt"

DueResolver = Callable[[datetime, Calendar, datetime], Window]
"""The explicit --due, read from the contact's time on the case's calendar."""


def read_input(path: str) -> tuple[bytes, str]:
    """The transcript's bytes and the name it is kept under ('-': stdin)."""
    if path == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        # A text stream (tests) has no buffer: its text, as UTF-8.
        data = sys.stdin.read().encode("utf-8") if buffer is None else bytes(buffer.read())
        html = looks_like_html(data[:4096].decode("utf-8", errors="replace"))
        return data, STDIN_NAME.replace(".txt", ".html") if html else STDIN_NAME
    try:
        return Path(path).read_bytes(), path
    except IsADirectoryError:
        raise UsageError(f"the transcript {path} is a folder, not a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read the transcript {path}: {exc.strerror or exc}") from None


def _summary(found: Transcript, filename: str) -> str:
    """'Chat transcript chat.txt: Virtual Assistant (bot), then Priya. I asked: ...'."""
    text = f"Chat transcript {Path(filename).name}"
    people = []
    if found.bots:
        people.append(", ".join(f"{b} (bot)" for b in found.bots))
    if found.agents:
        people.append(", ".join(found.agents))
    if people:
        text += ": " + ", then ".join(people)
    asked = next((m.text for m in found.messages if m.role == "user"), None)
    if asked:
        first = " ".join(asked.split())
        text += f'. I asked: "{first[:160]}{"..." if len(first) > 160 else ""}"'
    return text


def build(
    case: Case,
    *,
    data: bytes,
    filename: str,
    masker: Masker,
    at: datetime | None,
    agent: str | None,
    agent_id: str | None,
    duration: timedelta | None,
    refs: tuple[str, ...],
    not_a_card: bool,
    summary: str | None,
    promise: str | None,
    promised_by: str,
    resolve_due: DueResolver | None,
    now: datetime,
) -> Capture:
    """Read the transcript and lay the flags over what it says; UsageError for what cannot
    be saved (a card-like reference, a date it cannot read), before anything is asked."""
    prepared = evidence.prepare(data, filename, masker=masker, what="the transcript")
    codec = evidence.text_codec(data)
    if prepared.readable != "text" or codec is None:
        raise UsageError(
            f"the transcript {Path(filename).name} is not text ({prepared.media_type}); save "
            "the chat as a text or HTML file (attach other files with case attach)"
        )
    mine = settings()
    zone = local_zone()
    me = [name for name in (getattr(mine, "name", None),) if isinstance(name, str) and name]
    text = data.decode("utf-8-sig" if codec == "utf-8" else codec)
    found = parse(text, order=mine.order, today=now.astimezone(zone).date(), me=me)
    if not any(m.speaker for m in found.messages):
        raise UsageError(
            f"found no chat messages in {Path(filename).name} (lines such as 'Agent: ...' or "
            "'[14:02] Jessica: ...'); nothing was saved"
        )
    calendar = svc.case_calendar(case)
    placed = place(found, zone=zone, calendar=calendar, order=mine.order, at=at, now=now)
    given = {
        name
        for name, value in (
            ("at", at),
            ("agent", agent),
            ("agent id", agent_id),
            ("duration", duration),
            ("summary", summary),
            ("references", refs or None),
            ("promises", promise),
        )
        if value is not None
    }
    contact_at = at or placed.at
    if contact_at is not None and contact_at > now + svc.FUTURE_SLACK:
        raise UsageError(
            f"the transcript starts at {format_local(contact_at)}, in the future; say when "
            "the chat was with --at"
        )
    found_refs = [(r.value, r.kind) for r in found.references]
    chosen_refs = [(r, None) for r in refs] if refs else found_refs
    # Checked now, before the question: a card-like one refuses the contact, as --ref does.
    ref_values = [reference(value, not_a_card=not_a_card) for value, _ in chosen_refs]
    ref_kinds = {reference(v, not_a_card=not_a_card): k for v, k in chosen_refs if k}
    made: list[svc.NewPromise] = []
    if promise is not None and resolve_due is not None:
        window = resolve_due(contact_at or now, calendar, now)
        made.append(
            svc.NewPromise(
                promise,
                window.end,
                promised_by,
                window.start,
                calendar.key if window.business_days else None,
            )
        )
    else:
        for p in placed.promises:
            made.append(
                svc.NewPromise(
                    p.text, p.due, p.by, p.window_start, calendar.key if p.business_days else None
                )
            )
    return Capture(
        filename=evidence.clean_filename(filename, masker),
        prepared=prepared,
        found=found,
        placed=placed,
        at=contact_at,
        agent=agent if agent is not None else (", ".join(found.agents)[:200] or None),
        agent_id=agent_id if agent_id is not None else found.agent_id,
        duration=duration if duration is not None else found.duration,
        summary=summary if summary is not None else _summary(found, filename),
        refs=ref_values,
        ref_kinds=ref_kinds,
        promises=made,
        given=given,
    )


def contact(
    case_id: int,
    *,
    path: str,
    yes: bool,
    ask: bool,
    channel: str,
    direction: str,
    via: str | None,
    at: datetime | None,
    agent: str | None,
    agent_id: str | None,
    duration: timedelta | None,
    refs: tuple[str, ...],
    not_a_card: bool,
    summary: str | None,
    promise: str | None,
    promised_by: str,
    resolve_due: DueResolver | None,
) -> tuple[int, list[int], str]:
    """Read, show, confirm (unless `yes`) and save: the interaction's id, the promises',
    and what became of the file."""
    if not yes and not ask:
        raise UsageError(
            "a transcript's findings are confirmed on a terminal; add --yes to save what it "
            "found without asking"
        )
    data, filename = read_input(path)
    file_masker = Masker()
    now = utcnow()
    with store().read() as session:
        case = svc.get_case(session, case_id)
        if case.status not in ACTIVE_STATUSES:
            raise CaseNotActive(case.id, case.status, "log a contact")
        capture = build(
            case,
            data=data,
            filename=filename,
            masker=file_masker,
            at=at,
            agent=agent,
            agent_id=agent_id,
            duration=duration,
            refs=refs,
            not_a_card=not_a_card,
            summary=summary,
            promise=promise,
            promised_by=promised_by,
            resolve_due=resolve_due,
            now=now,
        )
    for line in findings(capture, now, local_zone()):
        click.echo(line, err=True)
    if not yes and not click.confirm("Save this contact?", default=True, err=True):
        click.echo("Nothing was saved.", err=True)
        click.get_current_context().exit(1)
    with case_change(case_id) as (session, found, masker):
        log = begin_change(session, f"case contact {case_id} ({channel}, transcript)", now=now)
        interaction = svc.log_interaction(
            session,
            found,
            channel=channel,
            masker=masker,
            at=capture.at,
            direction=direction,
            via=via,
            agent_name=capture.agent,
            agent_id=capture.agent_id,
            duration=capture.duration,
            refs=capture.refs,
            refs_not_cards=not_a_card,
            summary=capture.summary,
            promises=capture.promises,
            ref_kinds=capture.ref_kinds,
            log=log,
            now=now,
        )
        attachment = evidence.attach(
            session,
            found,
            capture.prepared,
            filename=capture.filename,
            kind="transcript",
            log=log,
            interaction=interaction,
        )
        promise_ids = [p.id for p in found.promises if p.interaction_id == interaction.id]
        interaction_id, attachment_id = interaction.id, attachment.id
    warn(file_masker.warning)
    size = size_in_words(capture.prepared.size)
    masked = capture.prepared.masked
    note = f"; card data masked in it: {masked}" if masked else ""
    kept = f"Kept the transcript as attachment {attachment_id} ({capture.filename}, {size}{note})."
    return interaction_id, promise_ids, kept
