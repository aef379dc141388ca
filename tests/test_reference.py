"""docs/commands.md is the commands' own help: regenerate it when a command changes."""

from __future__ import annotations

from pathlib import Path

from tracker.cli.reference import commands, markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_command_reference_is_current() -> None:
    assert (DOCS / "commands.md").read_text(encoding="utf-8") == markdown(), (
        "run: .venv/bin/python -m tracker.cli.reference > docs/commands.md"
    )


def test_the_reference_lists_every_command() -> None:
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    for path, _ in commands():
        assert f"## `{path}`" in text
