"""examples/amex-dispute.sh: the guide's story, run end to end with the installed CLI."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "amex-dispute.sh"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_worked_example_runs_and_tells_the_story(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """On the script's own SQLite store, and on an empty PostgreSQL database
    (TRACKER_EXAMPLE_DB): the same story, the same lines."""
    executable = Path(sys.executable).with_name("tracker")
    assert executable.exists(), f"the venv has no tracker script at {executable}"
    env = dict(os.environ, TRACKER=str(executable), TMPDIR=str(tmp_path))
    # The script makes its own store; a store named by the test environment must not leak in.
    env.pop("TRACKER_DB", None)
    if backend == "postgresql":
        env["TRACKER_EXAMPLE_DB"] = request.getfixturevalue("postgres_db")
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in [
        "$ tracker org import examples/directory/american-express.toml",
        "Imported American Express (new): 10 contact points added.",
        '$ tracker case open "Card lost in Lisbon" --org "American Express" '
        "--category lost_stolen --account 1005",
        "Opened case 1: Card lost in Lisbon",
        "Call now, 24/7: +1 800-528-2122 (US) or, from abroad, +1 623-492-5450 "
        "(collect calls accepted).",
        "Opened case 2: Disputed charge at ACME Hardware",
        # The chat's written update (from its transcript) is still pending.
        "Promise 2 marked broken; case 2 is waiting.",
        "Logged interaction 3 on case 2 (chat).",
        "Kept the transcript as attachment 1 (chat-transcript.txt, 736 bytes; card data masked "
        "in it: 1).",
        "Case 2 escalated to supervisor.",
        '$ tracker case attach 2 statement.md --kind statement --note "November statement"',
        "$ tracker import email refund-promise.eml",
        "Imported refund-promise.eml as interaction 4 on case 2 (email in).",
        "$ tracker case letter 2 --kind billing-error -o letter.md",
        "## What has happened so far",
        "Ada Lovelace\\",
        "$ tracker case letter 2 --kind billing-error --sent --via mail "
        "--tracking 9407111899223197428490",
        "Case 2: Disputed charge at ACME Hardware",
        "$ tracker case file 2 -o case-2.html --bundle case-2.zip",
    ]:
        assert line in out.splitlines(), f"missing line: {line}\n\n{out}"
    # `tracker due` shows the promise whose due time passed two days ago.
    due = out.split("$ tracker due\n", 1)[1].split("\n===", 1)[0]
    assert re.search(r"2 days (overdue|ago).*Provisional credit", due), due
    assert "Maria (ID 4471). Reference: CALL-88812." in out
    assert "  agent:       Jordan" in result.stderr  # what the transcript showed
    assert "3782 822463 10005" not in out + result.stderr
    assert "have ready" in out.lower()
    assert re.search(r"^Attached \d+: statement\.md \(statement, ", out, flags=re.MULTILINE)
    assert "3782" not in out and "822463" not in out  # the card in the statement and email
    assert re.search(
        r"^Recorded the billing-error letter for case 2 as sent by mail on .*, tracking number "
        r"9407111899223197428490\.$",
        out,
        flags=re.MULTILINE,
    ), out
    assert "90 days since the billing-error notice (fcba-resolve-90d)" in out
    if importlib.util.find_spec("tracker.cli.export") is not None:
        assert "case_id,case_title,organization,category,event_at,event_type" in out
    # Every section header is there, in order.
    headers = re.findall(r"^=== (\d+)\. ", out, flags=re.MULTILINE)
    assert headers == [str(n) for n in range(1, 14)]
    # The case file's bundle checks (sha256sum -c), when the machine has sha256sum.
    if shutil.which("sha256sum") is not None:
        assert "case-2.html: OK" in out.splitlines() and "manifest.json: OK" in out.splitlines()
    # The temporary store is gone.
    match = re.search(r"The temporary (?:store|folder) (\S+) is removed now[.;]", out)
    assert match is not None
    assert not Path(match[1]).exists()
    assert list(tmp_path.iterdir()) == []
