"""`tracker import email`: emails recorded as email interactions, with their files kept as
evidence. Joins the `import` group when it loads (tracker.cli.EXTENSIONS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click
from sqlalchemy import select

from tracker import cases as svc
from tracker import evidence
from tracker.cases import get_case
from tracker.cli.common import CASE_ID, masked_change, write_command, write_report
from tracker.cli.evidence import read_file
from tracker.cli.export import import_
from tracker.config import settings
from tracker.errors import TrackerError, UsageError
from tracker.history import ChangeLog, begin_change
from tracker.mail import MAX_BODY, Message, cases_named, read_message, split_mailbox
from tracker.models import Attachment, utcnow
from tracker.redact import Masker, mask
from tracker.vocabulary import ACTIVE_STATUSES


@dataclass
class _File:
    filename: str
    kind: str
    prepared: evidence.Prepared


@dataclass
class _Ready:
    message: Message
    message_id: str
    raw: _File
    files: list[_File]
    masker: Masker


def _prepare(message: Message) -> _Ready:
    """Everything a message will store, checked; UsageError refuses the message."""
    if message.at is None:
        raise UsageError("it has no Date that can be read; nothing of it was saved")
    masker = Masker()
    what = "the message"
    stem = (message.subject or "message").replace("/", "-").replace("\\", "-")[:120]
    name = evidence.clean_filename(f"{stem}.eml", masker)
    raw = evidence.prepare(message.raw, name, masker=masker, what=what)
    files = []
    for filename, data in message.files:
        clean = evidence.clean_filename(filename, masker)
        try:
            prepared = evidence.prepare(data, clean, masker=masker, what=clean)
        except UsageError as exc:
            raise UsageError(f"its attachment: {exc}; nothing of the message was saved") from None
        files.append(_File(clean, evidence.infer_kind(prepared, clean), prepared))
    # A message without a Message-ID is known by its content instead.
    found_id = message.message_id or f"<sha256:{raw.original_sha256}>"
    return _Ready(message, found_id, _File(name, "email", raw), files, masker)


def _summary(message: Message) -> str | None:
    """The subject, then the body on one line (the message keeps its lines)."""
    body = " ".join(message.body.split())
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY].rstrip() + " [...]"
    text = " - ".join(part for part in (message.subject, body) if part)
    return text or None


@import_.command("email")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--case",
    "case_id",
    type=CASE_ID,
    metavar="CASE",
    help="Record every message on this case (default: the case whose reference number "
    "the subject or body names).",
)
@write_command
def import_email(files: tuple[str, ...], case_id: int | None) -> int:
    """Record emails (.eml files, or an mbox of many) as email interactions.

    Each message goes on the case whose reference number appears in its subject or body
    (or on --case CASE), at its Date, as an email from the company (in), or to it (out)
    when From is your own address (`email` in the config file). Its subject and body (HTML
    as text) are the summary; the message itself is kept as an `email` attachment, masked
    part by part, and the files it carries are kept as evidence (a PDF that shows a card
    number refuses its message). A message already recorded (the same Message-ID) is
    skipped. A message that cannot be placed (no case named, no readable Date) is refused
    with an Error line, the others still imported; then the exit code is 2. All the
    messages imported are one change (`tracker undo` takes them back).

    \b
    Examples:
      tracker import email refund-promise.eml
      tracker import email ~/Mail/amex.mbox --case 1
    """
    mine = (settings().email or "").lower()
    refused: list[tuple[str, str]] = []
    ready: list[_Ready] = []
    for path in files:
        for source, raw in split_mailbox(read_file(path), path):
            try:
                ready.append(_prepare(read_message(raw, source)))
            except UsageError as exc:
                refused.append((source, str(exc)))
    imported: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    now = utcnow()
    with masked_change() as (session, _):
        log: ChangeLog | None = None
        seen: set[str] = set()
        for item in ready:
            message = item.message
            known = select(Attachment.id).where(Attachment.message_id == item.message_id)
            if item.message_id in seen or session.scalar(known.limit(1)) is not None:
                skipped.append({"source": message.source, "message_id": item.message_id})
                continue
            target = _case_for(session, message, case_id)
            if isinstance(target, str):
                refused.append((message.source, target))
                continue
            case = get_case(session, target, for_update=True)
            if case.status not in ACTIVE_STATUSES:
                refused.append(
                    (message.source, f"case {case.id} is {case.status}; reopen it first")
                )
                continue
            assert message.at is not None
            if message.at > now + svc.FUTURE_SLACK:
                refused.append((message.source, "its Date is in the future"))
                continue
            seen.add(item.message_id)
            log = log or begin_change(session, f"import email {' '.join(files)}", now=now)
            outgoing = bool(mine) and (message.from_address or "").lower() == mine
            via = (
                (message.to_addresses[0] if message.to_addresses else None)
                if outgoing
                else (message.from_address)
            )
            contact = svc.log_interaction(
                session,
                case,
                channel="email",
                masker=item.masker,
                at=message.at,
                direction="out" if outgoing else "in",
                via=via,
                agent_name=None if outgoing else message.from_name,
                summary=_summary(message),
                now=now,
                log=log,
            )
            rows = []
            for file, message_id in [(item.raw, item.message_id)] + [(f, None) for f in item.files]:
                row = evidence.attach(
                    session,
                    case,
                    file.prepared,
                    filename=file.filename,
                    kind=file.kind,
                    log=log,
                    interaction=contact,
                    at=message.at,
                    message_id=message_id,
                )
                rows.append(row.id)
            imported.append(
                {
                    "source": message.source,
                    "message_id": item.message_id,
                    "case_id": case.id,
                    "interaction_id": contact.id,
                    "attachment_ids": rows,
                    "direction": contact.direction,
                    "warnings": [w for w in (item.masker.warning, item.raw.prepared.warning) if w],
                }
            )
    for done in imported:
        files_note = len(done["attachment_ids"]) - 1
        extra = f", {files_note} file{'s' if files_note != 1 else ''} kept" if files_note else ""
        click.echo(
            f"Imported {done['source']} as interaction {done['interaction_id']} on case "
            f"{done['case_id']} (email {done['direction']}{extra})."
        )
        for warning in done["warnings"]:
            click.echo(f"Warning: {done['source']}: {mask(warning)}", err=True)
    for gone in skipped:
        click.echo(f"Skipped {gone['source']}: already recorded ({gone['message_id']}).")
    for source, reason in refused:
        click.echo(f"Error: {mask(source)}: {mask(reason)}", err=True)
    write_report().add(
        imported=imported,
        skipped=skipped,
        refused=[{"source": mask(s), "reason": mask(r)} for s, r in refused],
    )
    return 2 if refused else 0


def _case_for(session: Any, message: Message, forced: int | None) -> int | str:
    """The case a message goes on, or why there is none."""
    if forced is not None:
        try:
            return get_case(session, forced).id
        except TrackerError as exc:
            return str(exc)
    found = cases_named(session, message.subject, message.body)
    if not found:
        return (
            "no reference number of a case in its subject or body; give --case CASE "
            "(or add the reference with `tracker case ref`)"
        )
    if len(found) > 1:
        named = ", ".join(str(i) for i in found)
        return f"it names reference numbers of several cases ({named}); give --case CASE"
    return found[0]
