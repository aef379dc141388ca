"""The test infrastructure itself: real notification server, plyer over D-Bus, PostgreSQL.

Skipped when the tools are missing, except with TRACKER_REQUIRE_SERVERS=1 (CI), where a
missing tool is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import (
    REQUIRE_ENV,
    NotificationServer,
    create_database,
    desktop_tools_missing,
    notification_server,
    postgres_server,
    postgres_tools_missing,
    skip_or_fail,
)

PLYER_NOTIFY = (
    "from plyer import notification; "
    "notification.notify(title='T', message='M', app_name='tracker')"
)


def _dbus_python_missing() -> str | None:
    if importlib.util.find_spec("dbus") is None:
        return (
            "dbus-python is not installed (pip install -e '.[desktop]'; building it needs "
            "apt libdbus-1-dev libglib2.0-dev pkg-config)"
        )
    return None


def _notify_send_missing() -> str | None:
    if shutil.which("notify-send") is None:
        return "notify-send is missing (apt-get install libnotify-bin)"
    return None


def _env(server: NotificationServer) -> dict[str, str]:
    return {**os.environ, **server.env}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_open(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotificationServer]:
    skip_or_fail(desktop_tools_missing())
    with notification_server(tmp_path_factory.mktemp("desktop")) as server:
        yield server


@pytest.fixture
def server(desktop: NotificationServer) -> NotificationServer:
    desktop.clear()
    return desktop


# --------------------------------------------------------------------------- notify-send


@pytest.mark.desktop
def test_notify_send_arrives_exactly_once(server: NotificationServer) -> None:
    skip_or_fail(_notify_send_missing())
    body = "Body with, commas\nand a second line"
    subprocess.run(["notify-send", "Title", body], env=_env(server), check=True, timeout=10)

    found = server.wait_for(1)
    time.sleep(0.5)  # would a duplicate show up?
    found = server.notifications()

    assert [(n.summary, n.body) for n in found] == [("Title", body)]
    assert found[0].urgency == "normal"


@pytest.mark.desktop
def test_notify_send_fields_survive_the_logger(server: NotificationServer) -> None:
    skip_or_fail(_notify_send_missing())
    # No backslashes: notify-send itself turns a typed "\\n" into a newline (g_strcompress).
    body = "Fällig 🚨\tRef \"A-1\" 'x' $HOME `id` <b>bold</b> & more\nline 2"
    cmd = ["notify-send", "-a", "tracker", "-u", "critical", "-c", "tracker.promise"]
    subprocess.run([*cmd, "Über: 100%", body], env=_env(server), check=True, timeout=10)

    (n,) = server.wait_for(1)

    assert (n.appname, n.summary, n.body) == ("tracker", "Über: 100%", body)
    assert (n.urgency, n.category) == ("critical", "tracker.promise")


@pytest.mark.desktop
def test_identical_notifications_are_each_logged(server: NotificationServer) -> None:
    skip_or_fail(_notify_send_missing())
    for _ in range(2):
        subprocess.run(["notify-send", "Same", "same"], env=_env(server), check=True, timeout=10)

    found = server.wait_for(2)

    assert [(n.summary, n.body) for n in found] == [("Same", "same")] * 2
    assert found[0].id < found[1].id


@pytest.mark.desktop
def test_wait_for_returns_what_is_there_on_timeout(server: NotificationServer) -> None:
    started = time.monotonic()
    assert server.wait_for(1, timeout=0.3) == []
    assert 0.3 <= time.monotonic() - started < 2


# --------------------------------------------------------------------------- plyer


@pytest.mark.desktop
def test_plyer_notifies_over_dbus(server: NotificationServer) -> None:
    skip_or_fail(_dbus_python_missing())
    result = subprocess.run(
        [sys.executable, "-c", PLYER_NOTIFY],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "dbus package is not installed" not in result.stderr  # it used dbus-python

    found = server.wait_for(1)

    assert [(n.appname, n.summary, n.body) for n in found] == [("tracker", "T", "M")]


@pytest.mark.desktop
def test_plyer_text_arrives_verbatim(server: NotificationServer) -> None:
    skip_or_fail(_dbus_python_missing())
    title = "Ref #A-1: «call back» 🚨"
    message = "back\\slash \\n not a newline\ttab <b>markup</b> &amp; 'q' \"dq\"\nline 2\n"
    code = (
        "import sys; from plyer import notification; "
        "notification.notify(title=sys.argv[1], message=sys.argv[2], app_name='tracker')"
    )
    subprocess.run(
        [sys.executable, "-c", code, title, message], env=_env(server), check=True, timeout=30
    )

    (n,) = server.wait_for(1)

    assert (n.appname, n.summary, n.body) == ("tracker", title, message)


def test_plyer_raises_when_the_bus_is_unreachable(tmp_path: Path) -> None:
    skip_or_fail(_dbus_python_missing())
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path}/no-such-bus"
    result = subprocess.run(
        [sys.executable, "-c", PLYER_NOTIFY],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "DBusException" in result.stderr


# --------------------------------------------------------------------------- teardown


@pytest.mark.desktop
def test_notification_server_stops_everything_even_on_error(tmp_path: Path) -> None:
    skip_or_fail(desktop_tools_missing())
    with pytest.raises(ZeroDivisionError), notification_server(tmp_path) as server:
        pids = dict(server.pids)
        display = server.display
        assert all(_alive(pid) for pid in pids.values())
        1 / 0  # noqa: B018

    assert {name: _alive(pid) for name, pid in pids.items()} == dict.fromkeys(pids, False)
    assert not Path(f"/tmp/.X{display[1:]}-lock").exists()


# --------------------------------------------------------------------------- PostgreSQL


def test_postgres_server_select_and_second_database(tmp_path: Path) -> None:
    skip_or_fail(postgres_tools_missing())
    import sqlalchemy as sa

    with postgres_server(tmp_path) as url:
        assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        assert url.endswith("/postgres")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            assert conn.execute(sa.text("SHOW server_encoding")).scalar_one() == "UTF8"
        engine.dispose()

        second = create_database(url, "tracker_second")
        assert second == url.rsplit("/", 1)[0] + "/tracker_second"
        engine = sa.create_engine(second)
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == (
                "tracker_second"
            )
            conn.execute(sa.text("CREATE TABLE t (x int)"))
        engine.dispose()

    assert not _port_open(url)
    assert (tmp_path / "postgres.log").exists()


def test_postgres_server_stops_even_on_error(tmp_path: Path) -> None:
    skip_or_fail(postgres_tools_missing())
    with pytest.raises(ZeroDivisionError), postgres_server(tmp_path) as url:
        assert _port_open(url)
        1 / 0  # noqa: B018

    assert not _port_open(url)


# --------------------------------------------------------------------------- skip_or_fail


def test_skip_or_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_or_fail(None)  # no reason: nothing happens
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="no Xvfb"):
        skip_or_fail("no Xvfb")
    monkeypatch.delenv(REQUIRE_ENV)
    with pytest.raises(pytest.skip.Exception, match="no Xvfb"):
        skip_or_fail("no Xvfb")
