"""`tracker export csv`: the case history, one row per event, safe to open in a spreadsheet."""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Engine

import tracker.cli.export as cli_export
import tracker.export.csv as export_mod
from tracker import cases as svc
from tracker.config import database_url
from tracker.db import Store
from tracker.errors import UsageError
from tracker.export.csv import (
    CSV_COLUMNS,
    EVENT_DATA_COLUMNS,
    FORMULA_TRIGGERS,
    neutralize,
    write_history_csv,
)
from tracker.history import undo
from tracker.models import Case, Event, FollowUp, Interaction, Note, Organization, Promise
from tracker.redact import Masker

HEADER = ",".join(CSV_COLUMNS)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    """The shared `clock` starts at T0 here: `clock(minutes)` moves it to T0 + minutes."""
    return T0


def export(tracker: Any, *args: str, db: str | None = None) -> bytes:
    result = tracker(*(["--db", db] if db else []), "export", "csv", *args)
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return bytes(result.stdout_bytes)


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def rows_of(tracker: Any, *args: str, db: str | None = None) -> list[dict[str, str]]:
    header, *rows = parse(export(tracker, *args, db=db))
    assert header == list(CSV_COLUMNS)
    return [dict(zip(header, row, strict=True)) for row in rows]


def build_dispute(tracker: Any, clock: Any) -> None:
    clock(0)
    tracker.ok(
        "case",
        "open",
        "Disputed charge at ACME",
        "--org",
        "American Express",
        "--category",
        "dispute",
        "--amount",
        "129.99",
        "--currency",
        "USD",
        "--ref",
        "D-4471",
    )
    clock(10)
    tracker.ok(
        "case",
        "contact",
        "1",
        "--channel",
        "phone",
        "--agent",
        "Maria",
        "--ref",
        "CALL-88812",
        "--summary",
        "Dispute opened, charge removed",
        "--promise",
        "Provisional credit",
        "--due",
        "2026-03-16 09:00",
    )
    clock(20)
    tracker.ok("promise", "kept", "1")
    clock(30)
    tracker.ok("case", "follow-up", "1", "2026-03-20 09:00", "Check the statement")
    clock(40)
    tracker.ok("case", "escalate", "1", "--to", "supervisor")
    clock(50)
    tracker.ok("case", "resolve", "1", "--outcome", "Credit posted")


def test_every_column_of_every_event_oldest_first(tracker: Any, clock: Any) -> None:
    build_dispute(tracker, clock)
    case = ["1", "Disputed charge at ACME", "American Express", "dispute"]

    def at(minutes: int) -> str:
        return (T0 + timedelta(minutes=minutes)).isoformat()

    header, *rows = parse(export(tracker))
    assert header == list(CSV_COLUMNS)
    # The first twelve columns are the CLI contract from before the others were added.
    assert [row[:12] for row in rows] == [
        [*case, at(0), "opened", "", "", "", "Opened: Disputed charge at ACME", "", ""],
        [*case, at(0), "reference_added", "", "", "D-4471", "Reference D-4471 (other)", "", ""],
        [
            *case,
            at(10),
            "interaction",
            "phone",
            "Maria",
            "CALL-88812",
            "Phone to the company with Maria: Dispute opened, charge removed",
            "",
            "",
        ],
        [
            *case,
            at(10),
            "reference_added",
            "",
            "",
            "CALL-88812",
            "Reference CALL-88812 (call)",
            "",
            "",
        ],
        [
            *case,
            at(10),
            "promise_made",
            "",
            "",
            "",
            "The company promised: Provisional credit",
            "2026-03-16T09:00:00+00:00",
            "pending",
        ],
        [
            *case,
            at(20),
            "promise_kept",
            "",
            "",
            "",
            "Promise 1 kept: Provisional credit",
            "2026-03-16T09:00:00+00:00",
            "kept",
        ],
        [
            *case,
            at(30),
            "follow_up_set",
            "",
            "",
            "",
            "Follow-up: Check the statement",
            "2026-03-20T09:00:00+00:00",
            "",
        ],
        [*case, at(40), "escalated", "", "", "", "Escalated from frontline to supervisor", "", ""],
        [*case, at(50), "resolved", "", "", "", "Resolved: Credit posted", "", ""],
    ]
    assert header[12:] == [
        "text",
        "direction",
        "via",
        "agent_id",
        "duration_seconds",
        "amount",
        "currency",
        "case_status",
        "undone",
        "event_id",
        "follow_up_status",
        "tags",
        "attachment_file",
        "attachment_kind",
        "attachment_sha256",
    ]
    the_case = ["129.99", "USD", "resolved", "false"]  # as the case is now; nothing undone
    NO_FILE = ["", "", ""]  # no attachment: see tests/test_evidence_cli.py
    assert [row[12:] for row in rows] == [
        ["", "", "", "", "", *the_case, "1", "", "", *NO_FILE],
        ["", "", "", "", "", *the_case, "2", "", "", *NO_FILE],
        ["Dispute opened, charge removed", "out", "", "", "", *the_case, "3", "", "", *NO_FILE],
        ["", "", "", "", "", *the_case, "4", "", "", *NO_FILE],
        ["Provisional credit", "", "", "", "", *the_case, "5", "", "", *NO_FILE],
        ["Provisional credit", "", "", "", "", *the_case, "6", "", "", *NO_FILE],
        ["Check the statement", "", "", "", "", *the_case, "7", "", "", *NO_FILE],
        ["", "", "", "", "", *the_case, "8", "", "", *NO_FILE],
        ["", "", "", "", "", *the_case, "9", "", "", *NO_FILE],
    ]


