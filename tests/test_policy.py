"""Escalation policies as data: the built-in file, a user's overlay, thresholds with injected
time, and the crossed thresholds `tracker due` lists with the next step they suggest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from helpers import NOW

from tracker.advice import suggestion
from tracker.db import Store
from tracker.models import Case, ContactPoint
from tracker.policy import (
    DISCLAIMER,
    CaseFacts,
    PolicyError,
    Span,
    crossings,
    load_policies,
)

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def crossed(facts: CaseFacts, policy: str = "general", **kwargs: Any) -> dict[str, datetime]:
    policies = load_policies(**kwargs)
    return {c.threshold.id: c.at for c in crossings(facts, policies.policies[policy])}


# --------------------------------------------------------------------------- built-in


def test_builtin_policies_are_picked_by_category_and_country() -> None:
    policies = load_policies()
    assert policies.for_case("dispute", country="US").name == "us-billing-error"
    assert policies.for_case("payment", country="US").name == "us-cfpb"
    assert policies.for_case("dispute", country="GB").name == "uk-fca"
    assert policies.for_case("complaint", country="GB").name == "uk-fca"
    # Elsewhere, or when the country is not known: the general ladder, no law cited.
    assert policies.for_case("dispute", country="FR").name == "general"
    assert policies.for_case("dispute").name == "general"
    assert policies.for_case("payment").name == "general"
    # A case's own policy wins; an unknown one is passed over.
    assert policies.for_case("dispute", "uk-fca", country="US").name == "uk-fca"
    assert policies.for_case("dispute", "no-such-policy", "US").name == "us-billing-error"


def test_the_general_ladder_cites_no_country_s_law() -> None:
    general = load_policies().policies["general"]
    for threshold in general.thresholds:
        text = f"{threshold.rule} {threshold.action} {threshold.why}"
        for law in ("CFPB", "FCA", "Fair Credit", "Ombudsman Service"):
            assert law not in text, (threshold.id, law)


def test_every_builtin_policy_says_it_is_guidance_not_legal_advice() -> None:
    for policy in load_policies().policies.values():
        assert "not legal advice" in policy.note.lower(), policy.name
        assert policy.thresholds, policy.name


def test_builtin_rules_cite_the_published_time_limits() -> None:
    policies = load_policies().policies
    fcba = {t.id: t for t in policies["us-billing-error"].thresholds}
    assert str(fcba["fcba-acknowledge-30d"].after) == "30 days"
    assert "acknowledge" in (fcba["fcba-acknowledge-30d"].rule or "")
    assert "90 days" in (fcba["fcba-resolve-90d"].rule or "")
    assert "open-30d" not in fcba  # the FCBA rule speaks for day 30 there
    us = {t.id: t for t in policies["us-cfpb"].thresholds}
    assert "15 days" in (us["cfpb-response-15d"].rule or "")
    assert "60 days" in (us["cfpb-final-60d"].rule or "")
    assert {"cfpb-response-15d", "cfpb-final-60d"} <= set(fcba)  # disputes go to the CFPB too
    uk = {t.id: t for t in policies["uk-fca"].thresholds}
    assert "Financial Ombudsman Service" in (uk["complaint-8w"].rule or "")
    assert "6 months" in (uk["complaint-8w"].rule or "")
    assert "6 months" in (uk["fos-6-months"].rule or "")
    assert "cfpb-response-15d" not in uk
    assert "Financial Ombudsman Service" in (uk["regulator-30d"].action or "")


def test_the_example_policy_file_loads() -> None:
    policies = load_policies(ROOT / "examples" / "policy.toml")
    assert policies.default == "uk-fca"
    assert policies.for_case("rewards").name == "patient"
    assert policies.for_case("dispute").name == "uk-fca"
    silence = {t.id: t for t in policies.policies["uk-fca"].thresholds}["silence-14d"]
    assert str(silence.after) == "10 business days"


# --------------------------------------------------------------------------- spans


def test_spans_in_hours_days_weeks_and_business_days() -> None:
    friday = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert Span.parse("12h").after(friday) == friday + timedelta(hours=12)
    assert Span.parse("30d").after(friday) == friday + timedelta(days=30)
    assert Span.parse("8w").after(friday) == friday + timedelta(weeks=8)
    # 10 business days from a Friday: two weeks later, same time of day.
    assert Span.parse("10bd").after(friday) == datetime(2026, 12, 11, 15, 30, tzinfo=UTC)
    assert Span.parse("1bd").after(friday) == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    assert str(Span.parse("10bd")) == "10 business days"
    with pytest.raises(ValueError, match="'3 months' is not a span"):
        Span.parse("3 months")


# --------------------------------------------------------------------------- thresholds


def test_a_frontline_case_crosses_silence_then_thirty_days_open() -> None:
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW)
    found = crossed(facts)
    assert found == {
        "silence-14d": NOW + timedelta(days=14),
        "open-30d": NOW + timedelta(days=30),
    }


def test_silence_counts_from_the_last_contact_or_escalation() -> None:
    called = NOW + timedelta(days=10)
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW, last_interaction_at=called)
    assert crossed(facts)["silence-14d"] == called + timedelta(days=14)
    # Just escalated after a long silence: the count starts again from the escalation.
    escalated = NOW + timedelta(days=20)
    facts = CaseFacts(
        case_id=1,
        level="supervisor",
        opened_at=NOW,
        last_interaction_at=called,
        escalated_at=escalated,
    )
    assert crossed(facts)["silence-14d"] == escalated + timedelta(days=14)


def test_broken_promises_cross_at_the_instant_the_nth_one_broke() -> None:
    first, second, third = (NOW + timedelta(days=d) for d in (1, 4, 9))
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW, broken_at=(first, second))
    assert crossed(facts)["broken-promises-2"] == second
    assert "broken-promises-3" not in crossed(facts)
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW, broken_at=(first, second, third))
    assert crossed(facts)["broken-promises-3"] == third


def test_a_threshold_only_applies_at_its_levels_and_below_its_rung() -> None:
    at_complaint = CaseFacts(
        case_id=1, level="complaint", opened_at=NOW, escalated_at=NOW + timedelta(days=3)
    )
    assert crossed(at_complaint) == {"complaint-8w": NOW + timedelta(days=3, weeks=8)}
    at_regulator = CaseFacts(case_id=1, level="regulator", opened_at=NOW, escalated_at=NOW)
    assert crossed(at_regulator) == {"regulator-30d": NOW + timedelta(days=30)}
    assert crossed(at_regulator, "us-cfpb") == {
        "cfpb-response-15d": NOW + timedelta(days=15),
        "cfpb-final-60d": NOW + timedelta(days=60),
    }


def test_billing_error_policy_follows_the_fcba_timeline() -> None:
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW)
    found = crossed(facts, "us-billing-error")
    assert found["fcba-acknowledge-30d"] == NOW + timedelta(days=30)
    assert found["fcba-complaint-60d"] == NOW + timedelta(days=60)
    assert found["fcba-resolve-90d"] == NOW + timedelta(days=90)
    assert "open-30d" not in found


def test_a_suggestion_names_the_step_the_contact_the_rule_and_the_disclaimer() -> None:
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW)
    policy = load_policies().policies["us-billing-error"]
    crossing = next(c for c in crossings(facts, policy) if c.threshold.id.startswith("fcba-ack"))
    text = suggestion(crossing, "ask for a supervisor, call +1 800-528-2122")
    assert text.startswith("ask for a supervisor, call +1 800-528-2122 (US Fair Credit Billing")
    assert text.endswith(DISCLAIMER)


# --------------------------------------------------------------------------- user files


def test_a_user_file_overrides_keys_disables_rules_and_adds_policies(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        default_policy = "impatient"

        [categories]
        rewards = "general"

        [[policy.general.threshold]]
        id = "silence-14d"
        after = "5bd"

        [[policy.general.threshold]]
        id = "open-30d"
        enabled = false

        [policy.impatient]
        extends = "general"
        note = "My own rules."

        [[policy.impatient.threshold]]
        id = "two-days"
        since = "opened"
        after = "2d"
        suggest = "next"
        why = "two days is enough"
        """,
    )
    policies = load_policies(path)
    assert policies.for_case("payment").name == "impatient"
    assert policies.for_case("rewards").name == "general"
    assert policies.for_case("dispute", country="US").name == "us-billing-error"
    # A policy that does not say it is guidance gets the disclaimer added.
    assert policies.policies["impatient"].note == f"My own rules. {DISCLAIMER}"
    facts = CaseFacts(case_id=1, level="frontline", opened_at=NOW)  # a Thursday
    assert crossed(facts, "impatient", path=path) == {
        "silence-14d": datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
        "two-days": NOW + timedelta(days=2),
    }
    # The change to `general` reaches the policies that extend it.
    assert "open-30d" not in crossed(facts, "general", path=path)


