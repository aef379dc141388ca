"""Letters from a case's history: a formal complaint, a billing-error notice (FCBA), and a
letter to the regulator or ombudsman.

What a letter says is a Jinja2 template (``tracker/templates/letters/KIND.md.j2``; a file of
the same name in the config folder's ``letters/`` replaces it). The templates are written in
Markdown and get the case's facts as data: every value they print is Markdown-escaped on the
way out, unless it is Markdown made here (:class:`Md`), so a title or a merchant can never
add markup, and no value is ever read as a template. The facts come from the store: the
account's last 4 digits (never more), the disputed transaction, every interaction in order,
the promises and what became of them, the escalations. What the tool cannot know (why the
charge is wrong) is left in [brackets]; the sender's name and address come from the config
file (``tracker config set name ...``), else they are [brackets] too.

Dates and money are written for the case's country with Babel: the letters are in English,
so the locale is the English of that country when Babel has one (``en_US``: "December 1,
2026" and "$129.99"; ``en_GB``: "1 December 2026" and "£129.99"; ``en_DE``: "1 December
2026" and "129,99 €"), else ``en_GB``; ``locale`` in the config file overrides it (a user
who translated the templates sets ``de_DE``). The closing follows the same dialect:
"Sincerely" in the US and Canada, "Yours faithfully" (to "Dear Sir or Madam") elsewhere.

The Markdown the template writes is then laid out once more (:func:`layout`): a paragraph or
a list item on one line in Markdown, wrapped at 76 columns in plain text (``-o x.txt``).
The deadlines are the published rules in docs/domain.md, read from the policies, stated as
guidance in a part addressed to the user, after the letter.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.cases import (
    add_reference,
    escalate,
    event_time,
    load_case_detail,
    log_interaction,
)
from tracker.config import config_dir, settings
from tracker.directory import case_calendar, case_region
from tracker.errors import CaseNotActive, UsageError
from tracker.history import Escalated, LetterSent, begin_change, payload_of
from tracker.models import (
    Attachment,
    Case,
    Change,
    ContactPoint,
    Event,
    Interaction,
    Organization,
    Promise,
    Reference,
    utcnow,
)
from tracker.policy import Policies, load_policies
from tracker.redact import Masker
from tracker.values import choice, reference
from tracker.vocabulary import (
    ACTIVE_STATUSES,
    CHANNEL,
    LETTER_CHANNELS,
    LETTER_KINDS,
    LEVEL,
    LEVELS,
    REGULATORS,
)
from tracker.when import format_local

KINDS = LETTER_KINDS
WIDTH = 76  # plain text: fits a printed page and an e-mail body
TEMPLATE_FOLDER = "letters"  # in the config folder: templates that replace the built-in ones
FALLBACK_LOCALE = "en_GB"
# Countries whose letters close "Sincerely," (and whose English writes the month first).
_AMERICAN = ("US", "CA", "PH")


def template_name(kind: str) -> str:
    return f"{kind}.md.j2"


def kind_for(case: Case, kind: str | None) -> str:
    """The letter a case gets: `kind`, or by its level (at the regulator rung, the letter
    to the regulator). A complaint to the company is refused at the regulator rung: the
    company has had its chance, and its letter would ask for a final response again."""
    if kind is None:
        return "regulator" if case.escalation_level == "regulator" else "complaint"
    if kind not in KINDS:
        raise UsageError(f"unknown letter kind '{kind}'; choose one of: {', '.join(KINDS)}")
    if kind == "complaint" and case.escalation_level == "regulator":
        raise UsageError(
            f"case {case.id} is at the regulator level: its letter goes to the regulator "
            "(kind regulator), not a second complaint to the company"
        )
    return kind


# --------------------------------------------------------------------------- Markdown


class Md(str):
    """Markdown made here: a template prints it as it is (every other value is escaped)."""

    __slots__ = ()


# Line breaks and ASCII spaces fold to one space; a no-break space (129,99\xa0€) is kept.
_SPACE = re.compile(r"[ \t\r\n\f\v\x85\u2028\u2029]+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")
# What would start a block if a value began a line: a list, a heading, a quote, a rule.
_MD_LEADING = re.compile(r"([-+>#=|]|\d{1,9}(?=[.)](?:\s|$)))")


def escape(value: object) -> Md:
    """A value as Markdown text: one line, every character that means something escaped."""
    if isinstance(value, Md):
        return value
    one = _MD_SPECIAL.sub(r"\\\1", " ".join(_SPACE.split(str(value).strip())))
    found = _MD_LEADING.match(one)
    if found is not None:
        end = found.end()
        one = one[:end] + "\\" + one[end:] if found[0][0].isdigit() else "\\" + one
    return Md(one)


def escaped(data: Any) -> Any:
    """The template's data: every text in it escaped (Markdown made here is kept as it is),
    so that what a template prints or joins is Markdown whose every user character is text."""
    if isinstance(data, str):
        return escape(data)
    if isinstance(data, dict):
        return {key: escaped(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [escaped(item) for item in data]
    return data


def _finalize(value: object) -> object:
    return "" if value is None else value


# The helpers take Markdown (escaped data, or the template's own words) and give Markdown.


def blank(what: str) -> Md:
    """A part for the user to fill in: [what]."""
    return Md(f"[{what}]")


def strong(text: str) -> Md:
    return Md(f"**{text}**")


def code(text: str) -> Md:
    """A command to copy, on one line (it holds no backtick)."""
    return Md("`" + " ".join(str(text).replace("`", "'").split()) + "`")


def quoted(text: str) -> Md:
    return Md(f"“{text}”")


def lines(values: Iterable[str]) -> Md:
    """Lines kept apart (an address block): hard line breaks."""
    return Md("\\\n".join(values))


def sentence(text: str) -> Md:
    """A capital first letter and a full stop (not a second one: "Jessica R.")."""
    text = str(text).strip()
    if not text:
        return Md(text)
    text = text[0].upper() + text[1:]
    return Md(text if text.endswith((".", "!", "?", ".**", "?**", "!**")) else text + ".")


def and_list(values: Sequence[str], last: str = " and ") -> Md:
    items = [str(v) for v in values]
    if len(items) < 2:
        return Md("".join(items))
    return Md(", ".join(items[:-1]) + last + items[-1])


def plural(count: int, one: str, many: str | None = None) -> str:
    return one if count == 1 else (many or one + "s")


# --------------------------------------------------------------------------- layout

_HARD_BREAK = re.compile(r"(?<!\\)(?:\\\\)*\\$")
_ITEM = re.compile(r"(- |\d+\. )")
_INLINE = re.compile(r"`[^`]*`|\\([!-/:-@\[-`{-~])|\*\*")


def layout(markdown: str, *, plain: bool) -> str:
    """The template's Markdown laid out: blocks apart by one blank line, a paragraph or a
    list item on one line (its source lines joined); in plain text, no markup, wrapped at
    WIDTH. A list item's continuation line that is a command (`code`) stays on its own."""
    blocks: list[list[str]] = []
    for block in re.split(r"\n[ \t]*(?:\n[ \t]*)+", markdown.strip("\n")):
        rows = block.split("\n")
        if not block.strip():
            continue
        if blocks and _list_kind(rows[0]) and _list_kind(rows[0]) == _list_kind(blocks[-1][0]):
            blocks[-1] += rows  # one list, whatever blank lines a template left in it
        else:
            blocks.append(rows)
    return "\n\n".join(_block(rows, plain) for rows in blocks) + "\n"


