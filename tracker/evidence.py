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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.errors import TrackerError, UsageError
from tracker.history import AttachmentAdded, ChangeLog
from tracker.models import Attachment, Blob, Case, Interaction
from tracker.redact import Masker, redact
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
    """The name a file is kept under: its last path part, masked, without control
    characters, at most 200 characters (the extension kept)."""
    base = PurePath(name.replace("\\", "/")).name or "file"
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "file"
    base = masker(base, "the file name")
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


def prepare(data: bytes, filename: str, *, masker: Masker, what: str = "the file") -> Prepared:
    """Check a file before it is stored; UsageError if it must not be (too large, a PDF
    showing a card number). Nothing is written."""
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"{what} is {_size(len(data))}; the largest file tracker keeps is "
            f"{_size(MAX_BYTES)} (split it, or keep a smaller copy)"
        )
    if not data:
        raise UsageError(f"{what} is empty; nothing was saved")
    media_type, readable = media_type_of(data, filename)
    original = sha256(data)
    stored = data
    before = masker.cards + masker.codes
    warning = None
    if readable == "text":
        codec = _text_codec(data)
        assert codec is not None
        stored = mask_text(data, codec, masker, what)
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


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


size_in_words = _size


# --------------------------------------------------------------------------- the bytes


def folder_of(session: Session) -> Path | None:
    """Where a SQLite store keeps its evidence files (None: in the database)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    database = bind.engine.url.database
    if not database or database == ":memory:":
        return None
    real = Path(database).expanduser().resolve()
    return real.with_name(real.name + FOLDER_SUFFIX)


def _blob_path(folder: Path, digest: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise EvidenceError(f"'{digest}' is not a SHA-256")
    return folder / digest[:2] / digest


def put(session: Session, data: bytes, digest: str) -> None:
    """Keep `data` under its hash (once: an identical file is already there)."""
    folder = folder_of(session)
    if folder is None:
        if session.get(Blob, digest) is None:
            session.add(Blob(sha256=digest, size=len(data), data=data))
            session.flush()
        return
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
        f"Attached {filename} ({kind}, {_size(prepared.size)})"[:500],
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
