"""`tracker import email`: .eml files and mboxes recorded as email interactions, with their
files kept as evidence; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker

from tests.pdfs import make_pdf
from tracker import config
from tracker.mail import html_to_text

CARD = "4111 1111 1111 1111"
ME = "me@example.org"


def eml(
    subject: str,
    body: str = "Thank you for your message.",
    *,
    sender: str = '"Jessica R. (American Express)" <disputes@amex.example>',
    to: str = ME,
    date: str | None = "Fri, 20 Nov 2026 16:05:00 +0000",
    message_id: str | None = "<1@amex.example>",
    extra: str = "",
) -> bytes:
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if date is not None:
        head.append(f"Date: {date}")
    if message_id is not None:
        head.append(f"Message-ID: {message_id}")
    return ("\n".join(head) + "\n" + extra + "\n" + body + "\n").encode()


def multipart(subject: str, parts: list[tuple[str, str, bytes]], **keys: Any) -> bytes:
    """A multipart/mixed message: each part (headers, encoding, payload)."""
    body = ""
    for headers, encoding, payload in parts:
        text = base64.encodebytes(payload).decode() if encoding == "base64" else payload.decode()
        body += f"--XYZ\n{headers}\nContent-Transfer-Encoding: {encoding}\n\n{text}\n"
    body += "--XYZ--"
    extra = 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XYZ"\n'
    return eml(subject, body, extra=extra, **keys)


@pytest.fixture
def case_with_ref(tracker: Tracker) -> str:
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express", "--ref", "D-4471")
    tracker.ok("case", "open", "Another one", "--ref", "CLM-2020")
    return "1"


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_a_plain_reply_goes_on_the_case_its_subject_names(
    tracker: Tracker, case_with_ref: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "reply.eml", eml("Re: your dispute D-4471", "We will refund you."))
    out = tracker.ok("import", "email", path)
    assert out == f"Imported {path} as interaction 1 on case 1 (email in).\n"
    shown = tracker.json("case", "show", "1")
    (contact,) = shown["interactions"]
    assert (contact["channel"], contact["direction"], contact["via"]) == (
        "email",
        "in",
        "disputes@amex.example",
    )
    assert contact["agent"] == "Jessica R. (American Express)"
    assert contact["at"] == "2026-11-20T16:05:00+00:00"
    assert contact["summary"] == "Re: your dispute D-4471 - We will refund you."
    (kept,) = shown["attachments"]
    assert (kept["kind"], kept["interaction_id"], kept["message_id"]) == (
        "email",
        contact["id"],
        "<1@amex.example>",
    )
    assert kept["filename"] == "Re: your dispute D-4471.eml"
    raw = tracker(*["case", "attachment", "get", "1", "-o", "-"]).stdout_bytes
    assert raw == Path(path).read_bytes()  # nothing to mask: the message as it came
    # Again: skipped, and said so.
    again = tracker("import", "email", path)
    assert (again.exit_code, again.stdout) == (
        0,
        f"Skipped {path}: already recorded (<1@amex.example>).\n",
    )
    assert len(tracker.json("case", "show", "1")["interactions"]) == 1


def test_a_message_in_the_body_names_its_case_and_my_own_is_outgoing(
    tracker: Tracker,
    case_with_ref: str,
    tmp_path: Path,
    tracker_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker_home.mkdir(exist_ok=True)  # on PostgreSQL no store made it
    (tracker_home / "config.toml").write_text(f'email = "{ME}"\n')
    monkeypatch.setattr(config, "_settings_cache", {})  # the fixture's commands read it
    path = write(
        tmp_path,
        "mine.eml",
        eml(
            "Follow-up",
            "About claim clm-2020: where is my refund?",
            sender=f"Me <{ME}>",
            to="claims@bank.example",
            message_id="<2@example.org>",
        ),
    )
    tracker.ok("import", "email", path)
    (contact,) = tracker.json("case", "show", "2")["interactions"]
    assert (contact["direction"], contact["via"], contact["agent"]) == (
        "out",
        "claims@bank.example",
        None,
    )


def test_html_only_becomes_text(tracker: Tracker, case_with_ref: str, tmp_path: Path) -> None:
    html = (
        "<html><head><style>p {color: red}</style></head><body><p>Dear customer,</p>"
        "<p>Your dispute <b>D-4471</b> is closed &amp; credited.</p><script>x()</script>"
        "</body></html>"
    )
    path = write(
        tmp_path,
        "html.eml",
        eml("Update", html, extra="MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"),
    )
    tracker.ok("import", "email", path)
    (contact,) = tracker.json("case", "show", "1")["interactions"]
    assert contact["summary"] == "Update - Dear customer, Your dispute D-4471 is closed & credited."
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a\n\nb\nc"


def test_a_pdf_statement_is_kept_as_evidence_of_the_interaction(
    tracker: Tracker, case_with_ref: str, tmp_path: Path
) -> None:
    pdf = make_pdf([["Statement", "Card ending 1111", "Credit 129.99"]])
    message = multipart(
        "Your statement for D-4471",
        [
            ("Content-Type: text/plain; charset=utf-8", "7bit", b"Attached is the statement."),
            (
                'Content-Type: application/pdf; name="nov.pdf"\n'
                'Content-Disposition: attachment; filename="nov.pdf"',
                "base64",
                pdf,
            ),
        ],
    )
    path = write(tmp_path, "statement.eml", message)
    assert "1 file kept" in tracker.ok("import", "email", path)
    mail, statement = tracker.json("case", "attachment", "list", "1")
    assert (mail["kind"], statement["kind"], statement["filename"]) == ("email", "other", "nov.pdf")
    assert statement["interaction_id"] == mail["interaction_id"] is not None
    got = tracker("case", "attachment", "get", str(statement["id"]), "-o", "-").stdout_bytes
    assert got == pdf
    # Undo takes the message, its contact and its files back.
    tracker.ok("undo")
    shown = tracker.json("case", "show", "1")
    assert shown["attachments"] == [] and shown["interactions"] == []


def test_a_card_number_in_a_quoted_printable_part_is_masked(
    tracker: Tracker, case_with_ref: str, tmp_path: Path
) -> None:
    qp = "Your card 4111=201111=201111=201111 (CVV 123) will be credited, ref D-4471.=\n"
    message = multipart(
        "Refund =?utf-8?q?4111_1111_1111_1111?=",
        [("Content-Type: text/plain; charset=utf-8", "quoted-printable", qp.encode())],
    )
    path = write(tmp_path, "qp.eml", message)
    result = tracker("import", "email", path)
    assert result.exit_code == 0, result.stderr
    assert "Warning:" in result.stderr and CARD not in result.stderr
    shown = tracker.json("case", "show", "1")
    (contact,) = shown["interactions"]
    assert CARD not in json.dumps(shown) and "•••• 1111" in contact["summary"]
    assert "CVV •••" in contact["summary"]
    (kept,) = shown["attachments"]
    assert kept["masked_count"] >= 3 and kept["sha256"] != kept["original_sha256"]
    raw = tracker("case", "attachment", "get", str(kept["id"]), "-o", "-").stdout_bytes
    assert b"4111=201111" not in raw and b"4111 1111 1111 1111" not in raw
    import email

    parsed = email.message_from_bytes(raw)
    (part,) = [p for p in parsed.walk() if not p.is_multipart()]
    assert "•••• 1111 (CVV •••)" in part.get_payload(decode=True).decode()


def test_an_mbox_of_three_with_one_refused(
    tracker: Tracker, case_with_ref: str, tmp_path: Path
) -> None:
    """Each message on its own: one that names no case is refused, with its Error line and
    exit 2, and the others are still imported (in one change)."""
    messages = [
        eml("Re: D-4471", "First.", message_id="<a@x>"),
        eml(
            "Hello",
            "Hello from the bank, no reference.\nFrom here on, nothing.",
            message_id="<b@x>",
        ),
        eml("Claim CLM-2020", "Third.", message_id="<c@x>"),
    ]
    box = b"".join(b"From someone@x Fri Nov 20 16:05:00 2026\n" + m + b"\n" for m in messages)
    box = box.replace(b"\nFrom here on", b"\n>From here on")  # mboxrd quoting
    path = write(tmp_path, "box.mbox", box)
    result = tracker("import", "email", path, "--json")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path} message 2: no reference number of a case in its subject or body; give "
        "--case CASE (or add the reference with `tracker case ref`)\n"
    )
    report = json.loads(result.stdout)
    assert [(m["source"], m["case_id"]) for m in report["imported"]] == [
        (f"{path} message 1", 1),
        (f"{path} message 3", 2),
    ]
    assert report["refused"] == [
        {"source": f"{path} message 2", "reason": report["refused"][0]["reason"]}
    ]
    # --case puts the refused one on a case; the other two are already there.
    out = tracker.ok("import", "email", path, "--case", "1")
    assert out.count("Skipped") == 2 and "message 2 as interaction" in out
    second = tracker.json("case", "show", "1")["interactions"][-1]
    assert second["summary"].endswith("from the bank, no reference. From here on, nothing.")


def test_a_message_without_a_readable_date_is_refused(
    tracker: Tracker, case_with_ref: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "nodate.eml", eml("Re: D-4471", date=None))
    error = tracker.fails(2, "import", "email", path)
    assert error == f"Error: {path}: it has no Date that can be read; nothing of it was saved"
    bad = write(tmp_path, "bad.eml", eml("Re: D-4471", date="sometime last week"))
    assert "no Date" in tracker.fails(2, "import", "email", bad)
    assert tracker.json("case", "show", "1")["interactions"] == []


def test_a_pdf_with_a_card_number_refuses_its_whole_message(
    tracker: Tracker, case_with_ref: str, tmp_path: Path, db_url: str
) -> None:
    pdf = make_pdf([["Statement"], ["Card number " + CARD]])
    message = multipart(
        "Statement D-4471",
        [
            ("Content-Type: text/plain", "7bit", b"See attached."),
            ('Content-Type: application/pdf\nContent-Disposition: attachment; filename="s.pdf"',
             "base64", pdf),
        ],
    )  # fmt: skip
    path = write(tmp_path, "card.eml", message)
    error = tracker.fails(2, "import", "email", path)
    assert "shows a full card number on page 2" in error and CARD not in error
    shown = tracker.json("case", "show", "1")
    assert shown["interactions"] == [] and shown["attachments"] == []


def test_a_case_that_is_closed_or_missing_refuses_the_message(
    tracker: Tracker, case_with_ref: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "reply.eml", eml("Re: D-4471"))
    assert tracker.fails(2, "import", "email", path, "--case", "9") == f"Error: {path}: no case 9"
    tracker.ok("case", "close", "1")
    error = tracker.fails(2, "import", "email", path)
    assert error == f"Error: {path}: case 1 is closed; reopen it first"


def test_a_file_that_is_not_an_email_is_refused(tracker: Tracker, tmp_path: Path) -> None:
    tracker.ok("case", "open", "x")
    path = write(tmp_path, "notes.txt", b"just some text\n")
    assert tracker.fails(2, "import", "email", path) == (
        f"Error: {path}: {path} is not an email (no From or Subject header)"
    )
    missing = str(tmp_path / "missing.eml")
    assert tracker.fails(2, "import", "email", missing) == (
        f"Error: cannot read {missing}: No such file or directory"
    )
