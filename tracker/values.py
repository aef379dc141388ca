"""Values a user types, checked and cleaned: choices, amounts, currency, last 4 digits, text,
tags.

The CLI's parameter types and the services share these, so a value is checked the same way
whichever way it comes in. Messages name the value, never a command-line flag.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import overload

from tracker.errors import CardLikeReference, UsageError
from tracker.redact import Masker, looks_like_card, redact, storable

MAX_TITLE = 500


def choice(value: str, allowed: Sequence[str], what: str) -> str:
    """`value` as one of `allowed` (case and '-' vs '_' ignored), or UsageError."""
    normalized = value.strip().lower().replace("-", "_")
    if normalized not in allowed:
        raise UsageError(f"unknown {what} '{value}'; choose one of: {', '.join(allowed)}")
    return normalized


def parse_amount(text: str) -> Decimal:
    cleaned = text.strip().replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise UsageError(f"invalid amount '{text}': give a number such as 129.99") from None
    if not amount.is_finite():
        raise UsageError(f"invalid amount '{text}': give a number such as 129.99")
    if amount <= 0:
        raise UsageError(f"invalid amount '{text}': give the amount as a positive number")
    if amount.as_tuple().exponent < -4 or abs(amount) >= Decimal("1e15"):  # type: ignore[operator]
        raise UsageError(f"invalid amount '{text}': at most 4 decimals and 15 digits")
    return amount


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise UsageError(f"invalid currency '{text}': give a 3-letter ISO code such as USD")
    return code


def parse_last4(text: str) -> str:
    digits = text.strip()
    if len(digits) != 4 or not digits.isascii() or not digits.isdigit():
        raise UsageError(
            f"invalid account '{text}': give only the last 4 digits of the card or account"
        )
    return digits


# ISO 3166-1 alpha-2: every country code (the tz database's iso3166.tab, 249 codes).
_ISO_3166 = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI "
    "BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN "
    "CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK "
    "FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK "
    "ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
    "NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF "
    "TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW "
)
COUNTRIES = frozenset(_ISO_3166.split())
# Codes people write that ISO spells otherwise: the United Kingdom is GB; the EU writes
# Greece as EL.
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}

DATE_ORDERS = ("DMY", "MDY", "YMD")

# How each country writes a date in numbers: day/month (most), month/day, year first. A
# country missing here (Canada writes both) has no order: a date that reads two ways is
# refused.
_MONTH_FIRST = frozenset({"US", "PR", "GU", "AS", "VI", "MP", "UM", "PH", "FM", "MH", "PW"})
_YEAR_FIRST = frozenset({"CN", "JP", "KR", "KP", "TW", "HU", "LT", "MN"})
_EITHER = frozenset({"CA"})


def date_order_of(country: str | None) -> str | None:
    """DMY, MDY or YMD for a country (None: unknown, or it writes both)."""
    if country is None or country in _EITHER:
        return None
    if country in _MONTH_FIRST:
        return "MDY"
    if country in _YEAR_FIRST:
        return "YMD"
    return "DMY"


def parse_region(text: str | None, where: str | None = None) -> tuple[str, str | None] | None:
    """A country, optionally with its subdivision: ``GB``, ``uk`` (GB), ``GB-SCT``, ``US-CA``.

    The country must be an ISO 3166-1 code (``UK`` is read as ``GB``); the subdivision is the
    part after the dash (ISO 3166-2), 1 to 3 letters or digits. UsageError otherwise.
    """
    if text is None:
        return None
    prefix = f"{where}: " if where else ""
    cleaned = text.strip().upper()
    country, dash, subdivision = cleaned.partition("-")
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise UsageError(
            f"{prefix}invalid country '{text}': give a 2-letter ISO code such as US or GB"
        )
    country = COUNTRY_ALIASES.get(country, country)
    if country not in COUNTRIES:
        raise UsageError(
            f"{prefix}unknown country '{text}': give an ISO 3166 code such as US, GB or FR"
        )
    if dash and not (
        1 <= len(subdivision) <= 3 and subdivision.isascii() and subdivision.isalnum()
    ):
        raise UsageError(
            f"{prefix}invalid subdivision in '{text}': write it as {country}-XXX, e.g. GB-SCT"
        )
    return country, subdivision or None


def parse_country(text: str | None, where: str | None = None) -> str | None:
    """A two-letter ISO 3166 country code, upper-cased (US, GB; UK is GB); UsageError
    otherwise (a subdivision, GB-SCT, is refused here: see :func:`parse_region`)."""
    found = parse_region(text, where)
    if found is None:
        return None
    if found[1] is not None:
        prefix = f"{where}: " if where else ""
        raise UsageError(f"{prefix}invalid country '{text}': give a 2-letter code such as US or GB")
    return found[0]


def required_text(value: str, what: str, masker: Masker, *, limit: int | None = None) -> str:
    """Required text: NUL removed, stripped, not empty, at most `limit` characters, masked."""
    cleaned = value.replace("\x00", "").strip()
    if not cleaned:
        raise UsageError(f"{what} must not be empty")
    _check_length(cleaned, what, limit)
    return masker(cleaned, what)


@overload
def optional_text(
    value: str, masker: Masker, *, what: str = ..., limit: int | None = ...
) -> str | None: ...
@overload
def optional_text(
    value: None, masker: Masker, *, what: str = ..., limit: int | None = ...
) -> None: ...
def optional_text(
    value: str | None, masker: Masker, *, what: str = "the text", limit: int | None = None
) -> str | None:
    """Optional text: None or blank is None; otherwise cleaned like :func:`required_text`."""
    if value is None:
        return None
    cleaned = value.replace("\x00", "").strip()
    # The column's size: PostgreSQL would refuse it, and a SQLite store must stay movable.
    _check_length(cleaned, what, limit)
    return masker(cleaned, what) if cleaned else None


def reference(value: str, *, not_a_card: bool = False, limit: int = 200) -> str:
    """A reference number, kept exactly as typed, or CardLikeReference.

    A reference is never masked: masking would destroy it (two references ending in the
    same four digits would become one). One that holds what looks like a card number or a
    security code is refused instead, unless the user says it is not a card.
    """
    cleaned = storable(value).strip()
    if not cleaned:
        raise UsageError("the reference number must not be empty")
    _check_length(cleaned, "the reference number", limit)
    if not not_a_card:
        found = redact(cleaned)
        if found.changed:
            why = looks_like_card(cleaned) or "it holds what looks like a security code or PIN"
            raise CardLikeReference(found.text, why)
    return cleaned


def _check_length(cleaned: str, what: str, limit: int | None) -> None:
    if limit is not None and len(cleaned) > limit:
        raise UsageError(f"{what} is too long ({len(cleaned)} characters; at most {limit})")


MAX_TAG = 40
_TAG = re.compile(r"[^\W_][\w.\-]*")
TAG_RULE = "letters, digits, '-', '_' and '.', starting with a letter or a digit, no spaces"


def parse_tag(value: str) -> str:
    """A tag as stored: NFKC, lower case, one word (:data:`TAG_RULE`), at most MAX_TAG
    characters; UsageError otherwise. One holding card data is refused, not masked: a
    masked tag ("•••• 1111") would be another word, and not a tag."""
    text = unicodedata.normalize("NFKC", storable(value)).strip().lower()
    if redact(text).changed or redact(value).changed:
        raise UsageError("a tag cannot hold a card number or a security code")
    if not text:
        raise UsageError("a tag must not be empty")
    if len(text) > MAX_TAG:
        raise UsageError(f"the tag '{text[:MAX_TAG]}…' is too long (at most {MAX_TAG} characters)")
    if _TAG.fullmatch(text) is None:
        raise UsageError(f"'{text}' is not a tag: use {TAG_RULE}")
    return text


def parse_tag_or_none(value: str) -> str | None:
    """:func:`parse_tag`, None for what it refuses."""
    try:
        return parse_tag(value)
    except UsageError:
        return None


def size_in_words(count: int) -> str:
    """A file's size as people read it: 736 bytes, 48.2 KiB, 3.1 MiB."""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"
