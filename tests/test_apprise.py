"""The Apprise notifier end to end: a real SMTP server (aiosmtpd) and a real HTTP endpoint
(Apprise's json:// target, served by http.server) on the loopback address.

A reminder is shown once, only when delivered; a refused delivery (SMTP 550, HTTP 500)
keeps it due and `remind check` exits 1. No card digits are ever sent, and the URL's
password never shows in an error, a log line or `daemon status`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from conftest import Tracker

from tracker.notify import AppriseNotifier, Notifiers, NotifyError, make_notifiers

pytest.importorskip("apprise")
pytest.importorskip("aiosmtpd")

pytestmark = pytest.mark.backends("sqlite")  # the notifier, not the store, is under test

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)
PASSWORD = "s3cret-Pw9"
CARD = "4111 1111 1111 1111"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- SMTP


class Mailbox:
    """What the SMTP server accepted; `answer` is what it says to the next message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []
        self.answer = "250 OK"
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer.startswith("250"):
            self.raw.append(bytes(envelope.content))
            self.messages.append(message_from_bytes(envelope.content))
        return self.answer


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        box.logins.append((data.login, data.password))
        return AuthResult(success=data.password == PASSWORD.encode())

    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def mail_text(message: Message) -> str:
    """The message's text parts, decoded (quoted-printable, base64)."""
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(parts)


def mailto(port: int) -> str:
    return (
        f"apprise:mailto://me:{PASSWORD}@127.0.0.1:{port}"
        "?from=tracker@example.org&to=me@example.org&secure=no"
    )


# --------------------------------------------------------------------------- HTTP


class Endpoint:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.status = 200
        self.port = 0