def test_a_contact_has_its_direction_number_agent_id_and_duration(tracker: Any) -> None:
    tracker.ok("case", "open", "Roaming charges")
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--direction", "in",
        "--via", "+44 20 7946 0958", "--agent", "Sam", "--agent-id", "B-12", "--duration", "1h10m",
    )  # fmt: skip
    tracker.ok("case", "contact", "1", "--channel", "chat")
    contact, bare = (r for r in rows_of(tracker) if r["event_type"] == "interaction")
    assert [contact[c] for c in ("direction", "via", "agent_id", "duration_seconds")] == [
        "in",
        "'+44 20 7946 0958",
        "B-12",
        "4200",
    ]
    assert contact["summary"] == "Phone from the company with Sam (id B-12)"
    assert contact["text"] == ""  # no summary given: the headline is not the contact's text
    assert [bare[c] for c in ("text", "direction", "via", "agent_id", "duration_seconds")] == [
        "",
        "out",
        "",
        "",
        "",
    ]


def test_the_columns_read_from_the_event_payload_are_csv_columns() -> None:
    # Pointing the mapping at other payload keys must not add or rename a column.
    assert set(EVENT_DATA_COLUMNS) <= set(CSV_COLUMNS)


def test_rows_are_utf8_with_crlf_line_ends_and_rfc4180_quoting(tracker: Any, clock: Any) -> None:
    title = 'Café "Zürich", 2 × 64,50 €\nsecond line ✓'
    tracker.ok("case", "open", title, "--org", "Ōsaka Gas, Ltd.")
    data = export(tracker)
    assert data.startswith(HEADER.encode() + b"\r\n")
    assert data.endswith(b"\r\n")
    assert b'"Caf\xc3\xa9 ""Z\xc3\xbcrich"", 2 \xc3\x97 64,50 \xe2\x82\xac\nsecond line' in data
    (row,) = rows_of(tracker)
    assert row["case_title"] == title
    assert row["organization"] == "Ōsaka Gas, Ltd."
    assert row["summary"] == f"Opened: {title}"


# --------------------------------------------------------------------------- nothing lost

# An 11-line chat transcript with CRLF line ends, as a chat window's copy gives it.
CHAT = "\r\n".join(
    [
        "Chat with Sam, 2 March 2026",
        "Sam: Thanks for waiting, how can I help?",
        "Me: I was charged twice for the same order.",
        "Sam: I see two charges of 64,50 €, one is a pre-authorisation.",
        'Me: Your colleague said "it drops off in 3 days"; it did not.',
        "Sam: I've raised it with the billing team.",
        "Sam: = reference below =",
        "Sam: DSP-20551",
        "Me: And when will I hear back?",
        "Sam: Within 5 business days, by email.",
        "Sam: Is there anything else?",
    ]
)
STORED_TEXTS = [
    CHAT,
    "First line\nsecond line\n\nfourth, after a blank one",
    "\tindented by a tab,\tand a tab inside",
    'He said "refund, by Friday", then hung up',
    '=HYPERLINK("http://evil.example/","click")\nand a second line',
    "+1 called back",
    "-5 minutes on hold, again",
    "@support replied on the forum",
    "Ünïcödé: Zürich, Ōsaka, 東京, ☎ and 🎉; right to left: שלום",
    "an old Mac line end\rafter it",
    "ends with spaces   ",
    # Ten kilobytes: quotes, commas and CRLF all the way through.
    'Long letter, "quoted", with commas, and\r\nCRLF line ends; page after page. ' * 140,
]
PROMISE_LIMIT = 2000  # the services refuse a longer promise


