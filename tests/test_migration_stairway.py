"""Migrations keep every row: a stairway over the real revisions with data in every table,
a batch rebuild of `cases` beside its notes and events, and a failing migration that leaves
the store as it was. SQLite: the backend whose ALTER TABLE needs table rebuilds.

The pytest-alembic built-in checks and `alembic check` are in test_migrations.py.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from procs.support import sqlite_problems

import tracker.migrate
from alembic import command
from tracker import cases as svc
from tracker.db import Store, make_engine
from tracker.migrate import alembic_config, migration_connection, script_location, stored_revision
from tracker.models import SCHEMA_REVISION, Reminder, utcnow
from tracker.redact import Masker
from tracker.search import is_index_object
from tracker.search import uninstall as uninstall_search_index

UNICODE = "Zürich · Ελληνικά · עברית ‏RTL‏ · 日本語 · 😀 · \u00a0nbsp"
MEGABYTE_TEXT = ("Kundendienst sagte: „Rückruf morgen“ — " * 30_000)[:1_000_000]
ROWS = 3
Snapshot = dict[str, dict[str, Any]]  # table -> {"columns": [...], "rows": sorted rows}


def _revisions() -> list[str]:
    """base to head, one step at a time (the history is linear: a single head is tested)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = alembic_config()
    with migration_connection(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _value(column: sa.Column[Any], table: str, row: int, tag: str, big: bool) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return row % 2 == 0
    if isinstance(kind, sa.Integer):
        return row + 1
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 1, 31, 23, 59, 59, 999999) + timedelta(days=row)
    if isinstance(kind, sa.Date):
        return date(2026, 2, 28) + timedelta(days=row)
    if isinstance(kind, sa.JSON):
        return {"text": UNICODE, "row": row, "nested": [1, "two", None]}
    if isinstance(kind, sa.Text):
        return MEGABYTE_TEXT if big else f"{tag} {table}.{column.name} {row} {UNICODE}"
    if isinstance(kind, sa.LargeBinary):
        return bytes(range(256)) * (4096 if big else 1) + f"{tag}{row}".encode()
    if isinstance(kind, sa.String):
        text = f"{row}{tag}{table}.{column.name}{UNICODE}"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"teach the stairway a value for {table}.{column.name}: {kind!r}")


def _tables_of_the_models(name: str, _metadata: sa.MetaData) -> bool:
    # The search index is derived from these tables by triggers (tracker.search): filled
    # through them, never directly; test_search.py checks it after a migration.
    return not is_index_object(name)


def _fill(engine: sa.Engine, tag: str) -> None:
    """ROWS new rows in every table, references pointing at existing rows (foreign keys on)."""
    metadata = sa.MetaData()
    metadata.reflect(engine, only=_tables_of_the_models)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            text_columns = [c.name for c in table.columns if isinstance(c.type, sa.Text)]
            for row in range(ROWS):
                values: dict[str, Any] = {}
                for column in table.columns:
                    if column.primary_key and isinstance(column.type, sa.Integer):
                        continue
                    fk = next(iter(column.foreign_keys), None)
                    if fk is not None:
                        target = fk.column
                        values[column.name] = conn.scalar(
                            sa.select(target).order_by(target.desc()).limit(1)
                        )
                        continue
                    big = row == 0 and text_columns[:1] == [column.name]
                    values[column.name] = _value(column, table.name, row, tag, big)
                conn.execute(table.insert().values(**values))


def _snapshot(engine: sa.Engine) -> Snapshot:
    metadata = sa.MetaData()
    metadata.reflect(engine, only=_tables_of_the_models)
    found: Snapshot = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = [c.name for c in table.columns]
            rows = [tuple(map(repr, r)) for r in conn.execute(sa.select(table))]
            found[table.name] = {"columns": columns, "rows": sorted(rows)}
        conn.rollback()
    return found


