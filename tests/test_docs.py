"""Every command has help with an example, and README.md shows every command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from conftest import Tracker

from tracker.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"tracker {' '.join((*prefix, name))} does not load"
        path = (*prefix, name)
        yield " ".join(path), command
        if isinstance(command, click.Group):
            yield from walk(command, path)


ALL = list(walk(cli))


def test_every_root_command_loads() -> None:
    assert {path for path, _ in ALL if " " not in path} == set(COMMANDS)


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_command_has_help_with_an_example(path: str, command: click.Command) -> None:
    assert command.help, f"tracker {path} has no help text"
    assert "Example" in command.help, f"tracker {path} help shows no example"
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in {"help"}:
            assert param.help, f"tracker {path} option {param.opts[0]} has no help"


@pytest.mark.parametrize(
    "path", [p for p, c in ALL if not isinstance(c, click.Group)], ids=lambda p: p
)
def test_readme_shows_every_command(path: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"tracker {re.escape(path)}\b", readme), (
        f"README.md never shows `tracker {path}`"
    )


def test_help_flag_works_everywhere(tracker_home: Path) -> None:
    # Help needs no store: it is asked for before one exists, and none is made.
    tracker = Tracker()
    for path, _ in ALL:
        out = tracker.ok(*path.split(), "-h")
        assert re.match(rf"Usage: \S+ {re.escape(path)} \[OPTIONS\]", out), (path, out)
        assert "Example" in out, (path, out)
        assert out == tracker.ok(*path.split(), "--help"), path
    assert not tracker_home.exists(), "asking for help created a store"


def test_every_relative_link_in_the_docs_leads_to_a_file() -> None:
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(root)}: {target}")
    assert not broken
    # README points to every page of docs/.
    readme = (root / "README.md").read_text()
    for doc in sorted((root / "docs").glob("*.md")):
        if doc.name != "README.md":
            assert f"(docs/{doc.name})" in readme, doc.name
