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
CFPB = ROOT / "examples" / "directory" / "cfpb.toml"
FOS = ROOT / "examples" / "directory" / "financial-ombudsman-service.toml"
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
    # Below the complaint rung, this letter is the complaint: the 8 weeks count from it.
    assert (
        "Please send me your final response by 26 January 2027, 8 weeks from this complaint, "
        "as the FCA's complaint rules require." in text
    )
    assert (
        "- UK: the firm has 8 weeks to send its final response (here: by 26 January 2027); "
        "after that, or after its final response, you can refer the complaint to the Financial "
        "Ombudsman Service, generally within 6 months of the final response." in text
    )
    assert "Royal Mail Signed For" in text and "certified mail" not in text
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


# --------------------------------------------------------------------------- by country


def uk_story(tracker: Any) -> None:
    """A UK bank charges a fee twice; calls, a broken promise, a formal complaint."""
    step("2026-10-01 09:00", tracker, "org", "import", str(FOS))
    step("2026-10-01 09:00", tracker, "org", "add", "Acme Bank", "--country", "GB")
    step(
        "2026-10-01 09:05",
        tracker,
        *("case", "open", "Overdraft fee charged twice", "--org", "Acme Bank"),
        *("--category", "dispute", "--account", "4321", "--amount", "1129.99"),
        *("--currency", "GBP", "--merchant", "Acme Bank fees", "--txn-date", "2026-09-28"),
    )
    step(
        "2026-10-01 10:00",
        tracker,
        *("case", "contact", "1", "--channel", "phone", "--at", "2026-10-01 09:30"),
        *("--agent", "Jessica R.", "--ref", "ACB-1001", "--summary", "fee to be refunded"),
        *("--promise", "Refund the second fee", "--due", "2026-10-08"),
    )
    step(
        "2026-10-02 10:00",
        tracker,
        *("case", "contact", "1", "--channel", "chat", "--agent", "Tom"),
        *("--summary", "refund in progress"),
        *("--promise", "Call me back", "--due", "2026-10-03"),
    )
    step("2026-10-03 12:00", tracker, "promise", "kept", "2")
    step("2026-10-12 09:00", tracker, "promise", "broken", "1")
    step(
        "2026-10-14 09:00",
        tracker,
        *("case", "escalate", "1", "--to", "complaint", "--at", "2026-10-13 15:00"),
        *("--note", "complaint made by phone; the refund never came"),
    )


def test_uk_letters_golden(tracker: Any) -> None:
    """British dates and pounds, the FCA's 8 weeks as a date, Royal Mail, Yours faithfully."""
    uk_story(tracker)
    text = letter(tracker, "1", "--kind", "complaint")
    check_golden("uk_complaint.md", text)
    assert "- Amount: £1,129.99" in text and "1 December 2026" in text
    assert (
        "Please send me your final response by 8 December 2026: the FCA's complaint rules give "
        "you 8 weeks from my complaint of 13 October 2026." in text
    )
    assert "1 of the 2 promises you made was not kept" in text
    assert "Agent: Jessica R. Reference" in text  # one full stop
    assert "Yours faithfully," in text and "Sincerely" not in text
    assert "certified mail" not in text and "Royal Mail Signed For" in text
    check_golden("uk_billing_error.md", letter(tracker, "1", "--kind", "billing-error"))
    step("2026-12-10 09:00", tracker, "case", "escalate", "1", "--to", "regulator")
    regulator = letter(tracker, "1", now="2026-12-10 10:00")  # the level picks the kind
    check_golden("uk_regulator.md", regulator)
    assert regulator.startswith("[Your name]\\\n[Your address]\n\n10 December 2026\n\n")
    assert "Financial Ombudsman Service\\\nExchange Tower" in regulator
    assert "ended on 8 December 2026" in regulator
    assert "Please send me your final response" not in regulator


def test_us_regulator_letter_golden(tracker: Any) -> None:
    """At the regulator rung: a letter to the CFPB about the company, not to the company."""
    dispute_story(tracker)
    step("2026-11-03 09:00", tracker, "org", "import", str(CFPB))
    step("2026-11-26 09:00", tracker, "case", "escalate", "1", "--to", "complaint")
    step("2026-11-30 09:00", tracker, "case", "escalate", "1", "--to", "regulator")
    text = letter(tracker, "1", "--kind", "regulator")
    check_golden("us_regulator.md", text)
    assert text.count("Consumer Financial Protection Bureau\\\n[Address]") == 1
    assert "I am writing to ask you to look into my complaint about American Express" in text
    assert "I made a formal complaint to American Express on November 26, 2026." in text
    assert "Sincerely," in text
    # A second complaint to the company makes no sense up there: the command says so.
    assert tracker.fails(2, "case", "letter", "1", "--kind", "complaint") == (
        "Error: case 1 is at the regulator level: its letter goes to the regulator "
        "(kind regulator), not a second complaint to the company"
    )


