"""Mask card numbers and security codes in free text before it is stored.

Every free-text field (titles, notes, summaries, promise texts, agent names,
reference numbers, merchants) goes through :func:`mask` on its way to the
database, so a full card number or a CVV/PIN never reaches it.

The normalised view
    Detection runs on a *view* of the text that keeps a map back to the original
    offsets; only the masked spans of the original are replaced, everything else is
    kept byte for byte. In the view each character is normalised on its own: a
    Unicode decimal digit (full-width, Arabic-Indic, ...) becomes its ASCII digit;
    other characters go through NFKC (``①`` becomes ``1``, ``ＣＶＶ`` ``CVV``);
    invisible format characters (category Cf: zero-width space/joiners U+200B-U+200D,
    word joiner U+2060, BOM U+FEFF, soft hyphen, bidi marks) are dropped; every
    Unicode space becomes a space, line separators a line break, dashes (and the minus
    sign) ``-``, opening/closing brackets ``(``/``)``, connector punctuation ``_``,
    and the usual Unicode dots, slashes and commas their ASCII form.

Card numbers
    A *group* is a maximal string of digits in the view. A *run* is a sequence of
    groups in which each two neighbours are joined by a *separator* of 1-3
    characters, each a space, tab, line break (CR and LF), dash, dot, slash,
    backslash, underscore, comma or bracket (never a letter, colon or ``+``):
    ``4111.1111/1111 - 1111``, ``(4111)(1111)(1111)(1111)``, ``4111\\r\\n1111 ...``.

    A *stretch* of a run is a sequence of whole consecutive groups (a group is never
    cut, so 16 digits of a 20-digit number are not a card). A stretch is a card when
    all of these hold:

    * its digits fit a brand: the issuer prefix and the length go together -
      Visa 4 (13, 16 or 19 digits); Mastercard 51-55 and 2221-2720 (16); American
      Express 34, 37 (15); Discover 6011, 644-649, 65, 622126-622925 (16-19); JCB
      3528-3589 (16-19); Diners Club 36, 300-305, 38-39 (14-19); UnionPay 62 (16-19);
      Maestro 50, 56-69 (12-19);
    * they pass the Luhn check;
    * it is printed the way cards are: one unbroken group (12-19 digits), or groups
      of four with an optional shorter last group - 4-4-4-1, 4-4-4-2, 4-4-4-3,
      4-4-4-4, 4-4-4-4-1, 4-4-4-4-2, 4-4-4-4-3 - or 4-6-5 (15) or 4-6-4 (14). Any
      other grouping is not a card: 3-7-7 (Amazon orders), 3-3-4 (phones), 4-2-2
      (dates), 1-3-3 (amounts), 4-4-4 ... A dropped format character between two
      digits counts as a boundary that may or may not be one, so
      ``4111<ZWSP>1111 1111 1111`` is still 4-4-4-4;
    * none of its groups belongs to something that is recognised as not a card:

      - an IBAN: two letters, two check digits and the rest, exactly as long as that
        country's IBAN, optionally printed in groups with single spaces or dashes,
        whose mod-97 check is valid (``DE89 3704 0044 0532 0130 00``);
      - a USPS tracking number: 22 digits starting 91-95, or 20 digits starting 70
        or 71 (certified mail), unbroken or in groups of four (a last group of two
        for 22), with a valid GS1 mod-10 check digit, that is a whole run (no other
        digit group joined to it);
      - a date: three groups ``Y-M-D`` or ``D-M-Y``/``M-D-Y`` with one separator from
        ``-./`` used twice, a year 1900-2099 and a valid month and day, not glued to
        a neighbouring group by that same separator;
    * it is not a phone number: a stretch that starts its run right after ``+`` is
      not a card when ``phonenumbers`` (imported only then) says ``+digits`` is a
      valid number (``+4915123456789``).

    Times (``14:30``) and amounts (``1 234 567.89``, ``1,234,567``) need no rule of
    their own: a colon ends a run, and groups of 1-3 digits fit no card layout. Nor
    do US phone numbers (3-3-4), with or without an extension.

    So a card next to other numbers is still found (``4111 1111 1111 1111 2026``,
    ``ref 12 4111-1111-1111-1111``), while a run whose grouping is not a card's
    (3-7-7, 4-4-4-4-4-2 USPS, 3-3-4) is not taken apart into one. Stretches that
    share a group are merged; each merged stretch becomes ``•••• 1234`` (its last four
    digits). ``•••• 1234`` holds only four digits and so is never a card by itself;
    typed before a real card (``•••• 4111 1111 1111 1111``) it does not hide the card.

Security codes
    A label - ``CVV``, ``CVV2``, ``CVC``, ``CVC2``, ``CID``, ``CSC``, ``PIN``, ``C.V.V.``,
    ``security code``, ``sec code``, ``card verification value/code/number``,
    ``code on the back``, ``(the) 3/4 digits on the back (of the card)``, each
    optionally followed by a parenthesised short label (``security code (CVV)``) - then
    fillers (``:=#-()``, whitespace and the words is, was, are, of, number, num, no,
    nr, code), then the value: 3-6 digits, contiguous or one digit at a time separated
    by single spaces or dots (``4 6 2``, ``8.2.7.1``), in any Unicode digits. The label
    and fillers are kept and the value becomes ``•••``: ``CVV: 123`` becomes
    ``CVV: •••``. A label may not touch a letter (``pinned`` and ``spin 123`` are left
    alone, ``CVV123`` is masked); matching ignores case.

Cards are masked before codes, so ``PIN 4111 1111 1111 1111`` is one card. Masking
repeats until nothing more is found, so ``mask(mask(t)) == mask(t)`` always holds.

Known limits (measured by bench/measure_masking.py, tested by
tests/test_redact_generated.py)
    The brand rule is all a number has to pass: a random 16-digit reference fits a
    brand and passes Luhn about 3.9 % of the time (one starting 0, 1, 7, 8 or 9 never
    does), a 12- or 15-digit one about 2 %; those are masked. A card alone in a run
    with just one group of four digits starting 70/71 before it (or 91-95, with a
    group of two after it) passes for a USPS tracking number when the whole has a
    valid check digit (1 in 10) and is left alone.

Standard library only and cheap to import: the CLI imports it for every command. A
text with fewer than 12 digits is never searched for cards, and one with fewer than
3 is returned as is.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal, overload

__all__ = [
    "CARD_MASK_PREFIX",
    "CODE_MASK",
    "MaskedItem",
    "Masker",
    "Redaction",
    "card_brand",
    "contains_card_number",
    "looks_like_card",
    "luhn_valid",
    "mask",
    "mask_optional",
    "mask_value",
    "numeric_card",
    "redact",
    "storable",
]

MIN_CARD_DIGITS = 12
MAX_CARD_DIGITS = 19
MIN_CODE_DIGITS = 3
CARD_MASK_PREFIX = "•••• "
"""A masked card is this prefix followed by the card's last four digits."""
CODE_MASK = "•••"
"""What a security code or PIN value becomes."""

