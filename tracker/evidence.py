"""Evidence: the files a case is won with, kept by the SHA-256 of what was stored.

A file is *prepared* before anything is written (:func:`prepare`): what it is is read from
its bytes (a PDF, an image, text, or other binary), and card data is kept out:

* text (a transcript, an email, HTML, Markdown) is masked like every other text, and the
  masked copy is what is stored; both hashes are recorded, the original's and the copy's;
* a PDF's text is read (pypdf): one that shows a full card number or a security code is
  refused with its page number, and nothing is stored;
* an image, or another file whose contents cannot be read, is stored as it is, and the
  command says so (:attr:`Prepared.warning`).

The bytes go apart from the rows (:func:`attach`): on SQLite into a folder beside the
database file (``tracker.db-evidence/ab/abcdef...``; folders 0700, files 0600, written
atomically and synced before the row is committed), on PostgreSQL into the
``attachment_blobs`` table, so that a shared store shares its evidence. Identical files
are stored once. Reading one back (:func:`content`) checks its hash.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.db import Store
from tracker.errors import TrackerError, UsageError
from tracker.history import AttachmentAdded, ChangeLog
from tracker.models import Attachment, Blob, Case, Interaction
from tracker.redact import Masker, redact
from tracker.values import size_in_words
from tracker.vocabulary import EVIDENCE_KINDS

KINDS = EVIDENCE_KINDS
MAX_BYTES = 25 * 1024 * 1024
"""The largest file accepted (25 MiB, what most email services accept as an attachment)."""

FOLDER_SUFFIX = "-evidence"

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)
_TEXT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".eml": "message/rfc822",
    ".csv": "text/csv",
    ".json": "application/json",
    ".log": "text/plain",
    ".xml": "application/xml",
}


class EvidenceError(TrackerError):
    """Stored evidence cannot be read back as it was stored (exit 1)."""


@dataclass(frozen=True)
class Prepared:
    """A file ready to be stored: the bytes to keep and what was found in them."""

    data: bytes
    """What will be stored (the masked copy of a text)."""
    original_sha256: str
    sha256: str
    media_type: str
    readable: str
    """How its contents were checked: "text", "pdf", "image" or "binary" (not read)."""
    masked: int
    """Card numbers and security codes masked out of a text."""
    warning: str | None
    """What the user must know about it (an image cannot be checked for card numbers)."""

    @property
    def size(self) -> int:
        return len(self.data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def clean_filename(name: str, masker: Masker) -> str:
    """The name a file is kept under: its last path part, masked, then without control
    characters, at most 200 characters (the extension kept)."""
    base = PurePath(name.replace("\\", "/")).name or "file"
    # Masked first: a zero-width space or a line break between a card's groups is what
    # shows it is one, and dropping it first would leave digits no one can tell apart.
    base = masker(base, "the file name")
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "file"
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else base[:200]
    return base


def media_type_of(data: bytes, filename: str) -> tuple[str, str]:
    """(media type, how its contents can be read: text, pdf, image or binary)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf", "pdf"
    for magic, media in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media, "image"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "image"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "image/heic" if b"hei" in data[8:12] else "image/avif", "image"
    suffix = PurePath(filename).suffix.lower()
    if _text_codec(data) is not None:
        return _TEXT_TYPES.get(suffix, "text/plain"), "text"
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream", "binary"


