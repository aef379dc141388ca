"""tracker.history: typed event payloads, written and read through the same type."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from conftest import Tracker

from tracker.db import Store
from tracker.history import (
    PAYLOAD_TYPES,
    PAYLOADS,
    Contacted,
    Escalated,
    PayloadError,
    PromiseMade,
    payload_field,
    payload_of,
    payload_type,
)
from tracker.models import Event

DUE = datetime(2026, 12, 8, 17, 0, tzinfo=UTC)


def test_a_payload_reads_back_what_it_wrote() -> None:
    made = PromiseMade(
        created=("promises", 3),
        promise_id=3,
        due_at=DUE,
        promise_status="pending",
        promised_by="company",
    )
    stored = made.to_json()
    assert stored == {
        "created": ["promises", 3],
        "promise_id": 3,
        "due_at": "2026-12-08T17:00:00+00:00",
        "promise_status": "pending",
        "promised_by": "company",
    }
    assert PromiseMade.from_json(stored) == made
    assert made.public() == {k: v for k, v in stored.items() if k != "created"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel": "phone"}, "direction"),  # a required field missing
        ({"channel": "phone", "direction": "out", "bogus": 1}, "unknown key 'bogus'"),
        ({"channel": 5, "direction": "out"}, "channel must be text"),
        ({"channel": "phone", "direction": "out", "created": ["cases"]}, "created must be"),
        ({"channel": "phone", "direction": "out", "created": ["cases", "1"]}, "created must be"),
    ],
)
def test_data_that_does_not_fit_its_type_is_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        Contacted.from_json(data)


def test_times_need_their_offset() -> None:
    with pytest.raises(PayloadError, match="due_at must be a time with its offset"):
        PromiseMade.from_json(
            {
                "promise_id": 1,
                "due_at": "2026-12-08T17:00:00",
                "promise_status": "pending",
                "promised_by": "me",
            }
        )


def test_every_event_type_has_one_payload_type() -> None:
    types = [t for cls in PAYLOAD_TYPES for t in cls.TYPES]
    assert len(types) == len(set(types)) == len(PAYLOADS)
    with pytest.raises(PayloadError, match="unknown event type 'nope'"):
        payload_type("nope")


def test_a_reader_naming_a_missing_field_fails_at_once() -> None:
    assert payload_field(Contacted, name="agent") == "agent"
    with pytest.raises(AttributeError, match="Escalated has no field 'agent'"):
        payload_field(Contacted, Escalated, name="agent")


def test_every_event_the_commands_write_reads_back_through_its_type(
    tracker: Tracker, db_url: str
) -> None:
    tracker.ok("case", "open", "Refund", "--org", "Acme", "--ref", "R-1", "--follow-up", "3d")
    tracker.ok("case", "note", "1", "first note")
    tracker.ok(
        "case",
        "contact",
        "1",
        "--channel",
        "phone",
        "--agent",
        "Jo",
        "--ref",
        "C-2",
        "--promise",
        "Credit",
        "--due",
        "5d",
    )
    tracker.ok("promise", "kept", "1")
    tracker.ok("case", "escalate", "1", "--note", "no answer")
    tracker.ok("case", "resolve", "1", "--outcome", "paid")
    tracker.ok("case", "reopen", "1")
    tracker.ok("case", "close", "1")
    tracker.ok("undo")
    store = Store(db_url)
    with store.read() as session:
        events = session.query(Event).all()
        types = {e.type for e in events}
        for event in events:
            payload = payload_of(event)
            assert type(payload).from_json(payload.to_json()) == payload
            assert dataclasses.asdict(payload) is not None
        escalated = next(e for e in events if e.type == "escalated")
        assert payload_of(escalated) == Escalated(
            level="supervisor",
            previous_level="frontline",
            reason="no answer",
            case_before=payload_of(escalated).case_before,
        )
    store.dispose()
    assert types >= {
        "opened",
        "reference_added",
        "follow_up_set",
        "note",
        "interaction",
        "promise_made",
        "promise_kept",
        "escalated",
        "resolved",
        "reopened",
        "closed",
        "undone",
    }
