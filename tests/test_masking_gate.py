"""One masking gate that every text passes, whatever the way in.

1. Every parameter of every command is classified here (ENTRY_POINTS); a test fails when a
   command or an option appears that is not, so a new way in cannot skip the gate.
2. Each way in is then given a fresh card number (and a security code) in one of the
   generated shapes: a text is stored masked, a reference or a checked value is refused,
   a file's content is masked or refused. The store's bytes and every line the commands
   printed are searched for the cards' digits, Unicode digits included.
3. From the installed command, on both backends: every card shape and every security-code
   phrasing through the free-text fields, read back masked.
"""

from __future__ import annotations

import json
import os
import quopri
import random
import subprocess
from collections.abc import Iterator
from email.header import Header
from itertools import cycle
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from conftest import Tracker
from masking_samples import CARD_SHAPES, CODE_PHRASINGS, card_samples, code_samples, leaked
from procs.support import TRACKER

from tracker.cli import cli

TEXT = "text"  # free text: stored masked, the command succeeds
REF = "reference"  # a reference number: refused (exit 2) when it looks like card data
VALUE = "value"  # a checked value (id, date, amount, choice, number): refused (exit 2)
LOOKUP = "lookup"  # a name looked up, never stored: the answer must not echo the card
# A number that bounds a listing (--limit): one past any store's size is no limit
# (tests/test_fuzz_cli.py), so an unbroken card number is taken as that, and one with
# spaces is refused; never stored, never echoed.
BOUND = "bound"
REFUSED = "refused"  # configuration (a notifier command): refused when it holds card data
FILE_IN = "file"  # a file whose content is read: its texts are masked or refused
NOT_A_CARRIER = "none"  # a flag, or an output path the user names

