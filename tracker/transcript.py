"""Reading a chat transcript: who spoke and when, reference numbers, and promises with a time.

Pure functions over text (no store, no clock, no Click): :func:`parse` reads the lines,
:func:`resolve` turns what they said into instants on a zone and a business-day calendar.
The words recognised are data, one :class:`Language` per language (English now,
:data:`ENGLISH`); a new phrasing is a new pattern in the table, not a new code path.

The formats read (see tests/transcripts/):

* timestamped lines: ``[14:02] Jessica (Amex): ...``, ``14:02:13 You: ...``,
  ``01/12/2026 14:02 Priya: ...``, ``Jessica (2:02 PM): ...``;
* speaker lines without times, under a header: ``Chat started 1 Dec 2026 14:02`` ...
  ``Chat ended 14:31``;
* a bot handing over to a human: ``Virtual Assistant: I'm connecting you to an agent``,
  ``You are now chatting with Priya``;
* HTML (a saved chat page): tags are dropped (html.parser), block elements end lines;
* a transcript emailed as plain text (``From:``/``Date:`` headers, then ``Jessica (2:02 PM):
  ...``): its lines start on the day it was sent; an encoded email (base64,
  quoted-printable, multipart) is refused, as its stored copy could not be masked.

Dates: a numeric date (``01/12/2026``) is read in the order the file itself proves (a day
over 12 anywhere in it), else in the user's date order, else refused as ambiguous. A
transcript with times but no date takes today's date only when it says "today".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from tracker.errors import UsageError
from tracker.when import MONTHS, Calendar, WhenError, parse_window

if TYPE_CHECKING:  # what a Capture holds; the parser itself needs neither
    from tracker.cases import NewPromise
    from tracker.evidence import Prepared

# --------------------------------------------------------------------------- the words


@dataclass(frozen=True)
class Language:
    """The words of one language that a transcript is read with (patterns are matched
    case-insensitively unless they say otherwise)."""

    user_labels: frozenset[str]
    """Speaker labels that are the user: "You", "Me"."""
    agent_labels: frozenset[str]
    """Speaker labels that are a human agent without a name: "Agent", "Representative"."""
    system_labels: frozenset[str]
    """Speaker labels of the chat system itself ("System")."""
    not_speakers: re.Pattern[str]
    """A label before a colon that is no one ("Reference number: ...", "Date: ...")."""
    bot: re.Pattern[str]
    """A speaker label (or its parenthesis) that is a bot: "Virtual Assistant"."""
    joined: tuple[re.Pattern[str], ...]
    """A line saying a human agent took over; group ``name``."""
    handover: re.Pattern[str]
    """A bot's sentence that hands the chat over to a human."""
    introduce: tuple[re.Pattern[str], ...]
    """An agent giving their name in a message; group ``name`` (case-sensitive)."""
    agent_cues: re.Pattern[str]
    """What only the company's side says ("how can I help"): its speaker is an agent."""
    started: re.Pattern[str]
    """A header line opening the chat; group ``rest`` holds its date and time."""
    ended: re.Pattern[str]
    """A header line closing it; group ``rest`` holds its time."""
    today: re.Pattern[str]
    """The word for today in a header ("Chat started today 14:02")."""
    reference: re.Pattern[str]
    """A reference number given; groups ``label`` and ``value``."""
    reference_kinds: tuple[tuple[str, str], ...]
    """A word in a reference's label -> the kind of reference (tracker.vocabulary)."""
    agent_id: re.Pattern[str]
    """An agent's id or badge number; group ``id``."""
    future: re.Pattern[str]
    """What makes a sentence a promise rather than a report: "will", "'ll", "should"."""
    dues: tuple[tuple[re.Pattern[str], str], ...]
    """A time a promise is due -> the WHEN it means (a template over the groups)."""
    numbers: dict[str, int] = field(default_factory=dict)
    """Number words in due times: "two business days"."""


_WEEKDAY = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri"
_UNIT = r"business\s+days?|working\s+days?|banking\s+days?|days?|weeks?|hours?|hrs?|months?"
_NUM = r"\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fourteen|thirty"
_MONTH = "|".join(m[:3] for m in MONTHS)
_DAY_OF_MONTH = (
    rf"(?:(?:{_MONTH})[a-z]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH})[a-z]*)"
)


