"""tracker.redact: card numbers and security codes never reach the database."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tracker.redact import (
    Masker,
    Redaction,
    contains_card_number,
    luhn_valid,
    mask,
    mask_optional,
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
    return re.sub(r"[^0-9]", "", text)


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
    ],
)
def test_card_numbers_are_masked(text: str, expected: str) -> None:
    result = redact(text)
    assert result == Redaction(text=expected, cards=1, codes=0)
    assert result.changed


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


# --- properties -------------------------------------------------------------------

_NOT_DIGIT = st.characters(exclude_characters="0123456789")


def _luhn_check_digit(payload: str) -> str:
    for check in "0123456789":
        if luhn_valid(payload + check):
            return check
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    payload = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return payload + _luhn_check_digit(payload)


@st.composite
def grouped(draw: st.DrawFn, digits: str) -> str:
    """`digits` split into groups joined by single spaces or dashes."""
    cuts = draw(st.sets(st.integers(min_value=1, max_value=len(digits) - 1), max_size=6))
    bounds = [0, *sorted(cuts), len(digits)]
    groups = [digits[a:b] for a, b in itertools.pairwise(bounds)]
    seps = draw(st.lists(st.sampled_from(" -"), min_size=len(groups), max_size=len(groups)))
    return groups[0] + "".join(s + g for s, g in zip(seps, groups[1:], strict=False))


@st.composite
def cards_in_text(draw: st.DrawFn) -> tuple[str, str]:
    """(text, digits of the card in it): the card touches no digit on either side."""
    digits = draw(card_numbers())
    card = draw(grouped(digits))
    before = draw(st.text(max_size=20)) + draw(_NOT_DIGIT)
    after = draw(_NOT_DIGIT) + draw(st.text(max_size=20))
    assume(not before.endswith("•••• "))
    # The surrounding text must not spell the card by itself.
    assume(digits not in _digit_projection(before) and digits not in _digit_projection(after))
    return before + card + after, digits


def _digit_projection(text: str) -> str:
    """`text` without spaces and dashes, masked cards reduced to a bullet.

    A masked card's last four digits are meant to stay; dropping them keeps them from
    lining up with neighbouring digits into a false "the card survived".
    """
    return re.sub(r"[ -]", "", re.sub(r"•••• [0-9]{4}(?![0-9])", "•", text))


@st.composite
def non_luhn_runs(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    digits = draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    assume(not luhn_valid(digits))
    return digits


@settings(max_examples=300)
@given(cards_in_text())
def test_property_generated_cards_never_survive(case: tuple[str, str]) -> None:
    text, digits = case
    assert contains_card_number(text)
    result = redact(text)
    assert result.cards >= 1
    assert digits not in _digit_projection(result.text)
    assert not contains_card_number(result.text)


_NOT_DIGIT_OR_SEPARATOR = st.characters(exclude_characters="0123456789 -")


@settings(max_examples=200)
@given(
    digits=card_numbers(),
    data=st.data(),
    left=_NOT_DIGIT_OR_SEPARATOR,
    right=_NOT_DIGIT_OR_SEPARATOR,
)
def test_property_isolated_card_becomes_last_four(
    digits: str, data: st.DataObject, left: str, right: str
) -> None:
    card = data.draw(grouped(digits))
    result = redact(left + card + right)
    assert result.text == f"{left}•••• {digits[-4:]}{right}"
    assert result.cards == 1


_NUMBER_LISTS = st.lists(st.text(alphabet="0123456789", min_size=1, max_size=8), max_size=4)


@settings(max_examples=200)
@given(card=card_numbers().flatmap(grouped), before=_NUMBER_LISTS, after=_NUMBER_LISTS)
def test_property_cards_next_to_other_numbers_never_survive(
    card: str, before: list[str], after: list[str]
) -> None:
    digits = re.sub(r"[ -]", "", card)
    assume(digits not in "".join(before) and digits not in "".join(after))
    text = "note " + " ".join([*before, card, *after]) + " end"
    assert digits not in _digit_projection(mask(text))


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
@given(run=non_luhn_runs().filter(lambda d: len(d) == 16))
def test_property_non_luhn_16_digits_in_fours_survive(run: str) -> None:
    for sep in " -":
        text = "order " + sep.join(run[i : i + 4] for i in range(0, 16, 4)) + " shipped"
        assert mask(text) == text


_TEXT_WITH_NUMBERS = st.lists(
    st.one_of(
        st.text(max_size=10),
        st.text(alphabet="0123456789 -", max_size=25),
        card_numbers().flatmap(grouped),
        st.sampled_from(["CVV ", "PIN: ", "security code is ", "•••• ", "•", " ", "-", "cvv2="]),
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
]
_BETWEEN = [" ", ": ", "=", " #", " is ", " was ", " number ", " code ", ":", " - ", " no. "]


@settings(max_examples=200)
@given(
    label=st.sampled_from(_LABELS),
    between=st.sampled_from(_BETWEEN),
    value=st.text(alphabet="0123456789", min_size=3, max_size=6),
    before=st.sampled_from(["", "the ", "Card ok, ", "(", "\n"]),
    after=st.sampled_from(["", ".", " thanks", ")", ", exp 12/27"]),
)
def test_property_security_codes_are_masked(
    label: str, between: str, value: str, before: str, after: str
) -> None:
    text = before + label + between + value + after
    result = redact(text)
    assert result.text == before + label + between + "•••" + after
    assert result.codes == 1
    assert result.cards == 0
