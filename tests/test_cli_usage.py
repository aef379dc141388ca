"""Bare commands print their help; '-' reads standard input where a command reads a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "directory"


@pytest.mark.parametrize("args", [(), ("case",), ("org",), ("daemon",)])
def test_a_bare_command_prints_its_help_as_help_does(tracker: Any, args: tuple[str, ...]) -> None:
    bare = tracker(*args)
    assert (bare.exit_code, bare.stderr) == (0, "")
    assert bare.stdout == tracker.ok(*args, "--help")
    assert bare.stdout.startswith("Usage: ")  # (the runner calls the program "cli")
    assert "\n\nCommands:\n" in bare.stdout  # laid out, not squashed onto one line


def test_org_import_reads_standard_input_for_dash(tracker: Any) -> None:
    text = (EXAMPLES / "cfpb.toml").read_text()
    out = tracker.ok("org", "import", "-", input=text)
    assert out.startswith("Imported Consumer Financial Protection Bureau (new)")
    assert tracker.fails(2, "org", "import", "-", input="x = \n").startswith(
        "Error: standard input is not valid TOML: "
    )