def _list_kind(row: str) -> str | None:
    found = _ITEM.match(row)
    return None if found is None else "-" if found[1] == "- " else "1"


def _block(rows: list[str], plain: bool) -> str:
    first = rows[0].strip()
    if first.startswith("## ") and len(rows) == 1:
        title = first[3:].strip()
        return f"{_plain(title)}\n{'-' * len(_plain(title))}" if plain else f"## {title}"
    if first == "---" and len(rows) == 1:
        return "=" * WIDTH if plain else "---"
    if _ITEM.match(first):
        return _list(rows, plain)
    if any(_HARD_BREAK.search(row.rstrip()) for row in rows[:-1]):
        kept = [_HARD_BREAK.sub("", row.rstrip()).strip() for row in rows]
        if plain:
            return "\n".join(_fill(_plain(row), "", "") for row in kept)
        return "\\\n".join(kept)
    text = " ".join(row.strip() for row in rows)
    return _fill(_plain(text), "", "") if plain else text


def _list(rows: list[str], plain: bool) -> str:
    items: list[tuple[str, list[str], list[str]]] = []  # marker, text, verbatim lines
    for row in rows:
        stripped = row.strip()
        found = _ITEM.match(row)
        if found is not None:
            items.append((found[1], [row[found.end() :].strip()], []))
        elif stripped.startswith("`") or items[-1][2]:
            items[-1][2].append(stripped)
        else:
            items[-1][1].append(stripped)
    width = max(len(marker) for marker, _, _ in items)
    out = []
    for marker, text, verbatim in items:
        first = marker.ljust(width) if marker[0].isdigit() else marker
        rest = " " * len(first)
        head = " ".join(text)
        if plain:
            body = [_fill(_plain(head), first, rest), *(rest + _plain(v) for v in verbatim)]
        else:
            body = [first + head, *(rest + v for v in verbatim)]
        out.append("\n".join(body))
    return "\n".join(out)


