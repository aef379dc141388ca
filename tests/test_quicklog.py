"""`tracker log "TEXT"`: the corpus of phrasings (tests/quicklog_corpus.py), the words kept
as data, and the command on a real store (both backends).

`python tests/test_quicklog.py` prints how many phrasings it reads entirely right.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from quicklog_corpus import CORPUS, ORGANIZATIONS, Entry, Misreads, Reads, Refuses

from tracker import quicklog
from tracker.errors import UsageError
from tracker.quicklog import understand
from tracker.when import Calendar, parse_window

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)  # tests/helpers.py's NOW, a Thursday
DEFAULTS: dict[str, Any] = {
    "channel": None,
    "direction": "out",
    "organization": None,
    "agent": None,
    "agent_id": None,
    "references": [],
    "promises": [],
    "follow_up": None,
    "duration": None,
    "at": None,
}


def read(text: str) -> dict[str, Any]:
    calendar = Calendar("US")
    found = understand(
        text, ORGANIZATIONS, check_time=lambda when: parse_window(when, NOW, calendar=calendar)
    )
    return found.fields()


def outcome(entry: Entry) -> tuple[bool, str]:
    """(as the corpus says, what happened)."""
    try:
        got = read(entry.text)
    except UsageError as exc:
        said = str(exc)
        return isinstance(entry, Refuses) and said.startswith(entry.message), f"refused: {said}"
    if isinstance(entry, Refuses):
        return False, f"read {got}"
    return got == {**DEFAULTS, **entry.parts}, f"read {got}"


def report() -> str:
    total = len(CORPUS)
    right = [e for e in CORPUS if outcome(e)[0] and not isinstance(e, Misreads) and not _cannot(e)]
    refused = [e for e in right if isinstance(e, Refuses)]
    cannot = [e for e in CORPUS if _cannot(e)]
    wrong = [e for e in CORPUS if isinstance(e, Misreads)]
    return (
        f"tracker log reads {len(right)} of {total} phrasings entirely right "
        f"({len(right) - len(refused)} read, {len(refused)} refused as they should be); "
        f"{len(cannot)} it cannot read and refuses; {len(wrong)} it misreads"
    )


def _cannot(entry: Entry) -> bool:
    return isinstance(entry, Refuses) and entry.cannot


@pytest.mark.parametrize("entry", CORPUS, ids=[e.text[:60] for e in CORPUS])
def test_every_phrasing_of_the_corpus_reads_as_it_says(entry: Entry) -> None:
    ok, what = outcome(entry)
    assert ok, f"{entry.text!r}: {what}"


def test_the_corpus_has_sixty_phrasings_and_most_are_read_entirely_right() -> None:
    assert len(CORPUS) >= 60
    print(report())
    right = sum(1 for e in CORPUS if isinstance(e, Reads))
    assert right >= 60


def test_the_words_are_data_not_code() -> None:
    """No word a user types appears in the parser's code: another language is a file."""
    source = Path(quicklog.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    # What the code matches text with: the patterns given to re, and the words it compares.
    patterns = " ".join(
        arg.value.lower()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "re"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    )
    compared = " ".join(
        item.value.lower()
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        for side in (node.left, *node.comparators)
        for item in ast.walk(side)
        if isinstance(item, ast.Constant) and isinstance(item.value, str)
    )
    literals = re.sub(r"\(\?p<\w+>", " ", f"{patterns} {compared}")  # group names
    data = tomllib.loads(
        (Path(quicklog.__file__).parent / "quicklog_en.toml").read_text(encoding="utf-8")
    )
    phrases = [
        *(w for c in data["channel"] for w in c["words"]),
        *data["agent"]["words"],
        *(w for r in data["reference"] for w in r["words"]),
        *data["promise"]["company"],
        *data["promise"]["me"],
        *data["follow_up"]["words"],
        *data["clauses"]["joiners"],
    ]
    inside = [p for p in phrases if len(p) > 2 and f" {p} " in f" {literals} "]
    assert inside == []


# --------------------------------------------------------------------------- the command


@pytest.fixture
def amex(tracker: Any) -> int:
    tracker.ok("org", "import", "examples/directory/american-express.toml")
    return int(tracker.json("case", "open", "Charged twice", "--org", "American Express")["id"])


ISSUE_LINE = (
    "called amex, spoke to Jen (id 4471), ref ABC-12345, credit in 7-10 business days, "
    "call back if nothing by the 15th"
)


def test_the_issue_line_becomes_a_phone_contact_with_all_its_parts(
    tracker: Any, amex: int, clock: Any
) -> None:
    shown = tracker.ok("log", ISSUE_LINE, "--yes")
    assert "Agent      Jen\nAgent id   4471\nReference  ABC-12345 (call)\n" in shown
    assert f"Logged interaction 1 on case {amex} (phone)." in shown
    detail = tracker.json("case", "show", str(amex))
    (contact,) = detail["interactions"]
    assert (contact["channel"], contact["direction"]) == ("phone", "out")
    assert (contact["agent"], contact["agent_id"]) == ("Jen", "4471")
    assert contact["reference_values"] == ["ABC-12345"]
    assert contact["summary"] == ISSUE_LINE
    (promise,) = detail["promises"]
    assert promise["text"] == "credit" and promise["promised_by"] == "company"
    # 10 business days on the US calendar from Thursday 26 November 2026 (Thanksgiving):
    # from 7 business days, Monday 7 December.
    assert promise["due_at"] == "2026-12-10T14:00:00+00:00"
    assert promise["window_start_at"] == "2026-12-07T14:00:00+00:00"
    (follow_up,) = detail["follow_ups"]
    assert follow_up["due_at"] == "2026-12-15T09:00:00+00:00"
    assert follow_up["text"] == "call back if nothing"
    assert detail["status"] == "waiting"
    # One change: undo takes it all back.
    tracker.ok("undo")
    after = tracker.json("case", "show", str(amex))
    assert after["interactions"] == after["promises"] == after["follow_ups"] == []


def test_log_json_prints_the_saved_write_report(tracker: Any, amex: int, clock: Any) -> None:
    result = tracker("log", "amex called me back, ref CB-1, refund by Friday", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    (contact,) = report["created"]["interactions"]
    assert contact["direction"] == "in" and contact["reference_values"] == ["CB-1"]
    assert [p["text"] for p in report["created"]["promises"]] == ["refund"]
    assert "Reference  CB-1 (call)" in result.stderr  # what it understood, off stdout


def test_the_latest_active_case_of_the_organization_is_chosen(tracker: Any, amex: int) -> None:
    second = int(tracker.json("case", "open", "Lost card", "--org", "American Express")["id"])
    shown = tracker.ok("log", "chatted with amex, no news", "--yes")
    assert f"Case       {second}: Lost card" in shown and "latest of 2 active" in shown
    assert tracker.json("case", "show", str(amex))["interactions"] == []
    tracker.ok("log", "chatted with amex, no news", "--yes", "--case", str(amex))
    assert len(tracker.json("case", "show", str(amex))["interactions"]) == 1


@pytest.mark.parametrize(
    ("line", "options", "error"),
    [
        ("called amex, credit by fridya", [], "Error: 'credit by fridya': cannot read 'by fridya'"),
        ("called bob, ref 1", [], "Error: which case? the line names no organization"),
        ("called amex and the cfpb", [], "Error: the line names more than one organization"),
        ("spoke to Jen, ref 9", ["--case", "1"], "Error: which channel?"),
        ("called amex, ref 9", ["--channel", "chat"], "Error: the line says phone, but --channel"),
        ("called amex, they will look into it", [], "Error: the promise 'they will look into it'"),
        ("called amex, credit by 2020-01-01", [], "Error: the promise 'credit' 2020-01-01 09:00"),
        ("called amex", ["--case", "9"], "Error: no case 9"),
    ],
)
def test_log_refuses_rather_than_guesses_and_saves_nothing(
    tracker: Any, amex: int, line: str, options: list[str], error: str
) -> None:
    tracker.ok("org", "add", "Consumer Financial Protection Bureau")
    code = 1 if "no case" in error else 2
    said = tracker.fails(code, "log", line, "--yes", *options)
    assert said.startswith(error), said
    assert tracker.json("case", "show", str(amex))["interactions"] == []


def test_an_organization_without_an_active_case_is_refused(tracker: Any) -> None:
    tracker.ok("org", "add", "American Express")
    said = tracker.fails(2, "log", "called amex", "--yes")
    assert said.startswith("Error: American Express has no active case; open one")


def test_a_card_in_the_line_is_masked_and_a_card_like_reference_refused(
    tracker: Any, amex: int, db_url: str
) -> None:
    result = tracker("log", "called amex, card 4111 1111 1111 1111 charged twice", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "4111 1111 1111 1111" not in result.stdout + result.stderr
    assert "Warning: masked a card number ending 1111" in result.stderr
    (contact,) = tracker.json("case", "show", str(amex))["interactions"]
    assert contact["summary"] == "called amex, card •••• 1111 charged twice"
    refused = tracker("log", "called amex, ref 4111 1111 1111 1111", "--yes")
    assert refused.exit_code == 2 and refused.stdout == ""  # not even in what it understood
    assert "4111 1111 1111 1111" not in refused.stderr
    assert "looks like card data" in refused.stderr and "--not-a-card" in refused.stderr
    assert len(tracker.json("case", "show", str(amex))["interactions"]) == 1


def test_without_a_terminal_log_asks_for_yes(tracker: Any, amex: int) -> None:
    said = tracker.fails(2, "log", "called amex")
    assert said == "Error: no terminal to ask on: add --yes to save it without asking"
    assert tracker.json("case", "show", str(amex))["interactions"] == []


def test_the_contact_time_said_in_the_line_is_when_it_happened(
    tracker: Any, amex: int, clock: Any
) -> None:
    tracker.ok("log", "called amex yesterday 3pm, ref Y-1", "--yes")
    (contact,) = tracker.json("case", "show", str(amex))["interactions"]
    assert contact["at"] == (NOW - timedelta(days=1)).replace(hour=15).isoformat()
    said = tracker.fails(2, "log", "called amex yesterday", "--at", "2 days ago", "--yes")
    assert said.startswith("Error: the line says when (yesterday) and so does --at")


if __name__ == "__main__":
    print(report())


@pytest.mark.parametrize(
    "text",
    [
        "called amex, disputed charge on card 4111 1111 1111 1111 at ACME",
        "called amex about the charge on card ending 4200",
        "called amex, the charge on account 1005 is wrong",
    ],
)
def test_a_cue_word_before_a_plain_number_is_no_time(text: str) -> None:
    """ "on card ... 4200": "on" is a time's cue, but what follows does not start like a
    time, so the words stay the summary's (this line was refused as a time it could not
    read, with the card already masked in the message)."""
    got = read(text)
    assert got["promises"] == [] and got["follow_up"] is None and got["at"] is None


def test_a_cue_then_an_article_or_a_cue_still_starts_a_time() -> None:
    assert read("called amex, they will credit it on the 15th")["promises"] == [
        ["credit it", "company", "on the 15th"]
    ]
    (promise,) = read("called amex, refund in a week")["promises"]
    assert promise[2] == "in a week"
    with pytest.raises(UsageError, match="invalid date 'the 45th'"):
        read("called amex, credit on the 45th")


def test_a_time_said_as_past_is_what_happened_not_a_promise() -> None:
    got = read("called amex, paid with card 4111 1111 1111 1111 yesterday, they said")
    assert got["promises"] == [] and got["at"] is None


@pytest.mark.parametrize(
    "text",
    [
        "called amex, new card ending 4242 exp 12/27",
        "called amex, the new card expires 12/27",
        "called amex, replacement card valid thru: 12/27",
        "called amex, card ending 4242, exp. 11/28, ref AB-1234",
    ],
)
def test_a_card_expiry_date_is_no_time(text: str) -> None:
    """ "exp 12/27" is the card's expiry: it was read as a promise due on December 27."""
    got = read(text)
    assert got["promises"] == [] and got["follow_up"] is None and got["at"] is None


def test_a_time_after_a_card_expiry_date_is_still_read() -> None:
    (promise,) = read("called amex, new card ending 4242 exp 12/27, arrives in 5 business days")[
        "promises"
    ]
    assert promise[2] == "in 5 business days"
    (promise,) = read("called amex, refund by 12/27")["promises"]
    assert promise[2] == "by 12/27"