# --------------------------------------------------------------------------- brands

# (name, ((first prefix, last prefix), ...), lengths). The first brand that fits names it.
_BRANDS: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ("American Express", (("34", "34"), ("37", "37")), frozenset({15})),
    ("Visa", (("4", "4"),), frozenset({13, 16, 19})),
    ("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    (
        "Discover",
        (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")),
        frozenset(range(16, 20)),
    ),
    ("JCB", (("3528", "3589"),), frozenset(range(16, 20))),
    ("Diners Club", (("36", "36"), ("300", "305"), ("38", "39")), frozenset(range(14, 20))),
    ("UnionPay", (("62", "62"),), frozenset(range(16, 20))),
    ("Maestro", (("50", "50"), ("56", "69")), frozenset(range(12, 20))),
)


def card_brand(digits: str) -> str | None:
    """The brand whose issuer prefix and length `digits` (ASCII digits) fit, else None.

    >>> card_brand("4111111111111111"), card_brand("411111111111111"), card_brand("1" * 16)
    ('Visa', None, None)
    """
    length = len(digits)
    for name, ranges, lengths in _BRANDS:
        if length not in lengths:
            continue
        for low, high in ranges:
            head = digits[: len(low)]
            if low <= head <= high:
                return name
    return None


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


# Group lengths of the printed layouts, by digit count (one unbroken group is always fine).
_LAYOUTS: dict[int, tuple[tuple[int, ...], ...]] = {
    13: ((4, 4, 4, 1),),
    14: ((4, 6, 4), (4, 4, 4, 2)),
    15: ((4, 6, 5), (4, 4, 4, 3)),
    16: ((4, 4, 4, 4),),
    17: ((4, 4, 4, 4, 1),),
    18: ((4, 4, 4, 4, 2),),
    19: ((4, 4, 4, 4, 3),),
}
_LAYOUT_SET = frozenset(layout for layouts in _LAYOUTS.values() for layout in layouts)