# command path -> parameter name -> how a card can come in through it.
ENTRY_POINTS: dict[str, dict[str, str]] = {
    "": {"db_url": VALUE},
    "case open": {
        "title": TEXT, "organization": TEXT, "category": VALUE, "account": VALUE,
        "amount": VALUE, "currency": VALUE, "merchant": TEXT, "txn_date": VALUE, "refs": REF,
        "not_a_card": NOT_A_CARRIER, "note": TEXT, "follow_up": VALUE,
        "at": VALUE, "abroad": NOT_A_CARRIER, "policy": VALUE,
    },
    "case contact": {
        "case_id": VALUE, "channel": VALUE, "at": VALUE, "direction": VALUE, "via": TEXT,
        "agent": TEXT, "agent_id": TEXT, "duration": VALUE, "refs": REF,
        "not_a_card": NOT_A_CARRIER, "summary": TEXT, "promise": TEXT, "due": VALUE,
        "promised_by": VALUE, "transcript": FILE_IN, "yes": NOT_A_CARRIER,
    },
    "case edit": {
        "case_id": VALUE, "title": TEXT, "organization": TEXT, "category": VALUE,
        "account": VALUE, "amount": VALUE, "currency": VALUE, "merchant": TEXT,
        "txn_date": VALUE, "opened_at": VALUE,
    },
    "case escalate": {"case_id": VALUE, "to": VALUE, "note": TEXT, "at": VALUE},
    "contact edit": {
        "contact_id": VALUE, "agent": TEXT, "agent_id": TEXT, "summary": TEXT,
        "channel": VALUE, "at": VALUE, "duration": VALUE, "ref": REF, "replace": VALUE,
        "not_a_card": NOT_A_CARRIER,
    },
    "note edit": {"note_id": VALUE, "text": TEXT},
    "promise by": {"promise_id": VALUE, "who": VALUE},
    "promise due": {"promise_id": VALUE, "when": VALUE, "reason": TEXT, "at": VALUE},
    "case follow-up": {"case_id": VALUE, "when": VALUE, "text": TEXT},
    "case letter": {"case_id": VALUE, "kind": VALUE, "output": NOT_A_CARRIER},
    "case file": {
        "case_id": VALUE, "output": NOT_A_CARRIER, "bundle": NOT_A_CARRIER,
        "pdf": NOT_A_CARRIER, "view": NOT_A_CARRIER,
    },
    "case list": {
        "status": VALUE, "organization": LOOKUP, "category": VALUE,
        "overdue": NOT_A_CARRIER, "limit": BOUND, "view": NOT_A_CARRIER, "tags": VALUE,
    },
    "case note": {"case_id": VALUE, "text": TEXT, "at": VALUE},
    "case promise": {"case_id": VALUE, "text": TEXT, "due": VALUE, "by": VALUE, "at": VALUE},
    "case attach": {
        "case_id": VALUE, "files": FILE_IN, "kind": VALUE, "note": TEXT, "at": VALUE,
    },
    "case attachment get": {"attachment_id": VALUE, "output": NOT_A_CARRIER},
    "case attachment list": {"case_id": VALUE, "view": NOT_A_CARRIER},
    "case ref": {
        "case_id": VALUE, "ref": REF, "kind": VALUE, "not_a_card": NOT_A_CARRIER, "at": VALUE,
    },
    "case reopen": {"case_id": VALUE, "at": VALUE},
    "case close": {"case_id": VALUE, "at": VALUE},
    "case resolve": {"case_id": VALUE, "outcome": TEXT, "at": VALUE},
    "case show": {"case_id": VALUE, "view": NOT_A_CARRIER, "zone": VALUE},
    "daemon install": {"notifier_spec": REFUSED, "poll": VALUE, "policy_file": FILE_IN},
    "daemon run": {
        "notifier_spec": REFUSED, "poll": VALUE, "retry": VALUE, "policy_file": FILE_IN,
    },
    "daemon status": {"limit": BOUND, "policy_file": FILE_IN, "view": NOT_A_CARRIER},
    "db backup": {"file": NOT_A_CARRIER},
    "db path": {},
    "db upgrade": {},
    "server run": {},
    "server status": {},
    "server stop": {},
    "due": {"within": VALUE, "policy_file": FILE_IN, "view": NOT_A_CARRIER},
    "export csv": {
        "case_id": VALUE, "since": VALUE, "output": NOT_A_CARRIER, "bom": NOT_A_CARRIER,
    },
    "export ics": {"case_id": VALUE, "since": VALUE, "output": NOT_A_CARRIER},
    "export json": {"case_id": VALUE, "output": NOT_A_CARRIER},
    "import json": {"file": FILE_IN},
    "import email": {"files": FILE_IN, "case_id": VALUE},
    "org add": {"name": TEXT, "country": VALUE, "website": TEXT, "notes": TEXT},
    "org import": {"path": FILE_IN, "prune": NOT_A_CARRIER},
    "org list": {"view": NOT_A_CARRIER},
    "org show": {"name": LOOKUP, "view": NOT_A_CARRIER},
    "promise broken": {"promise_id": VALUE},
    "promise cancel": {"promise_id": VALUE},
    "promise kept": {"promise_id": VALUE},
    "remind check": {
        "notifier_spec": REFUSED, "policy_file": FILE_IN, "verbose": NOT_A_CARRIER,
    },
    "search": {
        "query": LOOKUP, "organization": LOOKUP, "since": VALUE, "until": VALUE,
        "case_id": VALUE, "limit": BOUND, "view": NOT_A_CARRIER,
    },
    "undo": {},
    # Follow-ups with an end, and tags. (Last, so that the card shapes the entries above get,
    # one after another from a cycle, stay as they were.)
    "case tag": {"case_id": VALUE, "tags": VALUE},
    "case untag": {"case_id": VALUE, "tags": VALUE},
    "follow-up done": {"follow_up_id": VALUE},
    "follow-up cancel": {"follow_up_id": VALUE},
    "follow-up snooze": {"follow_up_id": VALUE, "when": VALUE},
    "snooze": {"case_id": VALUE, "when": VALUE},
    # `tracker call` asks its questions on a terminal only: here (no terminal) it refuses
    # before it reads anything. What is typed during a call is masked: tests/test_cli_call.py.
    "call": {"target": REFUSED, "organization": REFUSED, "category": VALUE},
    "log": {
        "text": TEXT, "case_id": VALUE, "channel": VALUE, "at": VALUE,
        "not_a_card": NOT_A_CARRIER, "yes": NOT_A_CARRIER,
    },
}  # fmt: skip

# Ways in added since, tried after all of the above (so that the card shapes those get, one
# after another from a cycle, stay as they were): a command's options here are its own in
# ENTRY_POINTS too, for the classification.
LATER_ENTRY_POINTS: dict[str, dict[str, str]] = {
    # A letter sent (its options are read only with --sent).
    "case letter": {
        "sent": NOT_A_CARRIER, "via": VALUE, "tracking": REF, "not_a_card": NOT_A_CARRIER,
        "copy_file": FILE_IN, "at": VALUE,
    },
    # Your settings (config.toml): a value with card data is refused, nothing written.
    "config set": {"key": VALUE, "values": REFUSED},
    "config unset": {"key": VALUE},
    "config get": {"key": VALUE, "view": NOT_A_CARRIER},
    "config show": {"view": NOT_A_CARRIER},
}  # fmt: skip


