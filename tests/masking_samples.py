"""Random, realistic texts with and without card numbers, for measuring a masker.

Used by tests/test_redact_generated.py and bench/measure_masking.py. Nothing here
imports tracker: the brand table and the checks are written out again, so the tests
do not grade the module with its own rules.

* :data:`CARD_SHAPES` - ways a card number is written; each sample holds fresh random
  Luhn-valid numbers of every brand and length the shape can print. A masker *leaks*
  a sample when, after masking, the digits of the text (NFKC, every Unicode decimal
  digit as ASCII, everything else dropped) still hold the card's digits without its
  last four.
* :data:`NON_CARD_SHAPES` - numbers that are not cards (IBANs, order and tracking
  numbers, dates, amounts, phone numbers); a masker *destroys* a sample when it changes
  the text at all.
* :data:`CODE_PHRASINGS` - ways a security code is written; the value must become
  ``•••`` and nothing else may change.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# --------------------------------------------------------------------------- cards

# (brand, ((first prefix, last prefix), ...), lengths), as in the issue.
BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]], ...] = (
    ("Visa", ((4, 4),), (13, 16, 19)),
    ("Mastercard", ((51, 55), (2221, 2720)), (16,)),
    ("American Express", ((34, 34), (37, 37)), (15,)),
    ("Discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), (16, 17, 18, 19)),
    ("JCB", ((3528, 3589),), (16, 17, 18, 19)),
    ("Diners Club", ((36, 36), (300, 305), (38, 39)), (14, 15, 16, 17, 18, 19)),
    ("UnionPay", ((62, 62),), (16, 17, 18, 19)),
    ("Maestro", ((50, 50), (56, 69)), (12, 13, 14, 15, 16, 17, 18, 19)),
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def fits_a_brand(digits: str) -> bool:
    """Whether `digits` fit a brand's prefix and length (the issue's table)."""
    for _, ranges, lengths in BRANDS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return True
    return False


def card_rule(digits: str) -> bool:
    """Brand and Luhn: what an unbroken (or 4-4-4-4) number must pass to be a card."""
    return fits_a_brand(digits) and luhn_ok(digits)


def _luhn_complete(payload: str) -> str:
    for check in "0123456789":
        if luhn_ok(payload + check):
            return payload + check
    raise AssertionError("unreachable")


def random_card(rng: random.Random, length: int) -> str:
    """A Luhn-valid number of a random brand that issues `length`-digit cards."""
    brands = [b for b in BRANDS if length in b[2]]
    _, ranges, _ = rng.choice(brands)
    low, high = rng.choice(ranges)
    prefix = str(rng.randint(low, high))
    body = "".join(rng.choice("0123456789") for _ in range(length - 1 - len(prefix)))
    return _luhn_complete(prefix + body)


def layout(rng: random.Random, length: int) -> list[int]:
    """How a card of `length` digits is printed: groups of four, 4-6-5 or 4-6-4."""
    if length == 15 and rng.random() < 0.5:
        return [4, 6, 5]
    if length == 14 and rng.random() < 0.5:
        return [4, 6, 4]
    groups = [4] * (length // 4)
    if length % 4:
        groups.append(length % 4)
    return groups


def split(digits: str, groups: list[int]) -> list[str]:
    parts: list[str] = []
    position = 0
    for size in groups:
        parts.append(digits[position : position + size])
        position += size
    return parts


def _script(digits: str, zero: str) -> str:
    return "".join(chr(ord(zero) + int(d)) if d.isdigit() else d for d in digits)


def project(text: str) -> str:
    """The digits of `text` as ASCII: NFKC, Unicode decimal digits mapped, the rest dropped."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        value = unicodedata.decimal(char, None)
        if value is not None:
            out.append(str(value))
    return "".join(out)


def leaked(masked: str, digits: str) -> bool:
    """Whether `digits` (a card) survived masking: all but its last four are still there."""
    return digits[:-4] in project(masked)


Render = Callable[[random.Random, str], str]


def _joined(separators: str | tuple[str, ...]) -> Render:
    def render(rng: random.Random, digits: str) -> str:
        parts = split(digits, layout(rng, len(digits)))
        choices = (separators,) if isinstance(separators, str) else separators
        text = parts[0]
        for part in parts[1:]:
            text += rng.choice(choices) + part
        return text

    return render


def _unbroken(rng: random.Random, digits: str) -> str:
    return digits