def _boundaries(lengths: tuple[int, ...]) -> frozenset[int]:
    """Digit offsets between the groups of a layout: (4, 4, 4, 4) -> {4, 8, 12}."""
    offsets: list[int] = []
    total = 0
    for length in lengths[:-1]:
        total += length
        offsets.append(total)
    return frozenset(offsets)


_LAYOUT_BOUNDARIES: dict[int, tuple[frozenset[int], ...]] = {
    count: tuple(_boundaries(layout) for layout in layouts) for count, layouts in _LAYOUTS.items()
}

# --------------------------------------------------------------------------- the view

_LINE_BREAKS = frozenset("\u0085\u2028\u2029")
_DOTS = frozenset("\u00b7\u2027\u2024\u2219\u3002\u06d4\uff61")
_SLASHES = frozenset("\u2044\u2215\u29f8\u29f9")
_COMMAS = frozenset("\u060c\u066b\u066c\u3001\ufe50\ufe51\u055d\u07f8")
_DASH_LIKE = frozenset("\u2212\u2043\ufe63")


@functools.lru_cache(maxsize=4096)
def _normal(char: str) -> str:
    """What one non-ASCII character becomes in the view ("" when it is dropped)."""
    category = unicodedata.category(char)
    if category == "Cf":
        return ""
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return "0123456789"[digit]
    if char in _LINE_BREAKS:
        return "\n"
    if category == "Zs":
        return " "
    if category == "Pd" or char in _DASH_LIKE:
        return "-"
    if category == "Ps":
        return "("
    if category == "Pe":
        return ")"
    if category == "Pc":
        return "_"
    if char in _DOTS:
        return "."
    if char in _SLASHES:
        return "/"
    if char in _COMMAS:
        return ","
    folded = unicodedata.normalize("NFKC", char)
    if folded == char:
        return char
    return "".join(c if c.isascii() else _normal(c) for c in folded)


_ASCII_OR_ONE = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]")


class _View:
    """The normalised text and the way back to the original's offsets."""

    __slots__ = ("ends", "soft", "starts", "text")

    def __init__(self, original: str) -> None:
        self.soft: frozenset[int] = frozenset()
        """View offsets right before which a dropped format character stood."""
        self.starts: list[int] | None = None
        self.ends: list[int] | None = None
        self.text = original
        if original.isascii():
            return
        changed = {c: n for c in set(original) if not c.isascii() and (n := _normal(c)) != c}
        if not changed:
            return
        if all(len(n) == 1 for n in changed.values()):
            # Same length: the offsets stay the same.
            self.text = original.translate({ord(c): n for c, n in changed.items()})
            return
        parts: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        soft: set[int] = set()
        for match in _ASCII_OR_ONE.finditer(original):
            start, end = match.span()
            chunk = match.group()
            if chunk.isascii():
                parts.append(chunk)
                starts.extend(range(start, end))
                ends.extend(range(start + 1, end + 1))
                continue
            normal = _normal(chunk)
            if not normal:
                soft.add(len(starts))
                continue
            parts.append(normal)
            starts.extend([start] * len(normal))
            ends.extend([end] * len(normal))
        self.text = "".join(parts)
        self.starts = starts
        self.ends = ends
        self.soft = frozenset(soft)

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the view's span [start, end) (end > start)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def _digit_count(text: str) -> int:
    """How many digits (of any script, after NFKC) `text` holds; cheap."""
    if text.isascii():
        return sum(map(text.count, "0123456789"))
    return len(_ANY_DIGIT.findall(unicodedata.normalize("NFKC", text)))


_ANY_DIGIT = re.compile(r"\d")

# --------------------------------------------------------------------------- not cards

_SEPARATOR = r"[ \t\n\r\v\f\-./\\_,()\[\]{}]"
_RUN = re.compile(rf"[0-9]+(?:{_SEPARATOR}{{1,3}}[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")