def _plain(text: str) -> str:
    """Markdown inline text as plain text: no ** or `, escapes undone."""

    def one(found: re.Match[str]) -> str:
        token = found[0]
        if token.startswith("`"):
            return token[1:-1]
        return found[1] or ""

    return _INLINE.sub(one, text)


def _fill(text: str, first: str, rest: str) -> str:
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


# --------------------------------------------------------------------------- dates, money


def letter_locale(country: str | None) -> str:
    """The locale of a letter to `country`: the config file's `locale`, else the English of
    that country if Babel knows one (en_US, en_GB, en_IE, en_CA, en_AU, en_DE, en_FR...),
    else en_GB."""
    configured = settings().locale
    if configured:
        return configured
    from babel import localedata

    name = f"en_{country}" if country else FALLBACK_LOCALE
    return name if localedata.exists(name) else FALLBACK_LOCALE


class Formats:
    """Dates and money as the letter's locale writes them, times in the user's zone."""

    def __init__(self, locale: str, tz: tzinfo) -> None:
        from babel import Locale, UnknownLocaleError

        try:
            self.locale = Locale.parse(locale)
        except (UnknownLocaleError, ValueError):
            raise UsageError(
                f"unknown locale '{locale}' (config file); use one such as en_GB or de_DE"
            ) from None
        self.tz = tz
        self.territory = self.locale.territory

    @property
    def american(self) -> bool:
        return self.territory in _AMERICAN

    def day(self, value: date | datetime) -> str:
        from babel.dates import format_date

        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return str(format_date(value, "long", locale=self.locale))

    def moment(self, value: datetime) -> str:
        from babel.dates import format_time

        local = value.astimezone(self.tz)
        clock = format_time(local.time(), "short", locale=self.locale)
        return f"{self.day(local.date())}, {clock}"

    def money(self, amount: Decimal | None, currency: str | None = None) -> str | None:
        from babel.numbers import format_currency, format_decimal

        if amount is None:
            return None
        if currency:
            return str(format_currency(amount, currency, locale=self.locale))
        return str(format_decimal(amount, locale=self.locale))


# --------------------------------------------------------------------------- the case's facts