def _zwsp_inside(rng: random.Random, digits: str) -> str:
    at = rng.randint(1, len(digits) - 1)
    return digits[:at] + "\u200b" + digits[at:]


def _zwsp_for_one_space(rng: random.Random, digits: str) -> str:
    parts = split(digits, layout(rng, len(digits)))
    which = rng.randrange(len(parts) - 1)
    return (
        "".join(p + ("\u200b" if k == which else " ") for k, p in enumerate(parts[:-1]))
        + (parts[-1])
    )


def _one_line_break(rng: random.Random, digits: str) -> str:
    parts = split(digits, layout(rng, len(digits)))
    which = rng.randrange(len(parts) - 1)
    brk = rng.choice(["\n", "\r\n"])
    return "".join(p + (brk if k == which else " ") for k, p in enumerate(parts[:-1])) + (parts[-1])


def _full_width(rng: random.Random, digits: str) -> str:
    return _script(digits, "０")


def _full_width_spaced(rng: random.Random, digits: str) -> str:
    return _script(_joined((" ", "\u3000"))(rng, digits), "０")


def _arabic_indic(rng: random.Random, digits: str) -> str:
    return _script(digits, "\u0660")


def _arabic_indic_spaced(rng: random.Random, digits: str) -> str:
    return _script(_joined(" ")(rng, digits), "\u0660")


def _persian(rng: random.Random, digits: str) -> str:
    return _script(_joined(" ")(rng, digits) if rng.random() < 0.5 else digits, "\u06f0")


def _math_bold(rng: random.Random, digits: str) -> str:
    return _script(_joined(" ")(rng, digits), "\U0001d7ce")


def _bullets_before(rng: random.Random, digits: str) -> str:
    return "•••• " + _joined(" ")(rng, digits)


def _brackets(rng: random.Random, digits: str) -> str:
    return "".join(f"({p})" for p in split(digits, layout(rng, len(digits))))


def _with_year(rng: random.Random, digits: str) -> str:
    return _joined(" ")(rng, digits) + f" {rng.randint(2024, 2032)}"


def _with_expiry_and_cvv(rng: random.Random, digits: str) -> str:
    return (
        _joined(" ")(rng, digits)
        + f" {rng.randint(1, 12):02d}/{rng.randint(25, 32)} "
        + (f"{rng.randint(100, 999)}")
    )


def _after_a_number(rng: random.Random, digits: str) -> str:
    lead = rng.choice(["1. ", "ref 12 ", f"{rng.randint(1, 99)} ", "#2 - "])
    return lead + _joined((" ", "-"))(rng, digits)


def _next_to_numbers(rng: random.Random, digits: str) -> str:
    before = " ".join(str(rng.randint(0, 9999)) for _ in range(rng.randint(0, 2)))
    after = " ".join(str(rng.randint(0, 99999)) for _ in range(rng.randint(1, 2)))
    return f"{before} {_joined(' ')(rng, digits)} {after}".strip()


def _two_cards(rng: random.Random, digits: str) -> str:
    other = random_card(rng, rng.choice([15, 16]))
    first, second = _joined(" ")(rng, digits), _joined(" ")(rng, other)
    return f"{first} {second}" if rng.random() < 0.5 else f"{second} {first}"


@dataclass(frozen=True)
class CardShape:
    name: str
    render: Render
    lengths: tuple[int, ...] = tuple(range(13, 20))
    """Card lengths the shape can print (12 only unbroken: no 12-digit layout)."""


ALL_LENGTHS = tuple(range(12, 20))

