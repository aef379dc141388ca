"""`case attach`, `case attachment get|list`, evidence in `case show`, undo, the exports and
`db backup`: on SQLite (files beside the store) and PostgreSQL (rows in the database)."""

from __future__ import annotations

import base64
import csv
import email
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker
from sqlalchemy import select

from tests.pdfs import make_pdf
from tracker import evidence
from tracker.db import Store
from tracker.models import Blob

CARD = "4111 1111 1111 1111"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A transcript with a card number, a clean PDF statement, a photo, a PDF with a card."""
    made = {
        "chat.txt": f"Agent: Maria\nMe: my card is {CARD}, CVV 123\nRef D-4471\n".encode(),
        "statement.pdf": make_pdf([["Statement", "Card ending 1111", "ACME Hardware 129.99"]]),
        "receipt.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "bad.pdf": make_pdf([["Statement"], ["Card number", CARD]]),
    }
    found = {}
    for name, data in made.items():
        path = tmp_path / name
        path.write_bytes(data)
        found[name] = path
    return found


def stored_files(db_url: str) -> list[Path]:
    """The evidence files beside a SQLite store (none on PostgreSQL)."""
    store = Store(db_url)
    try:
        with store.read() as session:
            folder = evidence.folder_of(session)
    finally:
        store.dispose()
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []


def blob_rows(db_url: str) -> list[str]:
    store = Store(db_url)
    try:
        with store.read() as session:
            return sorted(session.scalars(select(Blob.sha256)))
    finally:
        store.dispose()


def test_attach_stores_each_file_once_and_says_what_it_did(
    tracker: Tracker, files: dict[str, Path], db_url: str
) -> None:
    tracker.ok("case", "open", "Disputed charge")
    result = tracker(
        "case", "attach", "1", str(files["chat.txt"]), str(files["statement.pdf"]),
        str(files["receipt.png"]), "--note", "from the dispute",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Attached 1: chat.txt (other, ")
    assert lines[1].startswith("Attached 2: statement.pdf (other, ")
    assert lines[2].startswith("Attached 3: receipt.png (photo, 264 bytes, SHA-256 ")
    assert "masked a card number ending 1111 and a security code in chat.txt" in result.stderr
    assert "receipt.png is an image: tracker cannot read it" in result.stderr
    shown = tracker.json("case", "show", "1")
    kept = {a["filename"]: a for a in shown["attachments"]}
    assert [a["kind"] for a in shown["attachments"]] == ["other", "other", "photo"]
    assert kept["chat.txt"]["masked_count"] == 2
    assert kept["chat.txt"]["original_sha256"] == evidence.sha256(files["chat.txt"].read_bytes())
    assert kept["statement.pdf"]["sha256"] == kept["statement.pdf"]["original_sha256"]
    assert {a["note"] for a in shown["attachments"]} == {"from the dispute"}
    assert [e["type"] for e in shown["events"]].count("attachment_added") == 3
    text = tracker.ok("case", "show", "1")
    assert (
        "Evidence" in text and "#1" in text and f"sha256 {kept['chat.txt']['sha256'][:12]}" in text
    )
    # One change: undo takes all three back.
    assert tracker.ok("undo").startswith("Undid case 1: Attached chat.txt")
    assert tracker.json("case", "show", "1")["attachments"] == []
    assert stored_files(db_url) == [] and blob_rows(db_url) == []


def test_files_are_private_beside_a_sqlite_store(
    tracker: Tracker, files: dict[str, Path], db_url: str, backend: str
) -> None:
    tracker.ok("case", "open", "Disputed charge")
    tracker.ok("case", "attach", "1", str(files["statement.pdf"]))
    tracker.ok("case", "attach", "1", str(files["statement.pdf"]), "--kind", "statement")
    if backend == "sqlite":
        (path,) = stored_files(db_url)  # identical files are stored once
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        assert path.read_bytes() == files["statement.pdf"].read_bytes()
        assert blob_rows(db_url) == []
    else:
        assert blob_rows(db_url) == [evidence.sha256(files["statement.pdf"].read_bytes())]
        assert stored_files(db_url) == []
    # Undo of the second keeps the bytes the first still uses.
    tracker.ok("undo")
    assert len(stored_files(db_url)) + len(blob_rows(db_url)) == 1
    tracker.ok("undo")
    assert stored_files(db_url) == [] and blob_rows(db_url) == []


def test_one_refused_file_refuses_them_all(
    tracker: Tracker, files: dict[str, Path], db_url: str
) -> None:
    tracker.ok("case", "open", "Disputed charge")
    error = tracker.fails(2, "case", "attach", "1", str(files["chat.txt"]), str(files["bad.pdf"]))
    assert error.startswith("Error: bad.pdf shows a full card number on page 2; nothing was saved")
    assert tracker.json("case", "show", "1")["attachments"] == []
    assert stored_files(db_url) == [] and blob_rows(db_url) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.txt", "cannot read {path}: No such file or directory"),
        (".", "{path} is a folder; give the files in it"),
    ],
)
def test_a_file_that_cannot_be_read_is_bad_input(
    tracker: Tracker, tmp_path: Path, name: str, message: str
) -> None:
    tracker.ok("case", "open", "Disputed charge")
    path = tmp_path / name if name != "." else tmp_path
    error = tracker.fails(2, "case", "attach", "1", str(path))
    assert error == "Error: " + message.format(path=path)


def test_an_unreadable_file_is_bad_input(tracker: Tracker, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    tracker.ok("case", "open", "Disputed charge")
    assert "Permission denied" in tracker.fails(2, "case", "attach", "1", str(secret))


def test_get_writes_the_stored_copy_and_checks_it(
    tracker: Tracker, files: dict[str, Path], tmp_path: Path, db_url: str, backend: str
) -> None:
    tracker.ok("case", "open", "Disputed charge")
    tracker.ok("case", "attach", "1", str(files["statement.pdf"]), str(files["chat.txt"]))
    out = tmp_path / "out.pdf"
    tracker.ok("case", "attachment", "get", "1", "-o", str(out))
    assert out.read_bytes() == files["statement.pdf"].read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    masked = tracker.ok("case", "attachment", "get", "2", "-o", "-")
    assert CARD not in masked and "•••• 1111" in masked and "CVV •••" in masked
    assert tracker.fails(1, "case", "attachment", "get", "9", "-o", "-") == "Error: no attachment 9"
    # A damaged copy: exit 1, and nothing written.
    store = Store(db_url)
    with store.write() as session:
        digest = evidence.sha256(files["statement.pdf"].read_bytes())
        if backend == "sqlite":
            path = next(p for p in stored_files(db_url) if p.name == digest)
            path.write_bytes(b"%PDF-1.4 changed")
        else:
            row = session.get(Blob, digest)
            assert row is not None
            row.data = b"%PDF-1.4 changed"
    store.dispose()
    again = tmp_path / "again.pdf"
    error = tracker.fails(1, "case", "attachment", "get", "1", "-o", str(again))
    assert error.startswith("Error: the stored copy of statement.pdf is damaged")
    assert not again.exists()
    if backend == "sqlite":
        path.unlink()
        error = tracker.fails(1, "case", "attachment", "get", "1", "-o", str(again))
        assert error.startswith("Error: the stored copy of statement.pdf (") and "missing" in error


def test_attachment_list(tracker: Tracker, files: dict[str, Path]) -> None:
    tracker.ok("case", "open", "Disputed charge")
    result = tracker("case", "attachment", "list", "1")
    assert result.stderr == "No evidence on case 1 (tracker case attach 1 FILE).\n"
    tracker.ok("case", "attach", "1", str(files["receipt.png"]), "--kind", "receipt")
    (row,) = tracker.json("case", "attachment", "list", "1")
    assert (row["id"], row["kind"], row["filename"], row["size"]) == (
        1,
        "receipt",
        "receipt.png",
        264,
    )
    listed = tracker.ok("case", "attachment", "list", "1")
    assert "receipt.png" in listed and row["sha256"][:12] in listed
    assert tracker.fails(1, "case", "attachment", "list", "7") == "Error: no case 7"


def test_an_email_attached_is_masked_in_every_part(tracker: Tracker, tmp_path: Path) -> None:
    """A card number in a base64 or quoted-printable part is not in the raw text."""
    hidden = base64.b64encode(f"Your card {CARD} is refunded".encode()).decode()
    mail = tmp_path / "reply.eml"
    mail.write_bytes(
        (
            "From: Jo <jo@bank.example>\nSubject: Refund\nMessage-ID: <m1@bank.example>\n"
            "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=B\n\n"
            f"--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
            f"{hidden}\n"
            "--B\nContent-Type: text/html; charset=utf-8\n"
            "Content-Transfer-Encoding: quoted-printable\n\n"
            "<p>Card 4111=201111=201111=201111</p>\n--B--\n"
        ).encode()
    )
    tracker.ok("case", "open", "Refund")
    tracker.ok("case", "attach", "1", str(mail))
    (row,) = tracker.json("case", "attachment", "list", "1")
    assert (row["kind"], row["masked_count"], row["message_id"]) == (
        "email",
        2,
        "<m1@bank.example>",
    )
    kept = tracker.ok("case", "attachment", "get", "1", "-o", "-").encode()
    parts = [p for p in email.message_from_bytes(kept).walk() if not p.is_multipart()]
    texts = [part.get_payload(decode=True).decode().strip() for part in parts]
    assert texts == ["Your card •••• 1111 is refunded", "<p>Card •••• 1111</p>"]
    assert b"NDExMSAxMTExIDExMTEgMTExMQ" not in kept  # the card's base64


def test_the_csv_lists_attachments(tracker: Tracker, files: dict[str, Path]) -> None:
    tracker.ok("case", "open", "Disputed charge")
    tracker.ok("case", "attach", "1", str(files["statement.pdf"]), "--kind", "statement")
    rows = list(csv.DictReader(io.StringIO(tracker.ok("export", "csv"))))
    (row,) = [r for r in rows if r["event_type"] == "attachment_added"]
    digest = evidence.sha256(files["statement.pdf"].read_bytes())
    assert (row["attachment_file"], row["attachment_kind"], row["attachment_sha256"]) == (
        "statement.pdf",
        "statement",
        digest,
    )
    assert all(r["attachment_kind"] == "" for r in rows if r is not row)


# --------------------------------------------------------------------------- export, import


def _history(tracker: Tracker, files: dict[str, Path]) -> None:
    tracker.ok("case", "open", "Disputed charge", "--ref", "D-4471")
    tracker.ok(
        "case", "attach", "1", str(files["chat.txt"]), str(files["statement.pdf"]),
        str(files["receipt.png"]),
    )  # fmt: skip
    tracker.ok("case", "attach", "1", str(files["statement.pdf"]), "--kind", "statement")


def _contents(tracker: Tracker, *db: str) -> dict[str, bytes]:
    """Every attachment's bytes (as `attachment get` gives them), by id."""
    out: dict[str, bytes] = {}
    for row in tracker.json(*db, "case", "attachment", "list", "1"):
        result = tracker(*db, "case", "attachment", "get", str(row["id"]), "-o", "-")
        assert result.exit_code == 0, result.stderr
        out[str(row["id"])] = result.stdout_bytes
        assert evidence.sha256(result.stdout_bytes) == row["sha256"]
    return out