# A name as written: capitalised words, whatever the pattern's case (one or two words).
_NAME = r"(?-i:[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)?)"


def _ci(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


ENGLISH = Language(
    user_labels=frozenset({"you", "me", "i", "customer", "myself", "visitor", "guest"}),
    agent_labels=frozenset(
        {"agent", "representative", "rep", "advisor", "adviser", "specialist", "associate",
         "support", "customer service", "customer care", "live agent", "operator", "staff"}
    ),
    system_labels=frozenset({"system", "info", "notice", "chat"}),
    not_speakers=_ci(
        r"\b(?:reference|ref|number|no|case|ticket|date|time|subject|note|total|amount|balance|"
        r"id|order|account|card|e-?mail|phone|address|tracking|confirmation|dispute|claim|"
        r"complaint|status|p\.?s|re|fwd?|https?)\b"
    ),
    bot=_ci(r"\b(?:bot|chatbot|virtual\s+assistant|digital\s+assistant|automated|ai\s+assistant)\b"),
    joined=(
        _ci(
            r"\byou(?:\s+are|'re)\s+(?:now\s+)?(?:chatting|connected|speaking|talking)\s+(?:with|to)\s+"
            rf"(?P<name>{_NAME})"
        ),
        _ci(rf"^(?P<name>{_NAME})\s+(?:has\s+)?(?:joined|entered)\b"),
        _ci(rf"^(?P<name>{_NAME})\s+is\s+now\s+(?:helping|assisting)\b"),
    ),
    handover=_ci(
        r"\b(?:connect(?:ing)?|transfer(?:ring)?|pass(?:ing)?|put(?:ting)?)\s+you\s+"
        r"(?:through\s+)?(?:to|with)\s+(?:an?\s+|one\s+of\s+our\s+)?"
        r"(?:live\s+|human\s+)?(?:agent|representative|specialist|advisor|person|colleague)"
    ),
    introduce=(
        re.compile(r"\b[Mm]y name is (?P<name>[A-Z][a-z'-]+)"),
        re.compile(
            r"\b(?:[Tt]his is|I'm|I am) (?P<name>[A-Z][a-z'-]+)(?=[,.!]| and | from | with | here)"
        ),
    ),
    agent_cues=_ci(
        r"\bhow (?:can|may) I (?:help|assist)|\bthank(?:s| you) for (?:contacting|chatting|"
        r"reaching out|your patience)|\bmy name is\b"
    ),
    started=_ci(r"^(?:chat|conversation|session)\s+(?:started|began|opened)\b[:,\s]*(?:on\s+)?(?P<rest>.*)$"),
    ended=_ci(r"^(?:chat|conversation|session)\s+(?:ended|closed|finished)\b[:,\s]*(?:at\s+)?(?P<rest>.*)$"),
    today=_ci(r"\btoday\b"),
    reference=_ci(
        r"\b(?P<label>reference|ref|case|ticket|dispute|claim|complaint|confirmation|"
        r"interaction|chat|tracking)"
        r"(?:\s+(?:reference|ref))?(?:\s+(?:number|no|num|id|code))?\.?\s*(?:#\s*|:\s*|is\s*:?\s*|of\s+)?"
        r"(?P<value>(?=[A-Z0-9-/]*\d)[A-Z0-9][A-Z0-9/-]{3,39}[A-Z0-9])\b"
    ),
    reference_kinds=(
        ("dispute", "dispute"),
        ("claim", "claim"),
        ("complaint", "complaint"),
    ),
    agent_id=_ci(
        r"\b(?:agent|employee|operator|badge|advisor|rep)\s+(?:id|number|no\.?|#)\s*"
        r"(?:is\s*)?:?\s*(?P<id>[A-Z0-9][A-Z0-9-]{1,19})\b"
    ),
    future=_ci(
        r"\b(?:will|shall|should|going\s+to|can\s+expect|expect)\b|\w'll\b|\bwithin\b"
    ),
    dues=(
        # 7-10 business days, within 3 to 5 working days
        (
            _ci(rf"\b(?:within|in)?\s*(?:the\s+next\s+)?(?P<lo>\d+)\s*(?:-|–|—|to)\s*(?P<hi>\d+)\s+(?P<unit>{_UNIT})\b"),
            "{lo}-{hi} {unit}",
        ),
        (
            _ci(rf"\bwithin\s+(?:the\s+next\s+)?(?P<n>{_NUM})\s+(?P<unit>{_UNIT})\b"),
            "within {n} {unit}",
        ),
        (_ci(rf"\bin\s+(?:the\s+next\s+)?(?P<n>{_NUM})\s+(?P<unit>{_UNIT})\b"), "in {n} {unit}"),
        (_ci(r"\bby\s+(?:the\s+)?end\s+of\s+(?:the\s+)?(?:business\s+)?day\b"), "eod"),
        (_ci(r"\bby\s+(?:the\s+)?end\s+of\s+(?:the|this)\s+week\b"), "eow"),
        (_ci(r"\bby\s+(?:the\s+)?end\s+of\s+(?:the|this)\s+month\b"), "eom"),
        (
            _ci(r"\b(?:by|before|on)\s+(?P<next>next\s+)?(?P<day>" + _WEEKDAY + r")\b"),
            "{next}{day}",
        ),
        (_ci(r"\b(?:by|before|on)\s+(?:the\s+)?(?P<date>" + _DAY_OF_MONTH + r")\b"), "{date}"),
        (_ci(r"\b(?P<day>tomorrow)\b"), "tomorrow"),
    ),
    numbers={
        "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
        "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14,
        "thirty": 30,
    },
)  # fmt: skip

LANGUAGES = {"en": ENGLISH}


# --------------------------------------------------------------------------- what it found

USER, AGENT, BOT, SYSTEM, UNKNOWN = "user", "agent", "bot", "system", "unknown"


@dataclass
class Message:
    """One message (or a system line) of the transcript, as read."""

    speaker: str | None
    """The label as written, without its parenthesis ("Jessica" of "Jessica (Amex)")."""
    text: str
    role: str
    wall: datetime | None = None
    """When it was said, local wall time (None: the transcript gives none)."""
    clock: time | None = None
    """Its time of day, when the transcript gives times without a date."""


@dataclass(frozen=True)
class FoundPromise:
    text: str
    """The sentence, as said."""
    due: str
    """The WHEN it was read as ("7-10 business days", "fri")."""
    by: str
    """"company" or "me"."""
    said: datetime | None
    """When it was said (local wall time), if the transcript says."""
    offset: timedelta | None = None
    """How long after the first message it was said (a transcript with times, no date)."""


@dataclass(frozen=True)
class FoundReference:
    value: str
    kind: str | None
    """dispute, claim, complaint; None: the channel's own kind."""


@dataclass
class Transcript:
    """What a transcript says, before it is placed on a zone and a calendar."""

    messages: list[Message]
    agents: list[str]
    """The human agents' names, in the order they appeared (not the bot, not the user)."""
    bots: list[str]
    agent_id: str | None
    references: list[FoundReference]
    promises: list[FoundPromise]
    start: datetime | None
    """The first time in it (local wall time, dated) or None."""
    end: datetime | None
    first_clock: time | None
    """Its first time of day when it gives times but no date."""
    duration: timedelta | None
    unplaced: list[str]
    """Named speakers it could not tell to be the user or an agent."""
    generic_agent: bool
    """An agent spoke without a name ("Agent: ...")."""

    @property
    def handed_over(self) -> bool:
        return bool(self.bots and self.agents)


# --------------------------------------------------------------------------- reading text


class _Text(HTMLParser):
    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
         "article", "header", "footer", "dt", "dd", "table", "ul", "ol", "blockquote"}
    )  # fmt: skip
    _SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th", "span", "time", "strong", "b"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:1000].lower()
    return head.startswith(("<!doctype html", "<html")) or bool(
        re.search(r"<(?:body|div|p|table|span)\b[^>]*>", head)
    )


