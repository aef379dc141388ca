"""`tracker export json` and `tracker import json`: the whole store, exactly, and back."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import servers
from click.testing import CliRunner, Result
from sqlalchemy import select

import tracker.export.json as export_mod
from tracker import cases as svc
from tracker.cli import cli
from tracker.db import Store
from tracker.export.json import TABLE_ORDER
from tracker.models import Base, Change, ContactPoint, Event, Reminder
from tracker.redact import Masker

T0 = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    """The shared `clock` starts at T0 here: `clock(minutes)` moves it to T0 + minutes."""
    return T0


def build_history(tracker: Any, clock: Callable[[float], None], url: str) -> None:
    """Two cases with every kind of row, an undone change and an undone case open."""
    clock(0)
    tracker.ok(
        "case", "open", "Disputed charge at ACME", "--org", "American Express",
        "--category", "dispute", "--account", "1005", "--amount", "1234567890.1234",
        "--currency", "USD", "--merchant", "ACME Hardware", "--txn-date", "2026-02-27",
        "--ref", "D-4471", "--note", "Statement shows it twice", "--follow-up", "2026-03-05 09:00",
    )  # fmt: skip
    clock(10.5)
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--agent", "Maria", "--agent-id", "4471",
        "--duration", "23m", "--ref", "CALL-1", "--summary", "Opened a dispute",
        "--promise", "Provisional credit", "--due", "2026-03-16 09:00",
    )  # fmt: skip
    clock(20)
    tracker.ok("promise", "kept", "1")
    tracker.ok("undo")  # changes.reverted_by_id
    clock(30)
    tracker.ok(
        "case", "open", "Lost card", "--org", "Bank Zwei", "--category", "lost_stolen",
        "--amount", "0.10", "--currency", "EUR",
    )  # fmt: skip
    tracker.ok("case", "promise", "2", "Send the form", "--due", "2026-03-09 09:00", "--by", "me")
    clock(40)
    # Last, so that no later case reuses its id (SQLite would, PostgreSQL would not).
    tracker.ok("case", "open", "Opened by mistake")
    tracker.ok("undo")  # an `undone` event whose case is gone (case_id NULL)
    store = Store(url)
    with store.write() as session:
        session.add(
            ContactPoint(
                organization_id=1, kind="phone", value="+1 800 528 2122", label="Disputes",
                collect_calls=True, categories="dispute", level="frontline", position=1,
            )
        )  # fmt: skip
        session.add(
            Reminder(
                key="follow_up:1", case_id=1, kind="follow_up", due_at=T0 + timedelta(days=3),
                claimed_at=T0 + timedelta(days=3, seconds=1), claimed_by="host:123",
                shown_at=T0 + timedelta(days=3, seconds=2), attempts=1,
            )
        )  # fmt: skip
    store.dispose()


def export_doc(tracker: Any, *args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(tracker.ok(*args, "export", "json"))
    return doc


def without_time(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "exported_at"}


@pytest.fixture
def history(tracker: Any, clock: Callable[[float], None], db_url: str, tmp_path: Path) -> Path:
    """The built history, exported to a file."""
    build_history(tracker, clock, db_url)
    file = tmp_path / "backup.json"
    tracker.ok("export", "json", "-o", str(file))
    return file


def test_the_document_has_its_format_version_and_every_table(tracker: Any, history: Path) -> None:
    doc = json.loads(history.read_text(encoding="utf-8"))
    assert list(doc) == ["format", "version", "exported_at", "tables"]
    assert (doc["format"], doc["version"]) == ("tracker-export", 1)
    assert datetime.fromisoformat(doc["exported_at"]).tzinfo is not None
    assert list(doc["tables"]) == list(TABLE_ORDER)
    assert set(TABLE_ORDER) == set(Base.metadata.tables)
    counts = {name: len(rows) for name, rows in doc["tables"].items()}
    assert counts == {
        "organizations": 2,
        "contact_points": 1,
        "cases": 2,
        "changes": 8,
        "interactions": 1,
        "reference_numbers": 2,
        "promises": 2,
        "follow_ups": 1,
        "notes": 1,
        "tags": 0,
        "attachments": 0,
        "events": 12,
        "reminders": 1,
        "attachment_blobs": 0,  # the evidence's bytes: see tests/test_evidence_cli.py
    }


def test_values_are_exact(tracker: Any, history: Path) -> None:
    tables = json.loads(history.read_text(encoding="utf-8"))["tables"]
    first, second = tables["cases"]
    assert (first["amount"], second["amount"]) == ("1234567890.1234", "0.10")
    assert first["opened_at"] == "2026-03-02T09:00:00.123456+00:00"
    assert first["transaction_date"] == "2026-02-27"
    assert tables["interactions"][0]["at"] == "2026-03-02T09:10:30.123456+00:00"
    assert tables["interactions"][0]["duration_seconds"] == 1380
    assert tables["contact_points"][0]["collect_calls"] is True
    assert tables["changes"][2]["reverted_by_id"] == 4
    assert tables["reminders"][0]["shown_at"] == "2026-03-05T09:00:02.123456+00:00"
    orphan = [e for e in tables["events"] if e["case_id"] is None]
    assert [e["type"] for e in orphan] == ["undone"]
    assert tables["events"][0]["data"]["created"] == ["cases", 1]


def test_export_import_export_gives_the_same_document(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    second = f"sqlite:///{tmp_path / 'second.db'}"
    out = tracker.ok("--db", second, "import", "json", str(history))
    assert out == (
        "Imported 33 rows (2 organizations, 1 contact points, 2 cases, 8 changes, "
        "1 interactions, 2 reference numbers, 2 promises, 1 follow ups, 1 notes, 12 events, "
        "1 reminders).\n"
    )
    original = json.loads(history.read_text(encoding="utf-8"))
    assert without_time(export_doc(tracker, "--db", second)) == without_time(original)


def test_tracker_db_names_the_store_to_import_into(
    tracker: Any, history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = export_doc(tracker)
    monkeypatch.setenv("TRACKER_DB", f"sqlite:///{tmp_path / 'moved.db'}")
    tracker.ok("import", "json", str(history))
    assert without_time(export_doc(tracker)) == without_time(original)


def test_a_moved_store_carries_on_where_the_old_one_stopped(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    moved = f"sqlite:///{tmp_path / 'moved.db'}"
    tracker.ok("--db", moved, "import", "json", str(history))
    assert tracker.ok("--db", moved, "case", "open", "After the move") == (
        "Opened case 3: After the move\n"
    )
    assert tracker.ok("--db", moved, "undo") == "Undid case 3: Opened: After the move\n"
    # Then the import, as a whole: never one of the changes it brought from the other store.
    assert tracker.ok("--db", moved, "undo") == "Undid the import of backup.json (33 rows)\n"
    assert tracker.fails(1, "--db", moved, "undo") == "Error: nothing to undo"
    left = export_doc(tracker, "--db", moved)["tables"]
    assert {name for name, rows in left.items() if rows} == {"changes", "events"}
    assert [c["command"] for c in left["changes"]] == ["case open After the move", "undo"]
    assert [e["summary"] for e in left["events"]] == ["Undid case 3: Opened: After the move"]
    # Imported again, it is all back, exactly.
    tracker.ok("--db", moved, "import", "json", str(history))
    original = json.loads(history.read_text(encoding="utf-8"))
    moved_tables = export_doc(tracker, "--db", moved)["tables"]
    for name, rows in original["tables"].items():
        assert [row for row in moved_tables[name] if row in rows] == rows


def test_importing_the_same_file_twice_adds_nothing(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    second = f"sqlite:///{tmp_path / 'second.db'}"
    tracker.ok("--db", second, "import", "json", str(history))
    before = export_doc(tracker, "--db", second)
    again = tracker.ok("--db", second, "import", "json", str(history))
    assert again == "Nothing to import: all 33 rows are already in the store.\n"
    assert without_time(export_doc(tracker, "--db", second)) == without_time(before)


def test_importing_into_the_store_it_came_from_adds_nothing(tracker: Any, history: Path) -> None:
    before = export_doc(tracker)
    out = tracker.ok("import", "json", str(history))
    assert out == "Nothing to import: all 33 rows are already in the store.\n"
    assert without_time(export_doc(tracker)) == without_time(before)


def test_a_later_export_of_a_changed_case_conflicts_rather_than_merging(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    second = f"sqlite:///{tmp_path / 'second.db'}"
    tracker.ok("--db", second, "import", "json", str(history))
    tracker.ok("case", "note", "1", "A later note")  # the case row changes too
    newer = tmp_path / "newer.json"
    tracker.ok("export", "json", "-o", str(newer))
    error = tracker.fails(1, "--db", second, "import", "json", str(newer))
    # The note's change and event also clash with the ids of the first import's own record.
    assert error.startswith(
        "Error: the store already has different data under the same ids (cases 1; changes 9; "
    )


def test_new_rows_import_alongside_rows_already_there(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    doc = json.loads(history.read_text(encoding="utf-8"))
    second = f"sqlite:///{tmp_path / 'second.db'}"
    partial = {**doc, "tables": {**doc["tables"], "reminders": [], "contact_points": []}}
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    tracker.ok("--db", second, "import", "json", str(tmp_path / "partial.json"))
    out = tracker.ok("--db", second, "import", "json", str(history))
    assert out == "Imported 2 rows (1 contact points, 1 reminders); 31 already there.\n"


def test_different_data_under_the_same_ids_refuses_the_whole_import(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracker.ok("--db", other, "case", "open", "Something else", "--org", "American Express")
    before = export_doc(tracker, "--db", other)
    error = tracker.fails(1, "--db", other, "import", "json", str(history))
    assert error == (
        "Error: the store already has different data under the same ids "
        "(organizations 1; cases 1; changes 1; events 1); nothing was imported. "
        "Import into an empty store (tracker --db URL import json FILE)"
    )
    assert without_time(export_doc(tracker, "--db", other)) == without_time(before)


def test_a_clash_found_while_inserting_rolls_everything_back(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    store = Store(f"sqlite:///{other}")
    with store.write() as session:  # the same reminder key under another id
        session.add(
            Reminder(id=77, key="follow_up:1", kind="follow_up", due_at=T0, claimed_by="elsewhere")
        )
    store.dispose()
    url = f"sqlite:///{other}"
    before = export_doc(tracker, "--db", url)
    error = tracker.fails(1, "--db", url, "import", "json", str(history))
    assert error == (
        "Error: the import conflicts with the store (UNIQUE constraint failed: reminders.key); "
        "nothing was imported"
    )
    assert without_time(export_doc(tracker, "--db", url)) == without_time(before)


def test_one_case_exports_with_what_it_needs_and_imports_alone(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    single = json.loads(tracker.ok("export", "json", "--case", "2"))
    tables = single["tables"]
    assert [c["id"] for c in tables["cases"]] == [2]
    assert [o["name"] for o in tables["organizations"]] == ["Bank Zwei"]
    assert tables["contact_points"] == []
    assert {e["case_id"] for e in tables["events"]} == {2}
    assert [c["id"] for c in tables["changes"]] == sorted(
        {e["change_id"] for e in tables["events"]}
    )
    file = tmp_path / "case2.json"
    file.write_text(json.dumps(single))
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    tracker.ok("--db", alone, "import", "json", str(file))
    assert without_time(json.loads(tracker.ok("--db", alone, "export", "json"))) == without_time(
        single
    )


def test_one_case_brings_the_undo_that_reverted_its_change(tracker: Any, history: Path) -> None:
    changes = json.loads(tracker.ok("export", "json", "--case", "1"))["tables"]["changes"]
    assert [(c["id"], c["command"], c["reverted_by_id"]) for c in changes] == [
        (1, "case open Disputed charge at ACME", None),
        (2, "case contact 1 (phone)", None),
        (3, "promise kept 1", 4),
        (4, "undo", None),
    ]


def test_a_change_committed_during_the_export_is_not_half_in_it(
    tracker: Any, history: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rows = export_mod.table_rows

    def rows_with_a_write_in_between(session: Any, table: Any, *args: Any, **kw: Any) -> Any:
        if table.name == "events":  # changes are written out already
            other = Store(db_url)
            with other.write() as writer:
                svc.add_note(writer, svc.get_case(writer, 1), "written meanwhile", masker=Masker())
            other.dispose()
        return real_rows(session, table, *args, **kw)

    monkeypatch.setattr(export_mod, "table_rows", rows_with_a_write_in_between)
    doc = json.loads(tracker.ok("export", "json"))
    assert "written meanwhile" not in json.dumps(doc)
    monkeypatch.undo()
    file = tmp_path / "during.json"
    file.write_text(json.dumps(doc))
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert tracker.ok("--db", fresh, "import", "json", str(file)).startswith("Imported 33 rows")


def test_card_numbers_in_an_edited_file_are_masked_on_the_way_in(
    valid_export: str, tmp_path: Path
) -> None:
    card = "4111 1111 1111 1111"
    doc = json.loads(valid_export)
    doc["tables"]["cases"][0]["title"] = f"Card {card} blocked"
    doc["tables"]["events"][0]["data"]["organization"] = f"CVV 123 and {card}"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    run("db", "upgrade")  # so that the store's creation is not announced below
    result = run("import", "json", str(edited))
    assert result.exit_code == 0
    assert result.stderr == (
        "Warning: masked a card number ending 1111 in the cases of the file and a card "
        "number ending 1111 and a security code in the events of the file "
        "(only the last 4 digits are kept)\n"
    )
    tables = json.loads(run("export", "json").stdout)["tables"]
    assert tables["cases"][0]["title"] == "Card •••• 1111 blocked"
    assert tables["events"][0]["data"]["organization"] == "CVV ••• and •••• 1111"
    store_file = Path(os.environ["TRACKER_HOME"]) / "tracker.db"
    assert b"4111 1111" not in store_file.read_bytes()


def test_a_missing_case_is_an_error(tracker: Any) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    assert tracker.fails(1, "export", "json", "--case", "5") == "Error: no case 5"


def test_a_sqlite_store_moves_to_postgresql(tracker: Any, history: Path, postgres_db: str) -> None:
    tracker.ok("--db", postgres_db, "import", "json", str(history))
    original = json.loads(history.read_text(encoding="utf-8"))
    assert without_time(export_doc(tracker, "--db", postgres_db)) == without_time(original)
    # The sequences were moved past the imported ids: new rows get fresh ones.
    assert tracker.ok("--db", postgres_db, "case", "open", "On PostgreSQL") == (
        "Opened case 3: On PostgreSQL\n"
    )
    tracker.ok("--db", postgres_db, "case", "note", "3", "works")


# --------------------------------------------------------------------------- import and undo


def test_an_import_is_one_change_that_undo_reverts_exactly(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    doc = json.loads(history.read_text(encoding="utf-8"))
    second = f"sqlite:///{tmp_path / 'second.db'}"
    partial = {**doc, "tables": {**doc["tables"], "reminders": [], "contact_points": []}}
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    tracker.ok("--db", second, "import", "json", str(tmp_path / "partial.json"))
    after_partial = export_doc(tracker, "--db", second)
    tracker.ok("--db", second, "import", "json", str(history))
    assert without_time(export_doc(tracker, "--db", second)) == without_time(doc)

    assert tracker.ok("--db", second, "undo") == "Undid the import of backup.json (2 rows)\n"
    assert without_time(export_doc(tracker, "--db", second)) == without_time(after_partial)
    assert tracker.ok("--db", second, "undo") == "Undid the import of partial.json (31 rows)\n"
    tables = export_doc(tracker, "--db", second)["tables"]
    assert all(rows == [] for rows in tables.values())
    assert tracker.fails(1, "--db", second, "undo") == "Error: nothing to undo"


def test_an_import_and_its_undo_on_postgresql(
    tracker: Any, history: Path, postgres_url: str
) -> None:
    # A database of its own: on the PostgreSQL run, postgres_db is the history's store.
    postgres_db = servers.create_database(postgres_url, f"test_{uuid.uuid4().hex[:12]}")
    original = json.loads(history.read_text(encoding="utf-8"))
    tracker.ok("--db", postgres_db, "import", "json", str(history))
    tracker.ok("--db", postgres_db, "case", "note", "2", "after the import")
    assert tracker.ok("--db", postgres_db, "undo") == "Undid case 2: Note: after the import\n"
    assert tracker.ok("--db", postgres_db, "undo") == "Undid the import of backup.json (33 rows)\n"
    assert tracker.json("--db", postgres_db, "case", "list", "--status", "all") == []
    tracker.ok("--db", postgres_db, "import", "json", str(history))
    cases = export_doc(tracker, "--db", postgres_db)["tables"]["cases"]
    assert cases == original["tables"]["cases"]
    assert tracker.ok("--db", postgres_db, "case", "open", "New") == "Opened case 3: New\n"


def test_the_store_s_record_of_an_import_is_not_exported(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    second = f"sqlite:///{tmp_path / 'second.db'}"
    tracker.ok("--db", second, "import", "json", str(history))
    tracker.ok("--db", second, "undo")
    tables = export_doc(tracker, "--db", second)["tables"]
    assert tables["changes"] == tables["events"] == []
    # Still in the store, for undo and the history; not in the file.
    store = Store(second)
    with store.read() as session:
        rows = session.execute(
            select(Change.command, Event.type, Event.summary)
            .join(Event, Event.change_id == Change.id)
            .where(Event.case_id.is_(None))
            .order_by(Event.id)
        ).all()
    store.dispose()
    assert [tuple(row) for row in rows] == [
        ("import json backup.json", "imported", "Imported 33 rows from backup.json"),
        ("undo", "undone", "Undid the import of backup.json (33 rows)"),
    ]


def test_undo_of_an_import_keeps_an_organization_something_added_since_uses(
    tracker: Any, tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    tracker.ok("--db", source, "case", "open", "Disputed", "--org", "American Express")
    file = tmp_path / "amex.json"
    tracker.ok("--db", source, "export", "json", "-o", str(file))
    moved = f"sqlite:///{tmp_path / 'moved.db'}"
    tracker.ok("--db", moved, "import", "json", str(file))
    directory = Path(__file__).parent.parent / "examples" / "directory" / "american-express.toml"
    tracker.ok("--db", moved, "org", "import", str(directory))  # contact points: no undo
    assert tracker.ok("--db", moved, "undo") == (
        "Undid the import of amex.json (3 rows); kept the organization American Express "
        "(in use by rows added since)\n"
    )
    tables = export_doc(tracker, "--db", moved)["tables"]
    assert [org["name"] for org in tables["organizations"]] == ["American Express"]
    assert tables["cases"] == [] and tables["contact_points"] != []


# --------------------------------------------------------------------------- rows of the store


def _users_store_and_a_file_from_another(tracker: Any, tmp_path: Path) -> tuple[str, Path]:
    """The user's store (case 1, with a note) and another store's export of its case 2."""
    mine = f"sqlite:///{tmp_path / 'mine.db'}"
    tracker.ok("--db", mine, "case", "open", "My own case", "--note", "my note")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracker.ok("--db", other, "case", "open", "Theirs", "--note", "n", "--ref", "R-1")
    tracker.ok("--db", other, "case", "open", "Also theirs")
    file = tmp_path / "theirs.json"
    tracker.ok("--db", other, "export", "json", "--case", "2", "-o", str(file))
    return mine, file


def test_an_imported_event_never_names_the_users_own_case(tracker: Any, tmp_path: Path) -> None:
    mine, file = _users_store_and_a_file_from_another(tracker, tmp_path)
    doc = json.loads(file.read_text(encoding="utf-8"))
    (opened,) = doc["tables"]["events"]
    assert opened["data"]["created"] == ["cases", 2]
    opened["data"]["created"] = ["cases", 1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    before = export_doc(tracker, "--db", mine)
    assert tracker.fails(2, "--db", mine, "import", "json", str(bad)) == (
        "Error: bad.json: events row id 4: 'data' created [\"cases\", 1] refers to cases 1, "
        "which is on case 1, not case 2"
    )
    assert without_time(export_doc(tracker, "--db", mine)) == without_time(before)
    # The honest file imports; undo then reverts the import, not the user's case.
    tracker.ok("--db", mine, "import", "json", str(file))
    assert tracker.ok("--db", mine, "undo") == "Undid the import of theirs.json (3 rows)\n"
    assert without_time(export_doc(tracker, "--db", mine)) == without_time(before)
    assert tracker.ok("--db", mine, "undo") == "Undid case 1: Opened: My own case (with 1 note)\n"


def test_an_imported_event_never_joins_a_change_of_the_store(tracker: Any, tmp_path: Path) -> None:
    mine, file = _users_store_and_a_file_from_another(tracker, tmp_path)
    doc = json.loads(file.read_text(encoding="utf-8"))
    doc["tables"]["changes"] = []
    doc["tables"]["events"][0]["change_id"] = 1  # the user's `case open`
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert tracker.fails(2, "--db", mine, "import", "json", str(bad)) == (
        "Error: bad.json: events row id 4: 'change_id' refers to changes 1, a change already "
        "in the store: what an import adds belongs to the changes it adds"
    )


def test_an_imported_note_event_never_names_the_users_note(tracker: Any, tmp_path: Path) -> None:
    mine, file = _users_store_and_a_file_from_another(tracker, tmp_path)
    doc = json.loads(file.read_text(encoding="utf-8"))
    event = {**doc["tables"]["events"][0], "id": 5, "type": "note", "summary": "n"}
    event["data"] = {"created": ["notes", 1]}  # the user's note, on case 1
    doc["tables"]["events"].append(event)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert tracker.fails(2, "--db", mine, "import", "json", str(bad)) == (
        "Error: bad.json: events row id 5: 'data' created [\"notes\", 1] refers to notes 1, "
        "which is on case 1, not case 2"
    )


# --------------------------------------------------------------------------- bad files


def run(*args: str, input: str | None = None) -> Result:
    """The CLI on TRACKER_HOME's SQLite store (these tests need no second backend)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def valid_export(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'source.db'}"
    for args in (
        ("case", "open", "Disputed", "--org", "ACME", "--amount", "9.99", "--ref", "R-1"),
        ("case", "contact", "1", "--channel", "chat", "--promise", "Refund", "--due", "3d"),
        ("promise", "kept", "1"),
        ("undo",),
    ):
        assert run("--db", url, *args).exit_code == 0
    return run("--db", url, "export", "json").stdout


