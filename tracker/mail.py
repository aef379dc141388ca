"""Email messages for `tracker import email`: one file, or an mbox of many, read into what
an interaction records (when, who, the subject and the body as text, the attached files).

Nothing here writes: the command checks every message first (tracker.cli.mail), then
records the ones that pass. The stdlib's email package is imported only here, when a
message is read; HTML bodies become text with the stdlib's html.parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.errors import UsageError
from tracker.evidence import clean_message_id
from tracker.models import Case, Reference

MAX_BODY = 4000
"""The characters of a body kept in the interaction's summary (the whole message is kept as
its attachment)."""


@dataclass
class Message:
    """One email, read."""

    source: str
    """Where it came from, for messages to the user: the file, and its place in an mbox."""
    raw: bytes
    message_id: str | None
    at: datetime | None
    from_name: str | None
    from_address: str | None
    to_addresses: list[str]
    subject: str
    body: str
    files: list[tuple[str, bytes]] = field(default_factory=list)


def split_mailbox(data: bytes, source: str) -> list[tuple[str, bytes]]:
    """The messages of a file: an mbox (it begins with a "From " line) holds several, one
    per "From " line, with ">From " unquoted (mboxrd); any other file is one message."""
    if not data.startswith(b"From "):
        return [(source, data)]
    chunks = re.split(rb"(?:\r?\n)(?=From )", data)
    messages = []
    for index, chunk in enumerate(chunks, start=1):
        _, _, body = chunk.partition(b"\n")  # the "From " line is the mbox's, not the mail's
        body = re.sub(rb"(?m)^>(>*From )", rb"\1", body)
        if body.strip():
            messages.append((f"{source} message {index}", body))
    return messages


def read_message(raw: bytes, source: str) -> Message:
    """Read one message; UsageError if it is not an email."""
    import email
    import email.policy
    import email.utils
    from email.message import EmailMessage

    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    if not parsed.keys() or ("From" not in parsed and "Subject" not in parsed):
        raise UsageError(f"{source} is not an email (no From or Subject header)")
    at = None
    date = parsed.get("Date")
    if date is not None:
        try:
            at = email.utils.parsedate_to_datetime(str(date))
        except (TypeError, ValueError, IndexError):
            at = None
        if at is not None and at.tzinfo is None:  # "-0000": UTC, its sender's zone unknown
            at = at.replace(tzinfo=UTC)
    name, address = email.utils.parseaddr(str(parsed.get("From", "")))
    to = [a for _, a in email.utils.getaddresses([str(v) for v in parsed.get_all("To", [])]) if a]
    body_part = parsed.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        try:
            text = body_part.get_content()
        except (LookupError, UnicodeError, ValueError):
            payload = body_part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if isinstance(text, str):
            body = html_to_text(text) if body_part.get_content_subtype() == "html" else text
    files = []
    for index, part in enumerate(parsed.iter_attachments(), start=1):
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue  # a message inside the message: kept in the raw copy
        files.append((part.get_filename() or f"attachment-{index}", data))
    found_id = parsed.get("Message-ID")
    return Message(
        source=source,
        raw=raw,
        message_id=clean_message_id(str(found_id)) if found_id is not None else None,
        at=at,
        from_name=name.strip() or None,
        from_address=address.strip() or None,
        to_addresses=to,
        subject=" ".join(str(parsed.get("Subject", "")).split()),
        body=_tidy(body),
        files=files,
    )


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _TextOfHtml(HTMLParser):
    """The words of an HTML body, a line break at each block; scripts and styles left out."""

    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "table",
            "ul",
            "ol",
            "blockquote",
            "pre",
            "hr",
            "section",
            "article",
        ]
    )
    HIDDEN = frozenset(("script", "style", "head", "title"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        words = " ".join(data.split())
        # The spaces around a run of text separate it from its neighbours (<b>D-1</b> is).
        lead = " " if data[:1].isspace() else ""
        tail = " " if data[-1:].isspace() and words else ""
        self.parts.append(lead + words + tail)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_/#.-]*[A-Za-z0-9])?")


def _reference_like(word: str) -> bool:
    """A word that can be a reference: a digit and 3 characters or more (D-1, CALL-5521),
    and 5 digits or more if it is only digits (an amount or a year is not one)."""
    if not any(ch.isdigit() for ch in word) or len(word) < 3:
        return False
    return not word.isdigit() or len(word) >= 5


def cases_named(session: Session, *texts: str) -> list[int]:
    """The cases whose reference numbers appear in the texts (as whole words, compared
    without regard to case; see :func:`_reference_like` for which words count)."""
    words = {w.upper() for text in texts for w in _TOKEN.findall(text)}
    words = {w for w in words if _reference_like(w)}
    found: set[int] = set()
    ordered = sorted(words)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update(
            session.scalars(
                select(Reference.case_id)
                .join(Case, Case.id == Reference.case_id)
                .where(func.upper(Reference.value).in_(chunk))
            )
        )
    return sorted(found)
