"""Shell completion of values, through Click's completion protocol (the environment the
bash, zsh and fish scripts set), and once through a real bash with the generated script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import Tracker
from procs.support import TRACKER

from tracker.cli import cli, complete
from tracker.db import Store, sqlite_path


def completions(shell: str, line: str, env: dict[str, str] | None = None) -> list[str]:
    """What `tracker` answers the shell for `line` (the word being typed is its last, ""
    after a trailing space), in the shell's own format, one entry per completion."""
    words = line.split()
    if line.endswith(" "):
        words.append("")
    environ = {"_TRACKER_COMPLETE": f"{shell}_complete", **(env or {})}
    if shell == "fish":  # fish sends the line, and the word being typed on its own
        environ |= {"COMP_WORDS": line, "COMP_CWORD": words[-1]}
    else:
        environ |= {"COMP_WORDS": " ".join(words), "COMP_CWORD": str(len(words) - 1)}
    result = CliRunner().invoke(cli, [], env=environ, prog_name="tracker")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    out = result.stdout.rstrip("\n")
    if not out:
        return []
    if shell == "zsh":  # type, value, help: three lines each
        lines = out.split("\n")
        return [
            f"{lines[i + 1]}:{lines[i + 2]}" if lines[i + 2] != "_" else lines[i + 1]
            for i in range(0, len(lines), 3)
        ]
    return [entry.split(",", 1)[1] for entry in out.split("\n")]


@pytest.fixture
def filled(tracker: Tracker) -> Tracker:
    tracker.ok("case", "open", "Disputed charge", "--org", "American Express")
    tracker.ok("case", "open", "Card lost in Lisbon", "--org", "Acme Bank")
    tracker.ok("case", "contact", "1", "--channel", "phone", "--agent", "Maria",
               "--promise", "Provisional credit", "--due", "10bd")  # fmt: skip
    tracker.ok("case", "promise", "2", "New card", "--due", "3d")
    tracker.ok("case", "follow-up", "2", "2d", "Ring them")
    tracker.ok("case", "note", "2", "Blocked the card")
    tracker.ok("case", "resolve", "1")
    return tracker


def test_case_ids_with_their_titles_active_first(filled: Tracker) -> None:
    assert completions("zsh", "tracker case show ") == [
        "2:Card lost in Lisbon (waiting)",
        "1:Disputed charge (resolved)",
    ]
    assert completions("bash", "tracker case note ") == ["2", "1"]
    assert completions("bash", "tracker case note 1") == ["1"]
    assert completions("bash", "tracker case note x") == []
    assert completions("fish", "tracker export csv --case ") == [
        "2\tCard lost in Lisbon (waiting)",
        "1\tDisputed charge (resolved)",
    ]


def test_promises_follow_ups_interactions_and_notes(filled: Tracker) -> None:
    assert completions("zsh", "tracker promise kept ") == [
        "2:case 2: New card (pending)",
        "1:case 1: Provisional credit (pending)",
    ]
    found = {
        name: complete.completer_for(param, "case")
        for name, param in [
            ("follow_up_id", click.Argument(["follow_up_id"])),
            ("interaction_id", click.Argument(["interaction_id"])),
            ("note_id", click.Argument(["note_id"])),
        ]
    }
    ctx = click.Context(cli)
    shown = {
        name: [(i.value, i.help) for i in completer(ctx, click.Argument([name]), "")]  # type: ignore[misc]
        for name, completer in found.items()
    }
    assert shown == {
        "follow_up_id": [("1", "case 2: Ring them (pending)")],
        "interaction_id": [("1", "case 1: phone Maria")],
        "note_id": [("1", "case 2: Blocked the card")],
    }


def test_organization_names_escaped_for_bash_as_typed_for_zsh_and_fish(filled: Tracker) -> None:
    # Escaped twice: the bash script's `read` takes one level away (see the real bash below).
    assert completions("bash", "tracker case list --org A") == [
        "Acme\\\\ Bank",
        "American\\\\ Express",
    ]
    assert completions("bash", "tracker org show am") == ["American\\\\ Express"]
    assert completions("zsh", "tracker case open X --org Am") == ["American Express"]
    assert completions("fish", "tracker org show ") == ["Acme Bank", "American Express"]


def test_the_words_categories_channels_statuses_levels(filled: Tracker) -> None:
    assert completions("bash", "tracker case open X --category d") == ["dispute"]
    assert completions("bash", "tracker case contact 1 --channel e") == ["email"]
    assert completions("bash", "tracker case list --status ") == [
        "open", "waiting", "escalated", "resolved", "closed", "all",
    ]  # fmt: skip
    assert completions("bash", "tracker case escalate 1 --to ") == [
        "supervisor", "complaint", "regulator",
    ]  # fmt: skip