@dataclass(frozen=True)
class _Facts:
    case: Case
    organization: str | None
    country: str | None
    address: list[str] | None
    regulator_point: ContactPoint | None
    escalations: list[Event]
    order: dict[tuple[str, int], int]  # (table, row id) -> the id of the event recording it
    now: datetime
    fmt: Formats
    about: bool = False  # a letter about the company, to someone else: "they", not "you"

    def voice(self, phrase: str) -> str:
        """One of our phrases ("I called you"), turned to the company in the third person
        in a letter about it ("I called them"); never used on what the user typed."""
        if not self.about:
            return phrase
        return _THIRD.sub(lambda found: _THIRD_WORDS[found[0]], phrase)

    def company_promises(self) -> list[Promise]:
        return [
            p for p in self.case.promises if p.promised_by == "company" and p.status != "cancelled"
        ]

    def unkept(self) -> list[Promise]:
        return [
            p for p in self.company_promises() if p.status == "broken" or p.is_overdue(self.now)
        ]

    def escalated_to(self, level: str) -> datetime | None:
        """When the case first reached `level` (an escalation not undone), if it did."""
        for event in self.escalations:
            payload = payload_of(event)
            if isinstance(payload, Escalated) and LEVELS.index(payload.level) >= LEVELS.index(
                level
            ):
                return event.at
        return None


_THIRD_WORDS = {"you": "them", "You": "They", "your": "their", "Your": "Their"}
_THIRD = re.compile(r"\b(?:you|You|your|Your)\b")


def _mail_address(org: Organization | None, points: Sequence[ContactPoint]) -> list[str] | None:
    mail = [p for p in points if p.kind == "mail"]
    mail.sort(key=lambda p: p.level != "complaint")  # the complaints address first
    if not mail:
        return None
    address = [line.strip() for line in mail[0].value.splitlines() if line.strip()]
    if org is not None and (not address or address[0].casefold() != org.name.casefold()):
        address.insert(0, org.name)
    return address


def _points(org: Organization | None) -> list[ContactPoint]:
    if org is None:
        return []
    return sorted(org.contact_points, key=lambda p: (p.position, p.id))


def _gather(
    session: Session, case: Case, now: datetime, fmt: Formats, *, about: bool = False
) -> _Facts:
    org = case.organization
    points = _points(org)
    # An escalation that `tracker undo` reverted did not happen, as far as a letter goes.
    escalations = list(
        session.scalars(
            select(Event)
            .join(Change, Event.change_id == Change.id)
            .where(
                Event.case_id == case.id,
                Event.type == "escalated",
                Change.reverted_by_id.is_(None),
            )
            .order_by(Event.at, Event.id)
        )
    )
    order: dict[tuple[str, int], int] = {}
    for event in case.events:
        created = (event.data or {}).get("created")
        if isinstance(created, list) and len(created) == 2:
            order.setdefault((str(created[0]), int(created[1])), event.id)
    return _Facts(
        case=case,
        organization=org.name if org else None,
        country=case_region(case)[0],
        address=_mail_address(org, points),
        regulator_point=next((p for p in points if p.level == "regulator"), None),
        escalations=escalations,
        order=order,
        now=now,
        fmt=fmt,
        about=about,
    )


def _regulator(session: Session, facts: _Facts) -> dict[str, Any] | None:
    """The body the last rung goes to, for the case's country: its name, website and
    address (from its own directory entry, when the directory has one)."""
    known = REGULATORS.get(facts.country or "")
    if known is None:
        point = facts.regulator_point
        if point is None:
            return None
        name = f"the regulator, {point.label}" if point.label else "the regulator or ombudsman"
        return {"name": name, "short": point.label, "title": point.label,
                "website": point.value if point.kind == "web" else None, "address": None,
                "country": facts.country}  # fmt: skip
    entry = session.scalar(
        select(Organization).where(func.lower(Organization.name) == known.directory_name.lower())
    )
    return {
        "name": known.name,
        "short": known.short,
        "title": known.directory_name,
        "website": known.website,
        "address": _mail_address(entry, _points(entry)),
        "country": known.country,
    }


