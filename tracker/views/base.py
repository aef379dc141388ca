"""What every view shares: writing to the terminal, JSON encoding, tables."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def echo(text: str, *, err: bool = False) -> None:
    click.echo(text, err=err)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def emit_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (the only thing a --json command prints there)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def one_line(text: str) -> str:
    """`text` with each run of whitespace (a line break, a tab, a no-break space) made one
    space, and none at either end."""
    text = str(text)
    # Most cells are one line already: returned as they are (a table of 10k lines has 60k
    # of them). Every character str.split() breaks on but the ASCII space is unprintable,
    # so a printable text without doubled or outer spaces is its own result.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def width_of(text: str) -> int:
    """How many terminal columns `text` takes: wide characters (CJK, most emoji) take two,
    combining marks and zero-width joiners none (wcwidth)."""
    if text.isascii():
        return len(text)
    from wcwidth import wcswidth

    found = int(wcswidth(text))
    return found if found >= 0 else sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    from wcwidth import wcwidth

    return max(int(wcwidth(char)), 0)


def clip(text: str, width: int) -> str:
    """`text` on one line, cut to `width` terminal columns with an ellipsis if longer."""
    text = one_line(text)
    if width_of(text) <= width:
        return text
    out, used = [], 0
    for char in text:
        size = _char_width(char) if not char.isascii() else 1
        if used + size > width - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def terminal_width() -> int | None:
    """The terminal's width in columns (COLUMNS wins), or None when stdout is no terminal
    (a file or a pipe gets every word: nothing is cut to fit)."""
    import shutil

    if not stdout_is_tty():
        return None
    return shutil.get_terminal_size((80, 24)).columns


def use_colour() -> bool:
    """Colour on a terminal, unless NO_COLOR is set (no-color.org) or TERM is dumb."""
    return (
        stdout_is_tty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM", "") != "dumb"
    )


MIN_CUT = 12  # a column cut to fit the terminal keeps at least this many columns
_ALERT_WORDS = ("OVERDUE", "overdue", "broken", "BROKEN")


def _alert(cell: str) -> bool:
    """A cell that says something is late or broken: shown in red on a colour terminal."""
    return any(word in cell for word in _ALERT_WORDS)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    aligned: bool = True,
    fit: Sequence[int] | None = None,
    width: int | None = None,
) -> str:
    """An aligned table (for people) or tab-separated lines (for pipes, unchanged).

    Aligned, columns are measured in terminal columns (wide characters take two), and when a
    line would be wider than the terminal (`width`, default: the terminal's), the columns in
    `fit` (default: the last one) are cut with an ellipsis, the widest first, down to
    MIN_CUT. Cells that say something is overdue or broken are red on a colour terminal.
    """
    if not aligned:
        lines = ["\t".join(headers)]
        lines += ["\t".join(one_line(c) for c in row) for row in rows]
        return "\n".join(lines)
    cells = [list(headers)] + [[one_line(c) for c in row] for row in rows]
    count = len(headers)
    widths = [max(width_of(row[i]) for row in cells) for i in range(count)]
    room = terminal_width() if width is None else width
    cut = (
        set() if room is None else _fit(widths, list(fit) if fit is not None else [count - 1], room)
    )
    colour = use_colour()
    out = []
    for index, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            alert = colour and index > 0 and _alert(cell)  # (before a cut hides the word)
            if i in cut:
                cell = clip(cell, widths[i])
            pad = "" if i == count - 1 else " " * (widths[i] - width_of(cell))
            if alert:
                cell = click.style(cell, fg="red", bold=True)
            parts.append(cell + pad)
        out.append("  ".join(parts).rstrip())
    return "\n".join(out)


def _fit(widths: list[int], flexible: list[int], room: int) -> set[int]:
    """Narrow the flexible columns (widest first) until the line fits `room`; which were cut."""
    cut: set[int] = set()
    excess = sum(widths) + 2 * (len(widths) - 1) - room
    while excess > 0:
        candidates = [i for i in flexible if widths[i] > MIN_CUT]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        others = [widths[i] for i in candidates if i != widest]
        # Down to the next widest (or by the excess, or to MIN_CUT), whichever is least.
        step = min(excess, widths[widest] - max([MIN_CUT, *others]) or 1)
        widths[widest] -= step
        excess -= step
        cut.add(widest)
    return cut


def indented_rows(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Aligned rows without a header line, each indented (the blocks of a report)."""
    if not rows:
        return []
    room = terminal_width()
    text = table([""] * len(rows[0]), rows, width=None if room is None else room - len(indent))
    return [indent + line for line in text.splitlines()[1:]]