@pytest.fixture
def http() -> Iterator[Endpoint]:
    endpoint = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if endpoint.status < 300:
                endpoint.raw.append(body)
                endpoint.posts.append(json.loads(body))
            self.send_response(endpoint.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def json_url(endpoint: Endpoint, path: str = "hook") -> str:
    return f"apprise:json://bot:{PASSWORD}@127.0.0.1:{endpoint.port}/{path}"


# --------------------------------------------------------------------------- the story


def due_follow_up(tracker: Tracker) -> None:
    with time_machine.travel(T0, tick=False):
        out = tracker.ok(
            "case", "open", f"Lost card {CARD}", "--org", "Acme Bank",
            "--follow-up", "2026-03-02 10:00",
        )  # fmt: skip
    assert "Opened case 1" in out


def check(tracker: Tracker, *notifiers: str, at: datetime = LATER) -> Any:
    args = [arg for spec in notifiers for arg in ("--notifier", spec)]
    with time_machine.travel(at, tick=False):
        return tracker("remind", "check", *args)


def no_card_digits(data: bytes | str) -> None:
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    digits = "".join(ch for ch in text if ch.isdigit())
    assert "4111111111111111" not in digits.replace(" ", "")
    assert CARD not in text and "4111" not in text


def test_a_reminder_by_email_arrives_once_without_card_digits(
    tracker: Tracker, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    due_follow_up(tracker)
    result = check(tracker, mailto(port))
    assert result.exit_code == 0, result.stderr
    assert len(box.messages) == 1
    message = box.messages[0]
    assert message["To"] == "me@example.org"
    assert "Acme Bank" in str(message["Subject"])
    text = mail_text(message)
    assert "Lost card •••• 1111" in text
    no_card_digits(text)
    no_card_digits(box.raw[0])
    assert box.logins == [(b"me", PASSWORD.encode())]
    # Shown once: the next run sends nothing.
    assert check(tracker, mailto(port), at=LATER + timedelta(hours=1)).exit_code == 0
    assert len(box.messages) == 1


def test_a_refused_email_keeps_the_reminder_due_and_says_so_without_the_password(
    tracker: Tracker, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    due_follow_up(tracker)
    box.answer = "550 mailbox unavailable"
    result = check(tracker, mailto(port))
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: could not show 1 reminder (apprise:mailto://me:****@127.0.0")
    assert "550" in line and line.endswith("kept for later")
    assert PASSWORD not in result.stderr
    assert box.messages == []
    with time_machine.travel(LATER, tick=False):
        status = tracker.json("daemon", "status")
    (upcoming,) = [u for u in status["upcoming"] if u["kind"] == "follow_up"]
    assert upcoming["attempt_count"] == 1
    assert "apprise:mailto://me:****@" in upcoming["last_error"]
    assert PASSWORD not in json.dumps(status)
    with time_machine.travel(LATER, tick=False):
        assert PASSWORD not in tracker.ok("daemon", "status")
    # The server takes mail again: the retry delivers it, once.
    box.answer = "250 OK"
    assert check(tracker, mailto(port), at=LATER + timedelta(hours=1)).exit_code == 0
    assert len(box.messages) == 1


def test_a_reminder_by_http_arrives_once_without_card_digits(
    tracker: Tracker, http: Endpoint
) -> None:
    due_follow_up(tracker)
    result = check(tracker, json_url(http))
    assert result.exit_code == 0, result.stderr
    (post,) = http.posts
    assert "Acme Bank" in post["title"]
    assert "Lost card •••• 1111" in post["message"]
    no_card_digits(http.raw[0])
    assert check(tracker, json_url(http), at=LATER + timedelta(hours=1)).exit_code == 0
    assert len(http.posts) == 1


def test_an_http_500_keeps_the_reminder_due(tracker: Tracker, http: Endpoint) -> None:
    due_follow_up(tracker)
    http.status = 500
    result = check(tracker, json_url(http))
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert f"apprise:json://bot:****@127.0.0.1:{http.port}/hook: not delivered" in line
    assert "500" in line and PASSWORD not in line
    http.status = 200
    assert check(tracker, json_url(http), at=LATER + timedelta(hours=1)).exit_code == 0
    assert len(http.posts) == 1


def test_the_notifier_masks_card_digits_in_what_it_sends(http: Endpoint) -> None:
    notifier = make_notifiers([json_url(http)])
    assert isinstance(notifier, AppriseNotifier)
    notifier.notify(f"Card {CARD}", f"Call about {CARD}, CVV 123")
    (post,) = http.posts
    no_card_digits(http.raw[0])
    assert "•••• 1111" in post["title"] and "CVV •••" in post["message"]


def test_several_channels_shown_when_one_delivered_and_the_other_is_reported(
    tracker: Tracker, http: Endpoint, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    box.answer = "550 mailbox unavailable"
    due_follow_up(tracker)
    result = check(tracker, mailto(port), json_url(http))
    assert result.exit_code == 0, result.stderr
    assert len(http.posts) == 1 and box.messages == []
    (line,) = result.stderr.splitlines()
    assert line.startswith("Warning: shown, but one channel failed: apprise:mailto://me:****@")
    assert PASSWORD not in line
    # Shown: neither channel gets it again.
    box.answer = "250 OK"
    assert (
        check(tracker, mailto(port), json_url(http), at=LATER + timedelta(hours=1)).exit_code == 0
    )
    assert len(http.posts) == 1 and box.messages == []


def test_several_urls_in_one_value_are_a_channel_each(http: Endpoint) -> None:
    both = f"{json_url(http, 'one')}, json://bot:{PASSWORD}@127.0.0.1:{http.port}/two"
    notifier = make_notifiers([both])
    assert isinstance(notifier, Notifiers)
    assert [c.name for c in notifier.channels] == [
        f"apprise:json://bot:****@127.0.0.1:{http.port}/one",
        f"apprise:json://bot:****@127.0.0.1:{http.port}/two",
    ]
    assert notifier.notify("t", "b") == "apprise=ok,apprise=ok"
    assert len(http.posts) == 2


def test_every_channel_refused_keeps_it_due(tracker: Tracker, http: Endpoint) -> None:
    due_follow_up(tracker)
    http.status = 500
    result = check(tracker, json_url(http, "one"), json_url(http, "two"))
    assert result.exit_code == 1
    assert "/one: not delivered" in result.stderr and "/two: not delivered" in result.stderr
    with pytest.raises(NotifyError):
        make_notifiers([json_url(http)]).notify("t", "b")


def test_the_config_file_names_the_notifiers(
    tracker: Tracker, http: Endpoint, tracker_home: Path
) -> None:
    tracker_home.mkdir(parents=True, exist_ok=True)
    (tracker_home / "config.toml").write_text(f'notify = ["{json_url(http)}"]\n')
    due_follow_up(tracker)
    result = check(tracker)
    assert result.exit_code == 0, result.stderr
    assert len(http.posts) == 1


def test_a_url_apprise_cannot_use_is_bad_input(tracker: Tracker) -> None:
    tracker.ok("db", "upgrade")
    line = tracker.fails(2, "remind", "check", "--notifier", f"apprise:nosuch://me:{PASSWORD}@x")
    assert line.startswith("Error: Apprise cannot send to 'nosuch://me:****@x'")
    assert tracker.fails(2, "remind", "check", "--notifier", "apprise:") == (
        "Error: the apprise notifier needs a URL, e.g. apprise:ntfy://my-topic"
    )


def test_the_daemon_log_never_shows_the_password(
    tracker: Tracker, http: Endpoint, tracker_home: Path
) -> None:
    # The real process: a follow-up due now, an endpoint that answers 500.
    tracker.ok("case", "open", "Refund", "--at", "2 hours ago", "--follow-up", "1h")
    http.status = 500
    env = {**os.environ, "TRACKER_HOME": str(tracker_home)}
    err = tracker_home / "daemon.err"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", "daemon", "run", "--notifier", json_url(http),
             "--poll", "0.2", "--retry", "60"],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "could not show" not in err.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    log = err.read_text()
    assert f"notifier apprise:json://bot:****@127.0.0.1:{http.port}/hook" in log
    assert "could not show the reminder for case 1" in log
    assert PASSWORD not in log


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_apprise_examples() -> list[str]:
    """Every apprise:... value in the README's code blocks (quoted, as typed)."""
    blocks = re.findall(r"```(?:sh|toml)\n(.*?)```", README.read_text(), re.S)
    return [m for block in blocks for m in re.findall(r"""['"](apprise:[^'"]+)['"]""", block)]


def test_the_readme_apprise_examples_are_accepted_and_shown_without_secrets() -> None:
    examples = readme_apprise_examples()
    assert len(examples) >= 4
    for example in examples:
        notifier = make_notifiers([example])
        channels = notifier.channels if isinstance(notifier, Notifiers) else [notifier]
        for channel in channels:
            for secret in ("APP-PASSWORD", "BOT-TOKEN", "USER-KEY", "APP-TOKEN"):
                assert secret not in channel.name, (example, channel.name)


def test_a_token_in_an_error_message_is_hidden_in_either_form() -> None:
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    notifier = make_notifiers([f"apprise:tgram://{token}/12315544"])
    assert isinstance(notifier, AppriseNotifier)
    assert token not in notifier.name
    for shown in (token, token.replace(":", "%3A"), "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"):
        assert "AAHdqTcv" not in notifier.scrub(f"POST https://api.telegram.org/bot{shown}/send")
