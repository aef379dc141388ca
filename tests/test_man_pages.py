"""Man pages: one per command, generated from the commands, carried by the wheel and found by
`man` after a non-editable install (tracker/cli/manpages.py, hatch_build.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tracker.cli.manpages import escape, page_name, pages
from tracker.cli.reference import commands

ROOT = Path(__file__).resolve().parent.parent
MAN1 = "share/man/man1/"


def test_every_command_has_a_page_with_its_options() -> None:
    found = pages()
    for path, command in commands():
        text = found[f"{page_name(path)}.1"]
        assert text.startswith(f'.TH "{page_name(path).upper()}" "1"'), path
        assert f".B {escape(path)}\n" in text, path
        for param in command.params:
            for flag in getattr(param, "opts", []):
                if flag.startswith("-") and not getattr(param, "hidden", False):
                    assert f"\\fB{escape(flag)}\\fR" in text, (path, flag)
    assert len(found) == len(list(commands()))
    group = found["tracker-case.1"]
    assert "See \\fBtracker\\-case\\-open\\fR(1)." in group
    assert ".BR tracker (1)," in group  # its parent, in SEE ALSO


def test_help_text_is_escaped_and_examples_kept_as_typed() -> None:
    assert escape(".hidden request\n'another\nplain \\ back-slash") == (
        "\\&.hidden request\n\\&'another\nplain \\e back\\-slash"
    )
    text = pages()["tracker-case-contact.1"]
    # The examples (a \b paragraph) are not filled: each line as in --help.
    block = text.split(".nf\n", 1)[1].split("\n.fi", 1)[0]
    assert block.splitlines()[0] == "Examples:"
    assert "  tracker case contact 1 \\-\\-channel phone" in block
    assert "\b" not in text


def _render(page: Path) -> subprocess.CompletedProcess[str]:
    """The page as `man` shows it (80 columns), with roff's warnings on stderr."""
    env = {**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0", "LC_ALL": "C.UTF-8"}
    if shutil.which("man"):
        command = ["man", "--warnings", "-l", str(page)]
    elif shutil.which("groff"):
        command = ["groff", "-man", "-Tutf8", "-ww", "-z", str(page)]
    else:
        pytest.skip("neither man nor groff is installed: the pages cannot be rendered")
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def test_a_page_with_a_roff_mistake_is_caught(tmp_path: Path) -> None:
    """The render check below can fail: a bad request warns."""
    bad = tmp_path / "bad.1"
    bad.write_text('.TH "BAD" "1"\n.SH NAME\nbad \\- page\n.XX not a macro\n')
    assert _render(bad).stderr.strip()


@pytest.mark.slow
def test_the_wheel_installs_the_pages_where_man_finds_them(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("*.whl")
    expected = pages()
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.rsplit("/", 1)[1]: archive.read(name).decode()
            for name in archive.namelist()
            if ".data/data/" + MAN1 in name
        }
    assert shipped == expected  # every page, as the commands say it now

    # A fresh venv (no pip of its own: the running pip installs into it).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "-q", "--no-deps", str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    man1 = venv / MAN1
    assert sorted(p.name for p in man1.iterdir()) == sorted(expected)

    for name in ("tracker.1", "tracker-case.1", "tracker-case-open.1", "tracker-undo.1"):
        shown = _render(man1 / name)
        assert shown.returncode == 0 and not shown.stderr.strip(), (name, shown.stderr)
    if shutil.which("man"):
        env = {**os.environ, "MANPATH": str(venv / "share" / "man")}
        where = subprocess.run(
            ["man", "-w", "tracker-case"], capture_output=True, text=True, env=env, check=False
        )
        assert where.stdout.strip() == str(man1 / "tracker-case.1"), where.stderr
        shown = subprocess.run(
            ["man", "tracker-case-open"],
            capture_output=True,
            text=True,
            env={**env, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"},
            check=False,
        )
        assert "tracker case open [OPTIONS] TITLE" in shown.stdout, shown.stderr


def test_every_page_renders_without_warnings(tmp_path: Path) -> None:
    for name, text in pages().items():
        page = tmp_path / name
        page.write_text(text, encoding="utf-8")
        shown = _render(page)
        assert shown.returncode == 0 and not shown.stderr.strip(), (name, shown.stderr)
        assert "TRACKER" in shown.stdout, name