def test_the_config_folder_policy_file_is_used_without_an_option(tracker_home: Path) -> None:
    tracker_home.mkdir(parents=True, exist_ok=True)
    write(tracker_home, 'default_policy = "uk-fca"\n')
    assert load_policies().default == "uk-fca"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default_policy = [", "is not valid TOML: "),
        ("colour = 1", "unknown key 'colour' (known: categories, country, default_policy, policy)"),
        ("[categories]\nrefunds = 'general'", "[categories]: unknown category 'refunds'"),
        ("[categories]\ndispute = 'nope'", "[categories]: dispute names unknown policy 'nope'"),
        ('default_policy = "nope"', "default_policy names unknown policy 'nope'"),
        (
            "[[policy.general.threshold]]\nid = 'x'\nwhy = 'w'\nsince = 'opened'\n"
            "after = '3 months'\nsuggest = 'next'",
            "policy 'general' threshold 'x': after: '3 months' is not a span",
        ),
        (
            "[[policy.general.threshold]]\nid = 'x'\nwhy = 'w'\nbroken_promises = 2\n"
            "suggest = 'ceo'",
            "policy 'general' threshold 'x': suggest must be one of supervisor, complaint, "
            "regulator or next, not 'ceo'",
        ),
        (
            "[[policy.general.threshold]]\nid = 'x'\nwhy = 'w'\nbroken_promises = 2\n"
            "levels = ['manager']\nsuggest = 'next'",
            "policy 'general' threshold 'x': unknown level 'manager'",
        ),
        (
            "[[policy.general.threshold]]\nid = 'x'\nsince = 'opened'\nafter = '3d'\n"
            "suggest = 'next'",
            "policy 'general' threshold 'x': needs why",
        ),
        (
            "[[policy.general.threshold]]\nid = 'x'\nwhy = 'w'\nsince = 'opened'\nsuggest = 'next'",
            "policy 'general' threshold 'x': since and after go together",
        ),
        (
            "[[policy.general.threshold]]\nid = 'x'\nwhy = 'w'\nsince = 'opened'\nafter = '3d'",
            "policy 'general' threshold 'x': needs suggest (a level, or next) or action",
        ),
        (
            "[[policy.general.threshold]]\nid = 'x'\nwhy = 'w'\nsince = 'yesterday'\n"
            "after = '3d'\nsuggest = 'next'",
            "unknown since 'yesterday' (known: opened, notice, last_interaction, escalated, "
            "promise_broken)",
        ),
        ("[policy.a]\nextends = 'b'\n[policy.b]\nextends = 'a'", "extends itself"),
        ("[policy.a]\nextends = 'zzz'", "policy 'a': extends unknown policy 'zzz'"),
        ("[policy.a]\npromise_grace = 5", "promise_grace must be a span such as 1d"),
    ],
)
def test_a_bad_policy_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policies(path)
    assert str(caught.value).startswith(f"policy file {path}")
    assert message in str(caught.value)


