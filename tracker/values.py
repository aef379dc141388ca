"""Values a user types, checked and cleaned: choices, amounts, currency, last 4 digits, text.

The CLI's parameter types and the services share these, so a value is checked the same way
whichever way it comes in. Messages name the value, never a command-line flag.
"""

from __future__ import annotations

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


def parse_country(text: str | None, where: str | None = None) -> str | None:
    """A two-letter ISO country code, upper-cased (US, GB); UsageError otherwise."""
    if text is None:
        return None
    code = text.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        prefix = f"{where}: " if where else ""
        raise UsageError(f"{prefix}invalid country '{text}': give a 2-letter code such as US or GB")
    return code


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
