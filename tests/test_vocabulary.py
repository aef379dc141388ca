"""Every channel and level has its words, and the letters and suggestions use them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Tracker

from tracker.advice import describe_contact
from tracker.models import ContactPoint
from tracker.vocabulary import CHANNEL, CHANNELS, CONTACT_KINDS, LEVEL, LEVELS


@pytest.mark.parametrize("name", CHANNELS)
def test_every_channel_has_every_phrase(name: str) -> None:
    channel = CHANNEL[name]
    for phrase in (channel.label, channel.we_contacted, channel.they_contacted):
        assert phrase.strip() and phrase == phrase.strip()
    assert channel.via_out and channel.via_in
    assert channel.reference_kind


def test_contact_point_kinds_are_the_channels_with_a_verb() -> None:
    assert set(CONTACT_KINDS) <= set(CHANNELS)
    for name in CONTACT_KINDS:
        point = ContactPoint(kind=name, value="x", level="frontline")
        assert describe_contact(point).startswith(f"{CHANNEL[name].contact_verb} ")


@pytest.mark.parametrize("name", LEVELS)
def test_every_level_has_an_action_and_every_rung_above_the_first_its_words(name: str) -> None:
    level = LEVEL[name]
    assert level.action
    assert bool(level.escalated) == (name != LEVELS[0])


def test_a_letter_tells_each_channel_in_its_own_words(
    tracker: Tracker, tmp_path: Path, backend: str
) -> None:
    tracker.ok("case", "open", "Refund", "--org", "Acme")
    for name in CHANNELS:
        tracker.ok("case", "contact", "1", "--channel", name, "--summary", f"by {name}")
        tracker.ok("case", "contact", "1", "--channel", name, "--direction", "in")
    letter = tracker.ok("case", "letter", "1")
    for name in CHANNELS:
        assert CHANNEL[name].we_contacted in letter
        assert CHANNEL[name].they_contacted in letter
    assert "We were in contact" not in letter