def _ways_in() -> Iterator[tuple[str, str, str]]:
    """(command, parameter, kind) of every way in, in the order they are tried."""
    for table in (ENTRY_POINTS, LATER_ENTRY_POINTS):
        for path, params in table.items():
            for param, kind in params.items():
                yield path, param, kind


def _classified() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path, param, _ in _ways_in():
        found.setdefault(path, set()).add(param)
    for table in (ENTRY_POINTS, LATER_ENTRY_POINTS):
        for path in table:
            found.setdefault(path, set())  # a command without parameters
    return found


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(cli)

    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, f"{path} {name}".strip())

    yield from walk(cli, "")


# Flags every command of a kind has, carrying nothing: --json of a write command
# (tracker.cli.common.write_command).
NOT_CLASSIFIED = ("help", "version", "write_json")


def _params(command: click.Command) -> list[str]:
    return [p.name for p in command.params if p.name and p.name not in NOT_CLASSIFIED]


def test_every_parameter_of_every_command_is_classified() -> None:
    found = {
        path: _params(command)
        for path, command in _commands()
        if not isinstance(command, click.Group) or path == ""
    }
    assert {p: set(n) for p, n in found.items()} == _classified(), (
        "classify the new command or option in ENTRY_POINTS (and give it a case below)"
    )


# --------------------------------------------------------------------------- every way in


class Secrets:
    """Fresh cards in the generated shapes, one per use, and a search for all of them."""

    def __init__(self, seed: int) -> None:
        self.cards: list[str] = []
        self._samples = cycle(
            [sample for shape in CARD_SHAPES for sample in card_samples(shape, 1, seed=seed)]
        )
        self._codes = cycle([next(code_samples(p, 1, seed=seed)) for p in CODE_PHRASINGS])

    def card(self) -> str:
        text, digits = next(self._samples)
        self.cards.append(digits)
        return text

    def text(self) -> str:
        code, _ = next(self._codes)
        return f"{self.card()} / {code}"

    def leaks(self, data: str) -> list[str]:
        return [digits for digits in self.cards if leaked(data, digits)]


def _secret_file(kind: str, command: str, tmp: Path, s: Secrets, home: Tracker) -> Path:
    if command == "org import":
        path = tmp / "directory.toml"
        path.write_text(
            "[[organization]]\n"
            f"name = {json.dumps('Bank ' + s.card())}\n"
            f"notes = {json.dumps(s.text())}\n"
            "[[organization.contact]]\n"
            'kind = "phone"\nvalue = "+1 800 528 2122"\n'
            f"label = {json.dumps(s.text())}\nregion = {json.dumps(s.card())}\n"
            f"hours = {json.dumps(s.text())}\nnotes = {json.dumps(s.text())}\n",
            encoding="utf-8",
        )
    elif command == "case contact":  # a chat transcript: kept masked, its findings masked
        path = tmp / "chat.txt"
        path.write_text(
            "Chat started 20 Nov 2026 10:00\n"
            f"Agent: Hello, my name is Jo. {s.text()}\n"
            f"You: my card is {s.card()}, {s.text()}\n"
            f"Agent: You will receive a letter within 5 business days. {s.card()}\n"
            "Chat ended 10:09\n",
            encoding="utf-8",
        )
    elif command == "case attach":  # a transcript; an email whose parts are encoded
        path = tmp / "transcript.txt"
        path.write_text(f"Agent: Maria\nMe: {s.text()}\n", encoding="utf-8")
    elif command == "import email":
        body = quopri.encodestring(f"My card: {s.text()}\nRef BASE-1\n".encode()).decode()
        path = tmp / "mail.eml"
        path.write_text(
            # The subject RFC 2047-encoded, as mail programs send a non-ASCII one.
            f"From: Bank <b@bank.example>\nSubject: {Header('Re: ' + s.card(), 'utf-8').encode()}\n"
            "Date: Mon, 02 Nov 2026 10:00:00 +0000\nMessage-ID: <gate@bank.example>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            f"Content-Transfer-Encoding: quoted-printable\n\n{body}",
            encoding="utf-8",
        )
    elif command == "import json":
        exported = json.loads(home.ok("export", "json"))
        for row in exported["tables"]["notes"]:
            row["body"] = s.text()
        path = tmp / "edited.json"
        path.write_text(json.dumps(exported), encoding="utf-8")
    else:  # a policy file
        path = tmp / "policy.toml"
        path.write_text(
            f'[[policy.general.threshold]]\nid = "x"\nwhy = {json.dumps(s.text())}\n'
            'since = "opened"\nafter = "1d"\nsuggest = "next"\n',
            encoding="utf-8",
        )
    return path