def _store_every_kind_of_text() -> None:
    """Every text a case holds, in its notes, contacts, promises and follow-ups; then one
    more note, undone."""
    st_ = Store(database_url())
    masker = Masker()
    with st_.write() as session:
        case = svc.open_case(
            session,
            title='Café "Zürich", 2 × 64,50 €\nsecond line of the title',
            organization="=Evil, Inc.",
            masker=masker,
            amount=Decimal("64.50"),
            currency="EUR",
        )
        for text in STORED_TEXTS:
            svc.add_note(session, case, text, masker=masker)
        for n, text in enumerate(STORED_TEXTS):
            svc.log_interaction(
                session,
                case,
                channel="chat",
                masker=masker,
                direction="in" if n % 2 else "out",
                via=f"https://help.example.com/chat?x={n}" if n % 3 else "-1 555 0100",
                agent_name=text.splitlines()[0][:200],
                agent_id=f"=A{n}" if n % 2 else f"agent {n}",
                duration=timedelta(seconds=61 * n),
                summary=text,
            )
        for text in STORED_TEXTS:
            if len(text) <= PROMISE_LIMIT:
                svc.make_promise(session, case, text, T0, masker=masker)
            svc.set_follow_up(session, case, T0, text, masker=masker)
    with st_.write() as session:
        case = svc.get_case(session, case.id)
        svc.add_note(session, case, "Undone note\nits second line went with it", masker=masker)
    with st_.write() as session:
        undo(session)
    st_.dispose()


def same(cell: str, stored: str | None) -> bool:
    """The cell is the stored text, byte for byte, after the guard's leading quote."""
    return cell.encode("utf-8") == neutralize(stored or "").encode("utf-8")


def test_every_stored_text_survives_csv_reader_byte_for_byte(tracker: Any) -> None:
    _store_every_kind_of_text()
    assert len(STORED_TEXTS[-1]) >= 10_000
    rows = rows_of(tracker)
    st_ = Store(database_url())
    with st_.read() as session:
        events = {
            i: (t, s) for i, t, s in session.execute(select(Event.id, Event.type, Event.summary))
        }
        title, org, amount, currency, status = session.execute(
            select(Case.title, Organization.name, Case.amount, Case.currency, Case.status).join(
                Organization
            )
        ).one()
        notes = list(session.scalars(select(Note.body).order_by(Note.id)))
        contacts = session.execute(
            select(
                Interaction.summary,
                Interaction.direction,
                Interaction.via,
                Interaction.agent_name,
                Interaction.agent_id,
                Interaction.duration_seconds,
            ).order_by(Interaction.id)
        ).all()
        promises = list(session.scalars(select(Promise.text).order_by(Promise.id)))
        follow_ups = list(session.scalars(select(FollowUp.text).order_by(FollowUp.id)))
    st_.dispose()
    assert (amount, currency, status) == (Decimal("64.50"), "EUR", "waiting")
    assert sorted(int(r["event_id"]) for r in rows) == sorted(events)
    for row in rows:
        event_type, summary = events[int(row["event_id"])]
        assert same(row["summary"], summary)
        assert same(row["event_type"], event_type)
        assert same(row["case_title"], title)
        assert same(row["organization"], org)
        assert (row["amount"], row["currency"], row["case_status"]) == ("64.50", "EUR", "waiting")

    def kept(event_type: str) -> list[dict[str, str]]:
        return [r for r in rows if r["event_type"] == event_type and r["undone"] == "false"]

    # Each row's text is the whole of what its event wrote, in the order written.
    assert len(notes) == len(contacts) == len(follow_ups) == len(STORED_TEXTS)
    assert len(promises) == len(STORED_TEXTS) - 1
    for kind, stored in (
        ("note", notes),
        ("interaction", [c.summary for c in contacts]),
        ("promise_made", promises),
        ("follow_up_set", follow_ups),
    ):
        got = kept(kind)
        assert len(got) == len(stored), kind
        for row, text in zip(got, stored, strict=True):
            assert same(row["text"], text), (kind, row["event_id"])
    for row, contact in zip(kept("interaction"), contacts, strict=True):
        assert row["direction"] == contact.direction
        assert same(row["via"], contact.via)
        assert same(row["agent"], contact.agent_name)
        assert same(row["agent_id"], contact.agent_id)
        seconds = contact.duration_seconds  # the first contact's 0 s is stored as none given
        assert row["duration_seconds"] == ("" if seconds is None else str(seconds))
    # What the issue measured: the transcript is whole, the long summary not cut at 500.
    chat = kept("note")[0]
    assert (chat["summary"], chat["text"].count("\r\n")) == ("Chat with Sam, 2 March 2026", 10)
    long = kept("interaction")[-1]
    assert (len(long["summary"]), long["text"]) == (500, STORED_TEXTS[-1].strip())
    # The undone note: its row is gone, its event stays, marked, with what it kept.
    (undone,) = [r for r in rows if r["undone"] == "true"]
    assert (undone["event_type"], undone["summary"], undone["text"]) == (
        "note",
        "Undone note",
        "Undone note",
    )
    assert rows[-1]["event_type"] == "undone"
    # A note may start with a tab (the services strip only line breaks from a note).
    assert kept("note")[2]["text"] == "'\tindented by a tab,\tand a tab inside"


