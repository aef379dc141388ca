"""Full-text search: the index (what is indexed, its tables and triggers) and the engine.

The index is one table of documents, ``search_docs``: one row per searchable text (a case's
title, a note, a contact's summary, a reference number...), with its case, its time and
the text. On SQLite an FTS5 table over it (``search_fts``, external content) holds the
index; on PostgreSQL a generated ``tsvector`` column with a GIN index. Database triggers on
the source tables keep it in step in the same transaction as every write, whatever code
path writes (a command, ``import json``, ``undo``, a correction, a migration): nothing in
Python has to remember the index.

What is indexed is :data:`SOURCES`, one entry per text: a new source (a new table or
column) is one entry here. Migration 0008 indexes every entry whose table exists when it
runs; a table made by a later migration is indexed by that migration calling
``install_source(op.get_bind(), source_named(NAME))`` at its end. A migration that rebuilds a
source table on SQLite (Alembic batch mode drops the old table, and its triggers with it)
calls :func:`install_triggers` afterwards; tests/test_search.py checks that every entry's
triggers exist at the head.

Words: a text is split into words at every character that is not a letter or a digit
(``CALL-5521`` is the words ``call`` and ``5521``), case is ignored, accents are not (the
same on both backends). Reference numbers and agent ids are also indexed with their
separators removed (``call5521``), so that ``CALL5521`` finds ``CALL-5521``.

The index holds only what the store holds: every text reaches it from the source tables,
which hold masked text only; the query itself is masked before it is used.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from tracker.directory import organization_key
from tracker.errors import UsageError
from tracker.models import Case, Organization, UTCDateTime

# --------------------------------------------------------------------------- the sources


@dataclass(frozen=True)
class Source:
    """One searchable text. SQL expressions are written over ``{row}``, the source row
    (NEW or OLD in a trigger, the table's alias when the index is filled). They name
    columns of the source table only: a trigger that named another table would break
    SQLite's rebuild of that table (ALTER TABLE ... RENAME checks every trigger).

    A text that belongs to no one case (an organization's name) has case_id NULL and its
    organization in org_id: a search finds it on each of that organization's cases."""

    name: str  # unique; stored in search_docs.source
    table: str
    body: str  # the text
    kind: str  # what the row is, for --json: case, organization, note, contact, reference...
    field: str  # which of its texts, for --json: title, summary, agent...
    label: str  # how a result names it; {id} is the row's key
    # The time a result shows, and --since/--until filter; NULL: the case's opening time.
    at: str = "{row}.created_at"
    key: str = "{row}.id"  # unique per row of the table
    case_id: str = "{row}.case_id"
    org_id: str = "CAST(NULL AS INTEGER)"
    compact: bool = False  # also index the text without its separators (reference numbers)

    @property
    def columns(self) -> tuple[str, ...]:
        """The source table's columns the document is made of: a change to one rebuilds it."""
        expressions = (self.body, self.at, self.key, self.case_id, self.org_id)
        found = re.findall(r"\{row\}\.(\w+)", " ".join(expressions))
        return tuple(dict.fromkeys(found))

    @property
    def slug(self) -> str:
        return self.name.replace(".", "_")


SOURCES: tuple[Source, ...] = (
    Source("case.title", "cases", "{row}.title", "case", "title", "title",
           at="{row}.opened_at", case_id="{row}.id"),
    Source("organization", "organizations", "{row}.name", "organization", "name",
           "organization", case_id="CAST(NULL AS INTEGER)", org_id="{row}.id"),
    Source("case.merchant", "cases", "{row}.merchant", "case", "merchant", "merchant",
           at="{row}.opened_at", case_id="{row}.id"),
    Source("case.outcome", "cases", "{row}.outcome", "case", "outcome", "outcome",
           at="COALESCE({row}.resolved_at, {row}.opened_at)", case_id="{row}.id"),
    Source("note", "notes", "{row}.body", "note", "body", "note {id}"),
    Source("contact.summary", "interactions", "{row}.summary", "contact", "summary",
           "summary of contact {id}", at="{row}.at"),
    Source("contact.agent", "interactions", "{row}.agent_name", "contact", "agent",
           "agent of contact {id}", at="{row}.at"),
    Source("contact.agent_id", "interactions", "{row}.agent_id", "contact", "agent_id",
           "agent id of contact {id}", at="{row}.at", compact=True),
    Source("reference", "reference_numbers", "{row}.value", "reference", "value",
           "reference", compact=True),
    Source("promise", "promises", "{row}.text", "promise", "text", "promise {id}"),
    Source("follow_up", "follow_ups", "{row}.text", "follow_up", "text", "follow-up {id}"),
)  # fmt: skip

_BY_NAME = {source.name: source for source in SOURCES}


def source_named(name: str) -> Source:
    """The entry of SOURCES called `name` (for a migration that indexes a new source)."""
    return _BY_NAME[name]


DOCS = "search_docs"
FTS = "search_fts"
PREFIX = "search_"
"""Every table, index, trigger and function of the index is named with this prefix."""


def is_index_object(name: str | None) -> bool:
    """Whether a schema object belongs to the search index (not an ORM model: Alembic's
    comparison of the models with the store leaves them out)."""
    return name is not None and name.startswith(PREFIX)


_metadata = MetaData()
docs = Table(
    DOCS,
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(40), nullable=False),
    Column("row_key", String(200), nullable=False),
    Column("case_id", Integer, nullable=True),
    Column("org_id", Integer, nullable=True),
    Column("at", UTCDateTime(), nullable=True),
    Column("body", Text, nullable=False),
    Column("extra", Text, nullable=False),
)
# SQLite only: the FTS5 table (its rowid is the document's id).
fts = Table(FTS, _metadata, Column("rowid", Integer), Column("body", Text), Column("extra", Text))

# --------------------------------------------------------------------------- words

# Characters that separate words: everything that is not a letter, a digit or a private-use
# character (SQLite's unicode61 tokenizer). PostgreSQL's text search parser does not split
# where SQLite does (CALL-5521 is one word to it, and so is a/b), and in the C locale it
# knows no non-ASCII classes, so the index replaces these explicitly before parsing.
_SCANNED = (
    (0x01, 0x7F),
    (0x80, 0xBF),
    (0xD7, 0xD7),
    (0xF7, 0xF7),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2190, 0x21FF),
    (0x2500, 0x25FF),
    (0x3000, 0x303F),
    (0xFF00, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
)
# What the compact form of a reference number drops (kept short: it is a chain of replace()).
_COMPACT_DROPS = " -/#._:+,()[]*&\\'\"|"


def is_word_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


@cache
def _separator_ranges() -> tuple[tuple[int, int], ...]:
    ranges: list[list[int]] = []
    for low, high in _SCANNED:
        for code in range(low, high + 1):
            if is_word_char(chr(code)):
                continue
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return tuple((a, b) for a, b in ranges)


def _pg_separator_class() -> str:
    """The separators as a PostgreSQL regular expression bracket (character-entry escapes)."""
    parts = [f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in _separator_ranges()]
    return "[" + "".join(parts) + "]+"


def words(value: str) -> list[str]:
    """The words of `value`, as the index splits them (case kept)."""
    found: list[str] = []
    current: list[str] = []
    for char in value:
        if is_word_char(char):
            current.append(char)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return found


def _word_spans(value: str) -> Iterable[tuple[int, int]]:
    start = None
    for index, char in enumerate(value):
        if is_word_char(char):
            if start is None:
                start = index
        elif start is not None:
            yield start, index
            start = None
    if start is not None:
        yield start, len(value)


# --------------------------------------------------------------------------- the schema (DDL)


def _on(expression: str, row: str) -> str:
    return expression.replace("{row}", row)


def _compact_sql(value: str) -> str:
    for char in _COMPACT_DROPS:
        literal = char.replace("'", "''")
        value = f"replace({value}, '{literal}', '')"
    return value


def _doc_insert(source: Source, row: str, where: str = "") -> str:
    """INSERT of the source's documents for the rows that `row` names (NEW, or the table's
    alias `r` with a FROM and `where`)."""
    inner = (
        f"SELECT {_on(source.key, row)} AS k, {_on(source.case_id, row)} AS c, "
        f"{_on(source.org_id, row)} AS o, {_on(source.at, row)} AS a, "
        f"{_on(source.body, row)} AS b"
    )
    if row == "r":
        inner += f" FROM {source.table} r{where}"
    extra = _compact_sql("b") if source.compact else "''"
    return (
        f"INSERT INTO {DOCS} (source, row_key, case_id, org_id, at, body, extra) "
        f"SELECT '{source.name}', CAST(k AS TEXT), c, o, a, b, {extra} "
        f"FROM ({inner}) s WHERE b IS NOT NULL AND b <> ''"
    )


def _doc_delete(source: Source, row: str) -> str:
    return (
        f"DELETE FROM {DOCS} WHERE source = '{source.name}' "
        f"AND row_key = CAST({_on(source.key, row)} AS TEXT)"
    )


def _changed(columns: Sequence[str], *, postgres: bool) -> str:
    differs = "IS DISTINCT FROM" if postgres else "IS NOT"
    return " OR ".join(f"OLD.{c} {differs} NEW.{c}" for c in columns)


def _sqlite_triggers(source: Source) -> list[str]:
    name = f"{PREFIX}{source.slug}"
    columns = source.columns
    statements = [
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {source.table} "
        f"BEGIN {_doc_insert(source, 'NEW')}; END",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE OF {', '.join(columns)} ON {source.table} "
        f"WHEN {_changed(columns, postgres=False)} "
        f"BEGIN {_doc_delete(source, 'OLD')}; {_doc_insert(source, 'NEW')}; END",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {source.table} "
        f"BEGIN {_doc_delete(source, 'OLD')}; END",
    ]
    return statements


def _sqlite_trigger_names(source: Source) -> list[str]:
    return [f"{PREFIX}{source.slug}_{what}" for what in ("ins", "upd", "del")]


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        f"BEGIN\n{body}\nRETURN NULL;\nEND\n$fn$"
    )


