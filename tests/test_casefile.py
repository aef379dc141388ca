"""`tracker case file`: the page, the bundle and the PDF, read back for real.

The page is parsed (html.parser) for what it must hold and must not (a tag someone typed,
a URL to fetch), opened in a real headless Chromium (a screenshot that is not blank, a DOM
that holds the title and a reference number), its bundle unzipped and checked with
`sha256sum -c`, its PDF read back with `pdftotext`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import servers
from conftest import Tracker
from helpers import NOW
from sqlalchemy import select

from tracker import evidence
from tracker.cases import load_case_detail
from tracker.db import Store
from tracker.history import begin_change
from tracker.models import Attachment
from tracker.redact import Masker
from tracker.views.casepage import gather, last_reply

CARD = "4111 1111 1111 1111"
TITLE = "Disputed charge at ACME <script>alert('title')</script>"
NOTE = "Statement shows it twice <script>alert('note')</script> <b>bold</b>"
PNG_RECEIPT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
TRANSCRIPT = f"Agent Maria: please confirm the card {CARD}.\nRef CALL-88812\n".encode()
AMEX = Path(__file__).parent.parent / "examples" / "directory" / "american-express.toml"
CHROMIUM_TIMEOUT = 240  # seconds: a loaded 2-core machine starts Chromium slowly


def story(tracker: Tracker) -> None:
    tracker.ok("org", "import", str(AMEX))  # a US organization: the FCBA's clocks apply
    tracker.ok(
        "case", "open", TITLE, "--org", "American Express", "--category", "dispute",
        "--account", "1005", "--amount", "129.99", "--currency", "USD",
        "--merchant", "ACME Hardware", "--txn-date", "2026-11-02", "--ref", "D-4471",
        "--note", NOTE, "--at", "13 days ago",
    )  # fmt: skip
    tracker.ok(
        "case", "contact", "1", "--channel", "phone", "--at", "12 days ago",
        "--via", "1-800-528-2122", "--agent", "Maria", "--agent-id", "4471",
        "--duration", "23m", "--ref", "CALL-88812", "--summary", "Dispute opened",
        "--promise", "Provisional credit posts", "--due", "2 days ago",
    )  # fmt: skip
    tracker.ok("promise", "broken", "1")
    tracker.ok(
        "case", "contact", "1", "--channel", "email", "--at", "4 days ago",
        "--summary", "I asked where the credit is",
    )  # fmt: skip
    tracker.ok("case", "promise", "1", "Send the statement", "--due", "3d", "--by", "me")


def attach(store: Store, data: bytes, name: str, kind: str) -> int:
    with store.write() as session:
        case = load_case_detail(session, 1)
        masker = Masker()
        prepared = evidence.prepare(data, name, masker=masker)
        row = evidence.attach(
            session,
            case,
            prepared,
            filename=evidence.clean_filename(name, masker),
            kind=kind,
            log=begin_change(session, f"case attach 1 {name}"),
        )
        return row.id


@dataclass(frozen=True)
class Kept:
    id: int
    filename: str
    sha256: str
    original_sha256: str


def kept(store: Store) -> list[Kept]:
    with store.read() as session:
        rows = session.scalars(select(Attachment).order_by(Attachment.id))
        return [Kept(r.id, r.filename, r.sha256, r.original_sha256) for r in rows]


@pytest.fixture
def filled(tracker: Tracker, store: Store, clock: Any) -> Tracker:
    story(tracker)
    attach(store, PNG_RECEIPT, "receipt.png", "receipt")
    attach(store, TRANSCRIPT, "chat transcript.txt", "transcript")
    return tracker


class Page(HTMLParser):
    """What the tests look at in a page: elements with their attributes, headings, tables,
    the text, and the CSS."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[int] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self.title = ""
        self._in: list[str] = []
        self.tables: list[dict[str, Any]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "link", "br", "col", "img", "input"):
            self._in.append(tag)
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.headings.append(int(tag[1]))
        if tag == "table":
            self.tables.append({"caption": False, "th": []})
        if tag == "caption" and self.tables:
            self.tables[-1]["caption"] = True
        if tag == "th" and self.tables:
            self.tables[-1]["th"].append(dict(attrs).get("scope"))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "style" in self._in:
            self.style.append(data)
        elif "title" in self._in:
            self.title += data
        else:
            self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def write_page(tracker: Tracker, tmp_path: Path, *extra: str) -> tuple[Path, dict[str, Any]]:
    page = tmp_path / "case-1.html"
    report = tracker.json("case", "file", "1", "-o", str(page), *extra)
    return page, report