def test_another_country_golden_uses_its_english(tracker: Any) -> None:
    """A German bank: English words, the country's number format (en_DE), the general
    ladder's regulator, and the delivery advice that is no country's."""
    tracker.ok("org", "add", "Beispiel Bank", "--country", "DE")
    with time_machine.travel(at("2026-11-02 10:00"), tick=False):
        tracker.ok(
            *("case", "open", "Card fee", "--org", "Beispiel Bank", "--account", "9876"),
            *("--category", "dispute", "--amount", "1234.5", "--currency", "EUR"),
            *("--merchant", "Kartenentgelt", "--txn-date", "2026-10-30"),
        )
        tracker.ok(
            *("case", "contact", "1", "--channel", "phone", "--agent", "Frau Müller"),
            *("--promise", "Refund", "--due", "2026-11-10"),
        )
    text = letter(tracker, "1")
    check_golden("de_complaint.md", text)
    assert "- Amount: 1.234,50\xa0€" in text
    assert "- Date: 30 October 2026" in text
    assert "I will take the complaint to the regulator or ombudsman." in text
    assert "signed-for or tracked" in text and "Yours faithfully," in text


def test_the_sender_comes_from_the_config(tracker: Any) -> None:
    tracker.ok("config", "set", "name", "Ada Lovelace")
    tracker.ok("config", "set", "address", "1 Main St", "Springfield, IL 62701")
    tracker.ok("case", "open", "Charge", "--org", "Acme")
    text = letter(tracker, "1")
    assert text.startswith("Ada Lovelace\\\n1 Main St\\\nSpringfield, IL 62701\n\n")
    assert "[Signature]\\\nAda Lovelace\n" in text
    assert "[Your name]" not in text and "[Your address]" not in text


def test_promises_are_counted_in_good_grammar(tracker: Any) -> None:
    step("2026-11-01 09:00", tracker, "case", "open", "Charge", "--org", "Acme")
    for n in (1, 2):
        step(
            "2026-11-01 10:00",
            tracker,
            *("case", "contact", "1", "--channel", "phone"),
            *("--promise", f"Promise {n}", "--due", "2026-11-05"),
        )
    step("2026-11-06 09:00", tracker, "promise", "kept", "1")
    assert "1 of the 2 promises you made was not kept" in letter(tracker, "1")
    tracker.ok("undo")
    assert "neither of the two promises you made was kept" in letter(tracker, "1")


def test_events_in_the_same_minute_keep_the_order_they_were_recorded_in(tracker: Any) -> None:
    step("2026-11-01 09:00", tracker, "case", "open", "Charge", "--org", "Acme")
    step(
        "2026-11-20 11:10",
        tracker,
        *("case", "escalate", "1", "--to", "supervisor", "--at", "2026-11-20 11:00"),
    )
    step(
        "2026-11-20 11:12",
        tracker,
        *("case", "contact", "1", "--channel", "phone", "--at", "2026-11-20 11:00"),
        *("--agent", "Supervisor Kim"),
    )
    step(
        "2026-11-20 11:13",
        tracker,
        *("case", "contact", "1", "--channel", "chat", "--at", "2026-11-20 11:00"),
        *("--agent", "Bot"),
    )
    text = letter(tracker, "1")
    first = text.index("escalated to a supervisor")
    assert first < text.index("Supervisor Kim") < text.index("Agent: Bot")


def test_user_text_cannot_add_markup_or_template_syntax(tracker: Any, tmp_path: Path) -> None:
    tracker.ok(
        *("case", "open", "{{ 7 * 7 }} {% if true %}x{% endif %} **bold**"),
        *("--org", "# Acme"), "--merchant", "- list item",
    )  # fmt: skip
    md = letter(tracker, "1")
    assert "{{ 7 \\* 7 }} {% if true %}x{% endif %} \\*\\*bold\\*\\*" in md
    assert "\n\\# Acme\\\n[Address]\n" in md
    assert "- Merchant: \\- list item" in md
    assert "49" not in md


def test_a_template_in_the_config_folder_replaces_the_built_in(
    tracker: Any, tmp_path: Path
) -> None:
    """A user's template gets the same data, escaped; a broken one is one error line."""
    folder = Path(os.environ["TRACKER_HOME"]) / "letters"
    folder.mkdir(parents=True)
    (folder / "complaint.md.j2").write_text(
        '{% extends "_letter.md.j2" %}\n{% block body %}\nMy own words about {{ case.title }}, '
        "by {{ final_response_due }}.\n{% endblock %}\n",
        encoding="utf-8",
    )
    tracker.ok("org", "add", "Acme Bank", "--country", "GB")
    tracker.ok("case", "open", "A *fee*", "--org", "Acme Bank")
    text = letter(tracker, "1")
    assert "\n\nMy own words about A \\*fee\\*, by 26 January 2027.\n\n" in text
    assert "Yours faithfully," in text  # the built-in frame around it
    (folder / "complaint.md.j2").write_text("{% if %}", encoding="utf-8")
    with time_machine.travel(at("2026-12-01 10:00"), tick=False):
        error = tracker.fails(2, "case", "letter", "1")
    assert error.startswith("Error: letter template ") and "line 1" in error, error
    assert len(error.splitlines()) == 1


def test_the_config_locale_overrides_the_country(tracker: Any) -> None:
    tracker.ok("config", "set", "locale", "en_US")
    tracker.ok("org", "add", "Acme Bank", "--country", "GB")
    tracker.ok(
        *("case", "open", "Fee", "--org", "Acme Bank"),
        *("--amount", "10", "--currency", "GBP", "--txn-date", "2026-11-02"),
    )
    text = letter(tracker, "1")
    assert "December 1, 2026" in text and "£10.00" in text and "Sincerely," in text