def test_an_undone_contact_keeps_what_its_event_recorded(tracker: Any) -> None:
    tracker.ok("case", "open", "Refund")
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--via", "1-800-555-0100",
        "--agent", "Maria", "--agent-id", "4471", "--duration", "5m", "--summary", "Refund agreed",
    )  # fmt: skip
    tracker.ok("undo")
    contact = next(r for r in rows_of(tracker) if r["event_type"] == "interaction")
    headline = "Phone to the company with Maria (id 4471): Refund agreed"
    assert contact == contact | {
        "undone": "true",
        "summary": headline,
        "text": headline,  # the contact's own row is gone with its summary
        "channel": "phone",
        "agent": "Maria",
        "direction": "out",
        "via": "",
        "agent_id": "",
        "duration_seconds": "",
    }


def test_a_promise_kept_shows_what_was_promised_undone_or_not(tracker: Any) -> None:
    tracker.ok("case", "open", "Refund")
    tracker.ok("case", "promise", "1", "Refund in full,\nby cheque", "--due", "3d")
    tracker.ok("promise", "kept", "1")
    tracker.ok("undo")
    made, kept_ = (r for r in rows_of(tracker) if r["event_type"].startswith("promise_"))
    assert (made["undone"], made["text"]) == ("false", "Refund in full,\nby cheque")
    assert (kept_["undone"], kept_["text"]) == ("true", "Refund in full,\nby cheque")


def test_bom_starts_the_file_with_a_utf8_byte_order_mark(tracker: Any, tmp_path: Path) -> None:
    tracker.ok("case", "open", "Café in Zürich")
    plain = export(tracker)
    with_bom = export(tracker, "--bom")
    assert with_bom == codecs.BOM_UTF8 + plain
    target = tmp_path / "history.csv"
    tracker.ok("export", "csv", "--bom", "-o", str(target))
    assert target.read_bytes() == with_bom
    with target.open(encoding="utf-8-sig", newline="") as read:
        header, row = csv.reader(read)
    assert (header[0], row[1]) == ("case_id", "Café in Zürich")