def edited(change: Callable[[dict[str, Any]], Any]) -> Callable[[str], str]:
    def make(valid: str) -> str:
        doc = json.loads(valid)
        change(doc)
        return json.dumps(doc)

    return make


def _data(event: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set doc["tables"]["events"][event]["data"][key]."""

    def change(doc: dict[str, Any]) -> None:
        doc["tables"]["events"][event]["data"][key] = value

    return change


def _add_second_case(doc: dict[str, Any]) -> None:
    doc["tables"]["cases"].append({**doc["tables"]["cases"][0], "id": 2, "title": "Another"})


def _second_case(doc: dict[str, Any]) -> None:
    """The reference moves to a new case 2; the event that created it stays on case 1."""
    _add_second_case(doc)
    doc["tables"]["reference_numbers"][0]["case_id"] = 2


def _second_case_contact(doc: dict[str, Any]) -> None:
    """The contact moves to a new case 2; the promise made during it stays on case 1."""
    _add_second_case(doc)
    doc["tables"]["interactions"][0]["case_id"] = 2
    doc["tables"]["events"][2]["case_id"] = 2


def _contact_point(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        point = {
            "id": 1, "organization_id": 1, "kind": "phone", "value": "+18005282122",
            "label": None, "region": None, "hours": None, "collect_calls": False,
            "categories": "any", "level": "frontline", "notes": None, "position": 0,
        }  # fmt: skip
        doc["tables"]["contact_points"].append({**point, **values})

    return change


def _reference_twice(doc: dict[str, Any]) -> None:
    refs = doc["tables"]["reference_numbers"]
    refs.append({**refs[0], "id": 2})


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set doc["tables"][table][row][column] from "table.row.column"."""
    table, row, column = path.split(".")

    def change(doc: dict[str, Any]) -> None:
        doc["tables"][table][int(row)][column] = value

    return change


BAD_FILES: list[tuple[str, Callable[[str], str], str]] = [
    ("empty", lambda v: "", "bad.json is not valid JSON (line 1, column 1: Expecting value); "
     "is the file complete?"),
    ("not an object", lambda v: "[]", 'bad.json is not a tracker export (no "format": '
     '"tracker-export")'),
    ("other format", edited(lambda d: d.update(format="other")), 'bad.json is not a tracker '
     'export (no "format": "tracker-export")'),
    ("newer version", edited(lambda d: d.update(version=2)), "bad.json is a version 2 export; "
     "this tracker reads version 1"),
    ("version as text", edited(lambda d: d.update(version="1")), 'bad.json is a version "1" '
     "export; this tracker reads version 1"),
    ("no tables", edited(lambda d: d.pop("tables")), 'bad.json has no "tables" object; is the '
     "file complete?"),
    ("a table missing", edited(lambda d: d["tables"].pop("events")), "bad.json has no 'events' "
     "table; is the file complete?"),
    ("an unknown table", edited(lambda d: d["tables"].update(extra=[])), "bad.json has a table "
     "this tracker does not know: extra"),
    ("a table not a list", edited(lambda d: d["tables"].update(notes={})), "bad.json: 'notes' "
     "must be a list of rows"),
    ("a row not an object", edited(lambda d: d["tables"]["cases"].append(1)), "bad.json: cases "
     "row 2 is not a JSON object"),
    ("id as text", edited(_set("cases.0.id", "1")), "bad.json: cases row 1: 'id' must be an "
     "integer"),
    ("time without offset", edited(_set("cases.0.opened_at", "2026-03-02T09:00:00")),
     "bad.json: cases row 1: 'opened_at' must be an ISO 8601 time with an offset"),
    ("time not a time", edited(_set("events.0.at", "yesterday")), "bad.json: events row 1: "
     "'at' must be an ISO 8601 time"),
    ("amount as a float", edited(_set("cases.0.amount", 9.99)), "bad.json: cases row 1: "
     "'amount' must be a string"),
    ("amount not a number", edited(_set("cases.0.amount", "9,99")), "bad.json: cases row 1: "
     "'amount' must be a decimal number as a string"),
    ("bool as a number", edited(_set("changes.0.undoable", 1)), "bad.json: changes row 1: "
     "'undoable' must be true or false"),
    ("data not an object", edited(_set("events.0.data", [])), "bad.json: events row 1: 'data' "
     "must be a JSON object"),
    ("null where required", edited(_set("cases.0.title", None)), "bad.json: cases row 1: "
     "'title' must not be null"),
    ("text too long", edited(_set("cases.0.currency", "USDX")), "bad.json: cases row 1: "
     "'currency' is longer than 3 characters"),
    ("a column missing", edited(lambda d: d["tables"]["cases"][0].pop("status")), "bad.json: "
     "cases row 1 has no 'status'"),
    ("an unknown column", edited(_set("cases.0.cvv", "123")), "bad.json: cases row 1 has an "
     "unknown column 'cvv'"),
    ("a repeated id", edited(lambda d: d["tables"]["changes"].append(d["tables"]["changes"][0])),
     "bad.json: changes row 5: id 1 is not a new positive id"),
    ("exported_at not a time", edited(lambda d: d.update(exported_at=0)), 'bad.json: '
     '"exported_at" must be an ISO 8601 time with an offset'),
    ("a dangling reference", edited(_set("events.0.change_id", 999)), "bad.json: events row id "
     "1: 'change_id' refers to changes 999, which is neither in the file nor in the store"),
    *[(f"vocabulary: {name}", edited(_set(path, value)), message)
      for name, path, value, message in [
        ("case status", "cases.0.status", "bogus", "bad.json: cases row id 1: 'status' \"bogus\" "
         "is not a case status (one of: open, waiting, escalated, resolved, closed)"),
        ("escalation level", "cases.0.escalation_level", "bogus", "bad.json: cases row id 1: "
         "'escalation_level' \"bogus\" is not an escalation level (one of: frontline, "
         "supervisor, complaint, regulator)"),
        ("a category for a spreadsheet", "cases.0.category", "=HYPERLINK(\"x\")", "bad.json: "
         "cases row id 1: 'category' \"=HYPERLINK(\\\"x\\\")\" is not a category (one of: "
         "lost_stolen, dispute, rewards, personal_info, benefits, payment, application, "
         "complaint, card_replacement, other)"),
        ("channel", "interactions.0.channel", "fax", "bad.json: interactions row id 1: 'channel' "
         "\"fax\" is not a channel (one of: phone, chat, mail, app, email, social, web, "
         "in_person)"),
        ("direction", "interactions.0.direction", "up", "bad.json: interactions row id 1: "
         "'direction' \"up\" is not a direction (one of: out, in)"),
        ("reference kind", "reference_numbers.0.kind", "x", "bad.json: reference_numbers row id "
         "1: 'kind' \"x\" is not a reference kind (one of: call, dispute, complaint, claim, "
         "tracking, other)"),
        ("promised_by", "promises.0.promised_by", "bank", "bad.json: promises row id 1: "
         "'promised_by' \"bank\" is not a promise's party (one of: company, me)"),
        ("promise status", "promises.0.status", "late", "bad.json: promises row id 1: 'status' "
         "\"late\" is not a promise status (one of: pending, kept, broken, cancelled)"),
        ("event type for a spreadsheet", "events.0.type", "=1+1", "bad.json: events row id 1: "
         "'type' \"=1+1\" is not an event type (one of: opened, note, attachment_added, "
         "letter_sent, reference_added, "
         "interaction, promise_made, promise_kept, promise_broken, promise_cancelled, "
         "follow_up_set, follow_up_done, follow_up_cancelled, follow_up_snoozed, tagged, "
         "untagged, escalated, resolved, reopened, closed, undone, reminder_fired, corrected)"),
        ("another store's import record", "events.0.type", "imported", "bad.json: events row id "
         "1: 'type' \"imported\" is an import's own record, which stays in the store that made "
         "it"),
        ("a line break hidden in a value", "cases.0.category", "other\u2028x", "bad.json: cases "
         "row id 1: 'category' \"other\\u2028x\" is not a category (one of: lost_stolen, "
         "dispute, rewards, personal_info, benefits, payment, application, complaint, "
         "card_replacement, other)"),
    ]],
    *[(f"limits: {name}", edited(_set(path, value)), message)
      for name, path, value, message in [
        ("a promise due in 9999", "promises.0.due_at", "9999-12-31T00:00:00+00:00", "bad.json: "
         "promises row id 1: 'due_at' \"9999-12-31T00:00:00+00:00\" is more than 100 years "
         "from now"),
        ("a time before the calendar", "cases.0.opened_at", "0001-01-01T00:00:00+14:00",
         "bad.json: cases row 1: 'opened_at' is out of range"),
        ("a transaction date in 9999", "cases.0.transaction_date", "9999-12-31", "bad.json: cases "
         "row id 1: 'transaction_date' \"9999-12-31\" is more than 100 years from now"),
        ("a case id the CLI cannot follow", "cases.0.id", 2**31 - 1, "bad.json: cases row id "
         "2147483647: 'id' 2147483647 is not an id from 1 to 1073741823 (an import leaves the "
         "larger ones for the store's new rows)"),
        ("an id of 2^63", "interactions.0.id", 2**63, "bad.json: interactions row id "
         "9223372036854775808: 'id' 9223372036854775808 is not an id from 1 to 1073741823 (an "
         "import leaves the larger ones for the store's new rows)"),
        ("a reference of 2^63", "events.0.change_id", 2**63, "bad.json: events row id 1: "
         "'change_id' 9223372036854775808 is not an id from 1 to 1073741823 (an import leaves "
         "the larger ones for the store's new rows)"),
        ("a negative duration", "interactions.0.duration_seconds", -1, "bad.json: interactions "
         "row id 1: 'duration_seconds' -1 is not a whole number from 0 to 2147483647"),
        ("a duration past the column", "interactions.0.duration_seconds", 2**31, "bad.json: "
         "interactions row id 1: 'duration_seconds' 2147483648 is not a whole number from 0 to "
         "2147483647"),
        ("a negative amount", "cases.0.amount", "-5", "bad.json: cases row id 1: 'amount' "
         "\"-5\" is refused: invalid amount '-5': give the amount as a positive number"),
        # The error line never echoes a card number (it is masked on the way out).
        ("an amount of 16 digits", "cases.0.amount", "4111111111111111", "bad.json: cases row id "
         "1: 'amount' \"•••• 1111\" is refused: invalid amount '•••• 1111': at "
         "most 4 decimals and 15 digits"),
        ("a currency in lower case", "cases.0.currency", "usd", "bad.json: cases row id 1: "
         "'currency' \"usd\" is not written the way the CLI writes it (\"USD\")"),
        ("last 4 that are not digits", "cases.0.account_last4", "12a4", "bad.json: cases row id 1:"
         " 'account_last4' \"12a4\" is refused: invalid account '12a4': give only the last 4 "
         "digits of the card or account"),
        ("a blank title", "cases.0.title", "\t ", "bad.json: cases row id 1: 'title' \"\\t \" is "
         "empty"),
        ("a title past the CLI's", "cases.0.title", "x" * 501, "bad.json: cases row id 1: 'title' "
         f"\"{'x' * 58}… is longer than 500 characters"),
        ("an organization key not its name's", "organizations.0.name_key", "other", "bad.json: "
         "organizations row id 1: 'name_key' \"other\" is not the key of the name (\"acme\")"),
        ("a NUL in a text", "cases.0.title", "a\x00b", "bad.json: cases row 1: 'title' contains "
         "a NUL character"),
        ("a lone surrogate", "cases.0.title", "a\ud800b", "bad.json: cases row 1: 'title' is not "
         "valid Unicode text (it holds a lone surrogate)"),
        ("a case without a case", "events.0.case_id", None, "bad.json: events row id 1: "
         "'case_id' null is only for an undone event (whose case the undo removed)"),
    ]],
    *[(f"payloads: {name}", edited(_data(event, key, value)), message)
      for name, event, key, value, message in [
        ("a key its type lacks", 0, "agent", "x", "bad.json: events row id 1: 'data' does not fit "
         "an opened event: unknown key 'agent'"),
        ("a created row of another table", 1, "created", ["cases", 1], "bad.json: events row id "
         "2: 'data' does not fit a reference_added event: created [\"cases\", 1]: a "
         "reference_added event creates a row of reference_numbers"),
        ("created naming a missing case", 0, "created", ["cases", 2], "bad.json: events row id 1: "
         "'data' created [\"cases\", 2] refers to cases 2, which is neither in the file nor in "
         "the store"),
        ("a card number in case_before", 2, "case_before", {"amount": "4111 1111 1111 1111"},
         "bad.json: events row id 3: 'data' does not fit an interaction event: case_before names "
         "\"amount\", which is not case state"),
        ("a status in case_before", 2, "case_before", {"status": "gone"}, "bad.json: events row "
         "id 3: 'data' does not fit an interaction event: case_before.status \"gone\" is not one"
         " of: open, waiting, escalated, resolved, closed"),
        ("a far time in case_before", 2, "case_before", {"closed_at": "2999-01-01T00:00:00+00:00"},
         "bad.json: events row id 3: 'data' case_before.closed_at \"2999-01-01T00:00:00+00:00\" "
         "is more than 100 years from now"),
        ("a promise that is not there", 4, "promise_id", 7, "bad.json: events row id 5: 'data' "
         "promise_id refers to promises 7, which is neither in the file nor in the store"),
        ("a promise state of another type", 4, "promise_status", "broken", "bad.json: events row "
         "id 5: 'data' does not fit a promise_kept event: promise_status \"broken\" does not "
         "match a promise_kept event"),
        ("a promise_before with more", 4, "promise_before", {"status": "pending", "text": "x"},
         "bad.json: events row id 5: 'data' does not fit a promise_kept event: promise_before "
         "names \"text\", which is not promise state"),
        ("an id past the column", 4, "promise_id", 2**63, "bad.json: events row id 5: 'data' does"
         " not fit a promise_kept event: promise_id 9223372036854775808 is not an id (1 to "
         "2147483647)"),
        ("a far due time", 3, "due_at", "9999-12-31T23:59:59+00:00", "bad.json: events row id 4: "
         "'data' due_at \"9999-12-31T23:59:59+00:00\" is more than 100 years from now"),
        ("an organization that is not there", 0, "created_organization", 5, "bad.json: events row"
         " id 1: 'data' created_organization refers to organizations 5, which is neither in the "
         "file nor in the store"),
        ("a reverted change that is not there", 5, "reverted_change", 99, "bad.json: events row "
         "id 6: 'data' reverted_change refers to changes 99, which is neither in the file nor in "
         "the store"),
        ("data nested where its type has text", 0, "organization", [[[["x"]]]], "bad.json: "
         "events row id 1: 'data' does not fit an opened event: organization must be text"),
    ]],
    ("a row of another case", edited(_second_case), "bad.json: events row id 2: 'data' created "
     "[\"reference_numbers\", 1] refers to reference_numbers 1, which is on case 2, not case 1"),
    ("a contact of another case", edited(_second_case_contact), "bad.json: promises row id 1: "
     "'interaction_id' refers to interactions 1, which is on case 2, not case 1"),
    ("a contact kind", edited(_contact_point(kind="fax")), "bad.json: contact_points row id 1: "
     "'kind' \"fax\" is not a contact kind (one of: phone, chat, mail, app, email, social, "
     "web)"),
    ("contact categories", edited(_contact_point(categories="any =x")), "bad.json: "
     "contact_points row id 1: 'categories' \"any =x\" is not a list of categories (separated "
     "by spaces; each one of: lost_stolen, dispute, rewards, personal_info, benefits, payment, "
     "application, complaint, card_replacement, other, any)"),
    ("a reference twice on a case", edited(_reference_twice), "bad.json: reference_numbers row id "
     "2: 'case_id', 'value' [1, \"R-1\"] repeats row id 1"),
    ("NaN", lambda v: v.replace('"id": 1,', '"id": NaN,', 1), "bad.json is not valid JSON (NaN is "
     "not a JSON number)"),
    ("a number of 5000 digits", lambda v: v.replace('"id": 1,', f'"id": {"9" * 5000},', 1),
     "bad.json is not valid JSON (a number has too many digits)"),
    ("nested 100,000 deep", lambda v: "[" * 100_000 + "]" * 100_000, "bad.json is nested too "
     "deeply to be a tracker export"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_a_bad_file_is_refused_and_nothing_is_written(
    valid_export: str, tmp_path: Path, make: Callable[[str], str], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(make(valid_export), encoding="utf-8")
    run("db", "upgrade")  # an empty store, exported below
    result = run("import", "json", str(bad))
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    tables = json.loads(run("export", "json").stdout)["tables"]
    assert all(rows == [] for rows in tables.values())


def test_a_truncated_file_is_refused(valid_export: str, tmp_path: Path) -> None:
    bad = tmp_path / "half.json"
    bad.write_text(valid_export[: len(valid_export) // 2], encoding="utf-8")
    result = run("import", "json", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: half.json is not valid JSON (line ")
    assert result.stderr.endswith("; is the file complete?\n")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"format": "tracker-export", "title": "Café"}'.encode("latin-1"))
    result = run("import", "json", str(bad))
    assert (result.exit_code, result.stderr) == (2, "Error: latin1.json is not UTF-8 text\n")


def test_the_valid_file_itself_imports_from_stdin_too(valid_export: str) -> None:
    result = run("import", "json", "-", input=valid_export)
    assert result.stdout == (
        "Imported 15 rows (1 organizations, 1 cases, 4 changes, 1 interactions, "
        "1 reference numbers, 1 promises, 6 events).\n"
    )


def test_the_file_is_0600_under_umask_022(valid_export: str, tmp_path: Path) -> None:
    run("import", "json", "-", input=valid_export)
    target = tmp_path / "again.json"
    old = os.umask(0o022)
    try:
        result = run("export", "json", "-o", str(target))
    finally:
        os.umask(old)
    assert result.stderr == f"Exported 15 rows (1 cases) to {target}.\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert without_time(json.loads(target.read_text())) == without_time(json.loads(valid_export))


def test_an_export_from_before_a_column_existed_imports_it_as_unknown(
    tracker: Any, history: Path, tmp_path: Path
) -> None:
    # Columns added by later migrations (0004: promise windows and calendars, a case
    # abroad, an organization's subdivision; 0005: a reminder's notification id) are not
    # in an older tracker's export: nullable ones read as unknown, required ones are refused.
    later = {"window_start", "calendar", "abroad", "subdivision", "notification_id"}
    doc = json.loads(history.read_text())
    for rows in doc["tables"].values():
        for row in rows:
            for name in later & set(row):
                del row[name]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    second = f"sqlite:///{tmp_path / 'second.db'}"
    tracker.ok("--db", second, "import", "json", str(old))
    imported = export_doc(tracker, "--db", second)["tables"]
    assert imported["cases"] and all(row["abroad"] is None for row in imported["cases"])
    assert all(row["window_start"] is None for row in imported["promises"])
    del doc["tables"]["cases"][0]["title"]
    old.write_text(json.dumps(doc))
    third = f"sqlite:///{tmp_path / 'third.db'}"
    assert tracker.fails(2, "--db", third, "import", "json", str(old)) == (
        f"Error: {old.name}: cases row 1 has no 'title'"
    )