def test_tags_of_the_store_and_of_the_case(filled: Tracker) -> None:
    assert completions("bash", "tracker case list --tag ") == []  # no tags yet, no error
    filled.ok("case", "tag", "1", "travel")
    filled.ok("case", "tag", "2", "travel", "urgent")
    command = click.Command("list", params=[click.Option(["--tag"])])
    ctx = click.Context(command, info_name="list", parent=click.Context(cli))
    (param,) = command.params
    tags = complete.completer_for(param, "case")
    assert tags is complete.tags
    assert [(i.value, i.help) for i in tags(ctx, param, "")] == [
        ("travel", "2 cases"),
        ("urgent", "1 case"),
    ]
    assert completions("bash", "tracker case list --tag u") == ["urgent"]
    # untag offers the case's own tags.
    assert completions("bash", "tracker case untag 1 ") == ["travel"]


@pytest.mark.backends("sqlite")
def test_no_store_no_suggestions_and_none_created(tracker_home: Path, tmp_path: Path) -> None:
    for shell, line in [("bash", "tracker case show "), ("zsh", "tracker promise kept "),
                        ("fish", "tracker case list --org ")]:  # fmt: skip
        assert completions(shell, line) == []
    assert not tracker_home.exists()
    other = tmp_path / "elsewhere.db"
    assert completions("bash", f"tracker --db sqlite:///{other} case show ") == []
    assert not other.exists()
    # Words need no store.
    assert completions("bash", "tracker case open X --category l") == ["lost_stolen"]


def test_a_location_without_a_store_completes_nothing_and_stays_empty(new_db_url: str) -> None:
    assert completions("bash", "tracker case show ") == []
    assert completions("zsh", "tracker case list --org ") == []
    assert Store(new_db_url, migrate=False).revision() is None  # nothing made there


@pytest.mark.backends("sqlite")
def test_completion_reads_only_and_follows_db(filled: Tracker, db_url: str, tmp_path: Path) -> None:
    path = sqlite_path(db_url)
    assert path is not None
    before = path.read_bytes()
    assert completions("bash", "tracker case show ") == ["2", "1"]
    assert path.read_bytes() == before
    other = f"sqlite:///{tmp_path / 'other.db'}"
    Tracker()("--db", other, "case", "open", "Elsewhere")
    assert completions("zsh", f"tracker --db {other} case show ") == ["1:Elsewhere (open)"]


def test_every_parameter_named_by_the_convention_has_a_completer() -> None:
    ctx = click.Context(cli)

    def walk(command: click.Command, group: str | None) -> None:
        for param in command.params:
            if param.name in complete.BY_NAME or getattr(param.type, "what", None):
                assert param._custom_shell_complete is not None, (command.name, param.name)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, name)

    walk(cli, None)


def test_a_new_command_gets_completion_by_naming_its_parameters() -> None:
    @click.group()
    def things() -> None: ...

    @things.command()
    @click.argument("follow_up_id")
    @click.option("--org", "organization")
    @click.option("--level")
    def snooze(follow_up_id: str, organization: str, level: str) -> None: ...

    complete.attach(things)
    by_name = {p.name: p._custom_shell_complete for p in snooze.params}
    assert by_name["follow_up_id"] is complete.FOLLOW_UPS
    assert by_name["organization"] is complete.organizations
    assert by_name["level"] is not None


@pytest.mark.backends("sqlite")
def test_a_real_bash_completes_from_the_generated_script(filled: Tracker, db_url: str) -> None:
    env = {
        **os.environ,
        "TRACKER_DB": db_url,
        "PATH": f"{Path(TRACKER).parent}:{os.environ['PATH']}",
    }
    script = subprocess.run(
        [TRACKER], env={**env, "_TRACKER_COMPLETE": "bash_source"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "complete -o nosort -F _tracker_completion tracker" in script
    probe = (
        script
        + "\nCOMP_WORDS=(tracker case list --org Am); COMP_CWORD=4; _tracker_completion tracker"
        + '\nprintf "%s\\n" "${COMPREPLY[@]}"'
        + "\nCOMP_WORDS=(tracker case show ''); COMP_CWORD=3; COMPREPLY=()"
        + "\n_tracker_completion tracker"
        + '\nprintf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert out.splitlines() == ["American\\ Express", "2", "1"]