def _project(snapshot: Snapshot, shape: Snapshot) -> Snapshot:
    """`snapshot` cut down to the tables and columns that `shape` has."""
    cut: Snapshot = {}
    for name in snapshot.keys() & shape.keys():
        keep = sorted(set(snapshot[name]["columns"]) & set(shape[name]["columns"]))
        index = [snapshot[name]["columns"].index(c) for c in keep]
        rows = sorted(tuple(row[i] for i in index) for row in snapshot[name]["rows"])
        cut[name] = {"columns": keep, "rows": rows}
    return cut


def _assert_kept(before: Snapshot, after: Snapshot, step: str) -> None:
    """Every table in both: same row count, same values in the columns both have."""
    old, new = _project(before, after), _project(after, before)
    for name in old:
        assert len(new[name]["rows"]) == len(old[name]["rows"]), f"{step}: {name} rows"
        assert new[name]["rows"] == old[name]["rows"], f"{step}: {name} values changed"


def test_every_revision_keeps_the_data_up_down_and_up_again(tmp_path: Path) -> None:
    path = tmp_path / "stairway.db"
    engine = make_engine(f"sqlite:///{path}")
    previous = "base"
    for revision in _revisions():
        before = _snapshot(engine)
        tracker.migrate.upgrade(engine, revision)
        _assert_kept(before, _snapshot(engine), f"upgrade {previous} -> {revision}")
        _fill(engine, revision)
        filled = _snapshot(engine)
        assert all(len(t["rows"]) >= ROWS for t in filled.values()), "a table was not filled"

        _downgrade(engine, previous)
        assert stored_revision(engine) == (None if previous == "base" else previous)
        down = _snapshot(engine)
        _assert_kept(filled, down, f"downgrade {revision} -> {previous}")
        assert sqlite_problems(path) == []

        tracker.migrate.upgrade(engine, revision)
        again = _snapshot(engine)
        # What the step down kept comes back up whole (tables the step creates are new).
        _assert_kept(_project(filled, down), again, f"upgrade again {revision}")
        assert sqlite_problems(path) == []
        _fill(engine, f"{revision}-again")  # the next step starts from a populated store
        previous = revision
    assert previous == SCHEMA_REVISION
    engine.dispose()


def _populated_store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    masker = Masker()
    now = utcnow()
    with store.write() as session:
        for n in range(3):
            case = svc.open_case(
                session,
                title=f"Case {n} {UNICODE}",
                masker=masker,
                organization="Amex",
                refs=[f"REF-{n}"],
                note=MEGABYTE_TEXT if n == 0 else f"note {n}",
                follow_up=now + timedelta(days=n + 1),
            )
            svc.log_interaction(
                session,
                case,
                channel="phone",
                masker=masker,
                agent_name="Maria",
                summary="called",
                promise="Provisional credit",
                promise_due=now + timedelta(days=10),
            )
            session.add(
                Reminder(
                    key=f"follow_up:{n}",
                    case_id=case.id,
                    kind="follow_up",
                    due_at=now,
                    claimed_by="test",
                )
            )
    return store


def _counts(engine: sa.Engine) -> dict[str, int]:
    return {name: len(table["rows"]) for name, table in _snapshot(engine).items()}


def _rebuild_cases(conn: sa.Connection) -> None:
    """What a future revision that alters `cases` does on SQLite: copy, drop, rename."""
    operations = Operations(MigrationContext.configure(conn))
    with operations.batch_alter_table("cases", recreate="always") as batch:
        batch.add_column(sa.Column("rebuilt", sa.Text(), nullable=True))


