"""`tracker call`, driven through a real pseudo-terminal (pexpect) as a person would use it.

The installed command runs in an 80x24 pty on the test's store (TRACKER_DB, both backends);
the store is read back with the CLI. The process is killed in the middle (SIGKILL, SIGHUP)
and the draft it leaves is checked, then finished by the next `tracker call`.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
from typing import Any

import pexpect
import pytest
from conftest import Tracker
from procs.support import TRACKER

CARD = "4111 1111 1111 1111"


def spawn(*args: str) -> pexpect.spawn:  # type: ignore[type-arg]
    env = {**os.environ, "TZ": "UTC", "COLUMNS": "80", "LINES": "24"}
    child = pexpect.spawn(
        TRACKER, list(args), env=env, encoding="utf-8", dimensions=(24, 80), timeout=20
    )
    child.logfile_read = io.StringIO()
    return child


def answer(child: Any, prompt: str, text: str) -> None:
    child.expect_exact(prompt)
    child.sendline(text)


def screen(child: Any) -> str:
    text: str = child.logfile_read.getvalue()
    return text.replace("\r\n", "\n")


@pytest.fixture
def dispute(tracker: Tracker) -> int:
    tracker.ok("org", "import", "examples/directory/american-express.toml")
    opened = tracker.json(
        "case", "open", "Charged twice at ACME", "--org", "American Express",
        "--category", "dispute", "--account", "1005", "--amount", "129.99",
        "--currency", "USD", "--merchant", "ACME Hardware", "--ref", "D-4471",
    )  # fmt: skip
    return int(opened["id"])


def contact(tracker: Tracker, case_id: int) -> dict[str, Any]:
    (only,) = tracker.json("case", "show", str(case_id))["interactions"]
    return dict(only)


def test_a_whole_call_from_dialling_to_the_recorded_contact(tracker: Tracker, dispute: int) -> None:
    child = spawn("call", str(dispute))
    child.expect_exact("Dial: +1 800-528-2122")
    child.expect_exact("Have ready: card ending 1005")
    answer(child, "Agent's name (ask for it): ", "Jen")
    answer(child, "Agent's id or badge: ", "4471")
    answer(child, "] > ", f"The charge shows twice, my card is {CARD}")
    answer(child, "] > ", "")
    answer(child, "] > ", "They see both charges")
    answer(child, "] > ", "")
    answer(child, "Reference number: ", "ABC-12345")
    answer(child, "Reference number: ", "")
    answer(child, "What did they promise (Enter: nothing more): ", "Credit the second charge")
    answer(child, "By when", "7-10 busness days")
    child.expect_exact("Error: invalid value for the promise's time: cannot read")
    answer(child, "By when", "7-10 business days")
    child.expect_exact("expected from")
    answer(child, "What did they promise (Enter: nothing more): ", "")
    answer(child, "] > ", "Check the next statement")
    answer(child, "] > ", "")
    answer(child, "follow up when", "the 15th")
    child.expect_exact("Follow-up")
    answer(child, "Call length [", "23m")
    child.expect_exact("tracker undo takes back the whole call.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, screen(child)
    shown = screen(child)
    assert "Warning: masked a card number ending 1111" in shown
    assert CARD not in shown.replace(f"is {CARD}\n", "")  # only the echo of the typing
    # What the program writes fits 80 columns (a prompt's line holds what was typed, too).
    assert all(len(line) <= 80 for line in shown.splitlines() if line[:1] != "["), shown

    detail = tracker.json("case", "show", str(dispute))
    (call,) = detail["interactions"]
    assert call["channel"] == "phone" and call["via"] == "+1 800-528-2122"
    assert (call["agent"], call["agent_id"], call["draft"]) == ("Jen", "4471", False)
    assert call["duration_seconds"] == 23 * 60
    assert call["reference_values"] == ["ABC-12345"]
    assert call["summary"] == (
        "Me: The charge shows twice, my card is •••• 1111\n"
        "Them: They see both charges\n"
        "Next: Check the next statement"
    )
    (promise,) = detail["promises"]
    assert promise["text"] == "Credit the second charge"
    assert promise["interaction_id"] == call["id"] and promise["window_start_at"] is not None
    (follow_up,) = detail["follow_ups"]
    assert follow_up["due_at"].endswith("09:00:00+00:00") and "-15T" in follow_up["due_at"]
    assert detail["status"] == "waiting"
    events = [e for e in detail["events"] if e["type"] == "interaction"]
    assert "with Jen (id 4471)" in events[0]["summary"]
    assert events[0]["reference"] == "ABC-12345"

    # The whole call is one change: one undo takes back the contact and all it produced.
    assert "(with" in tracker.ok("undo")
    after = tracker.json("case", "show", str(dispute))
    assert after["interactions"] == [] and after["promises"] == [] and after["follow_ups"] == []
    assert [r["value"] for r in after["references"]] == ["D-4471"]
    assert after["status"] == "open"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
def test_a_killed_call_leaves_a_draft_that_the_next_call_finishes(
    tracker: Tracker, dispute: int, sig: signal.Signals
) -> None:
    child = spawn("call", str(dispute))
    answer(child, "Agent's name (ask for it): ", "Maria")
    answer(child, "Agent's id or badge: ", "")
    answer(child, "] > ", "Asked for the charge to be reversed")
    child.expect_exact("] > ")  # the line above is saved once the next prompt shows
    child.kill(sig)
    child.close()
    assert child.signalstatus == sig or child.exitstatus is not None

    draft = contact(tracker, dispute)
    assert draft["draft"] is True
    assert draft["agent"] == "Maria"
    assert draft["summary"] == "Me: Asked for the charge to be reversed"
    assert "unfinished call: finish it with tracker call 1" in tracker.ok(
        "case", "show", str(dispute)
    ).replace(str(dispute), "1")

    again = spawn("call")
    again.expect_exact(f"Case {dispute} has an unfinished call")
    again.expect_exact("Maria")
    answer(again, "Finish it? [Y/n] ", "")
    answer(again, "Agent's name [Maria]: ", "")
    answer(again, "Agent's id or badge: ", "77")
    answer(again, "] > ", "")
    answer(again, "] > ", "They will reverse it")
    answer(again, "] > ", "")
    answer(again, "Reference number: ", "REV-991")
    answer(again, "Reference number: ", "")
    answer(again, "What did they promise (Enter: nothing more): ", "")
    answer(again, "] > ", "")
    answer(again, "follow up when", "")
    answer(again, "Call length [", "")
    again.expect_exact("Recorded contact")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0, screen(again)

    done = contact(tracker, dispute)
    assert done["draft"] is False
    assert (done["agent"], done["agent_id"]) == ("Maria", "77")
    assert done["summary"] == "Me: Asked for the charge to be reversed\nThem: They will reverse it"
    assert done["reference_values"] == ["REV-991"]
    assert "unfinished call" not in tracker.ok("case", "show", str(dispute))
    # Two sessions, one change: undo takes back both halves of the call at once.
    tracker.ok("undo")
    after = tracker.json("case", "show", str(dispute))
    assert after["interactions"] == []
    assert [r["value"] for r in after["references"]] == ["D-4471"]


def test_ctrl_c_keeps_the_draft_and_says_how_to_finish_it(tracker: Tracker, dispute: int) -> None:
    child = spawn("call", str(dispute))
    answer(child, "Agent's name (ask for it): ", "Sam")
    child.expect_exact("Agent's id or badge: ")
    child.sendintr()
    child.expect_exact(f"Finish it with: tracker call {dispute}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    draft = contact(tracker, dispute)
    assert (draft["draft"], draft["agent"]) == (True, "Sam")


def test_a_call_with_no_reference_or_agent_reminds_the_user_to_ask(
    tracker: Tracker, dispute: int
) -> None:
    child = spawn("call", str(dispute))
    for prompt in ("Agent's name", "Agent's id", "] > ", "] > ", "Reference number: "):
        answer(child, prompt, "")
    answer(child, "What did they promise", "")
    answer(child, "] > ", "")
    answer(child, "follow up when", "")
    child.expect_exact("No reference number yet: ask for one before you hang up.")
    answer(child, "Reference number: ", "LATE-1")
    answer(child, "Reference number: ", "")
    child.expect_exact("No agent's name yet: ask who you are speaking to.")
    answer(child, "Agent's name: ", "")
    answer(child, "Call length [", "")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert contact(tracker, dispute)["reference_values"] == ["LATE-1"]


def test_an_unknown_case_or_a_closed_one_is_refused_before_anything_is_asked(
    tracker: Tracker, dispute: int
) -> None:
    child = spawn("call", "99")
    child.expect_exact("Error: no case 99")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    child = spawn("call")
    child.expect_exact("Error: no unfinished call; say which case to call about")
    child.expect(pexpect.EOF)
    tracker.ok("case", "close", str(dispute))
    child = spawn("call", str(dispute))
    child.expect(pexpect.EOF)
    child.close()
    shown = screen(child)
    assert shown.startswith(f"Error: case {dispute} is closed") and "Dial" not in shown, shown
    assert tracker.json("case", "show", str(dispute))["interactions"] == []


def test_call_opens_a_case_with_org_and_starts_at_once(tracker: Tracker) -> None:
    tracker.ok("org", "import", "examples/directory/american-express.toml")
    child = spawn("call", "--org", "amex", "--category", "lost_stolen", "Card lost")
    child.expect_exact("Opened case 1.")
    child.expect_exact("Agent's name")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert contact(tracker, 1)["draft"] is True


def test_without_a_terminal_call_refuses_and_points_at_case_contact(dispute: int) -> None:
    result = subprocess.run(
        [TRACKER, "call", str(dispute)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 2
    assert re.fullmatch(r"Error: tracker call .*needs a terminal.*case contact.*\n", result.stderr)
