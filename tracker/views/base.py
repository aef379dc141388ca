"""What every view shares: writing to the terminal, JSON encoding, tables."""

from __future__ import annotations

import json
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
    return " ".join(str(text).split())


def clip(text: str, width: int) -> str:
    text = one_line(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, aligned: bool = True) -> str:
    """An aligned table (for people) or tab-separated lines (for pipes)."""
    if not aligned:
        lines = ["\t".join(headers)]
        lines += ["\t".join(one_line(c) for c in row) for row in rows]
        return "\n".join(lines)
    cells = [list(headers)] + [[one_line(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out)


def indented_rows(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Aligned rows without a header line, each indented (the blocks of a report)."""
    if not rows:
        return []
    lines = table([""] * len(rows[0]), rows).splitlines()[1:]
    return [indent + line for line in lines]