# IBAN lengths by country (the SWIFT registry).
_IBAN_LENGTHS: dict[str, int] = {
    item[:2]: int(item[2:])
    for item in re.findall(
        r"[A-Z]{2}[0-9]{2}",
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 "
        "DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 "
        "GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 "
        "LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 "
        "PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 "
        "SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30",
    )
}
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2}) ?([0-9]{2})")


def _iban_valid(iban: str) -> bool:
    """Mod-97 check of an IBAN without separators (ASCII letters and digits)."""
    rearranged = (iban[4:] + iban[:4]).upper()
    number = "".join(c if c.isdigit() else str(ord(c) - 55) for c in rearranged)
    return int(number) % 97 == 1


def _iban_spans(text: str) -> list[tuple[int, int]]:
    """View spans of valid IBANs, printed unbroken or with single spaces/dashes."""
    spans: list[tuple[int, int]] = []
    for match in _IBAN_START.finditer(text):
        if spans and match.start() < spans[-1][1]:
            continue
        country = match.group(1).upper()
        length = _IBAN_LENGTHS.get(country)
        if length is None:
            continue
        chars = [country, match.group(2)]
        need = length - 4
        position = match.end()
        while need and position < len(text):
            char = text[position]
            if char.isascii() and char.isalnum():
                chars.append(char)
                need -= 1
                position += 1
            elif char in " -" and position + 1 < len(text) and text[position + 1].isalnum():
                position += 1
            else:
                break
        if need:
            continue
        if position < len(text) and text[position].isalnum():
            continue  # longer than this country's IBAN
        if _iban_valid("".join(chars)):
            spans.append((match.start(), position))
    return spans


def _gs1_valid(digits: str) -> bool:
    """The GS1 mod-10 check digit (USPS tracking numbers): weights 3, 1, ... from the right."""
    total = 0
    for position, char in enumerate(reversed(digits[:-1])):
        total += (ord(char) - 48) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10 == ord(digits[-1]) - 48


def _usps(digits: str, lengths: tuple[int, ...]) -> bool:
    """Whether whole groups with these digits and group lengths are a USPS tracking number."""
    count = len(digits)
    if count == 22:
        if not ("91" <= digits[:2] <= "95"):
            return False
        if len(lengths) > 1 and lengths != (4, 4, 4, 4, 4, 2):
            return False
    elif count == 20:
        if digits[:2] not in ("70", "71"):
            return False
        if len(lengths) > 1 and lengths != (4, 4, 4, 4, 4):
            return False
    else:
        return False
    return _gs1_valid(digits)


def _date(year: str, month: str, day: str) -> bool:
    if not ("1900" <= year <= "2099"):
        return False
    m, d = int(month), int(day)
    return 1 <= m <= 12 and 1 <= d <= (29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31)


def _date_groups(groups: list[str], seps: list[str]) -> set[int]:
    """Indexes of the groups that form dates (see the module docstring)."""
    found: set[int] = set()
    for k in range(len(groups) - 2):
        sep = seps[k]
        if sep != seps[k + 1] or sep not in ("-", "/", "."):
            continue
        if (k > 0 and seps[k - 1] == sep) or (k + 2 < len(seps) and seps[k + 2] == sep):
            continue
        a, b, c = groups[k : k + 3]
        shape = (len(a), len(b), len(c))
        if (shape == (4, 2, 2) and _date(a, b, c)) or (
            len(c) == 4 and len(a) <= 2 and len(b) <= 2 and (_date(c, b, a) or _date(c, a, b))
        ):
            found.update((k, k + 1, k + 2))
    return found


def _is_phone(number: str) -> bool:
    """Whether phonenumbers calls `number` ("+..." digits) a valid phone number."""
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - a dependency of the project
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


# --------------------------------------------------------------------------- cards


@dataclass(frozen=True)
class _Card:
    start: int
    """View offset of the first digit."""
    end: int
    """View offset after the last digit."""
    digits: str
    brand: str


def _layout_ok(lengths: tuple[int, ...], soft: frozenset[int]) -> bool:
    """Whether groups of these lengths (with these optional boundaries) are a card layout."""
    if len(lengths) == 1:
        return True
    if not soft:
        return lengths in _LAYOUT_SET
    hard = _boundaries(lengths)
    return any(hard <= layout <= hard | soft for layout in _LAYOUT_BOUNDARIES.get(sum(lengths), ()))


