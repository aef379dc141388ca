"""Tags: `case tag`, `case untag`, `case list --tag`, in `case show`, `case list --json` and
the exports, end to end through the command on both backends; normalisation, refusals,
undo."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Tracker


@pytest.fixture
def three(tracker: Tracker) -> Tracker:
    for title in ("Lost card in Lisbon", "Hotel double charge", "Rewards missing"):
        tracker.ok("case", "open", title, "--org", "Amex")
    return tracker


def tags_of(tracker: Tracker, case_id: int = 1) -> list[str]:
    tags: list[str] = tracker.json("case", "show", str(case_id))["tags"]
    return tags


def listed(tracker: Tracker, *args: str) -> list[int]:
    return [c["id"] for c in tracker.json("case", "list", *args)]


def tables(tracker: Tracker) -> Any:
    return json.loads(tracker.ok("export", "json"))["tables"]


def test_tag_untag_and_list_by_tags(three: Tracker) -> None:
    assert three.ok("case", "tag", "1", "travel", "urgent") == (
        "Tagged case 1: travel, urgent.\nTags of case 1: travel, urgent.\n"
    )
    three.ok("case", "tag", "2", "travel")
    three.ok("case", "tag", "3", "Urgent")
    assert listed(three, "--tag", "travel") == [2, 1]
    assert listed(three, "--tag", "travel", "--tag", "urgent") == [1]  # all of them
    assert listed(three, "--tag", "TRAVEL", "--tag", "billing") == []
    assert three.ok("case", "untag", "1", "urgent") == (
        "Untagged case 1: urgent.\nTags of case 1: travel.\n"
    )
    assert listed(three, "--tag", "urgent") == [3]
    assert [c["tags"] for c in three.json("case", "list")] == [["travel"], ["urgent"], ["travel"]]
    text = three.ok("case", "show", "2")
    assert "  Tags          travel\n" in text
    assert text.splitlines()[-1].split()[-3:] == ["tagged", "Tagged", "travel"]
    empty = three("case", "list", "--tag", "nothing")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "No cases match.\n")


def test_a_tag_it_has_is_no_change_and_undo_reverts_the_last_real_one(three: Tracker) -> None:
    three.ok("case", "tag", "1", "travel")
    three.ok("case", "note", "1", "a note")
    out = three.ok("case", "tag", "1", "Travel")
    assert out == "Case 1 already has travel; nothing changed.\nTags of case 1: travel.\n"
    assert three.ok("case", "untag", "1", "urgent") == (
        "Case 1 has no urgent; nothing changed.\nTags of case 1: travel.\n"
    )
    # No change was recorded: undo takes back the note, then the tag.
    assert three.ok("undo") == "Undid case 1: Note: a note\n"
    assert three.ok("undo") == "Undid case 1: Tagged travel\n"
    assert tags_of(three) == []
    # --json: the write's shared shape, with the tags as they are now and what changed.
    mixed = three.json("case", "tag", "1", "travel", "urgent", "travel")
    assert (mixed["tags"], mixed["tags_added"], mixed["tags_unchanged"]) == (
        ["travel", "urgent"], ["travel", "urgent"], [])  # fmt: skip
    assert mixed["case"]["tags"] == ["travel", "urgent"] and mixed["change_id"] is not None
    assert [e["type"] for e in mixed["events"]] == ["tagged", "tagged"]
    again = three.json("case", "tag", "1", "urgent", "lisbon")
    assert (again["tags"], again["tags_added"], again["tags_unchanged"]) == (
        ["lisbon", "travel", "urgent"], ["lisbon"], ["urgent"])  # fmt: skip
    gone = three.json("case", "untag", "1", "lisbon", "nope")
    assert (gone["tags"], gone["tags_removed"], gone["tags_unchanged"]) == (
        ["travel", "urgent"], ["lisbon"], ["nope"])  # fmt: skip
    none = three.json("case", "untag", "1", "nope")
    assert (none["change_id"], none["tags_removed"]) == (None, [])


def test_undo_of_untag_puts_the_same_row_back(three: Tracker) -> None:
    three.ok("case", "tag", "1", "travel", "urgent")
    before = tables(three)["tags"]
    three.ok("case", "untag", "1", "travel", "urgent")
    assert tables(three)["tags"] == []
    events = three.json("case", "show", "1")["events"]
    assert [(e["type"], e["summary"], e.get("tag")) for e in events[-2:]] == [
        ("untagged", "Untagged travel", "travel"),
        ("untagged", "Untagged urgent", "urgent"),
    ]
    assert three.ok("undo") == "Undid case 1: Untagged travel\n"
    assert tables(three)["tags"] == before  # same ids, same times


def test_tags_are_normalised_and_bad_ones_refused_with_nothing_stored(three: Tracker) -> None:
    three.ok("case", "tag", "1", "ＴＲＡＶＥＬ", "Été", "bill.2026", "a_b-c")
    assert tags_of(three) == ["a_b-c", "bill.2026", "travel", "été"]
    before = tables(three)
    refusals = {
        "two words": "Error: 'two words' is not a tag: use letters, digits, '-', '_' and '.', "
        "starting with a letter or a digit, no spaces",
        "_under": "Error: '_under' is not a tag: use letters, digits, '-', '_' and '.', "
        "starting with a letter or a digit, no spaces",
        "x" * 41: f"Error: the tag '{'x' * 40}…' is too long (at most 40 characters)",
        "   ": "Error: a tag must not be empty",
        "4111111111111111": "Error: a tag cannot hold a card number or a security code",
        "card4111111111111111": "Error: a tag cannot hold a card number or a security code",
    }
    for word, error in refusals.items():
        # One bad word refuses the whole command: the good one beside it is not added.
        assert three.fails(2, "case", "tag", "1", "fine", word) == error, word
        assert three.fails(2, "case", "untag", "1", word) == error, word
    assert three.fails(2, "case", "list", "--tag", "two words").startswith(
        "Error: Invalid value for '--tag': 'two words' is not a tag"
    )
    assert tables(three) == before
    assert three.fails(1, "case", "tag", "9", "travel") == "Error: no case 9"
    assert three.fails(2, "case", "tag", "1").startswith("Error: Missing argument 'TAG...'")


def test_tags_in_the_exports_and_import(three: Tracker, tmp_path: Path) -> None:
    three.ok("case", "tag", "1", "urgent", "travel")
    three.ok("case", "tag", "2", "travel")
    rows = list(csv.DictReader(io.StringIO(three.ok("export", "csv"))))
    assert {(r["case_id"], r["tags"]) for r in rows} == {
        ("1", "travel urgent"),
        ("2", "travel"),
        ("3", ""),
    }
    assert [r["summary"] for r in rows if r["event_type"] == "tagged"] == [
        "Tagged urgent",
        "Tagged travel",
        "Tagged travel",
    ]
    exported = three.ok("export", "json")
    assert [(t["case_id"], t["tag"]) for t in json.loads(exported)["tables"]["tags"]] == [
        (1, "urgent"),
        (1, "travel"),
        (2, "travel"),
    ]
    path = tmp_path / "backup.json"
    path.write_text(exported, encoding="utf-8")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    three.ok("--db", other, "import", "json", str(path))
    assert (
        json.loads(three.ok("--db", other, "export", "json"))["tables"]
        == json.loads(exported)["tables"]
    )
    assert [c["id"] for c in three.json("--db", other, "case", "list", "--tag", "travel")] == [
        2,
        1,
    ]
    # A file whose tag is not one the CLI writes, or repeats one, is refused whole.
    doc = json.loads(exported)
    for bad, error in (
        ("Travel", "tags row id 1: 'tag' \"Travel\" is not written the way the CLI writes it"),
        ("two words", "tags row id 1: 'tag' \"two words\" is refused: 'two words' is not a tag"),
        ("travel", "tags row id 2: 'case_id', 'tag' [1, \"travel\"] repeats row id 1"),
    ):
        doc["tables"]["tags"][0]["tag"] = bad
        path.write_text(json.dumps(doc), encoding="utf-8")
        third = f"sqlite:///{tmp_path / 'third.db'}"
        line = three.fails(2, "--db", third, "import", "json", str(path))
        assert error in line, line