def html_to_text(html: str) -> str:
    """The text of an HTML page, a line per block element (tags and scripts dropped)."""
    reader = _Text()
    reader.feed(html)
    reader.close()
    lines = (" ".join(line.split()) for line in "".join(reader.parts).splitlines())
    return "\n".join(line for line in lines if line)


_HEADER = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,40}:[ \t]*\S")
_EMAIL_HEADERS = frozenset({"from", "to", "subject", "date", "message-id", "mime-version"})


def email_body(text: str) -> tuple[str, date | None] | None:
    """An emailed transcript (a header block, a blank line, the body): its body and the
    day it was sent; None if `text` is not one. UsageError for an encoded body (base64,
    quoted-printable, several parts): its card numbers could not be masked in the copy
    kept, so it is refused rather than stored."""
    head, blank, body = text.lstrip("\ufeff").partition("\n\n")
    lines = head.replace("\r", "").split("\n")
    if not blank or not all(_HEADER.match(ln) or ln[:1] in " \t" for ln in lines if ln):
        return None
    names = {ln.split(":", 1)[0].strip().lower() for ln in lines if ln[:1] not in " \t"}
    if len(names & _EMAIL_HEADERS) < 2:
        return None
    from email.parser import HeaderParser
    from email.utils import parsedate_to_datetime

    headers = HeaderParser().parsestr(head + "\n\n")
    encoding = (headers.get("Content-Transfer-Encoding") or "7bit").strip().lower()
    kind = (headers.get("Content-Type") or "text/plain").split(";")[0].strip().lower()
    if encoding not in ("7bit", "8bit", "binary") or not kind.startswith("text/"):
        raise UsageError(
            f"the transcript is an encoded email ({kind}, {encoding}); save the chat's text "
            "(or the email's text) as a file and give that"
        )
    sent = None
    if headers.get("Date"):
        try:
            sent = parsedate_to_datetime(headers["Date"]).date()
        except (TypeError, ValueError):
            sent = None
    return body, sent


