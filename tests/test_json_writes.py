"""Scripts can rely on every command: each write prints what it made with --json, in one
shape whose ids the next command takes, and a key means one thing in every --json output."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import Tracker

from tracker.cli import cli

AMEX = Path(__file__).parent.parent / "examples" / "directory" / "american-express.toml"
SHARED = {"change_id", "case_id", "case", "created", "changed", "events"}


class Script:
    """Runs commands with --json as a script would, keeping every output by command."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.outputs: dict[str, list[Any]] = {}

    def __call__(self, *args: str) -> Any:
        result = self.tracker(*args, "--json")
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        data = json.loads(result.stdout)  # stdout is one JSON document, nothing else
        self.outputs.setdefault(_command_of(args), []).append(data)
        return data


def _command_of(args: tuple[str, ...]) -> str:
    """'case note' of ('--db', URL, 'case', 'note', '1', ...)."""
    words = list(args)
    if words[:1] == ["--db"]:
        words = words[2:]
    groups = {name for name, c in _commands() if isinstance(c, click.Group)}
    path, rest = words[0], words[1:]
    while path in groups and rest:  # `case attachment list`: a group within a group
        path, rest = f"{path} {rest[0]}", rest[1:]
    return path


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)

    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, f"{path} {name}".strip())

    yield from walk(cli, "")


def json_commands() -> dict[str, str]:
    """Every command with --json -> "write" or "read"."""
    found = {}
    for path, command in _commands():
        names = {p.name for p in command.params}
        if "write_json" in names:
            found[path] = "write"
        elif "view" in names:
            found[path] = "read"
    return found