CARD_SHAPES: tuple[CardShape, ...] = (
    CardShape("unbroken", _unbroken, ALL_LENGTHS),
    CardShape("single spaces", _joined(" ")),
    CardShape("dashes", _joined("-")),
    CardShape("dots", _joined(".")),
    CardShape("slashes", _joined("/")),
    CardShape("mixed separators", _joined((" ", "-", ".", "/"))),
    CardShape("two spaces", _joined("  ")),
    CardShape("tabs", _joined("\t")),
    CardShape('" - "', _joined(" - ")),
    CardShape("underscores", _joined("_")),
    CardShape("commas", _joined(",")),
    CardShape("no-break spaces U+00A0", _joined("\u00a0")),
    CardShape("narrow no-break spaces U+202F", _joined("\u202f")),
    CardShape("en dashes", _joined("\u2013")),
    CardShape("em dashes", _joined("\u2014")),
    CardShape("non-breaking hyphens U+2011", _joined("\u2011")),
    CardShape("zero-width spaces between groups", _joined("\u200b")),
    CardShape("zero-width space inside", _zwsp_inside, ALL_LENGTHS),
    CardShape("zero-width space for one space", _zwsp_for_one_space),
    CardShape("line breaks", _joined("\n")),
    CardShape("CRLF", _joined("\r\n")),
    CardShape("one line break among spaces", _one_line_break),
    CardShape("full-width digits", _full_width, ALL_LENGTHS),
    CardShape("full-width digits, spaced", _full_width_spaced),
    CardShape("Arabic-Indic digits", _arabic_indic, ALL_LENGTHS),
    CardShape("Arabic-Indic digits, spaced", _arabic_indic_spaced),
    CardShape("Persian digits", _persian),
    CardShape("mathematical bold digits", _math_bold),
    CardShape("bullets typed before", _bullets_before),
    CardShape("(4111)(1111)(1111)(1111)", _brackets),
    CardShape("followed by a year", _with_year),
    CardShape("followed by expiry and CVV", _with_expiry_and_cvv),
    CardShape("after a number", _after_a_number),
    CardShape("between other numbers", _next_to_numbers),
    CardShape("two cards side by side", _two_cards),
)

SENTENCES = (
    "{}",
    "Disputed charge on card {} at ACME.",
    "card: {}\nthanks",
    "Paid with {} yesterday, they said.",
    "(card {})",
    "My card is {}, exp 12/27.",
    "Refund to {} promised by Friday",
    "Agent read back «{}» to confirm",
    'card "{}"',
)


