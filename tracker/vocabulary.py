"""The words of the domain: categories, channels, levels, kinds and states.

Each channel and each escalation level carries every phrase the product says about it (in
letters, in suggestions, in the timeline), so a new channel is one entry here. The schema,
the CLI's choices, the directory, the letters and the suggestions all read these tables;
tests/test_vocabulary.py fails if an entry lacks a phrase or a reader misses an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = (
    "lost_stolen",
    "dispute",
    "rewards",
    "personal_info",
    "benefits",
    "payment",
    "application",
    "complaint",
    "card_replacement",
    "other",
)


@dataclass(frozen=True)
class Channel:
    """A way of being in contact, with the phrases each part of the product uses for it."""

    name: str
    label: str
    """Capitalised, for a timeline headline: "Phone to the company"."""
    we_contacted: str
    """A letter's account of the user's contact: "I called you"."""
    they_contacted: str
    """A letter's account of the company's contact: "You called me"."""
    via_out: str
    """The preposition before the number or address the user used: "I called you on ..."."""
    via_in: str
    """... and before the one the company used: "You called me from ..."."""
    contact_verb: str | None
    """How to use a directory contact point of this kind ("call"); None: no such points."""
    reference_kind: str = "other"
    """The kind of a reference number given during such a contact."""
    live: bool = False
    """The company answers in the same exchange (a call, a chat, a visit): a contact of
    ours on it is a reply from them too (the case file's "last reply")."""


_CHANNEL_LIST = (
    Channel(
        "phone", "Phone", "I called you", "You called me", "on", "from", "call", "call", live=True
    ),
    Channel(
        "chat",
        "Chat",
        "I contacted you by online chat",
        "You contacted me by online chat",
        "at",
        "from",
        "chat at",
        live=True,
    ),
    Channel("mail", "Mail", "I wrote to you", "You wrote to me", "at", "from", "write to"),
    Channel(
        "app",
        "App",
        "I sent you a secure message in your app",
        "You sent me a secure message in your app",
        "at",
        "from",
        "message in",
    ),
    Channel("email", "Email", "I emailed you", "You emailed me", "at", "from", "email"),
    Channel(
        "social",
        "Social",
        "I contacted you on social media",
        "You contacted me on social media",
        "at",
        "from",
        "message",
    ),
    Channel(
        "web",
        "Web",
        "I contacted you through your website",
        "You contacted me through your website",
        "at",
        "from",
        "go to",
    ),
    Channel(
        "in_person",
        "In person",
        "I visited you in person",
        "We met in person",
        "at",
        "at",
        None,
        live=True,
    ),
)
CHANNEL = {c.name: c for c in _CHANNEL_LIST}
CHANNELS = tuple(CHANNEL)
# The kinds of a directory's contact points: the channels one can be reached through.
CONTACT_KINDS = tuple(c.name for c in _CHANNEL_LIST if c.contact_verb is not None)


@dataclass(frozen=True)
class Level:
    """A rung of the escalation ladder."""

    name: str
    action: str
    """What to do to reach it: "ask for a supervisor"."""
    escalated: str
    """A letter's account of having climbed to it ("" for the first rung)."""


_LEVEL_LIST = (
    Level("frontline", "contact customer service", ""),
    Level(
        "supervisor",
        "ask for a supervisor",
        "I asked for the matter to be escalated to a supervisor or manager.",
    ),
    Level(
        "complaint",
        "file a formal complaint, in writing",
        "I escalated the matter to your formal complaint process.",
    ),
    Level(
        "regulator",
        "take the complaint to the regulator or ombudsman",
        "I referred the matter to the regulator.",
    ),
)
LEVEL = {level.name: level for level in _LEVEL_LIST}
LEVELS = tuple(LEVEL)


def next_level(level: str) -> str | None:
    """The rung above `level`, or None at the top."""
    index = LEVELS.index(level)
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


REFERENCE_KINDS = ("call", "dispute", "complaint", "claim", "tracking", "other")
"""`tracking`: a posted letter's tracking number (case letter --sent --tracking)."""
LETTER_KINDS = ("complaint", "billing-error", "regulator")
"""The letters `case letter` writes (tracker.letter)."""
LETTER_CHANNELS = ("mail", "email")
"""How a letter can be sent (case letter --sent --via)."""
# What a piece of evidence is (`case attach --kind`).
EVIDENCE_KINDS = ("statement", "receipt", "transcript", "email", "letter", "photo", "other")
DIRECTIONS = ("out", "in")
STATUSES = ("open", "waiting", "escalated", "resolved", "closed")
ACTIVE_STATUSES = ("open", "waiting", "escalated")
PROMISE_PARTIES = ("company", "me")
PROMISE_STATUSES = ("pending", "kept", "broken", "cancelled")
FOLLOW_UP_STATUSES = ("pending", "fired", "done", "cancelled")

FOLLOW_UP_TEXT = "check on the case"
"""What a follow-up set without text reminds of."""


@dataclass(frozen=True)
class Regulator:
    """The body a consumer takes a complaint to in a country, the last rung of the ladder.

    The directory may hold its entry (examples/directory/), which then gives its contact
    points; these are what is said when it does not.
    """

    country: str
    name: str
    """As a sentence names it: "the Financial Ombudsman Service"."""
    short: str
    website: str
    phone: str | None = None
    """E.164."""
    directory_name: str = ""
    """The organization's name in the directory (examples/directory/)."""

    @property
    def action(self) -> str:
        return f"take the complaint to {self.name}"


REGULATORS = {
    "US": Regulator(
        "US",
        "the Consumer Financial Protection Bureau (CFPB)",
        "CFPB",
        "https://www.consumerfinance.gov/complaint/",
        "+18554112372",
        "Consumer Financial Protection Bureau",
    ),
    "GB": Regulator(
        "GB",
        "the Financial Ombudsman Service",
        "Financial Ombudsman Service",
        "https://www.financial-ombudsman.org.uk/",
        "+448000234567",
        "Financial Ombudsman Service",
    ),
}
"""Consumer complaint bodies by ISO country code (guidance, not legal advice)."""


# What to have ready before calling, by category (the guide, 1.2 "gather details"). The
# words "last4", "transaction" and "references" stand for the case's own facts, filled in
# from it (tracker.advice.call_checklist); the rest is said as written. Never a security
# code or a PIN: the tracker keeps neither.
CALL_CHECKLIST: dict[str, tuple[str, ...]] = {
    "lost_stolen": (
        "last4",
        "when and where you last had the card",
        "any charges you did not make",
        "an address for the new card",
    ),
    "dispute": (
        "last4",
        "transaction",
        "what you did to sort it out with the merchant",
        "references",
    ),
    "rewards": ("last4", "the points or offer concerned and the statement it is on", "references"),
    "personal_info": ("last4", "the old and the new details", "references"),
    "benefits": ("last4", "the benefit, with the date and receipt it covers", "references"),
    "payment": ("last4", "transaction", "the payment's date, amount and account", "references"),
    "application": ("the application's date and reference", "references"),
    "complaint": ("last4", "what went wrong, with dates", "what would put it right", "references"),
    "card_replacement": ("last4", "an address for the new card", "references"),
    "other": ("last4", "references"),
}
