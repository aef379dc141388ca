"""Evidence: `case attach`, `case attachment get|list`, joining the `case` group when it
loads (tracker.cli.EXTENSIONS). Each file is read and checked (tracker.evidence.prepare)
before anything is written: one refused file refuses them all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tracker import evidence

from tracker.cases import event_time, get_case
from tracker.cli.case import case
from tracker.cli.common import (
    CASE_ID,
    ChoiceType,
    IdType,
    at_option,
    case_change,
    store,
    view_option,
    warn,
    write_command,
)
from tracker.errors import NotFound, UsageError
from tracker.files import open_output
from tracker.history import begin_change
from tracker.models import Attachment
from tracker.redact import Masker
from tracker.values import size_in_words
from tracker.views import View
from tracker.vocabulary import EVIDENCE_KINDS
from tracker.when import local_zone

ATTACHMENT_ID = IdType("attachment")
KIND = ChoiceType("kind", EVIDENCE_KINDS)


def read_file(path: str) -> bytes:
    """The bytes of a file named on the command line; UsageError (exit 2) if it cannot be
    read: missing, a folder, no permission, or larger than tracker keeps."""
    import tracker.evidence as evidence  # the evidence store: these commands only

    try:
        if Path(path).is_dir():
            raise UsageError(f"{path} is a folder; give the files in it")
        evidence.check_size(os.stat(path).st_size, path)
        with open(path, "rb") as stream:
            return stream.read(evidence.MAX_BYTES + 1)
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


@dataclass
class _Ready:
    path: str
    filename: str
    kind: str
    prepared: evidence.Prepared
    masker: Masker
    message_id: str | None


def prepare_files(paths: tuple[str, ...], kind: str | None) -> list[_Ready]:
    """Every file read and checked; the first one refused refuses them all."""
    import tracker.evidence as evidence  # the evidence store: these commands only

    ready = []
    for path in paths:
        data = read_file(path)
        masker = Masker()
        filename = evidence.clean_filename(path, masker)
        prepared = evidence.prepare(data, filename, masker=masker, what=filename)
        chosen = kind or evidence.infer_kind(prepared, filename)
        found_id = evidence.message_id_of(prepared.data) if chosen == "email" else None
        ready.append(_Ready(path, filename, chosen, prepared, masker, found_id))
    return ready


@case.command("attach")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--kind",
    type=KIND,
    help="What the files are: " + ", ".join(EVIDENCE_KINDS) + " (default: email for .eml, "
    "photo for an image, else other).",
)
@click.option("--note", metavar="TEXT", help="What the files show (kept with each).")
@at_option("you received or made them")
@write_command
def attach(
    case_id: int, files: tuple[str, ...], kind: str | None, note: str | None, at: datetime | None
) -> None:
    """Keep files as evidence on a case: statements, receipts, transcripts, emails, photos.

    Card numbers and security codes in a text (a transcript, an email and each of its
    parts, HTML, Markdown) are masked before it is stored, and both SHA-256 hashes are kept
    (the file's and the stored copy's); a PDF that shows a full card number is refused with
    its page; an image is kept as it is (tracker cannot read it: check it yourself). All the
    files are one change (`tracker undo` takes them all back); one refused file refuses all.

    \b
    Examples:
      tracker case attach 1 statement.pdf --kind statement --note "November statement"
      tracker case attach 1 receipt.jpg chat.txt
      tracker case attach 1 refund-promise.eml --at "2026-11-28 16:05"
    """
    import tracker.evidence as evidence  # the evidence store: these commands only

    ready = prepare_files(files, kind)
    with case_change(case_id) as (session, found, masker):
        note_text = masker(note.strip(), "the note") if note and note.strip() else None
        log = begin_change(session, f"case attach {case_id}")
        when = event_time(at, log.now, "the attachment")
        rows = [
            evidence.attach(
                session,
                found,
                item.prepared,
                filename=item.filename,
                kind=item.kind,
                log=log,
                note=note_text,
                at=when,
                message_id=item.message_id,
            )
            for item in ready
        ]
        done = [(row.id, item) for row, item in zip(rows, ready, strict=True)]
    for row_id, item in done:
        prepared = item.prepared
        click.echo(
            f"Attached {row_id}: {item.filename} ({item.kind}, "
            f"{size_in_words(prepared.size)}, SHA-256 {prepared.sha256[:12]}) "
            f"to case {case_id}."
        )
        warn(item.masker.warning)
        warn(prepared.warning)


@case.group("attachment")
def attachment() -> None:
    """Take evidence out of the store, or list a case's.

    \b
    Examples:
      tracker case attachment list 1
      tracker case attachment get 3 -o statement.pdf
    """


@attachment.command("get")
@click.argument("attachment_id", type=ATTACHMENT_ID, metavar="ID")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="Write it to FILE (0600, written whole or not at all); '-' for stdout.",
)
def get(attachment_id: int, output: str) -> None:
    """Write one attachment's stored bytes to a file, checked against its SHA-256.

    A copy that is missing or no longer matches its hash is an error (exit 1), and
    nothing is written.

    \b
    Examples:
      tracker case attachment get 3 -o statement.pdf
      tracker case attachment get 4 -o - | less
    """
    import tracker.evidence as evidence  # the evidence store: these commands only

    with store().read() as session:
        row = session.get(Attachment, attachment_id)
        if row is None:
            raise NotFound(f"no attachment {attachment_id}")
        data = evidence.content(session, row)
        name, digest = row.filename, row.sha256
    with open_output(output) as stream:
        stream.write(data)
    if output != "-":
        click.echo(
            f"Wrote attachment {attachment_id} ({name}, SHA-256 {digest[:12]} checked) "
            f"to {output}.",
            err=True,
        )


@attachment.command("list")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@view_option
def list_(case_id: int, view: View) -> None:
    """List a case's evidence: id, date, kind, file name, size, SHA-256.

    \b
    Examples:
      tracker case attachment list 1
      tracker case attachment list 1 --json
    """
    with store().read() as session:
        view.attachment_list(get_case(session, case_id), local_zone())