def test_a_bad_policy_file_makes_due_exit_2_with_one_error_line(
    tracker: Any, tmp_path: Path
) -> None:
    path = write(tmp_path, "[policy.general]\nmood = 'grumpy'\n")
    line = tracker.fails(2, "due", "--policy", str(path))
    assert line == (
        f"Error: policy file {path}: policy 'general': unknown key 'mood' "
        "(known: extends, note, promise_grace, threshold, title)"
    )
    missing = tmp_path / "nope.toml"
    assert tracker.fails(2, "due", "--policy", str(missing)) == (
        f"Error: policy file {missing} does not exist"
    )


def test_a_bad_policy_file_in_the_config_folder_is_reported_too(
    tracker: Any, tracker_home: Path
) -> None:
    tracker_home.mkdir(parents=True, exist_ok=True)
    path = write(tracker_home, "default_policy = 3\n")
    assert tracker.fails(2, "due") == (
        f"Error: policy file {path}: default_policy must be a policy name"
    )


# --------------------------------------------------------------------------- tracker due


def _amex_case(tracker: Any, store: Store) -> None:
    with time_machine.travel(NOW, tick=False):
        tracker.ok("org", "add", "American Express", "--country", "US")
        tracker.ok(
            "case", "open", "Disputed charge at ACME", "--org", "American Express",
            "--category", "dispute",
        )  # fmt: skip
    with store.write() as session:
        case = session.get(Case, 1)
        assert case is not None and case.organization_id is not None
        session.add(
            ContactPoint(
                organization_id=case.organization_id,
                kind="phone",
                value="+1 800-528-2122",
                label="Card Member Services",
                level="supervisor",
            )
        )