def _text_codec(data: bytes) -> str | None:
    """The codec a text file is read with, or None if it is not text.

    UTF-8 (a BOM allowed) or UTF-16 with its BOM; any other file with no NUL byte is
    text in a one-byte encoding, read as Latin-1 so that every byte but the masked
    digits comes back exactly as it was.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data.decode("utf-16")
        except UnicodeDecodeError:
            return None
        return "utf-16"
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1" if _mostly_text(data) else None
    return "utf-8"


def _mostly_text(data: bytes) -> bool:
    """Whether a file that is not UTF-8 still reads as text: few control bytes."""
    sample = data[:65536]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls <= len(sample) // 100


def mask_text(data: bytes, codec: str, masker: Masker, what: str) -> bytes:
    """A text file's bytes with card numbers and security codes masked (the same bytes
    when there was nothing to mask)."""
    text = data.decode(codec)
    masked = masker(text, what)
    if masked == text:
        return data
    if codec == "latin-1":  # the mask's bullets are not Latin-1
        return masked.replace("•", "*").encode("latin-1", errors="replace")
    if codec == "utf-16":
        return masked.encode("utf-16")
    return masked.encode("utf-8")


def check_size(size: int, what: str) -> None:
    """UsageError if a file of `size` bytes is larger than tracker keeps."""
    if size > MAX_BYTES:
        raise UsageError(
            f"{what} is {size_in_words(size)}; the largest file tracker keeps is "
            f"{size_in_words(MAX_BYTES)} (split it, or keep a smaller copy)"
        )


def prepare(data: bytes, filename: str, *, masker: Masker, what: str = "the file") -> Prepared:
    """Check a file before it is stored; UsageError if it must not be (too large, a PDF
    showing a card number). Nothing is written.

    An email (a MIME message: ``.eml``, or any text that has base64 or quoted-printable
    parts) is masked part by part (:func:`mask_email`); a PDF it carries is checked as a
    PDF attached on its own would be, and refuses the whole message."""
    check_size(len(data), what)
    if not data:
        raise UsageError(f"{what} is empty; nothing was saved")
    media_type, readable = media_type_of(data, filename)
    original = sha256(data)
    stored = data
    before = masker.cards + masker.codes
    warning = None
    if readable == "text":
        if is_mime(data, filename):
            # A card number in a base64 or quoted-printable part is not in the raw text:
            # each part is decoded and masked, and the message written out again.
            stored, warning = mask_email(data, masker, what)
        codec = _text_codec(stored)
        assert codec is not None
        stored = mask_text(stored, codec, masker, what)
    elif readable == "pdf":
        check_pdf(data, what)
    else:
        kind = "an image" if readable == "image" else f"a {media_type} file"
        warning = (
            f"{what} is {kind}: tracker cannot read it, so it is kept as it is. "
            "Make sure it shows no full card number or security code"
        )
    return Prepared(
        data=stored,
        original_sha256=original,
        sha256=sha256(stored),
        media_type=media_type,
        readable=readable,
        masked=masker.cards + masker.codes - before,
        warning=warning,
    )


_MIME_ENCODED = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*(?:base64|quoted-printable)")


def is_mime(data: bytes, filename: str) -> bool:
    """Whether a text file is an email whose parts must be decoded to be read: an .eml
    file, or any text with a base64 or quoted-printable part."""
    return PurePath(filename).suffix.lower() == ".eml" or _MIME_ENCODED.search(data) is not None


def mask_email(data: bytes, masker: Masker, what: str) -> tuple[bytes, str | None]:
    """An email's bytes with card data masked out of every header and text part (decoded
    from base64 or quoted-printable first, encoded the same way again), and what the user
    must know about parts that cannot be read (images).

    A message whose parts needed no masking comes back byte for byte. A PDF part that
    shows a card number refuses the whole message (UsageError), as a PDF attached on its
    own is refused; so does an mbox of several messages (`tracker import email` reads
    those, one interaction each).
    """
    import email
    import email.policy
    from email.message import Message

    if data.startswith(b"From ") and re.search(rb"(?m)^From ", data[5:]) is not None:
        raise UsageError(
            f"{what} is a mailbox of several messages; import it with `tracker import email`"
        )
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    changed = False
    unread: list[str] = []
    for part in message.walk():
        changed |= _mask_headers(part, masker, what)
        if part.is_multipart() or isinstance(part.get_payload(), list):
            continue
        assert isinstance(part, Message)
        changed |= _mask_part(part, masker, what, unread)
    if changed:
        data = message.as_bytes(unixfrom=message.get_unixfrom() is not None)
    warning = None
    if unread:
        warning = (
            f"{what} carries {_plural_names(unread)} that tracker cannot read, kept as they "
            "are. Make sure they show no full card number or security code"
        )
    return data, warning


def _plural_names(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{'a file' if len(names) == 1 else 'files'} ({shown})"


def _mask_headers(part: Any, masker: Masker, what: str) -> bool:
    """Mask the headers of one part (encoded words decoded); True if one changed."""
    from email.header import Header, decode_header, make_header

    items = part.items()
    masked_items = []
    changed = False
    for name, value in items:
        try:
            text = str(make_header(decode_header(str(value))))
        except (UnicodeError, LookupError, ValueError):
            text = str(value)
        clean = masker(text, f"{what} ({name} header)")
        if clean != text:
            changed = True
            value = (
                Header(clean, "utf-8", header_name=name).encode() if not clean.isascii() else clean
            )
        masked_items.append((name, value))
    if changed:
        for name in dict.fromkeys(name.lower() for name, _ in items):
            del part[name]
        for name, value in masked_items:
            part[name] = value
    return changed


def _mask_part(part: Any, masker: Masker, what: str, unread: list[str]) -> bool:
    """Mask one leaf part of an email in place; True if it changed. A PDF part with card
    data refuses the message; an image's name is added to `unread`."""
    import base64
    import quopri

    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes) or not raw:
        return False
    name = part.get_filename() or f"a {part.get_content_type()} part"
    _, readable = media_type_of(raw, name)
    if readable == "pdf":
        check_pdf(raw, f"{what}: its attachment {masker(name)}")
        return False
    if readable != "text":
        unread.append(masker(name))
        return False
    charset = part.get_content_charset() or "utf-8"
    try:
        text = raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        charset = _text_codec(raw) or "latin-1"
        text = raw.decode(charset, errors="replace")
    clean = masker(text, what)
    if clean == text:
        return False
    try:
        encoded = clean.encode(charset)
    except (LookupError, UnicodeEncodeError):  # the mask's bullets: not in every charset
        encoded = clean.encode("utf-8")
        part.set_param("charset", "utf-8")
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        payload = base64.encodebytes(encoded).decode("ascii")
    else:
        payload = quopri.encodestring(encoded).decode("ascii")
        if cte != "quoted-printable":
            del part["Content-Transfer-Encoding"]
            part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(payload)
    return True


