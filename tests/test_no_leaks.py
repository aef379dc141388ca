"""No card number or security code reaches the disk or the screen.

Free text with generated Luhn-valid card numbers (plain, spaced, dashed; 15 and 16 digits)
and labelled security codes goes through every command that takes text. Then the raw bytes
of the database, its -wal and -shm, every file in the data folder (the evidence files too),
every export, the letter, the case file and every file in its bundle, every command's
output, the notifications (console and command notifiers) and the history in a store
restored from an export are searched: no card's digit string and no code as
typed is anywhere; the masked form is.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from conftest import Tracker
from procs.support import TRACKER

from tracker import evidence
from tracker.cases import load_case_detail
from tracker.db import Store
from tracker.history import begin_change
from tracker.redact import Masker, contains_card_number, luhn_valid


def _card(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


def _formatted(number: str, style: int) -> str:
    if style == 0:
        return number
    groups = [4, 6, 5] if len(number) == 15 else [4, 4, 4, 4]
    parts, start = [], 0
    for size in groups:
        parts.append(number[start : start + size])
        start += size
    return (" " if style == 1 else "-").join(parts)


class Secrets:
    """Card numbers and security codes, each used once, remembered for the search."""

    LABELS = ("CVV", "CVC:", "security code", "CID #", "PIN is")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cards: list[str] = []  # digit strings
        self.typed: list[str] = []  # what was typed: formatted cards, labelled codes
        self.count = 0

    def card(self) -> str:
        self.count += 1
        prefix, length = self.rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16)])
        number = _card(self.rng, prefix, length)
        text = _formatted(number, self.count % 3)
        assert contains_card_number(text), text
        self.cards.append(number)
        self.typed.append(text)
        return text

    def code(self) -> str:
        label = self.LABELS[self.count % len(self.LABELS)]
        value = "".join(self.rng.choice("123456789") for _ in range(3 + self.count % 2))
        typed = f"{label} {value}"
        self.typed.append(typed)
        return typed

    def text(self, what: str) -> str:
        return f"{what}: card {self.card()} exp 12/29, {self.code()}, thanks"

    def found_in(self, data: bytes) -> list[str]:
        # iCalendar folds long lines: unfold before searching.
        flat = data.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")
        return [s for s in self.cards + self.typed if s.encode() in flat]


NOTIFY_SCRIPT = """
import sys
with open(sys.argv[1], "a", encoding="utf-8") as log:
    log.write(repr(sys.argv[2:]) + "\\n")
"""
# A notifier that fails, saying what it was given: the error goes to the output, the
# reminders table (last_error) and the daemon's log.
FAILING_SCRIPT = """
import sys
print("cannot show:", *sys.argv[1:], file=sys.stderr)
sys.exit(3)
"""


def _email(s: Secrets, message_id: str = "<attached@bank.example>") -> bytes:
    """A reply naming case 1's reference, its cards in base64, quoted-printable and an
    encoded-word subject, so none of them is in the file as typed."""
    import quopri
    from email.header import Header

    plain = base64.encodebytes(f"{s.text('email body')}\nRef CALL-88812\n".encode()).decode()
    html = quopri.encodestring(f"<p>{s.text('email html')}</p>".encode()).decode()
    subject = Header(f"Re: CALL-88812 card {s.card()}", "utf-8").encode()
    return (
        f"From: Bank <b@bank.example>\nTo: me@example.org\nSubject: {subject}\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: {message_id}\n"
        "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=B\n\n"
        f"--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        f"{plain}\n--B\nContent-Type: text/html; charset=utf-8\n"
        f"Content-Transfer-Encoding: quoted-printable\n\n{html}\n--B--\n"
    ).encode()


class Run:
    """The in-process CLI on the test's SQLite store, keeping every command's output."""

    def __init__(self, home: Path) -> None:
        self.tracker = Tracker()
        self.refused: set[str] = set()
        self.outputs: list[str] = []
        self.ok("db", "upgrade")
        self.db = home / "tracker.db"
        # Held open: SQLite keeps the -wal and -shm files while a connection is open, so
        # their bytes can be searched at the end.
        self.keeper = sqlite3.connect(self.db)
        self.keeper.execute("SELECT count(*) FROM cases").fetchone()

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.tracker(*args, input=input)
        self.outputs.append(result.stdout + result.stderr)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def search(self, secrets: Secrets, files: list[Path]) -> dict[str, list[str]]:
        """Where any secret is: the files given, everything in the data folder, outputs."""
        searched: dict[str, bytes] = {}
        for path in [*self.db.parent.rglob("*"), *files]:
            if path.is_file():
                searched[str(path)] = path.read_bytes()
        self.keeper.close()
        assert {f"{self.db}-wal", f"{self.db}-shm"} <= set(searched), sorted(searched)
        for i, text in enumerate(self.outputs):
            searched[f"output of command {i}"] = text.encode()
        # What is stored: the database, and the evidence files kept beside it.
        self.stored = searched[str(self.db)] + searched[f"{self.db}-wal"]
        for where, data in searched.items():
            if where.startswith(f"{self.db}-evidence"):
                self.stored += data
        return {
            where: found for where, data in searched.items() if (found := secrets.found_in(data))
        }

    def assert_masked_and_kept(self, secrets: Secrets, seed: int) -> None:
        """The texts were stored masked, not dropped: every card's last four digits."""
        for number in secrets.cards:
            if number in self.refused:
                continue
            assert f"•••• {number[-4:]}".encode() in self.stored, (seed, number)