def test_due_lists_a_crossed_threshold_with_its_suggestion_and_contact(
    tracker: Any, store: Store
) -> None:
    _amex_case(tracker, store)
    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        items = tracker.json("due", "--within", "1h")
        out = tracker.ok("due", "--within", "1h")
    thresholds = [i for i in items if i["kind"] == "threshold"]
    assert [(t["case_id"], t["text"]) for t in thresholds] == [
        (1, "no progress for 14 days since the last contact"),
        (1, "30 days since the billing-error notice"),
    ]
    fcba = thresholds[1]
    assert fcba["due_at"] == "2026-12-26T14:00:00+00:00"
    assert fcba["overdue"] is True
    assert fcba["suggestion"].startswith("ask for a supervisor, call +1 800-528-2122")
    assert "must acknowledge a written billing-error notice within 30 days" in fcba["suggestion"]
    assert fcba["suggestion"].endswith("Guidance, not legal advice.")
    assert "30 days since the billing-error notice. Next: ask for a supervisor" in out


def test_due_stops_listing_a_threshold_once_the_case_is_escalated_past_it(
    tracker: Any, store: Store
) -> None:
    _amex_case(tracker, store)
    with time_machine.travel(NOW + timedelta(days=31), tick=False):
        tracker.ok("case", "escalate", "1", "--to", "supervisor")
        items = tracker.json("due", "--within", "1h")
    assert [i for i in items if i["kind"] == "threshold"] == []


def test_due_counts_promises_the_company_broke(tracker: Any, store: Store) -> None:
    with time_machine.travel(NOW, tick=False):
        tracker.ok("case", "open", "Missing refund", "--category", "payment")
        tracker.ok("case", "promise", "1", "Refund", "--due", "2026-11-27 09:00")
        tracker.ok("case", "promise", "1", "Call back", "--due", "2026-11-28 09:00")
        tracker.ok("promise", "broken", "1")
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        items = tracker.json("due")
    rule = [i for i in items if i["kind"] == "threshold"]
    # The first was marked broken at NOW; the second counts from its due time + 1 day grace.
    assert [(r["text"], r["due_at"]) for r in rule] == [
        ("the company has broken 2 promises", "2026-11-29T09:00:00+00:00")
    ]
    assert rule[0]["suggestion"].startswith("ask for a supervisor (rule of thumb")


def test_due_with_a_policy_file_uses_it(tracker: Any, store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[policy.general.threshold]]
        id = "one-day"
        since = "opened"
        after = "1d"
        action = "call them again"
        why = "a day has passed"
        """,
    )
    with time_machine.travel(NOW, tick=False):
        tracker.ok("case", "open", "Card not arrived", "--category", "card_replacement")
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        plain = tracker.json("due")
        mine = tracker.json("due", "--policy", str(path))
    assert [i for i in plain if i["kind"] == "threshold"] == []
    assert [(i["text"], i["suggestion"]) for i in mine if i["kind"] == "threshold"] == [
        ("a day has passed", f"call them again. {DISCLAIMER}")
    ]
    assert json.loads(json.dumps(mine))  # plain JSON all the way


def test_the_built_in_policies_are_parsed_once_and_never_changed_by_an_overlay(
    tmp_path: Path,
) -> None:
    """load_policies keeps the built-in file's parse for the process (the command server
    parses it before it forks): a user's file laid over it changes only its own result."""
    before = load_policies()
    general = before.policies["general"]
    own = write(
        tmp_path,
        '[policy.general]\npromise_grace = "5d"\n'
        '[[policy.general.threshold]]\nid = "silence-14d"\nafter = "3bd"\n',
    )
    changed = load_policies(own)
    assert changed.policies["general"].promise_grace == Span(5, "d")
    assert changed.policies["general"] != general
    assert {t.id: t.after for t in changed.policies["general"].thresholds}["silence-14d"] == Span(
        3, "bd"
    )
    again = load_policies()
    assert again is before  # the same built object, not a new parse
    assert again.policies["general"] == general
    assert again.policies["general"].promise_grace != Span(5, "d")
    assert {t.id: t.after for t in again.policies["general"].thresholds}["silence-14d"] == Span(
        14, "d"
    )
