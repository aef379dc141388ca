"""`case contact --channel chat --transcript FILE`, through the real CLI on both backends:
what is stored (the interaction, references, promises, the masked transcript), --yes, a
pipe, the flags that win, the refusals, undo; and the question through a real terminal."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pexpect
import pytest
import time_machine
from conftest import Tracker
from procs.support import TRACKER
from sqlalchemy import create_engine, text

from tracker import evidence
from tracker.db import Store
from tracker.models import Attachment

FILES = Path(__file__).parent / "transcripts"
CARD = "3782 822463 10005"  # in timestamped.txt


@pytest.fixture
def case1(tracker: Tracker, clock: time_machine.Traveller) -> Tracker:
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    return tracker


def show(tracker: Tracker) -> dict[str, Any]:
    data: dict[str, Any] = tracker.json("case", "show", "1")
    return data


def stored_copy(db_url: str, attachment_id: int) -> bytes:
    store = Store(db_url)
    try:
        with store.read() as session:
            row = session.get(Attachment, attachment_id)
            assert row is not None
            return evidence.content(session, row)
    finally:
        store.engine.dispose()


def test_a_timestamped_transcript_fills_the_contact(case1: Tracker, db_url: str) -> None:
    result = case1(
        "case", "contact", "1", "--channel", "chat", "--yes",
        "--transcript", str(FILES / "timestamped.txt"),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Logged interaction 1 on case 1 (chat).",
        "Promise 1 recorded, expected from 2026-12-03, due by 2026-12-08 14:09 (business days: "
        "Monday to Friday, no public holidays); case 1 is waiting.",
        "Promise 2 recorded, due 2026-11-27 09:00; case 1 is waiting.",
        "Promise 3 recorded, due 2026-11-30 09:00; case 1 is waiting.",
        "Kept the transcript as attachment 1 (timestamped.txt, 878 bytes; card data masked "
        "in it: 1).",
    ]
    assert "Warning: masked a card number ending 0005 in the transcript" in result.stderr
    assert "  agent:       Jessica" in result.stderr  # what it found, field by field
    case = show(case1)
    (chat,) = case["interactions"]
    assert chat["at"] == "2026-11-24T14:02:00+00:00"
    assert (chat["agent"], chat["duration_seconds"]) == ("Jessica", 11 * 60)
    assert chat["reference_values"] == ["DSP-2026-99812", "CHAT-5531"]
    assert chat["summary"].startswith('Chat transcript timestamped.txt: Jessica. I asked: "Hi')
    assert [(r["value"], r["kind"]) for r in case["references"]] == [
        ("DSP-2026-99812", "dispute"),
        ("CHAT-5531", "other"),
    ]
    assert [(p["text"], p["promised_by"], p["due_at"]) for p in case["promises"]] == [
        (
            "You will receive a provisional credit within 7-10 business days.",
            "company",
            "2026-12-08T14:09:00+00:00",
        ),
        (
            "We'll also send a written acknowledgement by Friday.",
            "company",
            "2026-11-27T09:00:00+00:00",
        ),
        ("I'll send the receipts by Monday.", "me", "2026-11-30T09:00:00+00:00"),
    ]
    assert all(p["interaction_id"] == 1 for p in case["promises"])
    kept = stored_copy(db_url, 1)
    original = (FILES / "timestamped.txt").read_bytes()
    assert CARD.encode() not in kept and "•••• 0005".encode() in kept
    assert b"DSP-2026-99812" in kept and kept.replace("•••• 0005".encode(), b"") in (
        original.replace(CARD.encode(), b"")
    )
    engine = create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM attachments")).mappings().one()
    engine.dispose()
    assert (row["kind"], row["interaction_id"], row["masked"]) == ("transcript", 1, 1)
    assert row["original_sha256"] == evidence.sha256(original) != row["sha256"]


def test_a_bot_hand_over_from_a_pipe_with_the_flags_winning(
    tracker: Tracker, tracker_home: Path, clock: time_machine.Traveller
) -> None:
    tracker_home.mkdir(parents=True, exist_ok=True)
    (tracker_home / "config.toml").write_text('date_order = "DMY"\n')  # 03/11 is 3 November
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    case1 = tracker
    out = case1.ok(
        "case", "contact", "1", "--channel", "chat", "--transcript", "-", "--yes",
        "--agent", "Priya K", "--duration", "15m", "--ref", "X-99812",
        input=(FILES / "handover.txt").read_text(),
    )  # fmt: skip
    assert "Kept the transcript as attachment 1 (transcript.txt," in out
    (chat,) = show(case1)["interactions"]
    assert (chat["agent"], chat["agent_id"], chat["duration_seconds"]) == (
        "Priya K",
        "PR-2231",
        900,
    )
    assert chat["at"] == "2026-11-03T14:02:00+00:00"
    assert chat["reference_values"] == ["X-99812"]  # --ref replaces the ones found
    assert "Virtual Assistant (bot), then Priya" in chat["summary"]
    [promise] = show(case1)["promises"]
    assert promise["due_at"] == "2026-11-10T14:09:00+00:00"  # 3-5 business days, from 14:09
    assert promise["status"] == "pending"


def test_html_and_at_and_an_explicit_promise(case1: Tracker) -> None:
    case1.ok(
        "case", "contact", "1", "--channel", "chat", "--yes",
        "--transcript", str(FILES / "handover-html.html"), "--at", "2026-11-20 10:00",
        "--promise", "Refund to the card", "--due", "5bd",
    )  # fmt: skip
    case = show(case1)
    (chat,) = case["interactions"]
    assert chat["at"] == "2026-11-20T10:00:00+00:00" and chat["agent"] == "Daniel"
    assert chat["duration_seconds"] == 22 * 60
    assert [(p["text"], p["due_at"]) for p in case["promises"]] == [
        ("Refund to the card", "2026-11-27T10:00:00+00:00")  # --promise replaces the found
    ]
    assert [(r["value"], r["kind"]) for r in case["references"]] == [("RF-88213", "claim")]


def test_an_emailed_transcript(case1: Tracker, db_url: str) -> None:
    out = case1.ok(
        "case", "contact", "1", "--channel", "chat", "--yes",
        "--transcript", str(FILES / "emailed.eml"),
    )  # fmt: skip
    assert "Kept the transcript as attachment 1 (emailed.eml," in out
    case = show(case1)
    (chat,) = case["interactions"]
    assert (chat["at"], chat["agent"]) == ("2026-11-24T14:02:00+00:00", "Jessica")
    assert [(r["value"], r["kind"]) for r in case["references"]] == [("CMP-77120", "complaint")]
    kept = stored_copy(db_url, 1)
    assert CARD.encode() not in kept and kept.startswith(b"From: American Express")


def test_json_reports_the_whole_change_and_undo_takes_it_back(case1: Tracker, db_url: str) -> None:
    report = case1.json(
        "case", "contact", "1", "--channel", "chat", "--yes",
        "--transcript", str(FILES / "header.txt"),
    )  # fmt: skip
    assert [i["agent"] for i in report["created"]["interactions"]] == ["Marcus"]
    assert len(report["created"]["promises"]) == 2
    assert [a["id"] for a in report["created"]["attachments"]] == [1]
    assert [r["value"] for r in report["created"]["references"]] == ["44718235"]
    undone = case1.ok("undo")
    assert undone.startswith("Undid case 1: Chat to the company with Marcus")
    assert undone.endswith("(with 1 reference, 2 promises and 1 attachment)\n")
    case = show(case1)
    assert case["interactions"] == [] and case["promises"] == [] and case["references"] == []
    assert case["status"] == "open"
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attachments")).scalar() == 0
    engine.dispose()


def test_refusals_save_nothing(case1: Tracker, tmp_path: Path) -> None:
    path = str(FILES / "timestamped.txt")
    error = case1.fails(2, "case", "contact", "1", "--channel", "chat", "--transcript", path)
    assert error == (
        "Error: a transcript's findings are confirmed on a terminal; add --yes to save what "
        "it found without asking"
    )
    times_only = tmp_path / "times.txt"
    times_only.write_text("[14:02] Agent: Hi, my name is Lee.\n[14:09] You: thanks\n")
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(times_only)
    )
    assert "gives times (14:02) but no date; say when the chat was with --at" in error
    ambiguous = str(FILES / "handover.txt")  # 03/11/2026, no date order configured
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", ambiguous
    )
    assert "could be 3 November or 11 March" in error
    card_ref = tmp_path / "card-ref.txt"
    card_ref.write_text(
        "Chat started 24 Nov 2026 10:00\nAgent: Your reference number is 4111111111111111.\n"
    )
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(card_ref)
    )
    assert "4111111111111111" not in error and "card" in error
    image = tmp_path / "chat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(image)
    )
    assert "is not text (image/png)" in error
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", "-",
        "--summary", "-", input="x",
    )  # fmt: skip
    assert "cannot both read stdin" in error
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--transcript", str(tmp_path / "none")
    )
    assert "cannot read the transcript" in error or "add --yes" in error
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(tmp_path)
    )
    assert "is a folder" in error
    notes = tmp_path / "notes.txt"
    notes.write_text("Remember to call them again on Monday.\n")
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(notes)
    )
    assert error.startswith("Error: found no chat messages in notes.txt")
    future = tmp_path / "future.txt"
    future.write_text("Chat started 30 Nov 2026 10:00\nAgent: hi\nYou: hello\n")
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(future)
    )
    assert "starts at 2026-11-30 10:00, in the future" in error
    assert show(case1)["interactions"] == []


def test_a_utf8_file_with_a_byte_order_mark(case1: Tracker, tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + (FILES / "timestamped.txt").read_bytes())
    case1.ok("case", "contact", "1", "--channel", "chat", "--yes", "--transcript", str(path))
    (chat,) = show(case1)["interactions"]
    assert (chat["at"], chat["agent"]) == ("2026-11-24T14:02:00+00:00", "Jessica")


def test_summary_dash_reads_stdin(case1: Tracker) -> None:
    case1.ok(
        "case", "contact", "1", "--channel", "phone", "--summary", "-",
        input="Called about the charge.\nThey will call back.\n",
    )  # fmt: skip
    (call,) = show(case1)["interactions"]
    assert call["summary"] == "Called about the charge.\nThey will call back."
    error = case1.fails(
        2, "case", "contact", "1", "--channel", "phone", "--summary", "-", input="  \n"
    )
    assert error == "Error: the summary read from stdin is empty; nothing was saved"


# --------------------------------------------------------------------------- a terminal


def spawn(*args: str) -> Any:
    env = {**os.environ, "TZ": "UTC", "COLUMNS": "100", "LINES": "40"}
    child = pexpect.spawn(
        TRACKER, list(args), env=env, encoding="utf-8", dimensions=(40, 100), timeout=30
    )
    child.logfile_read = io.StringIO()
    return child


@pytest.mark.parametrize(("answer", "code"), [("y", 0), ("n", 1)])
def test_on_a_terminal_it_shows_what_it_found_and_asks(
    tracker: Tracker, db_url: str, answer: str, code: int
) -> None:
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    child = spawn(
        "case", "contact", "1", "--channel", "chat",
        "--transcript", str(FILES / "timestamped.txt"),
    )  # fmt: skip
    child.expect_exact("Found in timestamped.txt (9 messages):")
    child.expect_exact("agent:       Jessica")
    child.expect_exact("references:  DSP-2026-99812 (dispute), CHAT-5531")
    child.expect_exact("Save this contact? [Y/n]: ")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    screen = child.logfile_read.getvalue()
    assert child.exitstatus == code, screen
    assert CARD not in screen
    interactions = tracker.json("case", "show", "1")["interactions"]
    if answer == "y":
        assert "Kept the transcript as attachment 1" in screen
        assert [i["agent"] for i in interactions] == ["Jessica"]
    else:
        assert "Nothing was saved." in screen
        assert interactions == []


def test_a_promise_given_counts_from_the_transcripts_own_time(case1: Tracker) -> None:
    out = case1.ok(
        "case", "contact", "1", "--channel", "chat", "--yes",
        "--transcript", str(FILES / "header.txt"), "--promise", "Fee refunded", "--due", "1bd",
    )  # fmt: skip
    # The chat was on Tue 24 Nov at 14:02: one business day later is already past.
    assert "Promise 1 recorded, due 2026-11-25 14:02 (business days: Monday to Friday, no " in out
    assert "already overdue" in out