# --------------------------------------------------------------------------- the page


def test_the_page_holds_the_case(filled: Tracker, store: Store, tmp_path: Path) -> None:
    page, report = write_page(filled, tmp_path)
    data = page.read_bytes()
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert report == {
        "case_id": 1,
        "html": str(page),
        "bundle": None,
        "pdf": None,
        "files": [
            {
                "kind": "html",
                "path": str(page),
                "size": len(data),
                "sha256": evidence.sha256(data),
            }
        ],
    }
    parsed = Page(data.decode())
    words = parsed.words
    # The summary, in unambiguous forms: ISO dates with their weekday, the currency's code.
    for expected in (
        "American Express", "dispute", "open", "frontline",
        "ending 1005", "129.99 USD", "ACME Hardware", "2026-11-02 (Mon)",
        "2026-11-13 (Fri) 14:00", "not resolved",
    ):  # fmt: skip
        assert expected in words, expected
    # The clocks: 13 days open; the company last spoke in the call 12 days ago (the email
    # 4 days ago was mine, and an email of mine is no reply); 1 promise broken.
    assert "Days open 13 days" in words
    assert "Days since the company's last reply 12 days phone with them on 2026-11-14" in words
    assert "Days since the last contact 4 days" in words
    assert "Promises broken 1 1 marked broken" in words
    assert "Promises kept 0 of 2" in words
    assert "US credit-card billing error (Fair Credit Billing Act)" in words
    assert "30 days since the billing-error notice" in words  # at frontline: ahead
    # Every reference, the agent, the promises with their status.
    for expected in ("D-4471", "CALL-88812", "Maria (id 4471)", "Provisional credit posts"):
        assert expected in words, expected
    assert "broken on 2026-11-26 (Thu) 14:00" in words
    assert "Send the statement" in words and "not yet due" in words
    # The evidence, with the hashes of what is kept (and the original's, where masked).
    rows = kept(store)
    assert [r.filename for r in rows] == ["receipt.png", "chat transcript.txt"]
    flat = "".join(words.split())  # a hash is shown in groups, which wrap between them
    for row in rows:
        assert row.sha256 in flat
        assert f"evidence/{row.id}-{row.filename}" in words
    assert rows[1].original_sha256 in flat and rows[1].original_sha256 != rows[1].sha256
    assert CARD not in data.decode() and "4111111111111111" not in data.decode()


def test_the_timeline_is_in_order_with_agents_and_references(
    filled: Tracker, tmp_path: Path
) -> None:
    page, _ = write_page(filled, tmp_path)
    words = Page(page.read_text()).words
    order = [
        "Case opened",
        "Phone to American Express",
        "Maria (id 4471)",
        "CALL-88812",
        "Dispute opened",
        "Email to American Express",
        "I asked where the credit is",
        "Promise broken",
        "Evidence added",
    ]
    at = words.index("Everything recorded on the case, oldest first")
    for item in order:  # each after the one before
        assert item in words[at:], (item, words[at:])
        at = words.index(item, at)


def test_typed_text_is_never_markup(filled: Tracker, tmp_path: Path) -> None:
    page, _ = write_page(filled, tmp_path)
    html = page.read_text()
    parsed = Page(html)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "b", "iframe", "object")]
    assert "alert('title')" in parsed.title and "<script>" in parsed.title
    assert "<script>alert('note')</script> <b>bold</b>" in parsed.words
    assert "&lt;script&gt;" in html