def _seed() -> int:
    return int(os.environ.get("TRACKER_LEAK_SEED", time.time_ns() % 10**6))


def test_no_card_number_or_security_code_is_stored_shown_exported_or_notified(
    tracker_home: Path, tmp_path: Path
) -> None:
    seed = _seed()
    s = Secrets(seed)
    run = Run(tracker_home)
    ok = run.ok
    ok(
        "case", "open", s.text("title"),
        "--org", f"Bank {s.card()}",
        "--merchant", s.text("merchant"),
        "--ref", "DSP-2026-99812",
        "--note", s.text("first note"),
        "--category", "dispute",
    )  # fmt: skip
    ok("case", "open", s.text("second case"), "--follow-up", "now")
    ok("case", "note", "1", s.text("note"))
    ok("case", "note", "1", input=s.text("note from stdin"))
    ok(
        "case", "contact", "1", "--channel", "phone",
        "--via", s.card(),
        "--agent", s.text("agent"),
        "--agent-id", s.card(),
        "--ref", "CALL-88812",
        "--summary", s.text("summary"),
        "--promise", s.text("promise in a contact"),
        "--at", "3 hours ago", "--due", "2h",  # already overdue: it reaches the notifier
    )  # fmt: skip
    # A reference that looks like card data is refused (never masked): the refusal's own
    # output is searched too.
    first_refused = len(s.cards)
    refusals = (
        ("case", "ref", "1", s.text("reference")),
        ("case", "ref", "1", s.card()),
        ("case", "contact", "1", "--channel", "chat", "--ref", s.card()),
        ("case", "open", "x", "--ref", s.card()),
    )
    run.refused.update(s.cards[first_refused:])  # never stored: nothing to find masked
    for args in refusals:
        refused = run.tracker(*args)
        run.outputs.append(refused.stdout + refused.stderr)
        assert refused.exit_code == 2, (args, refused.stderr)
    ok("case", "promise", "1", s.text("promise"), "--at", "3 hours ago", "--due", "1h")
    ok(
        "case", "promise", "2", s.text("my promise"),
        "--at", "3 hours ago", "--due", "2h", "--by", "me",
    )  # fmt: skip
    ok("case", "follow-up", "1", "now", s.text("follow-up"))
    # Evidence: an attached text, a transcript-like file, an email whose card numbers hide
    # in base64 and quoted-printable parts (and an encoded subject), attached and imported.
    files = tmp_path / "files"
    files.mkdir()
    (files / "receipt.txt").write_text(s.text("receipt") + "\n", encoding="utf-8")
    (files / "chat.log").write_text(
        f"[10:02] Agent Maria: how can I help?\n[10:03] Me: {s.text('chat')}\n"
        f"[10:04] Me: and the other card {s.card()}\n",
        encoding="utf-8",
    )
    (files / "reply.eml").write_bytes(_email(s))
    ok("case", "attach", "1", str(files / "receipt.txt"), str(files / "chat.log"), "--kind",
       "transcript", "--note", s.text("attachment note"))  # fmt: skip
    ok("case", "attach", "1", str(files / "reply.eml"))
    (files / "reply.eml").write_bytes(_email(s, "<imported@bank.example>"))
    ok("import", "email", str(files / "reply.eml"))
    ok("case", "escalate", "1", "--to", "supervisor", "--note", s.text("escalation"))
    ok("case", "resolve", "2", "--outcome", s.text("outcome"))

    # Everything that shows or exports it.
    exports = tmp_path / "exports"
    exports.mkdir()
    for args in (
        ("case", "show", "1"),
        ("case", "show", "1", "--json"),
        ("case", "show", "2", "--json"),
        ("case", "list", "--status", "all"),
        ("due", "--json"),
        ("org", "list", "--json"),
        ("export", "csv"),
        ("export", "json"),
        ("export", "ics"),
        ("export", "csv", "-o", str(exports / "history.csv")),
        ("export", "json", "-o", str(exports / "store.json")),
        ("export", "ics", "-o", str(exports / "due.ics")),
        ("case", "letter", "1", "-o", str(exports / "letter.md")),
        ("case", "letter", "1", "--kind", "billing-error"),
        ("db", "backup", str(exports / "backup.db")),
        ("case", "attachment", "list", "1", "--json"),
        ("case", "attachment", "get", "3", "-o", str(exports / "attached.eml")),
        ("case", "attachment", "get", "4", "-o", str(exports / "imported.eml")),
    ):
        ok(*args)
    # The export's evidence is base64: searched decoded (and decoded part by part below).
    blobs = json.loads((exports / "store.json").read_text())["tables"]["attachment_blobs"]
    assert len(blobs) == 4, [b["sha256"] for b in blobs]  # 2 texts, 2 emails
    for index, blob in enumerate(blobs):
        (exports / f"blob-{index}").write_bytes(base64.b64decode(blob["data"]))
    # Letters sent: the letter kept as evidence in the data folder, and a copy given with a
    # card in it, kept masked.
    ok(
        "case", "letter", "1", "--kind", "complaint", "--sent", "--tracking", "RR123456785GB",
        "-o", str(exports / "sent.txt"),
    )  # fmt: skip
    copy = tmp_path / "copy.txt"
    before = len(s.cards)
    copy.write_text(f"My letter: {s.text('copy of a letter')}\n", encoding="utf-8")
    run.refused.update(s.cards[before:])  # in the evidence folder, masked; not in the database
    ok("case", "letter", "1", "--kind", "billing-error", "--sent", "--copy", str(copy))

    # Notifications: the console notifier prints them; a command notifier gets them as
    # arguments (its script logs them).
    script = tmp_path / "notify.py"
    script.write_text(NOTIFY_SCRIPT)
    notified = tmp_path / "notified.log"
    console = ok("remind", "check", "--notifier", "console", "--verbose")
    assert "follow-up" in console.lower(), console
    ok("case", "follow-up", "1", "now", s.text("second follow-up"))
    ok("remind", "check", "--notifier", f"command:{sys.executable} {script} {notified}")
    assert notified.exists() and notified.read_text().strip(), "no notification was sent"
    ok("daemon", "status")

    # A notification that fails (retried 30 s later), then the daemon (its log on stderr)
    # showing the next one.
    failing = tmp_path / "fail.py"
    failing.write_text(FAILING_SCRIPT)
    ok("case", "follow-up", "1", "now", s.text("third follow-up"))
    failed = run.tracker("remind", "check", "--notifier", f"command:{sys.executable} {failing}")
    run.outputs.append(failed.stdout + failed.stderr)
    assert failed.exit_code == 1 and "cannot show" in failed.stderr, failed.stderr
    ok("case", "open", s.text("third case"), "--follow-up", "now")
    daemon = subprocess.Popen(
        [TRACKER, "daemon", "run", "--notifier", "console", "--poll", "0.2", "--retry", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        shown = daemon.stdout.readline()
    finally:
        daemon.send_signal(signal.SIGTERM)
        rest, log = daemon.communicate(timeout=120)
    assert "third case" in shown, (shown, log)
    run.outputs += [shown + rest, log]

    # A store restored from the JSON export (what a user does on a new machine).
    restored = tmp_path / "restored.db"
    ok("--db", f"sqlite:///{restored}", "import", "json", str(exports / "store.json"))

    # Evidence (a transcript with card data in it, masked before it is stored), and the
    # case file with its bundle.
    _attach(run.db, f"{s.text('chat transcript')}\nRef CALL-88812\n".encode(), "chat.txt")
    ok("case", "file", "1", "-o", str(exports / "case-1.html"))
    ok("case", "file", "1", "--bundle", str(exports / "case-1.zip"))
    ok("case", "file", "2", "-o", "-")

    # The case file's bundle is compressed: what is in it is searched file by file.
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(exports / "case-1.zip") as bundle:
        members = bundle.namelist()
        bundle.extractall(unzipped)
    assert any(m.startswith("evidence/") for m in members), members
    inside = [p for p in unzipped.rglob("*") if p.is_file()]
    evidence = [*exports.rglob("*"), *tmp_path.glob("restored.db-evidence/*/*")]
    decoded = tmp_path / "decoded"
    decoded.mkdir()
    for index, path in enumerate(p for p in evidence if p.is_file()):
        if path.read_bytes().startswith(b"From: "):  # an email: every part decoded
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            parts = list(message.walk())
            payloads = [p.get_payload(decode=True) or b"" for p in parts if not p.is_multipart()]
            headers = [f"{k}: {v}".encode() for p in parts for k, v in p.items()]
            (decoded / f"{index}.txt").write_bytes(b"\n".join(headers + payloads))
    leaks = run.search(s, [*evidence, notified, restored, *decoded.iterdir(), *inside])
    assert not leaks, f"seed {seed}: {leaks}"
    # What the evidence kept (its emails decoded) counts as stored, for the check below.
    kept = [*tracker_home.glob("tracker.db-evidence/*/*"), *decoded.iterdir()]
    run.stored += b"".join(path.read_bytes() for path in kept)
    run.assert_masked_and_kept(s, seed)


def _attach(db: Path, data: bytes, name: str) -> None:
    """An attachment on case 1, through the evidence core (as `case attach` stores one)."""
    store = Store(f"sqlite:///{db}")
    try:
        with store.write() as session:
            case = load_case_detail(session, 1)
            masker = Masker()
            prepared = evidence.prepare(data, name, masker=masker)
            assert prepared.masked, "the transcript had card data to mask"
            evidence.attach(
                session,
                case,
                prepared,
                filename=evidence.clean_filename(name, masker),
                kind="transcript",
                log=begin_change(session, f"case attach 1 {name}"),
            )
    finally:
        store.dispose()


DIRECTORY = """
[[organization]]
name = "Issuer {name}"
country = "US"
notes = "{notes}"

[[organization.contact]]
kind = "phone"
value = "1-800-528-2122"
label = "{label}"
notes = "{point_notes}"
"""


def test_the_directory_never_holds_a_card_number(tracker_home: Path, tmp_path: Path) -> None:
    seed = _seed()
    s = Secrets(seed)
    run = Run(tracker_home)
    run.ok("org", "add", f"Card Issuer {s.card()}", "--notes", s.text("org notes"))
    toml = tmp_path / "directory.toml"
    toml.write_text(
        DIRECTORY.format(
            name=s.card(),
            notes=s.text("notes"),
            label=s.text("label"),
            point_notes=s.text("contact notes"),
        )
    )
    run.ok("org", "import", str(toml))
    run.ok("org", "list", "--json")
    leaks = run.search(s, [])
    assert not leaks, f"seed {seed}: {leaks}"
    run.assert_masked_and_kept(s, seed)


def test_an_imported_export_never_holds_a_card_number(tracker_home: Path, tmp_path: Path) -> None:
    # A JSON export edited by hand (or written by another tool) is masked on the way in too.
    seed = _seed()
    s = Secrets(seed)
    run = Run(tracker_home)
    run.ok("case", "open", "Disputed charge", "--note", "first note")
    exported = json.loads(run.ok("export", "json"))
    text = json.dumps(exported).replace("first note", s.text("note"))
    edited = tmp_path / "edited.json"
    edited.write_text(text)
    restored = tmp_path / "restored.db"
    run.ok("--db", f"sqlite:///{restored}", "import", "json", str(edited))
    with sqlite3.connect(restored) as conn:
        bodies = [row[0] for row in conn.execute("SELECT body FROM notes")]
    conn.close()
    assert not s.found_in("\n".join(bodies).encode()), f"seed {seed}: {bodies}"
    assert not s.found_in(restored.read_bytes()), f"seed {seed}"


def test_an_import_holding_a_card_as_a_number_or_a_key_is_refused_or_masked(
    tracker_home: Path, tmp_path: Path
) -> None:
    s = Secrets(_seed())
    run = Run(tracker_home)
    run.ok("case", "open", "Disputed charge", "--amount", "10", "--note", "first")
    exported = json.loads(run.ok("export", "json"))
    card = s.card()
    digits = "".join(ch for ch in card if ch.isdigit())
    # A card number written as a number (an amount, a duration): refused, nothing imported.
    as_number = json.loads(json.dumps(exported))
    as_number["tables"]["cases"][0]["amount"] = int(digits)
    numbers = tmp_path / "numbers.json"
    numbers.write_text(json.dumps(as_number))
    restored = tmp_path / "restored.db"
    refused = run.tracker("--db", f"sqlite:///{restored}", "import", "json", str(numbers))
    assert refused.exit_code == 2, refused.stderr
    assert "digits of a card number" in refused.stderr and digits not in refused.stderr
    # A card number as a key of an event's data: masked (and then refused as a key the
    # payload does not have), never stored.
    as_key = json.loads(json.dumps(exported))
    as_key["tables"]["events"][0]["data"][card] = "x"
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(as_key))
    result = run.tracker("--db", f"sqlite:///{restored}", "import", "json", str(keys))
    assert result.exit_code == 2, result.stderr
    assert not s.found_in((result.stdout + result.stderr).encode())
    assert not restored.exists() or not s.found_in(restored.read_bytes())


def test_a_chat_transcript_leaves_no_card_anywhere(tracker_home: Path, tmp_path: Path) -> None:
    """The transcript's stored copy (the evidence folder beside the store), the contact's
    fields, the findings shown and a summary from a pipe are masked."""
    seed = _seed()
    s = Secrets(seed)
    run = Run(tracker_home)
    ok = run.ok
    ok("case", "open", "Disputed charge", "--org", "American Express")
    # A chat transcript: its stored copy (in the evidence folder, searched below), the
    # contact's fields and the findings shown are masked; a summary from a pipe too.
    chat = tmp_path / "chat.txt"
    chat.write_text(
        "[10:02] Jessica (Amex): Hi, how can I help? Your case number is CHAT-5531.\n"
        f"[10:03] You: {s.text('transcript line')}\n"
        f"{s.text('a line that runs on')}\n"
        f"[10:05] Jessica (Amex): {s.text('agent line')}\n"
        "[10:06] Jessica (Amex): You will receive a credit within 7-10 business days.\n",
        encoding="utf-8",
    )
    ok(
        "case", "contact", "1", "--channel", "chat", "--at", "4 hours ago",
        "--transcript", str(chat), "--yes",
    )  # fmt: skip
    ok(
        "case",
        "contact",
        "1",
        "--channel",
        "chat",
        "--transcript",
        "-",
        "--yes",
        "--at",
        "4 hours ago",
        input=chat.read_text(encoding="utf-8").replace("Jessica", "Priya"),
    )
    ok(
        "case",
        "contact",
        "1",
        "--channel",
        "phone",
        "--summary",
        "-",
        input=s.text("piped summary"),
    )
    for args in (("case", "show", "1"), ("case", "show", "1", "--json"), ("export", "csv")):
        ok(*args)
    found = run.search(s, [])
    assert found == {}, (seed, found)
    kept = b"".join(
        p.read_bytes() for p in (tracker_home / "tracker.db-evidence").rglob("*") if p.is_file()
    )
    for number in s.cards:  # masked, not dropped: in the stored copy or in the contact
        assert f"•••• {number[-4:]}".encode() in kept + run.stored, (seed, number)