def _pg_triggers(source: Source) -> list[str]:
    name = f"{PREFIX}{source.slug}"
    columns = source.columns
    body = (
        f"IF TG_OP = 'DELETE' THEN {_doc_delete(source, 'OLD')};\n"
        f"ELSIF TG_OP = 'UPDATE' THEN\n"
        f"  IF {_changed(columns, postgres=True)} THEN\n"
        f"    {_doc_delete(source, 'OLD')};\n    {_doc_insert(source, 'NEW')};\n  END IF;\n"
        f"ELSE {_doc_insert(source, 'NEW')};\nEND IF;"
    )
    statements = [
        _pg_function(f"{name}_sync", body),
        f"CREATE TRIGGER {name}_sync AFTER INSERT OR UPDATE OF {', '.join(columns)} OR DELETE "
        f"ON {source.table} FOR EACH ROW EXECUTE FUNCTION {name}_sync()",
    ]
    return statements


def _pg_drop_triggers(source: Source) -> list[str]:
    name = f"{PREFIX}{source.slug}"
    statements = [
        f"DROP TRIGGER IF EXISTS {name}_sync ON {source.table}",
        f"DROP FUNCTION IF EXISTS {name}_sync()",
    ]
    return statements


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _tables(conn: Connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


def _run(conn: Connection, statements: Iterable[str]) -> None:
    for statement in statements:
        conn.exec_driver_sql(statement)


def install(conn: Connection, sources: Sequence[Source] = SOURCES) -> None:
    """Create the index, fill it from every source whose table exists, and create the
    triggers that keep it in step (migration 0008). In the caller's transaction."""
    postgres = _is_postgres(conn)
    if postgres:
        _run(
            conn,
            [
                f"CREATE FUNCTION {PREFIX}words(text) RETURNS text LANGUAGE sql IMMUTABLE "
                f"PARALLEL SAFE AS $fn$ SELECT regexp_replace($1, "
                f"'{_pg_separator_class()}', ' ', 'g') $fn$",
                f"CREATE TABLE {DOCS} (id bigserial PRIMARY KEY, source varchar(40) NOT NULL, "
                "row_key varchar(200) NOT NULL, case_id integer, org_id integer, "
                "at timestamp with time zone, body text NOT NULL, extra text NOT NULL, "
                "tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "
                f"{PREFIX}words(body) || ' ' || {PREFIX}words(extra))) STORED)",
            ],
        )
    else:
        _run(
            conn,
            [
                f"CREATE TABLE {DOCS} (id INTEGER PRIMARY KEY, source VARCHAR(40) NOT NULL, "
                "row_key VARCHAR(200) NOT NULL, case_id INTEGER, org_id INTEGER, at DATETIME, "
                "body TEXT NOT NULL, extra TEXT NOT NULL)",
            ],
        )
    present = _tables(conn)
    ready = [source for source in sources if source.table in present]
    for source in ready:
        conn.exec_driver_sql(_doc_insert(source, "r"))
    _run(
        conn,
        [
            f"CREATE UNIQUE INDEX {PREFIX}docs_source_row_key ON {DOCS} (source, row_key)",
            f"CREATE INDEX {PREFIX}docs_case_id ON {DOCS} (case_id)",
            f"CREATE INDEX {PREFIX}docs_org_id ON {DOCS} (org_id)",
        ],
    )
    if postgres:
        conn.exec_driver_sql(f"CREATE INDEX {PREFIX}docs_tsv ON {DOCS} USING gin (tsv)")
    else:
        _run(
            conn,
            [
                f"CREATE VIRTUAL TABLE {FTS} USING fts5(body, extra, content='{DOCS}', "
                "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
                f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
                # The FTS table follows the documents (external content: it stores no text).
                f"CREATE TRIGGER {PREFIX}docs_ins AFTER INSERT ON {DOCS} BEGIN "
                f"INSERT INTO {FTS}(rowid, body, extra) VALUES (NEW.id, NEW.body, NEW.extra); "
                "END",
                f"CREATE TRIGGER {PREFIX}docs_del AFTER DELETE ON {DOCS} BEGIN "
                f"INSERT INTO {FTS}({FTS}, rowid, body, extra) "
                "VALUES ('delete', OLD.id, OLD.body, OLD.extra); END",
                f"CREATE TRIGGER {PREFIX}docs_upd AFTER UPDATE ON {DOCS} BEGIN "
                f"INSERT INTO {FTS}({FTS}, rowid, body, extra) "
                "VALUES ('delete', OLD.id, OLD.body, OLD.extra); "
                f"INSERT INTO {FTS}(rowid, body, extra) VALUES (NEW.id, NEW.body, NEW.extra); "
                "END",
            ],
        )
    for source in ready:
        _run(conn, _pg_triggers(source) if postgres else _sqlite_triggers(source))


def uninstall(conn: Connection, sources: Sequence[Source] = SOURCES) -> None:
    """Drop the triggers, the index and its tables (migration 0008's downgrade)."""
    for source in sources:
        drop_triggers(conn, source)
    if _is_postgres(conn):
        _run(conn, [f"DROP TABLE IF EXISTS {DOCS}", f"DROP FUNCTION IF EXISTS {PREFIX}words(text)"])
    else:
        _run(
            conn,
            [
                *(f"DROP TRIGGER IF EXISTS {PREFIX}docs_{w}" for w in ("ins", "del", "upd")),
                f"DROP TABLE IF EXISTS {FTS}",
                f"DROP TABLE IF EXISTS {DOCS}",
            ],
        )


def drop_triggers(conn: Connection, source: Source) -> None:
    if _is_postgres(conn):
        _run(conn, _pg_drop_triggers(source))
    else:
        _run(conn, [f"DROP TRIGGER IF EXISTS {n}" for n in _sqlite_trigger_names(source)])


def install_triggers(conn: Connection, sources: Sequence[Source] = SOURCES) -> None:
    """(Re)create every source's triggers: after a migration rebuilt a source table on
    SQLite, which drops its triggers. The documents themselves are rebuilt too."""
    for source in sources:
        install_source(conn, source)


def install_source(conn: Connection, source: Source) -> None:
    """Index one source: its documents from the rows there are, and its triggers. For a
    migration that adds a source (a new table) to a store that has the index already."""
    drop_triggers(conn, source)
    conn.exec_driver_sql(f"DELETE FROM {DOCS} WHERE source = '{source.name}'")
    conn.exec_driver_sql(_doc_insert(source, "r"))
    _run(conn, _pg_triggers(source) if _is_postgres(conn) else _sqlite_triggers(source))


def trigger_names(conn: Connection) -> set[str]:
    """The index's triggers in the store (tests check that every source has its own)."""
    if _is_postgres(conn):
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return {name for (name,) in conn.exec_driver_sql(query) if is_index_object(name)}


def expected_trigger_names(conn: Connection, sources: Sequence[Source] = SOURCES) -> set[str]:
    names: set[str] = set()
    for source in sources:
        if _is_postgres(conn):
            names.add(f"{PREFIX}{source.slug}_sync")
        else:
            names.update(_sqlite_trigger_names(source))
    if not _is_postgres(conn):
        names.update(f"{PREFIX}docs_{w}" for w in ("ins", "del", "upd"))
    return names


# --------------------------------------------------------------------------- queries

MAX_QUERY = 1000
MAX_TERMS = 32
QUERY_HELP = (
    'plain words (all must appear), a "quoted phrase", and * after a word for any ending (refund*)'
)


@dataclass(frozen=True)
class Term:
    """One part of a query: its words, in order (a phrase when several), and whether the
    last one is a prefix. A word typed with separators inside (CALL-5521) is a phrase that
    also matches its compact form (call5521)."""

    words: tuple[str, ...]
    prefix: bool = False
    joined: bool = False

    @property
    def compact(self) -> str:
        return "".join(self.words)


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]

    def fts5(self) -> str:
        """The query in FTS5's syntax: every word quoted, so none is an operator."""
        parts = []
        for term in self.terms:
            star = "*" if term.prefix else ""
            phrase = '"' + " ".join(term.words) + '"' + star
            if term.joined:
                phrase = f'({phrase} OR "{term.compact}"{star})'
            parts.append(phrase)
        return " AND ".join(parts)

    def tsquery(self) -> str:
        """The query as PostgreSQL tsquery text (for to_tsquery('simple', ...))."""

        def lexeme(word: str, prefix: bool) -> str:
            quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
            return quoted + (":*" if prefix else "")

        parts = []
        for term in self.terms:
            last = len(term.words) - 1
            phrase = " <-> ".join(
                lexeme(w, term.prefix and i == last) for i, w in enumerate(term.words)
            )
            if term.joined:
                phrase = f"({phrase} | {lexeme(term.compact, term.prefix)})"
            parts.append(f"({phrase})")
        return " & ".join(parts)

    def matches(self, word: str) -> bool:
        """Whether a word of a text is one the query looks for (to mark it in a snippet)."""
        folded = word.casefold()
        for term in self.terms:
            for index, wanted in enumerate(term.words):
                wanted = wanted.casefold()
                last = index == len(term.words) - 1
                if folded == wanted or (term.prefix and last and folded.startswith(wanted)):
                    return True
        return False

    def compact_forms(self) -> list[tuple[str, bool]]:
        return [(t.compact.casefold(), t.prefix) for t in self.terms]


