"""Tables for people: display width, fit to the terminal, colour; pipes get TSV unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from tracker.views import base
from tracker.views.base import clip, one_line, table, width_of

HEADERS = ["ID", "ORGANIZATION", "TITLE"]


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Any:
    """stdout is a terminal of COLUMNS columns, colour allowed unless the test says not."""

    def set_up(columns: int = 80, *, colour: bool = False) -> None:
        monkeypatch.setattr(base, "stdout_is_tty", lambda: True)
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setenv("TERM", "xterm")
        if colour:
            monkeypatch.delenv("NO_COLOR", raising=False)
        else:
            monkeypatch.setenv("NO_COLOR", "1")

    return set_up


def test_width_counts_wide_characters_twice_and_marks_none() -> None:
    assert width_of("abc") == 3
    assert width_of("みずほ銀行") == 10
    assert width_of("🎉") == 2
    assert width_of("e\u0301") == 1  # e + combining acute
    assert clip("みずほ銀行", 7) == "みずほ…"  # 6 columns + the ellipsis
    assert width_of(clip("みずほ銀行", 7)) <= 7


def test_columns_line_up_by_display_width(terminal: Any) -> None:
    terminal(200)
    text = table(HEADERS, [["1", "みずほ銀行", "Refund"], ["2", "Amex", "Lost card"]])
    starts = [
        line.index(title)
        for line, title in zip(text.splitlines()[1:], ("Refund", "Lost"), strict=True)
    ]
    head, first, second = text.splitlines()
    assert width_of(first[: starts[0]]) == width_of(second[: starts[1]]) == head.index("TITLE")


def test_a_long_line_is_cut_to_the_terminal_with_an_ellipsis(terminal: Any) -> None:
    terminal(60)
    name = "An Organization With A Very Long Name That Goes On And On For Eighty Four Characters"
    title = "Refund for the duplicated charge on the November statement"
    text = table(HEADERS, [["1", name, title]], fit=(1, 2))
    assert all(width_of(line) <= 60 for line in text.splitlines())
    row = text.splitlines()[1]
    assert "…" in row and row.startswith("1   An Organization")
    # Nothing to cut: unchanged.
    terminal(300)
    assert "…" not in table(HEADERS, [["1", name, title]], fit=(1, 2))


def test_a_pipe_gets_tab_separated_lines_unchanged(terminal: Any) -> None:
    rows = [["1", "みずほ銀行", "x" * 300]]
    assert (
        table(HEADERS, rows, aligned=False)
        == "ID\tORGANIZATION\tTITLE\n1\tみずほ銀行\t" + "x" * 300
    )


def test_overdue_and_broken_are_red_on_a_colour_terminal_only(
    terminal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [["1", "Amex", "OVERDUE"], ["2", "Amex", "kept"], ["3", "Chase", "broken"]]
    terminal(100, colour=True)
    text = table(HEADERS, rows)
    assert "\x1b[31m\x1b[1mOVERDUE\x1b[0m" in text and "\x1b[31m\x1b[1mbroken\x1b[0m" in text
    assert "\x1b" not in text.splitlines()[2]  # kept
    terminal(100, colour=False)  # NO_COLOR
    assert "\x1b" not in table(HEADERS, rows)
    terminal(100, colour=True)
    monkeypatch.setenv("TERM", "dumb")
    assert "\x1b" not in table(HEADERS, rows)
    monkeypatch.setattr(base, "stdout_is_tty", lambda: False)  # a pipe
    monkeypatch.setenv("TERM", "xterm")
    assert "\x1b" not in table(HEADERS, rows, aligned=False)


def test_case_list_on_a_terminal_fits_and_keeps_every_id(tracker: Any, terminal: Any) -> None:
    terminal(80)
    long = "An Organization With A Very Long Name That Goes On And On For Eighty Four Characters"
    tracker.ok("case", "open", "Refund for the duplicated charge on the November statement",
               "--org", long)  # fmt: skip
    tracker.ok("case", "open", "Lost card in Tokyo", "--org", "みずほ銀行")
    out = tracker.ok("case", "list")
    lines = out.splitlines()
    assert all(width_of(line) <= 80 for line in lines), out
    assert [line.split()[0] for line in lines[1:]] == ["2", "1"]


def test_a_report_written_to_a_file_or_pipe_keeps_every_word(tracker: Any) -> None:
    summary = "Card blocked, replacement sent to the hotel in Lisbon by courier, " * 3
    tracker.ok("case", "open", "Lost card", "--org", "Amex")
    tracker.ok("case", "contact", "1", "--channel", "phone", "--summary", summary.strip())
    shown = tracker.ok("case", "show", "1")  # stdout is not a terminal here
    assert summary.strip() in shown and "…" not in shown


def test_one_line_folds_every_kind_of_whitespace_as_split_does() -> None:
    """Its shortcut for a cell that is one line already leaves no break, tab or no-break
    space of any kind in a cell."""
    import sys

    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if f"a{c}b".split() != [f"a{c}b"]]
    assert "\xa0" in spaces and "\u2028" in spaces and "\t" in spaces
    for space in [*spaces, "  "]:
        for text in (space, f"x{space}y", f"{space}x", f"x{space}", f"a b{space}c  d"):
            assert one_line(text) == " ".join(text.split()), repr(text)
    assert one_line("Called, no news") == "Called, no news"
    assert one_line(42) == "42"  # type: ignore[arg-type]
