"""What `case file` says it wrote (:class:`Text`, :class:`Json`); the page itself is
tracker.views.casepage, loaded by the command alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracker.views.base import echo, emit_json

# --------------------------------------------------------------------------- what was written


@dataclass(frozen=True)
class Written:
    """One file `case file` wrote: the page, the bundle or the PDF."""

    kind: str  # "html", "bundle", "pdf"
    path: str  # as given; "-" for standard output
    size: int
    sha256: str
    detail: str


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024 else f"{count / 1024:.1f} KiB"


def report(case_id: int, files: Sequence[Written]) -> dict[str, Any]:
    by_kind = {f.kind: f.path for f in files}
    return {
        "case_id": case_id,
        "html": by_kind.get("html"),
        "bundle": by_kind.get("bundle"),
        "pdf": by_kind.get("pdf"),
        "files": [
            {"kind": f.kind, "path": f.path, "size": f.size, "sha256": f.sha256} for f in files
        ],
    }


class Text:
    def case_file_written(self, case_id: int, files: Sequence[Written]) -> None:
        # On stderr: the page itself may be on stdout (-o -).
        for f in files:
            if f.path != "-":
                echo(
                    f"Wrote {f.detail} for case {case_id} to {f.path} ({_size(f.size)}).", err=True
                )


class Json:
    def case_file_written(self, case_id: int, files: Sequence[Written]) -> None:
        emit_json(report(case_id, files))