def test_a_batch_rebuild_of_cases_keeps_its_notes_and_events(tmp_path: Path) -> None:
    store = _populated_store(tmp_path / "tracker.db")
    before = _snapshot(store.engine)
    with migration_connection(store.engine) as conn:
        _rebuild_cases(conn)
    after = _snapshot(store.engine)
    assert "rebuilt" in after["cases"]["columns"]
    _assert_kept(before, after, "batch rebuild of cases")
    assert {name: len(t["rows"]) for name, t in after.items() if name != "cases"} == {
        name: len(t["rows"]) for name, t in before.items() if name != "cases"
    }
    assert len(after["notes"]["rows"]) == 3 and len(after["events"]["rows"]) > 3
    assert sqlite_problems(tmp_path / "tracker.db") == []
    # The pooled connection got its foreign keys back.
    with store.engine.connect() as conn:
        assert conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            "PRAGMA foreign_keys"
        ).fetchone() == (1,)
    store.dispose()


def test_the_same_rebuild_with_foreign_keys_on_would_delete_them(tmp_path: Path) -> None:
    # Why migration_connection turns them off: this is what the tests above would catch.
    store = _populated_store(tmp_path / "tracker.db")
    with store.engine.begin() as conn:
        # Without the search index's triggers: with them, SQLite refuses the cascading
        # DROP TABLE ("database table is locked") instead of deleting.
        uninstall_search_index(conn)
        _rebuild_cases(conn)
    counts = _counts(store.engine)
    assert counts["cases"] == 3
    assert counts["notes"] == counts["interactions"] == counts["promises"] == 0
    store.dispose()


BROKEN_REVISION = '''
"""a migration that fails half-way"""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    with op.batch_alter_table("cases", recreate="always") as batch:
        batch.add_column(sa.Column("half", sa.Text(), nullable=True))
    op.execute("DELETE FROM notes")
    raise RuntimeError("the migration failed half-way")


def downgrade() -> None:
    pass
'''


def test_a_migration_that_fails_half_way_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _populated_store(tmp_path / "tracker.db")
    before = _snapshot(store.engine)
    scripts = tmp_path / "scripts"
    shutil.copytree(script_location(), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "9999_broken.py").write_text(
        BROKEN_REVISION.format(head=SCHEMA_REVISION)
    )
    monkeypatch.setattr(tracker.migrate, "script_location", lambda: scripts)
    with pytest.raises(RuntimeError, match="failed half-way"):
        tracker.migrate.upgrade(store.engine)
    assert stored_revision(store.engine) == SCHEMA_REVISION
    assert _snapshot(store.engine) == before  # no half_done table, no column, every note
    assert sqlite_problems(tmp_path / "tracker.db") == []
    store.dispose()


def test_0003_moves_an_old_escalations_reason_into_its_payload(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    tracker.migrate.upgrade(engine, "0002")
    events = sa.table(
        "events",
        sa.column("id"),
        sa.column("type"),
        sa.column("summary"),
        sa.column("data", sa.JSON),
        sa.column("change_id"),
        sa.column("at"),
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO changes (id, at, command, undoable) "
                "VALUES (1, '2026-01-01 00:00:00', 'x', 1)"
            )
        )
        for event_id, summary in (
            (1, "Escalated from frontline to supervisor: callback promised: not kept"),
            (2, "Escalated from supervisor to complaint"),
        ):
            level = "supervisor" if event_id == 1 else "complaint"
            previous = "frontline" if event_id == 1 else "supervisor"
            conn.execute(
                events.insert().values(
                    id=event_id,
                    type="escalated",
                    summary=summary,
                    change_id=1,
                    at=datetime(2026, 1, 1),
                    data={"level": level, "previous_level": previous},
                )
            )
    tracker.migrate.upgrade(engine)
    with engine.connect() as conn:
        data = dict(conn.execute(sa.select(events.c.id, events.c.data)).all())
    assert data[1]["reason"] == "callback promised: not kept"
    assert "reason" not in data[2]
    _downgrade(engine, "0002")
    with engine.connect() as conn:
        data = dict(conn.execute(sa.select(events.c.id, events.c.data)).all())
    assert data[1] == {"level": "supervisor", "previous_level": "frontline"}
    engine.dispose()