def test_the_page_loads_nothing(filled: Tracker, tmp_path: Path) -> None:
    page, _ = write_page(filled, tmp_path)
    html = page.read_text()
    parsed = Page(html)
    links = []
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "srcset", "data", "poster", "action", "background"):
            value = attrs.get(name)
            if value is not None:
                links.append((tag, name, value))
    assert all(name == "href" for _, name, _ in links), links
    # Only places in the page and the evidence files beside it in the bundle.
    assert all(v.startswith(("#", "evidence/")) for _, _, v in links), links
    assert "http://" not in html and "https://" not in html
    css = "\n".join(parsed.style)
    assert "url(" not in css and "@import" not in css and "@font-face" not in css
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "link", "img", "iframe")]
    assert "@media print" in css and "break-before: page" in css


def test_accessibility_basics(filled: Tracker, tmp_path: Path) -> None:
    page, _ = write_page(filled, tmp_path)
    parsed = Page(page.read_text())
    html_tags = [attrs for tag, attrs in parsed.tags if tag == "html"]
    assert html_tags == [{"lang": "en"}]
    assert parsed.headings.count(1) == 1 and parsed.headings[0] == 1
    for before, after in zip(parsed.headings, parsed.headings[1:], strict=False):
        assert after <= before + 1, parsed.headings  # no level skipped
    assert (
        len(parsed.tables) == 7
    )  # summary, clocks, limits, references, promises, timeline, evidence
    for table in parsed.tables:
        assert table["caption"], table
        assert table["th"] and all(scope in ("col", "row") for scope in table["th"]), table
    assert parsed.title.startswith("Case file: Disputed charge at ACME")
    assert "(case 1, American Express)" in parsed.title


def test_an_empty_case_says_so(tracker: Tracker, tmp_path: Path) -> None:
    tracker.ok("case", "open", "Card not arrived")
    page, _ = write_page(tracker, tmp_path)
    words = Page(page.read_text()).words
    assert "No reference number was recorded." in words
    assert "No promise was recorded." in words
    assert "No evidence file is kept on the case." in words
    assert "Days since the company's last reply no reply recorded" in words


def test_the_clocks_of_a_resolved_case_stop_at_its_resolution(
    tracker: Tracker, clock: Any, tmp_path: Path
) -> None:
    tracker.ok("case", "open", "Refund", "--at", "10 days ago")
    tracker.ok(
        "case", "contact", "1", "--channel", "mail", "--direction", "in", "--at", "8 days ago"
    )
    tracker.ok("case", "resolve", "1", "--outcome", "Refunded")
    clock.shift(timedelta(days=30))
    page, _ = write_page(tracker, tmp_path)
    words = Page(page.read_text()).words
    assert "Days open 10 days opened 2026-11-16 (Mon) 14:00 (until it was resolved)" in words
    assert "Days since the company's last reply 8 days mail from them" in words
    assert "Resolved 2026-11-26 (Thu) 14:00" in words and "Outcome Refunded" in words


def test_the_company_replies_in_its_own_contacts_and_in_calls_and_chats(
    tracker: Tracker, store: Store, clock: Any
) -> None:
    tracker.ok("case", "open", "Refund", "--at", "10 days ago")
    tracker.ok("case", "contact", "1", "--channel", "chat", "--at", "9 days ago")
    tracker.ok("case", "contact", "1", "--channel", "mail", "--at", "7 days ago")
    with store.read() as session:
        reply = last_reply(load_case_detail(session, 1))
        assert reply is not None and reply.channel == "chat"
    tracker.ok(
        "case", "contact", "1", "--channel", "app", "--direction", "in", "--at", "6 days ago"
    )
    tracker.ok("case", "contact", "1", "--channel", "web", "--at", "1 day ago")
    with store.read() as session:
        reply = last_reply(load_case_detail(session, 1))
        assert reply is not None and reply.channel == "app"