def test_odd_words_are_neutralized_in_the_columns_of_fixed_words(tracker: Any, db_url: str) -> None:
    """category, event_type, direction, currency and the rest hold fixed words, but a store
    written before imports were checked may hold anything there: the guard covers them."""
    import sqlalchemy as sa

    tracker.ok("case", "open", "placeholder", "--amount", "5", "--currency", "USD")
    tracker.ok("case", "contact", "1", "--channel", "phone")
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET category='=cat', status='@status', currency='+US'"))
        conn.execute(sa.text("UPDATE events SET type='-opened' WHERE type='opened'"))
        conn.execute(sa.text("UPDATE interactions SET direction='=in', channel='+phone'"))
        rows = conn.execute(sa.text("SELECT id, data FROM events WHERE type='interaction'"))
        for event_id, data in rows.all():
            data = json.loads(data) if isinstance(data, str) else dict(data)
            data |= {"direction": "=in", "channel": "+phone"}
            conn.execute(
                sa.text("UPDATE events SET data=:data WHERE id=:id"),
                {"data": json.dumps(data), "id": event_id},
            )
    engine.dispose()
    opened, contact = rows_of(tracker)
    assert (opened["category"], opened["case_status"], opened["currency"]) == (
        "'=cat",
        "'@status",
        "'+US",
    )
    assert opened["event_type"] == "'-opened"
    assert (contact["direction"], contact["channel"]) == ("'=in", "'+phone")


def test_events_sort_by_when_they_happened_then_by_id(tracker: Any, clock: Any) -> None:
    clock(0)
    tracker.ok("case", "open", "First")
    clock(5)
    tracker.ok("case", "open", "Second")
    clock(10)
    # Logged now, but it happened before both cases were opened.
    tracker.ok("case", "contact", "2", "--channel", "chat", "--at", "2026-03-02 08:00")
    tracker.ok("case", "note", "1", "Same moment, later id")
    got = [(r["case_id"], r["event_type"], r["event_at"]) for r in rows_of(tracker)]
    assert got == [
        ("2", "interaction", "2026-03-02T08:00:00+00:00"),
        ("1", "opened", "2026-03-02T09:00:00+00:00"),
        ("2", "opened", "2026-03-02T09:05:00+00:00"),
        ("1", "note", "2026-03-02T09:10:00+00:00"),
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
def test_batches_neither_skip_nor_repeat_events_that_share_a_time(
    tracker: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    clock(0)  # every event below carries the same timestamp
    for n in range(3):
        tracker.ok(
            "case", "open", f"Case {n}", "--ref", f"R-{n}", "--note", "x", "--follow-up", "3d"
        )
    whole = export(tracker)
    assert len(parse(whole)) == 1 + 3 * 4
    monkeypatch.setattr(export_mod, "BATCH_SIZE", batch_size)
    assert export(tracker) == whole


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_a_cell_starting_with_a_formula_trigger_gets_a_quote(trigger: str) -> None:
    assert neutralize(f"{trigger}cmd|' /C calc'!A0") == f"'{trigger}cmd|' /C calc'!A0"


@pytest.mark.parametrize("text", ["", "plain", "a=1", " =1", "'=1", "2026-03-02", "€5"])
def test_other_cells_are_left_alone(text: str) -> None:
    assert neutralize(text) == text


def test_formula_text_typed_by_the_user_is_neutralized_in_every_column(
    tracker: Any, clock: Any
) -> None:
    tracker.ok("case", "open", '=HYPERLINK("http://x")', "--org", "@Evil Corp")
    tracker.ok(
        "case",
        "contact",
        "1",
        "--channel",
        "phone",
        "--agent",
        "-Bob",
        "--ref",
        "+4471",
    )
    tracker.ok("case", "note", "1", "=1+2")
    rows = rows_of(tracker)
    assert {r["case_title"] for r in rows} == {'\'=HYPERLINK("http://x")'}
    assert {r["organization"] for r in rows} == {"'@Evil Corp"}
    interaction = next(r for r in rows if r["event_type"] == "interaction")
    assert (interaction["agent"], interaction["reference"]) == ("'-Bob", "'+4471")
    assert next(r for r in rows if r["event_type"] == "note")["summary"] == "'=1+2"


def test_tab_and_carriage_return_triggers_are_neutralized_in_stored_text(
    tracker: Any, tmp_path: Path
) -> None:
    """The services strip leading whitespace, but an import keeps text as it is."""
    tracker.ok("case", "open", "placeholder")
    doc = json.loads(tracker.ok("export", "json"))
    doc["tables"]["cases"][0]["title"] = "\t=cmd"
    doc["tables"]["events"][0]["summary"] = "\r=cmd"
    file = tmp_path / "crafted.json"
    file.write_text(json.dumps(doc))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracker.ok("--db", other, "import", "json", str(file))
    (row,) = rows_of(tracker, db=other)
    assert (row["case_title"], row["summary"]) == ("'\t=cmd", "'\r=cmd")


# Text that leans on the triggers and on what CSV must quote, plus anything else.
# (Lone surrogates are not text a store can hold: UTF-8 cannot encode them.)
TRICKY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("=+-@\t\r\n ,\"';|")), st.characters(exclude_categories=["Cs"])
    ),
    min_size=1,
    max_size=24,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(title=TRICKY, org=TRICKY, agent=TRICKY, summary=TRICKY, ref=TRICKY, note=TRICKY, text=TRICKY)
