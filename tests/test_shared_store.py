"""One PostgreSQL store shared by two machines: each reminder once, nothing lost, and the
way from a SQLite store to PostgreSQL that README.md describes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs.support import PROCS
from servers import NotificationServer
from test_daemon import TRACKER, DaemonProcess


def run(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(TRACKER), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.mark.desktop
def test_two_machines_share_a_store_and_survive_one_daemon_dying(
    notifications: NotificationServer,
    postgres_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_DB", postgres_db)
    # Two "machines": different TRACKER_HOMEs (config, logs), one database.
    laptop = {"TRACKER_HOME": str(tmp_path / "laptop")}
    desktop = {"TRACKER_HOME": str(tmp_path / "desktop")}
    for n in range(4):
        run("case", "open", f"Refund {n}", "--org", "Acme Supplies", env=laptop)
    first = DaemonProcess(["--poll", "1"], env=laptop)
    second = DaemonProcess(["--poll", "1"], env=desktop)
    try:
        first.wait_for_log("tracker daemon started")
        second.wait_for_log("tracker daemon started")
        # Follow-ups fall due in two waves: the first while both daemons run, the second
        # after one of them is killed. Each wave is written when its moment has come, not
        # at times guessed in advance: on a loaded machine the kill could come after the
        # second wave was due, and the dead daemon's claims would hold it for their lease.
        for n in (1, 2):
            run("case", "follow-up", str(n), "now", f"chase refund {n}", env=desktop)
        notifications.wait_for(2, timeout=120)
        first.kill()  # SIGKILL: no clean shutdown, as when a laptop lid closes
        for n in (3, 4):
            run("case", "follow-up", str(n), "now", f"chase refund {n}", env=laptop)
        notifications.wait_for(4, timeout=120)
        time.sleep(2)  # more than a poll: nothing else may arrive
        bodies = sorted(n.body for n in notifications.notifications())
        assert len(bodies) == 4, (bodies, first.stderr, second.stderr)
        for n in range(1, 5):
            assert sum(f"chase refund {n}" in b for b in bodies) == 1, bodies
        second.stop()
    finally:
        first.kill()
        second.kill()


def test_concurrent_writers_on_one_case_lose_nothing(db_url: str, tmp_path: Path) -> None:
    """Two processes write to the same case at once: every note, every promise, and the
    status agrees with the promises (no lost update)."""
    run("case", "open", "Shared case", "--org", "Acme Supplies")
    script = tmp_path / "writer.py"
    script.write_text(
        "import sys\n"
        # What is tested is that nothing is lost, not SQLite's 5 s busy timeout.
        f"sys.path.insert(0, {str(PROCS)!r})\n"
        "from support import wait_longer_for_the_write_lock\n"
        "wait_longer_for_the_write_lock(300)\n"
        "from datetime import timedelta\n"
        "from tracker.config import database_url\n"
        "from tracker.db import Store\n"
        "from tracker import cases\n"
        "from tracker.models import utcnow\n"
        "from tracker.redact import Masker\n"
        "store = Store(database_url())\n"
        "who = sys.argv[1]\n"
        "for i in range(60):\n"
        "    with store.write() as s:\n"
        "        case = cases.get_case(s, 1, for_update=True)\n"
        "        cases.add_note(s, case, f'{who} note {i}', masker=Masker())\n"
        "        p = cases.make_promise(s, case, f'{who} promise {i}',\n"
        "                               utcnow() + timedelta(days=1), masker=Masker())\n"
        "    if i % 2:\n"
        "        with store.write() as s:\n"
        "            cases.set_promise_status(s, p.id, 'kept')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, str(script), who], stderr=subprocess.PIPE, text=True)
        for who in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    shown = json.loads(run("case", "show", "1", "--json"))
    assert len(shown["notes"]) == 120
    assert len(shown["promises"]) == 120
    assert shown["promise_counts"]["kept"] == 60
    assert shown["promise_counts"]["pending"] == 60
    assert shown["status"] == "waiting"
    # Every command wrote its events: opened + 120 notes + 120 promises + 60 kept.
    assert len(shown["events"]) == 1 + 120 + 120 + 60


def test_move_a_sqlite_store_to_postgresql(postgres_db: str, tmp_path: Path) -> None:
    """README.md: `export json` from the SQLite store, `import json` into PostgreSQL."""
    sqlite_url = f"sqlite:///{tmp_path / 'old' / 'tracker.db'}"
    old = ["--db", sqlite_url]
    run(
        *old,
        "case",
        "open",
        "Disputed charge",
        "--org",
        "American Express",
        "--category",
        "dispute",
        "--amount",
        "129.99",
        "--currency",
        "USD",
    )
    run(
        *old,
        "case",
        "contact",
        "1",
        "--channel",
        "phone",
        "--agent",
        "Maria",
        "--ref",
        "CALL-88812",
        "--promise",
        "Provisional credit",
        "--due",
        "10bd",
    )
    run(*old, "case", "note", "1", "Statement shows the charge twice.")
    backup = tmp_path / "backup.json"
    run(*old, "export", "json", "-o", str(backup))
    new = ["--db", postgres_db]
    run(*new, "db", "upgrade")
    run(*new, "import", "json", str(backup))
    run(*new, "import", "json", str(backup))  # twice changes nothing
    again = tmp_path / "again.json"
    run(*new, "export", "json", "-o", str(again))
    before = json.loads(backup.read_text())
    after = json.loads(again.read_text())
    assert before["tables"] == after["tables"]
    # The sequences moved past the imported ids: new rows get fresh ids.
    assert "Opened case 2" in run(*new, "case", "open", "After the move")
    assert json.loads(run(*new, "case", "show", "1", "--json"))["title"] == "Disputed charge"