# --------------------------------------------------------------------------- the history


def _interaction(facts: _Facts, item: Interaction) -> Md:
    case = facts.case
    outgoing = item.direction == "out"
    channel = CHANNEL[item.channel]
    what = facts.voice(channel.we_contacted if outgoing else channel.they_contacted)
    if item.via:
        preposition = channel.via_out if outgoing else channel.via_in
        what += f" {preposition} {escape(item.via)}"
    if item.duration_seconds:
        minutes = max(1, round(item.duration_seconds / 60))
        what += f" ({minutes} {plural(minutes, 'minute')})"
    parts = [f"{strong(facts.fmt.moment(item.at))}: {sentence(what)}"]
    if item.agent_name or item.agent_id:
        agent = escape(item.agent_name) if item.agent_name else "name not given"
        if item.agent_id:
            agent += f" (ID {escape(item.agent_id)})"
        parts.append(sentence(f"Agent: {agent}"))
    refs = [r.value for r in case.references if r.interaction_id == item.id]
    if refs:
        label = plural(len(refs), "Reference")
        parts.append(sentence(f"{label}: {', '.join(escape(r) for r in refs)}"))
    if item.summary:
        parts.append(sentence(escape(item.summary)))
    who = escape(item.agent_name) if item.agent_name else facts.voice("Your agent")
    for promise in case.promises:
        if promise.interaction_id != item.id:
            continue
        by = facts.fmt.day(promise.due_at)
        if promise.promised_by == "company":
            parts.append(f"{who} promised: {quoted(escape(promise.text))}, by {by}.")
        else:
            parts.append(f"I agreed to: {quoted(escape(promise.text))}, by {by}.")
    return Md(" ".join(parts))


def _escalation(facts: _Facts, event: Event) -> Md:
    payload = payload_of(event)
    assert isinstance(payload, Escalated)
    text = facts.voice(LEVEL[payload.level].escalated)
    if payload.reason:
        text += " " + sentence(escape(payload.reason))
    return Md(f"{strong(facts.fmt.moment(event.at))}: {text}")


def _history(facts: _Facts) -> list[Md]:
    """Interactions, promises made outside them, and escalations, in time order; at the
    same time, in the order they were recorded."""
    entries: list[tuple[datetime, int, Md]] = []
    for item in facts.case.interactions:
        recorded = facts.order.get(("interactions", item.id), 0)
        entries.append((item.at, recorded, _interaction(facts, item)))
    for promise in facts.company_promises():
        if promise.interaction_id is None:
            text = Md(
                f"{strong(facts.fmt.moment(promise.created_at))}: {facts.voice('You')} promised: "
                f"{quoted(escape(promise.text))}, by {facts.fmt.day(promise.due_at)}."
            )
            entries.append((promise.created_at, facts.order.get(("promises", promise.id), 0), text))
    for event in facts.escalations:
        entries.append((event.at, event.id, _escalation(facts, event)))
    entries.sort(key=lambda e: (e[0], e[1]))
    return [text for _, _, text in entries]


def _promise_line(facts: _Facts, promise: Promise) -> Md:
    """Who promised what, when, by when, and what became of it."""
    interaction = next((i for i in facts.case.interactions if i.id == promise.interaction_id), None)
    made_at = interaction.at if interaction is not None else promise.created_at
    if promise.promised_by == "me":
        who = "I"
    elif interaction is not None and interaction.agent_name:
        who = escape(interaction.agent_name)
    else:
        who = facts.voice("You")
    day = facts.fmt.day
    what = quoted(escape(promise.text))
    text = f"{who} promised on {day(made_at)}: {what}, by {day(promise.due_at)}."
    if promise.status == "kept":
        done = "Done" if promise.promised_by == "me" else "Kept"
        when = f" on {day(promise.status_at)}" if promise.status_at else ""
        return Md(f"{text} {done}{when}.")
    if promise.status == "broken":
        return Md(f"{text} {strong('Not kept.')}")
    if promise.is_overdue(facts.now):
        return Md(f"{text} {strong('Not kept')}; still outstanding.")
    return Md(f"{text} Not yet due.")