_TOKEN = re.compile(r'"(?P<phrase>[^"]*)"(?P<pstar>\*?)|(?P<word>[^\s"]+)|(?P<quote>")')


def parse_query(value: str) -> Query:
    """Read a query (see QUERY_HELP); UsageError for one that cannot be read."""
    value = value.strip()
    if not value:
        raise UsageError(f"the search query is empty; give {QUERY_HELP}")
    if len(value) > MAX_QUERY:
        raise UsageError(
            f"the search query is too long ({len(value)} characters; at most {MAX_QUERY})"
        )
    terms: list[Term] = []
    for match in _TOKEN.finditer(value):
        if match["quote"] is not None:
            raise UsageError(f'the search query has a " that is not closed; give {QUERY_HELP}')
        if match["phrase"] is not None:
            inside = match["phrase"]
            if "*" in inside.rstrip("*") or (inside.rstrip().endswith("*") and match["pstar"]):
                raise UsageError("a * goes right after a word or a closing quote, e.g. refund*")
            prefix = bool(match["pstar"]) or inside.rstrip().endswith("*")
            found = words(inside)
            if found:
                terms.append(Term(tuple(found), prefix=prefix))
            continue
        chunk = match["word"]
        prefix = chunk.endswith("*")
        core = chunk.rstrip("*") if prefix else chunk
        if "*" in core or chunk.count("*") > 1:
            raise UsageError(
                f"cannot read '{chunk}' in the search query: a * goes at the end of a word "
                "(refund*), once"
            )
        found = words(core)
        if not found:
            continue  # punctuation alone ("-", "&") finds nothing and hinders nothing
        inner = core.strip("".join(c for c in core if not is_word_char(c)))
        joined = len(found) > 1 and bool(inner) and not all(is_word_char(c) for c in inner)
        terms.append(Term(tuple(found), prefix=prefix, joined=joined))
    if not terms:
        raise UsageError(f"the search query has no words to look for; give {QUERY_HELP}")
    if len(terms) > MAX_TERMS:
        raise UsageError(f"the search query has too many words ({len(terms)}; at most {MAX_TERMS})")
    return Query(tuple(terms))