def story(run: Script, tmp_path: Path) -> dict[str, Any]:
    """Every write command once, each taking the ids the one before printed."""
    opened = run(
        "case", "open", "Disputed charge", "--org", "American Express", "--category",
        "dispute", "--amount", "129.99", "--currency", "USD", "--ref", "D-1", "--note", "Twice",
    )  # fmt: skip
    case = str(opened["case_id"])
    assert opened["id"] == opened["case_id"] and opened["change_id"] >= 1
    assert [r["value"] for r in opened["created"]["references"]] == ["D-1"]
    assert [n["body"] for n in opened["created"]["notes"]] == ["Twice"]
    assert opened["created"]["cases"][0]["id"] == opened["case_id"]
    assert opened["created"]["organizations"][0]["name"] == "American Express"

    note = run("case", "note", case, "Called, no news")
    (made,) = note["created"]["notes"]
    assert made["body"] == "Called, no news" and note["case"]["id"] == int(case)

    contact = run(
        "case", "contact", case, "--channel", "phone", "--agent", "Maria", "--ref", "CALL-5",
        "--summary", "Opened a dispute", "--promise", "Provisional credit", "--due", "10bd",
    )  # fmt: skip
    (interaction,) = contact["created"]["interactions"]
    (promise,) = contact["created"]["promises"]
    assert promise["interaction_id"] == interaction["id"]
    assert contact["created"]["references"][0]["interaction_id"] == interaction["id"]
    assert contact["case"]["status"] == "waiting"

    ref = run("case", "ref", case, "DSP-9", "--kind", "dispute")
    assert ref["created"]["references"][0]["value"] == "DSP-9"
    again = run("case", "ref", case, "DSP-9")
    assert (again["change_id"], again["created"], again["case_id"]) == (None, {}, int(case))

    mine = run("case", "promise", case, "Send the receipts", "--due", "3d", "--by", "me")
    (my_promise,) = mine["created"]["promises"]
    kept = run("promise", "kept", str(my_promise["id"]))
    (marked,) = kept["changed"]["promises"]
    assert (marked["id"], marked["status"], kept["created"]) == (my_promise["id"], "kept", {})
    assert [e["type"] for e in kept["events"]] == ["promise_kept"]
    run("promise", "broken", str(promise["id"]))
    cancel_me = run("case", "promise", case, "Call back", "--due", "2d")["created"]["promises"]
    run("promise", "cancel", str(cancel_me[0]["id"]))

    # One line in the user's words: a contact with its reference, promise and follow-up.
    logged = run(
        "log", "called amex, spoke to Jen (id 4471), ref LOG-1, credit in 7-10 business days, "
        "call back if nothing in 2 weeks", "--case", case, "--yes",
    )  # fmt: skip
    (quick,) = logged["created"]["interactions"]
    assert (quick["agent"], quick["agent_id"], quick["reference_values"]) == (
        "Jen", "4471", ["LOG-1"],
    )  # fmt: skip
    assert logged["created"]["promises"][0]["interaction_id"] == quick["id"]
    assert logged["created"]["follow_ups"][0]["text"] == "call back if nothing"

    follow = run("case", "follow-up", case, "3d", "Check the statement")
    assert follow["created"]["follow_ups"][0]["text"] == "Check the statement"

    # Corrections: the corrected row is in "changed", each field's old and new value in
    # "correction".
    edited = run("contact", "edit", str(interaction["id"]), "--agent", "Marie")
    assert edited["changed"]["interactions"][0]["agent"] == "Marie"
    assert edited["correction"]["changes"] == {"agent": {"old": "Maria", "new": "Marie"}}
    assert run("case", "edit", case, "--merchant", "ACME")["changed"]["cases"][0]["id"] == int(case)
    assert (
        run("note", "edit", str(made["id"]), "Called twice")["changed"]["notes"][0]["body"]
        == "Called twice"
    )
    # Follow-ups with an end, and tags.
    later = run("case", "follow-up", case, "5d", "Ask again")["created"]["follow_ups"][0]
    snoozed = run("follow-up", "snooze", str(later["id"]), "6d")["changed"]["follow_ups"][0]
    assert (snoozed["id"], snoozed["state"]) == (later["id"], "snoozed")
    assert run("follow-up", "done", str(later["id"]))["changed"]["follow_ups"][0]["status"] == (
        "done"
    )
    other = run("case", "follow-up", case, "5d", "Or not")["created"]["follow_ups"][0]
    cancelled = run("follow-up", "cancel", str(other["id"]))
    assert cancelled["changed"]["follow_ups"][0]["status"] == "cancelled"
    # Evidence: files attached (text masked, both hashes kept), an email imported.
    statement = tmp_path / "statement.txt"
    statement.write_text("Statement for card 4111 1111 1111 1111: ACME 129.99 twice\n")
    attached = run("case", "attach", case, str(statement), "--kind", "statement", "--note", "Nov")
    (kept,) = attached["created"]["attachments"]
    assert (kept["kind"], kept["masked_count"], kept["note"]) == ("statement", 1, "Nov")
    assert kept["sha256"] != kept["original_sha256"]
    assert [e["type"] for e in attached["events"]] == ["attachment_added"]
    assert attached["events"][0]["sha256"] == kept["sha256"]
    reply = tmp_path / "reply.eml"
    reply.write_bytes(
        b"From: Jo <jo@amex.example>\nTo: me@example.org\nSubject: Re: dispute D-1\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000\nMessage-ID: <r1@amex.example>\n\n"
        b"We will refund you within 7 days.\n"
    )
    mailed = run("import", "email", str(reply))
    (recorded,) = mailed["imported"]
    (contact_mail,) = mailed["created"]["interactions"]
    assert (recorded["case_id"], contact_mail["channel"]) == (int(case), "email")
    assert mailed["created"]["attachments"][0]["message_id"] == "<r1@amex.example>"
    assert run("import", "email", str(reply))["skipped"][0]["message_id"] == "<r1@amex.example>"
    tagged = run("case", "tag", case, "travel", "urgent")
    assert (tagged["tags"], tagged["case"]["tags"]) == (["travel", "urgent"],) * 2
    assert run("case", "untag", case, "urgent")["tags_removed"] == ["urgent"]
    pending = run("case", "promise", case, "Refund", "--due", "5d")["created"]["promises"][0]
    moved = run("promise", "due", str(pending["id"]), "7d")
    assert moved["changed"]["promises"][0]["due_at"] != pending["due_at"]
    assert (
        run("promise", "by", str(pending["id"]), "me")["changed"]["promises"][0]["promised_by"]
        == "me"
    )

    escalated = run("case", "escalate", case, "--to", "supervisor", "--note", "Asked")
    assert escalated["case"]["escalation_level"] == "supervisor"
    assert escalated["events"][0]["level"] == "supervisor"
    assert run("case", "resolve", case, "--outcome", "Credited")["case"]["status"] == "resolved"
    assert run("case", "reopen", case)["case"]["status"] != "resolved"
    closed = run("case", "close", case)
    assert closed["case"]["status"] == "closed"

    undone = run("undo")
    assert undone["reverted_change_id"] == closed["change_id"]
    assert undone["change_id"] > closed["change_id"]
    assert undone["case"]["status"] != "closed"
    assert undone["events"][0]["reverted_change_id"] == closed["change_id"]

    added = run("org", "add", "Acme Bank", "--country", "GB")
    assert added["created"]["organizations"][0]["name"] == "Acme Bank"
    assert (
        run("org", "add", "Acme Bank", "--website", "https://acme.example")["changed"][
            "organizations"
        ][0]["website"]
        == "https://acme.example"
    )
    imported = run("org", "import", str(AMEX))
    (org,) = imported["changed"]["organizations"]  # it existed: case open made it
    assert org["contact_points"] and imported["organization_imports"][0]["added_count"] == 10

    export = tmp_path / "export.json"
    assert run("db", "upgrade")["change_id"] is None
    run_export(run.tracker, export)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    into = run("--db", other, "import", "json", str(export))
    assert into["change_id"] is not None and into["added_count"] > 0
    assert into["added_by_table"]["cases"] == 1 and into["skipped_count"] == 0
    assert run("--db", other, "undo")["reverted_change_id"] == into["change_id"]

    # A letter sent, in a store of its own (it escalates its case to the complaint rung).
    letters = f"sqlite:///{tmp_path / 'letters.db'}"
    first = run("--db", letters, "case", "open", "Fees", "--org", "Acme Bank")
    sent = run(
        "--db", letters, "case", "letter", str(first["case_id"]), "--kind", "complaint",
        "--sent", "--via", "mail", "--tracking", "RR123456785GB",
    )  # fmt: skip
    assert sent["letter"]["escalated_to"] == "complaint"
    assert sent["letter"]["interaction_id"] == sent["created"]["interactions"][0]["id"]
    assert sent["created"]["references"][0] == {
        **sent["created"]["references"][0], "value": "RR123456785GB", "kind": "tracking",
    }  # fmt: skip
    assert [a["id"] for a in sent["created"]["attachments"]] == [sent["letter"]["attachment_id"]]
    assert sent["created"]["attachments"][0]["kind"] == "letter"
    assert run("--db", letters, "undo")["reverted_change_id"] == sent["change_id"]
    return {"case": case}


