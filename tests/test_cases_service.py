"""The case services (tracker.cases) called directly, with the clock injected."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from helpers import NOW
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import cases as svc
from tracker import directory, history, values
from tracker.db import Store
from tracker.errors import CardLikeReference, Conflict, UsageError
from tracker.models import ContactPoint, Event, Organization, Reminder
from tracker.redact import Masker
from tracker.vocabulary import ACTIVE_STATUSES

CARD = "4111 1111 1111 1111"
# The services on a SQLite store (the shared `store` fixture); the CLI tests cover both.
pytestmark = pytest.mark.backends("sqlite")


def open_case(session: Session, title: str = "x", **kwargs: object) -> svc.Case:
    return svc.open_case(session, title=title, masker=Masker(), now=NOW, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("129.99", "129.99"), (" 0.10 ", "0.10"), ("1,234.5", "1234.5"), ("7", "7")],
)
def test_parse_amount_keeps_the_exact_decimal(text: str, expected: str) -> None:
    assert str(values.parse_amount(text)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "give a number such as 129.99"),
        ("NaN", "give a number such as 129.99"),
        ("Infinity", "give a number such as 129.99"),
        ("0", "give the amount as a positive number"),
        ("-12.50", "give the amount as a positive number"),
        ("1.23456", "at most 4 decimals and 15 digits"),
        ("1e15", "at most 4 decimals and 15 digits"),
    ],
)
def test_parse_amount_refuses(text: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        values.parse_amount(text)


def test_parse_last4_and_currency() -> None:
    assert values.parse_last4(" 1005 ") == "1005"
    assert values.parse_currency(" eur") == "EUR"
    for bad in ("12", "12345", "１２３４", "abcd"):
        with pytest.raises(UsageError):
            values.parse_last4(bad)
    for bad in ("EURO", "E1R", "€"):
        with pytest.raises(UsageError):
            values.parse_currency(bad)


def test_choice_normalizes_case_and_dashes() -> None:
    assert values.choice("In-Person", ("phone", "in_person"), "channel") == "in_person"
    with pytest.raises(UsageError, match="unknown channel 'fax'; choose one of: phone, in_person"):
        values.choice("fax", ("phone", "in_person"), "channel")


# --------------------------------------------------------------------------- organizations


def test_organizations_match_ignoring_case(store: Store) -> None:
    with store.write() as session:
        first, created = directory.ensure_organization(session, " American Express ", Masker())
        assert (first.name, created) == ("American Express", True)
        again, created = directory.ensure_organization(session, "AMERICAN EXPRESS", Masker())
        assert (again.id, created) == (first.id, False)
        assert directory.find_organization(session, "american express") is first


# --------------------------------------------------------------------------- status rule


def test_waiting_follows_the_company_promises(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        mine = svc.make_promise(session, case, "Receipts", NOW, masker=Masker(), promised_by="me")
        assert case.status == "open"
        theirs = svc.make_promise(session, case, "Credit", NOW, masker=Masker(), now=NOW)
        assert case.status == "waiting"
        svc.set_promise_status(session, mine.id, "kept", now=NOW)
        assert case.status == "waiting"
        svc.set_promise_status(session, theirs.id, "broken", now=NOW)
        assert case.status == "open"


def test_promise_states_are_computed_from_the_clock(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        promise = svc.make_promise(
            session, case, "Credit", NOW + timedelta(days=1), masker=Masker()
        )
        assert promise.state(NOW) == "pending"
        assert promise.state(NOW + timedelta(days=2)) == "overdue"
        later = NOW + timedelta(days=2)
        assert svc.overdue_counts(session, [case.id], later) == {case.id: 1}
        assert svc.list_cases(session, svc.CaseFilter(overdue=True), now=NOW) == []
        assert [c.id for c in svc.list_cases(session, svc.CaseFilter(overdue=True), now=later)] == [
            case.id
        ]
        # A long list of active cases counts from the cases (another query): the same counts.
        ids = [case.id, *range(10_000, 10_600)]
        assert svc.overdue_counts(session, ids, later, statuses=ACTIVE_STATUSES) == {case.id: 1}
        assert svc.overdue_counts(session, ids, later) == {case.id: 1}
        assert svc.overdue_counts(session, ids, later, statuses=("closed",)) == {}
        svc.set_promise_status(session, promise.id, "kept", now=later)
        assert promise.state(later) == "kept"


def test_promise_status_errors(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        promise = svc.make_promise(session, case, "Credit", NOW, masker=Masker())
        with pytest.raises(UsageError, match="unknown promise state 'done'"):
            svc.set_promise_status(session, promise.id, "done")
        svc.set_promise_status(session, promise.id, "cancel")
        with pytest.raises(Conflict, match=f"promise {promise.id} is already cancelled"):
            svc.set_promise_status(session, promise.id, "cancelled")


# --------------------------------------------------------------------------- contacts


def test_a_contact_may_be_a_few_minutes_ahead_of_the_clock_not_more(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        svc.log_interaction(
            session, case, channel="phone", masker=Masker(), at=NOW + timedelta(minutes=4), now=NOW
        )
        with pytest.raises(UsageError, match="is in the future"):
            svc.log_interaction(
                session,
                case,
                channel="phone",
                masker=Masker(),
                at=NOW + timedelta(minutes=6),
                now=NOW,
            )


def test_a_card_given_as_a_contact_reference_is_refused_not_masked(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        with pytest.raises(CardLikeReference, match="'•••• 1111' looks like card data"):
            svc.log_interaction(
                session, case, channel="phone", masker=Masker(), refs=[f" {CARD} "], now=NOW
            )


def test_a_reference_said_not_to_be_a_card_is_kept_as_typed(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        svc.log_interaction(
            session,
            case,
            channel="phone",
            masker=Masker(),
            refs=[f" {CARD} "],
            refs_not_cards=True,
            now=NOW,
        )
        event = session.scalars(select(Event).where(Event.type == "reference_added")).one()
        assert event.data["reference"] == CARD and event.data["kept_as_typed"] is True
        assert [r.value for r in case.references] == [CARD]


def test_a_contact_on_a_closed_case_is_refused(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        svc.close(session, case, now=NOW)
        with pytest.raises(Conflict, match="case 1 is closed; reopen it first"):
            svc.log_interaction(session, case, channel="phone", masker=Masker(), now=NOW)


# --------------------------------------------------------------------------- undo


def test_undo_forgets_the_reminder_claims_of_what_it_removes(store: Store) -> None:
    """A claim left behind would silence the next follow-up or promise given the same id."""
    with store.write() as session:
        case = open_case(session)
        follow_up = svc.set_follow_up(session, case, NOW, None, masker=Masker(), now=NOW)
        promise = svc.make_promise(session, case, "Credit", NOW, masker=Masker(), now=NOW)
        keys = [
            f"follow_up:{follow_up.id}",
            f"promise:{promise.id}:due",
            f"promise:{promise.id}:overdue",
            f"promise:{promise.id + 1}:due",
        ]
        for key in keys:
            session.add(Reminder(key=key, case_id=case.id, kind="x", due_at=NOW, claimed_by="test"))
    with store.write() as session:
        assert history.undo(session, now=NOW) == "case 1: The company promised: Credit"
        assert history.undo(session, now=NOW) == "case 1: Follow-up: check on the case"
    with store.read() as session:
        left = session.scalars(select(Reminder.key)).all()
    assert left == [f"promise:{promise.id + 1}:due"]


def test_undo_of_an_open_keeps_an_organization_given_contact_points_since(store: Store) -> None:
    with store.write() as session:
        case = open_case(session, organization="New Bank")
        assert case.organization is not None
        session.add(
            ContactPoint(organization_id=case.organization.id, kind="phone", value="+1 800 1")
        )
    with store.write() as session:
        assert history.undo(session, now=NOW) == "case 1: Opened: x"
    with store.read() as session:
        assert session.scalars(select(Organization.name)).all() == ["New Bank"]


def test_undo_describes_everything_one_command_added(store: Store) -> None:
    with store.write() as session:
        open_case(
            session,
            refs=["A", "B", "C"],
            note="n",
            follow_up=NOW,
            organization="Org",
            amount=Decimal("5"),
        )
    with store.write() as session:
        assert history.undo(session, now=NOW) == (
            "case 1: Opened: x (with 3 references, 1 note, 1 follow-up and the new "
            "organization Org)"
        )


def test_was_undone_follows_the_change(store: Store) -> None:
    with store.write() as session:
        case = open_case(session)
        svc.add_note(session, case, "note", masker=Masker(), now=NOW)
    with store.write() as session:
        history.undo(session, now=NOW)
    with store.read() as session:
        detail = svc.load_case_detail(session, 1)
        assert [(e.type, e.undone) for e in detail.events] == [
            ("opened", False),
            ("note", True),
            ("undone", False),
        ]