def test_no_exported_cell_begins_with_a_trigger_whatever_the_user_typed(
    tmp_path: Path,
    title: str,
    org: str,
    agent: str,
    summary: str,
    ref: str,
    note: str,
    text: str,
) -> None:
    st_ = Store(f"sqlite:///{tmp_path / 'hypothesis.db'}")
    masker = Masker()
    try:
        with st_.write() as session:
            case = svc.open_case(session, title=title, organization=org, masker=masker, note=note)
            svc.log_interaction(
                session,
                case,
                channel="phone",
                masker=masker,
                agent_name=agent,
                summary=summary,
                refs=[ref],
                promise=text,
                promise_due=T0,
            )
            svc.set_follow_up(session, case, T0, text, masker=masker)
            case_id, stored_title = case.id, case.title
            stored_agent = case.interactions[0].agent_name
            stored_texts = {
                "note": case.notes[0].body,
                "interaction": case.interactions[0].summary,
                "promise_made": case.promises[0].text,
                "follow_up_set": case.follow_ups[0].text,
            }
    except UsageError:
        assume(False)
    out = io.BytesIO()
    with st_.read() as session:
        write_history_csv(session, out, case_id=case_id)
    st_.dispose()
    header, *rows = parse(out.getvalue())
    assert len(rows) >= 5
    for row in rows:
        assert len(row) == len(header)
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS), cell
    # Neutralizing only ever adds the quote: the text itself survives the round trip.
    assert rows[0][1] == neutralize(stored_title)
    interaction = next(row for row in rows if row[5] == "interaction")
    assert interaction[7] == neutralize(stored_agent or "")
    text = header.index("text")
    for event_type, stored in stored_texts.items():
        (row,) = (row for row in rows if row[5] == event_type)
        assert row[text] == neutralize(stored or ""), event_type


def test_one_case(tracker: Any, clock: Any) -> None:
    tracker.ok("case", "open", "First")
    tracker.ok("case", "open", "Second", "--note", "hello")
    assert [(r["case_id"], r["event_type"]) for r in rows_of(tracker, "--case", "2")] == [
        ("2", "opened"),
        ("2", "note"),
    ]


def test_a_missing_case_is_an_error(tracker: Any) -> None:
    tracker.ok("case", "open", "First")
    assert tracker.fails(1, "export", "csv", "--case", "9") == "Error: no case 9"


