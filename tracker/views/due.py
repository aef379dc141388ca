"""`tracker due`: what is due, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tracker.due import DueItem
from tracker.views import base
from tracker.views.base import echo, emit_json, table
from tracker.views.case import due_text, iso
from tracker.when import format_local, local_zone

DUE_KINDS = {
    "follow_up": "follow-up",
    "promise": "company promise",
    "my_promise": "my promise",
    "threshold": "threshold",
}


def due_table(items: Sequence[DueItem], now: datetime, *, aligned: bool) -> str:
    headers = ["DUE AT", "DUE", "CASE", "TITLE", "KIND", "WHAT"]
    zone = local_zone()  # once: a large store's list has tens of thousands of lines
    rows = []
    for item in items:
        rows.append(
            [
                format_local(item.due_at, zone),
                due_text(item.due_at, now),
                str(item.case_id),
                item.case_title,
                DUE_KINDS.get(item.kind, item.kind.replace("_", " ")),
                f"{item.text}. Next: {item.suggestion}" if item.suggestion else item.text,
            ]
        )
    return table(headers, rows, aligned=aligned, fit=(3, 5))  # title, what


def due_dict(item: DueItem, now: datetime) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "case_id": item.case_id,
        "case_title": item.case_title,
        "organization": item.organization,
        "due_at": iso(item.due_at),
        "overdue": item.overdue(now),
        "text": item.text,
        "id": item.item_id,
        "suggestion": item.suggestion,
    }


class Text:
    def due(self, items: Sequence[DueItem], now: datetime) -> None:
        if not items:
            echo("Nothing due.")
            return
        echo(due_table(items, now, aligned=base.stdout_is_tty()))


class Json:
    def due(self, items: Sequence[DueItem], now: datetime) -> None:
        emit_json([due_dict(item, now) for item in items])