def run_export(tracker: Tracker, path: Path) -> None:
    tracker.ok("export", "json", "-o", str(path))


def test_every_write_prints_what_it_made_with_ids_the_next_command_takes(
    tracker: Tracker, tmp_path: Path
) -> None:
    run = Script(tracker)
    story(run, tmp_path)
    for command, outputs in run.outputs.items():
        for data in outputs:
            assert set(data) >= SHARED, command
    # Every id a write printed is the one `case show` has.
    shown = tracker.json("case", "show", "1")
    for kind in ("interactions", "references", "promises", "follow_ups", "notes"):
        printed = {
            item["id"]: item
            for outputs in run.outputs.values()
            for data in outputs
            if data.get("case_id") == 1
            for item in data["created"].get(kind, [])
        }
        assert set(printed) == {item["id"] for item in shown[kind]}, kind


@pytest.mark.backends("sqlite")
def test_backup_and_install_print_json_too(
    tracker: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Script(tracker)
    run("case", "open", "Lost card")
    backup = run("db", "backup", str(tmp_path / "copy.db"))
    assert backup["path"] == str(tmp_path / "copy.db") and backup["change_id"] is None
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    unit = run("daemon", "install")
    assert Path(unit["path"]).is_file() and "systemctl" in unit["enable_command"]


def test_a_refused_write_prints_no_json_and_changes_nothing(tracker: Tracker) -> None:
    tracker.ok("case", "open", "Lost card")
    result = tracker("case", "note", "9", "No such case", "--json")
    assert (result.exit_code, result.stdout) == (1, "")
    result = tracker("case", "promise", "1", "Credit", "--due", "someday", "--json")
    assert (result.exit_code, result.stdout) == (2, "")
    assert tracker.json("case", "show", "1")["notes"] == []


def test_the_warning_of_a_masked_card_stays_on_stderr(tracker: Tracker) -> None:
    result = tracker("case", "open", "Card 4111 1111 1111 1111 lost", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "Card •••• 1111 lost"
    assert "Warning: masked a card number" in result.stderr


# --------------------------------------------------------------------------- one key, one meaning

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")
# Ids that are not ours: the agent's badge as they said it.
TEXT_IDS = {"agent_id", "message_id"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        inner = sorted({_kind(v) for v in value})
        return f"list[{'|'.join(inner)}]" if inner else "list"
    return {int: "int", float: "float", str: "str", dict: "object"}[type(value)]


# Objects keyed by data, not by field names (a promise state, a table): their keys are no
# keys of the vocabulary (docs/json.md).
MAPS = {"promise_counts", "added_by_table", "rows", "changes", "added"}  # changes: by field


def _keys(value: Any, found: dict[str, dict[str, str]], where: str) -> None:
    """key -> {JSON kind -> first command that printed it}, walking every object."""
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                found.setdefault(key, {}).setdefault(_kind(item), where)
                check_meaning(key, item, where)
            if key not in MAPS:
                _keys(item, found, where)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found, where)


def check_meaning(key: str, value: Any, where: str) -> None:
    if key.endswith("_at"):
        assert isinstance(value, str) and ISO_UTC.match(value), (where, key, value)
        datetime.fromisoformat(value)
    if key.endswith("_count"):
        assert type(value) is int, (where, key, value)
    if (key == "id" or key.endswith("_id")) and key not in TEXT_IDS:
        assert type(value) is int, (where, key, value)


def _compatible(kinds: set[str]) -> bool:
    """One kind, or lists of one kind of item (an empty list fits any)."""
    kinds = {k for k in kinds if k != "list"}
    return len(kinds) <= 1


def reads(run: Script) -> None:
    """Every read command with --json, on the store story() filled (with an overdue promise)."""
    run.tracker.ok("case", "promise", "1", "Late one", "--due", "1h", "--at", "2 days ago")
    for args in (
        ("case", "list", "--status", "all"),
        ("case", "list", "--overdue"),
        ("case", "show", "1"),
        ("case", "attachment", "list", "1"),
        ("due", "--within", "30d"),
        ("org", "list"),
        ("org", "show", "American Express"),
        ("daemon", "status"),
        ("search", "credit"),
        ("case", "file", "1", "-o", os.devnull),
        ("config", "show"),
    ):
        run(*args)
    run.tracker.ok("config", "set", "address", "1 Main St", "Springfield")
    run("config", "get", "address")


def test_a_key_has_one_type_and_meaning_in_every_json_output(
    tracker: Tracker, tmp_path: Path
) -> None:
    run = Script(tracker)
    story(run, tmp_path)
    reads(run)
    covered = set(run.outputs)
    missing = sorted(set(json_commands()) - covered - {"case open"} - UNCOVERED)
    assert not missing, f"run these commands with --json in story() or above: {missing}"
    found: dict[str, dict[str, str]] = {}
    for command, outputs in run.outputs.items():
        for data in outputs:
            _keys(data, found, command)
    mixed = {key: kinds for key, kinds in found.items() if not _compatible(set(kinds))}
    assert not mixed, f"keys with more than one type (type: first command): {mixed}"


# Commands with --json that this module does not run on both backends (their own test is
# above, on SQLite: a SQLite backup; a unit file; `snooze CASE` needs a reminder shown by
# the daemon first: tests/test_follow_ups.py).
UNCOVERED = {"db backup", "daemon install", "snooze"}


def test_every_write_command_takes_json() -> None:
    """A command that writes is decorated with write_command (tracker.cli.common)."""
    writes = {path for path, kind in json_commands().items() if kind == "write"}
    assert {
        "case open", "case note", "case contact", "case ref", "case promise", "case follow-up",
        "case escalate", "case resolve", "case reopen", "case close", "promise kept",
        "promise broken", "promise cancel", "undo", "org add", "org import", "import json",
        "db upgrade", "db backup", "daemon install", "case edit", "contact edit", "note edit",
        "promise due", "promise by", "follow-up done", "follow-up cancel", "follow-up snooze",
        "snooze", "case tag", "case untag",
    } <= writes  # fmt: skip
