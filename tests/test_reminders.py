"""Reminder occurrences, their claims and one pass, with injected time and a recording
notifier: what fires, when, with what text, and that it fires once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from helpers import NOW, Recorder
from sqlalchemy import select

from tracker.advice import describe_contact
from tracker.db import Store
from tracker.due import DueItem
from tracker.models import Case, ContactPoint, FollowUp, Reminder
from tracker.notify import NotifyError
from tracker.policy import Policies, load_policies
from tracker.reminders import (
    Occurrence,
    backoff,
    claim,
    compose,
    mark_shown,
    next_ready_at,
    occurrences,
    release,
    run_pass,
)

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def policies() -> Policies:
    return load_policies()


def at(when: datetime, tracker: Any, *args: str) -> str:
    with time_machine.travel(when, tick=False):
        out: str = tracker.ok(*args)
    return out


def fire(store: Store, recorder: Recorder, policies: Policies, now: datetime) -> list[str]:
    """One pass at `now`; the bodies it showed."""
    before = len(recorder.shown)
    run_pass(store, recorder, policies=policies, owner="test", now=now)
    return [body for _, body in recorder.shown[before:]]


def amex_case(tracker: Any, store: Store) -> None:
    """Case 1 at American Express, with a supervisor line in the directory."""
    at(NOW, tracker, "case", "open", "Disputed charge at ACME", "--org", "American Express")
    with store.write() as session:
        case = session.get(Case, 1)
        assert case is not None and case.organization_id is not None
        for level, value in (("frontline", "+1 800-528-2122"), ("supervisor", "+1 800-000-0001")):
            session.add(
                ContactPoint(
                    organization_id=case.organization_id,
                    kind="phone",
                    value=value,
                    level=level,
                )
            )


# --------------------------------------------------------------------------- claims


def rows(store: Store) -> dict[str, Any]:
    """Every reminders row, by key (plain rows: they outlive the transaction)."""
    columns = [c for c in Reminder.__table__.columns]
    with store.read() as session:
        return {row.key: row for row in session.execute(select(*columns))}


def test_a_claim_is_granted_once_until_its_lease_runs_out(tracker: Any, store: Store) -> None:
    at(NOW, tracker, "case", "open", "x")
    args: dict[str, Any] = {"case_id": 1, "kind": "follow_up", "due_at": NOW}
    with store.write() as session:
        assert claim(session, "follow_up:1", owner="a", now=NOW, **args) is True
    with store.write() as session:
        assert claim(session, "follow_up:1", owner="b", now=NOW + MIN, **args) is False
    # "a" died before showing it: after the lease (2 minutes) "b" takes it over.
    with store.write() as session:
        assert claim(session, "follow_up:1", owner="b", now=NOW + 2 * MIN, **args) is True
    row = rows(store)["follow_up:1"]
    assert (row.claimed_by, row.attempts, row.shown_at) == ("b", 2, None)
    with store.write() as session:
        mark_shown(session, "follow_up:1", now=NOW + 2 * MIN)
    with store.write() as session:
        assert (
            claim(session, "follow_up:1", owner="c", now=NOW + timedelta(days=9), **args) is False
        )
    assert rows(store)["follow_up:1"].shown_at == NOW + 2 * MIN


def test_a_released_claim_can_be_taken_again_at_its_retry_time(tracker: Any, store: Store) -> None:
    at(NOW, tracker, "case", "open", "x")
    args: dict[str, Any] = {"case_id": 1, "kind": "follow_up", "due_at": NOW, "owner": "a"}
    with store.write() as session:
        assert claim(session, "k", now=NOW, **args)
        release(session, "k", error="no bus", now=NOW, retry_at=NOW + 30 * timedelta(seconds=1))
    row = rows(store)["k"]
    assert (row.last_error, row.next_attempt_at) == ("no bus", NOW + timedelta(seconds=30))
    with store.write() as session:
        assert claim(session, "k", now=NOW + timedelta(seconds=29), **args) is False
    with store.write() as session:
        assert claim(session, "k", now=NOW + timedelta(seconds=30), **args) is True
    assert rows(store)["k"].next_attempt_at is None


def test_backoff_doubles_from_the_first_retry_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    assert backoff(500) == timedelta(minutes=10)
    assert backoff(2, timedelta(seconds=1)) == timedelta(seconds=2)


# --------------------------------------------------------------------------- occurrences


def item(kind: str, **fields: Any) -> DueItem:
    defaults: dict[str, Any] = {
        "case_id": 7,
        "case_title": "Lost card",
        "organization": "Amex",
        "due_at": NOW,
        "text": "Replacement card",
        "item_id": 3,
    }
    return DueItem(kind=kind, **{**defaults, **fields})


def test_each_reminder_occurrence_has_a_stable_key() -> None:
    found = occurrences(
        [
            item("follow_up", item_id=12),
            item("promise", overdue_at=NOW + timedelta(days=1)),
            item("threshold", item_id=None, rule="open-30d", due_at=NOW + timedelta(days=2)),
        ]
    )
    assert [(o.key, o.kind, o.due_at) for o in found] == [
        ("follow_up:12", "follow_up", NOW),
        ("promise:3:due", "promise_due", NOW),
        ("promise:3:overdue", "promise_overdue", NOW + timedelta(days=1)),
        ("threshold:7:open-30d:20261128T140000Z", "threshold", NOW + timedelta(days=2)),
    ]


def test_notification_text_is_masked_as_a_last_guard(tracker: Any, store: Store) -> None:
    # Stored text is masked on the way in; this DueItem bypasses that on purpose.
    raw = item("follow_up", text="card 4111 1111 1111 1111 cvv 123", case_title="PIN 9876")
    with store.read() as session:
        notice = compose(session, [Occurrence("follow_up:3", "follow_up", NOW, raw)], NOW)
    assert "4111 1111" not in notice.body and "123" not in notice.body
    assert "9876" not in notice.body
    assert "•••• 1111" in notice.body


# --------------------------------------------------------------------------- one pass


def test_a_follow_up_fires_once_at_its_time_with_the_case_and_next_step(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    amex_case(tracker, store)
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "call back about the credit")
    at(NOW, tracker, "case", "note", "1", "SECRET NOTE TEXT")
    due = NOW + timedelta(hours=1)
    assert fire(store, recorder, policies, due - timedelta(seconds=1)) == []
    assert fire(store, recorder, policies, due) == [
        "Follow-up due now: call back about the credit (case 1: Disputed charge at ACME). "
        "Next step: contact customer service, call +1 800-528-2122."
    ]
    assert recorder.shown[0][0] == "American Express: follow-up due"
    assert fire(store, recorder, policies, due + MIN) == []
    assert fire(store, recorder, policies, due + timedelta(days=3)) == []
    assert all("SECRET" not in title + body for title, body in recorder.shown)
    shown = at(due, tracker, "case", "show", "1", "--json")
    assert "reminder_fired" in shown
    with store.read() as session:
        follow_up = session.get(FollowUp, 1)
        assert follow_up is not None and follow_up.status == "fired"


def test_a_fired_reminder_is_in_the_history_and_undo_skips_it(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "note", "1", "first")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    fire(store, recorder, policies, NOW + timedelta(hours=2))
    events = tracker.json("case", "show", "1")["events"]
    assert [e["type"] for e in events][-1] == "reminder_fired"
    assert events[-1]["summary"] == "Reminder shown: follow-up due 1 hour ago: ring them"
    out = at(NOW + timedelta(hours=2), tracker, "undo")
    assert out.startswith("Undid case 1: Follow-up: ring them")


def test_a_company_promise_fires_when_due_and_again_when_overdue(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    amex_case(tracker, store)
    at(NOW, tracker, "case", "promise", "1", "Provisional credit", "--due", "2026-11-27 14:00")
    due = NOW + timedelta(days=1)
    assert fire(store, recorder, policies, due) == [
        "Provisional credit is due now (case 1: Disputed charge at ACME). "
        "Next step: check that it was done, call +1 800-528-2122."
    ]
    assert recorder.shown[-1][0] == "American Express: promise due"
    # The general policy's grace is a day; the next step is the next rung, with its line.
    assert fire(store, recorder, policies, due + timedelta(hours=23)) == []
    assert fire(store, recorder, policies, due + timedelta(days=3)) == [
        "Provisional credit is overdue (due 3 days ago) (case 1: Disputed charge at ACME). "
        "Next step: ask for a supervisor, call +1 800-000-0001."
    ]
    assert recorder.shown[-1][0] == "American Express: promise overdue"
    assert fire(store, recorder, policies, due + timedelta(days=4)) == []


def test_my_own_promise_reminds_me(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "promise", "1", "Send the police report", "--due", "1h", "--by", "me")
    assert fire(store, recorder, policies, NOW + timedelta(hours=1)) == [
        "Send the police report (your promise) is due now (case 1: Lost card). "
        "Next step: do what you promised, or tell them when you will."
    ]


def test_reminders_missed_while_down_are_coalesced_into_one_per_case(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    amex_case(tracker, store)
    at(NOW, tracker, "case", "open", "Second case", "--org", "Bank")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "first")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 16:00", "second")
    at(NOW, tracker, "case", "promise", "1", "Provisional credit", "--due", "2026-11-26 17:00")
    at(NOW, tracker, "case", "follow-up", "2", "2026-11-26 15:00", "other case")
    later = NOW + timedelta(days=2)
    bodies = fire(store, recorder, policies, later)
    assert [title for title, _ in recorder.shown] == [
        "American Express: 3 reminders",
        "Bank: follow-up due",
    ]
    # The promise, both due and overdue by now, is told once, as overdue.
    assert bodies[0] == (
        "Follow-up due 1 day ago: first; follow-up due 1 day ago: second; "
        "Provisional credit is overdue (due 1 day ago) (case 1: Disputed charge at ACME). "
        "Next step: ask for a supervisor, call +1 800-000-0001."
    )
    assert fire(store, recorder, policies, later + MIN) == []
    assert len(rows(store)) == 5  # every occurrence claimed and shown
    assert all(r.shown_at == later for r in rows(store).values())


def test_a_crossed_threshold_fires_once_with_the_rule_and_disclaimer(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    amex_case(tracker, store)
    crossed = NOW + timedelta(days=14)
    assert fire(store, recorder, policies, crossed - MIN) == []
    (body,) = fire(store, recorder, policies, crossed)
    assert recorder.shown[-1][0] == "American Express: time to escalate"
    assert body == (
        "No progress for 14 days since the last contact (case 1: Disputed charge at ACME). "
        "Next step: ask for a supervisor, call +1 800-000-0001 (rule of thumb: two weeks "
        "without progress is time to go one rung up). Guidance, not legal advice."
    )
    assert fire(store, recorder, policies, crossed + timedelta(days=1)) == []
    # A new contact restarts the count: 14 quiet days later it is a new occurrence.
    call = crossed + timedelta(days=1)
    at(call, tracker, "case", "contact", "1", "--channel", "phone")
    assert fire(store, recorder, policies, call + timedelta(days=13)) == []
    assert len(fire(store, recorder, policies, call + timedelta(days=14))) == 1


def test_a_failed_notification_is_released_and_retried_with_backoff(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00")
    due = NOW + timedelta(hours=1)
    recorder.error = "DBusException: no notification server"
    report = run_pass(store, recorder, policies=policies, owner="test", now=due)
    assert [(n.case_id, error, retry) for n, error, retry in report.failed] == [
        (1, "DBusException: no notification server", due + timedelta(seconds=30))
    ]
    row = rows(store)["follow_up:1"]
    assert (row.attempts, row.shown_at, row.last_error) == (
        1,
        None,
        "DBusException: no notification server",
    )
    with store.read() as session:
        assert next_ready_at(session, policies) == due + timedelta(seconds=30)
    assert fire(store, recorder, policies, due + timedelta(seconds=29)) == []
    # Second failure: twice the wait.
    report = run_pass(
        store, recorder, policies=policies, owner="test", now=due + timedelta(seconds=30)
    )
    assert report.failed[0][2] == due + timedelta(seconds=90)
    recorder.error = None
    assert fire(store, recorder, policies, due + timedelta(seconds=90)) == [
        "Follow-up due 1 minute ago: check on the case (case 1: Lost card). "
        "Next step: contact customer service."
    ]
    row = rows(store)["follow_up:1"]
    assert (row.attempts, row.last_error) == (3, None)


def test_a_claim_left_by_a_dead_process_is_shown_after_its_lease(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00")
    due = NOW + timedelta(hours=1)
    with store.write() as session:
        claim(
            session, "follow_up:1", case_id=1, kind="follow_up", due_at=due, owner="dead", now=due
        )
    assert fire(store, recorder, policies, due + MIN) == []
    with store.read() as session:
        assert next_ready_at(session, policies) == due + 2 * MIN
    assert len(fire(store, recorder, policies, due + 2 * MIN)) == 1


def test_next_ready_at_is_the_earliest_unshown_occurrence(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card")
    with store.read() as session:
        assert next_ready_at(session, policies) == NOW + timedelta(days=14)  # silence-14d
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 14:30")
    with store.read() as session:
        assert next_ready_at(session, policies) == NOW + 30 * MIN
    fire(store, recorder, policies, NOW + 30 * MIN)
    with store.read() as session:
        assert next_ready_at(session, policies) == NOW + 60 * MIN
    at(NOW, tracker, "case", "resolve", "1")
    with store.read() as session:
        assert next_ready_at(session, policies) is None


# --------------------------------------------------------------------------- remind check


def test_remind_check_prints_with_the_console_notifier_then_nothing(tracker: Any) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        first = tracker("remind", "check", "--notifier", "console")
        second = tracker("remind", "check", "--notifier", "console", "--verbose")
    assert first.exit_code == 0 and first.stderr == ""
    assert re.fullmatch(
        r"2026-11-26 15:00:00  Amex: follow-up due — Follow-up due now: ring them "
        r"\(case 1: Lost card\)\. Next step: contact customer service\.\n",
        first.stdout,
    ), first.stdout
    assert (second.exit_code, second.stdout, second.stderr) == (0, "", "Nothing due.\n")


def test_remind_check_with_a_failing_command_exits_1_and_retries_later(
    tracker: Any, tmp_path: Path
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        line = tracker.fails(1, "remind", "check", "--notifier", "command:false")
    assert line == ("Error: could not show 1 reminder ('false' exited with code 1); kept for later")
    script = tmp_path / "notify"
    log = tmp_path / "log"
    script.write_text(f'#!/bin/sh\nprintf "%s|%s\\n" "$1" "$2" >> {log}\n')
    script.chmod(0o755)
    with time_machine.travel(NOW + timedelta(hours=1, seconds=31), tick=False):
        tracker.ok("remind", "check", "--notifier", f"command:{script}")
        tracker.ok("remind", "check", "--notifier", f"command:{script}")
    assert log.read_text() == (
        "Amex: follow-up due|Follow-up due now: ring them (case 1: Lost card). "
        "Next step: contact customer service.\n"
    )


def test_an_unknown_notifier_is_bad_usage(tracker: Any) -> None:
    assert tracker.fails(2, "remind", "check", "--notifier", "pager") == (
        "Error: unknown notifier 'pager'; choose desktop, console, command:CMD or apprise:URL"
    )
    assert tracker.fails(2, "remind", "check", "--notifier", "command:") == (
        "Error: the command notifier needs a command, e.g. command:notify-send"
    )


def test_an_overdue_promise_at_complaint_level_points_to_the_regulator(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "escalate", "1", "--to", "complaint")
    at(NOW, tracker, "case", "promise", "1", "Final response", "--due", "2026-11-27 14:00")
    with store.write() as session:
        case = session.get(Case, 1)
        assert case is not None and case.organization_id is not None
        point = ContactPoint(
            organization_id=case.organization_id,
            kind="web",
            value="https://www.consumerfinance.gov/complaint/",
            label="Consumer Financial Protection Bureau",
            level="regulator",
        )
        session.add(point)
        session.flush()
        expected = describe_contact(point)
    (body,) = fire(store, recorder, policies, NOW + timedelta(days=3))
    # The directory's regulator entry already says what to do; it is not said twice.
    assert body == (
        "Final response is overdue (due 2 days ago) (case 1: Lost card). "
        f"Next step: {expected.removesuffix('.')}."
    )
    assert expected.startswith("file a complaint with the regulator")


def test_a_threshold_crossed_while_down_says_how_long_ago(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card")
    (body,) = fire(store, recorder, policies, NOW + timedelta(days=16))
    assert body.startswith(
        "No progress for 14 days since the last contact (crossed 2 days ago) (case 1: Lost card)."
    )


# --------------------------------------------------------------------------- shown, or kept


class Unavailable(Recorder):
    """A notifier whose check says it can show nothing (no session bus, say)."""

    def check(self) -> None:
        raise NotifyError("cannot show desktop notifications: no session bus", unavailable=True)


class Receipts(Recorder):
    """A notifier that answers with the server's id, as the desktop notifier does."""

    def notify(self, title: str, body: str) -> str:  # type: ignore[override]
        super().notify(title, body)
        return str(100 + len(self.shown))