# --------------------------------------------------------------------------- stamps

_TIME = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:\s*(?P<ap>[ap])\.?m\.?)?"
_NUMERIC_DATE = r"(?P<a>\d{1,4})[/.-](?P<b>\d{1,2})[/.-](?P<c>\d{2,4})"
_NAMED_DATE = (
    rf"(?:(?:{_WEEKDAY})[a-z]*,?\s+)?(?:(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m1>[a-z]{{3,9}})\.?"
    rf"|(?P<m2>[a-z]{{3,9}})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?),?\s+(?P<y>\d{{4}})"
)
_DATE = rf"(?:{_NUMERIC_DATE}|{_NAMED_DATE}|(?P<today>today))"
_STAMP = re.compile(
    rf"^[\[(]?\s*(?:{_DATE}(?:\s*,\s*|\s+at\s+|\s+|T))?{_TIME}\s*[\])]?\s*(?:[-–|]\s*)?",
    re.IGNORECASE,
)
_DATE_ONLY = re.compile(rf"^[\[(]?\s*{_DATE}\s*[\])]?\s*(?:[-–|]\s*)?", re.IGNORECASE)
_FULL_NUMERIC_DATE = _NUMERIC_DATE.replace("{2,4}", "{4}")
_DATE_ANYWHERE = re.compile(rf"\b(?:{_FULL_NUMERIC_DATE}|{_NAMED_DATE})\b", re.IGNORECASE)
# "Jessica", "Jessica (Amex)", "Jessica (2:02 PM)" (a time in brackets may hold a colon)
_SPEAKER = re.compile(
    r"^(?P<who>[^\W\d][^:\[\]()<>{}=/\\]{0,58}?(?:\s*[(\[][^()\[\]]{1,40}[)\]])?)"
    r"\s*:\s*(?P<msg>.*)$"
)
_PAREN = re.compile(r"^(?P<name>.*?)\s*[(\[](?P<inner>[^()\[\]]*)[)\]]\s*$")


@dataclass
class _Stamp:
    numeric: tuple[int, int, int] | None = None
    named: date | None = None
    today: bool = False
    clock: time | None = None
    raw: str = ""


def _month(word: str) -> int | None:
    word = word.lower().rstrip(".")
    for number, name in enumerate(MONTHS, start=1):
        if len(word) >= 3 and name.lower().startswith(word):
            return number
    return None


