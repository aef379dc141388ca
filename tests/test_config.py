"""`tracker config`: the settings file, written without losing what else is in it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tracker.config import config_file


@pytest.fixture
def cfg(tracker: Any) -> Path:
    return config_file()


def test_set_keeps_the_other_keys_and_comments(tracker: Any, cfg: Path) -> None:
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        '# my settings\ncountry = "GB"\naddress = """\nOld line\nOld town"""\n'
        'notify = ["desktop", "apprise:mailto://me:s3cret@smtp.example.org"]\n',
        encoding="utf-8",
    )
    assert tracker.ok("config", "set", "name", "Ada Lovelace") == (
        f"Set name to Ada Lovelace in {cfg}.\n"
    )
    tracker.ok("config", "set", "address", "1 Main St", "Springfield, IL 62701")
    text = cfg.read_text(encoding="utf-8")
    assert text == (
        '# my settings\ncountry = "GB"\n'
        'notify = ["desktop", "apprise:mailto://me:s3cret@smtp.example.org"]\n'
        'name = "Ada Lovelace"\naddress = ["1 Main St", "Springfield, IL 62701"]\n'
    )
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600  # a notifier's password is in it
    assert tracker.ok("config", "get", "address") == "1 Main St\nSpringfield, IL 62701\n"


def test_an_address_typed_with_backslash_n_is_its_lines(tracker: Any, cfg: Path) -> None:
    tracker.ok("config", "set", "address", "1 High Street\\nLondon  SW1A 1AA")
    assert tracker.json("config", "get", "address") == {
        "key": "address",
        "values": ["1 High Street", "London SW1A 1AA"],
    }


def test_show_lists_every_key_and_hides_a_password(tracker: Any, cfg: Path) -> None:
    tracker.ok("config", "set", "notify", "desktop", "apprise:mailto://me:s3cret@smtp.example")
    tracker.ok("config", "set", "email", "ada@example.org")
    shown = tracker.ok("config", "show")
    assert "s3cret" not in shown and "apprise:mailto://me:***@smtp.example" in shown
    assert "  name        (not set)\n" in shown
    data = tracker.json("config", "show")
    assert data["file"] == str(cfg)
    assert list(data["settings"]) == [
        "country", "date_order", "time_zone", "notify", "name", "address", "email", "locale",
        "server",
    ]  # fmt: skip
    assert data["settings"]["email"] == "ada@example.org"
    assert data["settings"]["name"] is None


def test_bad_values_are_refused_and_nothing_is_written(tracker: Any, cfg: Path) -> None:
    tracker.ok("config", "set", "name", "Ada")
    before = cfg.read_bytes()
    assert tracker.fails(2, "config", "set", "email", "ada") == (
        "Error: email 'ada' is not an email address (name@example.org)"
    )
    assert tracker.fails(2, "config", "set", "name", "4111 1111 1111 1111") == (
        "Error: name holds card data ('•••• 1111'); remove it"
    )
    assert tracker.fails(2, "config", "set", "name", "Ada", "Byron") == (
        "Error: name takes one value, not 2"
    )
    assert tracker.fails(2, "config", "set", "country", "Narnia").startswith(
        "Error: invalid country 'Narnia'"
    )
    assert tracker.fails(2, "config", "set", "locale", "english").startswith(
        "Error: locale 'english' is not a locale"
    )
    assert "Error: " in tracker.fails(2, "config", "set", "colour", "red")
    assert tracker.fails(2, "config", "set", "server", "maybe") == (
        "Error: server is true or false, not 'maybe'"
    )
    assert cfg.read_bytes() == before


def test_the_command_server_can_be_turned_off(tracker: Any, cfg: Path) -> None:
    assert tracker.ok("config", "set", "server", "off").startswith("Set server to false")
    assert "server = false\n" in cfg.read_text(encoding="utf-8")
    assert tracker.json("config", "get", "server")["values"] == ["false"]
    tracker.ok("config", "set", "server", "true")
    assert "server = true\n" in cfg.read_text(encoding="utf-8")


def test_get_of_a_key_not_set_fails_and_unset_removes_it(tracker: Any, cfg: Path) -> None:
    assert tracker.fails(1, "config", "get", "name") == "Error: name is not set"
    tracker.ok("config", "set", "name", "Ada")
    tracker.ok("config", "set", "country", "gb-sct")
    assert tracker.ok("config", "get", "country") == "GB-SCT\n"
    assert tracker.ok("config", "unset", "name") == f"Removed name from {cfg}.\n"
    assert tracker.fails(1, "config", "get", "name") == "Error: name is not set"
    assert tracker.json("config", "get", "country") == {"key": "country", "values": ["GB-SCT"]}