def test_export_json_carries_the_bytes_and_import_keeps_them(
    tracker: Tracker, files: dict[str, Path], tmp_path: Path, postgres_db: str
) -> None:
    """SQLite -> SQLite and SQLite -> PostgreSQL (and the other way on the PostgreSQL run):
    every byte and hash kept, and the document the same after the round trip."""
    _history(tracker, files)
    before = _contents(tracker)
    exported = tmp_path / "export.json"
    tracker.ok("export", "json", "-o", str(exported))
    doc = json.loads(exported.read_text())
    blobs = doc["tables"]["attachment_blobs"]
    assert len(doc["tables"]["attachments"]) == 4 and len(blobs) == 3  # the PDF once
    assert {b["sha256"] for b in blobs} == {
        evidence.sha256(base64.b64decode(b["data"])) for b in blobs
    }
    for target in (f"sqlite:///{tmp_path / 'other.db'}", postgres_db):
        out = tracker.ok("--db", target, "import", "json", str(exported))
        assert "4 attachments" in out
        assert _contents(tracker, "--db", target) == before
        again = json.loads(tracker.ok("--db", target, "export", "json"))
        assert {k: v for k, v in again.items() if k != "exported_at"} == {
            k: v for k, v in doc.items() if k != "exported_at"
        }
        # Undo of the import takes the bytes with it.
        tracker.ok("--db", target, "undo")
        assert stored_files(target) == [] and blob_rows(target) == []