def card_samples(shape: CardShape, count: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """(text, card digits): `count` texts writing a fresh card in `shape`, every length."""
    rng = random.Random(f"{seed}:card:{shape.name}")
    for k in range(count):
        length = shape.lengths[k % len(shape.lengths)]
        digits = random_card(rng, length)
        yield rng.choice(SENTENCES).format(shape.render(rng, digits)), digits


# --------------------------------------------------------------------------- not cards


def _digits(rng: random.Random, count: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(count - 1))


def _fours(digits: str, sep: str = " ") -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


# IBAN: (country, BBAN layout: n digits, a letters, c alphanumerics).
_IBAN_FORMATS = {
    "DE": "18n",
    "FR": "10n11c2n",
    "GB": "4a14n",
    "ES": "20n",
    "IT": "1a10n12c",
    "NL": "4a10n",
    "BE": "12n",
    "AT": "16n",
    "CH": "5n12n",
    "PL": "24n",
    "PT": "21n",
    "IE": "4a14n",
}


def _bban(rng: random.Random, spec: str) -> str:
    out: list[str] = []
    number = ""
    for char in spec:
        if char.isdigit():
            number += char
            continue
        alphabet = {
            "n": "0123456789",
            "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        }[char]
        out.extend(rng.choice(alphabet) for _ in range(int(number)))
        number = ""
    return "".join(out)


def iban(rng: random.Random) -> str:
    """A random IBAN with a valid mod-97 check, unbroken."""
    country = rng.choice(sorted(_IBAN_FORMATS))
    bban = _bban(rng, _IBAN_FORMATS[country])
    rearranged = bban + country + "00"
    number = int("".join(c if c.isdigit() else str(ord(c) - 55) for c in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


def _iban_printed(rng: random.Random) -> tuple[str, str]:
    value = iban(rng)
    text = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return rng.choice(["IBAN {}", "{}", "Refund sent to IBAN: {}.", "account {} (BIC X)"]).format(
        text
    ), ""


def _iban_unbroken(rng: random.Random) -> tuple[str, str]:
    return f"IBAN {iban(rng)}", ""


def _amazon(rng: random.Random) -> tuple[str, str]:
    number = f"{rng.randint(100, 999)}-{_digits(rng, 7)}-{_digits(rng, 7)}"
    return rng.choice(["Order #{}", "order {} shipped", "{}"]).format(number), ""


def _ref16_fours(rng: random.Random) -> tuple[str, str]:
    digits = _digits(rng, 16)
    return rng.choice(["DSP {}", "dispute ref {}", "ref: {}"]).format(_fours(digits)), digits


def _ref16_unbroken(rng: random.Random) -> tuple[str, str]:
    digits = _digits(rng, 16)
    return rng.choice(["DSP {}", "dispute ref {}", "ref: {}"]).format(digits), digits


def _ref16_no_brand_digit(rng: random.Random) -> tuple[str, str]:
    digits = _digits(rng, 16, "01789")
    text = _fours(digits, rng.choice([" ", "-"])) if rng.random() < 0.5 else digits
    return f"ref {text}", digits


def _order_dashes(rng: random.Random) -> tuple[str, str]:
    digits = _digits(rng, 16)
    return rng.choice(["Order {}", "order no. {}", "{}"]).format(_fours(digits, "-")), digits


def _gs1(payload: str) -> str:
    total = sum(int(c) * (3 if k % 2 == 0 else 1) for k, c in enumerate(reversed(payload)))
    return payload + str((10 - total % 10) % 10)


def _usps22(rng: random.Random) -> tuple[str, str]:
    prefix = rng.choice(["9400", "9405", "9407", "9205", "9208", "9202", "9261", "9361", "9303"])
    digits = _gs1(prefix + _digits(rng, 17))
    text = _fours(digits) if rng.random() < 0.7 else digits
    return rng.choice(["USPS tracking {}", "tracking: {}", "{}"]).format(text), ""


def _certified(rng: random.Random) -> tuple[str, str]:
    prefix = f"70{rng.randint(5, 23):02d}"
    digits = _gs1(prefix + _digits(rng, 15))
    text = _fours(digits) if rng.random() < 0.7 else digits
    return rng.choice(["certified mail {}", "Certified: {}", "{}"]).format(text), ""


def _fedex12_check(payload: str) -> str:
    weights = (1, 3, 7)
    total = sum(int(c) * weights[k % 3] for k, c in enumerate(reversed(payload)))
    return payload + str(total % 11 % 10)


def _fedex12(rng: random.Random) -> tuple[str, str]:
    digits = _fedex12_check(_digits(rng, 11))
    return f"FedEx {digits}", digits


def _fedex12_fours(rng: random.Random) -> tuple[str, str]:
    digits = _fedex12_check(_digits(rng, 11))
    return f"FedEx tracking {_fours(digits)}", ""


def _fedex15(rng: random.Random) -> tuple[str, str]:
    digits = _gs1(_digits(rng, 14))
    return rng.choice(["FedEx Ground {}", "tracking {}", "{}"]).format(digits), digits


def _iso_date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(2000, 2035), rng.randint(1, 12), rng.randint(1, 28)


def _date_text(rng: random.Random, date: tuple[int, int, int], style: int) -> str:
    y, m, d = date
    return (
        f"{y}-{m:02d}-{d:02d}",
        f"{d:02d}/{m:02d}/{y}",
        f"{m:02d}/{d:02d}/{y}",
        f"{d:02d}.{m:02d}.{y}",
    )[style]


def _two_dates(rng: random.Random) -> tuple[str, str]:
    style = rng.randrange(4)
    a, b = _date_text(rng, _iso_date(rng), style), _date_text(rng, _iso_date(rng), style)
    return rng.choice(["{} {}", "from {} {}", "{}, {}", "{} - {}"]).format(a, b), ""


def _date_and_time(rng: random.Random) -> tuple[str, str]:
    date = _date_text(rng, _iso_date(rng), rng.randrange(4))
    time = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if rng.random() < 0.5:
        time += f":{rng.randint(0, 59):02d}"
    return rng.choice(["{} {}", "called {} at {}", "{}, {}"]).format(date, time), ""


def _amount(rng: random.Random) -> tuple[str, str]:
    value = rng.randint(1000, 10**15)
    sep = rng.choice([" ", "\u00a0", "\u202f", ","])
    grouped = f"{value:,}".replace(",", sep)
    if rng.random() < 0.5:
        grouped += ("," if sep == " " and rng.random() < 0.3 else ".") + f"{rng.randint(0, 99):02d}"
    return rng.choice(["{} EUR", "$ {}", "amount {}", "{}"]).format(grouped), ""


def _us_phone(rng: random.Random) -> tuple[str, str, str]:
    return str(rng.randint(201, 989)), str(rng.randint(200, 999)), f"{rng.randint(0, 9999):04d}"


def _phone_text(rng: random.Random) -> str:
    a, b, c = _us_phone(rng)
    return rng.choice(
        [
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"{a} {b} {c}",
            f"+1 {a} {b} {c}",
            f"1-{a}-{b}-{c}",
        ]
    )


def _two_phones(rng: random.Random) -> tuple[str, str]:
    return rng.choice(["{} {}", "call {} or {}", "{}, {}", "{} / {}"]).format(
        _phone_text(rng), _phone_text(rng)
    ), ""


def _phone_extension(rng: random.Random) -> tuple[str, str]:
    ext = str(rng.randint(1, 99999))
    return rng.choice(
        ["{} ext {}", "{} ext. {}", "{} x{}", "{} x {}", "{}, ext {}", "{} #{}"]
    ).format(_phone_text(rng), ext), ""


def _german_mobile(rng: random.Random) -> tuple[str, str]:
    prefix = rng.choice(["151", "152", "157", "160", "162", "170", "171", "172", "175", "176"])
    return rng.choice(["call +49{}{}", "+49{}{}"]).format(prefix, _digits(rng, 8)), ""


@dataclass(frozen=True)
class NonCardShape:
    name: str
    make: Callable[[random.Random], tuple[str, str]]
    """(text, the reference's digits if the brand rule may take it for a card, else "")."""
    limit: float = 0.01
    """The highest fraction of samples a masker may change."""


NON_CARD_SHAPES: tuple[NonCardShape, ...] = (
    NonCardShape("IBAN in groups of 4", _iban_printed, 0.0),
    NonCardShape("IBAN unbroken", _iban_unbroken, 0.0),
    NonCardShape("Amazon order 3-7-7", _amazon),
    # The brand rule takes a random 16-digit reference for a card when it fits a brand
    # (about 39 % of leading digits) and passes Luhn (10 %): some 3.9 %, by design.
    NonCardShape("16-digit ref in groups of 4", _ref16_fours, 0.05),
    NonCardShape("16-digit ref unbroken", _ref16_unbroken, 0.05),
    NonCardShape("16-digit ref starting 0/1/7/8/9", _ref16_no_brand_digit, 0.0),
    NonCardShape("order number 4-4-4-4 with dashes", _order_dashes, 0.05),
    NonCardShape("USPS 22-digit tracking", _usps22),
    NonCardShape("certified mail 20-digit", _certified),
    # 12 digits fit only Maestro (50, 56-69: 15 % of numbers), 15 digits American
    # Express, Diners Club and Maestro (about 21 %): with Luhn, some 1.5-2.5 %.
    NonCardShape("FedEx 12-digit unbroken", _fedex12, 0.03),
    NonCardShape("FedEx 12-digit 4-4-4", _fedex12_fours),
    NonCardShape("FedEx 15-digit", _fedex15, 0.03),
    NonCardShape("two dates side by side", _two_dates),
    NonCardShape("date and time", _date_and_time),
    NonCardShape("amount with grouped thousands", _amount),
    NonCardShape("two US phone numbers", _two_phones),
    NonCardShape("phone number with extension", _phone_extension),
    NonCardShape("+49 mobile number unbroken", _german_mobile),
)


def non_card_samples(shape: NonCardShape, count: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    rng = random.Random(f"{seed}:other:{shape.name}")
    for _ in range(count):
        yield shape.make(rng)


# --------------------------------------------------------------------------- codes

CODE_PHRASINGS: tuple[str, ...] = (
    "CVV: {}",
    "CVV {}",
    "cvv2={}",
    "CVC {}",
    "CVC2: {}",
    "CID {}",
    "CSC {}",
    "PIN {}",
    "PIN: {}",
    "pin number {}",
    "security code {}",
    "Security code is {}",
    "card verification value {}",
    "Card Verification Code: {}",
    "the 3 digits on the back are {}",
    "3 digits on the back: {}",
    "security code (CVV) {}",
    "a CVV of {}",
    "C.V.V. {}",
    "c.v.c. {}",
    "code on the back: {}",
    "the code on the back is {}",
)


def code_value(rng: random.Random) -> tuple[str, str]:
    """(value as written, its ASCII digits): 3-4 digits, maybe spaced, dotted or full-width."""
    digits = _digits(rng, rng.choice([3, 3, 4]))
    style = rng.randrange(5)
    if style == 1:
        return " ".join(digits), digits
    if style == 2:
        return ".".join(digits), digits
    if style == 3:
        return _script(digits, "０"), digits
    if style == 4:
        return _script(" ".join(digits), "０"), digits
    return digits, digits


CODE_CONTEXTS = ("{}", "Card ok, {}.", "({})", "she said {} thanks", "{}\nbye")


def code_samples(phrasing: str, count: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """(text, the text as it must be after masking)."""
    rng = random.Random(f"{seed}:code:{phrasing}")
    for _ in range(count):
        value, _ = code_value(rng)
        context = rng.choice(CODE_CONTEXTS)
        yield context.format(phrasing.format(value)), context.format(phrasing.format("•••"))