def message_id_of(data: bytes) -> str | None:
    """A message's Message-ID header ("<...>"), or None."""
    import email
    import email.policy

    header = email.message_from_bytes(data, policy=email.policy.compat32).get("Message-ID")
    return clean_message_id(str(header)) if header is not None else None


def clean_message_id(value: str) -> str | None:
    """A Message-ID header's value on one line, at most 998 characters (RFC 5322)."""
    value = " ".join(value.split())
    return value[:998] or None


def infer_kind(prepared: Prepared, filename: str) -> str:
    """The kind of evidence a file obviously is: an email, a photo; else other."""
    if prepared.media_type == "message/rfc822" or PurePath(filename).suffix.lower() == ".eml":
        return "email"
    if prepared.readable == "image":
        return "photo"
    return "other"


def check_stored(data: bytes, filename: str, *, what: str) -> None:
    """UsageError unless `data` is what tracker would store for `filename` as it is: a
    text or an email with nothing to mask, a PDF that shows no card data (an import of
    evidence written elsewhere is checked this way; its hash must not change)."""
    masker = Masker()
    prepared = prepare(data, filename, masker=masker, what=what)
    if prepared.masked or prepared.data != data:
        raise UsageError(f"{what} holds a card number or a security code")


def check_pdf(data: bytes, what: str) -> None:
    """UsageError if a PDF cannot be read or shows a full card number or a security code
    (naming the page); a PDF with no text at all passes, as an image does."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UsageError(
                f"{what} is a password-protected PDF: tracker cannot check it for card "
                "numbers; save an unprotected copy and attach that"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except UsageError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UsageError(
            f"{what} is not a PDF that can be read ({exc}); nothing was saved"
        ) from None
    for number, text in enumerate(pages, start=1):
        found = redact(text)
        if found.cards or found.codes:
            things = "a full card number" if found.cards else "a security code"
            raise UsageError(
                f"{what} shows {things} on page {number}; nothing was saved. "
                "Black it out (or ask for a statement that shows only the last 4 digits) "
                "and attach that copy"
            )


text_codec = _text_codec


# --------------------------------------------------------------------------- the bytes


def folder_of(session: Session) -> Path | None:
    """Where a SQLite store keeps its evidence files (None: in the database)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    database = bind.engine.url.database
    if not database or database == ":memory:":
        return None
    return folder_beside(Path(database))


def folder_beside(database: Path) -> Path:
    """The evidence folder of the SQLite store at `database`: ``<its name>-evidence``."""
    real = database.expanduser().resolve()
    return real.with_name(real.name + FOLDER_SUFFIX)


def read_file(folder: Path, digest: str) -> bytes:
    """The file of `digest` in an evidence folder, checked against it (EvidenceError)."""
    path = _blob_path(folder, digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvidenceError(f"the stored copy {digest[:12]}... is missing in {folder}") from None
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror}") from None
    if sha256(data) != digest:
        raise EvidenceError(f"the stored copy {path} is damaged: its SHA-256 is not its name")
    return data