def test_times_are_in_the_users_zone(
    tracker: Tracker, store: Store, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoneinfo import ZoneInfo

    tracker.ok("case", "open", "Refund", "--ref", "R-1")
    with store.read() as session:
        found = gather(session, 1, now=NOW, tz=ZoneInfo("America/New_York"))
    assert {f.label: f.value for f in found.summary}["Opened"] == "2026-11-26 (Thu) 09:00"
    assert found.zone.startswith("America/New_York")


# --------------------------------------------------------------------------- the bundle


def test_the_bundle_checks_with_sha256sum(filled: Tracker, store: Store, tmp_path: Path) -> None:
    bundle = tmp_path / "case-1.zip"
    page, report = write_page(filled, tmp_path, "--bundle", str(bundle))
    assert [f["kind"] for f in report["files"]] == ["html", "bundle"]
    assert report["bundle"] == str(bundle)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    out = tmp_path / "unzipped"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        archive.extractall(out)
    assert names == [
        "case-1.html",
        "evidence/1-receipt.png",
        "evidence/2-chat transcript.txt",
        "manifest.json",
        "SHA256SUMS",
    ]
    checked = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 4, checked.stdout
    # The page in the bundle is the page; the evidence is what the store keeps.
    assert (out / "case-1.html").read_bytes() == page.read_bytes()
    assert (out / "evidence/1-receipt.png").read_bytes() == PNG_RECEIPT
    transcript = (out / "evidence/2-chat transcript.txt").read_bytes()
    assert CARD.encode() not in transcript and b"1111" in transcript
    assert b"CALL-88812" in transcript
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["case_id"] == 1
    files = {f["path"]: f for f in manifest["files"]}
    rows = kept(store)
    assert files["evidence/2-chat transcript.txt"]["sha256"] == rows[1].sha256
    assert files["evidence/2-chat transcript.txt"]["original_sha256"] == rows[1].original_sha256
    assert files["evidence/1-receipt.png"]["sha256"] == evidence.sha256(PNG_RECEIPT)
    # A file changed after the fact is caught.
    (out / "evidence/1-receipt.png").write_bytes(b"changed")
    again = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True)
    assert again.returncode == 1


@pytest.mark.backends("sqlite")
def test_a_damaged_evidence_file_fails_the_bundle_and_writes_nothing(
    filled: Tracker, store: Store, tmp_path: Path
) -> None:
    with store.read() as session:
        folder = evidence.folder_of(session)
    assert folder is not None
    damaged = folder / evidence.sha256(PNG_RECEIPT)[:2] / evidence.sha256(PNG_RECEIPT)
    damaged.chmod(0o600)
    damaged.write_bytes(b"not the receipt")
    page, bundle = tmp_path / "case-1.html", tmp_path / "case-1.zip"
    error = filled.fails(1, "case", "file", "1", "-o", str(page), "--bundle", str(bundle))
    assert "receipt.png" in error and "damaged" in error
    assert not page.exists() and not bundle.exists()


# --------------------------------------------------------------------------- the PDF


def _pdf_tools_missing() -> str | None:
    if importlib.util.find_spec("weasyprint") is None:
        return "WeasyPrint is not installed (pip install '.[pdf]')"
    if shutil.which("pdftotext") is None:
        return "pdftotext is not installed (apt-get install poppler-utils)"
    return None


@pytest.mark.backends("sqlite")
def test_the_pdf_reads_back(filled: Tracker, store: Store, tmp_path: Path) -> None:
    servers.skip_or_fail(_pdf_tools_missing())
    pdf = tmp_path / "case-1.pdf"
    report = filled.json("case", "file", "1", "--pdf", str(pdf))
    assert report["pdf"] == str(pdf) and report["html"] is None
    assert pdf.read_bytes().startswith(b"%PDF-") and stat.S_IMODE(pdf.stat().st_mode) == 0o600
    text = subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    flat = "".join(text.split())
    assert "DisputedchargeatACME<script>alert('title')</script>" in flat
    assert "CALL-88812" in text and "D-4471" in text
    digest = kept(store)[0].sha256
    assert digest in flat  # a hash wraps across lines: compare without the breaks
    assert CARD not in text and "4111111111111111" not in flat
    assert text.count("\f") >= 5  # a page per section