def _invocation(path: str, param: str, secret: str, case_id: str, plain: str = "x") -> list[str]:
    """A valid command line with `secret` as the value of `param` (`plain`: a file
    holding nothing secret, for a command that needs one)."""
    command = dict(_commands())[path]
    args: list[str] = path.split() if path else []
    options: list[str] = []
    for p in command.params:
        value = secret if p.name == param else None
        if isinstance(p, click.Argument):
            defaults = {
                "case_id": case_id, "promise_id": "1", "when": "1d", "contact_id": "1",
                "note_id": "1", "who": "me", "files": plain, "attachment_id": "1",
                "key": "name",
            }  # fmt: skip
            args.append(value if value is not None else defaults.get(p.name or "", "x"))
        elif isinstance(p, click.Option) and value is not None:
            options += [p.opts[0], value]
    needs = {
        "case contact": ["--channel", "phone"] if param != "channel" else [],
        "case promise": ["--due", "1d"] if param != "due" else [],
        "daemon run": ["--notifier", "console"] if param != "notifier_spec" else [],
        # The options of a letter sent are read only with --sent.
        "case letter": ["--sent"] if param in ("via", "tracking", "copy_file", "at") else [],
    }.get(path, [])
    if path == "case contact" and param == "transcript":
        needs += ["--yes"]
    if path == "log":
        needs += ["--yes"] + (["--case", case_id] if param != "case_id" else [])
        needs += ["--channel", "phone"] if param != "channel" else []
    if path == "case contact" and param == "promise":
        needs += ["--due", "1d"]
    if path == "case contact" and param == "due":
        needs += ["--promise", "x"]
    if path == "" and param == "db_url":
        return [*options, "case", "list"]
    return [*args, *options, *needs]


def test_every_way_in_masks_or_refuses_card_data(
    tracker: Tracker, db_url: str, backend: str, tmp_path: Path
) -> None:
    # A failure names its seed; TRACKER_GATE_SEED=N runs the same samples again.
    seed = int(os.environ.get("TRACKER_GATE_SEED") or random.randrange(10**6))
    s = Secrets(seed=seed)
    outputs: list[str] = []
    tracker.ok("case", "open", "Base", "--org", "Acme")
    # Contact 1, promise 1 and note 1, for the commands that correct them.
    tracker.ok("case", "contact", "1", "--channel", "phone", "--promise", "Call", "--due", "3d")
    tracker.ok("case", "note", "1", "A note")
    tracker.ok("case", "ref", "1", "BASE-1")  # the reference an email names (import email)
    plain = tmp_path / "receipt.txt"
    plain.write_text("Receipt: ACME Hardware 129.99\n", encoding="utf-8")
    for path, param, kind in _ways_in():
        if kind == NOT_A_CARRIER:
            continue
        # An escalation or a resolution changes its case: those get a case of their own.
        # So does `log`: case 1's organization may have been changed by a way in above, and
        # a line naming Acme ("Disputed charge on card ... at ACME") is refused for a case
        # with another one, as it should be.
        fresh = path in ("case escalate", "case resolve", "log")
        opened = ["--org", "Acme"] if path == "log" else []
        case_id = tracker.json("case", "open", "Base", *opened)["id"] if fresh else 1
        if kind == FILE_IN:
            secret = str(_secret_file(kind, path, tmp_path, s, tracker))
        else:
            secret = s.text() if kind == TEXT else s.card()
        args = _invocation(path, param, secret, str(case_id), str(plain))
        if path == "import json":  # into a store of its own, searched below too
            args = ["--db", f"sqlite:///{tmp_path / 'imported.db'}", *args]
        result = tracker(*args)
        outputs.append(result.stdout + result.stderr)
        if kind == TEXT and result.exit_code == 2 and "too long" in result.stderr:
            # A short field (an agent's id: 100 characters) refuses the longer samples
            # (a card and a security code phrase): then a card alone, masked.
            args = _invocation(path, param, s.card(), str(case_id), str(plain))
            result = tracker(*args)
            outputs.append(result.stdout + result.stderr)
        where = f"{path} {param} ({kind}): {result.stderr}"
        if kind == TEXT:
            assert result.exit_code == 0, where
            assert "Warning: masked" in result.stderr, where
        elif kind in (REF, VALUE, REFUSED):
            assert result.exit_code == 2 if kind != VALUE else result.exit_code in (1, 2), where
            assert result.stderr.startswith("Error: "), where
        elif kind == LOOKUP:
            assert result.exit_code in (0, 1), where
        elif kind in (BOUND, FILE_IN):
            assert result.exit_code in (0, 2), where
            if path in ("case attach", "import email"):  # stored, masked
                assert result.exit_code == 0 and "Warning: " in result.stderr, where
    for args in (
        ("case", "show", "1"), ("export", "csv"), ("export", "json"), ("due",),
        ("search", "cvv", "--limit", "1000"), ("search", "base*", "--json"),
    ):  # fmt: skip
        outputs.append(tracker.ok(*args))
    stored = _stored_text(db_url) + _stored_text(f"sqlite:///{tmp_path / 'imported.db'}")
    evidence = Path(db_url.removeprefix("sqlite:///") + "-evidence")
    if db_url.startswith("sqlite"):
        assert list(evidence.rglob("*")), "the transcript, the files and the letters were not kept"
    assert s.leaks(stored) == [], f"a card reached the store (seed {seed})"
    assert s.leaks("\n".join(outputs)) == [], [o[:300] for o in outputs if s.leaks(o)]


