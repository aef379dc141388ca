"""Man pages (roff, section 1), generated from the Click commands themselves.

One page per command, named after its words: ``tracker.1``, ``tracker-case.1``,
``tracker-case-open.1``, ... The wheel carries them in its shared data
(``share/man/man1/``, written by hatch_build.py at build time), so that ``pip install``
puts them under ``<prefix>/share/man/man1`` and ``man tracker-case-open`` finds them.
An editable install has no pages: ``python -m tracker.cli.manpages DIR`` writes them into
DIR, and ``man -l DIR/tracker-case-open.1`` reads one.

A page is the command's ``--help``, as roff: the synopsis, the help text (its ``\\b``
blocks, the examples, kept as typed, unfilled), the options with their help, a group's
commands, and the related pages. The command list walks the commands the way
docs/commands.md does (tracker.cli.reference), so a new command gets its page with no code
here. Click 8's own help formatting is not used: its output is for a terminal (wrapped,
aligned with spaces), and roff fills and aligns by itself.

Why not click-man: it reads a group's ``commands`` attribute, which the lazily loaded root
group (tracker.cli.LazyGroup) leaves empty, so it would write ``tracker.1`` alone; and it
copies the help text into roff unescaped (a line starting with a dot, Click's ``\\b``
marker, backslashes), which man renders wrong.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import click

from tracker import __version__
from tracker.cli.reference import commands, context

SECTION = "1"
MANUAL = "tracker manual"


def page_name(path: str) -> str:
    """``tracker-case-open`` of ``tracker case open``."""
    return path.replace(" ", "-")


def escape(text: str) -> str:
    """Text as roff prints it: backslashes and hyphen-minus escaped, and no line that roff
    would read as a request (one starting with a dot or an apostrophe)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.split("\n")
    )


def _inline(text: str) -> str:
    """Escaped text, with `code` in bold."""
    # A path or URL may break after a slash: no hyphenation (.nh) breaks it otherwise.
    shown = escape(text).replace("/", "/\\:")
    return re.sub(r"`([^`]+)`", r"\\fB\1\\fR", shown)


def _help_text(command: click.Command) -> str:
    text = command.help or ""
    return inspect.cleandoc(text.split("\f", 1)[0])


def description(command: click.Command) -> list[str]:
    """The help text as roff: paragraphs filled; a paragraph after a ``\\b`` line (Click's
    mark for "do not rewrap": the examples) kept line by line, as typed."""
    lines: list[str] = []
    for paragraph in re.split(r"\n\s*\n", _help_text(command)):
        if not paragraph.strip():
            continue
        if lines:
            lines.append(".PP")
        if paragraph.startswith("\b"):
            body = paragraph.split("\n", 1)[1] if "\n" in paragraph else ""
            lines += [".nf", escape(body.rstrip()), ".fi"]
        else:
            lines.append(_inline(" ".join(paragraph.split())))
    return lines


def short_help(command: click.Command) -> str:
    return command.get_short_help_str(limit=300).rstrip(".")


def _option(record: tuple[str, str]) -> list[str]:
    """``.TP`` / ``\\fB--due\\fR \\fIWHEN\\fR`` / help, from Click's help record."""
    names, help_text = record
    parts = []
    for name in names.split(", "):
        flag, _, metavar = name.partition(" ")
        # A choice list may be wider than the page: it may break after each "|".
        shown = escape(metavar).replace("|", "|\\:")
        parts.append(f"\\fB{escape(flag)}\\fR" + (f" \\fI{shown}\\fR" if metavar else ""))
    return [".TP", ", ".join(parts), _inline(" ".join(help_text.split())) or "\\&"]


def page(path: str, command: click.Command) -> str:
    """The man page of the command at `path` (``tracker case open``)."""
    ctx = context(path)
    name = page_name(path)
    title = name.upper()
    lines = [
        f'.TH "{title}" "{SECTION}" "" "tracker {__version__}" "{MANUAL}"',
        ".nh",  # no hyphenation: command and option names are typed as shown
        ".ad l",
        ".SH NAME",
        f"{escape(name)} \\- {escape(short_help(command).replace('`', ''))}",
        ".SH SYNOPSIS",
        f".B {escape(path)}",
        escape(" ".join(command.collect_usage_pieces(ctx))),
        ".SH DESCRIPTION",
        *description(command),
    ]
    options = [
        record
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and not param.hidden
        for record in [param.get_help_record(ctx)]
        if record is not None
    ]
    if options:
        lines.append(".SH OPTIONS")
        for record in options:
            lines += _option(record)
    related = [path.rsplit(" ", 1)[0]] if " " in path else []
    if isinstance(command, click.Group):
        lines.append(".SH COMMANDS")
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is None or sub.hidden:
                continue
            sub_path = f"{path} {sub_name}"
            lines += [
                ".TP",
                f"\\fB{escape(sub_name)}\\fR",
                f"{_inline(short_help(sub))}. See \\fB{escape(page_name(sub_path))}\\fR(1).",
            ]
            related.append(sub_path)
    if related:
        lines.append(".SH SEE ALSO")
        refs = [f".BR {escape(page_name(p))} ({SECTION})" for p in related]
        lines += [ref + ("," if i < len(refs) - 1 else "") for i, ref in enumerate(refs)]
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """Every command's page: file name (``tracker-case-open.1``) -> roff."""
    return {
        f"{page_name(path)}.{SECTION}": page(path, command)
        for path, command in commands()
        if not command.hidden
    }


def write(directory: Path) -> list[Path]:
    """Write every page into `directory` (made if missing); the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages().items():
        target = directory / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        click.echo("Usage: python -m tracker.cli.manpages DIR", err=True)
        return 2
    found = write(Path(argv[0]))
    click.echo(f"Wrote {len(found)} man pages to {argv[0]}", err=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