def _edited(doc: dict[str, Any], name: str, data: bytes) -> dict[str, Any]:
    """The document with the bytes of attachment `name` replaced (hashes made to fit)."""
    digest = evidence.sha256(data)
    tables = doc["tables"]
    (row,) = [r for r in tables["attachments"] if r["filename"] == name][:1]
    old = row["sha256"]
    for r in tables["attachments"]:
        if r["sha256"] == old:
            r["sha256"] = r["original_sha256"] = digest
    for b in tables["attachment_blobs"]:
        if b["sha256"] == old:
            b.update(sha256=digest, size=len(data), data=base64.b64encode(data).decode())
    return doc


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("chat.txt", f"card {CARD}\n".encode(), "holds a card number or a security code"),
        ("statement.pdf", make_pdf([["Card", CARD]]), "shows a full card number on page 1"),
    ],
)
def test_an_import_with_card_data_in_an_attachment_writes_nothing(
    tracker: Tracker, files: dict[str, Path], tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    _history(tracker, files)
    doc = _edited(json.loads(tracker.ok("export", "json")), name, data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracker.ok("--db", other, "db", "upgrade")
    error = tracker.fails(2, "--db", other, "import", "json", str(bad))
    assert message in error and "nothing was imported" in error and CARD not in error
    assert tracker.json("--db", other, "case", "list", "--status", "all") == []
    assert stored_files(other) == []


def test_an_import_whose_bytes_do_not_match_their_hash_is_refused(
    tracker: Tracker, files: dict[str, Path], tmp_path: Path
) -> None:
    _history(tracker, files)
    doc = json.loads(tracker.ok("export", "json"))
    doc["tables"]["attachment_blobs"][0]["data"] = base64.b64encode(b"other bytes").decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    error = tracker.fails(2, "--db", other, "import", "json", str(bad))
    assert "attachment_blobs row 1: its data does not have the SHA-256" in error
    doc = json.loads(tracker.ok("export", "json"))
    doc["tables"]["attachment_blobs"] = []
    bad.write_text(json.dumps(doc))
    error = tracker.fails(2, "--db", other, "import", "json", str(bad))
    assert "are neither in the file ('attachment_blobs') nor in the store" in error


@pytest.mark.backends("sqlite")
def test_db_backup_copies_the_evidence_folder(
    tracker: Tracker, files: dict[str, Path], tmp_path: Path, db_url: str
) -> None:
    _history(tracker, files)
    target = tmp_path / "backup.db"
    out = tracker.ok("db", "backup", str(target))
    folder = Path(f"{target}-evidence")
    assert f"Its evidence files are in {folder}" in out
    assert sorted(p.name for p in stored_files(f"sqlite:///{target}")) == sorted(
        p.name for p in stored_files(db_url)
    )
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    backup = f"sqlite:///{target}"
    assert _contents(tracker, "--db", backup) == _contents(tracker)