def _read_stamp(m: re.Match[str], *, with_time: bool) -> _Stamp | None:
    stamp = _Stamp(raw=m.group(0).strip())
    g = m.groupdict()
    if g["a"] is not None:
        if len(g["a"]) == 3 or (len(g["a"]) < 4 and len(g["c"]) != 4):  # "01/12/26": no
            return None
        stamp.numeric = (int(m["a"]), int(m["b"]), int(m["c"]))
    elif g["y"] is not None:
        month = _month(m["m1"] or m["m2"])
        if month is None:
            return None
        day = int(m["d1"] or m["d2"])
        try:
            stamp.named = date(int(m["y"]), month, day)
        except ValueError:
            raise UsageError(f"the transcript's date '{stamp.raw}' does not exist") from None
    elif g.get("today") is not None:
        stamp.today = True
    if with_time:
        hour, minute = int(m["h"]), int(m["mi"])
        if m["ap"]:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if m["ap"].lower() == "p" else 0)
        if hour > 23 or minute > 59 or int(m["s"] or 0) > 59:
            return None
        stamp.clock = time(hour, minute, int(m["s"] or 0))
    return stamp


def _leading_stamp(line: str) -> tuple[_Stamp | None, str]:
    """The date and time a line starts with, and the rest of it."""
    m = _STAMP.match(line)
    if m is not None and (m.group(0).strip()):
        stamp = _read_stamp(m, with_time=True)
        if stamp is not None:
            return stamp, line[m.end() :]
    return None, line


def _stamp_in(text: str) -> _Stamp | None:
    """A date and time anywhere at the start of a header's rest ("1 Dec 2026 14:02",
    "01/12/2026 at 2:02 PM", "14:31", "Tuesday, December 1, 2026")."""
    text = text.strip()
    m = _STAMP.match(text)
    if m is not None:
        found = _read_stamp(m, with_time=True)
        if found is not None:
            return found
    m = _DATE_ONLY.match(text)
    if m is not None:
        return _read_stamp(m, with_time=False)
    return None


# --------------------------------------------------------------------------- parsing


@dataclass
class _Line:
    stamp: _Stamp | None
    speaker: str | None
    inner: str | None
    text: str
    header: str | None = None  # "started" / "ended"


def _split(text: str, lang: Language) -> list[_Line]:
    lines: list[_Line] = []
    for raw in text.splitlines():
        line = raw.strip().replace("\u200b", "")
        if not line:
            continue
        stamp, rest = _leading_stamp(line)
        rest = rest.strip()
        for which, pattern in (("started", lang.started), ("ended", lang.ended)):
            h = pattern.match(rest)
            if h is not None:
                found = _stamp_in(h["rest"]) or stamp
                lines.append(_Line(found, None, None, rest, header=which))
                break
        else:
            m = _SPEAKER.match(rest)
            if (
                m is not None
                and len(m["who"].split()) <= 6
                and m["msg"].strip()
                and not lang.not_speakers.search(_PAREN.sub(r"\g<name>", m["who"]))
            ):
                who, inner = m["who"].strip(), None
                p = _PAREN.match(who)
                if p is not None and p["name"]:
                    inner_stamp = _stamp_in(p["inner"])
                    if inner_stamp is not None and inner_stamp.clock is not None:
                        stamp = stamp or inner_stamp
                    else:
                        inner = p["inner"].strip()
                    who = p["name"].strip()
                lines.append(_Line(stamp, who, inner, m["msg"].strip()))
            elif (
                stamp is None
                and lines
                and lines[-1].speaker is not None
                and not any(p.search(rest) for p in lang.joined)
            ):
                lines[-1].text += "\n" + rest  # a message that runs on over several lines
            else:
                if stamp is None:  # a title line: "American Express Chat - Tue, Dec 1, 2026"
                    d = _DATE_ANYWHERE.search(rest)
                    stamp = _read_stamp(d, with_time=False) if d is not None else None
                lines.append(_Line(stamp, None, None, rest))
    return lines


