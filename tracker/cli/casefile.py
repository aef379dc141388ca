"""`tracker case file`: the case file: its page (tracker.views.casefile), and the bundle and
the PDF made of it (tracker.casefile).

It joins the `case` group when that group loads (tracker.cli.EXTENSIONS). It reads the store
and writes files, never the store: a read command, so --json reports what it wrote.
"""

from __future__ import annotations

import os

import click

from tracker.cli.case import case
from tracker.cli.common import CASE_ID, store, view_option
from tracker.errors import UsageError
from tracker.files import open_output
from tracker.models import utcnow
from tracker.views import View
from tracker.views.casefile import Written
from tracker.when import local_zone

FILE = click.Path(dir_okay=False, allow_dash=True)


@case.command("file")
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option(
    "-o",
    "--output",
    type=FILE,
    metavar="FILE",
    help="Write the page (one self-contained HTML file) to FILE; '-' for standard output.",
)
@click.option(
    "--bundle",
    type=FILE,
    metavar="FILE",
    help="Write a zip with the page, every evidence file and their hashes (manifest.json, "
    "SHA256SUMS).",
)
@click.option(
    "--pdf",
    type=FILE,
    metavar="FILE",
    help="Write the page as PDF (needs the pdf extra: pip install 'customer-case-tracker[pdf]').",
)
@view_option
def case_file(
    case_id: int, output: str | None, bundle: str | None, pdf: str | None, view: View
) -> None:
    """Write the case file: everything a regulator, an ombudsman or a lawyer needs, on one page.

    The page holds the summary (organization, account's last 4 digits, amount, merchant,
    dates, status and level), the clocks (days open, days since the company's last reply,
    promises kept and broken, the time limits passed), every reference number, every
    promise and what became of it, the whole timeline with agents and references, and the
    evidence with its SHA-256 hashes. It loads nothing from the network and prints one
    section per page. The files are written whole or not at all, readable by you only.

    \b
    Examples:
      tracker case file 1 -o case-1.html
      tracker case file 1 -o case-1.html --bundle case-1.zip --pdf case-1.pdf
      tracker case file 1 --bundle case-1.zip      # then: unzip, sha256sum -c SHA256SUMS
      tracker case file 1 -o - | less
    """
    # The page, the bundle and the PDF: loaded for this command only.
    import tracker.casefile as svc
    from tracker.evidence import sha256
    from tracker.views.casepage import gather, render_html

    outputs = (("html", output), ("bundle", bundle), ("pdf", pdf))
    given = [(kind, path) for kind, path in outputs if path is not None]
    if not given:
        raise UsageError("say where to write the case file: -o FILE, --bundle FILE or --pdf FILE")
    for kind, path in given:
        if path == "-" and kind != "html":
            raise UsageError(f"--{kind} needs a file name ('-' is for the page: -o -)")
    if output == "-" and view.is_json:
        raise UsageError("-o - and --json both print on standard output; give -o a file name")
    real = [os.path.realpath(path) for _, path in given if path != "-"]
    if len(set(real)) != len(real):
        raise UsageError("give each output its own file name")

    now = utcnow()
    # Everything is made before anything is written: a missing evidence file or a missing
    # extra leaves no file behind.
    with store().read() as session:
        found = gather(session, case_id, now=now, tz=local_zone())
        html = render_html(found)
        page = html.encode("utf-8")
        contents: dict[str, tuple[bytes, str]] = {"html": (page, "the case file")}
        if bundle is not None:
            count = len(found.evidence)
            files = "1 evidence file" if count == 1 else f"{count} evidence files"
            zipped = svc.bundle(
                session,
                case_id=case_id,
                title=found.title,
                prepared_at=now,
                attachments=found.attachments,
                html=html,
            )
            contents["bundle"] = (zipped, f"the bundle ({files})")
    if pdf is not None:
        contents["pdf"] = (svc.render_pdf(html), "the case file as PDF")

    written = []
    for kind, path in given:
        data, detail = contents[kind]
        with open_output(path) as stream:
            stream.write(data)
        written.append(Written(kind, path, len(data), sha256(data), detail))
    view.case_file_written(case_id, written)
