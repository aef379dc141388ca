"""`tracker daemon install`: no secret in the unit, the graphical session's ordering, and a
unit that `systemd-analyze --user verify` accepts.

A database URL with a password and every Apprise URL go into an EnvironmentFile= (0600)
beside the config; the unit names the variables only, so `systemctl --user show` never
displays a secret.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import servers
from conftest import Tracker

from tracker.service import EnvWord, UnitValueError, env_file_text, unit_text, url_has_password

pytestmark = pytest.mark.backends("sqlite")

PASSWORD = "pa$$w'rd%1"
PG_URL = "postgresql+psycopg://tracker:hunter2secret@db.example.org/tracker"


@pytest.fixture
def cli(home_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tracker:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return Tracker()


def unit(tmp_path: Path) -> str:
    return (tmp_path / "config" / "systemd" / "user" / "tracker-daemon.service").read_text()


def env_file(tracker_home: Path) -> Path:
    return tracker_home / "daemon.env"  # the config folder: TRACKER_HOME when it is set


def test_a_database_password_goes_into_a_private_environment_file(
    cli: Tracker, tmp_path: Path, tracker_home: Path
) -> None:
    # `daemon install` only writes the unit: the server need not exist.
    cli.ok("--db", PG_URL, "daemon", "install", "--notifier", "console")
    text = unit(tmp_path)
    assert "hunter2secret" not in text
    assert "TRACKER_DB" not in text
    assert f"EnvironmentFile={env_file(tracker_home)}\n" in text
    assert f"Environment=TRACKER_HOME={tracker_home}\n" in text  # no secret: stays visible
    secrets = env_file(tracker_home)
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.read_text().splitlines()[1:] == [f"TRACKER_DB='{PG_URL}'"]


def test_apprise_urls_are_named_in_the_unit_and_kept_in_the_environment_file(
    cli: Tracker, tmp_path: Path, tracker_home: Path
) -> None:
    pytest.importorskip("apprise")
    first = f"apprise:json://bot:{PASSWORD}@127.0.0.1:9/hook"
    second = "apprise:ntfys://ntfy.sh/my-secret-topic-x7"
    cli.ok(
        "daemon", "install", "--notifier", "desktop", "--notifier", first,
        "--notifier", second, "--notifier", "command:notify-send",
    )  # fmt: skip
    text = unit(tmp_path)
    assert PASSWORD not in text and "my-secret-topic" not in text
    assert (
        "daemon run --notifier desktop --notifier ${TRACKER_NOTIFIER_1} "
        "--notifier ${TRACKER_NOTIFIER_2} --notifier command:notify-send\n"
    ) in text
    lines = env_file(tracker_home).read_text().splitlines()[1:]
    assert lines == [
        # A value with a single quote is double-quoted, its $ escaped: systemd reads it back.
        'TRACKER_NOTIFIER_1="apprise:json://bot:pa\\$\\$w\'rd%1@127.0.0.1:9/hook"',
        f"TRACKER_NOTIFIER_2='{second}'",
    ]


def test_no_secret_no_environment_file_and_an_old_one_is_removed(
    cli: Tracker, tmp_path: Path, tracker_home: Path
) -> None:
    cli.ok("--db", PG_URL, "daemon", "install", "--notifier", "console")
    assert env_file(tracker_home).exists()
    cli.ok("daemon", "install", "--notifier", "console")
    assert not env_file(tracker_home).exists()
    assert "EnvironmentFile" not in unit(tmp_path)


def test_the_desktop_notifier_follows_the_graphical_session(cli: Tracker, tmp_path: Path) -> None:
    cli.ok("daemon", "install")  # the default: desktop
    text = unit(tmp_path)
    assert "After=graphical-session.target\nPartOf=graphical-session.target\n" in text
    assert "WantedBy=default.target graphical-session.target\n" in text
    cli.ok("daemon", "install", "--notifier", "console")
    text = unit(tmp_path)
    assert "graphical-session" not in text
    assert "WantedBy=default.target\n" in text


def test_the_config_files_notifiers_decide_the_ordering_and_stay_out_of_the_unit(
    cli: Tracker, tmp_path: Path, tracker_home: Path
) -> None:
    pytest.importorskip("apprise")
    tracker_home.mkdir(parents=True, exist_ok=True)
    (tracker_home / "config.toml").write_text(
        f'notify = ["apprise:json://bot:{PASSWORD.replace(chr(39), "")}@127.0.0.1:9/h"]\n'
    )
    cli.ok("daemon", "install")
    text = unit(tmp_path)
    assert "--notifier" not in text and "graphical-session" not in text
    assert not env_file(tracker_home).exists()  # the daemon reads the config file itself


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        (PG_URL, True),
        ("postgresql://tracker@db/tracker?password=x", True),
        ("postgresql://tracker@db/tracker", False),
        ("sqlite:////home/me/tracker.db", False),
    ],
)
def test_which_database_urls_hold_a_password(url: str, secret: bool) -> None:
    assert url_has_password(url) is secret


def test_the_environment_file_refuses_control_characters() -> None:
    with pytest.raises(UnitValueError):
        env_file_text({"TRACKER_DB": "postgresql://a:b\n@c/d"})


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    servers.skip_or_fail(None if found else "systemd-analyze is not installed (apt: systemd)")
    assert found
    return found


@pytest.mark.parametrize("graphical", [True, False], ids=["desktop", "console"])
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path, graphical: bool) -> None:
    analyze = systemd_analyze()
    secrets = tmp_path / "daemon.env"
    secrets.write_text(env_file_text({"TRACKER_DB": PG_URL, "TRACKER_NOTIFIER_1": "apprise:x"}))
    argv: list[str | EnvWord] = [sys.executable, "-m", "tracker", "daemon", "run"]
    argv += ["--notifier", "desktop" if graphical else "console"]
    argv += ["--notifier", EnvWord("TRACKER_NOTIFIER_1"), "--poll", "10"]
    text = unit_text(argv, {"TRACKER_HOME": str(tmp_path / "100% home")}, env_file=secrets,
                     graphical=graphical)  # fmt: skip
    path = tmp_path / "tracker-daemon.service"
    path.write_text(text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    result = subprocess.run(
        [analyze, "--user", "verify", str(path)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    if "Failed to initialize manager" in result.stderr:
        servers.skip_or_fail(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_systemd_analyze_notices_a_bad_unit(tmp_path: Path) -> None:
    # The check above can fail: a directive systemd does not know is reported.
    analyze = systemd_analyze()
    text = unit_text([sys.executable, "daemon", "run"], {}).replace("Type=simple", "Type=simpel")
    path = tmp_path / "tracker-daemon.service"
    path.write_text(text)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    result = subprocess.run(
        [analyze, "--user", "verify", str(path)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert "simpel" in result.stderr