def _run_cards(view: _View, run: re.Match[str], ibans: list[tuple[int, int]]) -> list[_Card]:
    """The (merged) cards in one run."""
    spans = [(m.start(), m.end()) for m in _GROUP.finditer(view.text, run.start(), run.end())]
    groups = [view.text[a:b] for a, b in spans]
    lengths = [b - a for a, b in spans]
    seps = [view.text[spans[k][1] : spans[k + 1][0]] for k in range(len(spans) - 1)]
    excluded = _date_groups(groups, seps) if len(groups) >= 3 else set()
    if ibans:
        # IBAN spans never overlap: their starts and their ends are both in order.
        low = bisect.bisect_right(ibans, run.start(), key=lambda span: span[1])
        high = bisect.bisect_left(ibans, run.end(), key=lambda span: span[0])
        for a, b in ibans[low:high]:
            excluded.update(k for k, (s, e) in enumerate(spans) if s < b and e > a)
    # A run that is, as a whole, a USPS tracking number.
    if sum(lengths) in (20, 22) and _usps("".join(groups), tuple(lengths)):
        excluded.update(range(len(groups)))
    after_plus = run.start() > 0 and view.text[run.start() - 1] == "+"
    # Offsets inside each group where a dropped format character stood.
    inner_soft: list[tuple[int, ...]] = [()] * len(spans)
    if view.soft:
        positions = sorted(view.soft)
        for k, (a, b) in enumerate(spans):
            low, high = bisect.bisect_right(positions, a), bisect.bisect_left(positions, b)
            inner_soft[k] = tuple(p - a for p in positions[low:high])
    found: list[_Card] = []
    for first in range(len(groups)):
        if first in excluded:
            continue
        total = 0
        for last in range(first, len(groups)):
            if last in excluded:
                break
            total += lengths[last]
            if total > MAX_CARD_DIGITS:
                break
            if total < MIN_CARD_DIGITS:
                continue
            soft: frozenset[int] = frozenset()
            if view.soft:
                inside: list[int] = []
                offset = 0
                for k in range(first, last + 1):
                    inside.extend(offset + p for p in inner_soft[k])
                    offset += lengths[k]
                soft = frozenset(inside)
            if not _layout_ok(tuple(lengths[first : last + 1]), soft):
                continue
            digits = "".join(groups[first : last + 1])
            brand = card_brand(digits)
            if brand is None or not luhn_valid(digits):
                continue
            if first == 0 and after_plus and _is_phone("+" + digits):
                continue
            card = _Card(spans[first][0], spans[last][1], digits, brand)
            if found and card.start < found[-1].end:
                # Shares a group with the previous card (starts only increase): one mask.
                previous = found[-1]
                if card.end > previous.end:
                    merged = view.text[previous.start : card.end]
                    found[-1] = _Card(
                        previous.start, card.end, _GROUP_SEPARATORS.sub("", merged), card.brand
                    )
            else:
                found.append(card)
    return found


_GROUP_SEPARATORS = re.compile(r"[^0-9]+")


def _cards(view: _View) -> list[_Card]:
    """Every card in the view, in order."""
    found: list[_Card] = []
    ibans: list[tuple[int, int]] | None = None
    for run in _RUN.finditer(view.text):
        if run.end() - run.start() < MIN_CARD_DIGITS:
            continue
        if len(_GROUP_SEPARATORS.sub("", run.group())) < MIN_CARD_DIGITS:
            continue
        if ibans is None:
            ibans = _iban_spans(view.text)
        found.extend(_run_cards(view, run, ibans))
    return found


# --------------------------------------------------------------------------- codes