def test_without_weasyprint_the_error_names_the_extra(
    filled: Tracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint: ImportError
    page, pdf = tmp_path / "case-1.html", tmp_path / "case-1.pdf"
    error = filled.fails(1, "case", "file", "1", "-o", str(page), "--pdf", str(pdf))
    assert "customer-case-tracker[pdf]" in error and "WeasyPrint" in error
    assert not page.exists() and not pdf.exists()  # nothing is written when one part fails


# --------------------------------------------------------------------------- usage


def test_bad_usage_is_refused(tracker: Tracker, tmp_path: Path) -> None:
    tracker.ok("case", "open", "Refund")
    page = str(tmp_path / "p.html")
    assert "-o FILE, --bundle FILE or --pdf FILE" in tracker.fails(2, "case", "file", "1")
    assert "--bundle needs a file name" in tracker.fails(2, "case", "file", "1", "--bundle", "-")
    assert "--json" in tracker.fails(2, "case", "file", "1", "-o", "-", "--json")
    assert "own file name" in tracker.fails(2, "case", "file", "1", "-o", page, "--pdf", page)
    tracker.fails(2, "case", "file", "1", "-o", str(tmp_path))  # a folder
    assert tracker.fails(1, "case", "file", "9", "-o", page) == "Error: no case 9"
    assert not os.path.exists(page)


def test_the_page_on_standard_output(tracker: Tracker) -> None:
    tracker.ok("case", "open", "Refund", "--ref", "R-7781")
    result = tracker("case", "file", "1", "-o", "-")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("<!DOCTYPE html>") and "R-7781" in result.stdout


# --------------------------------------------------------------------------- a real browser


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    servers.skip_or_fail(None if found else "chromium is not installed (apt-get install chromium)")
    assert found is not None
    return found


def _chromium_run(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A dead proxy for every URL: the page must render with no network at all.
    return subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip


def png_rows(data: bytes) -> tuple[int, int, int, list[bytearray]]:
    """Width, height, bytes per pixel and the unfiltered rows of an 8-bit RGB or RGBA PNG
    (zlib only: no imaging library)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 2:  # Up, the common case, at C speed
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind in (1, 3, 4):
            for x in range(stride):
                left = line[x - step] if x >= step else 0
                up = previous[x]
                if kind == 1:
                    line[x] = (line[x] + left) & 0xFF
                elif kind == 3:
                    line[x] = (line[x] + (left + up) // 2) & 0xFF
                else:
                    corner = previous[x - step] if x >= step else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                    line[x] = (line[x] + pred) & 0xFF
        rows.append(line)
        previous = line
    return width, height, step, rows


@pytest.mark.backends("sqlite")
def test_chromium_renders_the_page(filled: Tracker, tmp_path: Path) -> None:
    browser = _chromium()
    page, _ = write_page(filled, tmp_path)
    shot = tmp_path / "case-1.png"
    result = _chromium_run(
        browser, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()
    )
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    width, height, step, rows = png_rows(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    # Every 4th pixel of every 4th row: text, rules and headings are dark on white.
    sampled = [row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 4 * step)]
    dark = sum(1 for pixel in sampled if min(pixel) < 160)
    assert dark > len(sampled) * 0.02, f"{dark} dark pixels of {len(sampled)}: a blank page?"
    assert sum(1 for pixel in sampled if min(pixel) > 240) > len(sampled) * 0.5  # paper

    dom = _chromium_run(browser, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<title>Case file: Disputed charge at ACME" in dom.stdout
    assert "CALL-88812" in dom.stdout and "D-4471" in dom.stdout
    assert "<script>alert" not in dom.stdout  # still text, never a script