def _promises(facts: _Facts) -> list[Md]:
    """The company's promises (not cancelled), and mine that I kept, in the order made."""
    mine = [p for p in facts.case.promises if p.promised_by == "me" and p.status == "kept"]
    chosen = {p.id for p in facts.company_promises()} | {p.id for p in mine}
    return [_promise_line(facts, p) for p in facts.case.promises if p.id in chosen]


# --------------------------------------------------------------------------- the letter


def render_letter(
    session: Session,
    case_id: int,
    *,
    kind: str | None = None,
    now: datetime,
    tz: tzinfo,
    plain: bool = False,
    policies: Policies | None = None,
    dated: datetime | None = None,
    notes: bool = True,
) -> str:
    """The letter for the case, in Markdown (or plain text), dates in `tz`.

    `kind` None: by the case's level (:func:`kind_for`). `dated`: the day the letter
    bears (default `now`; a letter recorded as sent --at an earlier day). `notes`: the
    part for the user after the letter (left out of the copy kept as evidence). The time
    limits it states come from `policies` (default: the built-in ones and the user's
    file), so the letter and the reminders count the same clocks.
    """
    case = load_case_detail(session, case_id)
    return render_case_letter(
        session,
        case,
        kind=kind_for(case, kind),
        now=now,
        tz=tz,
        plain=plain,
        policies=policies,
        dated=dated,
        notes=notes,
    )


def render_case_letter(
    session: Session,
    case: Case,
    *,
    kind: str,
    now: datetime,
    tz: tzinfo,
    plain: bool = False,
    policies: Policies | None = None,
    dated: datetime | None = None,
    notes: bool = True,
) -> str:
    """:func:`render_letter` of a case loaded with :func:`load_case_detail`."""
    policies = policies or load_policies()
    country = case_region(case)[0]
    fmt = Formats(letter_locale(country), tz)
    facts = _gather(session, case, now, fmt, about=kind == "regulator")
    context = escaped(_context(session, facts, kind, policies, dated or now, notes))
    return layout(_render(template_name(kind), context), plain=plain)


def _context(
    session: Session,
    facts: _Facts,
    kind: str,
    policies: Policies,
    dated: datetime,
    notes: bool,
) -> dict[str, Any]:
    case = facts.case
    fmt = facts.fmt
    mine = settings()
    outgoing = [i for i in case.interactions if i.direction == "out"]
    unkept = facts.unkept()
    calendar = case_calendar(case)

    def span(policy: str, threshold: str) -> Any:
        return policies.span(policy, threshold)

    # The FCA's 8 weeks count from the complaint: the escalation to the complaint rung, or
    # this letter if it is the complaint.
    complained = facts.escalated_to("complaint")
    complaint_start = complained or dated
    final_response_due = span("uk-fca", "complaint-8w").after(complaint_start, calendar)
    txn = case.transaction_date
    return {
        "kind": kind,
        "country": facts.country,
        "american": fmt.american,
        "locale": str(fmt.locale),
        "today": fmt.day(dated),
        "sender": {"name": mine.name, "address": list(mine.address or ()), "email": mine.email},
        "organization": facts.organization,
        "address": facts.address,
        "case": {
            "id": case.id,
            "title": case.title,
            "category": case.category,
            "status": case.status,
            "active": case.status in ACTIVE_STATUSES,
            "level": case.escalation_level,
            "account_last4": case.account_last4,
            "merchant": case.merchant,
            "amount": fmt.money(case.amount, case.currency),
            "transaction_date": fmt.day(txn) if txn else None,
            "opened": fmt.day(case.opened_at),
        },
        "references": [r.value for r in case.references],
        "history": _history(facts),
        "promises": _promises(facts),
        "unkept": [p.text for p in unkept],
        "promise_count": len(facts.company_promises()),
        "contacts": len(outgoing),
        "first_contact": fmt.day(outgoing[0].at) if outgoing else None,
        "complaint_made": fmt.day(complained) if complained else None,
        "complaint_start": fmt.day(complaint_start),
        "final_response_due": fmt.day(final_response_due),
        "final_response_passed": final_response_due <= facts.now,
        "regulator": _regulator(session, facts),
        "regulator_point": facts.regulator_point.value if facts.regulator_point else None,
        "clocks": {
            "fcba_acknowledge": str(span("us-billing-error", "fcba-acknowledge-30d")),
            "fcba_resolve": str(span("us-billing-error", "fcba-resolve-90d")),
            "fca_final_response": str(span("uk-fca", "complaint-8w")),
            "cfpb_response": str(span("us-cfpb", "cfpb-response-15d")),
            "cfpb_final": str(span("us-cfpb", "cfpb-final-60d")),
        },
        "notice": _notice_window(facts, txn),
        "notes": notes,
    }


