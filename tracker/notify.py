"""Notifier backends: how a reminder reaches the user. The only module that imports plyer.

``plyer`` (the default) shows a desktop notification; with dbus-python installed a failed
D-Bus call raises, without it plyer falls back to notify-send and cannot tell a failure
(RECIPES.md), so install the ``desktop`` extra. ``console`` prints to stdout with a
timestamp. ``command:CMD`` runs CMD with the title and the body as two more arguments; a
non-zero exit is a failure.

Every backend raises NotifyError on failure, with the reason; the caller releases the
reminder and retries it later.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
import warnings
from datetime import datetime
from typing import Protocol, TextIO

from tracker.errors import UsageError
from tracker.redact import redact

APP_NAME = "tracker"
COMMAND_TIMEOUT = 30.0  # seconds; well under a claim's lease
NOTIFIERS = "plyer, console or command:CMD"


class NotifyError(Exception):
    """The notification was not shown; the message says why."""


class Notifier(Protocol):
    name: str

    def notify(self, title: str, body: str) -> None:
        """Show one notification, or raise NotifyError."""


class PlyerNotifier:
    name = "plyer"

    def notify(self, title: str, body: str) -> None:
        with warnings.catch_warnings():
            # plyer warns (once) when dbus-python is missing; daemon start-up says it better.
            warnings.simplefilter("ignore")
            from plyer import notification

            try:
                notification.notify(title=title, message=body, app_name=APP_NAME)
            except Exception as exc:  # D-Bus, NotImplementedError, ...: all mean "not shown"
                raise NotifyError(f"{type(exc).__name__}: {_one_line(str(exc))}") from exc

    @staticmethod
    def can_detect_failure() -> bool:
        return importlib.util.find_spec("dbus") is not None


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def notify(self, title: str, body: str) -> None:
        stream = self._stream or sys.stdout
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        try:
            stream.write(f"{stamp}  {title} — {body}\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise NotifyError(f"cannot write to stdout: {exc}") from exc


class CommandNotifier:
    def __init__(self, command: str) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"invalid notifier command '{command}': {exc}") from None
        if not self.argv:
            raise UsageError("the command notifier needs a command, e.g. command:notify-send")
        self.name = f"command:{command}"

    def notify(self, title: str, body: str) -> None:
        try:
            result = subprocess.run(
                [*self.argv, title, body],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise NotifyError(f"command not found: {self.argv[0]}") from None
        except PermissionError:
            raise NotifyError(f"command not executable: {self.argv[0]}") from None
        except subprocess.TimeoutExpired:
            raise NotifyError(f"'{self.argv[0]}' did not finish in {COMMAND_TIMEOUT:g} s") from None
        if result.returncode != 0:
            reason = f"'{self.argv[0]}' exited with code {result.returncode}"
            detail = _one_line(result.stderr.decode(errors="replace"))
            raise NotifyError(f"{reason}: {detail}" if detail else reason)


def make_notifier(spec: str) -> Notifier:
    """The notifier a --notifier value names: plyer, console or command:CMD."""
    if redact(spec).changed:
        # A command line is configuration, written into a systemd unit by `daemon install`.
        raise UsageError("the notifier holds what looks like card data; give a command without it")
    if spec == "plyer":
        return PlyerNotifier()
    if spec == "console":
        return ConsoleNotifier()
    if spec.startswith("command:"):
        return CommandNotifier(spec.removeprefix("command:"))
    raise UsageError(f"unknown notifier '{spec}'; choose {NOTIFIERS}")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