def _stored_text(db_url: str) -> str:
    """Every byte of a SQLite store (its WAL and its evidence files too), or every cell of a
    PostgreSQL one (the evidence's bytes included)."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        evidence = sorted(Path(f"{path}-evidence").rglob("*"))
        return "".join(
            p.read_bytes().decode("utf-8", "replace")
            for p in (path, Path(f"{path}-wal"), *evidence)
            if p.is_file()
        )
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            cells = []
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    cells.append(" | ".join(_cell(cell) for cell in row))
    finally:
        engine.dispose()
    return "\n".join(cells)


def _cell(value: object) -> str:
    if isinstance(value, bytes | memoryview):  # the evidence's bytes, as text
        return bytes(value).decode("utf-8", "replace")
    return str(value)


# --------------------------------------------------------------------------- installed command

# field -> (command, the field's length limit)
FREE_TEXT: dict[str, tuple[tuple[str, ...], int]] = {
    "the title": (("case", "open", "{}"), 500),
    "the note": (("case", "note", "1", "{}"), 100_000),
    "the summary": (("case", "contact", "1", "--channel", "chat", "--summary", "{}"), 100_000),
    "the promise": (("case", "promise", "1", "{}", "--due", "2d"), 2000),
    "the follow-up": (("case", "follow-up", "1", "3d", "{}"), 100_000),
}


def _chunks(texts: list[str], limit: int) -> Iterator[str]:
    chunk: list[str] = []
    for text in texts:
        if chunk and len(" ; ".join([*chunk, text])) > limit:
            yield " ; ".join(chunk)
            chunk = []
        chunk.append(text)
    if chunk:
        yield " ; ".join(chunk)


@pytest.mark.slow
def test_every_shape_and_phrasing_is_masked_from_the_installed_command(
    db_url: str, backend: str
) -> None:
    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [TRACKER, *args], capture_output=True, text=True, input=input, timeout=60
        )
        assert done.returncode == 0, (args, done.stderr)
        return done

    run("case", "open", "Shapes")
    cards: list[str] = []
    codes: list[str] = []
    outputs = []
    for field, (template, limit) in FREE_TEXT.items():
        samples = [next(card_samples(shape, 1, seed=len(cards))) for shape in CARD_SHAPES]
        phrasings = [next(code_samples(p, 1, seed=len(codes))) for p in CODE_PHRASINGS]
        cards += [digits for _, digits in samples]
        codes += [masked for _, masked in phrasings]
        for text in _chunks([t for t, _ in samples] + [t for t, _ in phrasings], limit):
            done = run(*(part.replace("{}", text) for part in template))
            assert f"in {field}" in done.stderr, done.stderr
            outputs.append(done.stdout + done.stderr)
    # The same through stdin, as a piped note.
    samples = [next(card_samples(shape, 1, seed=99)) for shape in CARD_SHAPES]
    cards += [digits for _, digits in samples]
    outputs.append(run("case", "note", "1", input="\n".join(t for t, _ in samples)).stderr)

    shown = run("case", "show", "1", "--json").stdout
    stored = _stored_text(db_url)
    for where, data in (("store", stored), ("output", "\n".join(outputs)), ("show", shown)):
        assert [d for d in cards if leaked(data, d)] == [], where
    for masked in codes:  # each phrasing, its value masked and its words kept
        assert masked in stored, masked