def _date_order(stamps: Iterable[_Stamp], order: str | None) -> str | None:
    """DMY or MDY: what the file's own dates prove, else the user's order; None when no
    numeric date needs one. UsageError if they are ambiguous or contradict each other."""
    pairs = [s.numeric for s in stamps if s.numeric is not None and s.numeric[0] < 100]
    if not pairs:
        return None
    dmy = any(a > 12 for a, _, _ in pairs)
    mdy = any(b > 12 for _, b, _ in pairs)
    if dmy and mdy:
        raise UsageError("the transcript writes its dates both day-first and month-first")
    if dmy:
        return "DMY"
    if mdy:
        return "MDY"
    if all(a == b for a, b, _ in pairs):
        return "DMY"
    if order == "DMY":
        return "DMY"
    if order in ("MDY", "YMD"):  # YMD's day-month dates read as the when grammar reads them
        return "MDY"
    a, b, y = next(p for p in pairs if p[0] != p[1])
    raise UsageError(
        f"the transcript's date {a:02d}/{b:02d}/{y} could be {a} {MONTHS[b - 1]} or "
        f"{b} {MONTHS[a - 1]}; set date_order (DMY or MDY) or country in the config file"
    )


def _day_of(stamp: _Stamp, order: str | None, today: date | None) -> date | None:
    if stamp.named is not None:
        return stamp.named
    if stamp.today:
        if today is None:  # pragma: no cover - the command always passes today
            raise UsageError("the transcript says 'today' but no date is known")
        return today
    if stamp.numeric is None:
        return None
    a, b, c = stamp.numeric
    if a >= 1000:
        year, month, day = a, b, c
    elif order == "MDY":
        month, day, year = a, b, c
    else:
        day, month, year = a, b, c
    try:
        return date(year, month, day)
    except ValueError:
        raise UsageError(f"the transcript's date '{stamp.raw}' does not exist") from None


def _role(speaker: str, inner: str | None, lang: Language, me: Sequence[str]) -> str:
    label = speaker.lower()
    if label in lang.user_labels or label in (m.lower() for m in me):
        return USER
    if lang.bot.search(speaker) or (inner and lang.bot.search(inner)):
        return BOT
    if label in lang.system_labels:
        return SYSTEM
    if label in lang.agent_labels or (inner and inner.lower() in lang.agent_labels):
        return AGENT
    if inner:  # "Jessica (Amex)", "Priya [American Express]": the company's side
        return AGENT
    return UNKNOWN


def parse(
    text: str,
    *,
    order: str | None = None,
    today: date | None = None,
    me: Sequence[str] = (),
    lang: Language = ENGLISH,
) -> Transcript:
    """Read a transcript (plain text, HTML, or one emailed as plain text). ``order``: the
    user's date order (DMY, MDY, YMD or None); ``today``: the user's local date, for a
    transcript that says "today"; ``me``: names that are the user's own. UsageError for a
    date it cannot read surely."""
    sent: date | None = None
    emailed = email_body(text)
    if emailed is not None:
        text, sent = emailed
    if looks_like_html(text):
        text = html_to_text(text)
    lines = _split(text, lang)
    chosen = _date_order((ln.stamp for ln in lines if ln.stamp), order)

    # When each line was said: a date carries over to the lines after it (an emailed
    # transcript's lines start on the day it was sent); a time earlier than the last by
    # more than 12 hours is past midnight.
    messages: list[Message] = []
    day: date | None = sent
    last: datetime | None = None
    for ln in lines:
        wall: datetime | None = None
        clock: time | None = None
        if ln.stamp is not None:
            found = _day_of(ln.stamp, chosen, today)
            if found is not None:
                day = found
            clock = ln.stamp.clock
            if clock is not None and day is not None:
                wall = datetime.combine(day, clock)
                if last is not None and found is None and last - wall > timedelta(hours=12):
                    day += timedelta(days=1)
                    wall += timedelta(days=1)
                last = wall
        if ln.header is not None or ln.speaker is None:
            role = SYSTEM
        else:
            role = _role(ln.speaker, ln.inner, lang, me)
        messages.append(Message(ln.speaker, ln.text, role, wall, clock))

    agents, bots = _people(messages, lang, me)
    return _findings(messages, agents, bots, lang)


def _name_of(found: str) -> str:
    return found.strip().strip(".,!")


