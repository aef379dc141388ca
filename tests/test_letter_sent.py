"""`case letter --sent`: the letter recorded as sent, kept as evidence, and the clocks it
starts counted from its date; all of it one change."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import time_machine
from sqlalchemy import select

from tracker.config import database_url
from tracker.db import Store
from tracker.evidence import content
from tracker.models import Attachment, Interaction, Reference

ROOT = Path(__file__).resolve().parent.parent
AMEX = ROOT / "examples" / "directory" / "american-express.toml"
USPS = "9407111899223197428490"  # a USPS tracking number: 22 digits, not a card


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def step(when: str, tracker: Any, *args: str) -> str:
    with time_machine.travel(at(when), tick=False):
        out: str = tracker.ok(*args)
        return out


def thresholds(tracker: Any, when: str) -> dict[str, str]:
    """`due --within 120d`'s thresholds: why -> when (ISO)."""
    with time_machine.travel(at(when), tick=False):
        items = tracker.json("due", "--within", "120d")
    return {i["text"]: i["due_at"] for i in items if i["kind"] == "threshold"}


class Kept:
    """An attachment's columns, its bytes and its interaction's, read while the session is open."""

    def __init__(self, row: Attachment, data: bytes, interaction: Interaction | None) -> None:
        self.kind, self.filename = row.kind, row.filename
        self.sha256, self.original_sha256 = row.sha256, row.original_sha256
        self.data = data
        self.channel = interaction.channel if interaction else None
        self.direction = interaction.direction if interaction else None
        self.interaction_at = interaction.at if interaction else None
        self.interaction_id = interaction.id if interaction else None


def stored(case_id: int = 1) -> list[Kept]:
    store = Store(database_url())
    try:
        with store.read() as session:
            rows = session.scalars(select(Attachment).where(Attachment.case_id == case_id))
            return [
                Kept(a, content(session, a), session.get(Interaction, a.interaction_id or 0))
                for a in rows
            ]
    finally:
        store.dispose()


def references(case_id: int = 1) -> list[tuple[str, str, int | None]]:
    store = Store(database_url())
    try:
        with store.read() as session:
            rows = session.scalars(select(Reference).where(Reference.case_id == case_id))
            return [(r.value, r.kind, r.interaction_id) for r in rows]
    finally:
        store.dispose()


def dispute(tracker: Any) -> None:
    step("2026-11-01 09:00", tracker, "org", "import", str(AMEX))
    step(
        "2026-11-01 09:05",
        tracker,
        *("case", "open", "Disputed charge", "--org", "American Express", "--category"),
        *("dispute", "--account", "1005", "--amount", "129.99", "--currency", "USD"),
        *("--merchant", "ACME", "--txn-date", "2026-10-28"),
    )


def test_a_sent_billing_error_notice_is_kept_and_starts_the_fcba_clocks(tracker: Any) -> None:
    dispute(tracker)
    before = thresholds(tracker, "2026-11-02 09:00")
    assert before["30 days since the billing-error notice"] == "2026-12-01T09:05:00+00:00"
    out = step(
        "2026-11-05 12:00",
        tracker,
        *("case", "letter", "1", "--kind", "billing-error", "--sent", "--via", "mail"),
        *("--tracking", USPS, "--at", "2026-11-04 16:00"),
    )
    [attachment] = stored()
    kept = attachment.data
    assert out.splitlines()[0] == (
        "Recorded the billing-error letter for case 1 as sent by mail on 2026-11-04 16:00 "
        f"(contact 1), tracking number {USPS}."
    )
    assert f"SHA-256 {attachment.sha256}" in out
    assert "  2026-12-04  30 days since the billing-error notice (fcba-acknowledge-30d)" in out
    # The letter kept is the letter as it read that day, without the notes for the user.
    assert attachment.kind == "letter" and attachment.filename == (
        "letter-1-billing-error-2026-11-04.md"
    )
    assert attachment.sha256 == hashlib.sha256(kept).hexdigest()
    text = kept.decode()
    assert "\n\nNovember 4, 2026\n\n" in text and "Re: Notice of billing error" in text
    assert "Before you send it" not in text and "Billing-error notice sent" not in text
    assert (attachment.channel, attachment.direction) == ("mail", "out")
    assert attachment.interaction_at == at("2026-11-04 16:00")
    assert references() == [(USPS, "tracking", attachment.interaction_id)]  # exactly as typed
    # The FCBA's 30, 60 and 90 days now count from the notice, not from the opening.
    after = thresholds(tracker, "2026-11-05 12:00")
    assert after["30 days since the billing-error notice"] == "2026-12-04T16:00:00+00:00"
    assert after["90 days since the billing-error notice"] == "2027-02-02T16:00:00+00:00"
    shown = step("2026-11-05 12:00", tracker, "case", "show", "1")
    assert "letter sent" in shown and f"Reference {USPS} (tracking)" in shown
    # One change: undo takes it all back.
    undone = step("2026-11-05 12:01", tracker, "undo")
    assert undone.startswith("Undid case 1: Mail to the company: Billing-error notice sent"), undone
    assert stored() == [] and references() == []
    assert thresholds(tracker, "2026-11-05 12:02")["30 days since the billing-error notice"] == (
        "2026-12-01T09:05:00+00:00"
    )


