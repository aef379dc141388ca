"""What `case contact --transcript` shows before it saves: each field it found, and where
from (a flag given wins over the transcript)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from tracker.redact import mask
from tracker.when import calendar_by_key, format_local, zone_label

if TYPE_CHECKING:  # loaded with --transcript only
    from tracker.cases import NewPromise
    from tracker.transcript import Capture

_WIDTH = 12


def _duration(value: timedelta) -> str:
    minutes = round(value.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours}h{rest:02d}m" if hours else f"{minutes}m"


def _row(label: str, value: str, given: bool = False) -> str:
    head = f"{label}:" if label else ""
    return f"  {head:<{_WIDTH}} {value}{'  (given)' if given else ''}"


def promise_words(promise: NewPromise, now: datetime) -> str:
    who = "by the company" if promise.promised_by == "company" else "by me"
    if promise.window_start is not None:
        when = (
            f"expected from {format_local(promise.window_start)[:10]}, "
            f"due by {format_local(promise.due)}"
        )
    else:
        when = f"due {format_local(promise.due)}"
    if promise.calendar:
        when += f" (business days: {calendar_by_key(promise.calendar).name})"
    if promise.due < now:
        when += "; already overdue"
    return f"{who}, {when}"


def findings(capture: Capture, now: datetime, zone: tzinfo) -> list[str]:
    """The lines shown before the question (masked: nothing here shows a card number)."""
    found, given = capture.found, capture.given
    said = len([m for m in found.messages if m.speaker])
    lines = [f"Found in {capture.filename} ({said} messages):"]
    lines.append(_row("agent", mask(capture.agent or "none named"), "agent" in given))
    if found.bots:
        handed = f", handed over to {', '.join(found.agents)}" if found.handed_over else ""
        lines.append(_row("bot", mask(", ".join(found.bots)) + handed))
    if capture.agent_id:
        lines.append(_row("agent id", mask(capture.agent_id), "agent id" in given))
    if found.unplaced:
        lines.append(_row("speakers", mask(", ".join(found.unplaced)) + " (not told apart)"))
    if capture.at is not None:
        when = f"{format_local(capture.at, zone)} ({zone_label(zone, capture.at)})"
        if capture.placed.end is not None and "at" not in given:
            when += f" to {format_local(capture.placed.end, zone)[11:]}"
        lines.append(_row("time", when, "at" in given))
    else:
        lines.append(_row("time", "now (the transcript gives none; --at says when)"))
    if capture.duration is not None:
        lines.append(_row("duration", _duration(capture.duration), "duration" in given))
    refs = [f"{r} ({capture.ref_kinds[r]})" if r in capture.ref_kinds else r for r in capture.refs]
    lines.append(_row("references", ", ".join(refs) or "none", "references" in given))
    for promise in capture.promises:
        lines.append(_row("promise", mask(promise.text), "promises" in given))
        lines.append(_row("", promise_words(promise, now)))
    if not capture.promises:
        lines.append(_row("promises", "none", "promises" in given))
    for text in capture.placed.skipped:
        lines.append(_row("not read", mask(text) + " (its time is not one tracker reads)"))
    lines.append(_row("summary", mask(capture.summary), "summary" in given))
    masked = capture.prepared.masked
    kept = "kept as evidence" + (f", card data masked: {masked}" if masked else "")
    lines.append(_row("transcript", kept))
    return lines