def _people(
    messages: list[Message], lang: Language, me: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Who the human agents and the bots are; fixes each message's role."""
    joined: list[str] = []
    for msg in messages:
        if msg.role == SYSTEM or (msg.role == BOT and msg.speaker):
            for pattern in lang.joined:
                m = pattern.search(msg.text)
                if m is not None:
                    joined.append(_name_of(m["name"]))
                    break
    joined_lower = {j.lower() for j in joined}
    named = {m.speaker for m in messages if m.role == UNKNOWN and m.speaker}
    cue_speakers = {
        m.speaker for m in messages if m.role == UNKNOWN and lang.agent_cues.search(m.text)
    }
    has_user = any(m.role == USER for m in messages)
    for msg in messages:
        if msg.role != UNKNOWN or not msg.speaker:
            continue
        if msg.speaker.lower() in joined_lower or msg.speaker in cue_speakers or has_user:
            msg.role = AGENT
    agents_named = {m.speaker for m in messages if m.role == AGENT and m.speaker}
    if not has_user and len(named) == 2 and len(named & agents_named) == 1:
        (user,) = named - agents_named
        for msg in messages:
            if msg.speaker == user:
                msg.role = USER

    agents: list[str] = []
    bots: list[str] = []
    for msg in messages:
        if msg.role == BOT and msg.speaker and msg.speaker not in bots:
            bots.append(msg.speaker)
        if msg.role == SYSTEM:
            for pattern in lang.joined:
                m = pattern.search(msg.text)
                if m is not None:
                    _add(agents, _name_of(m["name"]))
                    break
        if msg.role == AGENT:
            if msg.speaker and msg.speaker.lower() not in lang.agent_labels:
                _add(agents, msg.speaker)
            else:  # "Agent: ... my name is Marcus", "you're chatting with Marcus"
                for pattern in (*lang.introduce, *lang.joined):
                    m = pattern.search(msg.text)
                    if m is not None:
                        _add(agents, m["name"])
                        break
    mine = {x.lower() for x in me} | lang.user_labels
    return [a for a in agents if a.lower() not in mine], bots


def _add(names: list[str], name: str) -> None:
    if name and name.lower() not in (n.lower() for n in names):
        names.append(name)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def due_of(sentence: str, lang: Language = ENGLISH) -> str | None:
    """The WHEN a promise's sentence is due at ("7-10 business days"), or None if it has no
    time or is no promise."""
    if not lang.future.search(sentence):
        return None
    for pattern, template in lang.dues:
        m = pattern.search(sentence)
        if m is None:
            continue
        groups = {k: " ".join((v or "").lower().split()) for k, v in m.groupdict().items()}
        if "n" in groups and groups["n"] in lang.numbers:
            groups["n"] = str(lang.numbers[groups["n"]])
        if groups.get("next"):
            groups["next"] = "next "
        return template.format(**groups)
    return None


def _findings(
    messages: list[Message], agents: list[str], bots: list[str], lang: Language
) -> Transcript:
    refs: list[FoundReference] = []
    promises: list[FoundPromise] = []
    agent_id: str | None = None
    first_wall = next((m.wall for m in messages if m.wall is not None), None)
    first_clock = next((m.clock for m in messages if m.clock is not None), None)
    for msg in messages:
        for m in lang.reference.finditer(msg.text):
            value = m["value"]
            if value.lower() in (r.value.lower() for r in refs):
                continue
            label = m["label"].lower()
            kind = next((k for word, k in lang.reference_kinds if word == label), None)
            refs.append(FoundReference(value, kind))
        if msg.role in (AGENT, BOT) and agent_id is None:
            badge = lang.agent_id.search(msg.text)
            if badge is not None:
                agent_id = badge["id"]
        if msg.role not in (AGENT, BOT, USER):
            continue
        for sentence in sentences(msg.text):
            due = due_of(sentence, lang)
            if due is None:
                continue
            offset = None
            if msg.wall is None and msg.clock is not None and first_clock is not None:
                offset = _clock_delta(first_clock, msg.clock)
            promises.append(
                FoundPromise(
                    text=sentence,
                    due=due,
                    by="me" if msg.role == USER else "company",
                    said=msg.wall,
                    offset=offset,
                )
            )
    walls = [m.wall for m in messages if m.wall is not None]
    clocks = [m.clock for m in messages if m.clock is not None]
    duration = None
    if len(walls) >= 2:
        duration = walls[-1] - walls[0]
    elif not walls and len(clocks) >= 2:
        duration = _clock_delta(clocks[0], clocks[-1])
    unplaced = list(dict.fromkeys(m.speaker for m in messages if m.role == UNKNOWN and m.speaker))
    return Transcript(
        messages=messages,
        agents=agents,
        bots=bots,
        agent_id=agent_id,
        references=refs,
        promises=promises,
        start=first_wall,
        end=walls[-1] if walls else None,
        first_clock=first_clock if not walls else None,
        duration=duration or None,
        unplaced=unplaced,
        generic_agent=any(
            m.role == AGENT and (m.speaker or "").lower() in lang.agent_labels for m in messages
        ),
    )


def _clock_delta(first: time, later: time) -> timedelta:
    """From one time of day to a later one (past midnight when it reads earlier)."""
    start = datetime.combine(date(2000, 1, 1), first)
    end = datetime.combine(date(2000, 1, 1), later)
    if end < start:
        end += timedelta(days=1)
    return end - start


# --------------------------------------------------------------------------- on a calendar


@dataclass(frozen=True)
class ResolvedPromise:
    text: str
    due_text: str
    by: str
    said: datetime
    """When it was said (UTC)."""
    due: datetime
    window_start: datetime | None
    business_days: bool


@dataclass(frozen=True)
class Placed:
    """A transcript placed in time: UTC instants, due times on the calendar."""

    at: datetime | None
    """When the chat started (UTC); None: the transcript gives no time."""
    end: datetime | None
    promises: list[ResolvedPromise]
    skipped: list[str]
    """Promises whose time could not be read, as said."""


def instant(wall: datetime, zone: tzinfo) -> datetime:
    """A local wall time as UTC (a time the clocks skipped or repeat: its first reading)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def place(
    found: Transcript,
    *,
    zone: tzinfo,
    calendar: Calendar,
    order: str | None,
    at: datetime | None = None,
    now: datetime,
) -> Placed:
    """Put a transcript's times on the user's zone and its promises on the calendar.

    ``at`` (the contact time given with --at) wins over the transcript's first time; the
    lines keep their distance from it. A transcript with times of day but no date and no
    ``at`` is refused: its day is not guessed.
    """
    start = instant(found.start, zone) if found.start is not None else None
    end = instant(found.end, zone) if found.end is not None else None
    if at is None and start is None and found.first_clock is not None:
        first = found.first_clock.strftime("%H:%M")
        raise UsageError(
            f"the transcript gives times ({first}) but no date; say when the chat was with "
            f"--at, e.g. --at '{now.astimezone(zone):%Y-%m-%d} {first}'"
        )
    anchor = at or start
    shift = (at - start) if at is not None and start is not None else timedelta(0)
    if end is not None:
        end += shift
    elif anchor is not None and found.duration is not None:
        end = anchor + found.duration
    promises: list[ResolvedPromise] = []
    skipped: list[str] = []
    for promise in found.promises:
        if promise.said is not None:
            said = instant(promise.said, zone) + shift
        elif anchor is not None:
            said = anchor + (promise.offset or timedelta(0))
        else:
            said = now
        try:
            window = parse_window(promise.due, said, zone, calendar=calendar, order=order)
        except WhenError:
            skipped.append(promise.text)
            continue
        if window.end < said:
            skipped.append(promise.text)
            continue
        promises.append(
            ResolvedPromise(
                text=promise.text,
                due_text=promise.due,
                by=promise.by,
                said=said,
                due=window.end,
                window_start=window.start,
                business_days=window.business_days,
            )
        )
    return Placed(at=anchor, end=end, promises=promises, skipped=skipped)


@dataclass
class Capture:
    """What will be saved: the transcript's findings with the flags laid over them."""

    filename: str
    prepared: Prepared
    found: Transcript
    placed: Placed
    at: datetime | None
    agent: str | None
    agent_id: str | None
    duration: timedelta | None
    summary: str
    refs: list[str]
    ref_kinds: dict[str, str]
    promises: list[NewPromise]
    given: set[str] = field(default_factory=set)
    """The fields a flag gave (they win over the transcript)."""
