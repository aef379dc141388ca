"""Several notifiers as channels, and `notify` in the config file (no Apprise needed here).

A reminder is shown when at least one channel confirmed it; a channel that failed is
reported, not retried; with no channel confirming, it stays due; with every channel unable
to show anything, nothing is claimed at all.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from conftest import Tracker
from helpers import NOW

from tracker.notify import (
    ConsoleNotifier,
    Notifiers,
    NotifyError,
    mask_secrets,
    notifier_specs,
    split_urls,
)

pytestmark = pytest.mark.backends("sqlite")


class Channel:
    def __init__(self, name: str, *, fails: str | None = None, down: bool = False) -> None:
        self.name = name
        self.fails = fails
        self.down = down
        self.shown: list[str] = []

    def check(self) -> None:
        if self.down:
            raise NotifyError(f"cannot reach {self.name}", unavailable=True)

    def notify(self, title: str, body: str) -> str | None:
        if self.fails:
            raise NotifyError(self.fails)
        self.shown.append(title)
        return "7"


def test_shown_when_one_channel_confirmed_and_the_failure_is_kept() -> None:
    good, bad = Channel("good"), Channel("bad", fails="refused")
    both = Notifiers([bad, good])
    both.check()
    assert both.notify("t", "b") == "good=7"
    assert good.shown == ["t"]
    assert both.missed == ["bad: refused"]


def test_no_channel_confirmed_is_a_failure_naming_each() -> None:
    both = Notifiers([Channel("a", fails="no"), Channel("b", fails="nope")])
    both.check()
    with pytest.raises(NotifyError) as raised:
        both.notify("t", "b")
    assert str(raised.value) == "a: no; b: nope"
    assert both.missed == []  # not shown: nothing is "missed", the whole thing failed
    assert not raised.value.unavailable


def test_a_channel_that_is_down_is_skipped_and_all_down_is_unavailable() -> None:
    down, up = Channel("down", down=True), Channel("up")
    mixed = Notifiers([down, up])
    mixed.check()
    assert mixed.notify("t", "b") == "up=7"
    assert mixed.missed == ["down: cannot reach down"]
    nothing = Notifiers([Channel("x", down=True), Channel("y", down=True)])
    with pytest.raises(NotifyError) as raised:
        nothing.check()
    assert raised.value.unavailable


def test_remind_check_with_a_console_and_a_failing_command(tracker: Tracker) -> None:
    with time_machine.travel(NOW, tick=False):
        tracker.ok("case", "open", "Refund", "--follow-up", "1h")
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        result = tracker("remind", "check", "--notifier", "console", "--notifier", "command:false")
        assert result.exit_code == 0, result.stderr
        assert "Refund" in result.stdout
        assert result.stderr == (
            "Warning: shown, but one channel failed: command:false: 'false' exited with code 1\n"
        )
        # Shown: not again, on either channel.
        again = tracker("remind", "check", "--notifier", "console", "--notifier", "command:false")
        assert (again.exit_code, again.stdout, again.stderr) == (0, "", "")


def test_remind_check_keeps_it_due_when_no_channel_confirmed(tracker: Tracker) -> None:
    with time_machine.travel(NOW, tick=False):
        tracker.ok("case", "open", "Refund", "--follow-up", "1h")
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        line = tracker.fails(
            1, "remind", "check", "--notifier", "command:false", "--notifier", "command:false -x"
        )
        assert line == (
            "Error: could not show 1 reminder (command:false: 'false' exited with code 1; "
            "command:false -x: 'false' exited with code 1); kept for later"
        )


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_the_config_file_names_the_notifiers(tracker: Tracker, tracker_home: Path) -> None:
    write_config(tracker_home, 'notify = "console"\n')
    with time_machine.travel(NOW, tick=False):
        tracker.ok("case", "open", "Refund", "--follow-up", "1h")
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        assert "Refund" in tracker.ok("remind", "check")


def test_notifier_specs_prefer_the_option_then_the_config_then_the_desktop(
    tracker_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (The config file is read once per process and folder: written before it is read.)
    write_config(tracker_home, 'notify = ["console", "apprise:json://a/b, json://c/d"]\n')
    assert notifier_specs([]) == ["console", "apprise:json://a/b", "apprise:json://c/d"]
    assert notifier_specs(["desktop"]) == ["desktop"]
    monkeypatch.setenv("TRACKER_HOME", str(tmp_path / "no-config"))
    assert notifier_specs([]) == ["desktop"]
    assert notifier_specs(["console"]) == ["console"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("notify = 3\n", "notify must be a notifier or a list of them, as text"),
        ("notify = []\n", "notify must be a notifier or a list of them, as text"),
        ('notify = ["growl"]\n', "unknown notifier 'growl' in notify"),
        (
            'notify = ["mailto://me:pw@x"]\n',
            "unknown notifier 'mailto://...' in notify",  # no password echoed
        ),
        ('notify = ["apprise:"]\n', "unknown notifier 'apprise:' in notify"),
    ],
)
def test_a_bad_notify_in_the_config_file_is_bad_input(
    tracker: Tracker, tracker_home: Path, text: str, error: str
) -> None:
    write_config(tracker_home, text)
    line = tracker.fails(2, "remind", "check")
    assert error in line
    assert "pw@" not in line


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ("json://a/b", ["json://a/b"]),
        ("json://a/b json://c/d", ["json://a/b", "json://c/d"]),
        ("mailto://me:pw@x?to=a@b.org,c@d.org, ntfy://t", ["mailto://me:pw@x?to=a@b.org,c@d.org",
                                                          "ntfy://t"]),
        ("  ", []),
    ],
)  # fmt: skip
def test_split_urls(value: str, urls: list[str]) -> None:
    assert split_urls(value) == urls


def test_mask_secrets() -> None:
    assert mask_secrets("postgresql://me:hunter2@db/x and mailto://a:b@c") == (
        "postgresql://me:****@db/x and mailto://a:****@c"
    )
    assert mask_secrets("ntfy://topic") == "ntfy://topic"


def test_console_is_always_available() -> None:
    ConsoleNotifier().check()


def test_without_apprise_installed_the_apprise_notifier_is_bad_input_saying_how(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker.ok("db", "upgrade")
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if the extra were not installed
    line = tracker.fails(2, "remind", "check", "--notifier", "apprise:ntfy://my-topic")
    assert line == (
        "Error: the apprise notifier needs Apprise (the apprise extra): pip install apprise"
    )