def test_a_sent_complaint_puts_the_case_on_the_complaint_rung_that_day(tracker: Any) -> None:
    step("2026-10-01 09:00", tracker, "org", "add", "Acme Bank", "--country", "GB")
    step("2026-10-01 09:00", tracker, "case", "open", "Fees", "--org", "Acme Bank")
    data = tracker.json(
        *("case", "letter", "1", "--kind", "complaint", "--sent", "--via", "email"),
        *("--at", "2026-10-06 09:30"),
    )
    letter = data["letter"]
    assert letter["escalated_to"] == "complaint" and letter["channel"] == "email"
    assert letter["clocks"] == [
        {
            "rule": "complaint-8w",
            "why": "8 weeks since the formal complaint",
            "at": "2026-12-01T09:30:00+00:00",
        }
    ]
    assert data["case"]["escalation_level"] == "complaint"
    assert [e["type"] for e in data["events"]] == [
        "escalated", "interaction", "attachment_added", "letter_sent",
    ]  # fmt: skip
    assert data["created"]["interactions"][0]["channel"] == "email"
    assert thresholds(tracker, "2026-10-07 09:00")["8 weeks since the formal complaint"] == (
        "2026-12-01T09:30:00+00:00"
    )
    [attachment] = stored()
    kept = attachment.data
    text = kept.decode()
    # The letter kept is the complaint itself: its 8 weeks count from its own date.
    assert "\n\n6 October 2026\n\n" in text
    assert "final response by 1 December 2026, 8 weeks from this complaint" in text
    # The later letter to the ombudsman counts from that complaint.
    step("2026-12-02 09:00", tracker, "case", "escalate", "1", "--to", "regulator")
    with time_machine.travel(at("2026-12-02 10:00"), tick=False):
        to_ombudsman = tracker.ok("case", "letter", "1")
    assert "I made a formal complaint to Acme Bank on 6 October 2026." in to_ombudsman
    assert "ended on 1 December 2026" in to_ombudsman


def test_a_copy_given_is_kept_masked_instead_of_the_letter(tracker: Any, tmp_path: Path) -> None:
    dispute(tracker)
    copy = tmp_path / "signed letter.txt"
    copy.write_text("My letter. Card 4111 1111 1111 1111 by mistake.\n", encoding="utf-8")
    with time_machine.travel(at("2026-11-05 12:00"), tick=False):
        result = tracker(
            *("case", "letter", "1", "--kind", "billing-error", "--sent"),
            *("--copy", str(copy)),
        )
    assert result.exit_code == 0, result.stderr
    assert "Warning: masked" in result.stderr
    [attachment] = stored()
    kept = attachment.data
    assert attachment.filename == "signed letter.txt"
    assert b"4111 1111 1111 1111" not in kept and b"My letter." in kept
    assert attachment.original_sha256 == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert attachment.sha256 != attachment.original_sha256


def test_bad_input_changes_nothing(tracker: Any) -> None:
    dispute(tracker)
    assert tracker.fails(2, "case", "letter", "1", "--via", "mail").startswith(
        "Error: --via goes with --sent (see '"
    )
    assert tracker.fails(2, "case", "letter", "1", "--tracking", "X1", "--json").startswith(
        "Error: --tracking, --json go with --sent"
    )
    card = tracker.fails(2, "case", "letter", "1", "--sent", "--tracking", "4111111111111111")
    assert "4111111111111111" not in card and "--not-a-card" in card
    with time_machine.travel(at("2026-11-05 12:00"), tick=False):
        future = tracker.fails(2, "case", "letter", "1", "--sent", "--at", "2026-11-09")
    assert "in the future" in future
    early = tracker.fails(2, "case", "letter", "1", "--sent", "--at", "2026-10-01")
    assert "before the case was opened" in early
    assert stored() == [] and references() == []
    tracker.ok("case", "close", "1")
    assert tracker.fails(1, "case", "letter", "1", "--sent").startswith("Error: case 1 is closed")


def test_the_written_file_is_the_letter_as_sent(tracker: Any, tmp_path: Path) -> None:
    dispute(tracker)
    target = tmp_path / "sent.txt"
    step(
        "2026-11-05 12:00",
        tracker,
        *("case", "letter", "1", "--kind", "billing-error", "--sent", "-o", str(target)),
        *("--at", "2026-11-04 16:00"),
    )
    [attachment] = stored()
    kept = attachment.data
    assert attachment.filename.endswith(".txt")
    assert target.read_text().startswith(kept.decode().split("=" * 76)[0].rstrip("\n"))
    assert "November 4, 2026" in target.read_text()
