"""`tracker search`: the results, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracker.views import base
from tracker.views.base import clip, echo, emit_json, table
from tracker.views.case import iso
from tracker.when import format_local

if TYPE_CHECKING:
    from tracker.search import Hit


def hit_dict(hit: Hit) -> dict[str, Any]:
    return {
        "case_id": hit.case_id,
        "case_title": hit.case_title,
        "organization": hit.organization,
        "match": hit.label,
        "kind": hit.source.kind,
        "id": hit.row_id,
        "field": hit.source.field,
        "at": iso(hit.at),
        "snippet": hit.snippet,
    }


class Text:
    def search_results(self, hits: Sequence[Hit], now: datetime) -> None:
        if not hits:
            echo("Nothing found.")
            return
        aligned = base.stdout_is_tty()
        headers = ["CASE", "TITLE", "MATCH", "WHEN", "EXCERPT"]
        rows = [
            [
                str(hit.case_id),
                clip(hit.case_title, 30) if aligned else hit.case_title,
                hit.label,
                format_local(hit.at) if hit.at is not None else "",
                hit.snippet,
            ]
            for hit in hits
        ]
        echo(table(headers, rows, aligned=aligned))


class Json:
    def search_results(self, hits: Sequence[Hit], now: datetime) -> None:
        emit_json([hit_dict(hit) for hit in hits])