def test_since_keeps_events_at_or_after_the_time(tracker: Any, clock: Any) -> None:
    build_dispute(tracker, clock)
    rows = rows_of(tracker, "--since", "2026-03-02 09:30")
    assert [r["event_type"] for r in rows] == ["follow_up_set", "escalated", "resolved"]
    assert rows_of(tracker, "--since", "2027-01-01") == []


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_the_export_is_one_streamed_query_whatever_the_batch(
    tracker: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    """One query, read a batch at a time as it streams: no page re-reads from --since (keyset
    pages once did, quadratic), and no batch starts a query of its own."""
    build_dispute(tracker, clock)
    whole = export(tracker, "--since", "2026-03-02 09:10")
    monkeypatch.setattr(export_mod, "BATCH_SIZE", batch_size)
    sent: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "ORDER BY events.at, events.id" in statement:
            sent.append(statement)

    sa_event.listen(Engine, "before_cursor_execute", record)
    try:
        assert export(tracker, "--since", "2026-03-02 09:10") == whole
    finally:
        sa_event.remove(Engine, "before_cursor_execute", record)
    assert len(sent) == 1
    assert "events.at >=" in sent[0]


def test_an_empty_store_exports_the_header_only(tracker: Any) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    assert export(tracker) == HEADER.encode() + b"\r\n"


def test_output_file_is_0600_under_umask_022_and_matches_stdout(
    tracker: Any, clock: Any, tmp_path: Path
) -> None:
    build_dispute(tracker, clock)
    target = tmp_path / "history.csv"
    old = os.umask(0o022)
    try:
        result = tracker("export", "csv", "-o", str(target))
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"Exported 9 events to {target}.\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == export(tracker) == export(tracker, "-o", "-")


def _many_events(count: int) -> None:
    st_ = Store(database_url())
    masker = Masker()
    with st_.write() as session:
        case = svc.open_case(session, title="Long history", masker=masker)
        for n in range(count):
            svc.add_note(session, case, f"note {n} " + "x" * 200, masker=masker)
    st_.dispose()


@pytest.mark.parametrize("existing", [False, True])
def test_a_failing_export_leaves_no_file_and_the_old_file_intact(
    tracker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    _many_events(300)  # about 70 kB, past any write buffer
    target = tmp_path / "out" / "history.csv"
    target.parent.mkdir()
    if existing:
        target.write_bytes(b"the previous export\r\n")
    real_rows = export_mod.history_rows
    calls = 0

    def failing_rows(batch: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 5:  # after 200 events went out
            raise RuntimeError("disk gone")
        return real_rows(batch)

    monkeypatch.setattr(export_mod, "BATCH_SIZE", 50)
    monkeypatch.setattr(export_mod, "history_rows", failing_rows)
    error = tracker.fails(1, "export", "csv", "-o", str(target))
    assert error.startswith("Error: unexpected failure (RuntimeError: disk gone)")
    assert calls == 5
    left = sorted(p.name for p in target.parent.iterdir())
    assert left == (["history.csv"] if existing else [])
    if existing:
        assert target.read_bytes() == b"the previous export\r\n"


def test_a_missing_folder_is_a_clear_error(tracker: Any, tmp_path: Path) -> None:
    tracker.ok("db", "upgrade")  # an empty store: reads need one
    error = tracker.fails(1, "export", "csv", "-o", str(tmp_path / "nope" / "h.csv"))
    assert error == f"Error: cannot write {tmp_path / 'nope' / 'h.csv'}: No such file or directory"


def test_a_pipe_or_device_is_written_in_place_not_replaced(tracker: Any, tmp_path: Path) -> None:
    tracker.ok("case", "open", "Through a FIFO")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = tracker("export", "csv", "-o", str(fifo))
    reader.join(timeout=10)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received == [export(tracker)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["fifo"]


def test_progress_shows_on_a_terminal_for_a_long_export_to_a_file(
    tracker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many_events(30)
    monkeypatch.setattr(cli_export, "PROGRESS_MIN_ROWS", 20)
    monkeypatch.setattr(cli_export, "_stderr_is_tty", lambda: True)
    to_file = tracker("export", "csv", "-o", str(tmp_path / "h.csv"))
    assert "Exporting events" in to_file.stderr
    to_stdout = tracker("export", "csv", "-o", "-")
    assert to_stdout.stderr == ""


def test_no_progress_in_a_pipe_or_for_a_short_export(
    tracker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _many_events(30)
    monkeypatch.setattr(cli_export, "PROGRESS_MIN_ROWS", 20)
    piped = tracker("export", "csv", "-o", str(tmp_path / "a.csv"))
    assert piped.stderr == f"Exported 31 events to {tmp_path / 'a.csv'}.\n"
    monkeypatch.setattr(cli_export, "_stderr_is_tty", lambda: True)
    monkeypatch.setattr(cli_export, "PROGRESS_MIN_ROWS", 5000)
    short = tracker("export", "csv", "-o", str(tmp_path / "b.csv"))
    assert short.stderr == f"Exported 31 events to {tmp_path / 'b.csv'}.\n"


def test_help_has_examples(tracker: Any) -> None:
    for command in ("csv", "json", "ics"):
        assert "Examples:" in tracker.ok("export", command, "--help")
    assert "Examples:" in tracker.ok("import", "json", "--help")