def test_an_unavailable_notifier_claims_nothing_and_says_how_many_it_kept(
    tracker: Any, store: Store, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    at(NOW, tracker, "case", "promise", "1", "New card", "--due", "2026-11-26 15:00")
    report = run_pass(store, Unavailable(), policies=policies, owner="t", now=NOW + 2 * HOUR)
    assert (report.kept, report.unavailable, report.shown) == (
        2,
        "cannot show desktop notifications: no session bus",
        [],
    )
    assert rows(store) == {}
    # Another notifier right after shows them at once: no backoff was recorded.
    recorder = Recorder()
    fire(store, recorder, policies, NOW + 2 * HOUR)
    assert len(recorder.shown) == 1


def test_the_servers_id_is_recorded_with_the_claim(
    tracker: Any, store: Store, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    run_pass(store, Receipts(), policies=policies, owner="t", now=NOW + HOUR)
    assert rows(store)["follow_up:1"].notification_id == "101"


def test_a_claim_taken_over_after_its_lease_is_shown_marked_repeat(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    at(NOW, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 15:00", "ring them")
    due = NOW + HOUR
    with store.write() as session:  # shown by a daemon that died before recording it
        assert claim(session, "follow_up:1", case_id=1, kind="follow_up", due_at=due,
                     owner="dead", now=due)  # fmt: skip
    assert fire(store, recorder, policies, due + MIN) == []
    fire(store, recorder, policies, due + 2 * MIN)
    assert recorder.shown[-1][0] == "Amex: follow-up due (repeat)"
    events = tracker.json("case", "show", "1")["events"]
    assert (
        events[-1]["summary"] == "Reminder shown: follow-up due 2 minutes ago: ring them (repeat)"
    )
    # Released after a failure: certainly not shown, so no "(repeat)" next time.
    at(NOW, tracker, "case", "follow-up", "1", "2026-11-26 16:00", "again")
    recorder.error = "'false' exited with code 1"
    fire(store, recorder, policies, NOW + 2 * HOUR)
    recorder.error = None
    fire(store, recorder, policies, NOW + 2 * HOUR + MIN)
    assert recorder.shown[-1][0] == "Amex: follow-up due"


def test_a_retry_time_from_a_clock_that_went_back_counts_as_ready(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    earlier = NOW - timedelta(days=2)  # the follow-up was set for a time now past
    at(earlier, tracker, "case", "open", "Lost card", "--org", "Amex")
    at(earlier, tracker, "case", "follow-up", "1", "2026-11-25 09:00", "ring them")
    recorder.error = "'false' exited with code 1"
    fire(store, recorder, policies, NOW)  # released, retry at NOW + 30 s
    recorder.error = None
    back = NOW - timedelta(hours=3)  # the clock went back three hours
    assert len(fire(store, recorder, policies, back)) == 1


def test_more_than_five_cases_due_at_once_come_as_one_digest_each_recorded_once(
    tracker: Any, store: Store, policies: Policies
) -> None:
    for n in range(1, 8):
        at(NOW, tracker, "case", "open", f"Case {n}", "--org", "Amex" if n <= 4 else "Chase")
        at(NOW, tracker, "case", "follow-up", str(n), "2026-11-26 15:00", f"ring {n}")
        if n <= 2:
            at(NOW, tracker, "case", "promise", str(n), "Refund", "--due", "2026-11-26 15:00")
    notifier = Receipts()
    later = NOW + timedelta(days=3)  # also: every case's 14-day threshold is not crossed yet
    report = run_pass(store, notifier, policies=policies, owner="t", now=later)
    assert notifier.shown == [
        (
            "9 reminders on 7 cases",
            "4 follow-ups due at Amex; 3 follow-ups due at Chase; 2 promises overdue at Amex. "
            "Run `tracker due` for the list.",
        )
    ]
    assert report.digest_occurrences == 11  # 7 follow-ups; 2 promises, each due and overdue
    assert {(r.shown_at, r.notification_id) for r in rows(store).values()} == {(later, "101")}
    fired = [e for n in range(1, 8) for e in tracker.json("case", "show", str(n))["events"]
             if e["type"] == "reminder_fired"]  # fmt: skip
    assert len(fired) == 11
    assert fired[0]["summary"] == "Reminder shown in a digest: 9 reminders on 7 cases"
    with store.read() as session:
        assert {f.status for f in session.scalars(select(FollowUp))} == {"fired"}
    assert run_pass(store, notifier, policies=policies, owner="t", now=later + MIN).shown == []
    # Threshold 0: never a digest.
    at(NOW, tracker, "case", "open", "Case 8", "--org", "Amex")
    for n in range(6):
        at(NOW, tracker, "case", "follow-up", "8", f"2026-11-26 {n + 15}:00", f"ring 8.{n}")
    report = run_pass(store, notifier, policies=policies, owner="t", now=later, digest=0)
    assert [n.title for n in report.shown] == ["Amex: 6 reminders"]


def test_a_failed_digest_releases_every_claim(
    tracker: Any, store: Store, recorder: Recorder, policies: Policies
) -> None:
    for n in range(1, 8):
        at(NOW, tracker, "case", "open", f"Case {n}", "--org", "Amex")
        at(NOW, tracker, "case", "follow-up", str(n), "2026-11-26 15:00", f"ring {n}")
    recorder.error = "'false' exited with code 1"
    later = NOW + timedelta(days=1)
    report = run_pass(store, recorder, policies=policies, owner="t", now=later)
    assert report.kept == 7 and report.error == "'false' exited with code 1"
    assert {(r.shown_at, r.next_attempt_at) for r in rows(store).values()} == {
        (None, later + timedelta(seconds=30))
    }
    recorder.error = None
    assert fire(store, recorder, policies, later + timedelta(seconds=30))[0].startswith(
        "7 follow-ups due at Amex."
    )