def _blob_path(folder: Path, digest: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise EvidenceError(f"'{digest}' is not a SHA-256")
    return folder / digest[:2] / digest


def put(session: Session, data: bytes, digest: str) -> None:
    """Keep `data` under its hash (once: an identical file is already there)."""
    folder = folder_of(session)
    if folder is None:
        # FOR SHARE: an undo that finds the bytes unused waits for this transaction (and
        # then finds this attachment) instead of deleting the row under it.
        found = session.scalar(
            select(Blob.sha256).where(Blob.sha256 == digest).with_for_update(read=True)
        )
        if found is None:
            session.add(Blob(sha256=digest, size=len(data), data=data))
            session.flush()
        return
    write_file(folder, digest, data)


def write_file(folder: Path, digest: str, data: bytes) -> None:
    """Keep `data` as the file of `digest` in an evidence folder (0700; the file 0600,
    written whole and synced, with its folder, before it is named)."""
    path = _blob_path(folder, digest)
    if path.exists() and path.stat().st_size == len(data):
        return
    for part in (folder, path.parent):
        part.mkdir(mode=0o700, exist_ok=True)
    temp = path.with_name(f".{digest}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def content(session: Session, attachment: Attachment) -> bytes:
    """The stored bytes of an attachment, checked against its hash."""
    return blob(session, attachment.sha256, name=attachment.filename)


def blob(session: Session, digest: str, *, name: str = "the file") -> bytes:
    folder = folder_of(session)
    if folder is None:
        row = session.get(Blob, digest)
        data = row.data if row is not None else None
    else:
        try:
            data = _blob_path(folder, digest).read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise EvidenceError(f"cannot read the stored copy of {name}: {exc.strerror}") from None
    if data is None:
        where = f" in {folder}" if folder is not None else ""
        raise EvidenceError(f"the stored copy of {name} ({digest[:12]}...) is missing{where}")
    if sha256(data) != digest:
        raise EvidenceError(
            f"the stored copy of {name} is damaged: its SHA-256 is no longer {digest[:12]}..."
        )
    return data


def attach(
    session: Session,
    case: Case,
    prepared: Prepared,
    *,
    filename: str,
    kind: str,
    log: ChangeLog,
    note: str | None = None,
    interaction: Interaction | None = None,
    at: datetime | None = None,
    message_id: str | None = None,
) -> Attachment:
    """Store a prepared file on a case (or one of its interactions), as one event of the
    change `log`. `filename` and `note` must already be masked (clean_filename, masker)."""
    if kind not in KINDS:
        raise UsageError(f"'{kind}' is not a kind of evidence (one of: {', '.join(KINDS)})")
    put(session, prepared.data, prepared.sha256)
    when = at or log.now
    attachment = Attachment(
        case_id=case.id,
        interaction_id=interaction.id if interaction is not None else None,
        kind=kind,
        filename=filename,
        media_type=prepared.media_type,
        size=prepared.size,
        sha256=prepared.sha256,
        original_sha256=prepared.original_sha256,
        masked=prepared.masked,
        note=note,
        message_id=message_id,
        created_at=when,
    )
    session.add(attachment)
    session.flush()
    log.record(
        case,
        AttachmentAdded(
            created=("attachments", attachment.id),
            kind=kind,
            filename=filename,
            sha256=prepared.sha256,
            interaction_id=interaction.id if interaction is not None else None,
        ),
        f"Attached {filename} ({kind}, {size_in_words(prepared.size)})"[:500],
        at=when,
    )
    log.touch(case)
    return attachment


def referenced(session: Session, digest: str) -> int:
    """How many attachments keep the bytes of `digest`."""
    return (
        session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.sha256 == digest)
        )
        or 0
    )


def remove_unused_files(store: Store, digests: Iterable[str]) -> int:
    """Delete the files of a SQLite store's evidence that no attachment uses any more, once
    the change that stopped using them (an undo) is committed; returns how many went.

    Checked again in a write transaction of its own: no other command is then between
    storing a file and committing its row, so a file an identical attachment has just
    started to use again stays. A crash before this runs leaves a file nothing names,
    which does no harm (the next identical attachment uses it).
    """
    wanted = sorted(set(digests))
    if not wanted:
        return 0
    removed = 0
    with store.write() as session:
        folder = folder_of(session)
        if folder is None:
            return 0
        used = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(wanted))))
        for digest in wanted:
            if digest in used:
                continue
            try:
                _blob_path(folder, digest).unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed
