"""`tracker search`: every source is found, ranked, filtered and shown with a marked excerpt;
the index stays in step with every write (commands, import, undo, in-place updates); bad
queries are refused cleanly; no card number is shown; the migration goes up and down with
data. On SQLite (FTS5) and PostgreSQL (tsvector, GIN)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Tracker
from masking_samples import CARD_SHAPES, card_samples, leaked

import tracker.migrate
from alembic import command
from tracker import cases as svc
from tracker import search as engine
from tracker.db import Store, make_engine
from tracker.migrate import alembic_config, migration_connection
from tracker.redact import Masker


def hits(tracker: Tracker, *args: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tracker.json("search", *args)
    return found


def matches(tracker: Tracker, *args: str) -> list[tuple[int, str]]:
    return [(hit["case_id"], hit["match"]) for hit in hits(tracker, *args)]


@pytest.fixture
def story(tracker: Tracker) -> Tracker:
    """Two cases with one of every kind of text between them."""
    tracker.ok(
        "case", "open", "Disputed charge at ACME Hardware", "--org", "American Express",
        "--merchant", "Hardwarehaus", "--ref", "CALL-5521", "--note",
        "Statement shows the charge twice", "--at", "2026-10-05 10:00",
    )  # fmt: skip
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--agent", "Daniel Ortiz",
        "--agent-id", "A-4471", "--ref", "RMA#12-44", "--summary",
        "Daniel promised the provisional credit", "--promise", "Provisional credit posts",
        "--due", "10bd", "--at", "2026-10-06 11:00",
    )  # fmt: skip
    tracker.ok("case", "ref", "1", "ABC/9981")
    tracker.ok("case", "follow-up", "1", "3d", "Check the statement for the reversal")
    tracker.ok("case", "open", "Lost card in Lisbon", "--org", "Barclays", "--at", "2026-11-01")
    tracker.ok("case", "note", "2", "Called Daniel at the branch about the replacement")
    tracker.ok("case", "resolve", "2", "--outcome", "Replacement card arrived by courier")
    return tracker


def test_every_kind_of_text_is_found_with_where_it_was(story: Tracker) -> None:
    expected = {
        "hardware": (1, "title"),
        "american": (1, "organization"),
        "hardwarehaus": (1, "merchant"),
        "courier": (2, "outcome"),
        "twice": (1, "note 1"),
        "ortiz": (1, "agent of contact 1"),
        "A-4471": (1, "agent id of contact 1"),
        "9981": (1, "reference"),
        "posts": (1, "promise 1"),
        "reversal": (1, "follow-up 1"),
        "lisbon": (2, "title"),
        "barclays": (2, "organization"),
    }
    for word, where in expected.items():
        assert matches(story, word) == [where], word
    [org] = hits(story, "barclays")
    assert (org["kind"], org["field"], org["case_title"]) == (
        "organization",
        "name",
        "Lost card in Lisbon",
    )
    # A contact's summary, with its own label; "daniel" is also an agent and a note.
    found = matches(story, "daniel")
    assert (1, "summary of contact 1") in found
    assert {(1, "agent of contact 1"), (2, "note 2")} <= set(found)


def test_a_reference_is_found_whole_by_its_parts_and_without_separators(story: Tracker) -> None:
    for query in ("CALL-5521", "call-5521", "5521", "call 5521", "CALL5521", "call55*"):
        assert matches(story, query) == [(1, "reference")], query
    for query in ("RMA#12-44", "12-44", "rma1244", "RMA 12 44", "44"):
        assert matches(story, query) == [(1, "reference")], query
    for query in ("ABC/9981", "abc9981", "abc", "ABC/99*"):
        assert matches(story, query) == [(1, "reference")], query
    assert matches(story, "CALL-5522") == []
    assert matches(story, "call55") == []  # a fragment without * is a whole word


def test_words_are_all_required_phrases_keep_order_and_star_is_a_prefix(story: Tracker) -> None:
    assert set(matches(story, "provisional", "credit")) == {
        (1, "promise 1"),
        (1, "summary of contact 1"),
    }
    assert matches(story, "provisional courier") == []
    assert {m for m in matches(story, '"provisional credit"')} == {
        (1, "promise 1"),
        (1, "summary of contact 1"),
    }
    assert matches(story, '"credit provisional"') == []
    assert matches(story, "revers*") == [(1, "follow-up 1")]
    assert matches(story, '"the rever"*') == [(1, "follow-up 1")]
    # FTS5 and tsquery operators are plain words here.
    assert matches(story, "OR") == []
    assert matches(story, "NEAR", "(lisbon)") == []
    assert matches(story, "(lisbon)") == [(2, "title")]


def test_better_matches_rank_first(tracker: Tracker) -> None:
    tracker.ok("case", "open", "One")
    long = "The agent talked about many things, once about a refund, then the weather, the queue."
    tracker.ok("case", "note", "1", long)
    tracker.ok("case", "open", "Two")
    tracker.ok("case", "note", "2", "Refund, refund: refund promised")
    assert [hit["case_id"] for hit in hits(tracker, "refund")] == [2, 1]


def test_filters_by_organization_time_case_and_limit(story: Tracker) -> None:
    assert {m for m in matches(story, "daniel", "--org", "american express")} == {
        (1, "agent of contact 1"),
        (1, "summary of contact 1"),
    }
    assert matches(story, "daniel", "--org", "Barclays") == [(2, "note 2")]
    assert matches(story, "daniel", "--org", "Nobody") == []
    assert matches(story, "daniel", "--case", "2") == [(2, "note 2")]
    # The contact was on 6 October, the note on 26 November (now).
    assert {m[1] for m in matches(story, "daniel", "--until", "2026-10-06")} == {
        "agent of contact 1",
        "summary of contact 1",
    }
    assert matches(story, "daniel", "--until", "2026-10-05") == []
    assert matches(story, "daniel", "--since", "2026-10-07") == [(2, "note 2")]
    assert len(hits(story, "daniel", "--limit", "1")) == 1
    line = story.fails(1, "search", "daniel", "--case", "99")
    assert line == "Error: no case 99"
    story.fails(2, "search", "daniel", "--since", "2026-11-01", "--until", "2026-10-01")
    story.fails(2, "search", "daniel", "--since", "someday")


def test_results_show_the_case_the_time_and_a_marked_excerpt(story: Tracker) -> None:
    long_note = "Intro words. " * 30 + "The refund reference is CALL-5521 as said. " + "More. " * 30
    story.ok("case", "note", "2", long_note)
    [hit] = [h for h in hits(story, "refund") if h["kind"] == "note"]
    assert hit["case_id"] == 2 and hit["case_title"] == "Lost card in Lisbon"
    assert hit["organization"] == "Barclays"
    assert hit["match"] == "note 3" and hit["id"] == 3 and hit["field"] == "body"
    assert hit["at"].endswith("+00:00")
    assert "[refund]" in hit["snippet"] and hit["snippet"].startswith("…")
    assert hit["snippet"].endswith("…") and len(hit["snippet"]) < 120
    [ref] = hits(story, "CALL-5521", "--case", "1")
    assert ref["snippet"] == "[CALL-5521]" and ref["kind"] == "reference"
    text = story.ok("search", "A-4471")
    header, row = text.splitlines()
    assert header.split("\t") == ["CASE", "TITLE", "MATCH", "WHEN", "EXCERPT"]
    assert row.split("\t") == [
        "1", "Disputed charge at ACME Hardware", "agent id of contact 1", "2026-10-06 11:00",
        "[A-4471]",
    ]  # fmt: skip
    assert story.ok("search", "nothing-like-this") == "Nothing found.\n"
    assert hits(story, "nothing-like-this") == []


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('"refund', 'a " that is not closed'),
        ("ref*und", "a * goes at the end of a word"),
        ("refund**", "a * goes at the end of a word"),
        ("& #", "no words to look for"),
        ('"" *', "no words to look for"),
        ("x" * 1001, "too long"),
    ],
)
def test_a_query_that_cannot_be_read_is_refused_cleanly(
    tracker: Tracker, query: str, words: str
) -> None:
    tracker.ok("case", "open", "Something")
    line = tracker.fails(2, "search", query)
    assert words in line


def test_odd_queries_are_words_never_engine_syntax(tracker: Tracker) -> None:
    tracker.ok("case", "open", "Something NOT or AND near")
    for query in ("AND", "NOT", "OR", "NEAR", "a:b", "^x", "(x", "x)", "'x'", "col:", "!:*", "\\"):
        result = tracker("search", query)
        assert result.exit_code in (0, 2), (query, result.stderr)
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, query
    assert matches(tracker, "near", "not") == [(1, "title")]


def test_the_index_follows_notes_contacts_references_and_undo(tracker: Tracker) -> None:
    tracker.ok("case", "open", "Index", "--org", "Acme")
    assert matches(tracker, "zebra") == []
    tracker.ok("case", "note", "1", "A zebra crossed")
    assert matches(tracker, "zebra") == [(1, "note 1")]
    tracker.ok("undo")
    assert matches(tracker, "zebra") == []
    tracker.ok("case", "contact", "1", "--channel", "chat", "--summary", "zebra chat",
               "--ref", "ZB-1")  # fmt: skip
    assert {m[1] for m in matches(tracker, "zebra")} == {"summary of contact 1"}
    assert matches(tracker, "ZB-1") == [(1, "reference")]
    tracker.ok("undo")
    assert matches(tracker, "zebra") == [] and matches(tracker, "ZB-1") == []
    tracker.ok("case", "ref", "1", "ZB-2")
    assert matches(tracker, "zb2") == [(1, "reference")]
    tracker.ok("case", "resolve", "1", "--outcome", "zebra refund")
    assert (1, "outcome") in matches(tracker, "zebra")
    tracker.ok("case", "reopen", "1")  # the outcome belonged to the resolution
    assert (1, "outcome") not in matches(tracker, "zebra")
    tracker.ok("undo")  # the reopen: the outcome is back
    assert (1, "outcome") in matches(tracker, "zebra")
    tracker.ok("undo")
    tracker.ok("undo")
    tracker.ok("undo")  # the case itself
    assert matches(tracker, "index") == [] and matches(tracker, "acme") == []


def test_the_index_follows_updates_in_place_by_any_code_path(
    tracker: Tracker, store: Store
) -> None:
    # Corrections (case edit, contact edit, note edit) update rows in place; so may a
    # future command. The triggers see the rows, not the code.
    tracker.ok("case", "open", "Old title", "--org", "Acme")
    tracker.ok("case", "note", "1", "old words")
    tracker.ok("case", "contact", "1", "--channel", "phone", "--agent", "Maria")
    with store.write() as session:
        session.execute(sa.text("UPDATE cases SET title = 'New heading' WHERE id = 1"))
        session.execute(sa.text("UPDATE notes SET body = 'fresh words' WHERE id = 1"))
        session.execute(sa.text("UPDATE interactions SET agent_name = 'Jorge' WHERE id = 1"))
        session.execute(sa.text("UPDATE organizations SET name = 'Acme Bank' WHERE id = 1"))
    assert matches(tracker, "old") == []
    assert matches(tracker, "maria") == []
    assert matches(tracker, "heading") == [(1, "title")]
    assert matches(tracker, "fresh") == [(1, "note 1")]
    assert matches(tracker, "jorge") == [(1, "agent of contact 1")]
    assert matches(tracker, "acme bank") == [(1, "organization")]
    with store.write() as session:  # a new time moves the document in time too
        session.execute(sa.text("UPDATE notes SET created_at = '2020-01-01 00:00:00' WHERE id = 1"))
    assert matches(tracker, "fresh", "--since", "2021-01-01") == []
    assert _index_is_consistent(store)


def test_an_import_is_indexed_and_its_undo_removes_it(
    tracker: Tracker, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tracker.ok("case", "open", "Imported case", "--ref", "IMP-77", "--note", "walrus")
    exported = tmp_path / "export.json"
    tracker.ok("export", "json", "-o", str(exported))
    if backend == "sqlite":
        other = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        other = request.getfixturevalue("postgres_db")
    tracker.ok("--db", other, "import", "json", str(exported))
    found = json.loads(tracker.ok("--db", other, "search", "walrus", "--json"))
    assert [(h["case_id"], h["match"]) for h in found] == [(1, "note 1")]
    found = json.loads(tracker.ok("--db", other, "search", "IMP-77", "--json"))
    assert [h["match"] for h in found] == ["reference"]
    tracker.ok("--db", other, "undo")
    assert json.loads(tracker.ok("--db", other, "search", "walrus", "--json")) == []


def test_no_card_number_is_ever_shown(tracker: Tracker) -> None:
    samples = [next(card_samples(shape, 1, seed=7)) for shape in CARD_SHAPES]
    tracker.ok("case", "open", "Cards")
    for text, _ in samples:
        tracker.ok("case", "note", "1", f"my card {text} was charged")
    outputs = [
        tracker.ok("search", "card"),
        tracker.ok("search", "card", "--json"),
        tracker.ok("search", "charged*", "--limit", "500"),
    ]
    for text, digits in samples:  # searching for the card itself finds only the masked form
        result = tracker("search", text)
        outputs.append(result.stdout + result.stderr)
        outputs.append(tracker.ok("search", digits[-4:], "--json"))
    shown = "\n".join(outputs)
    assert [d for _, d in samples if leaked(shown, d)] == []
    assert "•••• " in shown


def test_the_masked_query_warns_and_finds_the_masked_text(tracker: Tracker) -> None:
    tracker.ok("case", "open", "Cards")
    tracker.ok("case", "note", "1", "card 4111 1111 1111 1111 blocked")
    result = tracker("search", "4111 1111 1111 1111")
    assert result.exit_code == 0
    assert "Warning: masked a card number ending 1111 in the query" in result.stderr
    assert "4111 1111" not in result.stdout
    assert "[1111]" in result.stdout


def test_every_source_has_its_triggers_at_the_head(store: Store) -> None:
    with store.engine.connect() as conn:
        assert engine.trigger_names(conn) == engine.expected_trigger_names(conn)


def _index_is_consistent(store: Store) -> bool:
    """The documents are exactly what the sources make (and, on SQLite, FTS5 agrees)."""
    with store.engine.begin() as conn:
        stored = sorted(
            tuple(r) for r in conn.execute(sa.text("SELECT source, row_key, body FROM search_docs"))
        )
        conn.exec_driver_sql(
            "CREATE TEMP TABLE search_expected AS SELECT * FROM search_docs WHERE 0 = 1"
        )
        for source in engine.SOURCES:
            conn.exec_driver_sql(
                engine._doc_insert(source, "r").replace(
                    "INSERT INTO search_docs", "INSERT INTO search_expected", 1
                )
            )
        expected = sorted(
            tuple(r)
            for r in conn.execute(sa.text("SELECT source, row_key, body FROM search_expected"))
        )
        conn.exec_driver_sql("DROP TABLE search_expected")
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')")
    return stored == expected


def test_the_index_is_consistent_after_a_busy_story(story: Tracker, store: Store) -> None:
    story.ok("undo")
    story.ok("case", "escalate", "1", "--note", "supervisor zebra")
    story.ok("promise", "kept", "1")
    assert _index_is_consistent(store)


def test_the_search_uses_the_full_text_index(story: Tracker, store: Store, backend: str) -> None:
    with store.engine.begin() as conn:
        if backend == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(
                "EXPLAIN SELECT id FROM search_docs WHERE tsv @@ to_tsquery('simple', 'daniel')"
            ).all()
            assert "search_docs_tsv" in str(plan)
        else:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT rowid FROM search_fts WHERE search_fts MATCH 'daniel'"
            ).all()
            assert "VIRTUAL TABLE INDEX" in str(plan)


@pytest.mark.backends("sqlite")
def test_a_backup_holds_a_working_index(story: Tracker, tmp_path: Path) -> None:
    copy = tmp_path / "backup.db"
    story.ok("db", "backup", str(copy))
    found = json.loads(story.ok("--db", f"sqlite:///{copy}", "search", "CALL-5521", "--json"))
    assert [h["match"] for h in found] == ["reference"]


@pytest.mark.backends("sqlite")
def test_a_table_rebuild_drops_its_triggers_and_install_triggers_brings_them_back(
    tracker: Tracker, store: Store
) -> None:
    # What a future migration that rebuilds a source table on SQLite (Alembic batch mode:
    # copy, drop, rename) must do afterwards: tracker.search.install_triggers.
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    tracker.ok("case", "open", "Before the rebuild")
    with migration_connection(store.engine) as conn:
        operations = Operations(MigrationContext.configure(conn))
        with operations.batch_alter_table("cases", recreate="always") as batch:
            batch.add_column(sa.Column("rebuilt", sa.Text(), nullable=True))
        missing = engine.expected_trigger_names(conn) - engine.trigger_names(conn)
        assert missing == {f"search_case_{f}_{w}" for f in ("title", "merchant", "outcome")
                           for w in ("ins", "upd", "del")}  # fmt: skip
        engine.install_triggers(conn)
        assert engine.trigger_names(conn) == engine.expected_trigger_names(conn)
    tracker.ok("case", "open", "After the rebuild")
    assert set(matches(tracker, "rebuild")) == {(1, "title"), (2, "title")}
    assert _index_is_consistent(store)


# --------------------------------------------------------------------------- the migration


def _downgrade(url_engine: sa.Engine, revision: str) -> None:
    config = alembic_config()
    with migration_connection(url_engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _index_objects(conn: sa.Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE name LIKE 'search%'"
    else:
        query = (
            "SELECT relname FROM pg_class WHERE relname LIKE 'search%%' UNION ALL "
            "SELECT proname FROM pg_proc WHERE proname LIKE 'search%%' UNION ALL "
            "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'search%%'"
        )
    return sorted(name for (name,) in conn.exec_driver_sql(query))


def test_the_migration_indexes_existing_rows_and_its_downgrade_removes_everything(
    new_db_url: str,
) -> None:
    url = new_db_url
    migrating = make_engine(url)
    # Rows written by today's code, then the store taken back to before the index (0007):
    # the rows stay, the index goes (today's models cannot write a 0007 schema).
    tracker.migrate.upgrade(migrating)
    old = Store(url, migrate=False)
    with old.write() as session:
        case = svc.open_case(session, title="Old dispute", masker=Masker(), organization="Amex",
                             refs=["OLD-4242"], note="an old walrus note")  # fmt: skip
        svc.log_interaction(session, case, channel="phone", masker=Masker(), agent_name="Maria")
    old.dispose()
    _downgrade(migrating, "0007")
    with migrating.connect() as conn:
        assert _index_objects(conn) == []

    tracker.migrate.upgrade(migrating)
    store = Store(url)
    query = engine.parse_query
    with store.read() as session:
        for words, where in (
            ("walrus", "note 1"), ("OLD-4242", "reference"),
            ("maria", "agent of contact 1"), ("amex", "organization"),
        ):  # fmt: skip
            found = engine.search(session, query(words), engine.SearchFilter())
            assert [hit.label for hit in found] == [where], words
    assert _index_is_consistent(store)
    with store.engine.connect() as conn:
        assert engine.trigger_names(conn) == engine.expected_trigger_names(conn)
    store.dispose()

    _downgrade(migrating, "0004")
    with migrating.connect() as conn:
        assert _index_objects(conn) == []
        assert conn.exec_driver_sql("SELECT count(*) FROM notes").scalar() == 1
        conn.exec_driver_sql("UPDATE notes SET body = 'still writable' WHERE id = 1")
        conn.commit()
    tracker.migrate.upgrade(migrating)  # and up again: the index is rebuilt from the rows
    store = Store(url)
    with store.read() as session:
        found = engine.search(session, query("writable"), engine.SearchFilter())
        assert [hit.label for hit in found] == ["note 1"]
    store.dispose()
    migrating.dispose()


@pytest.mark.backends("sqlite")
def test_the_sqlite_build_has_fts5() -> None:
    sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")


# --------------------------------------------------------------------------- the query, unit


def test_the_query_compiles_to_quoted_words_for_both_engines() -> None:
    parsed = engine.parse_query('CALL-5521 "credit posts" refund* NEAR')
    assert parsed.fts5() == (
        '("CALL 5521" OR "CALL5521") AND "credit posts" AND "refund"* AND "NEAR"'
    )
    assert parsed.tsquery() == (
        "(('CALL' <-> '5521' | 'CALL5521')) & ('credit' <-> 'posts') & ('refund':*) & ('NEAR')"
    )


def test_a_snippet_marks_the_words_and_keeps_to_one_line() -> None:
    query = engine.parse_query("credit")
    assert engine.snippet("The\ncredit\tposts", query) == "The [credit] posts"
    assert engine.snippet("Credit, credit!", query) == "[Credit], [credit]!"