_CODE = re.compile(
    # The label, not glued to letters on either side. A digit may touch it (a code
    # written right after another value), so masking digits never uncovers a label.
    # The lookahead names every label's first character: it makes the scan 4x faster.
    r"(?=[cpst34f])(?<![^\W\d_])"
    r"(?:cvv2|cvc2|cvv|cvc|cid|csc|pin"
    r"|c\.[ ]?v\.[ ]?[vc]\.?"
    r"|sec(?:urity|\.)?[ \t]+code"
    r"|card[ \t]+verification[ \t]+(?:value|code|number)"
    r"|code[ \t]+on[ \t]+the[ \t]+back"
    r"|(?:the[ \t]+)?(?:3|4|three|four)[ \t-]+digits?(?:[ \t]+code)?[ \t]+on[ \t]+the[ \t]+back"
    r"(?:[ \t]+of[ \t]+(?:the|my|your)[ \t]+card)?"
    r")"
    r"(?![^\W\d_])"
    r"(?:[ \t]*\((?:cvv2?|cvc2?|cid|csc|pin)\))?"
    # What may stand between the label and the value.
    r"(?:[\s:=#()-]|\b(?:is|was|are|of|number|num|no|nr|code)\b\.?)*"
    # The value: 3-6 digits, contiguous or one at a time with single spaces or dots.
    r"(?P<value>[0-9](?:[ .][0-9]){2,5}(?![0-9]|[ .][0-9])|[0-9]{3,6}(?![0-9]))",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MaskedItem:
    """One thing :func:`redact` masked."""

    kind: Literal["card", "code"]
    last4: str | None = None
    """A card's last four digits (None for a code)."""
    brand: str | None = None
    """A card's brand ("Visa", "Mastercard", ...; None for a code)."""

    def describe(self) -> str:
        """Like "a card number ending 1111" or "a security code"."""
        if self.kind == "card":
            return f"a card number ending {self.last4}"
        return "a security code"


@dataclass(frozen=True)
class Redaction:
    """The result of :func:`redact`."""

    text: str
    """The masked text."""
    cards: int
    """How many card numbers were masked."""
    codes: int
    """How many security codes / PINs were masked."""
    items: tuple[MaskedItem, ...] = field(default=(), compare=False)
    """What was masked, cards first, each in the order of the text (not compared)."""

    @property
    def changed(self) -> bool:
        """True when anything was masked."""
        return self.cards > 0 or self.codes > 0


def _replace(text: str, view: _View, spans: list[tuple[int, int, str]]) -> str:
    """`text` with the original spans of view spans [a, b) replaced, in order."""
    parts: list[str] = []
    position = 0
    for start, end, replacement in spans:
        first, last = view.original(start, end)
        parts.append(text[position:first])
        parts.append(replacement)
        position = last
    parts.append(text[position:])
    return "".join(parts)


def _pass(text: str) -> tuple[str, list[MaskedItem]]:
    """One round of masking: cards, then codes."""
    count = _digit_count(text)
    if count < MIN_CODE_DIGITS:
        return text, []
    items: list[MaskedItem] = []
    view = _View(text)
    if count >= MIN_CARD_DIGITS:
        cards = _cards(view)
        if cards:
            text = _replace(
                text, view, [(c.start, c.end, CARD_MASK_PREFIX + c.digits[-4:]) for c in cards]
            )
            items.extend(MaskedItem("card", c.digits[-4:], c.brand) for c in cards)
            view = _View(text)
    codes = [m.span("value") for m in _CODE.finditer(view.text)]
    if codes:
        text = _replace(text, view, [(a, b, CODE_MASK) for a, b in codes])
        items.extend(MaskedItem("code") for _ in codes)
    return text, items


def redact(text: str) -> Redaction:
    """Mask card numbers, then security codes and PINs, in `text`, until nothing is left."""
    items: list[MaskedItem] = []
    while True:
        text, found = _pass(text)
        if not found:
            break
        items.extend(found)
    cards = sum(1 for item in items if item.kind == "card")
    ordered = tuple(sorted(items, key=lambda item: item.kind != "card"))
    return Redaction(text=text, cards=cards, codes=len(items) - cards, items=ordered)


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


def _find_cards(text: str) -> list[_Card]:
    if _digit_count(text) < MIN_CARD_DIGITS:
        return []
    return _cards(_View(text))


def contains_card_number(text: str) -> bool:
    """Whether :func:`mask` would mask a card number in `text`."""
    return bool(_find_cards(text))


def looks_like_card(text: str) -> str | None:
    """Why a value given as a reference number would be masked as a card, else None.

    >>> looks_like_card("4111 1111 1111 1111")
    'it passes the card-number check (Visa, ending 1111)'
    >>> looks_like_card("DSP-2026-99812") is None
    True
    """
    cards = _find_cards(text)
    if not cards:
        return None
    card = cards[0]
    whole = len(cards) == 1 and len(card.digits) == _digit_count(text)
    subject = "it passes" if whole else "part of it passes"
    return f"{subject} the card-number check ({card.brand}, ending {card.digits[-4:]})"


def numeric_card(value: object) -> bool:
    """Whether a JSON number (int or float) is written with the digits of a card number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    written = repr(value)
    if not written.lstrip("-").replace(".", "", 1).isdigit():
        return False  # inf, nan, 1e+16: no card's digits
    return contains_card_number(written.lstrip("-").split(".")[0])


def mask_value(value: Any, masker: Masker | None = None, *, field: str | None = None) -> Any:
    """A JSON value with every string masked, dictionary keys too; lists become lists.

    Numbers are returned unchanged: use :func:`numeric_card` to find (and refuse) one
    that is written with a card's digits. With a `masker`, what was masked is reported
    to it (under `field`).
    """
    if isinstance(value, str):
        return masker(value, field) if masker is not None else mask(value)
    if isinstance(value, dict):
        return {
            mask_value(key, masker, field=field): mask_value(item, masker, field=field)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_value(item, masker, field=field) for item in value]
    return value


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


def _and(phrases: list[str]) -> str:
    if len(phrases) <= 2:
        return " and ".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


_ENDINGS_SHOWN = 4


def _describe(items: list[MaskedItem]) -> str:
    """The items of one field, like "a card number ending 1111 and 2 security codes"."""
    cards = [item for item in items if item.kind == "card"]
    codes = len(items) - len(cards)
    parts: list[str] = []
    if len(cards) == 1:
        parts.append(cards[0].describe())
    elif cards:
        endings = [item.last4 or "" for item in cards[:_ENDINGS_SHOWN]]
        more = ", …" if len(cards) > _ENDINGS_SHOWN else ""
        parts.append(f"{len(cards)} card numbers ending {', '.join(endings)}{more}")
    if codes == 1:
        parts.append("a security code")
    elif codes:
        parts.append(f"{codes} security codes")
    return " and ".join(parts)


class Masker:
    """Masks several fields of one command and reports once.

    >>> m = Masker()
    >>> m("card 4111 1111 1111 1111, CVV 123")
    'card •••• 1111, CVV •••'
    >>> m(None) is None
    True
    >>> m.warning
    'masked 1 card number and 1 security code before saving (only the last 4 digits are kept)'
    >>> m = Masker()
    >>> m("card 4111 1111 1111 1111", "the summary")
    'card •••• 1111'
    >>> m.warning
    'masked a card number ending 1111 in the summary (only the last 4 digits are kept)'
    """

    __slots__ = ("_masked", "cards", "codes")

    def __init__(self) -> None:
        self.cards = 0
        self.codes = 0
        self._masked: list[tuple[str | None, MaskedItem]] = []

    @overload
    def __call__(self, text: str, field: str | None = None) -> str: ...
    @overload
    def __call__(self, text: None, field: str | None = None) -> None: ...
    def __call__(self, text: str | None, field: str | None = None) -> str | None:
        """`text` masked; `field` ("the summary", "the note") names it in the warning."""
        if text is None:
            return None
        result = redact(storable(text))
        self.cards += result.cards
        self.codes += result.codes
        self._masked.extend((field, item) for item in result.items)
        return result.text

    @property
    def items(self) -> tuple[tuple[str | None, MaskedItem], ...]:
        """(field, item) for everything masked so far, in order."""
        return tuple(self._masked)

    @property
    def changed(self) -> bool:
        """True when any call masked anything."""
        return self.cards > 0 or self.codes > 0

    @property
    def warning(self) -> str | None:
        """One line for the user when anything was masked, else None."""
        if not self.changed:
            return None
        if all(name is None for name, _ in self._masked):
            counts: list[str] = []
            if self.cards:
                counts.append(_plural(self.cards, "card number"))
            if self.codes:
                counts.append(_plural(self.codes, "security code"))
            message = f"masked {' and '.join(counts)} before saving"
        else:
            by_field: dict[str | None, list[MaskedItem]] = {}
            for name, item in self._masked:
                by_field.setdefault(name, []).append(item)
            message = "masked " + _and(
                [
                    _describe(items) + (f" in {name}" if name else "")
                    for name, items in by_field.items()
                ]
            )
        if self.cards:
            message += " (only the last 4 digits are kept)"
        return message
