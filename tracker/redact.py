"""Mask card numbers and security codes in free text before it is stored.

Every free-text field (titles, notes, summaries, promise texts, agent names,
reference numbers, merchants) goes through :func:`mask` on its way to the
database, so a full card number or a CVV/PIN never reaches it.

Card numbers
    A *run* is a maximal sequence of ASCII digit groups joined by single spaces
    or dashes (``4111 1111 1111 1111``, ``3782-822463-10005``). Every stretch of
    whole consecutive groups of a run that holds 13-19 digits and passes the Luhn
    check is a card number; overlapping stretches are merged. Each merged
    stretch becomes ``•••• 1234`` (its last four digits). So a run that is itself
    a card is masked whole, a card written next to other numbers
    (``4111 1111 1111 1111 2026``) is still found, and digit strings that fail
    the check (order numbers, phone numbers, dates) are left alone. A stretch is
    never cut out of the middle of a group: 13 digits of a 25-digit number are
    not a card.

    ``•••• 1234`` (four bullets, a space, four digits not followed by a digit)
    is treated as already masked and its digits never join a run, which makes
    masking idempotent: ``mask(mask(t)) == mask(t)``.

Security codes
    A CVV/CVC/CID/CSC/security code/PIN label directly followed by a 3-6 digit
    value keeps the label and loses the value: ``CVV: 123`` becomes
    ``CVV: •••``. Between label and value only ``:``, ``=``, ``#``, ``-``,
    whitespace and the words "is", "was", "number", "num", "no", "code" may
    appear. A label may not touch a letter (``pinned`` and ``spin 123`` are left
    alone, ``CVV123`` is masked); matching ignores case.

Cards are masked before codes, so ``PIN 4111 1111 1111 1111`` is one card.

Standard library only and cheap to import: the CLI imports it for every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import overload

__all__ = [
    "CARD_MASK_PREFIX",
    "CODE_MASK",
    "Masker",
    "Redaction",
    "contains_card_number",
    "luhn_valid",
    "mask",
    "mask_optional",
    "redact",
]

MIN_CARD_DIGITS = 13
MAX_CARD_DIGITS = 19
CARD_MASK_PREFIX = "•••• "
"""A masked card is this prefix followed by the card's last four digits."""
CODE_MASK = "•••"
"""What a security code or PIN value becomes."""

# Either an already-masked card (kept as is, and its digits never join a run) or a
# maximal run of digit groups separated by single spaces or dashes.
_TOKEN = re.compile(r"(?P<masked>•••• [0-9]{4}(?![0-9]))|(?P<run>[0-9]+(?:[ -][0-9]+)*)")
_GROUP = re.compile(r"[0-9]+")
_GROUP_SEPARATORS = re.compile(r"[ -]")

_CODE = re.compile(
    # The label, not glued to letters on either side. A digit may touch it (a code
    # written right after another value), so masking digits never uncovers a label.
    r"(?<![^\W\d_])"
    r"(?:cvv2|cvc2|cvv|cvc|cid|csc|pin"
    r"|sec(?:urity|\.)?[ \t]+code"
    r"|card[ \t]+verification[ \t]+(?:value|code))"
    r"(?![^\W\d_])"
    # What may stand between the label and the value.
    r"(?:[\s:=#-]|\b(?:is|was|number|num|no|code)\b\.?)*"
    # The value.
    r"(?P<value>[0-9]{3,6})(?![0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Redaction:
    """The result of :func:`redact`."""

    text: str
    """The masked text."""
    cards: int
    """How many card numbers were masked."""
    codes: int
    """How many security codes / PINs were masked."""

    @property
    def changed(self) -> bool:
        """True when anything was masked."""
        return self.cards > 0 or self.codes > 0


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check (False for "" or non-digits)."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_spans(run: str) -> list[tuple[int, int]]:
    """Spans (start, end) within `run` to mask, merged and in order."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
    spans: list[tuple[int, int]] = []
    for first in range(len(groups)):
        count = 0
        for last in range(first, len(groups)):
            count += groups[last][1] - groups[last][0]
            if count > MAX_CARD_DIGITS:
                break
            if count < MIN_CARD_DIGITS:
                continue
            start, end = groups[first][0], groups[last][1]
            if not luhn_valid(_GROUP_SEPARATORS.sub("", run[start:end])):
                continue
            if spans and start <= spans[-1][1]:
                # Shares a group with the previous span (starts are increasing).
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
    return spans


def _mask_cards(text: str) -> tuple[str, int]:
    parts: list[str] = []
    cards = 0
    position = 0
    for token in _TOKEN.finditer(text):
        run = token.group("run")
        if run is None:
            continue
        spans = _card_spans(run)
        if not spans:
            continue
        offset = token.start()
        for start, end in spans:
            digits = _GROUP_SEPARATORS.sub("", run[start:end])
            parts.append(text[position : offset + start])
            parts.append(CARD_MASK_PREFIX + digits[-4:])
            position = offset + end
            cards += 1
    if not cards:
        return text, 0
    parts.append(text[position:])
    return "".join(parts), cards


def _mask_code(match: re.Match[str]) -> str:
    return match.string[match.start() : match.start("value")] + CODE_MASK


def redact(text: str) -> Redaction:
    """Mask card numbers, then security codes and PINs, in `text`."""
    masked, cards = _mask_cards(text)
    masked, codes = _CODE.subn(_mask_code, masked)
    return Redaction(text=masked, cards=cards, codes=codes)


def mask(text: str) -> str:
    """`text` with card numbers and security codes masked."""
    return redact(text).text


@overload
def mask_optional(text: str) -> str: ...
@overload
def mask_optional(text: None) -> None: ...
def mask_optional(text: str | None) -> str | None:
    """:func:`mask` for optional fields: None stays None."""
    return None if text is None else mask(text)


def contains_card_number(text: str) -> bool:
    """Whether :func:`mask` would mask a card number in `text`."""
    return any(
        _card_spans(token.group("run"))
        for token in _TOKEN.finditer(text)
        if token.group("run") is not None
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def storable(text: str) -> str:
    """Text any store accepts: no NUL (PostgreSQL refuses it), no lone surrogates.

    Lone surrogates arrive from command-line bytes that are not UTF-8 (Python's
    surrogateescape); they cannot be encoded, so they become U+FFFD.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return text


class Masker:
    """Masks several fields of one command and reports once.

    >>> m = Masker()
    >>> m("card 4111 1111 1111 1111, CVV 123")
    'card •••• 1111, CVV •••'
    >>> m(None) is None
    True
    >>> m.warning
    'masked 1 card number and 1 security code before saving (only the last 4 digits are kept)'
    """

    __slots__ = ("cards", "codes")

    def __init__(self) -> None:
        self.cards = 0
        self.codes = 0

    @overload
    def __call__(self, text: str) -> str: ...
    @overload
    def __call__(self, text: None) -> None: ...
    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        result = redact(storable(text))
        self.cards += result.cards
        self.codes += result.codes
        return result.text

    @property
    def changed(self) -> bool:
        """True when any call masked anything."""
        return self.cards > 0 or self.codes > 0

    @property
    def warning(self) -> str | None:
        """One line for the user when anything was masked, else None."""
        if not self.changed:
            return None
        masked: list[str] = []
        if self.cards:
            masked.append(_plural(self.cards, "card number"))
        if self.codes:
            masked.append(_plural(self.codes, "security code"))
        message = f"masked {' and '.join(masked)} before saving"
        if self.cards:
            message += " (only the last 4 digits are kept)"
        return message
