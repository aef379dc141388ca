"""No command waits on the daemon: the daemon beside three CLI writers on a 10k-case store,
with the machine loaded, gives no `database is busy` and loses no write, on both backends.

The store is bench/stores.py's 10,000-case store (generated once, cached in bench/.stores):
about 1,000 active cases, nearly all with reminders long due, so the daemon starts with a
catch-up (one digest, recorded in short transactions) and then shows the follow-ups the
writers keep adding. Two busy-looping processes load both cores for the whole run.

TRACKER_SOAK_SECONDS sets how long the writers write (20 s by default; the figure in
BENCHMARKS.md is from a 60 s run). The counts are printed (pytest -s shows them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_daemon import TRACKER, DaemonProcess, wait_until

from tracker.db import Store
from tracker.models import Case, FollowUp, Note, Reminder, utcnow
from tracker.vocabulary import ACTIVE_STATUSES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import stores

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("TRACKER_SOAK_SECONDS", "20"))
WRITERS = 3
RECORDER = """#!/bin/sh
printf '%s\\n' "$2" >> "$0.log"
"""
BURN = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n" + (
    "while time.monotonic() < end:\n    pass\n"
)


@pytest.fixture(scope="module")
def store_10k() -> Path:
    path, _ = stores.cached_store(10_000, log=lambda _: None)
    return path


@pytest.fixture
def soak_url(backend: str, store_10k: Path, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A copy of the 10k store: the SQLite file, or imported into a new PostgreSQL database."""
    copy = stores.working_copy(store_10k, tmp_path)
    sqlite_url = f"sqlite:///{copy}"
    if backend == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("postgres_db")
    dump = tmp_path / "store.json"
    for args in (
        ["--db", sqlite_url, "export", "json", "-o", str(dump)],
        ["--db", url, "import", "json", str(dump)],
    ):
        subprocess.run([str(TRACKER), *args], check=True, capture_output=True, timeout=600)
    return url


@pytest.fixture
def loaded() -> Iterator[None]:
    """Both cores busy for the run (each burner stops by itself)."""
    burners = [
        subprocess.Popen([sys.executable, "-c", BURN, str(SECONDS + 120)])
        for _ in range(os.cpu_count() or 2)
    ]
    yield
    for proc in burners:
        proc.kill()
        proc.wait()


def _active_cases(url: str, count: int) -> list[int]:
    store = Store(url)
    try:
        with store.read() as session:
            return list(
                session.scalars(
                    select(Case.id)
                    .where(Case.status.in_(ACTIVE_STATUSES))
                    .order_by(Case.id.desc())
                    .limit(count)
                )
            )
    finally:
        store.dispose()


def test_the_daemon_beside_three_writers_makes_no_one_wait(
    soak_url: str, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loaded: None
) -> None:
    monkeypatch.setenv("TRACKER_DB", soak_url)
    script = tmp_path / "notify.sh"
    script.write_text(RECORDER)
    script.chmod(0o755)
    shown_log = Path(f"{script}.log")
    cases = _active_cases(soak_url, WRITERS)
    daemon = DaemonProcess(["--notifier", f"command:{script}", "--poll", "1"])
    daemon.wait_for_log("tracker daemon started", timeout=30)
    busy: list[str] = []
    failed: list[str] = []
    written: list[str] = []
    follow_ups: list[str] = []
    end = time.monotonic() + SECONDS

    def writer(w: int) -> None:
        case = str(cases[w])
        i = 0
        while time.monotonic() < end:
            if i % 2 == 1:  # a follow-up due in 2 s: the daemon shows it meanwhile
                text = f"soak follow-up {w}.{i}"
                due = (utcnow() + timedelta(seconds=2)).isoformat()
                args = ["case", "follow-up", case, due, text]
            else:
                text = f"soak note {w}.{i}"
                args = ["case", "note", case, text]
            result = subprocess.run(
                [str(TRACKER), *args], capture_output=True, text=True, timeout=120, check=False
            )
            if "busy" in result.stderr or "locked" in result.stderr:
                busy.append(result.stderr.strip())
            elif result.returncode != 0:
                failed.append(result.stderr.strip())
            else:
                (follow_ups if args[1] == "follow-up" else written).append(text)
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 300)
    elapsed = time.monotonic() - started
    store = Store(soak_url)

    def in_store() -> tuple[set[str], set[str], int]:
        """The notes written, the follow-ups recorded shown (one by one or in a digest:
        the claim's key is unique), and how many claims are left unshown."""
        with store.read() as session:
            notes = set(session.scalars(select(Note.body).where(Note.body.like("soak note %"))))
            query = select(FollowUp.id, FollowUp.text).where(FollowUp.text.like("soak follow-up %"))
            ids = {row[0]: row[1] for row in session.execute(query)}
            keys = set(session.scalars(select(Reminder.key).where(Reminder.shown_at.is_not(None))))
            unshown = session.scalar(
                select(func.count()).select_from(Reminder).where(Reminder.shown_at.is_(None))
            )
        return notes, {text for i, text in ids.items() if f"follow_up:{i}" in keys}, unshown or 0

    # Every follow-up falls due 2 s after it was written: shown once the daemon gets there
    # (on a loaded machine its catch-up of the store's backlog may still be going on).
    try:
        wait_until(lambda: set(follow_ups) <= in_store()[1], 120)
        notes, shown_follow_ups, unshown = in_store()
    finally:
        store.dispose()
    assert daemon.stop(timeout=30) < 30
    shown = lambda: shown_log.read_text() if shown_log.exists() else ""  # noqa: E731
    lost = [text for text in written if text not in notes]
    text = shown()

    def times_shown(follow_up: str) -> int:
        return len(re.findall(rf": {re.escape(follow_up)}(?=[ ;])", text))

    missing = [t for t in follow_ups if t not in shown_follow_ups]
    twice = [t for t in follow_ups if times_shown(t) > 1]
    longest = daemon.stderr.rsplit("the longest ", 1)[-1].split(")")[0]
    print(
        f"\n{backend}: {elapsed:.0f} s, {WRITERS} writers, {len(written)} notes and "
        f"{len(follow_ups)} follow-ups written; database is busy: {len(busy)}; other "
        f"failures: {len(failed)}; lost writes: {len(lost)}; follow-ups not shown: "
        f"{len(missing)}, shown twice: {len(twice)}; claims left unshown: {unshown}; the "
        f"daemon's longest write transaction: {longest}"
    )
    assert busy == [] and failed == [], (busy[:3], failed[:3])
    assert lost == [] and missing == [] and twice == [], (lost, missing, twice, daemon.stderr)
    assert written and follow_ups
    assert "showed a digest" in daemon.stderr  # the 10k store's backlog came as one
    assert shutil.which("sh")
