"""tracker.redact: card numbers and security codes never reach the database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from masking_samples import BRANDS, leaked, project

from tracker.redact import (
    CARD_MASK_PREFIX,
    CODE_MASK,
    MaskedItem,
    Masker,
    Redaction,
    card_brand,
    contains_card_number,
    looks_like_card,
    luhn_valid,
    mask,
    mask_optional,
    mask_value,
    numeric_card,
    redact,
)

VISA = "4111111111111111"
VISA_13 = "4222222222222"
MASTERCARD = "5555555555554444"
MASTERCARD_2 = "2223003122003222"
AMEX = "378282246310005"
DISCOVER = "6011111111111117"
DINERS_14 = "30569309025904"
JCB = "3530111333300000"
NINETEEN = "4123456789012345677"
ORDER_16 = "1234567812345678"  # fails Luhn


def digits_only(text: str) -> str:
    """The digits of `text` as ASCII (any script)."""
    return project(text)


# --- Luhn ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", [VISA, VISA_13, MASTERCARD, MASTERCARD_2, AMEX, DISCOVER, DINERS_14, JCB, NINETEEN]
)
def test_test_card_numbers_pass_luhn(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "digits", [ORDER_16, "4111111111111112", "", "4111 1111 1111 1111", "41111111111111a1", "٤١"]
)
def test_luhn_rejects(digits: str) -> None:
    assert not luhn_valid(digits)


# --- card numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VISA, "•••• 1111"),
        ("4111 1111 1111 1111", "•••• 1111"),
        ("4111-1111-1111-1111", "•••• 1111"),
        (VISA_13, "•••• 2222"),
        ("5555 5555 5555 4444", "•••• 4444"),
        ("2223-0031-2200-3222", "•••• 3222"),
        (AMEX, "•••• 0005"),
        ("3782 822463 10005", "•••• 0005"),
        ("3782-822463-10005", "•••• 0005"),
        ("6011 1111 1111 1117", "•••• 1117"),
        ("3056 930902 5904", "•••• 5904"),
        ("3530 1113 3330 0000", "•••• 0000"),
        (NINETEEN, "•••• 5677"),
        ("4123 4567 8901 2345 677", "•••• 5677"),
        ("4111 1111-1111 1111", "•••• 1111"),
        # Every separator the issue found leaking.
        ("4111.1111.1111.1111", "•••• 1111"),
        ("4111/1111/1111/1111", "•••• 1111"),
        ("4111 1111-1111.1111", "•••• 1111"),
        ("4111  1111  1111  1111", "•••• 1111"),
        ("4111\t1111\t1111\t1111", "•••• 1111"),
        ("4111 - 1111 - 1111 - 1111", "•••• 1111"),
        ("4111_1111_1111_1111", "•••• 1111"),
        ("4111,1111,1111,1111", "•••• 1111"),
        ("4111\u00a01111\u00a01111\u00a01111", "•••• 1111"),
        ("4111\u202f1111\u202f1111\u202f1111", "•••• 1111"),
        ("4111\u20131111\u20131111\u20131111", "•••• 1111"),
        ("4111\u20111111\u20111111\u20111111", "•••• 1111"),
        ("4111\u200b1111\u200b1111\u200b1111", "•••• 1111"),
        ("41\u200b11 1111 1111 1111", "•••• 1111"),
        ("4111\u200b1111 1111 1111", "•••• 1111"),
        ("4111\n1111\n1111\n1111", "•••• 1111"),
        ("4111 1111\r\n1111 1111", "•••• 1111"),
        ("４１１１１１１１１１１１１１１１", "•••• 1111"),
        ("４１１１ １１１１ １１１１ １１１１", "•••• 1111"),
        ("٤١١١١١١١١١١١١١١١", "•••• 1111"),
        ("٤١١١ ١١١١ ١١١١ ١١١١", "•••• 1111"),
        ("(4111)(1111)(1111)(1111)", "(•••• 1111)"),
        ("[4111] [1111] [1111] [1111]", "[•••• 1111]"),
        # Printed layouts: 4-4-4-1, 4-4-4-3 (a 15-digit card in fours), 4-4-4-4-3.
        ("4222 2222 2222 2", "•••• 2222"),
        ("3782 8224 6310 005", "•••• 0005"),
        ("5018 0000 0009", "5018 0000 0009"),  # 12 digits print only unbroken
        ("501800000009", "•••• 0009"),  # Maestro, 12 digits
    ],
)
def test_card_numbers_are_masked(text: str, expected: str) -> None:
    result = redact(text)
    if expected == text:
        assert not result.changed
        return
    assert result == Redaction(text=expected, cards=1, codes=0)
    assert result.changed
    last4 = digits_only(expected)[-4:]
    assert result.items == (MaskedItem("card", last4, card_brand(digits_only(text))),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Disputed charge on card 4111 1111 1111 1111 at ACME.",
            "Disputed charge on card •••• 1111 at ACME.",
        ),
        ("card:4111111111111111,", "card:•••• 1111,"),
        ("(4111-1111-1111-1111)", "(•••• 1111)"),
        ('"5555555555554444"', '"•••• 4444"'),
        ("#378282246310005.", "#•••• 0005."),
        ("card\n6011111111111117\nthanks", "card\n•••• 1117\nthanks"),
        ("x4111111111111111y", "x•••• 1111y"),
        ("-4111111111111111-", "-•••• 1111-"),
        ("Card 4111 1111 1111 1111 exp 12/27", "Card •••• 1111 exp 12/27"),
        # Only the card's span changes: the rest stays byte for byte.
        ("x\u00a0４１１１ １１１１ １１１１ １１１１\u200b y", "x\u00a0•••• 1111\u200b y"),
        ("ＣＡＲＤ：４１１１−１１１１−１１１１−１１１１。", "ＣＡＲＤ：•••• 1111。"),
        ("4111 1111 1111 1111.", "•••• 1111."),
        ("1. 4111 1111 1111 1111\n2. 5555 5555 5555 4444", "1. •••• 1111\n2. •••• 4444"),
        ("4111 1111 1111 1111 12/27 123", "•••• 1111 12/27 123"),
        (
            "DE89 3704 0044 0532 0130 00 4111 1111 1111 1111",
            "DE89 3704 0044 0532 0130 00 •••• 1111",
        ),
        ("2024-12-10 4111-1111-1111-1111", "2024-12-10 •••• 1111"),
        ("+1 415 555 0142 4111 1111 1111 1111", "+1 415 555 0142 •••• 1111"),
        # A USPS tracking number is a whole run: joined to more digits it is not one.
        ("7019 2471 4652 2817 3168 5", "7019 •••• 3168 5"),
    ],
)
def test_cards_in_sentences_and_punctuation(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_several_cards_in_one_text() -> None:
    text = f"old {VISA}, new 5555-5555-5555-4444 and amex 3782 822463 10005"
    result = redact(text)
    assert result.text == "old •••• 1111, new •••• 4444 and amex •••• 0005"
    assert result.cards == 3


def test_two_cards_separated_by_a_single_space_are_two_cards() -> None:
    result = redact(f"{VISA} {MASTERCARD}")
    assert result.text == "•••• 1111 •••• 4444"
    assert result.cards == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A card followed by other numbers: the whole run fails, the card is found.
        ("card 4111 1111 1111 1111 2026", "card •••• 1111 2026"),
        ("card 4111 1111 1111 1111 123", "card •••• 1111 123"),
        ("ref 12 4111-1111-1111-1111", "ref 12 •••• 1111"),
        (f"{VISA} 1234567890", "•••• 1111 1234567890"),
    ],
)
def test_card_inside_a_longer_run_is_found(text: str, expected: str) -> None:
    assert luhn_valid(digits_only(text)) is False
    assert mask(text) == expected
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        ORDER_16,
        f"order {ORDER_16} shipped",
        "1234 5678 1234 5678",
        "1234-5678-1234-5678",
        "4111111111111112",
        "call 1-800-528-2122",
        "call 1 800 528 2122 ext 4",
        "+1 (800) 528-2122",
        "on 2026-03-14 at 10:30",
        "14/03/2026",
        "ref DSP-2026-99812",
        "case 99812, ref 2026-99812-7",
        "$1,234.56 and 1234.56 EUR and 12 345 678",
        "4111111111111",  # 13 digits, fails Luhn
        "411111111111111111111111",  # 24 digits in one group: never cut
        "4111111111111111111111111",  # 25 digits, first 16 are a card, still one group
        "411111111111",  # 12 digits
        "pinned the 123 thread",
        "",
        # Not a brand's prefix, or not a brand's length.
        "1318 6091 3909 9603",  # Luhn-valid, starts with 1
        "7811925850587066",  # Luhn-valid, starts with 7
        "411111111111116",  # 15 digits starting with 4, Luhn-valid: Visa has no 15
        # Not a card's layout.
        "431-3530829-7624039",  # Amazon order, 3-7-7
        "4111 11111111 1111",  # 4-8-4
        "41 1111 1111 1111 11",  # 2-4-4-4-2
        "4111 1111 1111",  # 4-4-4 (12 digits print only unbroken)
        # Recognised as something else.
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "DE42 0169 9370 8459 1419 77",  # 1419 77 would be a card's tail otherwise
        "GB29 NWBK 6016 1331 9268 19",
        "BE68 5390 0754 7034",
        "9400 6135 8952 5481 4542 18",  # USPS (GS1 check digit); 6135 ... 4542 fits Maestro
        "7019 2471 4652 2817 3168",  # certified mail; 2471 ... 3168 fits Mastercard
        "+4915121000009",  # a German mobile number (and a Luhn-valid Visa-13)
        "2029-04-03 2024-12-10",
        "03.04.2029 10.12.2024",
        "2024-12-10 14:30:15",
        "1 234 567.89 and 1,234,567 and 12 345 678 901",
        "(415) 555-2671 (646) 555-0199",
        "415-555-2671 415-555-0199",
        "+1 415 555 2671 ext. 1234",
        "415-555-2671-1234",
    ],
)
def test_non_cards_are_kept(text: str) -> None:
    result = redact(text)
    assert result == Redaction(text=text, cards=0, codes=0)
    assert not result.changed
    assert not contains_card_number(text)


def test_already_masked_card_is_not_masked_again() -> None:
    assert mask("•••• 1111") == "•••• 1111"
    assert redact("card •••• 1111 2026").cards == 0
    # The last four digits of a masked card never join the next digits, even when
    # together they would pass the Luhn check.
    assert luhn_valid("1111" + "222222220")
    first = mask(f"{VISA} 222222220")
    assert first == "•••• 1111 222222220"
    assert mask(first) == first


def test_bullets_typed_before_a_card_do_not_hide_it() -> None:
    assert mask(f"•••• {VISA}") == "•••• •••• 1111"


def test_contains_card_number() -> None:
    assert contains_card_number(f"my card is {VISA}")
    assert contains_card_number("3782 822463 10005")
    assert not contains_card_number("•••• 1111")
    assert not contains_card_number(mask(f"my card is {VISA}"))
    assert not contains_card_number("CVV 123")


# --- security codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CVV 123", "CVV •••"),
        ("CVV: 1234", "CVV: •••"),
        ("cvv2=123", "cvv2=•••"),
        ("CVC2: 456", "CVC2: •••"),
        ("CVC 123", "CVC •••"),
        ("CID: 1234", "CID: •••"),
        ("CSC 123", "CSC •••"),
        ("security code 987", "security code •••"),
        ("Security Code is 987", "Security Code is •••"),
        ("security code was 987", "security code was •••"),
        ("sec code 987", "sec code •••"),
        ("sec. code: 987", "sec. code: •••"),
        ("PIN 4321", "PIN •••"),
        ("pin: 4321", "pin: •••"),
        ("PIN number 4321", "PIN number •••"),
        ("PIN no. 4321", "PIN no. •••"),
        ("PIN #4321", "PIN #•••"),
        ("PIN code is 654321", "PIN code is •••"),
        ("pin=4321", "pin=•••"),
        ("CVV123", "CVV•••"),
        ("card verification value 123", "card verification value •••"),
        ("Card Verification Code: 123", "Card Verification Code: •••"),
        ("the cvv is 123.", "the cvv is •••."),
        ("(CVV 123)", "(CVV •••)"),
        ("cvv:\n123", "cvv:\n•••"),
        # The phrasings the issue found leaking.
        ("the 3 digits on the back are 618", "the 3 digits on the back are •••"),
        ("security code (CVV) 294", "security code (CVV) •••"),
        ("a CVV of 847", "a CVV of •••"),
        ("CVV ５３１", "CVV •••"),
        ("CVV 4 6 2", "CVV •••"),
        ("C.V.V. 953", "C.V.V. •••"),
        ("PIN: 8 2 7 1", "PIN: •••"),
        ("code on the back: 376", "code on the back: •••"),
        ("CVV 4.6.2.", "CVV •••."),
        ("ＣＶＶ：１２３", "ＣＶＶ：•••"),
        (
            "the four digits on the back of the card are 1234",
            "the four digits on the back of the card are •••",
        ),
        ("CVV٣٢١", "CVV•••"),
    ],
)
def test_security_codes_are_masked(text: str, expected: str) -> None:
    assert redact(text) == Redaction(text=expected, cards=0, codes=1)


@pytest.mark.parametrize(
    "text",
    [
        "pinned 123",
        "spin 123",
        "spinning 4321",
        "pins 4321",
        "PIN 12",  # too short
        "PIN 1234567",  # too long
        "CVV 12345678",
        "the CVV on the back, and 123 other things",
        "pin to the top",
        "cvv",
        "mycvv 123",
        "PIN_1234",
        "CIDER 123",
        "PIN 1 2",
        "PIN 1 2 3 4 5 6 7",
        "zip code 12345",
        "promo code 1234",
        "the digits on the front are 123",
    ],
)
def test_not_security_codes(text: str) -> None:
    assert redact(text) == Redaction(text=text, cards=0, codes=0)


def test_card_and_code_together() -> None:
    result = redact("Card 4111-1111-1111-1111, CVV 123, PIN: 4321")
    assert result == Redaction(text="Card •••• 1111, CVV •••, PIN: •••", cards=1, codes=2)


def test_card_after_a_code_label_is_a_card() -> None:
    assert redact(f"PIN {VISA}") == Redaction(text="PIN •••• 1111", cards=1, codes=0)


# --- API helpers ------------------------------------------------------------------


def test_mask_optional() -> None:
    assert mask_optional(None) is None
    assert mask_optional("") == ""
    assert mask_optional(f"card {VISA}") == "card •••• 1111"


def test_redaction_changed() -> None:
    assert not Redaction("x", 0, 0).changed
    assert Redaction("x", 1, 0).changed
    assert Redaction("x", 0, 1).changed


def test_masker_warns_once_for_all_fields() -> None:
    m = Masker()
    assert m.warning is None
    assert m("title") == "title"
    assert m(None) is None
    assert m.warning is None
    assert m(f"card {VISA}") == "card •••• 1111"
    assert m("CVV 123") == "CVV •••"
    assert m.warning == (
        "masked 1 card number and 1 security code before saving (only the last 4 digits are kept)"
    )


def test_masker_plurals_and_codes_only() -> None:
    m = Masker()
    m("PIN 4321 and CVV 123")
    assert m.warning == "masked 2 security codes before saving"
    m = Masker()
    m(f"{VISA} {MASTERCARD}")
    m(AMEX)
    assert m.warning == "masked 3 card numbers before saving (only the last 4 digits are kept)"


def test_masker_names_fields() -> None:
    m = Masker()
    assert m("card 4111 1111 1111 1111", "the summary") == "card •••• 1111"
    assert m.warning == (
        "masked a card number ending 1111 in the summary (only the last 4 digits are kept)"
    )
    m("CVV 123", "the note")
    assert m.warning == (
        "masked a card number ending 1111 in the summary and a security code in the note"
        " (only the last 4 digits are kept)"
    )
    m(f"{MASTERCARD} and {AMEX}, PIN 4321", "the title")
    assert m.warning == (
        "masked a card number ending 1111 in the summary, a security code in the note and"
        " 2 card numbers ending 4444, 0005 and a security code in the title"
        " (only the last 4 digits are kept)"
    )
    assert "\n" not in (m.warning or "")
    assert [(field, item.kind) for field, item in m.items] == [
        ("the summary", "card"),
        ("the note", "code"),
        ("the title", "card"),
        ("the title", "card"),
        ("the title", "code"),
    ]
    assert (m.cards, m.codes) == (3, 2)


def test_masker_codes_only_with_a_field_and_mixed_fields() -> None:
    m = Masker()
    m("PIN 4321", "the note")
    assert m.warning == "masked a security code in the note"
    m(VISA)  # no field name: listed without one
    assert m.warning == (
        "masked a security code in the note and a card number ending 1111"
        " (only the last 4 digits are kept)"
    )


def test_redaction_items() -> None:
    result = redact(f"CVV 123 card {AMEX} and {DISCOVER}")
    assert result.items == (
        MaskedItem("card", "0005", "American Express"),
        MaskedItem("card", "1117", "Discover"),
        MaskedItem("code"),
    )
    assert (result.cards, result.codes) == (2, 1)
    assert MaskedItem("code").describe() == "a security code"
    assert result.items[0].describe() == "a card number ending 0005"
    # Items are a report: equality of results compares text and counts.
    assert result == Redaction(result.text, 2, 1)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        (VISA, "Visa"),
        (VISA_13, "Visa"),
        (NINETEEN, "Visa"),
        (MASTERCARD, "Mastercard"),
        (MASTERCARD_2, "Mastercard"),
        (AMEX, "American Express"),
        (DISCOVER, "Discover"),
        ("6221260000000000", "Discover"),
        ("6229260000000000", "UnionPay"),
        (DINERS_14, "Diners Club"),
        (JCB, "JCB"),
        ("501800000009", "Maestro"),
        ("4111111111111", "Visa"),
        ("41111111111111", None),  # Visa has no 14-digit numbers
        ("5555555555554", None),  # Mastercard: 16 only
        ("3411111111111111", None),  # American Express: 15 only
        ("1111111111111111", None),
        ("7111111111111111", None),
        ("9111111111111111", None),
        ("0111111111111111", None),
    ],
)
def test_card_brand(number: str, brand: str | None) -> None:
    assert card_brand(number) == brand


def test_brand_table_matches_the_samples_table() -> None:
    """tests/masking_samples.py writes the issue's table again; both agree on every prefix."""
    for name, ranges, lengths in BRANDS:
        for low, high in ranges:
            for prefix in {low, high, (low + high) // 2}:
                for length in lengths:
                    number = str(prefix).ljust(length, "0")
                    assert card_brand(number) is not None, (name, number)


def test_looks_like_card() -> None:
    assert looks_like_card("4111 1111 1111 1111") == (
        "it passes the card-number check (Visa, ending 1111)"
    )
    assert looks_like_card(f"DSP-{AMEX}") == (
        "it passes the card-number check (American Express, ending 0005)"
    )
    assert looks_like_card(f"case 12, {MASTERCARD}") == (
        "part of it passes the card-number check (Mastercard, ending 4444)"
    )
    assert looks_like_card("４１１１ １１１１ １１１１ １１１１") is not None
    for reference in ["DSP-2026-99812", "431-3530829-7624039", ORDER_16, "1318 6091 3909 9603", ""]:
        assert looks_like_card(reference) is None


def test_numeric_card() -> None:
    assert numeric_card(4111111111111111)
    assert numeric_card(-4111111111111111)
    assert numeric_card(4111111111111111.0)
    assert numeric_card(int(NINETEEN))
    assert not numeric_card(1234567812345678)
    assert not numeric_card(12)
    assert not numeric_card(True)
    assert not numeric_card(1e300)
    assert not numeric_card(float("nan"))
    assert not numeric_card("4111111111111111")  # a string: mask_value masks it


def test_mask_value() -> None:
    data = json.loads(
        '{"4111111111111111": ["CVV 123", 5, null, true, {"k": "x 4111-1111-1111-1111"}],'
        ' "n": 4111111111111111, "t": "plain"}'
    )
    assert mask_value(data) == {
        "•••• 1111": ["CVV •••", 5, None, True, {"k": "x •••• 1111"}],
        "n": 4111111111111111,  # numbers are reported by numeric_card, not changed
        "t": "plain",
    }
    assert mask_value(("a", 4111111111111111)) == ["a", 4111111111111111]
    m = Masker()
    assert mask_value({"note": VISA}, m, field="the imported file") == {"note": "•••• 1111"}
    assert m.warning == (
        "masked a card number ending 1111 in the imported file (only the last 4 digits are kept)"
    )


def test_masked_forms() -> None:
    assert CARD_MASK_PREFIX == "•••• "
    assert CODE_MASK == "•••"


def test_importing_does_not_load_phonenumbers() -> None:
    code = (
        "import sys, tracker\n"
        "before = set(sys.modules)\n"
        "import tracker.redact as r\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before} - {'tracker'}\n"
        "assert new <= sys.stdlib_module_names, new - sys.stdlib_module_names\n"
        "assert r.mask('no digits at all') == 'no digits at all'\n"
        "assert r.mask('card 4111 1111 1111 1111') == 'card •••• 1111'\n"
        "assert 'phonenumbers' not in sys.modules, 'imported too early'\n"
        "assert r.mask('+4915121000009') == '+4915121000009'\n"
        "assert 'phonenumbers' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_phone_rule_needs_the_plus_sign() -> None:
    assert luhn_valid("4915121000009")
    assert mask("+4915121000009") == "+4915121000009"
    assert mask("4915121000009") == "•••• 0009"
    assert mask("+4111 1111 1111 1111") == "+•••• 1111"  # not a phone number


# --- properties -------------------------------------------------------------------

_SEPARATORS = [
    " ",
    "-",
    ".",
    "/",
    "_",
    ",",
    "\t",
    "\n",
    "\r\n",
    "  ",
    " - ",
    ")(",
    "\u00a0",
    "\u202f",
    "\u2013",
    "\u2011",
    "\u200b",
    "\u3000",
]
_SEPARATOR_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Pd", "Ps", "Pe", "Pc"}
_UNICODE_PUNCTUATION_SEPARATORS = "·‧․∙。۔｡⁄∕⧸⧹،٫٬、﹐﹑՝߸−⁃﹣"


def _plain(char: str) -> bool:
    """Neither a digit (in any script, after NFKC), nor a separator, nor invisible, nor +."""
    folded = unicodedata.normalize("NFKC", char)
    return not (
        char == "+"
        or project(folded)
        or any(
            c in " \t\n\r\v\f-./\\_,()[]{}+" + _UNICODE_PUNCTUATION_SEPARATORS
            or unicodedata.category(c) in _SEPARATOR_CATEGORIES
            for c in char + folded
        )
    )


_PLAIN = st.characters(codec="utf-8").filter(_plain)
_NOT_DIGIT = st.characters(codec="utf-8").filter(
    lambda c: not project(c) and unicodedata.category(c) != "Cf"
)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of any brand, of any length that brand issues."""
    _, ranges, lengths = draw(st.sampled_from(BRANDS))
    low, high = draw(st.sampled_from(ranges))
    prefix = str(draw(st.integers(min_value=low, max_value=high)))
    length = draw(st.sampled_from(lengths))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1 - len(prefix)))
    payload = (prefix + body)[: length - 1]
    for check in "0123456789":
        if luhn_valid(payload + check):
            return payload + check
    raise AssertionError("unreachable")


_PRINTED: dict[int, list[list[int]]] = {
    13: [[4, 4, 4, 1]],
    14: [[4, 6, 4], [4, 4, 4, 2]],
    15: [[4, 6, 5], [4, 4, 4, 3]],
    16: [[4, 4, 4, 4]],
    17: [[4, 4, 4, 4, 1]],
    18: [[4, 4, 4, 4, 2]],
    19: [[4, 4, 4, 4, 3]],
}


@st.composite
def grouped(draw: st.DrawFn, digits: str) -> str:
    """`digits` unbroken or printed in a card layout, with any separators (mixed)."""
    layouts = [[len(digits)], *_PRINTED.get(len(digits), [])]
    layout = draw(st.sampled_from(layouts))
    groups: list[str] = []
    position = 0
    for size in layout:
        groups.append(digits[position : position + size])
        position += size
    seps = draw(st.lists(st.sampled_from(_SEPARATORS), min_size=len(groups), max_size=len(groups)))
    return groups[0] + "".join(s + g for s, g in zip(seps, groups[1:], strict=False))


@st.composite
def cards_in_text(draw: st.DrawFn) -> tuple[str, str]:
    """(text, digits of the card in it): the card touches no digit on either side."""
    digits = draw(card_numbers())
    card = draw(grouped(digits))
    before = draw(st.text(max_size=20)) + draw(_PLAIN)
    after = draw(_PLAIN) + draw(st.text(max_size=20))
    # Two ASCII letters right before the digits could start an IBAN.
    assume(not re.search(r"[A-Za-z]{2}$", unicodedata.normalize("NFKC", before)))
    # The surrounding text must not spell the card by itself.
    assume(not leaked(before + "•••• " + digits[-4:] + after, digits))
    return before + card + after, digits


@st.composite
def non_luhn_runs(draw: st.DrawFn, min_size: int = 13, max_size: int = 19) -> str:
    length = draw(st.integers(min_value=min_size, max_value=max_size))
    digits = draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    assume(not luhn_valid(digits))
    return digits


@settings(max_examples=300)
@given(cards_in_text())
def test_property_generated_cards_never_survive(case: tuple[str, str]) -> None:
    text, digits = case
    assert contains_card_number(text)
    assert looks_like_card(text) is not None
    result = redact(text)
    assert result.cards >= 1
    assert not leaked(result.text, digits)
    assert not contains_card_number(result.text)


@settings(max_examples=200)
@given(digits=card_numbers(), data=st.data(), left=_PLAIN, right=_PLAIN)
def test_property_isolated_card_becomes_last_four(
    digits: str, data: st.DataObject, left: str, right: str
) -> None:
    card = data.draw(grouped(digits))
    result = redact(left + card + right)
    assert result.text == f"{left}•••• {digits[-4:]}{right}"
    assert result.cards == 1
    assert result.items == (MaskedItem("card", digits[-4:], card_brand(digits)),)


_NUMBER_LISTS = st.lists(st.text(alphabet="0123456789", min_size=1, max_size=8), max_size=4)


@settings(max_examples=200)
@given(card=card_numbers().flatmap(grouped), before=_NUMBER_LISTS, after=_NUMBER_LISTS)
def test_property_cards_next_to_other_numbers_never_survive(
    card: str, before: list[str], after: list[str]
) -> None:
    digits = digits_only(card)
    assume(digits[:-4] not in "".join(before) and digits[:-4] not in "".join(after))
    # One group of four starting 70/71 (or 91-95, with a group of two after) and a
    # 16-digit card, alone in their run, are a USPS tracking number when the whole passes
    # its check (1 in 10 does): documented, not a card.
    assume(not (len(before) == 1 and len(before[0]) == 4 and len(after) <= 1))
    text = "note " + " ".join([*before, card, *after]) + " end"
    assert not leaked(mask(text), digits)


@settings(max_examples=200)
@given(
    run=non_luhn_runs(),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    left=_NOT_DIGIT,
    right=_NOT_DIGIT,
)
def test_property_non_luhn_runs_survive(
    run: str, before: str, after: str, left: str, right: str
) -> None:
    text = before + left + run + right + after
    assert run in mask(text)


@settings(max_examples=200)
@given(run=non_luhn_runs(min_size=16, max_size=16))  # (a filter for 16 was flaky: 6 in 7 lost)
def test_property_non_luhn_16_digits_in_fours_survive(run: str) -> None:
    for sep in _SEPARATORS:
        text = "order " + sep.join(run[i : i + 4] for i in range(0, 16, 4)) + " shipped"
        assert mask(text) == text


@settings(max_examples=300)
@given(st.text(alphabet="0123456789", min_size=16, max_size=16), st.sampled_from(_SEPARATORS))
def test_property_16_digits_fitting_no_brand_survive(digits: str, sep: str) -> None:
    assume(card_brand(digits) is None)
    for text in (digits, sep.join(digits[i : i + 4] for i in range(0, 16, 4))):
        assert mask(f"ref {text}") == f"ref {text}"


_TEXT_WITH_NUMBERS = st.lists(
    st.one_of(
        st.text(max_size=10),
        st.text(alphabet="0123456789 -./\u200b\u00a0", max_size=25),
        card_numbers().flatmap(grouped),
        st.sampled_from(
            ["CVV ", "PIN: ", "security code is ", "•••• ", "•", " ", "-", "cvv2=", "+", "DE"]
        ),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=300)
@given(_TEXT_WITH_NUMBERS)
def test_property_masking_is_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once) == once
    assert not redact(once).changed


@settings(max_examples=200)
@given(st.text())
def test_property_masking_arbitrary_text_is_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once) == once


_LABELS = [
    "CVV",
    "cvv2",
    "CVC",
    "cvc2",
    "CID",
    "CSC",
    "security code",
    "Security Code",
    "sec code",
    "PIN",
    "pin",
    "card verification value",
    "C.V.V.",
    "code on the back",
    "the 3 digits on the back",
    "security code (CVV)",
]
_BETWEEN = [" ", ": ", "=", " #", " is ", " was ", " number ", " code ", ":", " - ", " no. "]


@settings(max_examples=200)
@given(
    label=st.sampled_from(_LABELS),
    between=st.sampled_from(_BETWEEN),
    value=st.text(alphabet="0123456789", min_size=3, max_size=6),
    style=st.sampled_from(["", " ", "."]),
    full_width=st.booleans(),
    before=st.sampled_from(["", "the ", "Card ok, ", "(", "\n"]),
    after=st.sampled_from(["", ".", " thanks", ")", ", exp 12/27"]),
)
def test_property_security_codes_are_masked(
    label: str,
    between: str,
    value: str,
    style: str,
    full_width: bool,
    before: str,
    after: str,
) -> None:
    written = style.join(value)
    if full_width:
        written = "".join(chr(ord("０") + int(c)) if c.isdigit() else c for c in written)
    assume(not (style == "." and after.startswith(".")))
    text = before + label + between + written + after
    result = redact(text)
    assert result.text == before + label + between + "•••" + after
    assert result.codes == 1
    assert result.cards == 0
