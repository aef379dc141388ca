"""Letters from a case's history: a formal complaint, or a billing-error notice (FCBA).

The letter is built as blocks (paragraphs, lists, headings) and rendered as Markdown or as
plain text wrapped for print. Everything in it comes from the store: the account's last 4
digits (never more), the disputed transaction, every interaction in order, the promises and
what became of them, the escalations. What the tool cannot know (the sender's name, why the
charge is wrong) is left in [brackets]. The deadlines are the published rules in docs/domain.md,
stated as guidance in a part addressed to the user, after the letter.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.cases import load_case_detail
from tracker.directory import case_region
from tracker.errors import UsageError
from tracker.history import Escalated, payload_of
from tracker.models import Case, Change, ContactPoint, Event, Interaction, Promise
from tracker.policy import Policies, load_policies
from tracker.vocabulary import ACTIVE_STATUSES, CHANNEL, LEVEL, REGULATORS
from tracker.when import MONTHS

KINDS = ("complaint", "billing-error")
WIDTH = 76  # plain text: fits a printed page and an e-mail body


# Which body a letter names, by the case's country (the organization's, else the user's).
_REGULATOR = {code: regulator.name for code, regulator in REGULATORS.items()}

# --------------------------------------------------------------------------- text blocks

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>])")


class _Doc:
    """Blocks of a letter, rendered as Markdown or as wrapped plain text."""

    def __init__(self, *, plain: bool) -> None:
        self.plain = plain
        self.blocks: list[str] = []

    def text(self, value: str) -> str:
        """User-supplied text: one line, Markdown-escaped."""
        one = " ".join(value.split())
        if self.plain:
            return one
        return _MD_SPECIAL.sub(r"\\\1", one)

    def strong(self, value: str) -> str:
        return value if self.plain else f"**{value}**"

    def lines(self, lines: Sequence[str]) -> None:
        """Lines kept apart (an address block): hard line breaks in Markdown."""
        if self.plain:
            self.blocks.append("\n".join(self._wrap(line, "", "") for line in lines))
        else:
            self.blocks.append("\\\n".join(lines))

    def para(self, value: str) -> None:
        self.blocks.append(self._wrap(value, "", ""))

    def heading(self, value: str) -> None:
        self.blocks.append(f"{value}\n{'-' * len(value)}" if self.plain else f"## {value}")

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append("\n".join(self._wrap(item, "- ", "  ") for item in items))

    def numbered(self, items: Sequence[str]) -> None:
        width = len(f"{len(items)}. ")
        self.blocks.append(
            "\n".join(
                self._wrap(item, f"{n}. ".ljust(width), " " * width)
                for n, item in enumerate(items, start=1)
            )
        )

    def rule(self) -> None:
        self.blocks.append("=" * WIDTH if self.plain else "---")

    def _wrap(self, value: str, first: str, rest: str) -> str:
        """One item; a line after a newline (a command to copy) is indented, never wrapped."""
        head, *verbatim = value.split("\n")
        if self.plain:
            head = textwrap.fill(
                head,
                WIDTH,
                initial_indent=first,
                subsequent_indent=rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
        else:
            # Markdown is left unwrapped: a wrapped line that began with "-" or "1." would
            # turn into a list.
            head = first + head
        return "\n".join([head, *(rest + line for line in verbatim)])

    def render(self) -> str:
        return "\n\n".join(self.blocks) + "\n"


# --------------------------------------------------------------------------- dates


def _day(value: date) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def _local_day(value: datetime, tz: tzinfo) -> str:
    return _day(value.astimezone(tz).date())


def _moment(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    return f"{_day(local.date())}, {local:%H:%M}"


# --------------------------------------------------------------------------- the case's facts


@dataclass(frozen=True)
class _Facts:
    case: Case
    organization: str | None
    country: str | None
    address: list[str] | None
    regulator: ContactPoint | None
    escalations: list[Event]
    now: datetime
    tz: tzinfo
    clocks: _Clocks

    @property
    def account(self) -> str:
        last4 = self.case.account_last4
        return f"my account ending {last4}" if last4 else "my account ending [last 4 digits]"

    @property
    def amount(self) -> str | None:
        case = self.case
        if case.amount is None:
            return None
        return f"{case.amount} {case.currency}" if case.currency else str(case.amount)

    def company_promises(self) -> list[Promise]:
        return [
            p for p in self.case.promises if p.promised_by == "company" and p.status != "cancelled"
        ]

    def unkept(self) -> list[Promise]:
        return [
            p for p in self.company_promises() if p.status == "broken" or p.is_overdue(self.now)
        ]

    def regulator_name(self) -> str:
        if self.country in _REGULATOR:
            return _REGULATOR[self.country]
        if self.regulator is not None and self.regulator.label:
            return "the regulator, " + self.regulator.label
        return "the regulator or ombudsman"


@dataclass(frozen=True)
class _Clocks:
    """The legal time limits a letter states, read from the policies (policies.toml)."""

    fcba_acknowledge: str
    fcba_resolve: str
    fca_final_response: str
    cfpb_response: str
    cfpb_final: str

    @classmethod
    def of(cls, policies: Policies) -> _Clocks:
        def span(policy: str, threshold: str) -> str:
            return str(policies.span(policy, threshold))

        return cls(
            fcba_acknowledge=span("us-billing-error", "fcba-acknowledge-30d"),
            fcba_resolve=span("us-billing-error", "fcba-resolve-90d"),
            fca_final_response=span("uk-fca", "complaint-8w"),
            cfpb_response=span("us-cfpb", "cfpb-response-15d"),
            cfpb_final=span("us-cfpb", "cfpb-final-60d"),
        )


def _gather(
    session: Session, case_id: int, now: datetime, tz: tzinfo, policies: Policies
) -> _Facts:
    case = load_case_detail(session, case_id)
    org = case.organization
    points: list[ContactPoint] = []
    if org is not None:
        points = sorted(org.contact_points, key=lambda p: (p.position, p.id))
    mail = [p for p in points if p.kind == "mail"]
    mail.sort(key=lambda p: p.level != "complaint")  # the complaints address first
    address = None
    if mail:
        address = [line.strip() for line in mail[0].value.splitlines() if line.strip()]
        if org is not None and (not address or address[0].casefold() != org.name.casefold()):
            address.insert(0, org.name)
    regulator = next((p for p in points if p.level == "regulator"), None)
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
    return _Facts(
        case=case,
        organization=org.name if org else None,
        country=case_region(case)[0],
        address=address,
        regulator=regulator,
        escalations=escalations,
        now=now,
        tz=tz,
        clocks=_Clocks.of(policies),
    )


# --------------------------------------------------------------------------- the history


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _quoted(doc: _Doc, text: str) -> str:
    return f"“{doc.text(text)}”"


def _interaction(doc: _Doc, facts: _Facts, item: Interaction) -> str:
    case = facts.case
    outgoing = item.direction == "out"
    channel = CHANNEL[item.channel]
    what = channel.we_contacted if outgoing else channel.they_contacted
    if item.via:
        preposition = channel.via_out if outgoing else channel.via_in
        what += f" {preposition} {doc.text(item.via)}"
    if item.duration_seconds:
        minutes = max(1, round(item.duration_seconds / 60))
        what += f" ({minutes} minute{'s' if minutes != 1 else ''})"
    parts = [f"{doc.strong(_moment(item.at, facts.tz))}: {what}."]
    if item.agent_name or item.agent_id:
        agent = doc.text(item.agent_name) if item.agent_name else "name not given"
        if item.agent_id:
            agent += f" (ID {doc.text(item.agent_id)})"
        parts.append(f"Agent: {agent}.")
    refs = [r.value for r in case.references if r.interaction_id == item.id]
    if refs:
        label = "Reference" if len(refs) == 1 else "References"
        parts.append(f"{label}: {', '.join(doc.text(r) for r in refs)}.")
    if item.summary:
        parts.append(_sentence(doc.text(item.summary)))
    who = doc.text(item.agent_name) if item.agent_name else "Your agent"
    for promise in case.promises:
        if promise.interaction_id != item.id:
            continue
        if promise.promised_by == "company":
            parts.append(
                f"{who} promised: {_quoted(doc, promise.text)}, "
                f"by {_local_day(promise.due_at, facts.tz)}."
            )
        else:
            parts.append(
                f"I agreed to: {_quoted(doc, promise.text)}, "
                f"by {_local_day(promise.due_at, facts.tz)}."
            )
    return " ".join(parts)


def _escalation(doc: _Doc, facts: _Facts, event: Event) -> str:
    payload = payload_of(event)
    assert isinstance(payload, Escalated)
    text = LEVEL[payload.level].escalated
    if payload.reason:
        text += " " + _sentence(doc.text(payload.reason))
    return f"{doc.strong(_moment(event.at, facts.tz))}: {text}"


def _history(doc: _Doc, facts: _Facts) -> list[str]:
    """Interactions, promises made outside them, and escalations, in time order."""
    entries: list[tuple[datetime, int, str]] = []
    for item in facts.case.interactions:
        entries.append((item.at, 0, _interaction(doc, facts, item)))
    for promise in facts.company_promises():
        if promise.interaction_id is None:
            entries.append(
                (
                    promise.created_at,
                    1,
                    f"{doc.strong(_moment(promise.created_at, facts.tz))}: You promised: "
                    f"{_quoted(doc, promise.text)}, by {_local_day(promise.due_at, facts.tz)}.",
                )
            )
    for event in facts.escalations:
        entries.append((event.at, 2, _escalation(doc, facts, event)))
    entries.sort(key=lambda e: (e[0], e[1]))
    return [text for _, _, text in entries]


def _promise_line(doc: _Doc, facts: _Facts, promise: Promise) -> str:
    """Who promised what, when, by when, and what became of it."""
    interaction = next((i for i in facts.case.interactions if i.id == promise.interaction_id), None)
    made_at = interaction.at if interaction is not None else promise.created_at
    if promise.promised_by == "me":
        who = "I"
    elif interaction is not None and interaction.agent_name:
        who = doc.text(interaction.agent_name)
    else:
        who = "You"
    text = (
        f"{who} promised on {_local_day(made_at, facts.tz)}: {_quoted(doc, promise.text)}, "
        f"by {_local_day(promise.due_at, facts.tz)}."
    )
    if promise.status == "kept":
        done = "Done" if promise.promised_by == "me" else "Kept"
        when = f" on {_local_day(promise.status_at, facts.tz)}" if promise.status_at else ""
        return f"{text} {done}{when}."
    if promise.status == "broken":
        return f"{text} {doc.strong('Not kept.')}"
    if promise.is_overdue(facts.now):
        return f"{text} {doc.strong('Not kept')}; still outstanding."
    return f"{text} Not yet due."


def _promises(doc: _Doc, facts: _Facts) -> list[str]:
    """The company's promises (not cancelled), and mine that I kept, in the order made."""
    mine = [p for p in facts.case.promises if p.promised_by == "me" and p.status == "kept"]
    chosen = {p.id for p in facts.company_promises()} | {p.id for p in mine}
    return [_promise_line(doc, facts, p) for p in facts.case.promises if p.id in chosen]


