"""The README's install lines, run as written in one fresh venv from this checkout.

The distribution is `customer-case-tracker` (`tracker` on PyPI is somebody else's package);
the command and the import package are `tracker`. A non-editable install carries its
migrations and can create a store.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import servers

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DISTRIBUTION = "customer-case-tracker"
# What each extra must bring: a module that imports once it is installed.
EXTRA_MODULES = {"postgres": "psycopg", "desktop": "dbus", "apprise": "apprise"}
# `pip install [-q] TARGET` anywhere in the README (a code block, or inline code).
PIP_INSTALL = re.compile(r"pip install((?: -[a-zA-Z]+)*) ('[^']*'|\"[^\"]*\"|[^\s`;&|)]+)")


def readme_installs() -> list[tuple[str, str]]:
    """(options, target) of every `pip install` in the README, in order."""
    return [(m.group(1).strip(), m.group(2)) for m in PIP_INSTALL.finditer(README.read_text())]


def extras_of(target: str) -> set[str]:
    word = shlex.split(target)[0]
    found = re.fullmatch(r"\.(?:\[([a-z,]+)\])?", word)
    assert found, f"README installs {target!r}: only this checkout ('.[extra]') installs tracker"
    return set(found.group(1).split(",")) if found.group(1) else set()


def test_the_distribution_has_a_name_of_its_own() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    # `tracker` is built by hatch_build.py (the C client, or a Python script); the console
    # script is the Python client the C one hands over to (stdlib only; in-process fallback).
    assert project["scripts"] == {"tracker-python": "tracker.client:main"}
    assert set(EXTRA_MODULES) <= set(project["optional-dependencies"])


def test_every_readme_install_line_installs_this_checkout_with_known_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installs = readme_installs()
    targets = {target for _, target in installs}
    # The lines a new user follows, each tested below.
    for extra in EXTRA_MODULES:
        assert f"'.[{extra}]'" in targets, f"the README has no `pip install '.[{extra}]'`"
    for options, target in installs:
        extras = extras_of(target)
        assert extras <= set(project["optional-dependencies"]), (target, extras)
        assert options in ("", "-q", "-e", "-q -e"), (options, target)
    assert "tracker[" not in README.read_text().replace("'.[", "")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One fresh venv in which every non-editable README install line was run, as written,
    from the checkout, in the README's order."""
    where = tmp_path_factory.mktemp("install")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = str(venv / "bin" / "pip")
    done: set[str] = set()
    for options, target in readme_installs():
        if "-e" in options.split() or target in done:
            continue  # the editable one is the developers' (CI runs it)
        done.add(target)
        result = subprocess.run(
            [pip, "install", "-q", *shlex.split(target)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (target, result.stderr[-2000:])
    yield venv


def run(
    venv: Path, tmp_path: Path, *argv: str, server: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKER_HOME": str(tmp_path / "home")}
    env.pop("TRACKER_DB", None)
    env.pop("PYTHONPATH", None)
    if server:  # the suite sets TRACKER_NO_SERVER=1 (tests/conftest.py)
        env.pop("TRACKER_NO_SERVER", None)
    # Run from an empty folder so nothing of the checkout can be found.
    options: dict[str, Any] = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True}
    return subprocess.run(list(argv), **options)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_installed_command_creates_a_store_and_opens_a_case(venv: Path, tmp_path: Path) -> None:
    tracker = str(venv / "bin" / "tracker")
    opened = run(venv, tmp_path, tracker, "case", "open", "Lost card", "--category", "lost_stolen")
    assert opened.returncode == 0, opened.stderr
    assert "Opened case 1: Lost card" in opened.stdout
    listed = run(venv, tmp_path, tracker, "case", "list")
    assert "Lost card" in listed.stdout
    python = str(venv / "bin" / "python")
    code = "import tracker, tracker.migrate as m; print(tracker.__file__, m.script_location())"
    shipped = run(venv, tmp_path, python, "-c", code)
    module, location = shipped.stdout.split()
    assert location.endswith("tracker/_alembic")
    assert not module.startswith(str(ROOT))  # the installed copy, not the checkout
    assert (tmp_path / "home" / "tracker.db").stat().st_mode & 0o777 == 0o600
    check_the_command_server(venv, tmp_path, tracker)


def check_the_command_server(
    venv: Path, tmp_path: Path, tracker: str, compiled: bool | None = None
) -> None:
    """The installed `tracker` is the C client where a compiler was there (this machine's
    CI has one), and its commands reach the server the first command started."""
    head = Path(tracker).read_bytes()[:4]  # an ELF binary, or a script's #!/...
    compiled = bool(shutil.which("cc")) if compiled is None else compiled
    assert head[: 4 if compiled else 3] == (b"\x7fELF" if compiled else b"#!/"), head
    socket = tmp_path / "home" / "server.sock"
    try:
        run(venv, tmp_path, tracker, "--version", server=True)  # finds none, starts one
        for _ in range(300):
            if socket.exists():
                break
            time.sleep(0.1)
        assert socket.exists(), "the first command started no server"
        outputs = {
            run(venv, tmp_path, tracker, "case", "list", server=True).stdout for _ in range(3)
        }
        status = run(venv, tmp_path, tracker, "server", "status", server=True)
        assert "running" in status.stdout and "Commands: 3 served" in status.stdout, status
        assert len(outputs) == 1 and "Lost card" in outputs.pop()
    finally:
        run(venv, tmp_path, tracker, "server", "stop", server=True)


@pytest.mark.slow
def test_without_a_compiler_tracker_is_a_python_script(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "TRACKER_NO_C_CLIENT": "1"}
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "."], cwd=ROOT, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    tracker = venv / "bin" / "tracker"
    assert tracker.read_text().splitlines()[0].startswith(f"#!{venv / 'bin' / 'python'}")
    opened = run(venv, tmp_path, str(tracker), "case", "open", "Lost card")
    assert opened.returncode == 0, opened.stderr
    check_the_command_server(venv, tmp_path, str(tracker), compiled=False)


@pytest.mark.slow
def test_each_extra_brings_what_it_names(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    for extra, module in EXTRA_MODULES.items():
        found = run(venv, tmp_path, python, "-c", f"import {module}")
        assert found.returncode == 0, (extra, found.stderr)
    shown = run(venv, tmp_path, str(venv / "bin" / "pip"), "show", DISTRIBUTION)
    assert shown.returncode == 0 and f"Name: {DISTRIBUTION}" in shown.stdout
    # Nobody else's `tracker` came along.
    other = run(venv, tmp_path, str(venv / "bin" / "pip"), "show", "tracker")
    assert other.returncode != 0


@pytest.mark.slow
def test_the_apprise_notifier_works_from_the_installed_command(venv: Path, tmp_path: Path) -> None:
    tracker = str(venv / "bin" / "tracker")
    opened = run(
        venv, tmp_path, tracker, "case", "open", "Refund", "--at", "2 days ago",
        "--follow-up", "1d",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    # Nothing listens on the discard port: Apprise cannot deliver, the reminder stays due.
    target = "apprise:json://bot:hunter2@127.0.0.1:9/hook"
    checked = run(venv, tmp_path, tracker, "remind", "check", "--notifier", target)
    assert checked.returncode == 1, checked.stderr
    assert "apprise:json://bot:****@127.0.0.1:9/hook: not delivered" in checked.stderr
    assert "hunter2" not in checked.stderr


@pytest.mark.slow
def test_the_installed_command_exports_a_calendar_that_stays_true(
    venv: Path, tmp_path: Path
) -> None:
    icalendar = pytest.importorskip("icalendar")
    tracker = str(venv / "bin" / "tracker")
    assert run(venv, tmp_path, tracker, "case", "open", "Refund", "--org", "Acme").returncode == 0
    made = run(venv, tmp_path, tracker, "case", "promise", "1", "Refund posts", "--due", "3d")
    assert made.returncode == 0, made.stderr
    before = run(venv, tmp_path, tracker, "export", "ics")
    assert run(venv, tmp_path, tracker, "promise", "kept", "1").returncode == 0
    after = run(venv, tmp_path, tracker, "export", "ics")
    (old,) = icalendar.Calendar.from_ical(before.stdout).walk("VEVENT")
    (new,) = icalendar.Calendar.from_ical(after.stdout).walk("VEVENT")
    assert str(new["UID"]) == str(old["UID"])
    assert int(new["SEQUENCE"]) > int(old["SEQUENCE"])
    assert (str(old["STATUS"]), str(new["STATUS"])) == ("CONFIRMED", "CANCELLED")
    assert not new.walk("VALARM")


@pytest.mark.slow
def test_the_installed_command_writes_a_unit_without_secrets_that_systemd_accepts(
    venv: Path, tmp_path: Path
) -> None:
    tracker = str(venv / "bin" / "tracker")
    config = tmp_path / "config"
    url = "postgresql://tracker:hunter2secret@db.example.org/tracker"
    env = {**os.environ, "TRACKER_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(config)}
    env.pop("TRACKER_DB", None)
    written = subprocess.run(
        [tracker, "--db", url, "daemon", "install", "--notifier",
         "apprise:json://bot:hunter2token@127.0.0.1:9/hook"],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    unit = config / "systemd" / "user" / "tracker-daemon.service"
    text = unit.read_text()
    assert "hunter2" not in text
    assert f"ExecStart={tracker} daemon run --notifier ${{TRACKER_NOTIFIER_1}}\n" in text
    secrets = tmp_path / "home" / "daemon.env"
    assert "hunter2secret" in secrets.read_text() and "hunter2token" in secrets.read_text()
    assert secrets.stat().st_mode & 0o777 == 0o600
    analyze = shutil.which("systemd-analyze")
    servers.skip_or_fail(None if analyze else "systemd-analyze is not installed (apt: systemd)")
    assert analyze
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    verified = subprocess.run(
        [analyze, "--user", "verify", str(unit)],
        env={**env, "XDG_RUNTIME_DIR": str(runtime)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, "", "")
