"""The case file as files: the bundle (a zip of the page, the evidence and a manifest of
hashes) and the PDF (WeasyPrint, the ``pdf`` extra). The page itself is a view of the case
(tracker.views.casepage); this module takes it as text.

The bundle holds ``case-N.html``, every evidence file as stored (``evidence/<id>-<name>``,
checked against its hash on the way out), ``manifest.json`` (each file's path, SHA-256,
size and what it is) and ``SHA256SUMS``, in the format ``sha256sum -c`` reads.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker import __version__, evidence
from tracker.errors import TrackerError
from tracker.models import Attachment

PDF_EXTRA = "pip install 'customer-case-tracker[pdf]'"


def html_name(case_id: int) -> str:
    return f"case-{case_id}.html"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def member_name(attachment: Attachment) -> str:
    """Its path in the bundle: evidence/<id>-<name>, with nothing a zip tool or
    `sha256sum -c` could read as a folder or a line break."""
    name = _UNSAFE.sub("_", attachment.filename).strip().lstrip(".") or "file"
    return f"evidence/{attachment.id}-{name}"


def bundle(
    session: Session,
    *,
    case_id: int,
    title: str,
    prepared_at: datetime,
    attachments: Sequence[Attachment],
    html: str,
) -> bytes:
    """A zip of the page, every evidence file (its stored copy, checked against its hash:
    EvidenceError if one is missing or damaged) and the manifest."""
    files: list[tuple[str, bytes, dict[str, Any]]] = [
        (html_name(case_id), html.encode("utf-8"), {"kind": "case file"})
    ]
    for attachment in attachments:
        data = evidence.content(session, attachment)
        files.append(
            (
                member_name(attachment),
                data,
                {
                    "kind": "evidence",
                    "attachment_id": attachment.id,
                    "evidence_kind": attachment.kind,
                    "filename": attachment.filename,
                    "media_type": attachment.media_type,
                    "original_sha256": attachment.original_sha256,
                    "masked_count": attachment.masked,
                },
            )
        )
    manifest = {
        "case_id": case_id,
        "title": title,
        "prepared_at": prepared_at.isoformat(timespec="seconds"),
        "tracker_version": __version__,
        "files": [
            {"path": name, "sha256": evidence.sha256(data), "size": len(data), **extra}
            for name, data, extra in files
        ],
    }
    manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    listed = [(name, data) for name, data, _ in files] + [("manifest.json", manifest_bytes)]
    sums = "".join(f"{evidence.sha256(data)}  {name}\n" for name, data in listed)
    stamp = prepared_at.timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [*listed, ("SHA256SUMS", sums.encode("utf-8"))]:
            info = zipfile.ZipInfo(name, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, data)
    return out.getvalue()


class MissingExtra(TrackerError):
    """An optional part of tracker is not installed (exit 1)."""


def render_pdf(html: str) -> bytes:
    """The page printed to PDF by WeasyPrint, which is given no way to fetch anything."""
    try:
        import weasyprint
        from weasyprint import urls
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint without Pango
        raise MissingExtra(
            f"--pdf needs WeasyPrint, which is not installed or cannot load ({exc}); "
            f"install the pdf extra: {PDF_EXTRA}"
        ) from None
    fetcher: Any
    if hasattr(urls, "URLFetcher"):
        fetcher = urls.URLFetcher(allowed_protocols=())
    else:  # before WeasyPrint 66: a function

        def fetcher(url: str, *args: Any, **kwargs: Any) -> Any:
            raise ValueError(f"the case file loads nothing ({url})")

    result: bytes = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    return result