# --------------------------------------------------------------------------- the letter


def render_letter(
    session: Session,
    case_id: int,
    *,
    kind: str,
    now: datetime,
    tz: tzinfo,
    plain: bool = False,
    policies: Policies | None = None,
) -> str:
    """The letter for the case, in Markdown (or plain text), dates in `tz`.

    The time limits it states come from `policies` (default: the built-in ones and the
    user's file), so the letter and the reminders count the same clocks.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown letter kind '{kind}'; choose one of: {', '.join(KINDS)}")
    facts = _gather(session, case_id, now, tz, policies or load_policies())
    doc = _Doc(plain=plain)
    case = facts.case
    billing = kind == "billing-error"

    doc.lines(["[Your name]", "[Your address]"])
    doc.para(_day(now.astimezone(tz).date()))
    if facts.address:
        doc.lines([doc.text(line) for line in facts.address])
    else:
        doc.lines(
            [doc.text(facts.organization) if facts.organization else "[Organization]", "[Address]"]
        )

    subject = _subject(doc, facts, billing)
    refs = [doc.text(r.value) for r in case.references]
    header = [doc.strong(subject)]
    if refs:
        header.append(doc.strong("Your references: " + ", ".join(refs)))
    doc.lines(header)

    doc.para("Dear Sir or Madam,")
    doc.para(_opening(doc, facts, billing))
    if billing or case.merchant or case.amount is not None or case.transaction_date:
        doc.heading("The disputed charge")
        doc.bullets(
            [
                "Date: "
                + (_day(case.transaction_date) if case.transaction_date else "[transaction date]"),
                "Merchant: " + (doc.text(case.merchant) if case.merchant else "[merchant]"),
                "Amount: " + (doc.text(facts.amount) if facts.amount else "[amount]"),
                "Account: ending " + (case.account_last4 or "[last 4 digits]"),
            ]
        )
    history = _history(doc, facts)
    if history:
        doc.heading("What has happened so far")
        doc.numbered(history)
    promises = _promises(doc, facts)
    if promises:
        doc.heading("Promises, and what became of them")
        doc.bullets(promises)
    doc.heading("What I ask")
    doc.numbered(_asks(doc, facts, billing))
    doc.para(_duties(facts, billing))
    doc.para("Sincerely," if facts.country != "GB" else "Yours faithfully,")
    doc.lines(["[Signature]", "[Your name]"])

    doc.rule()
    doc.heading("Before you send it (notes for you, not part of the letter)")
    doc.bullets(_notes(doc, facts, billing))
    return doc.render()


def _subject(doc: _Doc, facts: _Facts, billing: bool) -> str:
    case = facts.case
    account = f"account ending {case.account_last4}" if case.account_last4 else None
    if billing:
        charge = ", ".join(
            p
            for p in (
                doc.text(case.merchant) if case.merchant else None,
                doc.text(facts.amount) if facts.amount else None,
                _day(case.transaction_date) if case.transaction_date else None,
            )
            if p
        )
        parts = ["Re: Notice of billing error", account, charge or None]
    else:
        parts = ["Re: Formal complaint", doc.text(case.title), account]
    return " — ".join(p for p in parts if p)


def _opening(doc: _Doc, facts: _Facts, billing: bool) -> str:
    case = facts.case
    if billing:
        charge = "a charge"
        if facts.amount:
            charge += f" of {doc.text(facts.amount)}"
        if case.merchant:
            charge += f" from {doc.text(case.merchant)}"
        if case.transaction_date:
            charge += f" dated {_day(case.transaction_date)}"
        return (
            f"I am writing to dispute a billing error on {facts.account}: {charge}. "
            "The charge is in error because [say why: for example, I did not authorize it, "
            "the amount is wrong, or the goods or services were not delivered]."
        )
    text = f"I am writing to make a formal complaint about the matter above, on {facts.account}."
    outgoing = [i for i in case.interactions if i.direction == "out"]
    said: list[str] = []
    if outgoing:
        times = "once" if len(outgoing) == 1 else f"{len(outgoing)} times"
        said.append(f"since {_local_day(outgoing[0].at, facts.tz)} I have contacted you {times}")
    unkept = facts.unkept()
    if unkept:
        total = len(facts.company_promises())
        said.append(
            f"{len(unkept)} of the {total} promises you made were not kept"
            if total > 1
            else "the promise you made was not kept"
        )
    if case.status in ACTIVE_STATUSES:
        said.append("the matter is still not resolved")
    if said:
        joined = ", ".join(said[:-1]) + (" and " if len(said) > 1 else "") + said[-1]
        text += " " + _sentence(joined)
    return text


def _asks(doc: _Doc, facts: _Facts, billing: bool) -> list[str]:
    case = facts.case
    asks: list[str] = []
    charge = f"the charge of {doc.text(facts.amount)}" if facts.amount else "the charge"
    if case.merchant:
        charge += f" from {doc.text(case.merchant)}"
    if billing:
        asks.append(
            f"Correct the error: remove {charge} and any finance charges, fees or interest "
            "on it, and send me a corrected statement."
        )
        asks.append(
            "If you believe the charge is correct, explain why in writing and send me copies "
            "of the documents that show it."
        )
    elif case.category == "dispute":
        asks.append(f"Remove {charge} and any fees or interest charged on it.")
    elif case.category == "lost_stolen":
        asks.append(
            "Confirm in writing that the lost or stolen card is cancelled and that I am not "
            "held responsible for any charge made after I reported it."
        )
    else:
        asks.append(f"Resolve the matter described above ({doc.text(case.title)}).")
    unkept = facts.unkept()
    if unkept:
        listed = ", ".join(_quoted(doc, p.text) for p in unkept)
        asks.append(f"Do what you promised and have not done: {listed}.")
    if not billing:
        asks.append("Send me your final response in writing, with this complaint's reference.")
    return asks


def _duties(facts: _Facts, billing: bool) -> str:
    clocks = facts.clocks
    if billing:
        return (
            "Under the Fair Credit Billing Act, please acknowledge this notice in writing "
            f"within {clocks.fcba_acknowledge} of receiving it, and resolve the dispute within "
            f"two complete billing cycles (and in no case later than {clocks.fcba_resolve})."
        )
    if facts.country == "GB":
        return (
            f"Please send me your final response within {clocks.fca_final_response}, as the "
            "FCA's complaint rules "
            "require. If you do not, or if I am not satisfied with it, I will refer the "
            "complaint to the Financial Ombudsman Service."
        )
    return f"If this is not resolved, I will take the complaint to {facts.regulator_name()}."


def _notes(doc: _Doc, facts: _Facts, billing: bool) -> list[str]:
    case = facts.case
    notes = ["Fill in the parts in [brackets], sign it, and delete these notes."]
    if billing:
        notes.append(
            "Send it to the address your statement gives for billing errors (billing "
            "inquiries): the notice must go there, and it may differ from the address above."
        )
        notes.append(_window(facts))
        notes.append(
            "Once they receive it, they must acknowledge it in writing within "
            f"{facts.clocks.fcba_acknowledge} and resolve it within two complete billing "
            f"cycles, no later than {facts.clocks.fcba_resolve}."
        )
        if facts.country and facts.country != "US":
            notes.append(
                f"The Fair Credit Billing Act is US law; {doc.text(facts.organization or '')} "
                f"is listed in {facts.country}: check the rules that apply to your account."
            )
    else:
        if facts.country in (None, "US"):
            where = (
                f" ({doc.text(facts.regulator.value)})"
                if facts.regulator is not None and facts.country == "US"
                else ""
            )
            notes.append(
                "US: if they do not resolve it, you can complain to the Consumer Financial "
                f"Protection Bureau{where}; companies generally respond within "
                f"{facts.clocks.cfpb_response} and give a final response within "
                f"{facts.clocks.cfpb_final}."
            )
        if facts.country in (None, "GB"):
            notes.append(
                f"UK: the firm has {facts.clocks.fca_final_response} to send its final "
                "response; after that, or after "
                "its final response, you can refer the complaint to the Financial Ombudsman "
                "Service, generally within 6 months of the final response."
            )
    notes.append(
        "Send it so that you can prove it arrived (for example, certified mail with a return "
        "receipt), keep a copy, and enclose copies, never originals, of supporting documents."
    )
    record = (
        f'tracker case contact {case.id} --channel mail --summary "'
        + ("Billing-error notice sent" if billing else "Formal complaint sent")
        + '"'
    )
    if billing:
        record += ' --promise "Written acknowledgement of the billing-error notice" --due 30d'
    notes.append(f"When it is sent, record it:\n{_code(doc, record)}")
    notes.append("These timelines are guidance, not legal advice.")
    return notes


def _window(facts: _Facts) -> str:
    """The 60-day notice window, with the safe date when the transaction date is known."""
    rule = (
        "Your notice must reach them within 60 days after the statement showing the error was sent."
    )
    txn = facts.case.transaction_date
    if txn is None:
        return rule + " Check that statement's date and count 60 days."
    safe = txn + timedelta(days=60)
    today = facts.now.astimezone(facts.tz).date()
    if today > safe:
        return (
            rule + f" More than 60 days have passed since the transaction ({_day(txn)}): "
            "check the statement's date at once."
        )
    return (
        rule + f" The charge is dated {_day(txn)} and the statement came after it, so a "
        f"notice that arrives by {_day(safe)} is in time whatever the statement's date."
    )


def _code(doc: _Doc, text: str) -> str:
    return text if doc.plain else f"`{text}`"
