"""`case letter`: complaint and billing-error letters from a case's history.

The golden files in tests/golden/ are the letters a reader gets; regenerate them after a
deliberate change with `TRACKER_UPDATE_GOLDEN=1 pytest tests/test_letter.py`, then read the
diff as a reader would.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tracker.config import database_url
from tracker.db import Store
from tracker.errors import UsageError
from tracker.letter import render_letter

ROOT = Path(__file__).resolve().parent.parent
AMEX = ROOT / "examples" / "directory" / "american-express.toml"
GOLDEN = Path(__file__).resolve().parent / "golden"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def step(when: str, tracker: Any, *args: str) -> str:
    with time_machine.travel(at(when), tick=False):
        out: str = tracker.ok(*args)
        return out


def dispute_story(tracker: Any) -> None:
    """A disputed charge: calls, a chat, promises kept and broken, a supervisor."""
    step("2026-11-03 09:00", tracker, "org", "import", str(AMEX))
    step(
        "2026-11-03 09:05",
        tracker,
        *("case", "open", "Disputed charge at ACME Hardware", "--org", "American Express"),
        *("--category", "dispute", "--account", "1005", "--amount", "129.99"),
        *("--currency", "USD", "--merchant", "ACME Hardware", "--txn-date", "2026-10-28"),
    )
    step(
        "2026-11-03 14:55",
        tracker,
        *("case", "contact", "1", "--channel", "phone", "--at", "2026-11-03 14:30"),
        *("--via", "1-800-528-2122", "--agent", "Maria", "--agent-id", "4471"),
        *("--duration", "23m", "--ref", "CALL-88812"),
        *("--summary", "Dispute opened; charge removed pending review"),
        *("--promise", "Provisional credit posts to the account", "--due", "2026-11-17"),
    )
    step(
        "2026-11-05 10:00",
        tracker,
        *("case", "promise", "1", "Send the receipt for the returned goods"),
        *("--due", "2026-11-07", "--by", "me"),
    )
    step("2026-11-06 18:00", tracker, "promise", "kept", "2")
    step(
        "2026-11-10 16:45",
        tracker,
        *("case", "contact", "1", "--channel", "chat", "--agent", "Jordan"),
        *("--ref", "CHAT-5531", "--summary", "agent confirms the dispute is open"),
        *("--promise", "Written acknowledgement by mail", "--due", "2026-11-20"),
    )
    step("2026-11-18 08:00", tracker, "promise", "broken", "1")
    step(
        "2026-11-19 12:00",
        tracker,
        *("case", "contact", "1", "--channel", "mail", "--direction", "in"),
        *("--at", "2026-11-19 09:00", "--ref", "D-2026-4471"),
        *("--summary", "Letter acknowledging the dispute"),
    )
    step("2026-11-19 12:01", tracker, "promise", "kept", "3")
    step(
        "2026-11-20 11:00",
        tracker,
        *("case", "escalate", "1", "--to", "supervisor"),
        *("--note", "the credit did not post by the promised date"),
    )
    step(
        "2026-11-20 11:30",
        tracker,
        *("case", "contact", "1", "--channel", "phone", "--agent", "R. Chen"),
        *("--summary", "Supervisor reviewing the file"),
        *("--promise", "Supervisor calls me back", "--due", "2026-11-24 17:00"),
    )


def letter(tracker: Any, *args: str, now: str = "2026-12-01 10:00") -> str:
    with time_machine.travel(at(now), tick=False):
        out: str = tracker.ok("case", "letter", *args)
        return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRACKER_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; see the module docstring"


def test_billing_error_letter_golden(tracker: Any) -> None:
    dispute_story(tracker)
    check_golden("billing_error.md", letter(tracker, "1", "--kind", "billing-error"))


def test_complaint_letter_golden(tracker: Any) -> None:
    dispute_story(tracker)
    step("2026-11-26 09:00", tracker, "case", "escalate", "1", "--to", "complaint")
    check_golden("complaint.md", letter(tracker, "1", "--kind", "complaint"))


def test_plain_text_letter_golden_written_to_a_txt_file(tracker: Any, tmp_path: Path) -> None:
    dispute_story(tracker)
    target = tmp_path / "letter.txt"
    with time_machine.travel(at("2026-12-01 10:00"), tick=False):
        result = tracker("case", "letter", "1", "--kind", "complaint", "-o", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"Wrote the complaint letter for case 1 to {target}.\n"
    text = target.read_text()
    assert "**" not in text and "##" not in text and "`" not in text
    assert max(len(line) for line in text.splitlines() if not line.startswith("  tracker")) <= 76, (
        text
    )
    check_golden("complaint.txt", text)


def test_the_letter_shows_only_the_last_4_digits(tracker: Any) -> None:
    tracker.ok("case", "open", "Charge", "--account", "1111", "--category", "dispute")
    tracker.ok(
        *("case", "contact", "1", "--channel", "phone"),
        *("--summary", "read them my card 4111 1111 1111 1111, CVV 123"),
    )
    for kind in ("complaint", "billing-error"):
        text = letter(tracker, "1", "--kind", kind)
        assert "•••• 1111" in text and "•••" in text
        assert not re.search(r"\d{5}", text.replace("-", "")), text
        assert "123" not in text


def test_dates_are_local_to_the_given_zone(tracker: Any) -> None:
    step("2026-11-03 09:00", tracker, "case", "open", "Late call", "--org", "Acme")
    step(
        "2026-11-03 20:00",
        tracker,
        *("case", "contact", "1", "--channel", "phone", "--agent", "Kenji"),
    )
    store = Store(database_url())
    try:
        with store.read() as session:
            text = render_letter(
                session,
                1,
                kind="complaint",
                now=at("2026-11-30 16:00"),
                tz=ZoneInfo("Asia/Tokyo"),
                plain=False,
            )
    finally:
        store.dispose()
    assert "\n\n1 December 2026\n\n" in text  # 01:00 in Tokyo
    assert "1. **4 November 2026, 05:00**: I called you. Agent: Kenji." in text


def test_an_undone_escalation_is_not_in_the_letter(tracker: Any) -> None:
    tracker.ok("case", "open", "Charge", "--org", "Acme")
    tracker.ok("case", "escalate", "1", "--to", "supervisor")
    assert "escalated to a supervisor" in letter(tracker, "1")
    tracker.ok("undo")
    assert "escalated" not in letter(tracker, "1")


def test_a_uk_organization_gets_the_fca_and_ombudsman_timelines(tracker: Any) -> None:
    tracker.ok("org", "add", "Acme Bank", "--country", "GB")
    tracker.ok("case", "open", "Fees charged twice", "--org", "acme bank", "--account", "4321")
    text = letter(tracker, "1")
    assert "Acme Bank\\\n[Address]\n" in text
    assert "**Re: Formal complaint — Fees charged twice — account ending 4321**" in text
    assert (
        "Please send me your final response within 8 weeks, as the FCA's complaint rules "
        "require." in text
    )
    assert (
        "- UK: the firm has 8 weeks to send its final response; after that, or after its final "
        "response, you can refer the complaint to the Financial Ombudsman Service, generally "
        "within 6 months of the final response." in text
    )
    assert "Consumer Financial Protection Bureau" not in text
    assert "Yours faithfully," in text


def test_without_a_directory_entry_the_address_is_left_to_fill_in(tracker: Any) -> None:
    tracker.ok("case", "open", "Charge", "--category", "dispute")
    text = letter(tracker, "1", "--kind", "billing-error")
    assert text.startswith(
        "[Your name]\\\n[Your address]\n\n1 December 2026\n\n[Organization]\\\n[Address]\n"
    )
    assert "dispute a billing error on my account ending [last 4 digits]: a charge." in text
    assert "- Amount: [amount]" in text
    assert "Check that statement's date and count 60 days." in text
    # Without a country, both sets of complaint timelines are guidance.
    complaint = letter(tracker, "1")
    assert "- US: if they do not resolve it" in complaint
    assert "- UK: the firm has 8 weeks" in complaint


def test_a_late_billing_error_notice_warns_about_the_60_days(tracker: Any) -> None:
    tracker.ok(
        *("case", "open", "Old charge", "--category", "dispute", "--amount", "10"),
        *("--txn-date", "2026-09-01"),
    )
    text = letter(tracker, "1", "--kind", "billing-error")
    assert (
        "More than 60 days have passed since the transaction (1 September 2026): check the "
        "statement's date at once." in text
    )


def test_user_text_is_escaped_in_markdown_only(tracker: Any, tmp_path: Path) -> None:
    tracker.ok("case", "open", "Charge *twice* at <ACME>", "--merchant", "A_B [shop]")
    md = letter(tracker, "1")
    assert "Charge \\*twice\\* at \\<ACME\\>" in md
    assert "- Merchant: A\\_B \\[shop\\]" in md
    target = tmp_path / "x.txt"
    with time_machine.travel(at("2026-12-01 10:00"), tick=False):
        tracker.ok("case", "letter", "1", "-o", str(target))
    assert "Charge *twice* at <ACME>" in target.read_text()


def test_letter_for_a_missing_case_fails(tracker: Any) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    assert tracker.fails(1, "case", "letter", "9") == "Error: no case 9"


def test_render_letter_refuses_an_unknown_kind(tracker: Any) -> None:
    tracker.ok("case", "open", "x")
    store = Store(database_url())
    try:
        with store.read() as session, pytest.raises(UsageError, match="unknown letter kind"):
            render_letter(session, 1, kind="poem", now=at("2026-12-01 10:00"), tz=UTC)
    finally:
        store.dispose()