def _notice_window(facts: _Facts, txn: date | None) -> dict[str, Any]:
    """The FCBA's 60 days: the last safe day for the notice, when the transaction is known."""
    if txn is None:
        return {"known": False}
    safe = txn + timedelta(days=60)
    today = facts.now.astimezone(facts.fmt.tz).date()
    return {
        "known": True,
        "transaction": facts.fmt.day(txn),
        "safe": facts.fmt.day(safe),
        "late": today > safe,
    }


# --------------------------------------------------------------------------- templates


def _environment() -> Any:
    """Jinja2, sandboxed: the user's templates (config folder) first, then the built-in."""
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(config_dir() / TEMPLATE_FOLDER)),
                PackageLoader("tracker", "templates/letters"),
            ]
        ),
        autoescape=False,  # HTML escaping is for HTML; Markdown's is _finalize
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        blank=blank,
        strong=strong,
        code=code,
        quoted=quoted,
        lines=lines,
        sentence=sentence,
        and_list=and_list,
        plural=plural,
    )
    return env


def _render(name: str, context: dict[str, Any]) -> str:
    from jinja2 import TemplateError, TemplateSyntaxError

    env = _environment()
    try:
        return str(env.get_template(name).render(context))
    except TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise UsageError(f"letter template {where}, line {exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise UsageError(f"letter template {name}: {exc}") from None


# --------------------------------------------------------------------------- sent


_SENT_SUMMARY = {
    "complaint": "Formal complaint sent",
    "billing-error": "Billing-error notice sent",
    "regulator": "Letter to the regulator sent",
}
# A letter that is the step up: sending it puts a case below that rung on it, that day.
_RUNG = {"complaint": "complaint", "regulator": "regulator"}


@dataclass(frozen=True)
class Clock:
    """A threshold the sent letter starts, and when it is crossed."""

    id: str
    why: str
    at: datetime


@dataclass(frozen=True)
class SentLetter:
    kind: str
    at: datetime
    interaction: Interaction
    attachment: Attachment
    tracking: Reference | None
    escalated_to: str | None
    clocks: tuple[Clock, ...]


def record_sent(
    session: Session,
    case: Case,
    *,
    kind: str | None,
    channel: str,
    masker: Masker,
    tz: tzinfo,
    at: datetime | None = None,
    tracking: str | None = None,
    tracking_not_a_card: bool = False,
    copy: tuple[bytes, str] | None = None,
    plain: bool = False,
    policies: Policies | None = None,
    now: datetime | None = None,
) -> SentLetter:
    """Record the case's letter as sent, as one change (one `tracker undo`): an outgoing
    interaction on `channel` (mail or email) at `at`; the letter kept as its evidence (the
    letter as written for that day, or `copy`: the bytes and name of the copy really sent);
    the tracking number as a reference (never masked); and the clocks it starts: a
    complaint or a regulator letter puts a case below that rung on it (its clocks count
    from the escalation), and the first billing-error notice sent is where the FCBA's
    thresholds count from (``since = "notice"``). `case` is loaded with load_case_detail
    and locked."""
    from tracker.evidence import attach, clean_filename, prepare  # a letter sent only

    kind = kind_for(case, kind)
    channel = choice(channel, LETTER_CHANNELS, "way of sending a letter")
    now = now or utcnow()
    when = event_time(at, now, "the letter")
    if when < case.opened_at:
        raise UsageError(
            f"the letter's time {format_local(when)} is before the case was opened "
            f"({format_local(case.opened_at)})"
        )
    if case.status not in ACTIVE_STATUSES:
        raise CaseNotActive(case.id, case.status, "record a letter")
    number = reference(tracking, not_a_card=tracking_not_a_card) if tracking else None
    policies = policies or load_policies()
    # The copy kept is the letter as it stood on the day it was sent: made before anything
    # of this change is recorded (it must not tell of its own sending).
    if copy is None:
        text = render_case_letter(
            session, case, kind=kind, now=now, tz=tz, plain=plain, policies=policies,
            dated=when, notes=False,
        )  # fmt: skip
        day = when.astimezone(tz).date().isoformat()
        data, filename = (
            text.encode("utf-8"),
            f"letter-{case.id}-{kind}-{day}.{'txt' if plain else 'md'}",
        )
    else:
        data, filename = copy[0], clean_filename(copy[1], masker)
    prepared = prepare(data, filename, masker=masker, what="the letter")
    log = begin_change(session, f"case letter {case.id} {kind} sent", now=now)
    rung = _RUNG.get(kind)
    escalated_to = None
    if rung is not None and LEVELS.index(case.escalation_level) < LEVELS.index(rung):
        escalate(session, case, masker=masker, to=rung, at=when, log=log)
        escalated_to = rung
    interaction = log_interaction(
        session, case, channel=channel, masker=masker, at=when, direction="out",
        summary=_SENT_SUMMARY[kind], now=now, log=log,
    )  # fmt: skip
    attachment = attach(
        session, case, prepared, filename=filename, kind="letter", log=log,
        interaction=interaction, at=when,
    )  # fmt: skip
    ref = None
    if number is not None:
        ref = add_reference(
            session, case, number, kind="tracking", not_a_card=tracking_not_a_card,
            interaction=interaction, log=log,
        )  # fmt: skip
    log.record(
        case,
        LetterSent(
            kind=kind,
            channel=channel,
            interaction_id=interaction.id,
            sha256=prepared.sha256,
            tracking=number,
        ),
        f"{_SENT_SUMMARY[kind]} by {channel}" + (f", tracking {number}" if number else ""),
        at=when,
    )
    return SentLetter(
        kind=kind,
        at=when,
        interaction=interaction,
        attachment=attachment,
        tracking=ref,
        escalated_to=escalated_to,
        clocks=_clocks_started(case, kind, escalated_to, when, policies),
    )


def _clocks_started(
    case: Case, kind: str, escalated_to: str | None, when: datetime, policies: Policies
) -> tuple[Clock, ...]:
    """The thresholds of the case's policy that now count from the letter."""
    country = case_region(case)[0]
    policy = policies.for_case(case.category, case.policy, country)
    since = "notice" if kind == "billing-error" else "escalated" if escalated_to else None
    calendar = case_calendar(case)
    found = []
    for threshold in policy.thresholds:
        if threshold.since != since or threshold.after is None:
            continue
        if not threshold.applies(case.escalation_level):
            continue
        found.append(Clock(threshold.id, threshold.why, threshold.after.after(when, calendar)))
    found.sort(key=lambda c: (c.at, c.id))
    return tuple(found)