# --------------------------------------------------------------------------- searching


@dataclass(frozen=True)
class SearchFilter:
    organization: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive
    case_id: int | None = None
    limit: int = 20


@dataclass(frozen=True)
class Hit:
    case_id: int
    case_title: str
    organization: str | None
    source: Source
    row_key: str
    at: datetime | None
    body: str
    snippet: str
    rank: float = 0.0

    @property
    def label(self) -> str:
        return self.source.label.format(id=self.row_key)

    @property
    def row_id(self) -> int | None:
        return int(self.row_key) if self.row_key.isdigit() else None


class SearchSyntaxError(UsageError):
    """The engine could not read the query (a safety net: parse_query should refuse first)."""


def search(session: Session, query: Query, flt: SearchFilter) -> list[Hit]:
    """The documents that match, best first (bm25 on SQLite, ts_rank on PostgreSQL)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    # The full-text match first, on its own: joined directly, a planner that starts from a
    # filter (an organization's 7,000 cases) runs the full-text query once per document.
    if postgres:
        tsquery = func.to_tsquery(literal_column("'simple'"), bindparam("q"))
        tsv: Any = literal_column(f"{DOCS}.tsv")
        score: Any = func.ts_rank(tsv, tsquery)
        matching = select(docs.c.id, score.label("score")).where(tsv.op("@@")(tsquery))
    else:
        score = literal_column(f"bm25({FTS})")  # lower is better
        matching = select(fts.c.rowid.label("id"), score.label("score")).where(
            literal_column(FTS).op("MATCH")(bindparam("q"))
        )
    matched = matching.cte(f"{PREFIX}matched").prefix_with("MATERIALIZED")
    # Two arms: texts of one case, and organization names (found on each of their cases).
    arms = [_arm(matched, flt, on_case=True), _arm(matched, flt, on_case=False)]
    found = union_all(*arms).subquery()

    def best(rows: Any) -> tuple[Any, ...]:
        score = rows.c.score.desc() if postgres else rows.c.score
        return score, rows.c.at.desc(), rows.c.id.desc()

    # Ranked on ids and times alone; the texts are read for the few that are shown.
    top = select(found).order_by(*best(found)).limit(flt.limit).subquery()
    stmt = (
        select(
            top,
            docs.c.source,
            docs.c.row_key,
            docs.c.body,
            Case.title.label("title"),
            Organization.name.label("organization"),
        )
        .join(docs, docs.c.id == top.c.id)
        .join(Case, Case.id == top.c.case_id)
        .outerjoin(Organization, Organization.id == Case.organization_id)
        .order_by(*best(top))
    )
    params: dict[str, Any] = {"q": query.tsquery() if postgres else query.fts5()}
    try:
        rows = session.execute(stmt, params).all()
    except DatabaseError as exc:
        message = str(exc.orig) if exc.orig is not None else str(exc)
        if "fts5" in message or "tsquery" in message or "syntax error" in message:
            raise SearchSyntaxError(
                f"cannot search for that query ({message.splitlines()[0]}); give {QUERY_HELP}"
            ) from None
        raise
    hits = []
    for row in rows:
        source = _BY_NAME.get(row.source)
        if source is None:  # a source this version does not know (a newer tracker wrote it)
            continue
        hits.append(
            Hit(
                case_id=row.case_id,
                case_title=row.title,
                organization=row.organization,
                source=source,
                row_key=row.row_key,
                at=row.at,
                body=row.body,
                snippet=snippet(row.body, query, compact=source.compact),
                rank=float(row.score or 0.0),
            )
        )
    return hits


def _arm(matched: Any, flt: SearchFilter, *, on_case: bool) -> Select[Any]:
    d = docs
    stmt = select().select_from(matched).join(d, d.c.id == matched.c.id)
    if on_case:
        at: Any = func.coalesce(d.c.at, Case.opened_at)  # a text without a time of its own
        stmt = stmt.join(Case, Case.id == d.c.case_id).outerjoin(
            Organization, Organization.id == Case.organization_id
        )
    else:
        at = Case.opened_at
        stmt = stmt.join(Organization, Organization.id == d.c.org_id).join(
            Case, Case.organization_id == Organization.id
        )
        stmt = stmt.where(d.c.case_id.is_(None))
    if flt.organization:
        stmt = stmt.where(Organization.name_key == organization_key(flt.organization))
    if flt.case_id is not None:
        stmt = stmt.where(Case.id == flt.case_id)
    if flt.since is not None:
        stmt = stmt.where(at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(at < flt.until)
    return stmt.add_columns(d.c.id, Case.id.label("case_id"), at.label("at"), matched.c.score)


# --------------------------------------------------------------------------- snippets

SNIPPET_WIDTH = 80
MARK = ("[", "]")


def snippet(body: str, query: Query, *, width: int = SNIPPET_WIDTH, compact: bool = False) -> str:
    """A one-line excerpt of `body` around the first word the query looks for, each such
    word marked [like this]."""
    spans = [(a, b) for a, b in _word_spans(body) if query.matches(body[a:b])]
    if not spans and compact:  # matched in its compact form (CALL5521 for CALL-5521)
        squeezed = "".join(words(body)).casefold()
        if any(
            (form in squeezed) if prefix else form == squeezed
            for form, prefix in query.compact_forms()
        ):
            stripped = body.strip()
            start = body.index(stripped[:1]) if stripped else 0
            spans = [(start, start + len(stripped))]
    spans = _merged(body, spans)
    first = spans[0][0] if spans else 0
    start = max(0, first - width // 3)
    while 0 < start < first and is_word_char(body[start - 1]):  # start at a word
        start += 1
    end = min(len(body), start + width)
    while end < len(body) and is_word_char(body[end - 1]) and is_word_char(body[end]):
        end += 1  # end at a word
    for a, b in spans:  # never cut a marked word
        if a < end < b:
            end = b
    out: list[str] = ["…"] if start > 0 else []
    position = start
    for a, b in spans:
        if a < start or a >= end:
            continue
        out.append(_flat(body[position:a]))
        out.append(MARK[0] + _flat(body[a:b]) + MARK[1])
        position = b
    out.append(_flat(body[position:end]))
    if end < len(body):
        out.append("…")
    return " ".join("".join(out).split())


def _merged(body: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Marked words next to each other (CALL-5521, "provisional credit") as one mark."""
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] <= 2 and not body[merged[-1][1] : a].strip("-/#.:_ "):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _flat(value: str) -> str:
    """Line breaks and tabs as spaces: a snippet is one line."""
    return re.sub(r"\s", " ", value)
