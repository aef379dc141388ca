"""The evidence core (tracker.evidence): what is stored, where, and what is refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.pdfs import make_pdf
from tracker import evidence
from tracker.cases import open_case
from tracker.db import Store
from tracker.errors import UsageError
from tracker.history import begin_change, undo
from tracker.models import Attachment, Blob
from tracker.redact import Masker

CARD = "4111 1111 1111 1111"


def _attach(store: Store, data: bytes, name: str, kind: str = "other") -> int:
    with store.write() as session:
        case = open_case(session, title="Disputed charge", masker=Masker())
        masker = Masker()
        prepared = evidence.prepare(data, name, masker=masker)
        log = begin_change(session, f"case attach {case.id}")
        row = evidence.attach(
            session,
            case,
            prepared,
            filename=evidence.clean_filename(name, masker),
            kind=kind,
            log=log,
        )
        return row.id


def test_text_is_masked_and_both_hashes_are_kept(store: Store) -> None:
    original = f"Agent: my card is {CARD}, CVV 123. Ref ABC-12345.\n".encode()
    row_id = _attach(store, original, "chat.txt", "transcript")
    with store.read() as session:
        row = session.get(Attachment, row_id)
        assert row is not None
        kept = evidence.content(session, row)
        assert row.original_sha256 == evidence.sha256(original)
        assert row.sha256 == evidence.sha256(kept) != row.original_sha256
        assert row.masked == 2 and row.media_type == "text/plain" and row.size == len(kept)
    assert b"4111 1111 1111 1111" not in kept and b"123." not in kept
    assert b"ABC-12345" in kept  # a reference number is not a card


def test_latin1_text_keeps_every_byte_but_the_card(store: Store) -> None:
    original = f"Caf\xe9 r\xe9f 77-A, carte {CARD}\n".encode("latin-1")
    row_id = _attach(store, original, "note.txt")
    with store.read() as session:
        row = session.get(Attachment, row_id)
        assert row is not None
        kept = evidence.content(session, row)
    assert kept.startswith("Caf\xe9 r\xe9f 77-A, carte ".encode("latin-1"))
    assert CARD.encode() not in kept and kept.endswith(b"1111\n")


def test_identical_files_are_stored_once(store: Store, db_url: str) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    first = _attach(store, data, "receipt.png", "photo")
    second = _attach(store, data, "copy.png", "photo")
    with store.read() as session:
        rows = session.scalars(select(Attachment).where(Attachment.id.in_([first, second])))
        assert {r.sha256 for r in rows} == {evidence.sha256(data)}
        folder = evidence.folder_of(session)
        blobs = list(session.scalars(select(Blob.sha256)))
    if folder is None:  # PostgreSQL: in the database
        assert blobs == [evidence.sha256(data)]
    else:
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert len(files) == 1 and files[0].read_bytes() == data
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert not blobs


def test_a_pdf_with_a_card_number_is_refused_with_its_page(store: Store) -> None:
    pdf = make_pdf([["Statement", "Balance 129.99"], ["Card number", CARD]])
    with pytest.raises(UsageError, match="page 2"):
        evidence.prepare(pdf, "statement.pdf", masker=Masker())
    clean = make_pdf([["Statement", "Card ending 1111", "ACME Hardware 129.99"]])
    prepared = evidence.prepare(clean, "statement.pdf", masker=Masker())
    assert prepared.readable == "pdf" and prepared.data == clean and prepared.warning is None


def test_images_are_kept_as_they_are_with_a_warning() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + CARD.encode()  # not read: an image's text is pixels
    prepared = evidence.prepare(jpeg, "receipt.jpg", masker=Masker())
    assert prepared.data == jpeg and prepared.readable == "image"
    assert prepared.warning is not None and "cannot read it" in prepared.warning


def test_too_large_and_empty_files_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "MAX_BYTES", 1000)
    with pytest.raises(UsageError, match="largest file"):
        evidence.prepare(b"x" * 1001, "big.txt", masker=Masker())
    with pytest.raises(UsageError, match="empty"):
        evidence.prepare(b"", "empty.txt", masker=Masker())


def test_a_damaged_copy_is_detected(store: Store, tmp_path: Path) -> None:
    row_id = _attach(store, b"receipt text\n", "r.txt")
    with store.write() as session:
        row = session.get(Attachment, row_id)
        assert row is not None
        folder = evidence.folder_of(session)
        if folder is None:
            blob = session.get(Blob, row.sha256)
            assert blob is not None
            blob.data = b"changed\n"
        else:
            path = next(p for p in folder.rglob("*") if p.is_file())
            path.chmod(0o600)
            path.write_bytes(b"changed\n")
    with store.read() as session, pytest.raises(evidence.EvidenceError, match="damaged"):
        row = session.get(Attachment, row_id)
        assert row is not None
        evidence.content(session, row)


def test_undo_removes_the_attachment(store: Store) -> None:
    row_id = _attach(store, b"receipt\n", "r.txt", "receipt")
    with store.write() as session:
        undo(session)
    with store.read() as session:
        assert session.get(Attachment, row_id) is None


def test_file_names_lose_folders_control_characters_and_cards() -> None:
    masker = Masker()
    assert evidence.clean_filename("../../etc/pass\nwd", masker) == "pass" + "wd"
    assert CARD not in evidence.clean_filename(f"card {CARD}.txt", masker)
    # A zero-width space or a line break between the groups (an email's subject made into a
    # name) shows a card: it is masked before such characters are dropped.
    for name in ("Re: 5039 2604\u200b2822 5.eml", "Re: 5039\n2604 2822 5.eml"):
        assert evidence.clean_filename(name, Masker()) == "Re: •••• 8225.eml"
